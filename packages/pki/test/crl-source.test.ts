import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setImmediate as tick } from 'node:timers/promises';
import { CrlSource } from '../src/crl/source.ts';
import { largeCrlEntry, writeLargeCrl } from '../src/crl/generate.ts';
import {
  NEXT_UPDATE,
  NOW,
  THIS_UPDATE,
  crlNumberExtension,
  makeCa,
  peculiarCrl,
  tlv,
  x509,
  type TestCa,
} from './crl-fixtures.ts';

const DAY = 86_400_000;
const fingerprint = (c: TestCa) => createHash('sha256').update(new Uint8Array(c.cert.rawData)).digest('hex');
const at = (d: string) => new Date(`${d}T00:00:00Z`);
const REVOKED_A = {
  serialNumber: '0a',
  revocationDate: at('2025-05-01'),
  reason: x509.X509CrlReason.keyCompromise,
};
const REVOKED_B = {
  serialNumber: '0b',
  revocationDate: at('2025-06-02'),
  reason: x509.X509CrlReason.superseded,
};

describe('CrlSource: current CRL per issuer, atomic refresh, fail closed', () => {
  let ca: TestCa;
  let lookAlike: TestCa;
  let issuerName: Uint8Array;
  let first: Uint8Array;
  let second: Uint8Array;
  before(async () => {
    [ca, lookAlike] = await Promise.all([makeCa(), makeCa()]);
    issuerName = new Uint8Array(ca.cert.subjectName.toArrayBuffer());
    first = await peculiarCrl(ca, [REVOKED_A], { crlNumber: 1 });
    second = await peculiarCrl(ca, [REVOKED_A, REVOKED_B], {
      crlNumber: 2,
      thisUpdate: new Date(THIS_UPDATE.getTime() + DAY),
      nextUpdate: new Date(NEXT_UPDATE.getTime() + DAY),
    });
  });

  it('answers good and revoked (with date and reason) from the CRL made current by refresh', async () => {
    const source = new CrlSource({ issuers: [ca.cert], worker: false });
    await source.refresh(first, NOW);
    assert.deepEqual(source.status('0a', issuerName, NOW), {
      status: 'revoked',
      revokedAt: at('2025-05-01'),
      reason: 'keyCompromise',
    });
    assert.deepEqual(source.status('0b', issuerName, NOW), { status: 'good' });
  });

  it('builds the index on a worker thread by default and gives the same answers', async () => {
    const source = new CrlSource({ issuers: [ca.cert] });
    const index = await source.refresh(second, NOW);
    assert.equal(index.entries, 2);
    assert.equal(source.status(Uint8Array.of(0x0b), issuerName, NOW).status, 'revoked');
  });

  it('fails closed with ERR_PKI_REVOCATION_UNKNOWN when it holds no CRL for the issuer', () => {
    const source = new CrlSource({ issuers: [ca.cert], worker: false });
    assert.throws(() => source.status('0a', issuerName, NOW), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
    });
  });

  it('fails closed with ERR_PKI_REVOCATION_UNKNOWN when the current CRL is stale at now', async () => {
    const source = new CrlSource({
      issuers: [ca.cert],
      worker: false,
      skewMs: 0,
    });
    await source.refresh(first, NOW);
    assert.throws(() => source.status('0b', issuerName, new Date(NEXT_UPDATE.getTime() + 1)), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
    });
    assert.throws(() => source.status('0b', issuerName, new Date(THIS_UPDATE.getTime() - 1)), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
    });
  });

  it('refuses an Invalid Date as now (every freshness comparison would be false): TypeError', async () => {
    const source = new CrlSource({ issuers: [ca.cert], worker: false });
    await source.refresh(first, NOW);
    assert.equal(source.status('0b', issuerName, NOW).status, 'good');
    assert.throws(() => source.status('0b', issuerName, new Date(NaN)), {
      name: 'TypeError',
      message: 'now must be a valid Date',
    });
  });

  it('fails closed when the CRL is older than maxAgeMs at now', async () => {
    const source = new CrlSource({
      issuers: [ca.cert],
      worker: false,
      maxAgeMs: 2 * DAY,
    });
    await source.refresh(first, NOW);
    assert.equal(source.status('0b', issuerName, NOW).status, 'good');
    assert.throws(() => source.status('0b', issuerName, new Date(THIS_UPDATE.getTime() + 3 * DAY)), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
    });
  });

  it('keeps serving the old index when the new CRL is bad, and reports why', async () => {
    const source = new CrlSource({ issuers: [ca.cert] });
    await source.refresh(first, NOW);
    const forged = await peculiarCrl(lookAlike, [REVOKED_A, REVOKED_B], {
      crlNumber: 2,
    });
    await assert.rejects(source.refresh(forged, NOW), {
      code: 'ERR_PKI_CRL_BAD_SIGNATURE',
    });
    await assert.rejects(source.refresh(second.subarray(0, 100), NOW), {
      code: 'ERR_PKI_CRL_MALFORMED',
    });
    await assert.rejects(source.refresh(second, new Date(NEXT_UPDATE.getTime() + 3 * DAY)), {
      code: 'ERR_PKI_CRL_EXPIRED',
    });
    assert.deepEqual(source.status('0b', issuerName, NOW), { status: 'good' });
    assert.equal(source.status('0a', issuerName, NOW).status, 'revoked');
  });

  it('refuses a CRL of an issuer it was not given → ERR_PKI_CRL_WRONG_ISSUER', async () => {
    const other = await makeCa('C=JP, O=JPKI, CN=Unconfigured CA');
    const source = new CrlSource({ issuers: [ca.cert], worker: false });
    await assert.rejects(source.refresh(await peculiarCrl(other, [REVOKED_A]), NOW), {
      code: 'ERR_PKI_CRL_WRONG_ISSUER',
    });
  });

  it('tries every configured certificate with the CRL issuer name, and answers only for the CA whose key verified it (CA generations)', async () => {
    // Two CAs with one name, as J-LIS's generations: each revokes its own serials.
    const source = new CrlSource({ issuers: [lookAlike.cert, ca.cert], worker: false });
    const [caFp, otherFp] = [fingerprint(ca), fingerprint(lookAlike)];
    await source.refresh(first, NOW); // ca's: 0a revoked
    assert.equal(source.status('0a', issuerName, NOW, { issuerFingerprint: caFp }).status, 'revoked');
    // The other generation holds no CRL yet: its certificates are not answered from ca's.
    assert.throws(() => source.status('0a', issuerName, NOW, { issuerFingerprint: otherFp }), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'unavailable',
    });
    await source.refresh(await peculiarCrl(lookAlike, [REVOKED_B], { crlNumber: 1 }), NOW);
    assert.equal(source.status('0a', issuerName, NOW, { issuerFingerprint: otherFp }).status, 'good');
    assert.equal(source.status('0b', issuerName, NOW, { issuerFingerprint: otherFp }).status, 'revoked');
    assert.equal(source.status('0b', issuerName, NOW, { issuerFingerprint: caFp.toUpperCase() }).status, 'good');
    assert.equal(source.current(issuerName).length, 2);
    // Which of the two issued it must be said, and be one of them.
    for (const options of [{}, { issuerFingerprint: 'ab'.repeat(32) }]) {
      assert.throws(() => source.status('0a', issuerName, NOW, options), {
        code: 'ERR_PKI_REVOCATION_UNKNOWN',
        detail: 'unavailable',
      });
    }
  });

  it('refuses an older CRL (lower cRLNumber) after a newer one → ERR_PKI_CRL_ROLLBACK, keeping the newer', async () => {
    const source = new CrlSource({ issuers: [ca.cert], worker: false });
    await source.refresh(second, NOW);
    await assert.rejects(source.refresh(first, NOW), {
      code: 'ERR_PKI_CRL_ROLLBACK',
    });
    assert.equal(source.status('0b', issuerName, NOW).status, 'revoked');
  });

  it('a validation running during a refresh sees the old or the new index, never an error or a mix', async () => {
    const source = new CrlSource({ issuers: [ca.cert] });
    await source.refresh(first, NOW);
    const opts = {
      entries: 50_000,
      serialBytes: 8,
      thisUpdate: new Date(THIS_UPDATE.getTime() + DAY),
      withReasons: true,
    };
    const big = writeLargeCrl({
      ...opts,
      issuerCert: ca.cert,
      issuerKey: ca.key,
      nextUpdate: NEXT_UPDATE,
      crlNumber: 3n,
    });
    const onlyInNew = largeCrlEntry(49_999, opts).serial;
    const seen: string[] = [];
    let done = false;
    const refresh = source.refresh(big, NOW).finally(() => (done = true));
    while (!done) {
      const a = source.status('0a', issuerName, NOW).status; // revoked only in the old CRL
      const n = source.status(onlyInNew, issuerName, NOW).status; // revoked only in the new CRL
      seen.push(`${a}/${n}`);
      await tick();
    }
    await refresh;
    seen.push(`${source.status('0a', issuerName, NOW).status}/${source.status(onlyInNew, issuerName, NOW).status}`);
    const states = [...new Set(seen)];
    assert.deepEqual(states, ['revoked/good', 'good/revoked'], `states seen: ${states.join(', ')}`);
    assert.ok(
      seen.filter((s) => s === 'revoked/good').length >= 2,
      'validations kept running while the worker indexed',
    );
  });

  it('uses a partitioned CRL (issuingDistributionPoint) only for certificates that name its distribution point', async () => {
    const dpName = (cn: string) =>
      tlv(0xa0, tlv(0xa4, new Uint8Array(new x509.Name(`C=JP, O=JPKI, CN=${cn} CRLDP`).toArrayBuffer())));
    const tsukuba = dpName('Tsukuba-shi');
    const idp = new x509.Extension('2.5.29.28', true, tlv(0x30, tlv(0xa0, tsukuba)));
    const crl = await peculiarCrl(ca, [REVOKED_A], {
      extensions: [crlNumberExtension(1), idp],
    });
    const source = new CrlSource({ issuers: [ca.cert], worker: false });
    await source.refresh(crl, NOW);
    assert.equal(source.status('0a', issuerName, NOW, { distributionPoints: [tsukuba] }).status, 'revoked');
    assert.equal(source.status('0b', issuerName, NOW, { distributionPoints: [tsukuba] }).status, 'good');
    assert.throws(() => source.status('0b', issuerName, NOW), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
    });
    assert.throws(
      () =>
        source.status('0b', issuerName, NOW, {
          distributionPoints: [dpName('Mito-shi')],
        }),
      {
        code: 'ERR_PKI_REVOCATION_UNKNOWN',
      },
    );
  });
});
