/** Small DER and encoding helpers shared by the test JPKI. */
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';

/** DER of an asn1-schema object as a Uint8Array. */
export function der(value: unknown): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(value));
}

/** A Uint8Array view as a fresh ArrayBuffer (asn1-schema and WebCrypto want ArrayBuffers). */
export function ab(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}

/** PEM armour with 64-character lines (RFC 7468 §2). */
export function toPem(label: string, bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** The DER inside the first PEM block with `label`; TypeError when there is none. */
export function fromPem(label: string, pem: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`).exec(pem);
  if (!m) throw new TypeError(`no ${label} PEM block`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

/**
 * The canonical form of a serial number: lowercase hex of the integer, no `0x`, no colons, no redundant leading
 * zero bytes, even length. Accepts what openssl and @peculiar/x509 print.
 *
 * @throws TypeError when `hex` is not a hex number.
 */
export function canonicalSerial(hex: string): string {
  const s = hex.trim().replace(/^0x/i, '').replace(/:/g, '');
  if (!/^[0-9a-fA-F]+$/.test(s)) throw new TypeError('serial must be hex');
  const h = BigInt('0x' + s).toString(16);
  return h.length % 2 === 0 ? h : '0' + h;
}

/** The serial's two's-complement content octets as DER would carry them (a leading 00 when the top bit is set). */
export function serialBytes(hex: string): Uint8Array {
  const h = canonicalSerial(hex);
  const bytes = Buffer.from(h, 'hex');
  return bytes[0]! & 0x80 ? new Uint8Array([0, ...bytes]) : new Uint8Array(bytes);
}

/**
 * The key identifier of an SPKI: SHA-1 over the subjectPublicKey BIT STRING value, method (1) of RFC 5280
 * §4.2.1.2. OCSP's byKey ResponderID and issuerKeyHash use the same bytes (RFC 6960 §4.1.1, §4.2.1).
 */
export function keyHash(spki: Uint8Array, algorithm: 'sha1' | 'sha256' | 'sha384' | 'sha512' = 'sha1'): Uint8Array {
  const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  return new Uint8Array(createHash(algorithm).update(new Uint8Array(info.subjectPublicKey)).digest());
}

/** DER of a UTF8String (X.690 §8.21, tag 12) with a definite length. */
export function utf8String(s: string): Uint8Array {
  const body = Buffer.from(s, 'utf8');
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  if (n > 0xffff) throw new TypeError('string too long');
  return new Uint8Array([0x0c, ...len, ...body]);
}
