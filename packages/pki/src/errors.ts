/**
 * The errors of the trust core. One class per decision a caller makes; the `code` says which rule failed.
 * Messages never carry serials, names or other personal data: those travel in fields, and `toJSON()` drops them.
 */
import { MynaGateError } from '@mynagate/errors';

/**
 * The authentication token is not acceptable: malformed JSON, wrong format or algorithm, bad origin, or a
 * signature that does not verify over `SHA-256(origin) ‖ SHA-256(challenge)`. The login is refused.
 *
 * Codes: `ERR_PKI_TOKEN_MALFORMED`, `ERR_PKI_TOKEN_FORMAT`, `ERR_PKI_TOKEN_ALGORITHM`, `ERR_PKI_TOKEN_ORIGIN`,
 * `ERR_PKI_TOKEN_SIGNATURE`.
 */
export class TokenInvalidError extends MynaGateError {}

/**
 * The challenge presented with a token cannot be consumed. The login is refused and a new challenge is needed.
 *
 * Codes: `ERR_PKI_CHALLENGE_NOT_FOUND` (never issued, or swept after expiry), `ERR_PKI_CHALLENGE_EXPIRED`,
 * `ERR_PKI_CHALLENGE_USED` (replay), `ERR_PKI_CHALLENGE_WRONG_SESSION` (issued to another browser session).
 */
export class ChallengeError extends MynaGateError {}

/**
 * The certificate fails path validation (RFC 5280 §6.1) or the JPKI profile. `check` names the check that failed.
 *
 * Codes: `ERR_PKI_CERT_MALFORMED`, `ERR_PKI_WRONG_CERT_KIND`, `ERR_PKI_UNTRUSTED_ISSUER`, `ERR_PKI_BAD_SIGNATURE`,
 * `ERR_PKI_ANCHOR_EXPIRED`, `ERR_PKI_ANCHOR_NOT_YET_VALID`, `ERR_PKI_ISSUER_NOT_CA`, `ERR_PKI_CERT_EXPIRED`,
 * `ERR_PKI_CERT_NOT_YET_VALID`, `ERR_PKI_UNKNOWN_CRITICAL_EXTENSION`, `ERR_PKI_KEY_USAGE`, `ERR_PKI_EKU`,
 * `ERR_PKI_POLICY`.
 */
export class CertificateInvalidError extends MynaGateError {
  /** The name of the failed check, e.g. `validity` (see `pathChecks`). */
  readonly check: string;

  constructor(code: string, check: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.check = check;
  }
}

/** The certificate is revoked (`ERR_PKI_CERT_REVOKED`). Final: retrying does not help. */
export class CertificateRevokedError extends MynaGateError {
  /** When the issuer says it was revoked. */
  readonly revokedAt: Date;
  /** The CRL reason name (RFC 5280 §5.3.1), e.g. `keyCompromise`, or `unspecified`. */
  readonly reason: string;
  /** Which source answered: `ocsp`, `crl`, `platform`, … */
  readonly source: string;

  constructor(revokedAt: Date, reason: string, source: string) {
    super('ERR_PKI_CERT_REVOKED', `certificate revoked (${reason})`);
    this.revokedAt = revokedAt;
    this.reason = reason;
    this.source = source;
  }
}

/**
 * Revocation status could not be established, so the certificate is refused (fail closed). Retrying later may
 * help. `detail` says why for `ERR_PKI_REVOCATION_UNKNOWN`: `unknown` (the source does not know the
 * certificate), `unreachable` (a network error, a timeout, an HTTP 5xx, 408 or 429: it passes), `refused` (another
 * HTTP 4xx answer, e.g. a wrong API key or an unknown CA: the operator's to fix; the status is in the message),
 * `malformed` (the source answered, but not in its contract: a platform 200 that is not a JSON status), `stale`
 * (thisUpdate too old or nextUpdate passed), `future` (thisUpdate ahead of now beyond the skew), `unavailable` (no
 * source, no CRL covering the certificate, or, for `Verifier.signingStatus`, a source that does not answer by
 * reference: `RevocationSource.answersByReference`), `too_large` (an answer over the configured ceiling).
 *
 * The OCSP codes name a response that must not be trusted: `ERR_PKI_OCSP_MALFORMED`, `ERR_PKI_OCSP_STATUS`
 * (responseStatus not successful), `ERR_PKI_OCSP_CERT_ID`, `ERR_PKI_OCSP_RESPONSE_COUNT`, `ERR_PKI_OCSP_RESPONDER`
 * (not authorised, RFC 6960 §4.2.2.2), `ERR_PKI_OCSP_SIGNATURE`, `ERR_PKI_OCSP_NONCE` (possible replay),
 * `ERR_PKI_OCSP_UNKNOWN_CRITICAL_EXTENSION` (a critical extension we do not process, RFC 6960 §4.4).
 */
export class RevocationUnknownError extends MynaGateError {
  /** A short machine word refining the code, e.g. `stale`. */
  readonly detail: string;
  /** Which source failed: `ocsp`, `crl`, `platform`, … */
  readonly source: string;

  constructor(code: string, detail: string, source: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.detail = detail;
    this.source = source;
  }
}

/** The signing certificate does not carry a well-formed basic-4 identity (`ERR_PKI_IDENTITY_MALFORMED`). */
export class IdentityError extends MynaGateError {}

/**
 * A signed statement is refused: not canonical (`ERR_PKI_STATEMENT_MALFORMED`) or its signature does not verify
 * with the signing certificate (`ERR_PKI_STATEMENT_SIGNATURE`).
 */
export class StatementError extends MynaGateError {}

/**
 * The linking source cannot answer (`ERR_PKI_LINKS_UNAVAILABLE`); never guess a link. `detail` says why, with the
 * words of {@link RevocationUnknownError}'s: `unreachable` (retry later), `refused` (the operator's to fix),
 * `malformed`, `too_large`; `unknown` when a source did not say.
 */
export class LinksUnavailableError extends MynaGateError {
  /** A short machine word refining the code, e.g. `refused`. */
  readonly detail: string;

  constructor(code: string, message: string, options?: ErrorOptions & { readonly detail?: string }) {
    super(code, message, options);
    this.detail = options?.detail ?? 'unknown';
  }
}
