/**
 * Test cards for the card package: RSA-2048 keys and simple but realistic JPKI-shaped certificates (sha256WithRSA,
 * critical KeyUsage and policies, DER starting `30 82`), generated once per process and cached.
 *
 * These certificates are not the test JPKI (that is `@mynagate/pki/testing`); they only need to look like the card's
 * files to the card code. Dates are fixed, so nothing here reads the clock.
 */
import 'reflect-metadata'; // @peculiar/x509 (via tsyringe) needs it loaded first
import { randomUUID, webcrypto } from 'node:crypto';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { fakeMyNumber } from '../../src/my-number.ts';
import { writeCardFile } from '../../src/virtual/card-file.ts';
import type { VirtualCardSpec } from '../../src/virtual/spec.ts';

/** Node's WebCrypto, passed to each generator call (the project has no DOM lib, so no global Crypto type). */
const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** The clear PINs of every card this fixture makes (card files hold only their hashes). */
export const TEST_PINS = Object.freeze({
  auth: '1234',
  sign: 'TEST2025',
  text: '5678',
  /** 照合番号B: era DOB H020102 → 020102, expiry year 2035, security code 0000. */
  textB: '02010220350000',
});

/** The fake text-AP data of the fixture card. The My Number starts 9999: visibly fabricated (see fakeMyNumber). */
export const TEST_TEXT: VirtualCardSpec['text'] = Object.freeze({
  myNumber: fakeMyNumber(() => 0),
  name: '試験　花子',
  address: '東京都千代田区霞が関二丁目一番二号　テスト住宅一〇一号室',
  birthDate: '19900102',
  sex: '2',
});

const ALG = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const NOT_BEFORE = new Date('2025-01-01T00:00:00Z');
const NOT_AFTER = new Date('2030-01-01T00:00:00Z');
const KU = x509.KeyUsageFlags;

let cached: Promise<VirtualCardSpec> | undefined;

/** The fixture spec (keys and certificates generated once per process), with `overrides` applied. */
export async function testCardSpec(overrides: Partial<VirtualCardSpec> = {}): Promise<VirtualCardSpec> {
  cached ??= generate();
  return { ...(await cached), ...overrides };
}

/**
 * Writes a fresh card file for the fixture spec in `dir` and returns its path. PINs are {@link TEST_PINS}; the
 * scrypt cost is lowered (stored in the file) so cards are quick to make and VERIFY.
 */
export async function makeCardFile(dir: string, overrides: Partial<VirtualCardSpec> = {}): Promise<string> {
  const path = join(dir, `card-${randomUUID()}.json`);
  await writeCardFile(path, await testCardSpec(overrides), { scryptCost: 1 << 10 });
  return path;
}

async function generate(): Promise<VirtualCardSpec> {
  const subtle = webcrypto.subtle;
  const newKeys = () => subtle.generateKey(ALG, true, ['sign', 'verify']);
  const [authCaKeys, signCaKeys, authKeys, signKeys] = await Promise.all([newKeys(), newKeys(), newKeys(), newKeys()]);
  const caName = (purpose: string) => `C=JP, O=MynaGate Test JPKI, OU=JPKI for ${purpose} (TEST)`;
  const ca = (keys: CryptoKeyPair, purpose: string, serialNumber: string) =>
    x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber,
        name: caName(purpose),
        notBefore: NOT_BEFORE,
        notAfter: NOT_AFTER,
        keys,
        signingAlgorithm: ALG,
        extensions: [
          new x509.KeyUsagesExtension(KU.keyCertSign | KU.cRLSign, true),
          new x509.BasicConstraintsExtension(true, undefined, true),
        ],
      },
      crypto,
    );
  const [authCa, signCa] = await Promise.all([
    ca(authCaKeys, 'user authentication', '01'),
    ca(signCaKeys, 'digital signature', '02'),
  ]);
  const ee = (
    keys: CryptoKeyPair,
    issuerKeys: CryptoKeyPair,
    issuer: x509.X509Certificate,
    subject: string,
    extensions: x509.Extension[],
  ) =>
    x509.X509CertificateGenerator.create(
      {
        serialNumber: '012d57ca',
        subject,
        issuer: issuer.subject,
        notBefore: NOT_BEFORE,
        notAfter: NOT_AFTER,
        publicKey: keys.publicKey,
        signingKey: issuerKeys.privateKey,
        signingAlgorithm: ALG,
        extensions,
      },
      crypto,
    );
  // Spec §8.2: subject C=JP + opaque CN, KU digitalSignature (critical), EKU clientAuth, critical policy.
  const authCert = await ee(authKeys, authCaKeys, authCa, 'C=JP, CN=TEST0000000000000000001', [
    new x509.KeyUsagesExtension(KU.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    new x509.CertificatePolicyExtension(['1.2.392.200149.8.5.1.3.30'], true),
  ]);
  // Spec §8.3: subject C, L, L, CN; KU digitalSignature + nonRepudiation (critical), critical policy.
  const signCert = await ee(
    signKeys,
    signCaKeys,
    signCa,
    'C=JP, L=Tokyo-to, L=Chiyoda-ku, CN=20250101000000000010000TEST',
    [
      new x509.KeyUsagesExtension(KU.digitalSignature | KU.nonRepudiation, true),
      new x509.CertificatePolicyExtension(['1.2.392.200149.8.5.1.1.20'], true),
    ],
  );
  const pkcs8 = async (k: webcrypto.CryptoKey) => new Uint8Array(await subtle.exportKey('pkcs8', k));
  const der = (c: x509.X509Certificate) => new Uint8Array(c.rawData);
  return {
    profile: 'card',
    authKey: await pkcs8(authKeys.privateKey),
    signKey: await pkcs8(signKeys.privateKey),
    authCert: der(authCert),
    authCaCert: der(authCa),
    signCert: der(signCert),
    signCaCert: der(signCa),
    authPin: TEST_PINS.auth,
    signPassword: TEST_PINS.sign,
    textPin: TEST_PINS.text,
    textPinB: TEST_PINS.textB,
    text: TEST_TEXT,
  };
}
