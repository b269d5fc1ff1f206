/**
 * What a card login result must show, as a table of one-rule checks (node-oidc-provider's pipeline shape): the
 * `acr`, the `amr`, and `auth_time` against `max_age` and against the demand for a fresh login. Each check throws
 * exactly one error class.
 */
import { acrMeets, missingCardAmr } from './acr.ts';
import { RpAcrNotMetError, RpAmrNotMetError, RpStaleAuthError } from './errors.ts';
import type { Transaction } from './transaction.ts';

/** The clock of the checks. */
export interface CheckClock {
  /** Epoch ms. */
  readonly now: number;
  /** Allowed difference between our clock and the provider's, seconds. */
  readonly toleranceSeconds: number;
}

type Check = (transaction: Transaction, claims: Readonly<Record<string, unknown>>, clock: CheckClock) => void;

/** OIDC Core §3.1.2.1: `acr_values` is a voluntary request, so the RP checks the `acr` it got. */
const acr: Check = (t, claims) => {
  if (!acrMeets(claims['acr'], t.acr)) {
    throw new RpAcrNotMetError(t.acr, typeof claims['acr'] === 'string' ? claims['acr'] : undefined);
  }
};

/** RFC 8176 §2: a card login is `hwk` + `sc` + a knowledge factor (`pin` for login, `pwd` for signing). */
const amr: Check = (_t, claims) => {
  const missing = missingCardAmr(claims['amr']);
  if (missing.length > 0) {
    const actual = Array.isArray(claims['amr']) ? claims['amr'].map(String) : [];
    throw new RpAmrNotMetError(missing, actual);
  }
};

/** The provider puts `auth_time` in every ID token; without it no age rule can be checked (OIDC Core §2). */
const authTimePresent: Check = (t, claims) => {
  const at = claims['auth_time'];
  if (typeof at !== 'number' || !Number.isFinite(at)) {
    throw new RpStaleAuthError('ID token has no auth_time', undefined, t.maxAge);
  }
};

/** OIDC Core §3.1.2.1 `max_age`: the RP SHOULD check `auth_time` itself. */
const maxAge: Check = (t, claims, clock) => {
  if (t.maxAge === undefined) return;
  const at = claims['auth_time'] as number;
  if (at + t.maxAge < clock.now / 1000 - clock.toleranceSeconds) {
    throw new RpStaleAuthError(`login is older than max_age ${t.maxAge} s`, at, t.maxAge);
  }
};

/**
 * `prompt=login` (OIDC Core §3.1.2.1) demands a new login: one made before this request was built is an answer from
 * an old session, whatever `max_age` says.
 */
const freshLogin: Check = (t, claims, clock) => {
  if (t.prompt !== 'login') return;
  const at = claims['auth_time'] as number;
  if (at < t.createdAt / 1000 - clock.toleranceSeconds) {
    throw new RpStaleAuthError('a fresh login was demanded but auth_time precedes the request', at, t.maxAge);
  }
};

const CHECKS: readonly Check[] = Object.freeze([acr, amr, authTimePresent, maxAge, freshLogin]);

/**
 * Runs every check on the ID token claims of a completed transaction.
 *
 * @throws `ERR_RP_ACR_NOT_MET`, `ERR_RP_AMR_NOT_MET`, `ERR_RP_STALE_AUTH`.
 */
export function checkAuthentication(
  transaction: Transaction,
  claims: Readonly<Record<string, unknown>>,
  clock: CheckClock,
): void {
  for (const check of CHECKS) check(transaction, claims, clock);
}
