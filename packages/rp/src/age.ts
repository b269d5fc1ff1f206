/**
 * Age checks by derived claims: the provider answers `age_over_18` / `age_over_20` (true or false) from the birth
 * date it holds, and the service learns nothing else (ARCHITECTURE "Identity without the My Number": derived claims
 * answer the question asked and nothing more).
 */
import { RpClaimInvalidError, RpClaimMissingError } from './errors.ts';
import type { AgeThreshold } from './transaction.ts';
import type { ClaimsRequest } from './verified-claims.ts';

/** The result of an age check. */
export interface AgeCheck {
  readonly over: AgeThreshold;
  /** Whether the person is at least `over` years old today. */
  readonly satisfied: boolean;
}

/** The claim name for a threshold, e.g. `age_over_20`. */
export function ageClaimName(over: AgeThreshold): `age_over_${AgeThreshold}` {
  return `age_over_${over}`;
}

/**
 * The `claims` request parameter (OIDC Core §5.5) asking only `age_over_N`, essential, in the ID token and in
 * userinfo (the provider may answer in either; the ID token is read first).
 *
 * @example
 * ```ts
 * ageCheckClaims(20) // { id_token: { age_over_20: { essential: true } }, userinfo: { age_over_20: { essential: true } } }
 * ```
 * @throws TypeError when `over` is not 18 or 20.
 */
export function ageCheckClaims(over: AgeThreshold): ClaimsRequest {
  assertAgeThreshold(over);
  const name = ageClaimName(over);
  return { id_token: { [name]: { essential: true } }, userinfo: { [name]: { essential: true } } };
}

/** @throws TypeError when `over` is not 18 or 20. */
export function assertAgeThreshold(over: unknown): asserts over is AgeThreshold {
  if (over !== 18 && over !== 20) throw new TypeError('over must be 18 or 20');
}

/**
 * Reads `age_over_N` from a claim set.
 *
 * @throws `ERR_RP_CLAIM_MISSING` when absent (the provider could not or would not answer: never read as `false`),
 *   `ERR_RP_CLAIM_INVALID` when not a boolean.
 */
export function readAgeOver(claims: Readonly<Record<string, unknown>>, over: AgeThreshold): AgeCheck {
  const name = ageClaimName(over);
  const value = claims[name];
  if (value === undefined || value === null) throw new RpClaimMissingError(name);
  if (typeof value !== 'boolean') throw new RpClaimInvalidError(name, 'a boolean');
  return Object.freeze({ over, satisfied: value });
}
