/** The test JPKI's certificates follow the JPKI profiles (spec §8.1–§8.3) and its card specs are complete. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityInfoAccessSyntax,
  BasicConstraints,
  CertificatePolicies,
  CRLDistributionPoints,
  ExtendedKeyUsage,
  GeneralNames,
  SubjectKeyIdentifier,
  AuthorityKeyIdentifier,
} from '@peculiar/asn1-x509';
import {
  TestJpki,
  certificateBirthDate,
  certificateSex,
  eraCode,
  municipalityOf,
  substitute,
  POLICY_AUTH,
  POLICY_SIGN,
} from '@mynagate/pki/testing';
import type { IssueCardOptions, IssuedCard } from '@mynagate/pki/testing';
import {
  extension,
  extensionOids,
  extValue,
  nameParts,
  otherNames,
  parseCert,
  serialHex,
  tempDir,
} from './support/testing-jpki.ts';

const OID = {
  C: '2.5.4.6',
  L: '2.5.4.7',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  CN: '2.5.4.3',
  ku: '2.5.29.15',
  san: '2.5.29.17',
  ian: '2.5.29.18',
  bc: '2.5.29.19',
  crldp: '2.5.29.31',
  cp: '2.5.29.32',
  aki: '2.5.29.35',
  ski: '2.5.29.14',
  eku: '2.5.29.37',
  aia: '1.3.6.1.5.5.7.1.1',
};
const PRINTABLE = 0x13;
const UTF8 = 0x0c;

const CA_TIME = new Date('2025-01-01T00:00:00Z');
const ISSUE_TIME = new Date('2025-06-01T03:00:00Z'); // 12:00 JST

const holder: IssueCardOptions = {
  name: '試験　花子',
  address: '茨城県つくば市千現1-2-3',
  birthDate: '1990-01-02',
  sex: '2',
  pin: '1234',
  password: 'TEST123',
  now: ISSUE_TIME,
};

let jpki: TestJpki;
let card: IssuedCard;
let remove: () => Promise<void>;

before(async () => {
  const t = await tempDir('jpki-profiles');
  remove = t.remove;
  jpki = await TestJpki.init(t.dir, { now: CA_TIME, ocspPort: 18790 });
  card = await jpki.issueCard(holder);
});
after(() => remove());

/** KeyUsage bits as an array of named flags from the DER BIT STRING. */
function keyUsageBits(der: Uint8Array): number {
  assert.equal(der[0], 0x03);
  return der[3] ?? 0; // first content byte after the unused-bits count
}

describe('test JPKI CAs mirror spec §8.1 but are named TEST', () => {
  for (const kind of ['auth', 'sign'] as const) {
    test(`${kind} CA: self-signed, DN C (PrintableString) + O, OU, OU (UTF8String) naming TEST`, () => {
      const ca = parseCert(jpki.caCertificate(kind));
      const subject = nameParts(ca.tbsCertificate.subject);
      assert.deepEqual(
        subject.map(([t, tag]) => [t, tag]),
        [
          [OID.C, PRINTABLE],
          [OID.O, UTF8],
          [OID.OU, UTF8],
          [OID.OU, UTF8],
        ],
      );
      assert.equal(subject[1]![2], 'JPKI TEST');
      assert.match(subject[2]![2], kind === 'auth' ? /TEST for user authentication/ : /TEST for digital signature/);
      assert.match(subject[3]![2], /not J-LIS/);
      assert.deepEqual(AsnConvert.serialize(ca.tbsCertificate.issuer), AsnConvert.serialize(ca.tbsCertificate.subject));
    });

    test(`${kind} CA: critical KeyUsage keyCertSign+cRLSign, critical CA:TRUE without pathLen, SKI, no AKI`, () => {
      const ca = parseCert(jpki.caCertificate(kind));
      const ku = extension(ca, OID.ku);
      assert.equal(ku.critical, true);
      assert.equal(keyUsageBits(extValue(ku)), 0x06); // keyCertSign (bit 5) | cRLSign (bit 6)
      const bc = extension(ca, OID.bc);
      assert.equal(bc.critical, true);
      const bcv = AsnConvert.parse(extValue(bc), BasicConstraints);
      assert.equal(bcv.cA, true);
      assert.equal(bcv.pathLenConstraint, undefined);
      assert.ok(extensionOids(ca).includes(OID.ski));
      assert.ok(!extensionOids(ca).includes(OID.aki));
      assert.equal(ca.signatureAlgorithm.algorithm, '1.2.840.113549.1.1.11');
    });

    test(`${kind} CA: SAN directoryName in Japanese marked テスト; CRLDP directoryName is its own DN`, () => {
      const ca = parseCert(jpki.caCertificate(kind));
      const san = AsnConvert.parse(extValue(extension(ca, OID.san)), GeneralNames);
      const dn = nameParts(san[0]!.directoryName!);
      assert.ok(
        dn.slice(1).every(([, tag, v]) => tag === UTF8 && v.includes('テスト')),
        JSON.stringify(dn),
      );
      const dp = AsnConvert.parse(extValue(extension(ca, OID.crldp)), CRLDistributionPoints);
      const full = dp[0]!.distributionPoint!.fullName!;
      assert.equal(full.length, 1);
      assert.deepEqual(AsnConvert.serialize(full[0]!.directoryName!), AsnConvert.serialize(ca.tbsCertificate.subject));
    });
  }
});

describe('user-authentication certificate follows spec §8.2', () => {
  test('subject is C=JP and an opaque UTF8 CN without personal data; issuer is the auth CA', () => {
    const c = parseCert(card.spec.authCert);
    const s = nameParts(c.tbsCertificate.subject);
    assert.deepEqual(
      s.map(([t, tag]) => [t, tag]),
      [
        [OID.C, PRINTABLE],
        [OID.CN, UTF8],
      ],
    );
    assert.match(s[1]![2], /^[0-9A-Z]{23}$/);
    assert.deepEqual(
      AsnConvert.serialize(c.tbsCertificate.issuer),
      AsnConvert.serialize(parseCert(jpki.caCertificate('auth')).tbsCertificate.subject),
    );
  });

  test('extensions in the real order: KU, EKU, policies, IAN, CRLDP, AIA, then AKI and SKI', () => {
    assert.deepEqual(extensionOids(parseCert(card.spec.authCert)), [
      OID.ku,
      OID.eku,
      OID.cp,
      OID.ian,
      OID.crldp,
      OID.aia,
      OID.aki,
      OID.ski,
    ]);
  });

  test('KeyUsage critical digitalSignature only (BIT STRING 07 80); EKU clientAuth', () => {
    const c = parseCert(card.spec.authCert);
    const ku = extension(c, OID.ku);
    assert.equal(ku.critical, true);
    assert.deepEqual([...extValue(ku)], [0x03, 0x02, 0x07, 0x80]);
    const eku = AsnConvert.parse(extValue(extension(c, OID.eku)), ExtendedKeyUsage);
    assert.deepEqual([...eku], ['1.3.6.1.5.5.7.3.2']);
  });

  test('CertificatePolicies critical with 1.2.392.200149.8.5.1.3.30 and a CPS qualifier', () => {
    const cp = extension(parseCert(card.spec.authCert), OID.cp);
    assert.equal(cp.critical, true);
    const policies = AsnConvert.parse(extValue(cp), CertificatePolicies);
    assert.equal(policies.length, 1);
    assert.equal(policies[0]!.policyIdentifier, POLICY_AUTH);
    assert.equal(policies[0]!.policyQualifiers![0]!.policyQualifierId, '1.3.6.1.5.5.7.2.1');
  });

  test('CRLDP is the municipality partition directoryName; AIA points at the local OCSP responder', () => {
    const c = parseCert(card.spec.authCert);
    const dp = AsnConvert.parse(extValue(extension(c, OID.crldp)), CRLDistributionPoints);
    const parts = nameParts(dp[0]!.distributionPoint!.fullName![0]!.directoryName!);
    assert.deepEqual(
      parts.map(([, , v]) => v),
      [
        'JP',
        'JPKI TEST',
        'JPKI TEST for user authentication',
        'CRL Distribution Points',
        'Ibaraki-ken',
        'Tsukuba-shi CRLDP',
      ],
    );
    const aia = AsnConvert.parse(extValue(extension(c, OID.aia)), AuthorityInfoAccessSyntax);
    assert.equal(aia[0]!.accessMethod, '1.3.6.1.5.5.7.48.1');
    assert.equal(aia[0]!.accessLocation.uniformResourceIdentifier, 'http://127.0.0.1:18790/ocsp/auth');
  });

  test('AKI equals the auth CA SKI', () => {
    const ca = parseCert(jpki.caCertificate('auth'));
    const caSki = AsnConvert.parse(extValue(extension(ca, OID.ski)), SubjectKeyIdentifier);
    const aki = AsnConvert.parse(extValue(extension(parseCert(card.spec.authCert), OID.aki)), AuthorityKeyIdentifier);
    assert.deepEqual(new Uint8Array(aki.keyIdentifier!.buffer), new Uint8Array(caSki.buffer));
  });
});

describe('digital-signature certificate follows spec §8.3', () => {
  test('subject is C=JP, L=<prefecture>, L=<city>, CN=<JST YYYYMMDDhhmmss><5-digit seq><9-char office code>', () => {
    const s = nameParts(parseCert(card.spec.signCert).tbsCertificate.subject);
    assert.deepEqual(
      s.map(([t]) => t),
      [OID.C, OID.L, OID.L, OID.CN],
    );
    assert.equal(s[1]![2], 'Ibaraki-ken');
    assert.equal(s[2]![2], 'Tsukuba-shi');
    assert.match(s[3]![2], /^20250601120000\d{5}TEST00001$/);
  });

  test('KeyUsage critical digitalSignature+nonRepudiation; policies critical 1.2.392.200149.8.5.1.1.20', () => {
    const c = parseCert(card.spec.signCert);
    const ku = extension(c, OID.ku);
    assert.equal(ku.critical, true);
    assert.deepEqual([...extValue(ku)], [0x03, 0x02, 0x06, 0xc0]);
    const cp = extension(c, OID.cp);
    assert.equal(cp.critical, true);
    assert.equal(AsnConvert.parse(extValue(cp), CertificatePolicies)[0]!.policyIdentifier, POLICY_SIGN);
    assert.ok(!extensionOids(c).includes(OID.eku));
  });

  test('SAN holds the basic 4 as otherNames in the observed order: name, DOB, sex, address, name-alt, address-alt', () => {
    assert.deepEqual(otherNames(parseCert(card.spec.signCert)), [
      ['1.2.392.200149.8.5.5.1', '試験　花子'],
      ['1.2.392.200149.8.5.5.4', '419900102'],
      ['1.2.392.200149.8.5.5.3', '2'],
      ['1.2.392.200149.8.5.5.5', '茨城県つくば市千現1-2-3'],
      ['1.2.392.200149.8.5.5.2', '00000'],
      ['1.2.392.200149.8.5.5.6', '0'.repeat([...'茨城県つくば市千現1-2-3'].length)],
    ]);
  });

  test('each otherName is [0] { type-id, [0] EXPLICIT UTF8String } in DER', () => {
    const der = Buffer.from(extValue(extension(parseCert(card.spec.signCert), OID.san)));
    // GeneralNames SEQUENCE → first GeneralName is a0 (otherName, [0] IMPLICIT SEQUENCE) → OID 06 0a … → a0 → 0c.
    const first = der.indexOf(Buffer.from([0x06, 0x0a, 0x2a, 0x83, 0x08, 0x8c, 0x9b, 0x55, 0x08, 0x05, 0x05, 0x01]));
    assert.ok(first > 0);
    assert.equal(der[first - 2], 0xa0);
    assert.equal(der[first + 12], 0xa0);
    assert.equal(der[first + 14], 0x0c);
  });

  test('a name outside the JPKI character set gets 〓 and a 1 at that position; the text AP keeps the original', async () => {
    const c = await jpki.issueCard({ ...holder, name: '𠮷田　太郎', sex: '9' });
    const names = new Map(otherNames(parseCert(c.spec.signCert)));
    assert.equal(names.get('1.2.392.200149.8.5.5.1'), '〓田　太郎');
    assert.equal(names.get('1.2.392.200149.8.5.5.2'), '10000');
    assert.equal(names.get('1.2.392.200149.8.5.5.3'), '3'); // ISO 5218 '9' → certificate '3' (unknown)
    assert.equal(c.spec.text.name, '𠮷田　太郎');
    assert.equal(c.spec.text.sex, '9');
  });
});

describe('issued certificates: encoding, serials, validity', () => {
  test('every certificate DER starts 30 82 (two-byte length) and has a 4-byte positive serial', () => {
    for (const der of [card.spec.authCert, card.spec.signCert, card.spec.authCaCert, card.spec.signCaCert]) {
      assert.equal(der[0], 0x30);
      assert.equal(der[1], 0x82);
      const serial = new Uint8Array(parseCert(der).tbsCertificate.serialNumber);
      assert.equal(serial.length, 4);
      assert.ok(serial[0]! > 0 && serial[0]! < 0x80);
    }
    assert.equal(serialHex(parseCert(card.spec.authCert)), card.authSerial);
    assert.equal(serialHex(parseCert(card.spec.signCert)), card.signSerial);
    assert.notEqual(card.authSerial, card.signSerial);
  });

  test('validity runs from 5 minutes before issuance to 23:59:59 JST on the 5th birthday after issuance', () => {
    const v = parseCert(card.spec.authCert).tbsCertificate.validity;
    assert.equal(v.notBefore.getTime().toISOString(), '2025-06-01T02:55:00.000Z');
    // Issued 2025-06-01, birthday 01-02: the 1st birthday after is 2026-01-02, the 5th 2030-01-02.
    assert.equal(v.notAfter.getTime().toISOString(), '2030-01-02T14:59:59.000Z');
  });

  test('a birthday on the issue day is not "after": the count starts next year', async () => {
    const c = await jpki.issueCard({ ...holder, birthDate: '1990-06-01' });
    assert.equal(
      parseCert(c.spec.authCert).tbsCertificate.validity.notAfter.getTime().toISOString(),
      '2030-06-01T14:59:59.000Z',
    );
  });

  test('validity is clipped to the card expiry when that comes first', async () => {
    const c = await jpki.issueCard({ ...holder, cardExpires: '2027-03-31' });
    assert.equal(
      parseCert(c.spec.signCert).tbsCertificate.validity.notAfter.getTime().toISOString(),
      '2027-03-31T14:59:59.000Z',
    );
  });
});

describe('the virtual-card spec', () => {
  test('keys are PKCS#8 DER matching the certificates; PINs, profile and text-AP data as given, My Number fake', () => {
    const s = card.spec;
    for (const [key, cert] of [
      [s.authKey, s.authCert],
      [s.signKey, s.signCert],
    ] as const) {
      const pub = createPublicKey(createPrivateKey({ key: Buffer.from(key), format: 'der', type: 'pkcs8' }));
      const spki = AsnConvert.serialize(parseCert(cert).tbsCertificate.subjectPublicKeyInfo);
      assert.deepEqual(pub.export({ type: 'spki', format: 'der' }), Buffer.from(spki));
      assert.equal(pub.asymmetricKeyDetails?.modulusLength, 2048);
    }
    assert.notDeepEqual(s.authKey, s.signKey);
    assert.equal(s.profile, 'card');
    assert.equal(s.authPin, '1234');
    assert.equal(s.signPassword, 'TEST123');
    assert.equal(s.textPin, undefined);
    assert.deepEqual(
      { ...s.text, myNumber: undefined },
      {
        myNumber: undefined,
        name: '試験　花子',
        address: '茨城県つくば市千現1-2-3',
        birthDate: '19900102',
        sex: '2',
      },
    );
    assert.match(s.text.myNumber, /^9999\d{8}$/);
    assert.deepEqual(s.authCaCert, jpki.caCertificate('auth'));
    assert.deepEqual(s.signCaCert, jpki.caCertificate('sign'));
  });

  test('android profile and a separate text PIN are carried into the spec', async () => {
    const c = await jpki.issueCard({ ...holder, profile: 'android', textPin: '9876' });
    assert.equal(c.spec.profile, 'android');
    assert.equal(c.spec.textPin, '9876');
  });

  test('bad holder data, PIN or password is ERR_TESTJPKI_INVALID_INPUT', async () => {
    const bad: Partial<IssueCardOptions>[] = [
      { pin: '123' },
      { pin: '12a4' },
      { password: 'ABCDEF' },
      { password: '123456' },
      { password: 'AB12' },
      { password: 'ABCDEFGH123456789' },
      { birthDate: '1990-02-30' },
      { birthDate: '19900102' },
      { sex: '0' as '1' },
      { address: 'Somewhere 1-2-3' },
      { name: '' },
      { textPin: '12345' },
    ];
    for (const b of bad) {
      await assert.rejects(
        jpki.issueCard({ ...holder, ...b }),
        { code: 'ERR_TESTJPKI_INVALID_INPUT' },
        JSON.stringify(b),
      );
    }
  });
});

describe('basic-4 encodings', () => {
  test('DOB era prefix at the Showa/Heisei boundary: 1989-01-07 → 3, 1989-01-08 → 4', () => {
    assert.equal(certificateBirthDate({ year: 1989, month: 1, day: 7 }), '319890107');
    assert.equal(certificateBirthDate({ year: 1989, month: 1, day: 8 }), '419890108');
  });

  test('DOB era prefix at the Heisei/Reiwa boundary: 2019-04-30 → 4, 2019-05-01 → 5', () => {
    assert.equal(certificateBirthDate({ year: 2019, month: 4, day: 30 }), '420190430');
    assert.equal(certificateBirthDate({ year: 2019, month: 5, day: 1 }), '520190501');
  });

  test('DOB era prefix at the Meiji/Taisho and Taisho/Showa boundaries', () => {
    assert.equal(eraCode({ year: 1912, month: 7, day: 29 }), '1');
    assert.equal(eraCode({ year: 1912, month: 7, day: 30 }), '2');
    assert.equal(eraCode({ year: 1926, month: 12, day: 24 }), '2');
    assert.equal(eraCode({ year: 1926, month: 12, day: 25 }), '3');
  });

  test('an issued signing certificate carries the era-prefixed DOB (born 1989-01-08 → 419890108)', async () => {
    const c = await jpki.issueCard({ ...holder, birthDate: '1989-01-08' });
    assert.equal(new Map(otherNames(parseCert(c.spec.signCert))).get('1.2.392.200149.8.5.5.4'), '419890108');
  });

  test('sex: ISO 5218 1→1, 2→2, 9→3, 0→3', () => {
    assert.deepEqual((['1', '2', '9', '0'] as const).map(certificateSex), ['1', '2', '3', '3']);
  });

  test('substitute positions: one digit per character, 1 where replaced by 〓', () => {
    assert.deepEqual(substitute('山田　𠮷男'), { text: '山田　〓男', positions: '00010' });
    assert.deepEqual(substitute('ＡＢＣ１'), { text: 'ＡＢＣ１', positions: '0000' });
    assert.deepEqual(substitute('😀'), { text: '〓', positions: '1' });
  });

  test('municipality: prefecture from the table, known city romanised, other cities a stable code', () => {
    assert.deepEqual(municipalityOf('東京都千代田区千代田1-1'), { prefecture: 'Tokyo-to', city: 'Chiyoda-ku' });
    const a = municipalityOf('北海道網走市南6条東4丁目');
    assert.equal(a.prefecture, 'Hokkaido');
    assert.match(a.city, /^M\d{5}-shi$/);
    assert.deepEqual(municipalityOf('北海道網走市1'), a);
    assert.throws(() => municipalityOf('Nowhere'), TypeError);
  });
});
