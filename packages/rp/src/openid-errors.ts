/**
 * The one place where openid-client's errors become `ERR_RP_*` errors. openid-client raises `ClientError` (with
 * oauth4webapi's `OAUTH_*` codes), `ResponseBodyError` (an OAuth error body), `AuthorizationResponseError` and
 * `WWWAuthenticateChallengeError`; which `ERR_RP_*` each becomes depends on the step that failed.
 */
import * as oidc from 'openid-client';
import {
  RpAuthorizationError,
  RpDiscoveryError,
  RpError,
  RpIdTokenError,
  RpNonceError,
  RpParError,
  RpCallbackInvalidError,
  RpStateError,
  RpTokenError,
  RpUserinfoError,
} from './errors.ts';

/** The protocol step that failed. */
export type Step = 'discovery' | 'par' | 'grant' | 'userinfo';

/** The first {@link RpError} in the cause chain (our fetch wrapper throws `ERR_RP_NETWORK` under openid-client). */
function rpCause(e: unknown): RpError | undefined {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    if (c instanceof RpError) return c;
  }
  return undefined;
}

/** The claim an oauth4webapi check was about (`OperationProcessingError.cause.claim`). */
function claimOf(e: oidc.ClientError): string | undefined {
  const ope = e.cause;
  const detail = ope instanceof Error ? ope.cause : undefined;
  return typeof detail === 'object' && detail !== null && typeof (detail as { claim?: unknown }).claim === 'string'
    ? (detail as { claim: string }).claim
    : undefined;
}

function stepError(step: Step, message: string, error: string | undefined, cause: unknown): RpError {
  switch (step) {
    case 'discovery':
      return new RpDiscoveryError(message, { cause });
    case 'par':
      return new RpParError(error, { cause });
    case 'grant':
      return new RpTokenError(error, { cause });
    case 'userinfo':
      return new RpUserinfoError(message, { cause });
  }
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
    return new RpAuthorizationError(e.error, e.error_description, { cause: e });
  }
  if (e instanceof oidc.ResponseBodyError) return stepError(step, e.error, e.error, e);
  if (e instanceof oidc.WWWAuthenticateChallengeError) return stepError(step, 'bearer challenge', undefined, e);
  if (e instanceof oidc.ClientError && step === 'grant') {
    const claim = claimOf(e);
    switch (e.code) {
      case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
        return claim === 'nonce'
          ? new RpNonceError({ cause: e })
          : new RpIdTokenError(`${claim ?? 'claim'} mismatch`, { cause: e });
      case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
        return new RpIdTokenError(`${claim ?? 'timestamp'} check failed`, { cause: e });
      case 'OAUTH_INVALID_RESPONSE': {
        // The callback checks openid-client repeats after ours (state, iss, code) and the ID token's own checks.
        const message = e.cause instanceof Error ? e.cause.message : e.message;
        if (message.includes('"state"')) return new RpStateError(undefined, { cause: e });
        if (/response parameter|"code"/.test(message) && !message.includes('ID Token')) {
          return new RpCallbackInvalidError(message, { cause: e });
        }
        return new RpIdTokenError(message, { cause: e });
      }
      case 'OAUTH_KEY_SELECTION_FAILED':
      case 'OAUTH_UNSUPPORTED_OPERATION':
        return new RpIdTokenError(e.message, { cause: e });
    }
  }
  const message = e instanceof Error ? e.message : String(e);
  return stepError(step, message, undefined, e);
}
