import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCrl } from '../src/crl/load.ts';
import { largeCrlEntry, writeLargeCrl } from '../src/crl/generate.ts';
import {
  NEXT_UPDATE,
  NOW,
  THIS_UPDATE,
  children,
  makeCa,
  peculiarCrl,
  resign,
  tlv,
  x509,
  type EntryParams,
  type TestCa,
} from './crl-fixtures.ts';

const MIN = 60_000;
const hex20 = '7f' + '0123456789abcdef0123456789abcdef0123'.slice(0, 38);
const ENTRIES: EntryParams[] = [
  {
    serialNumber: '05',
    revocationDate: new Date('2025-05-01T00:00:00Z'),
    reason: x509.X509CrlReason.keyCompromise,
  },
  { serialNumber: '00a1b2', revocationDate: new Date('2025-05-02T00:00:00Z') },
  {
    serialNumber: '0102030405060708',
    revocationDate: new Date('2025-05-03T00:00:00Z'),
    reason: x509.X509CrlReason.superseded,
  },
  {
    serialNumber: '010203040506070809',
    revocationDate: new Date('2025-05-04T00:00:00Z'),
    reason: x509.X509CrlReason.affiliationChanged,
  },
  {
    serialNumber: hex20,
    revocationDate: new Date('2025-05-05T00:00:00Z'),
    reason: x509.X509CrlReason.cessationOfOperation,
  },
];

/** openssl, or a visible skip (a failure when MYNAGATE_REQUIRE_SYSTEM=1). */
function openssl(t: { skip: (m: string) => void }): boolean {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (r.status === 0) return true;
  if (process.env.MYNAGATE_REQUIRE_SYSTEM === '1')
    assert.fail('openssl is required (MYNAGATE_REQUIRE_SYSTEM=1) but was not found');
  t.skip('openssl not found: install it to compare with openssl crl -text');
  return false;
}

/** The revoked serials openssl prints, as lower-case hex without leading zeros. */
function opensslSerials(der: Uint8Array): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'mynagate-crl-'));
  try {
    const file = join(dir, 'crl.der');
    writeFileSync(file, der);
    const r = spawnSync('openssl', ['crl', '-inform', 'DER', '-noout', '-text', '-in', file], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    assert.equal(r.status, 0, r.stderr);
    return [...r.stdout.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => norm(m[1]!));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const norm = (h: string) =>
  h
    .toLowerCase()
    .replace(/^(00)+(?=.)/, '')
    .replace(/^0(?=.)/, '') || '0';

describe('loadCrl: indexing valid CRLs', () => {
  let ca: TestCa;
  let der: Uint8Array;
  before(async () => {
    ca = await makeCa();
    der = await peculiarCrl(ca, ENTRIES);
  });

  it('indexes a CRL encoded by @peculiar/x509 with its dates, reasons, thisUpdate, nextUpdate and issuer', async () => {
    const index = await loadCrl(der, { issuer: ca.cert, now: NOW });
    assert.equal(index.entries, 5);
    assert.deepEqual(index.thisUpdate, THIS_UPDATE);
    assert.deepEqual(index.nextUpdate, NEXT_UPDATE);
    assert.deepEqual(index.issuerName, new Uint8Array(ca.cert.subjectName.toArrayBuffer()));
    assert.equal(index.crlNumber, 1n);
    assert.deepEqual(index.lookup('05'), {
      revoked: true,
      revokedAt: new Date('2025-05-01T00:00:00Z'),
      reason: 'keyCompromise',
    });
    assert.deepEqual(index.lookup('0102030405060708'), {
      revoked: true,
      revokedAt: new Date('2025-05-03T00:00:00Z'),
      reason: 'superseded',
    });
    assert.equal(index.lookup('00a1b2').revoked, true);
  });

  it('accepts the issuer as DER bytes as well as an X509Certificate', async () => {
    const index = await loadCrl(der, {
      issuer: new Uint8Array(ca.cert.rawData),
      now: NOW,
    });
    assert.equal(index.entries, 5);
  });

  it('finds a 1-byte serial by octets, value and hex, and not its neighbours', async () => {
    const index = await loadCrl(der, { issuer: ca.cert, now: NOW });
    assert.equal(index.lookup(Uint8Array.of(5)).revoked, true);
    assert.equal(index.lookup(5n).revoked, true);
    assert.equal(index.lookup('0x05').revoked, true);
    assert.equal(index.lookup('5').revoked, true);
    assert.equal(index.lookup(4n).revoked, false);
    assert.equal(index.lookup(6n).revoked, false);
  });

  it('matches leading-zero serials whatever the zero padding of the question', async () => {
    const index = await loadCrl(der, { issuer: ca.cert, now: NOW });
    for (const q of [Uint8Array.of(0x00, 0xa1, 0xb2), Uint8Array.of(0xa1, 0xb2), 'a1b2', '0000a1b2', 0xa1b2n])
      assert.equal(index.lookup(q).revoked, true, String(q));
    assert.equal(index.lookup(Uint8Array.of(0x00, 0x05)).revoked, true);
  });

  it('finds 9-byte and 20-byte serials (the long-serial table) and rejects near misses', async () => {
    const index = await loadCrl(der, { issuer: ca.cert, now: NOW });
    assert.deepEqual(index.lookup('010203040506070809'), {
      revoked: true,
      revokedAt: new Date('2025-05-04T00:00:00Z'),
      reason: 'affiliationChanged',
    });
    assert.deepEqual(index.lookup(hex20), {
      revoked: true,
      revokedAt: new Date('2025-05-05T00:00:00Z'),
      reason: 'cessationOfOperation',
    });
    assert.equal(index.lookup(Buffer.from(hex20, 'hex')).revoked, true);
    assert.equal(index.lookup(BigInt(`0x${hex20}`)).revoked, true);
    assert.equal(index.lookup(hex20.slice(0, -2) + '00').revoked, false);
    assert.equal(index.lookup(hex20.slice(2)).revoked, false);
    assert.equal(index.lookup('01' + hex20).revoked, false);
    assert.equal(index.lookup('020203040506070809').revoked, false);
  });

  it('gives the same answers whether the CRL lists serials in order or not', async () => {
    const shuffled = [ENTRIES[3]!, ENTRIES[0]!, ENTRIES[4]!, ENTRIES[2]!, ENTRIES[1]!];
    const a = await loadCrl(der, { issuer: ca.cert, now: NOW });
    const b = await loadCrl(await peculiarCrl(ca, shuffled), {
      issuer: ca.cert,
      now: NOW,
    });
    assert.deepEqual([...b.revokedEntries()], [...a.revokedEntries()]);
  });

  it('indexes a CRL without entries', async () => {
    const index = await loadCrl(await peculiarCrl(ca, []), {
      issuer: ca.cert,
      now: NOW,
    });
    assert.equal(index.entries, 0);
    assert.deepEqual(index.lookup('05'), { revoked: false });
  });

  it('indexes 50,000 entries from writeLargeCrl: every entry found with its date and reason, absent ones not, ≤ 32 bytes each', async () => {
    const opts = {
      entries: 50_000,
      serialBytes: 8,
      thisUpdate: THIS_UPDATE,
      withReasons: true,
    };
    const big = writeLargeCrl({
      ...opts,
      issuerCert: ca.cert,
      issuerKey: ca.key,
      nextUpdate: NEXT_UPDATE,
    });
    const index = await loadCrl(big, { issuer: ca.cert, now: NOW });
    assert.equal(index.entries, 50_000);
    assert.ok(index.bytesPerEntry <= 32, `${index.bytesPerEntry} bytes per entry`);
    for (let i = 0; i < 50_000; i += 7) {
      const e = largeCrlEntry(i, opts);
      assert.deepEqual(index.lookup(e.serial), {
        revoked: true,
        revokedAt: e.revokedAt,
        reason: e.reason,
      });
    }
    const absent = largeCrlEntry(60_000, { ...opts, entries: 70_000 }).serial;
    absent[0] = 0x3f; // writeLargeCrl serials start with 0x40..0x7f
    assert.equal(index.lookup(absent).revoked, false);
  });

  it('indexes 4-byte serials without reasons and a sha384 signature', async () => {
    const opts = { entries: 20_000, serialBytes: 4, thisUpdate: THIS_UPDATE };
    const big = writeLargeCrl({
      ...opts,
      issuerCert: ca.cert,
      issuerKey: ca.key,
      nextUpdate: NEXT_UPDATE,
      hash: 'sha384',
    });
    const index = await loadCrl(big, { issuer: ca.cert, now: NOW });
    assert.equal(index.entries, 20_000);
    const e = largeCrlEntry(12_345, opts);
    assert.deepEqual(index.lookup(e.serial), {
      revoked: true,
      revokedAt: e.revokedAt,
      reason: 'unspecified',
    });
  });

  it('agrees with openssl crl -text on the revoked serials of an @peculiar/x509 CRL and of a writeLargeCrl CRL', async (t) => {
    if (!openssl(t)) return;
    const big = writeLargeCrl({
      issuerCert: ca.cert,
      issuerKey: ca.key,
      entries: 20_000,
      serialBytes: 6,
      thisUpdate: THIS_UPDATE,
      nextUpdate: NEXT_UPDATE,
      withReasons: true,
    });
    for (const crl of [der, big]) {
      const index = await loadCrl(crl, { issuer: ca.cert, now: NOW });
      const ours = [...index.revokedEntries()].map((e) => norm(e.serial)).sort();
      assert.deepEqual(ours, opensslSerials(crl).sort());
    }
  });

  it('reads an issuingDistributionPoint as the CRL scope (JPKI partitions CRLs per municipality)', async () => {
    const dpName = new x509.Name('C=JP, O=JPKI, OU=CRL Distribution Points, CN=Tsukuba-shi CRLDP').toArrayBuffer();
    // DistributionPointName fullName [0] { directoryName [4] EXPLICIT Name }
    const dpn = tlv(0xa0, tlv(0xa4, new Uint8Array(dpName)));
    const idp = tlv(0x30, tlv(0xa0, dpn), Uint8Array.of(0x81, 0x01, 0xff));
    const crl = await peculiarCrl(ca, ENTRIES, {
      extensions: [new x509.Extension('2.5.29.28', true, idp)],
    });
    const index = await loadCrl(crl, { issuer: ca.cert, now: NOW });
    assert.deepEqual(index.scope, {
      distributionPoint: new Uint8Array(dpn),
      onlyContainsUserCerts: true,
      onlyContainsCACerts: false,
    });
  });
});

describe('loadCrl: each broken rule rejects with its code (one change to a valid CRL)', () => {
  let ca: TestCa;
  let lookAlike: TestCa;
  let other: TestCa;
  let noCrlSign: TestCa;
  let der: Uint8Array;
  before(async () => {
    [ca, lookAlike, other, noCrlSign] = await Promise.all([
      makeCa(),
      makeCa(),
      makeCa('C=JP, O=JPKI, OU=MynaGate Test, CN=Another CA'),
      makeCa(undefined, x509.KeyUsageFlags.keyCertSign),
    ]);
    der = await peculiarCrl(ca, ENTRIES);
  });
  const load = (crl: Uint8Array, over: Partial<Parameters<typeof loadCrl>[1]> = {}) =>
    loadCrl(crl, { issuer: ca.cert, now: NOW, ...over });

  it('the unmodified CRL loads (the baseline of every case below)', async () => {
    assert.equal((await load(der)).entries, 5);
  });

  it('a CRL signed by a look-alike CA (same name, other key) → ERR_PKI_CRL_BAD_SIGNATURE', async () => {
    await assert.rejects(load(await peculiarCrl(lookAlike, ENTRIES)), {
      code: 'ERR_PKI_CRL_BAD_SIGNATURE',
    });
  });

  it('a CRL of a CA with another name → ERR_PKI_CRL_WRONG_ISSUER', async () => {
    await assert.rejects(load(await peculiarCrl(other, ENTRIES)), {
      code: 'ERR_PKI_CRL_WRONG_ISSUER',
    });
  });

  it('an issuer certificate whose keyUsage lacks cRLSign → ERR_PKI_CRL_ISSUER_NOT_CRL_SIGNER', async () => {
    const crl = await peculiarCrl({ ...noCrlSign }, ENTRIES);
    await assert.rejects(load(crl, { issuer: noCrlSign.cert }), {
      code: 'ERR_PKI_CRL_ISSUER_NOT_CRL_SIGNER',
    });
  });

  it('now past nextUpdate plus skew → ERR_PKI_CRL_EXPIRED (and within the skew it loads)', async () => {
    await assert.rejects(
      load(der, {
        now: new Date(NEXT_UPDATE.getTime() + 2 * MIN),
        skewMs: MIN,
      }),
      { code: 'ERR_PKI_CRL_EXPIRED' },
    );
    assert.equal(
      (
        await load(der, {
          now: new Date(NEXT_UPDATE.getTime() + MIN / 2),
          skewMs: MIN,
        })
      ).entries,
      5,
    );
  });

  it('a CRL without nextUpdate → ERR_PKI_CRL_EXPIRED', async () => {
    await assert.rejects(load(await peculiarCrl(ca, ENTRIES, { nextUpdate: null })), { code: 'ERR_PKI_CRL_EXPIRED' });
  });

  it('a CRL older than maxAgeMs → ERR_PKI_CRL_EXPIRED', async () => {
    await assert.rejects(load(der, { maxAgeMs: 60 * MIN }), {
      code: 'ERR_PKI_CRL_EXPIRED',
    });
  });

  it('a CRL from the future (thisUpdate after now plus skew) → ERR_PKI_CRL_NOT_YET_VALID', async () => {
    await assert.rejects(
      load(der, {
        now: new Date(THIS_UPDATE.getTime() - 2 * MIN),
        skewMs: MIN,
      }),
      { code: 'ERR_PKI_CRL_NOT_YET_VALID' },
    );
  });

  it('a bit flipped in the signature → ERR_PKI_CRL_BAD_SIGNATURE', async () => {
    const bad = der.slice();
    bad[bad.length - 1]! ^= 0x01;
    await assert.rejects(load(bad), { code: 'ERR_PKI_CRL_BAD_SIGNATURE' });
  });

  it('a bit flipped in a revoked serial → ERR_PKI_CRL_BAD_SIGNATURE', async () => {
    const bad = der.slice();
    const at = Buffer.from(bad).indexOf(Buffer.from('0102030405060708', 'hex'));
    bad[at + 7]! ^= 0x01;
    await assert.rejects(load(bad), { code: 'ERR_PKI_CRL_BAD_SIGNATURE' });
  });

  it('truncated DER → ERR_PKI_CRL_MALFORMED', async () => {
    await assert.rejects(load(der.subarray(0, der.length - 1)), {
      code: 'ERR_PKI_CRL_MALFORMED',
    });
    await assert.rejects(load(der.subarray(0, der.length >> 1)), {
      code: 'ERR_PKI_CRL_MALFORMED',
    });
    await assert.rejects(load(new Uint8Array(0)), {
      code: 'ERR_PKI_CRL_MALFORMED',
    });
  });

  it('a byte after the CertificateList → ERR_PKI_CRL_MALFORMED', async () => {
    await assert.rejects(load(Buffer.concat([der, Uint8Array.of(0)])), {
      code: 'ERR_PKI_CRL_MALFORMED',
      detail: 'trailing bytes after CertificateList',
    });
  });

  it('an unknown critical CRL extension → ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION (non-critical is ignored)', async () => {
    const ext = (critical: boolean) => [new x509.Extension('1.2.3.4.5', critical, Uint8Array.of(0x05, 0x00))];
    await assert.rejects(load(await peculiarCrl(ca, ENTRIES, { extensions: ext(true) })), {
      code: 'ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION',
      oid: '1.2.3.4.5',
      entry: false,
    });
    assert.equal((await load(await peculiarCrl(ca, ENTRIES, { extensions: ext(false) }))).entries, 5);
  });

  it('a critical flag written out as FALSE (DER omits a DEFAULT value, X.690 §11.5) → ERR_PKI_CRL_MALFORMED', async () => {
    // 1.2.3.4.5 marked critical (… 06 04 2A 03 04 05 01 01 FF …), its flag then turned into an explicit FALSE.
    const flag = (crl: Uint8Array, value: number) =>
      resign(crl, ca.key, (kids) =>
        kids.map((k) => {
          const b = Buffer.from(k);
          const at = b.indexOf(Buffer.from([0x06, 0x04, 0x2a, 0x03, 0x04, 0x05, 0x01, 0x01, 0xff]));
          if (at >= 0) b[at + 8] = value;
          return b;
        }),
      );
    const ext = [new x509.Extension('1.2.3.4.5', true, Uint8Array.of(0x05, 0x00))];
    const crl = await peculiarCrl(ca, ENTRIES, { extensions: ext });
    await assert.rejects(load(flag(crl, 0x00)), { code: 'ERR_PKI_CRL_MALFORMED', detail: 'DEFAULT FALSE written out' });
    await assert.rejects(load(flag(crl, 0x01)), { code: 'ERR_PKI_CRL_MALFORMED', detail: 'BOOLEAN is not 0xFF' });
    const entries = [...ENTRIES, { serialNumber: '79', extensions: ext }];
    await assert.rejects(load(flag(await peculiarCrl(ca, entries), 0x00)), {
      code: 'ERR_PKI_CRL_MALFORMED',
      detail: 'DEFAULT FALSE written out',
    });
  });

  it('an unknown critical entry extension → ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION', async () => {
    const entries = [
      ...ENTRIES,
      {
        serialNumber: '77',
        extensions: [new x509.Extension('1.2.3.4.6', true, Uint8Array.of(0x05, 0x00))],
      },
    ];
    await assert.rejects(load(await peculiarCrl(ca, entries)), {
      code: 'ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION',
      oid: '1.2.3.4.6',
      entry: true,
    });
  });

  it('a certificateIssuer entry extension (indirect CRL, RFC 5280 §5.3.3), even non-critical → ERR_PKI_CRL_UNSUPPORTED', async () => {
    // @peculiar/x509 writes certificateIssuer without the critical flag RFC 5280 requires; refused all the same.
    const entries = [...ENTRIES, { serialNumber: '78', issuer: 'CN=Someone Else' }];
    await assert.rejects(load(await peculiarCrl(ca, entries)), {
      code: 'ERR_PKI_CRL_UNSUPPORTED',
      detail: 'indirect CRL',
    });
  });

  it('an extension OID that is not minimal DER (55 1D 80 1B for deltaCRLIndicator, 55 1D 80 1D for certificateIssuer) → ERR_PKI_CRL_MALFORMED', async () => {
    // Extensions are told apart by their exact octets: a padded id-ce OID, not marked critical, would pass as an
    // unknown extension and be ignored, turning a delta or indirect CRL into a complete one.
    const pad = (crl: Uint8Array, from: number[], to: number[]) =>
      resign(crl, ca.key, (kids) =>
        kids.map((k) => {
          const b = Buffer.from(k);
          const at = b.indexOf(Buffer.from(from));
          if (at >= 0) Buffer.from(to).copy(b, at);
          return b;
        }),
      );
    const delta = new x509.Extension('2.5.29.27.0', false, Uint8Array.of(0x02, 0x01, 0x01));
    const crl = pad(
      await peculiarCrl(ca, ENTRIES, { extensions: [delta] }),
      [0x06, 0x04, 0x55, 0x1d, 0x1b, 0x00],
      [0x06, 0x04, 0x55, 0x1d, 0x80, 0x1b],
    );
    await assert.rejects(load(crl), { code: 'ERR_PKI_CRL_MALFORMED', detail: 'OID subidentifier not minimal' });
    const issuer = new x509.Extension('2.5.29.29.0', false, Uint8Array.of(0x30, 0x00));
    const entry = pad(
      await peculiarCrl(ca, [...ENTRIES, { serialNumber: '7a', extensions: [issuer] }]),
      [0x06, 0x04, 0x55, 0x1d, 0x1d, 0x00],
      [0x06, 0x04, 0x55, 0x1d, 0x80, 0x1d],
    );
    await assert.rejects(load(entry), { code: 'ERR_PKI_CRL_MALFORMED', detail: 'OID subidentifier not minimal' });
  });

  it('a deltaCRLIndicator, even non-critical → ERR_PKI_CRL_UNSUPPORTED', async () => {
    const delta = new x509.Extension('2.5.29.27', false, Uint8Array.of(0x02, 0x01, 0x01));
    await assert.rejects(load(await peculiarCrl(ca, ENTRIES, { extensions: [delta] })), {
      code: 'ERR_PKI_CRL_UNSUPPORTED',
      detail: 'delta CRL',
    });
  });

  it('an issuingDistributionPoint with indirectCRL or onlySomeReasons → ERR_PKI_CRL_UNSUPPORTED', async () => {
    const indirect = new x509.Extension('2.5.29.28', true, tlv(0x30, Uint8Array.of(0x84, 0x01, 0xff)));
    await assert.rejects(load(await peculiarCrl(ca, ENTRIES, { extensions: [indirect] })), {
      code: 'ERR_PKI_CRL_UNSUPPORTED',
      detail: 'indirect CRL',
    });
    const some = new x509.Extension('2.5.29.28', true, tlv(0x30, Uint8Array.of(0x83, 0x02, 0x07, 0x80)));
    await assert.rejects(load(await peculiarCrl(ca, ENTRIES, { extensions: [some] })), {
      code: 'ERR_PKI_CRL_UNSUPPORTED',
      detail: 'onlySomeReasons',
    });
  });

  it('a removeFromCRL reason in a complete CRL → ERR_PKI_CRL_MALFORMED', async () => {
    const entries = [...ENTRIES, { serialNumber: '79', reason: x509.X509CrlReason.removeFromCRL }];
    await assert.rejects(load(await peculiarCrl(ca, entries)), {
      code: 'ERR_PKI_CRL_MALFORMED',
    });
  });

  it('a v1 CRL (version field removed, re-signed) → ERR_PKI_CRL_UNSUPPORTED', async () => {
    const v1 = resign(der, ca.key, (kids) => kids.slice(1));
    await assert.rejects(load(v1), {
      code: 'ERR_PKI_CRL_UNSUPPORTED',
      detail: 'version',
    });
  });

  it('the re-signing helper itself yields a loadable CRL (so the mutations above test one rule)', async () => {
    assert.equal((await load(resign(der, ca.key, (kids) => kids))).entries, 5);
  });

  it('signatureAlgorithm differing from tbsCertList.signature → ERR_PKI_CRL_MALFORMED', async () => {
    const sha384 = Uint8Array.from([
      0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
    ]);
    const mixed = resign(der, ca.key, (kids) => kids, { outer: sha384 });
    await assert.rejects(load(mixed), {
      code: 'ERR_PKI_CRL_MALFORMED',
      detail: 'signatureAlgorithm differs from tbsCertList.signature',
    });
  });

  it('sha1WithRSAEncryption → ERR_PKI_CRL_UNSUPPORTED', async () => {
    const sha1 = Uint8Array.from([
      0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
    ]);
    const crl = resign(der, ca.key, (kids) => kids, {
      inner: sha1,
      hash: 'sha1',
    });
    await assert.rejects(load(crl), {
      code: 'ERR_PKI_CRL_UNSUPPORTED',
      detail: 'signature algorithm 1.2.840.113549.1.1.5',
    });
  });

  it('an indefinite-length revokedCertificates (BER, re-signed) → ERR_PKI_CRL_MALFORMED', async () => {
    const crl = resign(der, ca.key, (kids) =>
      kids.map((k, i) =>
        i === 5
          ? Buffer.concat([
              Uint8Array.of(0x30, 0x80),
              children(k).reduce((a, b) => Buffer.concat([a, b]), Buffer.alloc(0)),
              Uint8Array.of(0, 0),
            ])
          : k,
      ),
    );
    await assert.rejects(load(crl), {
      code: 'ERR_PKI_CRL_MALFORMED',
      detail: 'indefinite length',
    });
  });

  it('a non-DER issuer certificate is a TypeError (caller misuse)', async () => {
    await assert.rejects(load(der, { issuer: Uint8Array.of(1, 2, 3) }), TypeError);
  });
});
