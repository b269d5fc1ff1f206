/**
 * DER DigestInfo (RFC 8017 §9.2 note 1), the bytes a host sends to COMPUTE DIGITAL SIGNATURE: the card adds only
 * the PKCS#1 v1.5 type-1 padding (spec §4.5).
 */

/** Hash algorithms the JPKI clients use (spec §4.5: SHA-1/256/384/512, 35/51/67/83-byte DigestInfo). */
export type DigestAlgorithm = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** DigestInfo prefixes: SEQUENCE { AlgorithmIdentifier { oid, NULL }, OCTET STRING (hash length) } (RFC 8017 §9.2). */
const PREFIX: Record<DigestAlgorithm, { prefix: number[]; hashLength: number }> = {
  sha1: {
    prefix: [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14],
    hashLength: 20,
  },
  sha256: { prefix: oidPrefix(0x01, 32), hashLength: 32 },
  sha384: { prefix: oidPrefix(0x02, 48), hashLength: 48 },
  sha512: { prefix: oidPrefix(0x03, 64), hashLength: 64 },
};

/** The NIST hash OIDs 2.16.840.1.101.3.4.2.x. */
function oidPrefix(x: number, hashLength: number): number[] {
  const algorithmId = [0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, x, 0x05, 0x00];
  return [0x30, algorithmId.length + 2 + hashLength, ...algorithmId, 0x04, hashLength];
}

/**
 * The DER DigestInfo of a hash.
 *
 * @example digestInfo('sha256', createHash('sha256').update(data).digest()) // 51 bytes, 30 31 30 0D …
 * @throws TypeError when `hash` has the wrong length for `algorithm`, or the algorithm is unknown.
 */
export function digestInfo(algorithm: DigestAlgorithm, hash: Uint8Array): Uint8Array {
  const entry = PREFIX[algorithm];
  if (!entry) throw new TypeError(`unknown digest algorithm ${String(algorithm)}`);
  if (hash.length !== entry.hashLength) throw new TypeError(`${algorithm} hash must be ${entry.hashLength} bytes`);
  const out = new Uint8Array(entry.prefix.length + hash.length);
  out.set(entry.prefix);
  out.set(hash, entry.prefix.length);
  return out;
}
