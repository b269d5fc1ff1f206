/**
 * DigestInfo (RFC 8017 §9.2 note 1): what the JPKI card receives for COMPUTE DIGITAL SIGNATURE. The card adds the
 * PKCS#1 v1.5 type-1 padding itself (spec §4.5), so the host sends the DER DigestInfo, 51 bytes for SHA-256.
 */
import { createHash } from 'node:crypto';

// DER prefix of DigestInfo { sha256, NULL }, OCTET STRING (32): RFC 8017 §9.2 note 1.
const SHA256_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * DigestInfo over SHA-256 of `data`.
 *
 * @example
 * ```ts
 * const sig = await card.sign('auth', sha256DigestInfo(signedData));
 * ```
 */
export function sha256DigestInfo(data: Uint8Array): Uint8Array {
  return digestInfoOfSha256Hash(createHash('sha256').update(data).digest());
}

/**
 * DigestInfo around an already computed SHA-256 hash.
 *
 * @throws TypeError when `hash` is not 32 bytes.
 */
export function digestInfoOfSha256Hash(hash: Uint8Array): Uint8Array {
  if (hash.length !== 32) throw new TypeError('SHA-256 hash must be 32 bytes');
  const out = new Uint8Array(SHA256_PREFIX.length + 32);
  out.set(SHA256_PREFIX, 0);
  out.set(hash, SHA256_PREFIX.length);
  return out;
}
