/**
 * The one place where openid-client's errors become `ERR_RP_*` errors. openid-client raises `ClientError` (with
 * oauth4webapi's `OAUTH_*` codes), `ResponseBodyError` (an OAuth error body), `AuthorizationResponseError` and
 * `WWWAuthenticateChallengeError`; which `ERR_RP_*` each becomes is decided by the step that failed, then by the
 * error's class and `code`:
 *
 * | step        | what failed                                                    | becomes                                   |
 * | ----------- | -------------------------------------------------------------- | ----------------------------------------- |
 * | `discovery` | anything                                                       | `ERR_RP_DISCOVERY`                        |
 * | `par`       | anything                                                       | `ERR_RP_PAR`                              |
 * | `callback`  | the authorization response (before the token request is sent)  | `ERR_RP_AUTHORIZATION` / `_CALLBACK_INVALID` |
 * | `token`     | the token response: an OAuth error, its status, its JSON        | `ERR_RP_TOKEN`                            |
 * | `token`     | the ID token in it: claims, timestamps, `alg`, key, signature   | `ERR_RP_ID_TOKEN` (`ERR_RP_NONCE`)        |
 * | `keys`      | the provider's JWKS, read to check the ID token's signature     | `ERR_RP_ID_TOKEN`                         |
 * | `userinfo`  | anything                                                       | `ERR_RP_USERINFO`                         |
 *
 * Our fetch wrapper's `ERR_RP_NETWORK` under any of them is passed on as it is.
 *
 * One code, `OAUTH_INVALID_RESPONSE` (also `OAUTH_PARSE_ERROR` and `OAUTH_UNSUPPORTED_OPERATION`), covers both a
 * malformed token response and a malformed ID token. oauth4webapi says which in the error's detail (`cause.cause`):
 * the response `body` for the former; the ID token's `claims`, `header`, the compact JWT, or the signature check's
 * `signature` for the latter. Only when the detail says neither (a later openid-client version) is the message read,
 * as a documented fallback: oauth4webapi names the ID token (`JWT`, `ID Token`) in every message about it.
 *
 * The `ERR_RP_*` error's `cause` is an {@link OpenidClientFailure}, never openid-client's error itself: that one's
 * detail holds what failed, e.g. the ID token's whole claim set (an identity proofing's verified name and birth date)
 * for a failed `exp` check, and `console.error(err)` prints causes in depth.
 */
import * as oidc from 'openid-client';
import {
  RpAuthorizationError,
  RpCallbackInvalidError,
  RpDiscoveryError,
  RpError,
  RpIdTokenError,
  RpNonceError,
  RpParError,
  RpTokenError,
  RpUserinfoError,
} from './errors.ts';

/**
 * The protocol step that failed. `callback`, `token` and `keys` are the three parts of one authorization code grant:
 * the client tells them apart by the requests it has sent (see `client.ts`).
 */
export type Step = 'discovery' | 'par' | 'callback' | 'token' | 'keys' | 'userinfo';

/**
 * What an `ERR_RP_*` error keeps of openid-client's error as its `cause`: its class (`type`), `code`, message and
 * stack (oauth4webapi's messages name claims, never their values), the claim an ID-token check was about, and of an
 * OAuth error answer its `error`, `error_description` and HTTP status. Never the error's detail (`cause`, `response`),
 * which a log of the error would print: the ID token's claim set (verified claims included), a token response with
 * its tokens, a userinfo answer, the callback's parameters.
 */
export class OpenidClientFailure extends Error {
  override readonly name = 'OpenidClientFailure';
  /** openid-client's error class: `ClientError`, `ResponseBodyError`, `AuthorizationResponseError`, … */
  readonly type: string;
  /** oauth4webapi's code, e.g. `OAUTH_JWT_TIMESTAMP_CHECK_FAILED`. */
  readonly code: string | undefined;
  /** The claim a failed ID-token check was about, e.g. `exp` (its name only). */
  readonly claim: string | undefined;
  /** The OAuth `error` of an error answer. */
  readonly error: string | undefined;
  readonly errorDescription: string | undefined;
  /** The HTTP status of an error answer. */
  readonly status: number | undefined;

  constructor(e: unknown) {
    const error = e instanceof Error ? e : undefined;
    super(error === undefined ? String(e) : error instanceof oidc.ClientError ? innerMessage(error) : error.message);
    const field = (name: string): unknown =>
      error === undefined ? undefined : (error as unknown as Record<string, unknown>)[name];
    const text = (name: string) => (typeof field(name) === 'string' ? (field(name) as string) : undefined);
    this.type = error?.name ?? typeof e;
    this.code = text('code');
    this.claim = error instanceof oidc.ClientError ? claimOf(error) : undefined;
    this.error = text('error');
    this.errorDescription = text('error_description');
    const status = field('status');
    this.status = typeof status === 'number' ? status : undefined;
    // openid-client's frames (where it failed), under this error's own first line.
    const frames = error?.stack?.split('\n').filter((line) => /^\s+at /.test(line)) ?? [];
    this.stack = [`${this.name}: ${this.message}`, ...frames].join('\n');
  }
}

/** The first {@link RpError} in the cause chain (our fetch wrapper throws `ERR_RP_NETWORK` under openid-client). */
function rpCause(e: unknown): RpError | undefined {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    if (c instanceof RpError) return c;
  }
  return undefined;
}

/** oauth4webapi's detail of an error: `ClientError.cause` is its own error, whose `cause` is the detail. */
function detailOf(e: oidc.ClientError): unknown {
  const inner = e.cause;
  return inner instanceof Error ? inner.cause : undefined;
}

/** The claim an oauth4webapi check was about (`detail.claim`). */
function claimOf(e: oidc.ClientError): string | undefined {
  const detail = detailOf(e);
  return typeof detail === 'object' && detail !== null && typeof (detail as { claim?: unknown }).claim === 'string'
    ? (detail as { claim: string }).claim
    : undefined;
}

/** Whether an `OAUTH_INVALID_RESPONSE`-like error of the token step is about the ID token, not the response body. */
function aboutIdToken(e: oidc.ClientError): boolean {
  const detail = detailOf(e);
  if (typeof detail === 'string') return true; // the compact JWT itself ("Invalid JWT")
  if (typeof detail === 'object' && detail !== null) {
    if ('claims' in detail || 'header' in detail || 'signature' in detail || 'alg' in detail) return true;
    if ('body' in detail) return false;
  }
  // Fallback, documented above: the message.
  const message = e.cause instanceof Error ? e.cause.message : e.message;
  return /JWT|ID Token/.test(message);
}

/** The message of oauth4webapi's own error under a `ClientError` (openid-client's is generic). */
function innerMessage(e: Error): string {
  return e.cause instanceof Error ? e.cause.message : e.message;
}

function stepError(step: Step, message: string, error: string | undefined, cause: unknown): RpError {
  switch (step) {
    case 'discovery':
      return new RpDiscoveryError(message, { cause });
    case 'par':
      return new RpParError(error, { cause });
    case 'callback':
      return new RpCallbackInvalidError(message, { cause });
    case 'token':
      return new RpTokenError(error, { cause }, error === undefined ? message : undefined);
    case 'keys':
      return new RpIdTokenError(`the provider's keys (jwks_uri) could not be read: ${message}`, { cause });
    case 'userinfo':
      return new RpUserinfoError(message, { cause });
  }
}

/** The token step by code: the ID token's checks, else the response's. */
function tokenError(e: oidc.ClientError): RpError {
  switch (e.code) {
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED': {
      // Only the ID token has claims here (iss, aud, azp, nonce).
      const claim = claimOf(e);
      return claim === 'nonce'
        ? new RpNonceError({ cause: new OpenidClientFailure(e) })
        : new RpIdTokenError(`${claim ?? 'claim'} mismatch`, { cause: new OpenidClientFailure(e) });
    }
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return new RpIdTokenError(`${claimOf(e) ?? 'timestamp'} check failed`, { cause: new OpenidClientFailure(e) });
    case 'OAUTH_KEY_SELECTION_FAILED':
      return new RpIdTokenError('no key of the provider matches its header (kid, alg)', {
        cause: new OpenidClientFailure(e),
      });
    case 'OAUTH_INVALID_RESPONSE':
    case 'OAUTH_PARSE_ERROR':
    case 'OAUTH_UNSUPPORTED_OPERATION':
      return aboutIdToken(e)
        ? new RpIdTokenError(innerMessage(e), { cause: new OpenidClientFailure(e) })
        : new RpTokenError(undefined, { cause: new OpenidClientFailure(e) }, innerMessage(e));
    default:
      // OAUTH_RESPONSE_IS_NOT_CONFORM (an unexpected status), OAUTH_RESPONSE_IS_NOT_JSON, …
      return new RpTokenError(undefined, { cause: new OpenidClientFailure(e) }, innerMessage(e));
  }
}

/** The keys step: the JWKS read, then the key chosen and the signature checked with it. */
function keysError(e: oidc.ClientError): RpError {
  if (e.code === 'OAUTH_KEY_SELECTION_FAILED') {
    return new RpIdTokenError('no key of the provider matches its header (kid, alg)', {
      cause: new OpenidClientFailure(e),
    });
  }
  if (aboutIdToken(e)) return new RpIdTokenError(innerMessage(e), { cause: new OpenidClientFailure(e) });
  return stepError('keys', innerMessage(e), undefined, new OpenidClientFailure(e));
}

/**
 * Maps an error thrown by openid-client during `step` to an `ERR_RP_*` error. A TypeError is a programmer error and
 * passes through.
 */
export function toRpError(e: unknown, step: Step): Error {
  const ours = rpCause(e);
  if (ours !== undefined) return ours;
  if (e instanceof TypeError) return e;
  if (e instanceof oidc.AuthorizationResponseError) {
    return new RpAuthorizationError(e.error, e.error_description, { cause: new OpenidClientFailure(e) });
  }
  const cause = new OpenidClientFailure(e);
  if (e instanceof oidc.ResponseBodyError) return stepError(step, e.error, e.error, cause);
  if (e instanceof oidc.WWWAuthenticateChallengeError) return stepError(step, 'bearer challenge', undefined, cause);
  if (e instanceof oidc.ClientError) {
    if (step === 'token') return tokenError(e);
    if (step === 'keys') return keysError(e);
    // Before the token request: the authorization response openid-client checks again after us (its form), or the
    // token request could not be built (an http endpoint, missing metadata): the token step's error.
    if (step === 'callback' && e.code !== 'OAUTH_INVALID_RESPONSE')
      return stepError('token', innerMessage(e), undefined, cause);
    return stepError(step, innerMessage(e), undefined, cause);
  }
  const message = e instanceof Error ? e.message : String(e);
  return stepError(step, message, undefined, cause);
}
