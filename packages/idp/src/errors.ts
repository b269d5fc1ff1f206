/**
 * The IdP's own errors: one class per decision a caller (the companion, the login page, a test) makes, each with a
 * stable `code`. Card (`ERR_CARD_*`) and certificate (`ERR_PKI_*`) errors pass through unchanged; `http-errors.ts`
 * is the one place that turns any of them into an HTTP answer.
 */
import { MynaGateError } from '@mynagate/errors';
import type { LoginOnlyReason } from './client-origin.ts';

/** Every IdP error code with the one-line description the docs print. */
export const IDP_ERROR_CODES = Object.freeze({
  ERR_IDP_QR_STALE: 'The QR code was scanned too late; the page shows a fresh one every second.',
  ERR_IDP_QR_INVALID: 'The QR code was not minted by this server for this login (wrong code or time).',
  ERR_IDP_LOGIN_NOT_FOUND: 'No such login transaction, or it expired.',
  ERR_IDP_CHALLENGE_INVALID:
    "The post did not present the outstanding challenge of this login (a card token's `challenge`) or of this eKYC signing (a signature's statement `nonce`): none was fetched, it was used, replaced by a later scan or expired, or the post named another one. Nothing changed: the companion that holds it can still post, and the page is not told.",
  ERR_IDP_LOGIN_FINISHED:
    'A card already answered this login: its token was accepted (or is being checked), so another scan or token for it is refused (HTTP 409), and the login never finishes as whoever answered last. To log in with another card, start again from the service.',
  ERR_IDP_SESSION_MISMATCH:
    'This browser session did not start this login; only the session that started it can finish it.',
  ERR_IDP_HANDOVER_MISMATCH:
    "A browser came back from `mynagate bridge` with a login's one-time code but did not start that login (HTTP 403): nothing was logged in, the code is used up, and the login's own page is told.",
  ERR_IDP_INTERACTION_NOT_FOUND:
    "The login interaction is missing, expired or not this browser's (its cookie absent, the request timed out, or a resume for another browser's login).",
  ERR_IDP_TOKEN_MALFORMED:
    'The card token is not a well-formed Web eID token, or it does not name the challenge it answers (`challenge`).',
  ERR_IDP_SIGN_CARD_MISMATCH:
    "The statement was signed on a card the person has not logged in with (by the J-LIS pairing of a card's two certificates): another person's card, or a renewed card not yet used to log in.",
  ERR_IDP_EKYC_UNPAIRED:
    "The request asked for eKYC (the card-signature ACR, `verified_claims`, basic-4 or derived claims), but the provider offers none: it has no way to tie a signing certificate to the card the person logged in with (`ekyc.signingCardPair` unset: no platform provider's links, and no explicit `'unchecked'`). Without it any valid signing certificate would do, so whoever scans a relayed signing QR code could put their identity on another's account. Refused before the person is asked for anything: at the authorization (or PAR) endpoint as OAuth `invalid_request` whose `error_description` starts with this code; the signing page and a posted signature refuse with it too (HTTP 403). The operator configures a pairing (`mynagate serve`: `platform`).",
  ERR_IDP_CLIENT_LOGIN_ONLY:
    "The client asked for eKYC (the card-signature ACR, `verified_claims`, basic-4 or derived claims) but is offered card login only: either it is a public client (`token_endpoint_auth_method` `none`, a native app), which does not authenticate at the token endpoint, so identity data would go to whoever completes the flow on a device (eKYC goes to confidential clients only: a native app has its own server redeem the code), or a signed statement names a service by its redirect URI's origin, and some redirect URI of this client has none a card may sign (a native app's private-use scheme, RFC 8252 §7.1, or its loopback http redirect beside an https provider, §7.3). Refused before the person is asked for anything: at the authorization (or PAR) endpoint as OAuth `invalid_request` whose `error_description` starts with this code, on a page as HTTP 403.",
  ERR_IDP_BAD_REQUEST: 'The request body or parameters are malformed.',
  ERR_IDP_METHOD_NOT_ALLOWED: 'This method is not allowed here.',
  ERR_IDP_BODY_TOO_LARGE:
    'The request body is larger than this endpoint takes (HTTP 413); the connection is closed after the answer.',
  ERR_IDP_INTERNAL: 'An unexpected failure inside the provider (HTTP 500); the answer carries no detail, the log does.',
  ERR_IDP_TOO_MANY_STREAMS:
    'A newer page of this login took over: a login has at most 4 event streams on a server, and a new one ends the oldest with this code in its last event (`refused`), so that the page stops and says the login continues in another tab or window. Never an HTTP answer.',
} as const);

/** A code of {@link IDP_ERROR_CODES}. */
export type IdpErrorCode = keyof typeof IDP_ERROR_CODES;

/** `ERR_IDP_QR_STALE`: the QR code is older than the allowed age (BankID's animated QR: a photo is useless soon after). */
export class IdpQrStaleError extends MynaGateError {
  /** How old the scanned code was, in seconds. */
  readonly ageSeconds: number;
  constructor(ageSeconds: number) {
    super('ERR_IDP_QR_STALE', `QR code is ${ageSeconds} s old`);
    this.ageSeconds = ageSeconds;
  }
}

/** `ERR_IDP_QR_INVALID`: the code does not match the HMAC of the login's QR secret, or its time is in the future. */
export class IdpQrInvalidError extends MynaGateError {
  constructor(detail: string) {
    super('ERR_IDP_QR_INVALID', `QR code invalid: ${detail}`);
  }
}

/** `ERR_IDP_LOGIN_NOT_FOUND`: unknown or expired login transaction. */
export class IdpLoginNotFoundError extends MynaGateError {
  constructor() {
    super('ERR_IDP_LOGIN_NOT_FOUND', 'login transaction not found or expired');
  }
}

/**
 * `ERR_IDP_CHALLENGE_INVALID`: the post did not present the outstanding challenge of the login (or the outstanding
 * statement's nonce, for an eKYC signature): none outstanding (never fetched, used, replaced by a later scan or
 * expired), or another one named.
 */
export class IdpChallengeInvalidError extends MynaGateError {
  constructor() {
    super('ERR_IDP_CHALLENGE_INVALID', 'not the outstanding challenge of this login');
  }
}

/**
 * `ERR_IDP_LOGIN_FINISHED`: a card already answered the login (a token post that presented its challenge holds it:
 * while the token is checked, and once it was accepted), so a later scan or token is refused. One login, one person:
 * the browser never finishes as whoever posted last.
 */
export class IdpLoginFinishedError extends MynaGateError {
  constructor() {
    super('ERR_IDP_LOGIN_FINISHED', 'a card already answered this login');
  }
}

/** `ERR_IDP_SESSION_MISMATCH`: the browser session asking is not the one that started the login (the mix-up guard). */
export class IdpSessionMismatchError extends MynaGateError {
  constructor() {
    super('ERR_IDP_SESSION_MISMATCH', 'this browser session did not start this login');
  }
}

/**
 * `ERR_IDP_HANDOVER_MISMATCH`: the browser that came back from the card-reader bridge with the one-time code is not
 * the browser that started the login (a page sent the person's bridge another browser's login link).
 */
export class IdpHandoverMismatchError extends MynaGateError {
  constructor() {
    super('ERR_IDP_HANDOVER_MISMATCH', 'the browser back from the bridge did not start this login');
  }
}

/** `ERR_IDP_INTERACTION_NOT_FOUND`: node-oidc-provider's `SessionNotFound` for an interaction. */
export class IdpInteractionNotFoundError extends MynaGateError {
  constructor(options?: ErrorOptions) {
    super('ERR_IDP_INTERACTION_NOT_FOUND', 'login interaction not found or expired', options);
  }
}

/**
 * `ERR_IDP_TOKEN_MALFORMED`: the posted token is not `{ unverifiedCertificate, algorithm, signature, format, challenge }`.
 */
export class IdpTokenMalformedError extends MynaGateError {
  constructor(detail: string) {
    super('ERR_IDP_TOKEN_MALFORMED', `malformed card token: ${detail}`);
  }
}

/** `ERR_IDP_BAD_REQUEST`: malformed body or parameters. */
export class IdpBadRequestError extends MynaGateError {
  constructor(detail: string) {
    super('ERR_IDP_BAD_REQUEST', `bad request: ${detail}`);
  }
}

/**
 * `ERR_IDP_SIGN_CARD_MISMATCH`: the signing certificate's card pairs with no authentication certificate of the
 * person logged in (`ekyc.signingCardPair`), so its identity is not attached to their account.
 */
export class IdpSignCardMismatchError extends MynaGateError {
  constructor() {
    super('ERR_IDP_SIGN_CARD_MISMATCH', 'the statement was signed on a card this person has not logged in with');
  }
}

/**
 * `ERR_IDP_EKYC_UNPAIRED`: the request needs a verified identity, and the provider offers no eKYC because nothing ties
 * a signing certificate to the login card (`ekyc.signingCardPair` unset, config.ts). Fails closed: without a pairing
 * any valid signing certificate would be accepted, and a signing QR code relayed to someone else (phishing) would put
 * their identity on the account that logged in. The authorization and PAR endpoints refuse such a request as OAuth
 * `invalid_request` with this code and message as its `error_description` (ekyc/unpaired.ts); the signing page and
 * a posted signature throw this error itself. Its message is ASCII without a double quote or backslash, as an
 * `error_description` must be (RFC 6749 §5.2).
 */
export class IdpEkycUnpairedError extends MynaGateError {
  constructor() {
    super(
      'ERR_IDP_EKYC_UNPAIRED',
      "eKYC needs the signing card paired with the login card (ekyc.signingCardPair, e.g. a platform provider's links); none is configured",
    );
  }
}

/**
 * `ERR_IDP_CLIENT_LOGIN_ONLY`: the client asked for eKYC but gets card login only (client-origin.ts
 * `loginOnlyReason`, its {@link IdpClientLoginOnlyError.reason}): it is a public client, which does not authenticate
 * at the token endpoint (`token_endpoint_auth_method: "none"`, a native app, RFC 8252 §8.5), so the identity would go
 * to whoever completes the flow on a device; or a signed statement could not name it by its redirect URI (a native
 * app's private-use scheme, RFC 8252 §7.1, or its loopback http redirect beside an https provider, §7.3).
 * The authorization endpoint refuses such a request as OAuth `invalid_request` with this code and message as its
 * `error_description` (ekyc/login-only.ts); the signing page and a signing transaction throw this error itself, should
 * a request get that far (a registration changed under an interaction).
 */
export class IdpClientLoginOnlyError extends MynaGateError {
  /** Why: `public-client` (no client authentication) or `redirect-uri` (no statement can name it). */
  readonly reason: LoginOnlyReason;
  constructor(reason: LoginOnlyReason) {
    super(
      'ERR_IDP_CLIENT_LOGIN_ONLY',
      `eKYC is not offered to this client (card login only): ${LOGIN_ONLY_WHY[reason]}`,
    );
    this.reason = reason;
  }
}

/** The end of each reason's message: ASCII without quotes, as an OAuth `error_description` (RFC 6749 §4.1.2.1). */
const LOGIN_ONLY_WHY: Readonly<Record<LoginOnlyReason, string>> = Object.freeze({
  'public-client':
    'it is a public client, with no client authentication at the token endpoint; identity data goes to a confidential client only',
  'redirect-uri': 'a signed statement cannot name its redirect URI',
});

/** `ERR_IDP_METHOD_NOT_ALLOWED`: the route exists for other methods. */
export class IdpMethodNotAllowedError extends MynaGateError {
  /** The methods the route takes, for the `Allow` header. */
  readonly allow: readonly string[];
  constructor(allow: readonly string[]) {
    super('ERR_IDP_METHOD_NOT_ALLOWED', 'method not allowed');
    this.allow = allow;
  }
}

/**
 * `ERR_IDP_BODY_TOO_LARGE`: the body is (or says in `content-length` it is) larger than the endpoint takes. The rest
 * of it is not read: the answer closes the connection.
 */
export class IdpBodyTooLargeError extends MynaGateError {
  /** The most the endpoint takes, in bytes. */
  readonly limit: number;
  constructor(limit: number) {
    super('ERR_IDP_BODY_TOO_LARGE', `request body larger than ${limit} bytes`);
    this.limit = limit;
  }
}

/**
 * `ERR_IDP_TOO_MANY_STREAMS`: a newer event stream of the login took over this one. A login has at most `limit`
 * streams on a node (its page holds one; a reload or a reconnect briefly two), and one more ends the oldest (most
 * likely dead, or a stale tab) with this error as its terminal `refused` event, which its page does not reconnect
 * from. Never an HTTP answer: the newer stream is always accepted.
 */
export class IdpTooManyStreamsError extends MynaGateError {
  /** The most streams one login may have open at once. */
  readonly limit: number;
  constructor(limit: number) {
    super('ERR_IDP_TOO_MANY_STREAMS', `a newer event stream of this login took over (at most ${limit} at once)`);
    this.limit = limit;
  }
}
