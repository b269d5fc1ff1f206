/**
 * The relying party's errors: one class per decision the application makes, each with a stable `code`. Errors of
 * openid-client are never passed through raw: `openid-errors.ts` maps each to one of these, with an
 * `OpenidClientFailure` as `cause` (openid-client's code, message and the claim's name: never its detail, which holds
 * the ID token's claims or a token response).
 */
import { MynaGateError } from '@mynagate/errors';

/** Every relying-party error code with the one-line description the docs print (the README lists each one). */
export const RP_ERROR_CODES = Object.freeze({
  ERR_RP_DISCOVERY: 'The provider metadata could not be fetched or is invalid (wrong issuer, missing endpoints).',
  ERR_RP_NETWORK: 'A request to the provider failed before an HTTP answer (DNS, TCP, TLS, timeout).',
  ERR_RP_PAR: 'The provider refused the pushed authorization request (RFC 9126).',
  ERR_RP_TRANSACTION_EXPIRED: 'The login transaction is older than transactionTtlSeconds; start a new login.',
  ERR_RP_STATE: 'The callback state does not match the transaction (CSRF, a mixed-up tab, or a forged callback).',
  ERR_RP_CALLBACK_INVALID: 'The callback is not a valid authorization response (no code, wrong iss, extra tokens).',
  ERR_RP_AUTHORIZATION: 'The provider answered the authorization request with an error (the person cancelled, …).',
  ERR_RP_TOKEN:
    'The token endpoint refused the code (used, expired, wrong PKCE verifier, client auth failed) or answered with an invalid token response.',
  ERR_RP_ID_TOKEN: 'The ID token is invalid (signature, key, algorithm, issuer, audience, azp, expiry).',
  ERR_RP_NONCE: 'The ID token nonce does not match the transaction (a replayed or injected ID token).',
  ERR_RP_ACR_NOT_MET: 'The login used a weaker authentication context class than the one requested.',
  ERR_RP_AMR_NOT_MET: 'The login methods (amr) are not those of a card login (hwk, sc and a PIN or password).',
  ERR_RP_STALE_AUTH: 'The login is older than max_age, or not fresh although a fresh login was demanded.',
  ERR_RP_SUBJECT_MISMATCH:
    'Another person logged in than the one this login was for (a step-up, an age check, or any login in a session that has one, with someone else’s card); log out first to switch people.',
  ERR_RP_USERINFO: 'The userinfo endpoint failed or answered for another subject.',
  ERR_RP_CLAIM_MISSING: 'A requested claim is absent from both the ID token and userinfo.',
  ERR_RP_CLAIM_INVALID: 'A requested claim has the wrong type.',
  ERR_RP_VERIFIED_CLAIMS: 'verified_claims is missing or not the jp_aml / electronic_signature shape requested.',
} as const);

/** A code of {@link RP_ERROR_CODES}. */
export type RpErrorCode = keyof typeof RP_ERROR_CODES;

/** Base class of every relying-party error: a {@link MynaGateError} with an `ERR_RP_*` code. */
export class RpError extends MynaGateError {
  declare readonly code: RpErrorCode;
  constructor(code: RpErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** `ERR_RP_DISCOVERY`: discovery failed; the next call tries again. */
export class RpDiscoveryError extends RpError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_RP_DISCOVERY', `provider discovery failed: ${message}`, options);
  }
}

/**
 * `ERR_RP_NETWORK`: no HTTP answer from the provider. Retry later. The message ends with the reason at the bottom
 * of the `cause` chain, e.g. `request to https://id.example.jp/.well-known/openid-configuration failed:
 * self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)`.
 */
export class RpNetworkError extends RpError {
  /** The URL that failed (no query: it could hold a code). */
  readonly url: string;
  constructor(url: string, options?: ErrorOptions) {
    const reason = innermostReason(options?.cause);
    super('ERR_RP_NETWORK', `request to ${url} failed${reason === undefined ? '' : `: ${reason}`}`, options);
    this.url = url;
  }
}

/**
 * The deepest cause's message and `code`. fetch (undici) reports every failure as `TypeError: fetch failed` and
 * keeps why (DNS, TCP refused, TLS: `SELF_SIGNED_CERT_IN_CHAIN`, `CERT_HAS_EXPIRED`, …) one or more causes down,
 * where a log line printing `message` never looks.
 */
function innermostReason(cause: unknown): string | undefined {
  let inner = cause;
  for (let depth = 0; depth < 8 && isObject(inner) && isObject(inner.cause); depth++) inner = inner.cause;
  if (!isObject(inner)) return undefined;
  const code = typeof inner.code === 'string' && inner.code !== '' ? inner.code : undefined;
  const message = typeof inner.message === 'string' ? inner.message.split('\n', 1)[0]!.slice(0, 200) : '';
  if (message === '') return code;
  return code === undefined || message.includes(code) ? message : `${message} (${code})`;
}

function isObject(
  value: unknown,
): value is { readonly cause?: unknown; readonly code?: unknown; readonly message?: unknown } {
  return typeof value === 'object' && value !== null;
}

/** `ERR_RP_PAR`: the pushed authorization request was refused (RFC 9126 §2.3). */
export class RpParError extends RpError {
  /** The OAuth `error`, e.g. `invalid_request`, when the provider gave one. */
  readonly error: string | undefined;
  constructor(error: string | undefined, options?: ErrorOptions) {
    super('ERR_RP_PAR', `pushed authorization request refused${error ? `: ${error}` : ''}`, options);
    this.error = error;
  }
}

/** `ERR_RP_TRANSACTION_EXPIRED`: the stored transaction is too old to finish. Start again. */
export class RpTransactionExpiredError extends RpError {
  /** Age of the transaction, seconds. */
  readonly ageSeconds: number;
  constructor(ageSeconds: number) {
    super('ERR_RP_TRANSACTION_EXPIRED', `login transaction is ${ageSeconds} s old`);
    this.ageSeconds = ageSeconds;
  }
}

/** `ERR_RP_STATE`: the callback's `state` is not the transaction's (RFC 6749 §10.12). Never retry with this callback. */
export class RpStateError extends RpError {
  constructor(message = 'callback state does not match the transaction', options?: ErrorOptions) {
    super('ERR_RP_STATE', message, options);
  }
}

/** `ERR_RP_CALLBACK_INVALID`: the callback is not an authorization response of this provider (RFC 9207 `iss`, …). */
export class RpCallbackInvalidError extends RpError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_RP_CALLBACK_INVALID', `invalid callback: ${message}`, options);
  }
}

/**
 * `ERR_RP_AUTHORIZATION`: the provider returned an error response (RFC 6749 §4.1.2.1), e.g. `access_denied` when the
 * person cancelled, `login_required`. `error` is safe to branch on; `errorDescription` is for logs.
 */
export class RpAuthorizationError extends RpError {
  readonly error: string;
  readonly errorDescription: string | undefined;
  constructor(error: string, errorDescription: string | undefined, options?: ErrorOptions) {
    super('ERR_RP_AUTHORIZATION', `provider answered ${error}`, options);
    this.error = error;
    this.errorDescription = errorDescription;
  }
}

/**
 * `ERR_RP_TOKEN`: the token endpoint refused the code (RFC 6749 §5.2), e.g. `invalid_grant`, or its answer is not a
 * token response this client accepts (RFC 6749 §5.1: no `access_token`, a `token_type` other than Bearer). Start a
 * new login.
 */
export class RpTokenError extends RpError {
  /** The OAuth `error`, when the provider gave one. */
  readonly error: string | undefined;
  /** @param reason what was wrong with an answer that carried no OAuth `error` (for the message). */
  constructor(error: string | undefined, options?: ErrorOptions, reason?: string) {
    super(
      'ERR_RP_TOKEN',
      error
        ? `token request refused: ${error}`
        : reason
          ? `invalid token response: ${reason}`
          : 'token request refused',
      options,
    );
    this.error = error;
  }
}

/**
 * `ERR_RP_ID_TOKEN`: the ID token failed OIDC Core §3.1.3.7 validation: its signature (against the provider's JWKS),
 * key, `alg`, `iss`, `aud`, `azp`, `exp`, `iat`, or its form.
 */
export class RpIdTokenError extends RpError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_RP_ID_TOKEN', `invalid ID token: ${message}`, options);
  }
}

/** `ERR_RP_NONCE`: the ID token's nonce is not the transaction's (OIDC Core §3.1.3.7 step 11). */
export class RpNonceError extends RpError {
  constructor(options?: ErrorOptions) {
    super('ERR_RP_NONCE', 'ID token nonce does not match the transaction', options);
  }
}

/** `ERR_RP_ACR_NOT_MET`: the ID token's `acr` is weaker than requested (OIDC Core §3.1.2.1 `acr_values` is voluntary). */
export class RpAcrNotMetError extends RpError {
  readonly required: string;
  readonly actual: string | undefined;
  constructor(required: string, actual: string | undefined) {
    super('ERR_RP_ACR_NOT_MET', `acr ${actual ?? '(none)'} does not meet ${required}`);
    this.required = required;
    this.actual = actual;
  }
}

/** `ERR_RP_AMR_NOT_MET`: the ID token's `amr` (RFC 8176) lacks a method of a card login. */
export class RpAmrNotMetError extends RpError {
  /** The methods found missing, e.g. `['hwk']`, or `['pin|pwd']` when no knowledge factor was used. */
  readonly missing: readonly string[];
  readonly actual: readonly string[];
  constructor(missing: readonly string[], actual: readonly string[]) {
    super('ERR_RP_AMR_NOT_MET', `amr [${actual.join(', ')}] lacks ${missing.join(', ')}`);
    this.missing = Object.freeze([...missing]);
    this.actual = Object.freeze([...actual]);
  }
}

/**
 * `ERR_RP_STALE_AUTH`: `auth_time` is older than `max_age` allows (OIDC Core §3.1.2.1), missing, or older than the
 * request itself when a fresh login (`prompt=login`) was demanded.
 */
export class RpStaleAuthError extends RpError {
  /** `auth_time` of the ID token, epoch seconds (undefined when absent). */
  readonly authTime: number | undefined;
  /** The allowed age, seconds, when `max_age` was the rule broken. */
  readonly maxAgeSeconds: number | undefined;
  constructor(message: string, authTime: number | undefined, maxAgeSeconds: number | undefined) {
    super('ERR_RP_STALE_AUTH', message);
    this.authTime = authTime;
    this.maxAgeSeconds = maxAgeSeconds;
  }
}

/**
 * `ERR_RP_SUBJECT_MISMATCH`: the login was for one person (a step-up or age check of the person logged in, a
 * request made with `sub`, or with the middleware any login completed in a session that has a login) and another
 * person's card completed it. Nothing of the new login is kept: the earlier session stays as it was. Ask the person
 * to use their own card, or to log out first to switch people.
 */
export class RpSubjectMismatchError extends RpError {
  constructor(options?: ErrorOptions) {
    super(
      'ERR_RP_SUBJECT_MISMATCH',
      'the card used belongs to another person than the one this login was for: use the same card, or log out first',
      options,
    );
  }
}

/** `ERR_RP_USERINFO`: the userinfo request failed or answered for another `sub` (OIDC Core §5.3.2). */
export class RpUserinfoError extends RpError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_RP_USERINFO', `userinfo failed: ${message}`, options);
  }
}

/** `ERR_RP_CLAIM_MISSING`: a requested claim is in neither the ID token nor userinfo. */
export class RpClaimMissingError extends RpError {
  readonly claim: string;
  constructor(claim: string) {
    super('ERR_RP_CLAIM_MISSING', `claim ${claim} is missing`);
    this.claim = claim;
  }
}

/** `ERR_RP_CLAIM_INVALID`: a requested claim has the wrong type (e.g. `age_over_20` not a boolean). */
export class RpClaimInvalidError extends RpError {
  readonly claim: string;
  constructor(claim: string, expected: string) {
    super('ERR_RP_CLAIM_INVALID', `claim ${claim} must be ${expected}`);
    this.claim = claim;
  }
}

/**
 * `ERR_RP_VERIFIED_CLAIMS`: `verified_claims` is absent or not the requested shape (OIDC4IDA; japan-anchors §3.2).
 * `path` names the member that failed, e.g. `verification.evidence[0].issuer`; the message never carries a value.
 */
export class RpVerifiedClaimsError extends RpError {
  readonly path: string;
  constructor(path: string, problem: string) {
    super('ERR_RP_VERIFIED_CLAIMS', `verified_claims.${path} ${problem}`);
    this.path = path;
  }
}
