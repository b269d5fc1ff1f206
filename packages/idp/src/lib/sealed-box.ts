/**
 * Sealed boxes: a value encrypted to a public key by someone who holds no secret (the companion's side of the server),
 * opened only with a private key derived on demand from a secret the server does not keep (a browser key, carried in
 * that browser's cookie). What waits in a store between the two is then useless without that secret, and stays so
 * in any copy of the store (a backup, an RDB or AOF file, SQLite's free pages and WAL): crypto-shredding, where the
 * key expires with the cookie.
 *
 * The construction is ECIES over node:crypto, shaped like HPKE's base mode (RFC 9180 §4.1, DHKEM(X25519) with
 * HKDF-SHA256 and AES-256-GCM) without its wire format:
 *
 * - opening key: the X25519 private key is HKDF-SHA256(IKM = secret, salt = empty, info = label), 32 bytes (RFC 5869;
 *   the secret is already uniformly random, and `label` keeps this use of it apart from any other); X25519 clamps it
 *   (RFC 7748 §5). Only its public half is stored.
 * - seal: a fresh ephemeral X25519 key pair per value; Z = X25519(ephemeral, recipient); 44 bytes of
 *   HKDF-SHA256(IKM = Z, salt = ephemeral public ‖ recipient public, info = `mynagate sealed-box v1`) are the
 *   AES-256-GCM key (32) and nonce (12). A key is used for exactly one message, so a derived nonce is safe.
 *   The caller's `aad` (what the value is for: its label and transaction) is authenticated, so a box moved to
 *   another transaction or use does not open.
 * - sealed form: base64url(ephemeral public (32) ‖ ciphertext ‖ GCM tag (16)).
 *
 * A box that does not open (another key, altered bytes, another `aad`, malformed) throws one error; the caller
 * refuses it. Anonymous sender: whoever can write the store can also seal a value to the stored public key, so this
 * keeps the value secret from readers of the store, it does not authenticate it against writers.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';

/** The X25519 private key's PKCS #8 DER before its 32 raw bytes (RFC 8410 §7, id-X25519 1.3.101.110). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
/** The X25519 public key's SubjectPublicKeyInfo DER before its 32 raw bytes (RFC 8410 §4). */
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const KEY_BYTES = 32;
const TAG_BYTES = 16;
const KDF_INFO = Buffer.from('mynagate sealed-box v1', 'utf8');

/** A private key that opens the boxes sealed to its {@link publicKey}. */
export interface OpeningKey {
  /** The raw X25519 public key (32 bytes), what {@link seal} encrypts to. */
  readonly publicKey: Uint8Array;
  /**
   * The plaintext of `sealed`, if it was sealed to this key with this `aad`.
   *
   * @throws Error for any box that does not open (the reason is not told apart: fail closed).
   */
  open(sealed: string, aad: Uint8Array): Uint8Array;
}

/**
 * The opening key derived from `secret` for `label`: the same secret and label always give the same key.
 *
 * @example
 * ```ts
 * const key = openingKey(Buffer.from(browserKey, 'base64url'), 'mynagate sign-result v1');
 * store(Buffer.from(key.publicKey).toString('base64url'));
 * ```
 * @throws TypeError when `secret` is shorter than 16 bytes.
 */
export function openingKey(secret: Uint8Array, label: string): OpeningKey {
  if (secret.byteLength < 16) throw new TypeError('secret must be at least 16 bytes');
  const raw = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), Buffer.from(label, 'utf8'), KEY_BYTES));
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  raw.fill(0);
  const publicKey = rawPublic(createPublicKey(privateKey));
  return {
    publicKey,
    open(sealed, aad) {
      try {
        if (!/^[A-Za-z0-9_-]+$/.test(sealed)) throw new Error('not base64url');
        const bytes = Buffer.from(sealed, 'base64url');
        if (bytes.length < KEY_BYTES + TAG_BYTES) throw new Error('too short');
        const ephemeral = bytes.subarray(0, KEY_BYTES);
        const { key, iv } = boxKey(privateKey, publicKeyObject(ephemeral), ephemeral, publicKey);
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad);
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
        const plain = Buffer.concat([
          decipher.update(bytes.subarray(KEY_BYTES, bytes.length - TAG_BYTES)),
          decipher.final(),
        ]);
        return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
      } catch (e) {
        throw new Error('the sealed box does not open', { cause: e });
      }
    },
  };
}

/**
 * Seals `plaintext` to the raw X25519 `recipient` public key, authenticating `aad` with it. A new ephemeral key each
 * time: sealing the same value twice gives two unrelated boxes.
 *
 * @example
 * ```ts
 * const box = seal(Buffer.from(transaction.outcomeKey, 'base64url'), plaintext, aad);
 * ```
 * @throws TypeError when `recipient` is not a 32-byte X25519 public key.
 */
export function seal(recipient: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): string {
  if (recipient.byteLength !== KEY_BYTES) throw new TypeError('recipient must be a 32-byte X25519 public key');
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const ephemeral = rawPublic(publicKey);
  const { key, iv } = boxKey(privateKey, publicKeyObject(recipient), ephemeral, recipient);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([ephemeral, body, cipher.getAuthTag()]).toString('base64url');
}

/** The AES-256-GCM key and nonce of one box: HKDF-SHA256 over the X25519 shared secret, bound to both public keys. */
function boxKey(
  own: KeyObject,
  other: KeyObject,
  ephemeral: Uint8Array,
  recipient: Uint8Array,
): { readonly key: Buffer; readonly iv: Buffer } {
  // OpenSSL refuses an all-zero shared secret (a small-order public key), so a crafted ephemeral key throws here.
  const shared = diffieHellman({ privateKey: own, publicKey: other });
  const okm = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), KDF_INFO, KEY_BYTES + 12));
  shared.fill(0);
  return { key: okm.subarray(0, KEY_BYTES), iv: okm.subarray(KEY_BYTES) };
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function rawPublic(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
}
