/** Path validation: the named checks, validity boundaries and skew, certificate parsing, trust directories. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  KNOWN_EXTENSIONS,
  loadTrustDir,
  parseAnchors,
  parseCertificate,
  pathChecks,
  validatePath,
  JPKI_POLICIES,
} from '@mynagate/pki';
import { KeyCache } from '../src/keys.ts';
import { createFixture, reissue } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

let f: Fixture;
before(async () => {
  f = await createFixture();
});
after(() => f.close());

const opts = (now: number, skewMs = 0) => ({
  anchors: parseAnchors(f.anchors),
  policies: {
    auth: new Set(JPKI_POLICIES.auth),
    sign: new Set(JPKI_POLICIES.sign),
  },
  keys: new KeyCache(),
  now,
  skewMs,
});

test('the checks run in a fixed, named order', () => {
  assert.deepEqual(
    pathChecks.map((c) => c.name),
    [
      'kind',
      'nameChaining',
      'signature',
      'anchorValidity',
      'issuerIsCa',
      'validity',
      'criticalExtensions',
      'publicKey',
      'keyUsage',
      'extendedKeyUsage',
      'policy',
    ],
  );
  for (const c of pathChecks) assert.match(c.rule, /RFC|spec|Web eID/, c.name);
});

test('validity boundaries: notBefore and notAfter are inclusive, one millisecond outside fails', () => {
  const cert = parseCertificate(f.card.spec.authCert);
  assert.equal(
    validatePath(cert, 'auth', opts(cert.notAfter)).anchor.fingerprint,
    parseCertificate(f.authCa.der).fingerprint,
  );
  assert.equal(validatePath(cert, 'auth', opts(cert.notBefore)).kind, 'auth');
  assert.throws(() => validatePath(cert, 'auth', opts(cert.notAfter + 1)), {
    code: 'ERR_PKI_CERT_EXPIRED',
    check: 'validity',
  });
  assert.throws(() => validatePath(cert, 'auth', opts(cert.notBefore - 1)), {
    code: 'ERR_PKI_CERT_NOT_YET_VALID',
  });
});

test('the configured skew widens the validity window by exactly that much', () => {
  const cert = parseCertificate(f.card.spec.authCert);
  assert.equal(validatePath(cert, 'auth', opts(cert.notAfter + 60_000, 60_000)).kind, 'auth');
  assert.throws(() => validatePath(cert, 'auth', opts(cert.notAfter + 60_001, 60_000)), {
    code: 'ERR_PKI_CERT_EXPIRED',
  });
});

test('an auth certificate is valid as auth and never as sign; the sign certificate the other way round', () => {
  const now = parseCertificate(f.card.spec.authCert).notBefore + 1000;
  const auth = parseCertificate(f.card.spec.authCert);
  const sign = parseCertificate(f.card.spec.signCert);
  assert.equal(validatePath(sign, 'sign', opts(now)).kind, 'sign');
  assert.throws(() => validatePath(auth, 'sign', opts(now)), {
    code: 'ERR_PKI_WRONG_CERT_KIND',
  });
  assert.throws(() => validatePath(sign, 'auth', opts(now)), {
    code: 'ERR_PKI_WRONG_CERT_KIND',
  });
});

test('a CA certificate is not accepted as an end-entity certificate: ERR_PKI_WRONG_CERT_KIND', () => {
  const ca = parseCertificate(f.authCa.der);
  assert.throws(() => validatePath(ca, 'auth', opts(ca.notBefore + 1000)), {
    code: 'ERR_PKI_WRONG_CERT_KIND',
  });
});

test('parseCertificate refuses trailing bytes, truncation and a non-DER length: ERR_PKI_CERT_MALFORMED', () => {
  const der = f.card.spec.authCert;
  assert.throws(() => parseCertificate(new Uint8Array([...der, 0])), {
    code: 'ERR_PKI_CERT_MALFORMED',
  });
  assert.throws(() => parseCertificate(der.subarray(0, der.length - 1)), {
    code: 'ERR_PKI_CERT_MALFORMED',
  });
  const longForm = new Uint8Array([0x30, 0x81, 0x03, 0x02, 0x01, 0x00]);
  assert.throws(() => parseCertificate(longForm), {
    code: 'ERR_PKI_CERT_MALFORMED',
  });
  assert.throws(() => parseCertificate(new Uint8Array(0)), {
    code: 'ERR_PKI_CERT_MALFORMED',
  });
});

test('parseCertificate refuses an RSA key whose exponent is negative or not minimal DER: ERR_PKI_CERT_MALFORMED', () => {
  // RFC 8017 A.1.1 and X.690 §8.3.2; OpenSSL would import both (the first as 8454145), so its reading and the DER's
  // would differ.
  const der = f.card.spec.authCert;
  const spki = parseCertificate(der).spki;
  const end = spki.byteOffset - der.byteOffset + spki.length;
  // The SPKI ends with publicExponent 65537: 02 03 01 00 01.
  assert.deepEqual([...der.subarray(end - 5, end)], [0x02, 0x03, 0x01, 0x00, 0x01]);
  for (const exponent of [
    [0x81, 0x00, 0x01], // negative
    [0x00, 0x01, 0x01], // a leading zero octet that is not needed (257)
  ]) {
    const bad = der.slice();
    bad.set(exponent, end - 3);
    assert.throws(() => parseCertificate(bad), { code: 'ERR_PKI_CERT_MALFORMED' });
  }
  const ok = der.slice();
  ok.set([0x00, 0x80, 0x01], end - 3); // 32769: its leading zero is needed, so the same rules accept it
  assert.equal(parseCertificate(ok).rsaModulusBits, 2048);
});

test("a validated path's key is imported on first use, once, and is the key its PEM text reads as", () => {
  const cert = parseCertificate(f.card.spec.authCert);
  const p = validatePath(cert, 'auth', opts(cert.notBefore));
  assert.match(p.keyPem, /^-----BEGIN RSA PUBLIC KEY-----\n[A-Za-z0-9+/]+=*\n-----END RSA PUBLIC KEY-----\n$/);
  assert.equal(p.key, p.key);
  assert.ok(p.key.equals(createPublicKey(p.keyPem)));
  assert.ok(p.key.equals(new X509Certificate(f.card.spec.authCert).publicKey));
  assert.ok(Object.isFrozen(p));
});

test('parseCertificate refuses an extension that appears twice (RFC 5280 §4.2): ERR_PKI_CERT_MALFORMED', async () => {
  const twice = (critical: boolean) => [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, critical),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, critical),
  ];
  const once = await reissue(f.card.spec.authCert, f.authCa, { add: twice(true).slice(1) });
  assert.equal(parseCertificate(once).criticalExtensions.filter((id) => id === '2.5.29.15').length, 1);
  for (const critical of [true, false]) {
    const der = await reissue(f.card.spec.authCert, f.authCa, { add: twice(critical) });
    assert.throws(() => parseCertificate(der), { code: 'ERR_PKI_CERT_MALFORMED' });
  }
});

test('parseCertificate exposes the JPKI profile fields of the auth certificate', () => {
  const c = parseCertificate(f.card.spec.authCert);
  assert.equal(c.serialNumber, f.card.authSerial);
  assert.deepEqual(c.policies, JPKI_POLICIES.auth);
  assert.deepEqual(c.extendedKeyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(c.keyUsage?.digitalSignature, true);
  assert.equal(c.isCa, false);
  assert.match(c.ocspUrls[0] ?? '', /\/ocsp\/auth$/);
  for (const [id, e] of c.extensions) if (e.critical) assert.ok(KNOWN_EXTENSIONS.has(id), id);
  // The critical ones also as a list (what the criticalExtensions check reads), in certificate order; the Map is
  // made once, on first use.
  assert.deepEqual(
    c.criticalExtensions,
    [...c.extensions].filter(([, e]) => e.critical).map(([id]) => id),
  );
  assert.ok(c.criticalExtensions.includes('2.5.29.15'));
  assert.equal(c.extensions, c.extensions);
});

test('loadTrustDir sorts the test JPKI CA files into one auth and one sign anchor', async () => {
  const a = await loadTrustDir(f.dir);
  assert.deepEqual(a.auth, [f.authCa.der]);
  assert.deepEqual(a.sign, [f.signCa.der]);
});

test('loadTrustDir refuses, by name, a file that holds no certificate or one that does not parse (ERR_PKI_CERT_MALFORMED)', async () => {
  const pem = (der: Uint8Array, body = Buffer.from(der).toString('base64')) =>
    `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
  const good = pem(f.authCa.der);
  const b64 = Buffer.from(f.authCa.der).toString('base64');
  const cases: [string, string][] = [
    ['stray.pem', pem(f.authCa.der, b64.slice(0, 40) + '*' + b64.slice(41))],
    ['after-padding.pem', pem(f.authCa.der, `${b64}${b64.endsWith('=') ? '' : '===='}ZZZZ`)],
    ['trusted.pem', good.replaceAll('CERTIFICATE', 'TRUSTED CERTIFICATE')],
    ['cut.crt', Buffer.from(f.authCa.der).subarray(0, 200).toString('latin1')],
  ];
  for (const [name, content] of cases) {
    const dir = await mkdtemp(join(tmpdir(), 'trust-'));
    try {
      await writeFile(join(dir, 'auth-ca.pem'), good);
      await writeFile(join(dir, name), content, 'latin1');
      await assert.rejects(
        loadTrustDir(dir),
        { code: 'ERR_PKI_CERT_MALFORMED', message: new RegExp(`^${name}: `) },
        name,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test('parseAnchors refuses an end-entity certificate as an anchor (configuration error)', () => {
  assert.throws(() => parseAnchors({ auth: [f.card.spec.authCert], sign: [] }), TypeError);
});
