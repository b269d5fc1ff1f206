/** The test JPKI's OCSP responder (RFC 6960), CRLs (RFC 5280 §5) and HTTP server, checked at the ASN.1 level. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  BasicOCSPResponse,
  CertID,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  TBSRequest,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier, CertificateList, CRLNumber, CRLReason, Extension } from '@peculiar/asn1-x509';
import { TestJpki, serveTestJpki } from '@mynagate/pki/testing';
import type { IssuedCard, TestJpkiServer } from '@mynagate/pki/testing';
import { parseCert, tempDir } from './support/testing-jpki.ts';

const T0 = new Date('2025-01-01T00:00:00Z');
const T1 = new Date('2025-02-01T00:00:00Z');
const T_REVOKE = new Date('2025-03-01T00:00:00Z');
const T2 = new Date('2025-04-01T00:00:00Z');

let jpki: TestJpki;
let remove: () => Promise<void>;
let live: IssuedCard;
let revoked: IssuedCard;

before(async () => {
  const t = await tempDir('jpki-responder');
  remove = t.remove;
  jpki = await TestJpki.init(t.dir, { now: T0 });
  const holder = {
    name: '試験　三郎',
    address: '福岡県福岡市中央区1-1',
    birthDate: '1970-12-31',
    sex: '1',
    pin: '0000',
    password: 'ABCD1234',
    now: T1,
  } as const;
  [live, revoked] = await Promise.all([jpki.issueCard(holder), jpki.issueCard(holder)]);
  await jpki.revoke(revoked.authSerial, 'keyCompromise', T_REVOKE);
});
after(() => remove());

/** An OCSPRequest for `serial` under `kind`'s CA, hashing with `hash`, optionally with a nonce. */
function ocspRequest(
  kind: 'auth' | 'sign',
  serial: string,
  opts: { hash?: 'sha1' | 'sha256'; nonce?: Uint8Array } = {},
): Uint8Array {
  const hash = opts.hash ?? 'sha1';
  const ca = parseCert(jpki.caCertificate(kind));
  const name = new Uint8Array(AsnConvert.serialize(ca.tbsCertificate.subject));
  const key = new Uint8Array(ca.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey);
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: hash === 'sha1' ? '1.3.14.3.2.26' : '2.16.840.1.101.3.4.2.1' }),
    issuerNameHash: new OctetString(createHash(hash).update(name).digest()),
    issuerKeyHash: new OctetString(createHash(hash).update(key).digest()),
    serialNumber: new Uint8Array(Buffer.from(serial, 'hex')).buffer,
  });
  const tbs = new TBSRequest({ requestList: [new Request({ reqCert: certId })] });
  if (opts.nonce) {
    const value = new Uint8Array(AsnConvert.serialize(new OctetString(opts.nonce)));
    tbs.requestExtensions = [
      new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(value) }),
    ];
  }
  return new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest: tbs })));
}

/** Parses a successful response and checks its signature with the key of its first certificate. */
function basic(der: Uint8Array): BasicOCSPResponse {
  const res = AsnConvert.parse(der, OCSPResponse);
  assert.equal(res.responseStatus, OCSPResponseStatus.successful);
  assert.equal(res.responseBytes!.responseType, '1.3.6.1.5.5.7.48.1.1');
  return AsnConvert.parse(res.responseBytes!.response.buffer, BasicOCSPResponse);
}

function signatureValid(b: BasicOCSPResponse, signerCert: Uint8Array): boolean {
  const spki = AsnConvert.serialize(parseCert(signerCert).tbsCertificate.subjectPublicKeyInfo);
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const tbs = AsnConvert.serialize(b.tbsResponseData);
  return verify('sha256', new Uint8Array(tbs), key, new Uint8Array(b.signature));
}

describe('OCSP responder (RFC 6960)', () => {
  test('good: signed by the CA, responderID byKey = SHA-1 of the CA key, thisUpdate/nextUpdate/producedAt set', async () => {
    const b = basic(await jpki.respondOcsp('auth', ocspRequest('auth', live.authSerial), { now: T2 }));
    assert.ok(signatureValid(b, jpki.caCertificate('auth')));
    const caKey = new Uint8Array(
      parseCert(jpki.caCertificate('auth')).tbsCertificate.subjectPublicKeyInfo.subjectPublicKey,
    );
    assert.deepEqual(
      new Uint8Array(b.tbsResponseData.responderID.byKey!.buffer),
      new Uint8Array(createHash('sha1').update(caKey).digest()),
    );
    const r = b.tbsResponseData.responses[0]!;
    assert.notEqual(r.certStatus.good, undefined);
    assert.equal(b.tbsResponseData.producedAt.getTime(), T2.getTime());
    assert.equal(r.thisUpdate.getTime(), T2.getTime());
    assert.equal(r.nextUpdate!.getTime(), T2.getTime() + 3600_000);
    assert.equal(Buffer.from(r.certID.serialNumber).toString('hex'), live.authSerial);
  });

  test('revoked: revocationTime and reason keyCompromise, once the revocation time is reached', async () => {
    const b = basic(await jpki.respondOcsp('auth', ocspRequest('auth', revoked.authSerial), { now: T2 }));
    const info = b.tbsResponseData.responses[0]!.certStatus.revoked!;
    assert.equal(info.revocationTime.getTime(), T_REVOKE.getTime());
    assert.equal(info.revocationReason!.reason, 1);
    const before = basic(await jpki.respondOcsp('auth', ocspRequest('auth', revoked.authSerial), { now: T1 }));
    assert.notEqual(before.tbsResponseData.responses[0]!.certStatus.good, undefined);
  });

  test('unknown: a serial not issued here, and a sign serial asked of the auth responder', async () => {
    for (const serial of ['12345678', live.signSerial]) {
      const b = basic(await jpki.respondOcsp('auth', ocspRequest('auth', serial), { now: T2 }));
      assert.notEqual(b.tbsResponseData.responses[0]!.certStatus.unknown, undefined, serial);
    }
  });

  test('unknown: a CertID whose issuer hashes name the other CA', async () => {
    const b = basic(await jpki.respondOcsp('auth', ocspRequest('sign', live.authSerial), { now: T2 }));
    assert.notEqual(b.tbsResponseData.responses[0]!.certStatus.unknown, undefined);
  });

  test('a SHA-256 CertID is matched too', async () => {
    const b = basic(
      await jpki.respondOcsp('auth', ocspRequest('auth', live.authSerial, { hash: 'sha256' }), { now: T2 }),
    );
    assert.notEqual(b.tbsResponseData.responses[0]!.certStatus.good, undefined);
  });

  test('the nonce extension is echoed unchanged; without one, none is added', async () => {
    const nonce = randomBytes(16);
    const b = basic(await jpki.respondOcsp('auth', ocspRequest('auth', live.authSerial, { nonce }), { now: T2 }));
    const ext = b.tbsResponseData.responseExtensions!.find((e) => e.extnID === id_pkix_ocsp_nonce)!;
    assert.deepEqual(
      new Uint8Array(ext.extnValue.buffer),
      new Uint8Array(AsnConvert.serialize(new OctetString(nonce))),
    );
    const none = basic(await jpki.respondOcsp('auth', ocspRequest('auth', live.authSerial), { now: T2 }));
    assert.equal(none.tbsResponseData.responseExtensions, undefined);
  });

  test('a malformed request gets the malformedRequest status and no responseBytes', async () => {
    for (const junk of [new Uint8Array([0x30, 0x03, 0x02, 0x01]), new Uint8Array([1, 2, 3]), new Uint8Array(0)]) {
      const res = AsnConvert.parse(await jpki.respondOcsp('auth', junk, { now: T2 }), OCSPResponse);
      assert.equal(res.responseStatus, OCSPResponseStatus.malformedRequest);
      assert.equal(res.responseBytes, undefined);
    }
  });

  test('delegated responder: signed by a CA-issued certificate with id-kp-OCSPSigning and ocsp-nocheck', async () => {
    const b = basic(
      await jpki.respondOcsp('sign', ocspRequest('sign', live.signSerial), { now: T2, responder: 'delegated' }),
    );
    const signer = new Uint8Array(AsnConvert.serialize(b.certs![0]!));
    assert.ok(signatureValid(b, signer));
    const c = parseCert(signer);
    const oids = Array.from(c.tbsCertificate.extensions!, (e) => e.extnID);
    assert.ok(oids.includes('1.3.6.1.5.5.7.48.1.5'));
    const eku = c.tbsCertificate.extensions!.find((e) => e.extnID === '2.5.29.37')!;
    assert.ok(
      Buffer.from(eku.extnValue.buffer).includes(Buffer.from([0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09])),
    );
    assert.deepEqual(
      AsnConvert.serialize(c.tbsCertificate.issuer),
      AsnConvert.serialize(parseCert(jpki.caCertificate('sign')).tbsCertificate.subject),
    );
    // The CA's key verifies the responder certificate.
    const caSpki = AsnConvert.serialize(parseCert(jpki.caCertificate('sign')).tbsCertificate.subjectPublicKeyInfo);
    const caKey = createPublicKey({ key: Buffer.from(caSpki), format: 'der', type: 'spki' });
    assert.ok(
      verify('sha256', new Uint8Array(AsnConvert.serialize(c.tbsCertificate)), caKey, new Uint8Array(c.signatureValue)),
    );
  });
});

describe('CRL (RFC 5280 §5)', () => {
  test('v2, issuer = CA DN, signed by the CA, AKI and an increasing CRL number, revoked entries with reason codes', async () => {
    const first = AsnConvert.parse(await jpki.crl('auth', { now: T2, nextUpdateSeconds: 7200 }), CertificateList);
    const second = AsnConvert.parse(await jpki.crl('auth', { now: T2 }), CertificateList);
    const tbs = first.tbsCertList;
    assert.equal(tbs.version, 1); // v2
    const ca = parseCert(jpki.caCertificate('auth'));
    assert.deepEqual(AsnConvert.serialize(tbs.issuer), AsnConvert.serialize(ca.tbsCertificate.subject));
    assert.equal(tbs.thisUpdate.getTime().getTime(), T2.getTime());
    assert.equal(tbs.nextUpdate!.getTime().getTime(), T2.getTime() + 7200_000);
    const caKey = createPublicKey({
      key: Buffer.from(AsnConvert.serialize(ca.tbsCertificate.subjectPublicKeyInfo)),
      format: 'der',
      type: 'spki',
    });
    assert.ok(verify('sha256', new Uint8Array(AsnConvert.serialize(tbs)), caKey, new Uint8Array(first.signature)));
    const number = (l: CertificateList) =>
      AsnConvert.parse(l.tbsCertList.crlExtensions!.find((e) => e.extnID === '2.5.29.20')!.extnValue.buffer, CRLNumber)
        .value;
    assert.equal(Number(number(second)), Number(number(first)) + 1);
    assert.ok(tbs.crlExtensions!.some((e) => e.extnID === '2.5.29.35'));
    const entries = tbs.revokedCertificates ?? [];
    assert.deepEqual(
      Array.from(entries, (e) => Buffer.from(e.userCertificate).toString('hex')),
      [revoked.authSerial],
    );
    const reasonExt = entries[0]!.crlEntryExtensions!.find((e) => e.extnID === '2.5.29.21')!;
    assert.equal(AsnConvert.parse(reasonExt.extnValue.buffer, CRLReason).reason, 1);
  });

  test('a CRL made before the revocation time does not list it; the sign CRL lists only sign revocations', async () => {
    const early = AsnConvert.parse(await jpki.crl('auth', { now: T1 }), CertificateList);
    assert.equal(early.tbsCertList.revokedCertificates?.length ?? 0, 0);
    const sign = AsnConvert.parse(await jpki.crl('sign', { now: T2 }), CertificateList);
    assert.equal(sign.tbsCertList.revokedCertificates?.length ?? 0, 0);
  });
});

describe('HTTP server', () => {
  let server: TestJpkiServer;
  before(async () => {
    server = await serveTestJpki(jpki, { port: 0, now: () => T2 });
  });
  after(() => server.close());

  test('POST /ocsp/auth answers application/ocsp-response', async () => {
    const res = await fetch(`${server.url}/ocsp/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request' },
      body: ocspRequest('auth', revoked.authSerial),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/ocsp-response');
    const b = basic(new Uint8Array(await res.arrayBuffer()));
    assert.notEqual(b.tbsResponseData.responses[0]!.certStatus.revoked, undefined);
  });

  test('GET /ocsp/sign/<url-encoded base64> (RFC 6960 appendix A.1) answers too', async () => {
    const b64 = Buffer.from(ocspRequest('sign', live.signSerial)).toString('base64');
    const res = await fetch(`${server.url}/ocsp/sign/${encodeURIComponent(b64)}`);
    assert.equal(res.status, 200);
    const b = basic(new Uint8Array(await res.arrayBuffer()));
    assert.notEqual(b.tbsResponseData.responses[0]!.certStatus.good, undefined);
  });

  test('a malformed POST body gets an OCSP malformedRequest answer', async () => {
    const res = await fetch(`${server.url}/ocsp/auth`, { method: 'POST', body: 'hello' });
    assert.equal(res.status, 200);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array([0x30, 0x03, 0x0a, 0x01, 0x01]));
  });

  test('GET /crl/auth.crl and /ca/sign.crt serve DER with PKIX media types', async () => {
    const crl = await fetch(`${server.url}/crl/auth.crl`);
    assert.equal(crl.headers.get('content-type'), 'application/pkix-crl');
    const list = AsnConvert.parse(await crl.arrayBuffer(), CertificateList);
    assert.equal(list.tbsCertList.revokedCertificates?.length, 1);
    const ca = await fetch(`${server.url}/ca/sign.crt`);
    assert.equal(ca.headers.get('content-type'), 'application/pkix-cert');
    assert.deepEqual(new Uint8Array(await ca.arrayBuffer()), jpki.caCertificate('sign'));
  });

  test('GET /crl/<kind>/partitions lists the municipalities; each partition CRL carries its critical scope', async () => {
    const listed = (await (await fetch(`${server.url}/crl/sign/partitions`)).json()) as {
      partitions: { prefecture: string; city: string; url: string }[];
    };
    assert.deepEqual(
      listed.partitions.map((p) => p.url),
      jpki.crlPartitions().map((m) => `/crl/sign/${m.prefecture}/${m.city}.crl`),
    );
    assert.ok(listed.partitions.length > 0);
    const res = await fetch(`${server.url}${listed.partitions[0]!.url}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/pkix-crl');
    const idp = AsnConvert.parse(await res.arrayBuffer(), CertificateList).tbsCertList.crlExtensions!.find(
      (e) => e.extnID === '2.5.29.28',
    );
    assert.equal(idp?.critical, true);
    const unknown = await fetch(`${server.url}/crl/sign/Hokkaido/Sapporo-shi.crl`);
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), { error: 'unknown_partition' });
  });

  test('GET /v1/status by issuer name or CA SHA-256 fingerprint', async () => {
    const get = async (q: string) => {
      const r = await fetch(`${server.url}/v1/status?${q}`);
      return [r.status, await r.json()];
    };
    assert.deepEqual(await get(`issuer=auth&serial=${live.authSerial}`), [200, { status: 'good' }]);
    assert.deepEqual(await get(`issuer=${jpki.caFingerprint('auth')}&serial=${revoked.authSerial.toUpperCase()}`), [
      200,
      { status: 'revoked', revokedAt: T_REVOKE.toISOString(), reason: 'keyCompromise' },
    ]);
    assert.deepEqual(await get(`issuer=sign&serial=${live.authSerial}`), [200, { status: 'unknown' }]);
    assert.deepEqual(await get(`issuer=${'ab'.repeat(32)}&serial=${live.authSerial}`), [
      404,
      { error: 'unknown_issuer' },
    ]);
    assert.deepEqual(await get(`issuer=auth`), [400, { error: 'invalid_request' }]);
    assert.deepEqual(await get(`issuer=root&serial=01`), [400, { error: 'invalid_request' }]);
  });

  test("GET /v1/links returns predecessor/successor after a renewal and the card's pair, each with its CA; unknown serial, issuer or CA is 404", async () => {
    const r = await jpki.renew(live.spec, { now: T2 });
    const [auth, sign] = [jpki.caFingerprint('auth'), jpki.caFingerprint('sign')];
    const res = await fetch(`${server.url}/v1/links?issuer=${auth}&serial=${live.authSerial}`);
    assert.deepEqual(await res.json(), {
      issuer: auth,
      serial: live.authSerial,
      kind: 'auth',
      successor: { issuer: auth, serial: r.authSerial },
      pair: { issuer: sign, serial: live.signSerial },
    });
    const back = await fetch(`${server.url}/v1/links?issuer=${sign}&serial=${r.signSerial}`);
    assert.deepEqual(await back.json(), {
      issuer: sign,
      serial: r.signSerial,
      kind: 'sign',
      predecessor: { issuer: sign, serial: live.signSerial },
      pair: { issuer: auth, serial: r.authSerial },
    });
    const get = async (query: string) => {
      const x = await fetch(`${server.url}/v1/links?${query}`);
      return [x.status, await x.json()];
    };
    assert.deepEqual(await get(`issuer=${auth}&serial=7f000001`), [404, { error: 'unknown_serial' }]);
    assert.deepEqual(await get(`issuer=${sign}&serial=${live.authSerial}`), [404, { error: 'unknown_serial' }]);
    assert.deepEqual(await get(`issuer=${'ab'.repeat(32)}&serial=${live.authSerial}`), [
      404,
      { error: 'unknown_issuer' },
    ]);
    assert.deepEqual(await get(`serial=${live.authSerial}`), [400, { error: 'invalid_request' }]);
  });

  test('unknown paths are 404 and wrong methods 405, as JSON', async () => {
    const a = await fetch(`${server.url}/nope`);
    assert.equal(a.status, 404);
    assert.deepEqual(await a.json(), { error: 'not_found' });
    const b = await fetch(`${server.url}/crl/auth.crl`, { method: 'POST' });
    assert.equal(b.status, 405);
    await b.body?.cancel();
  });
});
