/**
 * `Verifier.signingStatus`: a signing certificate verified before, named by reference (`signingCertificateRef`: its
 * CA's fingerprint, serial, notAfter and OCSP URLs, no bytes), asked again of the configured revocation source by
 * CA and serial: OCSP (sharing the answer cached for the certificate itself), the platform API, the CRL index. An
 * expired certificate, an issuer no longer trusted, a revoked one and an unknown status each reject.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createVerifier,
  crlRevocation,
  CrlSource,
  firstAnswer,
  ocspSource,
  parseCertificate,
  platformSource,
  signingCertificateRef,
} from '@mynagate/pki';
import type {
  ParsedCertificate,
  RevocationSource,
  RevocationSubject,
  SigningCertificateRef,
  VerifierOptions,
} from '@mynagate/pki';
import type { IssuedCard, TestJpkiServer } from '@mynagate/pki/testing';
import { NOW, T_ISSUE, createFixture, serve } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

const DAY = 86_400_000;

let f: Fixture;
let server: TestJpkiServer;
let moved: IssuedCard;
before(async () => {
  f = await createFixture();
  server = await serve(f);
  // An address change revokes the signing certificate alone (spec §9).
  moved = await f.jpki.issueCard({
    name: '転居　花子',
    address: '東京都千代田区千代田1-1',
    birthDate: '1990-04-01',
    sex: '2',
    pin: '1234',
    password: 'ABC123',
    now: T_ISSUE,
  });
  await f.jpki.revoke(moved.signSerial, 'unspecified', new Date(T_ISSUE.getTime() + DAY));
});
after(async () => {
  await server.close();
  await f.close();
});

/** A fetch that counts requests. */
function counting() {
  const calls = { n: 0 };
  const fetch: typeof globalThis.fetch = (input, init) => {
    calls.n++;
    return globalThis.fetch(input, init);
  };
  return { calls, fetch };
}

/** OCSP where the certificate's AIA says, on the test server's port. */
const ocspAtServer = (fetch?: typeof globalThis.fetch) =>
  ocspSource({ url: (cert) => `${server.url}${new URL(cert.ocspUrls[0]!).pathname}`, ...(fetch ? { fetch } : {}) });

const verifierWith = (revocation: RevocationSource, over: Partial<VerifierOptions> = {}) =>
  createVerifier({ anchors: f.anchors, revocation, now: () => NOW, ...over });

/** The reference a verified identity keeps of `card`'s signing certificate. */
async function refOf(card: IssuedCard): Promise<SigningCertificateRef> {
  const any: RevocationSource = { status: async () => ({ status: 'good', source: 'stub' }) };
  return signingCertificateRef(await verifierWith(any).verifyCertificate(card.spec.signCert, 'sign'));
}

describe('signingCertificateRef', () => {
  test('names the certificate by CA fingerprint, serial, notAfter and OCSP URLs; JSON as it is', async () => {
    const ref = await refOf(f.card);
    const cert = parseCertificate(f.card.spec.signCert);
    assert.deepEqual(JSON.parse(JSON.stringify(ref)), {
      issuerFingerprint: parseCertificate(f.card.spec.signCaCert).fingerprint,
      serialNumber: cert.serialNumber,
      notAfter: new Date(cert.notAfter).toISOString(),
      ocspUrls: [...cert.ocspUrls],
    });
    assert.ok(!JSON.stringify(ref).includes('CRL'), 'no distribution point (the municipality)');
  });

  test('refuses an authentication certificate', async () => {
    const any: RevocationSource = { status: async () => ({ status: 'good', source: 'stub' }) };
    const auth = await verifierWith(any).verifyCertificate(f.card.spec.authCert, 'auth');
    assert.throws(() => signingCertificateRef(auth), TypeError);
  });
});

describe('Verifier.signingStatus', () => {
  test('asks the source by CA and serial: the anchor as issuer, its subject as issuer name, no distribution point', async () => {
    const asked: RevocationSubject[] = [];
    const v = verifierWith({
      answersByReference: true,
      status: async (cert, issuer) => {
        asked.push(cert);
        assert.equal(issuer.fingerprint, parseCertificate(f.card.spec.signCaCert).fingerprint);
        return { status: 'good', source: 'stub' };
      },
    });
    const ref = { ...(await refOf(f.card)), serialNumber: '80000001' };
    const s = await v.signingStatus(ref);
    assert.equal(s.revocationSource, 'stub');
    assert.equal(s.serialNumber, '80000001');
    const [subject] = asked;
    const cert = parseCertificate(f.card.spec.signCert);
    // A positive INTEGER whose first bit is set carries a 0x00 sign octet (X.690 §8.3.2), as in the certificate.
    assert.deepEqual([...subject!.serialBytes], [0, 0x80, 0, 0, 1]);
    assert.deepEqual(subject!.issuer, cert.issuer);
    assert.deepEqual(subject!.ocspUrls, [...cert.ocspUrls]);
    assert.equal(subject!.crlDistributionPoints, undefined);
    assert.equal(subject!.isCa, false);
  });

  test('OCSP: good, served from the answer cached when the certificate itself was verified', async () => {
    const { calls, fetch } = counting();
    const v = verifierWith(ocspAtServer(fetch));
    const verified = await v.verifyCertificate(f.card.spec.signCert, 'sign');
    assert.equal(calls.n, 1);
    const s = await v.signingStatus(signingCertificateRef(verified));
    assert.equal(s.revocationSource, 'ocsp');
    assert.equal(s.notAfter.getTime(), verified.notAfter.getTime());
    assert.equal(calls.n, 1, 'the same CertID: no second request');
  });

  test('OCSP: a revoked signing certificate rejects with ERR_PKI_CERT_REVOKED', async () => {
    await assert.rejects(verifierWith(ocspAtServer()).signingStatus(await refOf(moved)), {
      code: 'ERR_PKI_CERT_REVOKED',
      reason: 'unspecified',
      source: 'ocsp',
    });
  });

  test('an unreachable responder fails closed (ERR_PKI_REVOCATION_UNKNOWN)', async () => {
    const down = ocspSource({ url: 'http://127.0.0.1:9/ocsp/sign', timeoutMs: 2000 });
    await assert.rejects(verifierWith(down).signingStatus(await refOf(f.card)), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'unreachable',
    });
    // No OCSP URL kept (and none configured): nothing to ask.
    const aia = ocspSource();
    await assert.rejects(verifierWith(aia).signingStatus({ ...(await refOf(f.card)), ocspUrls: [] }), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'unavailable',
    });
  });

  test('the platform API: good and revoked by CA fingerprint and serial', async () => {
    const v = verifierWith(platformSource({ baseUrl: server.url }));
    assert.equal((await v.signingStatus(await refOf(f.card))).revocationSource, 'platform');
    await assert.rejects(v.signingStatus(await refOf(moved)), { code: 'ERR_PKI_CERT_REVOKED', source: 'platform' });
  });

  test('an expired certificate rejects with ERR_PKI_CERT_EXPIRED before any source is asked', async () => {
    const ref = await refOf(f.card);
    let asked = 0;
    const v = verifierWith({
      answersByReference: true,
      status: async () => (asked++, { status: 'good', source: 'stub' }),
    });
    const after = new Date(Date.parse(ref.notAfter) + 1000);
    await assert.rejects(v.signingStatus(ref, after), { code: 'ERR_PKI_CERT_EXPIRED', check: 'validity' });
    await assert.rejects(v.signingStatus({ ...ref, notAfter: new Date(NOW.getTime() - 1000).toISOString() }), {
      code: 'ERR_PKI_CERT_EXPIRED',
    });
    assert.equal(asked, 0);
    assert.equal((await v.signingStatus(ref, new Date(Date.parse(ref.notAfter)))).revocationSource, 'stub');
  });

  test('a CA that is no configured signing anchor rejects with ERR_PKI_UNTRUSTED_ISSUER', async () => {
    const v = verifierWith({ status: async () => ({ status: 'good', source: 'stub' }) });
    const ref = await refOf(f.card);
    await assert.rejects(v.signingStatus({ ...ref, issuerFingerprint: 'ab'.repeat(32) }), {
      code: 'ERR_PKI_UNTRUSTED_ISSUER',
    });
    // The authentication CA signs no signing certificate.
    const authCa = parseCertificate(f.card.spec.authCaCert).fingerprint;
    await assert.rejects(v.signingStatus({ ...ref, issuerFingerprint: authCa }), { code: 'ERR_PKI_UNTRUSTED_ISSUER' });
  });

  test('a malformed reference is a TypeError', async () => {
    const v = verifierWith({ status: async () => ({ status: 'good', source: 'stub' }) });
    const ref = await refOf(f.card);
    for (const bad of [
      { ...ref, issuerFingerprint: 'zz' },
      { ...ref, serialNumber: '' },
      { ...ref, serialNumber: 'abc' },
      { ...ref, notAfter: 'tomorrow' },
      { ...ref, ocspUrls: [1] },
      undefined,
    ]) {
      await assert.rejects(v.signingStatus(bad as unknown as SigningCertificateRef), TypeError);
    }
  });
});

describe('Verifier.signingStatus over the CRL index', () => {
  const CHIYODA = { prefecture: 'Tokyo-to', city: 'Chiyoda-ku' } as const;
  const HOUR_BEFORE = new Date(NOW.getTime() - 3_600_000);

  test('JPKI partitions its signing CRL per municipality: a listed serial is revoked, an unlisted one unknown', async () => {
    const crls = new CrlSource({ issuers: f.anchors.sign, worker: false });
    await crls.refresh(await f.jpki.crl('sign', { now: HOUR_BEFORE, partition: CHIYODA }), NOW);
    const v = verifierWith(crlRevocation(crls));
    // The certificate itself names its partition: good.
    assert.equal((await v.verifyCertificate(f.card.spec.signCert, 'sign')).revocationSource, 'crl');
    // By reference its partition is not known; one that lists the serial still says revoked.
    await assert.rejects(v.signingStatus(await refOf(moved)), { code: 'ERR_PKI_CERT_REVOKED', source: 'crl' });
    await assert.rejects(v.signingStatus(await refOf(f.card)), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      source: 'crl',
      detail: 'unavailable',
    });
  });

  test('the CA’s whole CRL answers both', async () => {
    const crls = new CrlSource({ issuers: f.anchors.sign, worker: false });
    await crls.refresh(await f.jpki.crl('sign', { now: HOUR_BEFORE }), NOW);
    const v = verifierWith(crlRevocation(crls));
    assert.equal((await v.signingStatus(await refOf(f.card))).revocationSource, 'crl');
    await assert.rejects(v.signingStatus(await refOf(moved)), { code: 'ERR_PKI_CERT_REVOKED' });
  });
});

describe('Verifier.signingStatus asks only a source that answers by reference', () => {
  const REVOKED = { status: 'revoked', source: 'denylist', revokedAt: new Date(0), reason: 'keyCompromise' } as const;
  const NOT_BY_REFERENCE = {
    code: 'ERR_PKI_REVOCATION_UNKNOWN',
    detail: 'unavailable',
    source: 'source',
    message: /does not answer by reference/,
  };

  /** A source written for whole certificates (before `RevocationSubject`): a deny-list by certificate fingerprint. */
  function byFingerprint(denied: string, over: Partial<RevocationSource> = {}) {
    const calls = { n: 0 };
    const source: RevocationSource = {
      ...over,
      // Method syntax is bivariant: the old parameter type still type-checks.
      async status(cert: ParsedCertificate) {
        calls.n++;
        return cert.fingerprint === denied ? REVOKED : { status: 'good', source: 'denylist' };
      },
    };
    return { calls, source };
  }

  test('a custom source that does not opt in: revoked on verify, ERR_PKI_REVOCATION_UNKNOWN (unavailable) by reference, never good', async () => {
    const { calls, source } = byFingerprint(parseCertificate(f.card.spec.signCert).fingerprint);
    const v = verifierWith(source);
    await assert.rejects(v.verifyCertificate(f.card.spec.signCert, 'sign'), { code: 'ERR_PKI_CERT_REVOKED' });
    assert.equal(calls.n, 1);
    const ref = await refOf(f.card);
    await assert.rejects(v.signingStatus(ref), NOT_BY_REFERENCE);
    assert.equal(calls.n, 1, 'not asked');
    // What needs no source is still decided: an expired certificate is final.
    await assert.rejects(v.signingStatus(ref, new Date(Date.parse(ref.notAfter) + 1000)), {
      code: 'ERR_PKI_CERT_EXPIRED',
    });
  });

  test('a source that opts in but reads what a reference lacks fails closed on that read', async () => {
    const { calls, source } = byFingerprint(parseCertificate(f.card.spec.signCert).fingerprint, {
      answersByReference: true,
    });
    await assert.rejects(verifierWith(source).signingStatus(await refOf(f.card)), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'unavailable',
      message: /read fingerprint/,
    });
    assert.equal(calls.n, 1);
  });

  test('a deny-list by CA and serial that opts in answers by reference', async () => {
    const ref = await refOf(f.card);
    const denyList: RevocationSource = {
      answersByReference: true,
      async status(cert, issuer) {
        return `${issuer.fingerprint}:${cert.serialNumber}` === `${ref.issuerFingerprint}:${ref.serialNumber}`
          ? REVOKED
          : { status: 'good', source: 'denylist' };
      },
    };
    const v = verifierWith(denyList);
    await assert.rejects(v.signingStatus(ref), { code: 'ERR_PKI_CERT_REVOKED', source: 'denylist' });
    assert.equal((await v.signingStatus(await refOf(moved))).revocationSource, 'denylist');
  });

  test('the built-in sources opt in; firstAnswer only when all its sources do; a wrapper that drops it does not', async () => {
    const ocsp = ocspAtServer();
    const platform = platformSource({ baseUrl: server.url });
    const crl = crlRevocation(new CrlSource({ issuers: f.anchors.sign, worker: false }));
    for (const s of [ocsp, platform, crl, firstAnswer(crl, ocsp), firstAnswer(ocsp, platform)])
      assert.equal(s.answersByReference, true);
    const { calls, source } = byFingerprint(parseCertificate(f.card.spec.signCert).fingerprint);
    const mixed = firstAnswer(source, ocsp);
    assert.equal(mixed.answersByReference, false);
    // Skipping the deny-list would let OCSP's good stand for a certificate it revoked.
    await assert.rejects(verifierWith(mixed).signingStatus(await refOf(f.card)), NOT_BY_REFERENCE);
    assert.equal(calls.n, 0);
    assert.equal(
      (await verifierWith(firstAnswer(crl, ocsp)).signingStatus(await refOf(f.card))).revocationSource,
      'ocsp',
    );
    const wrapped: RevocationSource = { status: (cert, issuer, now) => ocsp.status(cert, issuer, now) };
    await assert.rejects(verifierWith(wrapped).signingStatus(await refOf(f.card)), NOT_BY_REFERENCE);
  });

  test('answersByReference that is not a boolean is a TypeError at construction', () => {
    const source = { answersByReference: 'yes', status: async () => ({ status: 'good', source: 'stub' }) };
    assert.throws(() => verifierWith(source as unknown as RevocationSource), TypeError);
  });
});
