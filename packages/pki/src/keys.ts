/**
 * Public keys imported once: `crypto.createPublicKey` costs about half an RSA verify, so a KeyObject is cached by
 * the exact SubjectPublicKeyInfo bytes. Internal; one cache per verifier (seams are parameters, not singletons).
 */
import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { ParsedCertificate } from './certificate.ts';

/** A bounded map from SPKI bytes to KeyObject; the oldest entry goes first when full. */
export class KeyCache {
  readonly #max: number;
  readonly #map = new Map<string, KeyObject>();

  constructor(max = 10_000) {
    this.#max = max;
  }

  /** The KeyObject of a SubjectPublicKeyInfo (DER). Throws `TypeError`/`Error` from node:crypto on a bad key. */
  get(spki: Uint8Array): KeyObject {
    const id = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString('latin1');
    let key = this.#map.get(id);
    if (!key) {
      key = createPublicKey({
        key: Buffer.from(spki),
        format: 'der',
        type: 'spki',
      });
      if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value!);
      this.#map.set(id, key);
    }
    return key;
  }
}

/** Whether `cert`'s signature verifies with `issuerKey` (RSASSA-PKCS1-v1_5, RFC 8017 §8.2.2). Never throws. */
export function signedBy(cert: ParsedCertificate, issuerKey: KeyObject): boolean {
  try {
    return verify(cert.signatureHash, cert.tbs, issuerKey, cert.signature);
  } catch {
    return false;
  }
}
