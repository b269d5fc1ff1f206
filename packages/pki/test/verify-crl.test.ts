/**
 * The verifier with CRL-based revocation (`crlRevocation` over a `CrlSource`): the CRLs are the test JPKI's own,
 * loaded at a frozen time; a revoked card fails, a good one passes, and a stale CRL fails closed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createAuthToken,
  createVerifier,
  CRL_ERROR_CODES,
  CrlIndex,
  crlRevocation,
  CrlSource,
  loadCrl,
  MemoryChallengeStore,
  parseCertificate,
  RevocationUnknownError,
} from '@mynagate/pki';
import type { IssuedCard } from '@mynagate/pki/testing';
import { webcrypto } from 'node:crypto';
import { crlNumberExtension, RSA, x509 } from './crl-fixtures.ts';
import { NOW, ORIGIN, T_ISSUE, cardSigner, createFixture, lookAlikeCa, reissue } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

const DAY = 86_400_000;

describe('createVerifier with crlRevocation(CrlSource)', () => {
  let f: Fixture;
  let revokedCard: IssuedCard;
  let crls: CrlSource;

  before(async () => {
    f = await createFixture();
    revokedCard = await f.jpki.issueCard({
      name: '試験　次郎',
      address: '東京都千代田区千代田1-1',
      birthDate: '1990-04-01',
      sex: '1',
      pin: '1234',
      password: 'ABC123',
      now: T_ISSUE,
    });
    await f.jpki.revoke(revokedCard.authSerial, 'keyCompromise', new Date(T_ISSUE.getTime() + DAY));
    crls = new CrlSource({ issuers: [...f.anchors.auth, ...f.anchors.sign], worker: false });
    // A CRL issued an hour before NOW, next one due a day later.
    await crls.refresh(await f.jpki.crl('auth', { now: new Date(NOW.getTime() - 3_600_000) }), NOW);
  });
  after(() => f.close());

  const verifierAt = (now: Date) => {
    const challenges = new MemoryChallengeStore();
    const verifier = createVerifier({
      anchors: f.anchors,
      revocation: crlRevocation(crls),
      challenges,
      now: () => now,
    });
    return { verifier, challenges };
  };

  async function login(now: Date, card?: IssuedCard) {
    const { verifier } = verifierAt(now);
    const { nonce } = await verifier.issueChallenge('s1');
    const token = card
      ? await createAuthToken({
          certificate: card.spec.authCert,
          origin: ORIGIN,
          challenge: nonce,
          sign: cardSigner(card.spec.authKey),
        })
      : await f.token(nonce);
    return verifier.verifyLoginToken(token, { origin: ORIGIN, challenge: nonce, sessionId: 's1' });
  }

  test('the auth certificate carries its directoryName CRL distribution point (spec §8.2)', () => {
    const cert = parseCertificate(f.card.spec.authCert);
    assert.equal(cert.crlDistributionPoints.length, 1);
    // DistributionPointName fullName [0] holding one GeneralName directoryName [4].
    const dp = cert.crlDistributionPoints[0]!;
    assert.equal(dp[0], 0xa0);
    const header = dp[1]! & 0x80 ? 2 + (dp[1]! & 0x7f) : 2;
    assert.equal(dp[header], 0xa4);
  });

  test('a card not on the CRL logs in, and the answer names the CRL source', async () => {
    const login1 = await login(NOW);
    assert.equal(login1.revocationSource, 'crl');
    assert.equal(login1.kind, 'auth');
  });

  test('a revoked card is refused: ERR_PKI_CERT_REVOKED with reason and date from the CRL', async () => {
    await assert.rejects(login(NOW, revokedCard), {
      code: 'ERR_PKI_CERT_REVOKED',
      reason: 'keyCompromise',
      source: 'crl',
      revokedAt: new Date(T_ISSUE.getTime() + DAY),
    });
  });

  test('verifyCertificate agrees: good card passes, revoked card fails', async () => {
    const { verifier } = verifierAt(NOW);
    assert.equal((await verifier.verifyCertificate(f.card.spec.authCert, 'auth')).revocationSource, 'crl');
    await assert.rejects(verifier.verifyCertificate(revokedCard.spec.authCert, 'auth'), {
      code: 'ERR_PKI_CERT_REVOKED',
    });
  });

  test('a CRL past its nextUpdate fails closed: ERR_PKI_REVOCATION_UNKNOWN (stale), even for a good card', async () => {
    const later = new Date(NOW.getTime() + 3 * DAY);
    await assert.rejects(login(later), (e: unknown) => {
      assert.ok(e instanceof RevocationUnknownError);
      assert.equal(e.code, 'ERR_PKI_REVOCATION_UNKNOWN');
      assert.equal(e.detail, 'stale');
      assert.equal(e.source, 'crl');
      return true;
    });
  });

  test('no CRL for the issuer fails closed: ERR_PKI_REVOCATION_UNKNOWN (unavailable)', async () => {
    const { verifier } = verifierAt(NOW);
    // Only the auth CRL was loaded: the signing certificate's issuer has none.
    await assert.rejects(verifier.verifyCertificate(f.card.spec.signCert, 'sign'), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'unavailable',
      source: 'crl',
    });
  });

  test("a CRL answers only for its own CA: two trusted generations with one name, the card's serial revoked by the other", async () => {
    // A second CA generation, as J-LIS's: the same name, its own key, its own serials and its own CRL. It issued a
    // certificate with the very serial of f.card's, and revoked it.
    const genB = await lookAlikeCa(f.authCa.der);
    const serial = parseCertificate(f.card.spec.authCert).serialNumber;
    const genBCert = await reissue(f.card.spec.authCert, genB, { serial });
    const signingKey = await webcrypto.subtle.importKey(
      'pkcs8',
      genB.key.export({ format: 'der', type: 'pkcs8' }),
      RSA,
      false,
      ['sign'],
    );
    const genBCrl = await x509.X509CrlGenerator.create({
      issuer: new x509.X509Certificate(genB.der).subjectName,
      thisUpdate: new Date(NOW.getTime() - 3_600_000),
      nextUpdate: new Date(NOW.getTime() + DAY),
      entries: [{ serialNumber: serial, revocationDate: T_ISSUE, reason: x509.X509CrlReason.keyCompromise }],
      extensions: [crlNumberExtension(1)],
      signingAlgorithm: RSA,
      signingKey,
    });
    const anchors = { auth: [...f.anchors.auth, genB.der], sign: f.anchors.sign };
    const both = new CrlSource({ issuers: anchors.auth, worker: false });
    await both.refresh(await f.jpki.crl('auth', { now: new Date(NOW.getTime() - 3_600_000) }), NOW);
    await both.refresh(new Uint8Array(genBCrl.rawData), NOW);
    const verifier = createVerifier({
      anchors,
      revocation: crlRevocation(both),
      challenges: new MemoryChallengeStore(),
      now: () => NOW,
    });
    assert.equal((await verifier.verifyCertificate(f.card.spec.authCert, 'auth')).revocationSource, 'crl');
    await assert.rejects(verifier.verifyCertificate(genBCert, 'auth'), {
      code: 'ERR_PKI_CERT_REVOKED',
      reason: 'keyCompromise',
    });
  });

  test('the CRL API is on the package entry', async () => {
    const index = await loadCrl(await f.jpki.crl('auth', { now: NOW }), { issuer: f.anchors.auth[0]!, now: NOW });
    assert.ok(index instanceof CrlIndex);
    assert.equal(index.lookup(revokedCard.authSerial).revoked, true);
    assert.ok('ERR_PKI_CRL_EXPIRED' in CRL_ERROR_CODES);
    assert.throws(() => crlRevocation({} as CrlSource), TypeError);
  });
});

describe('partitioned CRLs: one per municipality, as JPKI publishes the signing CRL (spec §8.2)', () => {
  let f: Fixture;
  // f.card was issued in Chiyoda-ku; this one in Tsukuba, and its signing certificate revoked (the holder moved).
  let moved: IssuedCard;
  const HOUR = 3_600_000;
  const TSUKUBA = { prefecture: 'Ibaraki-ken', city: 'Tsukuba-shi' };
  const CHIYODA = { prefecture: 'Tokyo-to', city: 'Chiyoda-ku' };

  before(async () => {
    f = await createFixture();
    moved = await f.jpki.issueCard({
      name: '試験　三郎',
      address: '茨城県つくば市研究学園1-1-1',
      birthDate: '1980-06-01',
      sex: '1',
      pin: '1234',
      password: 'ABC123',
      now: T_ISSUE,
    });
    await f.jpki.revoke(moved.signSerial, 'affiliationChanged', new Date(T_ISSUE.getTime() + DAY));
  });
  after(() => f.close());

  const partitionCrl = (where: { prefecture: string; city: string }) =>
    f.jpki.crl('sign', { now: new Date(NOW.getTime() - HOUR), partition: where });
  const verifierWith = async (...partitions: { prefecture: string; city: string }[]) => {
    const crls = new CrlSource({ issuers: [...f.anchors.auth, ...f.anchors.sign], worker: false });
    for (const p of partitions) await crls.refresh(await partitionCrl(p), NOW);
    return createVerifier({ anchors: f.anchors, revocation: crlRevocation(crls), now: () => NOW });
  };

  test('the test JPKI lists the municipalities it issued in, and each partition names its certificates exactly', async () => {
    assert.deepEqual(f.jpki.crlPartitions(), [TSUKUBA, CHIYODA]);
    const tsukuba = await loadCrl(await partitionCrl(TSUKUBA), { issuer: f.anchors.sign[0]!, now: NOW });
    const chiyoda = await loadCrl(await partitionCrl(CHIYODA), { issuer: f.anchors.sign[0]!, now: NOW });
    // The CRL's issuingDistributionPoint is byte for byte the DistributionPointName the certificates carry.
    assert.deepEqual(tsukuba.scope.distributionPoint, parseCertificate(moved.spec.signCert).crlDistributionPoints[0]);
    assert.deepEqual(chiyoda.scope.distributionPoint, parseCertificate(f.card.spec.signCert).crlDistributionPoints[0]);
    assert.equal(tsukuba.scope.onlyContainsUserCerts, true);
    assert.equal(tsukuba.lookup(moved.signSerial).revoked, true);
    assert.equal(chiyoda.lookup(moved.signSerial).revoked, false);
    assert.equal(chiyoda.entries, 0);
  });

  test('with every partition loaded, the moved holder is revoked and the other is good, each by its own partition', async () => {
    const v = await verifierWith(TSUKUBA, CHIYODA);
    await assert.rejects(v.verifyCertificate(moved.spec.signCert, 'sign'), {
      code: 'ERR_PKI_CERT_REVOKED',
      reason: 'affiliationChanged',
      source: 'crl',
    });
    assert.equal((await v.verifyCertificate(f.card.spec.signCert, 'sign')).revocationSource, 'crl');
  });

  test("another municipality's partition does not speak for a certificate: ERR_PKI_REVOCATION_UNKNOWN", async () => {
    // Chiyoda's CRL does not list the Tsukuba certificate, but it does not cover it either (RFC 5280 §6.3.3 (b)).
    const v = await verifierWith(CHIYODA);
    await assert.rejects(v.verifyCertificate(moved.spec.signCert, 'sign'), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      source: 'crl',
    });
  });

  test('a municipality with no card has no partition here: ERR_TESTJPKI_UNKNOWN_PARTITION', async () => {
    await assert.rejects(f.jpki.crl('sign', { partition: { prefecture: 'Hokkaido', city: 'Sapporo-shi' } }), {
      code: 'ERR_TESTJPKI_UNKNOWN_PARTITION',
    });
  });
});
