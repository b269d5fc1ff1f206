/**
 * The ID token checks openid-client leaves to the relying party, as a table of one-rule checks. openid-client (with
 * `enableNonRepudiationChecks`) has checked the signature against the provider's JWKS, `alg`, `iss`, `aud`, `exp`,
 * `nonce`, and `azp` when `aud` has several members; these run after it, on the SDK's clock (`now`). Each throws exactly one error class.
 */
import type { CheckClock } from './authentication.ts';
import { RpIdTokenError, RpSubjectMismatchError } from './errors.ts';
import type { Transaction } from './transaction.ts';

type Check = (transaction: Transaction, claims: Readonly<Record<string, unknown>>, clock: CheckClock) => void;

/**
 * OIDC Core §3.1.3.7 step 5: "If an azp (authorized party) Claim is present, the Client SHOULD verify that its
 * client_id is the Claim Value". openid-client checks it only when `aud` has several members; a token issued to
 * another party names that party here even when `aud` is a string.
 */
const authorizedParty: Check = (t, claims) => {
  const azp = claims['azp'];
  if (azp !== undefined && azp !== t.clientId) throw new RpIdTokenError('azp is not this client');
};

/**
 * OIDC Core §3.1.3.7 step 10: "The iat Claim can be used to reject tokens that were issued too far away from the
 * current time". openid-client checks only its type; a token issued in the future (beyond the tolerance) comes from
 * a provider with a wrong clock or was made for later use.
 */
const issuedAt: Check = (_t, claims, clock) => {
  const iat = claims['iat'];
  if (typeof iat === 'number' && iat > clock.now / 1000 + clock.toleranceSeconds) {
    throw new RpIdTokenError('iat is in the future');
  }
};

/**
 * A login for one person (`sub` in the request: a step-up or age check of the person already logged in) must be
 * theirs: the provider is not told whom to expect (MynaGate takes no `login_hint`, and the session keeps no ID token
 * for `id_token_hint`), so this is checked after the fact.
 */
const subject: Check = (t, claims) => {
  if (t.sub !== undefined && claims['sub'] !== t.sub) throw new RpSubjectMismatchError();
};

const CHECKS: readonly Check[] = Object.freeze([authorizedParty, issuedAt, subject]);

/**
 * Runs every check on the claims of an ID token openid-client has validated.
 *
 * @throws `ERR_RP_ID_TOKEN`, `ERR_RP_SUBJECT_MISMATCH`.
 */
export function checkIdToken(
  transaction: Transaction,
  claims: Readonly<Record<string, unknown>>,
  clock: CheckClock,
): void {
  for (const check of CHECKS) check(transaction, claims, clock);
}
