/**
 * Pairwise subject identifiers (OpenID Connect Core §8.1): each sector sees its own `sub` for a person, so two
 * services cannot join their users by `sub`.
 */
import { createHmac, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

// The secret imported once per secret: given bytes, `createHmac` asks `isKeyObject` first, which node:crypto answers
// by catching a thrown error (a stack trace per call, 3x the cost of the HMAC).
const imported = new WeakMap<Uint8Array, KeyObject>();

/**
 * `base64url(HMAC-SHA256(secret, sector ‖ 0x00 ‖ personId))`. The NUL separates the two parts unambiguously (a
 * host name never contains one), so ("a.example", "1x") and ("a.example1", "x") cannot collide.
 *
 * @example
 * ```ts
 * pairwiseSubject(secret, 'rp.example', person.id) // 'q1Xr…' (43 characters)
 * ```
 * @throws TypeError when the secret is shorter than 32 bytes or a part is empty.
 */
export function pairwiseSubject(secret: Uint8Array, sector: string, personId: string): string {
  if (!(secret instanceof Uint8Array) || secret.length < 32) throw new TypeError('pairwise secret must be >= 32 bytes');
  if (typeof sector !== 'string' || sector === '') throw new TypeError('sector must be a non-empty string');
  if (typeof personId !== 'string' || personId === '') throw new TypeError('personId must be a non-empty string');
  let key = imported.get(secret);
  if (key === undefined) imported.set(secret, (key = createSecretKey(secret)));
  return createHmac('sha256', key).update(`${sector}\0${personId}`, 'utf8').digest('base64url');
}
