/**
 * How a virtual card file stores PINs: salted scrypt (RFC 7914), never the PIN itself.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/** scrypt cost parameters, stored in the card file so a cheaper cost chosen for tests still verifies. */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** A stored PIN: base64 salt and hash. `hash` is null for a reference value the card does not know (PIN B). */
export interface PinHash {
  readonly salt: string;
  readonly hash: string | null;
}

/** The default cost: N = 2^14, r = 8, p = 1 (16 MiB, tens of milliseconds per VERIFY). */
export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ N: 1 << 14, r: 8, p: 1 });

const KEY_LENGTH = 32;
const options = (s: ScryptParams) => ({ N: s.N, r: s.r, p: s.p, maxmem: 256 * s.N * s.r });

/** Hashes `pin` (its ASCII bytes) with a fresh 16-byte salt, in the thread pool. */
export async function hashPin(pin: Uint8Array, params: ScryptParams): Promise<PinHash> {
  const salt = randomBytes(16);
  const hash = await new Promise<Buffer>((resolve, reject) =>
    scrypt(pin, salt, KEY_LENGTH, options(params), (err, key) => (err ? reject(err) : resolve(key))),
  );
  return { salt: salt.toString('base64'), hash: hash.toString('base64') };
}

/** Hashes `pin` synchronously: the card's CHANGE REFERENCE DATA runs inside the synchronous `process()`. */
export function hashPinSync(pin: Uint8Array, params: ScryptParams): PinHash {
  const salt = randomBytes(16);
  return { salt: salt.toString('base64'), hash: scryptSync(pin, salt, KEY_LENGTH, options(params)).toString('base64') };
}

/** Whether `pin` matches, in constant time. A null hash matches nothing. */
export function pinMatches(pin: Uint8Array, stored: PinHash, params: ScryptParams): boolean {
  if (stored.hash === null) return false;
  const expected = Buffer.from(stored.hash, 'base64');
  const actual = scryptSync(pin, Buffer.from(stored.salt, 'base64'), KEY_LENGTH, options(params));
  return timingSafeEqual(actual, expected);
}
