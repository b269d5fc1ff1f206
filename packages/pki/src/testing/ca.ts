/**
 * A test JPKI certificate authority: its self-signed certificate and signing key, and the one operation every
 * issued object goes through, signing a certificate.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import type { Name } from '@peculiar/asn1-x509';
import { ab, canonicalSerial, keyHash } from './lib/der.ts';
import { endOfJstDay, jst, wholeSeconds } from './lib/time.ts';
import { crypto, RSA_SHA256, x509 } from './lib/x509.ts';
import type { CryptoKey } from './lib/x509.ts';
import type { KeyPair } from './keys.ts';
import { caExtensions, caName, nameDer } from './profiles.ts';
import type { CaKind } from './profiles.ts';

/** A loaded CA. Immutable. */
export interface CertificateAuthority {
  readonly kind: CaKind;
  /** The CA certificate, DER. */
  readonly cert: Uint8Array;
  /** The CA's subject (= issuer) Name, DER. */
  readonly subject: Uint8Array;
  /** The CA's SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
  /** SHA-1 of the public key bits: the SKI, the AKI of what it issues, and its OCSP byKey id. */
  readonly keyId: Uint8Array;
  /** The private key, for node:crypto (PKCS#8 export) and WebCrypto (signing). */
  readonly privateKey: KeyObject;
  readonly signingKey: CryptoKey;
}

/** What to put in a certificate the CA signs. */
export interface CertificateRequest {
  readonly serial: string;
  readonly subject: Name;
  readonly spki: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: x509.Extension[];
}

/** Signs a certificate with `ca` (sha256WithRSAEncryption, spec §8.1) and returns its DER. */
export async function signCertificate(
  ca: CertificateAuthority | SelfSigned,
  req: CertificateRequest,
): Promise<Uint8Array> {
  const issuer = 'subject' in ca ? ca.subject : nameDer(req.subject);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: canonicalSerial(req.serial),
      subject: new x509.Name(ab(nameDer(req.subject))),
      issuer: new x509.Name(ab(issuer)),
      notBefore: wholeSeconds(req.notBefore),
      notAfter: wholeSeconds(req.notAfter),
      publicKey: ab(req.spki),
      signingKey: ca.signingKey,
      signingAlgorithm: RSA_SHA256,
      extensions: req.extensions,
    },
    crypto,
  );
  return new Uint8Array(cert.rawData);
}

interface SelfSigned {
  readonly signingKey: CryptoKey;
}

/**
 * Creates a self-signed test CA mirroring spec §8.1: validity `notBefore` to 23:59:59 JST `validityYears` after
 * `now`, DN `C=JP, O=JPKI TEST, OU=…, OU=…`, RSA-2048, sha256WithRSA.
 *
 * @throws TypeError when the validity would end before `notBefore`.
 */
export async function createCa(
  kind: CaKind,
  keys: KeyPair,
  options: { now: Date; notBefore: Date; serial: string; validityYears: number },
): Promise<CertificateAuthority> {
  const spki = new Uint8Array(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const keyId = keyHash(spki);
  const signingKey = await toSigningKey(keys.privateKey);
  const today = jst(options.now);
  const notAfter = endOfJstDay({ year: today.year + options.validityYears, month: today.month, day: today.day });
  if (notAfter.getTime() <= options.notBefore.getTime()) throw new TypeError('CA would expire before it starts');
  const cert = await signCertificate(
    { signingKey },
    {
      serial: options.serial,
      subject: caName(kind),
      spki,
      notBefore: options.notBefore,
      notAfter,
      extensions: caExtensions(kind, keyId),
    },
  );
  return loadCa(kind, cert, keys.privateKey);
}

/**
 * A CA from its certificate and private key.
 *
 * @throws TypeError when the key does not belong to the certificate.
 */
export async function loadCa(kind: CaKind, cert: Uint8Array, privateKey: KeyObject): Promise<CertificateAuthority> {
  const parsed = AsnConvert.parse(cert, Certificate);
  const spki = new Uint8Array(AsnConvert.serialize(parsed.tbsCertificate.subjectPublicKeyInfo));
  const fromKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  if (!Buffer.from(spki).equals(fromKey)) throw new TypeError(`${kind} CA key does not match its certificate`);
  return Object.freeze({
    kind,
    cert,
    subject: new Uint8Array(AsnConvert.serialize(parsed.tbsCertificate.subject)),
    spki,
    keyId: keyHash(spki),
    privateKey,
    signingKey: await toSigningKey(privateKey),
  });
}

/** A PKCS#8 DER private key as a KeyObject. */
export function privateKeyFromPkcs8(pkcs8: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
}

function toSigningKey(k: KeyObject): Promise<CryptoKey> {
  return Promise.resolve(k.toCryptoKey(RSA_SHA256, false, ['sign']) as CryptoKey);
}
