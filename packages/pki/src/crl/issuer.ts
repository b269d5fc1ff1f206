/**
 * What CRL checking needs from the issuer certificate: its subject name (DER), its public key and its key usage
 * (RFC 5280 §4.1.2.6, §4.1.2.7, §4.2.1.3), read with the same strict reader as the CRL.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { DerCursor, TAG, readBoolean } from './der.ts';

/** An issuer certificate, as DER or as an @peculiar/x509 certificate. */
export type IssuerCertificate = Uint8Array | X509Certificate;

/** The parts of the issuer certificate a CRL is checked against. */
export interface CrlIssuer {
  /** DER of the subject Name, compared byte for byte with the CRL's issuer. */
  readonly subject: Uint8Array;
  readonly publicKey: KeyObject;
  /** The keyUsage BIT STRING's first two octets as bits (digitalSignature = 0x8000), `null` when absent. */
  readonly keyUsage: number | null;
  /** SHA-256 of the certificate DER, lower-case hex: which CA this is when several share a name. */
  readonly fingerprint: string;
}

/** keyUsage cRLSign is bit 6 (RFC 5280 §4.2.1.3). */
export const KU_CRL_SIGN = 0x8000 >>> 6;

/**
 * Reads the issuer certificate.
 *
 * @throws {TypeError} when `cert` is not a DER X.509 certificate (the trust input is the caller's to get right).
 */
export function readIssuer(cert: IssuerCertificate): CrlIssuer {
  const der = cert instanceof Uint8Array ? cert : toBytes(cert);
  try {
    const c = new DerCursor(der);
    const certEnd = c.enter(TAG.SEQUENCE, der.length);
    const tbsEnd = c.enter(TAG.SEQUENCE, certEnd);
    if (c.peek(tbsEnd) === TAG.CONTEXT_0) c.over(TAG.CONTEXT_0, tbsEnd);
    c.over(TAG.INTEGER, tbsEnd);
    c.over(TAG.SEQUENCE, tbsEnd);
    c.over(TAG.SEQUENCE, tbsEnd);
    c.over(TAG.SEQUENCE, tbsEnd);
    const subjectStart = c.pos;
    const subjectEnd = c.over(TAG.SEQUENCE, tbsEnd);
    const spkiStart = c.pos;
    const spkiEnd = c.over(TAG.SEQUENCE, tbsEnd);
    if (c.peek(tbsEnd) === 0x81) c.over(0x81, tbsEnd);
    if (c.peek(tbsEnd) === 0x82) c.over(0x82, tbsEnd);
    let keyUsage: number | null = null;
    if (c.peek(tbsEnd) === TAG.CONTEXT_3) {
      const explicitEnd = c.enter(TAG.CONTEXT_3, tbsEnd);
      const extsEnd = c.enter(TAG.SEQUENCE, explicitEnd);
      while (c.pos < extsEnd) {
        const extEnd = c.enter(TAG.SEQUENCE, extsEnd);
        const oidEnd = c.enter(TAG.OID, extEnd);
        const o = c.content;
        c.pos = oidEnd;
        if (c.peek(extEnd) === TAG.BOOLEAN) readBoolean(c, extEnd);
        const valueEnd = c.enter(TAG.OCTET_STRING, extEnd);
        // keyUsage is 2.5.29.15 (55 1D 0F), a BIT STRING.
        if (oidEnd - o === 3 && der[o] === 0x55 && der[o + 1] === 0x1d && der[o + 2] === 0x0f) {
          const bitsEnd = c.enter(TAG.BIT_STRING, valueEnd);
          const b = c.content;
          keyUsage = ((bitsEnd > b + 1 ? der[b + 1]! : 0) << 8) | (bitsEnd > b + 2 ? der[b + 2]! : 0);
        }
        c.pos = extEnd;
      }
    }
    const subject = der.slice(subjectStart, subjectEnd);
    const publicKey = createPublicKey({
      key: Buffer.from(der.buffer, der.byteOffset + spkiStart, spkiEnd - spkiStart),
      format: 'der',
      type: 'spki',
    });
    return { subject, publicKey, keyUsage, fingerprint: createHash('sha256').update(der).digest('hex') };
  } catch (e) {
    throw new TypeError('issuer is not a DER X.509 certificate', { cause: e });
  }
}

function toBytes(cert: X509Certificate): Uint8Array {
  if (cert && typeof cert === 'object' && cert.rawData instanceof ArrayBuffer) return new Uint8Array(cert.rawData);
  throw new TypeError('issuer must be a DER certificate (Uint8Array) or an @peculiar/x509 X509Certificate');
}
