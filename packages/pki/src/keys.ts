/**
 * Public keys imported once: importing costs about half an RSA verify, so a KeyObject is cached by the exact
 * SubjectPublicKeyInfo bytes (and by the very view, for anchors and responders met again and again). Internal; one
 * cache per verifier (seams are parameters, not module singletons).
 */
import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { BoundedMap } from './bounded-map.ts';
import { rsaPublicKeyBase64 } from './certificate.ts';
import type { ParsedCertificate } from './certificate.ts';
import { DerError, RSA_ENCRYPTION, TAG, TlvReader, bytesAt } from './der.ts';

/**
 * Imports a SubjectPublicKeyInfo (DER) as a KeyObject (from its {@link publicKeyPem} text).
 *
 * @throws Error from node:crypto (or DerError) on a key that cannot be imported.
 */
export function importPublicKey(spki: Uint8Array): KeyObject {
  return createPublicKey(publicKeyPem(spki));
}

/**
 * A SubjectPublicKeyInfo (DER) as the PEM text node:crypto imports fastest: an rsaEncryption key as its RSAPublicKey
 * (the BIT STRING's content, RFC 8017 A.1.1, RFC 3279 §2.3.1) labelled `RSA PUBLIC KEY` (`pkcs1`), the same key,
 * which OpenSSL 3 decodes several times faster than a whole SPKI; any other algorithm as the SPKI (`PUBLIC KEY`).
 * `crypto.verify` takes the text itself too, decoding it inside the call: for a key used once, that costs less
 * than making a KeyObject (see `ValidatedPath.keyPem`).
 *
 * @throws DerError when the SPKI is not one DER SEQUENCE of an AlgorithmIdentifier and a BIT STRING.
 */
export function publicKeyPem(spki: Uint8Array): string {
  const buf = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
  const r = new TlvReader(spki);
  if (r.expect(0, spki.length, TAG.SEQUENCE) !== spki.length) throw new DerError('bad SubjectPublicKeyInfo');
  const algEnd = r.expect(r.valueStart, spki.length, TAG.SEQUENCE);
  if (bytesAt(spki, r.start, algEnd, RSA_ENCRYPTION)) {
    if (
      r.expect(algEnd, spki.length, TAG.BIT_STRING) !== spki.length ||
      r.end === r.valueStart ||
      spki[r.valueStart] !== 0
    )
      throw new DerError('bad subjectPublicKey');
    return pem('RSA PUBLIC KEY', buf.subarray(r.valueStart + 1, r.end));
  }
  return pem('PUBLIC KEY', buf);
}

/**
 * {@link publicKeyPem} of a certificate's SubjectPublicKeyInfo. For an RSA key the parser already read, the text is
 * made from the RSAPublicKey's place in the DER, without walking the SPKI again or making views of it.
 *
 * @throws DerError as {@link publicKeyPem}.
 */
export function certificateKeyPem(cert: ParsedCertificate): string {
  const rsa = rsaPublicKeyBase64(cert);
  if (rsa === undefined) return publicKeyPem(cert.spki);
  return `-----BEGIN RSA PUBLIC KEY-----\n${rsa}\n-----END RSA PUBLIC KEY-----\n`;
}

/**
 * The DER as PEM text, base64 on one line (OpenSSL reads lines of any length; RFC 7468 §3 lax parsing). A string,
 * not `{ key, format: 'der' }`: Node's key preparation probes an object argument with `isKeyObject`/`isCryptoKey`,
 * each a native call that throws (and so captures a stack trace) for anything else, which costs more than the
 * import itself; a string skips both.
 */
function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64')}\n-----END ${label}-----\n`;
}

/** A bounded map from SPKI bytes to KeyObject; the oldest entry goes first when full. */
export class KeyCache {
  readonly #map: BoundedMap<string, KeyObject>;
  // The same view (an anchor's `spki`) is looked up on every new certificate: no string key needed then.
  readonly #byView = new WeakMap<Uint8Array, KeyObject>();

  constructor(max = 10_000) {
    this.#map = new BoundedMap(max);
  }

  /** The KeyObject of a SubjectPublicKeyInfo (DER). Throws `TypeError`/`Error` from node:crypto on a bad key. */
  get(spki: Uint8Array): KeyObject {
    let key = this.#byView.get(spki);
    if (key) return key;
    const id = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString('latin1');
    key = this.#map.get(id);
    if (!key) {
      key = importPublicKey(spki);
      this.#map.set(id, key);
    }
    this.#byView.set(spki, key);
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
