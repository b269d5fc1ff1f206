/**
 * checkOcspResponse reads strict DER (X.690 §10-11) and the RFC 6960 §4.2.1 syntax exactly, as the certificate and
 * CRL readers do. Each case starts from one valid response of the test JPKI's responder (signed by the auth CA),
 * changes one field, and re-signs the ResponseData with the CA key, so only the change under test can refuse it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { sign as rsaSign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOcspRequest, checkOcspResponse, parseCertificate } from '@mynagate/pki';
import type { OcspCheck, ParsedCertificate } from '@mynagate/pki';
import { KeyCache } from '../src/keys.ts';
// The shared system-component rule: skip with a reason, or fail under MYNAGATE_REQUIRE_SYSTEM=1.
import { requireSystem } from '../../card/test/support/system.ts';
import { NOW, createFixture } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

// ——— A small DER tree: parse a valid response, edit one node, encode again ———

/** One TLV. `len` replaces the minimal length octets; `indefinite` encodes `80 … 00 00`. */
interface Node {
  tag: number;
  kids?: Node[];
  bytes?: Uint8Array;
  len?: number[];
  indefinite?: boolean;
}

function parse(buf: Uint8Array, pos = 0, end = buf.length): Node[] {
  const out: Node[] = [];
  while (pos < end) {
    const tag = buf[pos]!;
    let len = buf[pos + 1]!;
    let v = pos + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[v + i]!;
      v += n;
    }
    out.push(tag & 0x20 ? { tag, kids: parse(buf, v, v + len) } : { tag, bytes: buf.slice(v, v + len) });
    pos = v + len;
  }
  return out;
}

function lengthOctets(n: number): number[] {
  if (n < 0x80) return [n];
  const b: number[] = [];
  for (; n > 0; n = Math.floor(n / 256)) b.unshift(n & 0xff);
  return [0x80 | b.length, ...b];
}

function encode(node: Node): Uint8Array {
  const body = node.kids ? Buffer.concat(node.kids.map(encode)) : Buffer.from(node.bytes!);
  if (node.indefinite) return Buffer.concat([Buffer.from([node.tag, 0x80]), body, Buffer.from([0, 0])]);
  return Buffer.concat([Buffer.from([node.tag, ...(node.len ?? lengthOctets(body.length))]), body]);
}

const bodyLength = (n: Node): number => (n.kids ? n.kids.reduce((s, k) => s + encode(k).length, 0) : n.bytes!.length);

/** Length octets with a redundant leading zero octet: never DER (X.690 §10.1). */
function padded(n: number): number[] {
  const m = lengthOctets(n);
  const octets = m.length === 1 ? m : m.slice(1);
  return [0x80 | (octets.length + 1), 0, ...octets];
}

const prim = (tag: number, ...bytes: number[]): Node => ({ tag, bytes: Uint8Array.from(bytes) });
const cons = (tag: number, ...kids: Node[]): Node => ({ tag, kids });
const ascii = (tag: number, s: string): Node => ({ tag, bytes: new Uint8Array(Buffer.from(s, 'latin1')) });
const clone = (n: Node): Node => structuredClone(n);
// 1.2.3.4, an extension nobody knows.
const UNKNOWN_OID = prim(0x06, 0x2a, 0x03, 0x04);
const ext = (critical: boolean) =>
  cons(0x30, UNKNOWN_OID, ...(critical ? [prim(0x01, 0xff)] : []), prim(0x04, 0x05, 0x00));

/** The parts of a response a case edits. */
interface Parts {
  outer: Node;
  basic: Node;
  tbs: Node;
  single: Node;
  /** The nonce Extension. */
  nonce: Node;
  /** Bytes appended after the OCSPResponse, or after the BasicOCSPResponse inside its OCTET STRING. */
  trailer?: number[];
  basicTrailer?: number[];
}

let f: Fixture;
let cert: ParsedCertificate;
let ca: ParsedCertificate;
let base: Uint8Array;
let check: OcspCheck;

before(async () => {
  f = await createFixture();
  cert = parseCertificate(f.card.spec.authCert);
  ca = parseCertificate(f.authCa.der);
  const req = buildOcspRequest(cert, ca);
  base = await f.jpki.respondOcsp('auth', req.der, { now: NOW });
  check = {
    issuer: ca,
    certId: req.certId,
    nonce: req.nonce,
    now: NOW.getTime(),
    skewMs: 60_000,
    maxAgeMs: 5 * 60_000,
    keys: new KeyCache(),
  };
});
after(() => f.close());

/** The base response with `edit` applied, its ResponseData re-signed with the auth CA key. */
function mutate(edit: (p: Parts) => void): Uint8Array {
  const outer = parse(base)[0]!;
  const octets = outer.kids![1]!.kids![0]!.kids![1]!;
  const basic = parse(octets.bytes!)[0]!;
  const tbs = basic.kids![0]!;
  const kids = tbs.kids!;
  const p: Parts = {
    outer,
    basic,
    tbs,
    single: kids[2]!.kids![0]!,
    nonce: kids[3]!.kids![0]!.kids![0]!,
  };
  edit(p);
  const sig = basic.kids![2]!;
  sig.bytes = Buffer.concat([sig.bytes!.subarray(0, 1), rsaSign('sha256', encode(tbs), f.authCa.key)]);
  octets.bytes = Buffer.concat([encode(basic), Buffer.from(p.basicTrailer ?? [])]);
  return new Uint8Array(Buffer.concat([encode(outer), Buffer.from(p.trailer ?? [])]));
}

const run = (der: Uint8Array) => checkOcspResponse(der, check);

/** ERR_PKI_OCSP_MALFORMED, for the reason named: so each case proves the rule it is about, not some other one. */
const malformed = (reason: string) => ({ code: 'ERR_PKI_OCSP_MALFORMED', message: new RegExp(`: ${reason}$`) });

type Case = [what: string, edit: (p: Parts) => void, reason: string];

function refuses(cases: Case[]): void {
  for (const [what, edit, reason] of cases) test(what, () => assert.throws(() => run(mutate(edit)), malformed(reason)));
}

describe('the baseline', () => {
  test('the responder answer and its unchanged re-encoding are good', () => {
    assert.equal(run(base).status, 'good');
    const same = mutate(() => {});
    assert.deepEqual(same, base);
    assert.equal(run(same).status, 'good');
  });
});

// Every case below was accepted as `good` (or refused with another code, as noted) by the asn1js reading.

describe('framing (X.690 §10.1, §8.1.1): ERR_PKI_OCSP_MALFORMED', () => {
  refuses([
    ['bytes after the OCSPResponse', (p) => (p.trailer = [0x00]), 'bytes after the OCSPResponse'],
    [
      'bytes after the BasicOCSPResponse inside responseBytes',
      (p) => (p.basicTrailer = [0x05, 0x00]),
      'bytes after the BasicOCSPResponse',
    ],
    [
      'a long-form length where the short form fits (responseStatus 0a 81 01)',
      (p) => (p.outer.kids![0]!.len = [0x81, 1]),
      'non-minimal length',
    ],
    [
      'a length with a leading zero octet (the OCSPResponse)',
      (p) => (p.outer.len = padded(bodyLength(p.outer))),
      'non-minimal length',
    ],
    ['an indefinite length (the OCSPResponse)', (p) => (p.outer.indefinite = true), 'bad length'],
    ['an indefinite length in the signed data (the SingleResponse)', (p) => (p.single.indefinite = true), 'bad length'],
    [
      'a long-form length in the signed data (thisUpdate 18 81 0f)',
      (p) => (p.single.kids![2]!.len = [0x81, 15]),
      'non-minimal length',
    ],
    ['an element after the certs of the BasicOCSPResponse', (p) => p.basic.kids!.push(prim(0x05)), 'bytes after certs'],
    ['an element after the responseExtensions', (p) => p.tbs.kids!.push(prim(0x05)), 'bytes after ResponseData'],
  ]);
});

describe('values not in their one DER form (X.690 §8, §11): ERR_PKI_OCSP_MALFORMED', () => {
  refuses([
    [
      'responseStatus ENUMERATED with a leading zero (0a 02 00 00)',
      (p) => (p.outer.kids![0] = prim(0x0a, 0, 0)),
      'bad ENUMERATED',
    ],
    [
      'responseType OID with a non-minimal arc (80 padding)',
      (p) => nonMinimalOid(p.outer.kids![1]!.kids![0]!.kids![0]!),
      'non-minimal OID arc',
    ],
    ['the nonce extnID with a non-minimal arc', (p) => nonMinimalOid(p.nonce.kids![0]!), 'non-minimal OID arc'],
    ['a critical flag TRUE encoded 01', (p) => p.nonce.kids!.splice(1, 0, prim(0x01, 0x01)), 'bad critical flag'],
    [
      'a critical flag FALSE written out (DEFAULT, X.690 §11.5)',
      (p) => p.nonce.kids!.splice(1, 0, prim(0x01, 0x00)),
      'bad critical flag',
    ],
    [
      'version v1 written out (DEFAULT, X.690 §11.5)',
      (p) => p.tbs.kids!.unshift(cons(0xa0, prim(0x02, 0))),
      'version is not v1 or written out',
    ],
    [
      'an unknown version v2',
      (p) => p.tbs.kids!.unshift(cons(0xa0, prim(0x02, 1))),
      'version is not v1 or written out',
    ],
    // Refused before as ERR_PKI_OCSP_CERT_ID (the serial octets differed from ours), not as malformed.
    [
      'a CertID serialNumber with a redundant leading 00',
      (p) => padSerial(p.single.kids![0]!.kids![3]!),
      'non-minimal INTEGER',
    ],
    [
      'a CertID hashAlgorithm NULL with content (05 01 00)',
      (p) => (certIdHash(p).kids![1] = prim(0x05, 0)),
      'bad NULL',
    ],
    ['CertID hashAlgorithm parameters nested 40 deep', (p) => (certIdHash(p).kids![1] = nested(40)), 'nested too deep'],
    ['a signature BIT STRING with unused bits', (p) => (p.basic.kids![2]!.bytes![0] = 1), 'signature has unused bits'],
    [
      'thisUpdate with fractional seconds (RFC 6960 §4.2.2.1, RFC 5280 §4.1.2.5.2)',
      (p) => withFraction(p.single.kids![2]!),
      'bad GeneralizedTime',
    ],
    [
      'producedAt with an offset, not Z',
      (p) => (p.tbs.kids![1] = ascii(0x18, '20270201120000+0900')),
      'bad GeneralizedTime',
    ],
    ['certStatus good with content (80 01 00)', (p) => (p.single.kids![1] = prim(0x80, 0)), 'bad certStatus'],
    // Refused before as ERR_PKI_OCSP_NONCE (no nonce found), not as malformed.
    ['responseExtensions empty (SIZE (1..MAX))', (p) => (p.tbs.kids![3]!.kids![0]!.kids = []), 'empty Extensions'],
    [
      'two nonce extensions (RFC 5280 §4.2)',
      (p) => p.tbs.kids![3]!.kids![0]!.kids!.push(clone(p.nonce)),
      'duplicate extension 1.3.6.1.5.5.7.48.1.2',
    ],
    [
      'a ResponderID byName whose Name has a non-minimal length in an RDN',
      (p) => (p.tbs.kids![0] = byName({ longForm: true })),
      'non-minimal length',
    ],
    [
      'a revocationReason that CRLReason does not define (7)',
      (p) => (p.single.kids![1] = revoked(7)),
      'CRLReason 7 not allowed',
    ],
  ]);
});

describe('refused before too (by asn1js): guards for the strict reader', () => {
  refuses([
    ['an element after the SingleResponse fields', (p) => p.single.kids!.push(prim(0x05)), 'expected tag a1, got 5'],
    ['responseStatus as an INTEGER', (p) => (p.outer.kids![0] = prim(0x02, 0)), 'expected tag a, got 2'],
    ['thisUpdate as UTCTime', (p) => (p.single.kids![2] = ascii(0x17, '270201030000Z')), 'expected GeneralizedTime'],
    ['certStatus good as a constructed [0]', (p) => (p.single.kids![1] = cons(0xa0)), 'bad certStatus'],
  ]);
});

describe('extensions (RFC 6960 §4.4, RFC 5280 §4.2)', () => {
  const critical = { code: 'ERR_PKI_OCSP_UNKNOWN_CRITICAL_EXTENSION' };
  test('an unknown critical responseExtension: ERR_PKI_OCSP_UNKNOWN_CRITICAL_EXTENSION', () => {
    assert.throws(() => run(mutate((p) => p.tbs.kids![3]!.kids![0]!.kids!.push(ext(true)))), critical);
  });
  test('an unknown critical singleExtension: ERR_PKI_OCSP_UNKNOWN_CRITICAL_EXTENSION', () => {
    assert.throws(() => run(mutate((p) => p.single.kids!.push(cons(0xa1, cons(0x30, ext(true)))))), critical);
  });
  test('unknown non-critical extensions are ignored', () => {
    const der = mutate((p) => {
      p.tbs.kids![3]!.kids![0]!.kids!.push(ext(false));
      p.single.kids!.push(cons(0xa1, cons(0x30, ext(false))));
    });
    assert.equal(run(der).status, 'good');
  });
  test('a nonce marked critical is processed, so accepted', () => {
    assert.equal(run(mutate((p) => p.nonce.kids!.splice(1, 0, prim(0x01, 0xff)))).status, 'good');
  });
});

// These two were refused before as well; kept with the others as one list of the cases.
describe('the one answer (RFC 6960 §4.2.2.3, §4.2.2.1)', () => {
  test('the SingleResponse for the certificate twice: ERR_PKI_OCSP_RESPONSE_COUNT', () => {
    const der = mutate((p) => p.tbs.kids![2]!.kids!.push(clone(p.single)));
    assert.throws(() => run(der), { code: 'ERR_PKI_OCSP_RESPONSE_COUNT' });
  });
  test('nextUpdate before thisUpdate: ERR_PKI_OCSP_MALFORMED', () => {
    const der = mutate((p) => (p.single.kids![3] = cons(0xa0, ascii(0x18, '20270201025959Z'))));
    assert.throws(() => run(der), { code: 'ERR_PKI_OCSP_MALFORMED', message: /nextUpdate before thisUpdate/ });
  });
});

describe('valid variants stay accepted', () => {
  test('a ResponderID byName (the CA subject, RFC 6960 §4.2.2.3)', () => {
    assert.equal(run(mutate((p) => (p.tbs.kids![0] = byName()))).status, 'good');
  });
  test('a CertID hashAlgorithm without NULL parameters (the encoder’s choice)', () => {
    assert.equal(run(mutate((p) => p.single.kids![0]!.kids![0]!.kids!.splice(1))).status, 'good');
  });
  test('a revoked answer with a reason', () => {
    const a = run(mutate((p) => (p.single.kids![1] = revoked(1))));
    assert.equal(a.status, 'revoked');
    assert.equal(a.status === 'revoked' && a.reason, 'keyCompromise');
  });
  test('a revoked answer without a reason is unspecified', () => {
    const a = run(mutate((p) => (p.single.kids![1] = revoked())));
    assert.equal(a.status === 'revoked' && a.reason, 'unspecified');
  });
  test('unknown and without nextUpdate', () => {
    const a = run(
      mutate((p) => {
        p.single.kids![1] = prim(0x82);
        p.single.kids!.splice(3, 1);
      }),
    );
    assert.equal(a.status, 'unknown');
    assert.equal(a.nextUpdate, undefined);
  });
});

describe('an independent encoder stays accepted', () => {
  // openssl ocsp as the responder, both ResponderID forms. It stamps the real clock, so the check uses it too.
  for (const byKey of [true, false]) {
    test(`openssl ocsp's answer (ResponderID ${byKey ? 'byKey' : 'byName'})`, async (t) => {
      if (!(await requireSystem(t, ['openssl']))) return;
      const d = f.dir;
      const req = buildOcspRequest(cert, ca);
      const b64 = Buffer.from(f.authCa.der)
        .toString('base64')
        .replace(/.{1,64}/g, '$&\n');
      writeFileSync(join(d, 'ocsp-ca.pem'), `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`);
      writeFileSync(join(d, 'ocsp-req.der'), req.der);
      // ca(1) index: status, expiry, revocation, serial (hex), file, subject.
      writeFileSync(
        join(d, 'ocsp-index.txt'),
        `V\t370101000000Z\t\t${cert.serialNumber.toUpperCase()}\tunknown\t/CN=x\n`,
      );
      const caPem = join(d, 'ocsp-ca.pem');
      const out = join(d, 'ocsp-resp.der');
      execFileSync(
        'openssl',
        [
          'ocsp',
          '-index',
          join(d, 'ocsp-index.txt'),
          '-CA',
          caPem,
          '-rsigner',
          caPem,
          '-rkey',
          join(d, 'auth-ca.key'),
        ].concat(['-reqin', join(d, 'ocsp-req.der'), '-respout', out, '-ndays', '1'], byKey ? ['-resp_key_id'] : []),
        { stdio: 'pipe' },
      );
      const answer = checkOcspResponse(new Uint8Array(readFileSync(out)), {
        ...check,
        certId: req.certId,
        nonce: req.nonce,
        now: Date.now(),
      });
      assert.equal(answer.status, 'good');
    });
  }
});

/** The CertID's hashAlgorithm AlgorithmIdentifier. */
function certIdHash(p: Parts): Node {
  return p.single.kids![0]!.kids![0]!;
}

/** `depth` SEQUENCEs, one inside the other. */
function nested(depth: number): Node {
  let n = cons(0x30);
  for (let i = 1; i < depth; i++) n = cons(0x30, n);
  return n;
}

function nonMinimalOid(n: Node): void {
  // A leading 0x80 octet on the last arc: same number, not DER (X.690 §8.19.2).
  const b = n.bytes!;
  n.bytes = Uint8Array.from([...b.subarray(0, -1), 0x80, b[b.length - 1]!]);
}

function padSerial(n: Node): void {
  // Redundant only while the first octet stays below 0x80 after it (X.690 §8.3.2); add 00 00 when it is not.
  n.bytes = Uint8Array.from([...(n.bytes![0]! & 0x80 ? [0, 0] : [0]), ...n.bytes!]);
}

function withFraction(n: Node): void {
  const s = Buffer.from(n.bytes!).toString('latin1');
  n.bytes = new Uint8Array(Buffer.from(`${s.slice(0, -1)}.5Z`, 'latin1'));
}

/** ResponderID byName [1] EXPLICIT Name: the CA subject, optionally with a non-minimal length inside the Name. */
function byName(opts: { longForm?: boolean } = {}): Node {
  const name = parse(ca.subject)[0]!;
  const rdn = name.kids![0]!;
  if (opts.longForm) rdn.len = padded(bodyLength(rdn));
  return cons(0xa1, name);
}

/** certStatus revoked [1] IMPLICIT RevokedInfo, an hour before NOW, with `reason` when given. */
function revoked(reason?: number): Node {
  const time = ascii(0x18, '20270201020000Z');
  return cons(0xa1, time, ...(reason === undefined ? [] : [cons(0xa0, prim(0x0a, reason))]));
}
