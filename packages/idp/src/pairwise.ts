/**
 * Pairwise subject identifiers (OpenID Connect Core §8.1): each sector sees its own `sub` for a person, so two
 * services cannot join their users by `sub`.
 */
import { createHmac } from 'node:crypto';

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
  return createHmac('sha256', secret).update(`${sector}\0${personId}`, 'utf8').digest('base64url');
}
