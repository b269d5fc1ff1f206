/**
 * What the card signs for a login: Web eID's `signedData = H(origin) ‖ H(challengeNonce)` (intl-anchors §1.1),
 * with H = SHA-256 for RS256. Both inputs are the UTF-8 strings themselves (the nonce as its base64 text, not the
 * decoded bytes). Hashing each field first separates them (`example.com` + `.eu1234` ≠ `example.com.eu` + `1234`).
 * The card then signs DigestInfo(SHA-256(signedData)), i.e. an ordinary RS256 signature over `signedData`.
 */
import { hash } from 'node:crypto';

/** `SHA-256(origin) ‖ SHA-256(challenge)`, 64 bytes. */
export function authSignedData(origin: string, challenge: string): Uint8Array {
  return authSignedDataWith(Buffer.from(hash('sha256', origin, 'binary'), 'latin1'), challenge);
}

/** As {@link authSignedData} with `SHA-256(origin)` already computed (the verifier keeps it per origin). */
export function authSignedDataWith(originHash: Uint8Array, challenge: string): Uint8Array {
  return authSignedDataInto(Buffer.allocUnsafe(64), originHash, challenge);
}

/**
 * As {@link authSignedDataWith}, written into `out` (64 bytes) and returned: the verifier's own buffer, read by a
 * synchronous `crypto.verify` before anything else can write it. Internal.
 */
export function authSignedDataInto(out: Buffer, originHash: Uint8Array, challenge: string): Buffer {
  out.set(originHash, 0);
  // The digest as a latin1 (`'binary'`) string, one character per byte, written in place: node:crypto's `'buffer'`
  // output makes a new backing store on every call, which costs several times what digesting a nonce does.
  out.write(hash('sha256', challenge, 'binary'), 32, 'latin1');
  return out;
}
