/**
 * The authentication token, Web eID `web-eid:1.x` compatible (intl-anchors §1.1). A JPKI card key is RSA and the
 * card only pads PKCS#1 v1.5 (spec §4.5), so `RS256` is the one algorithm: PS256 cannot come from a JPKI card and is
 * rejected like any other name (ERR_PKI_TOKEN_ALGORITHM) rather than accepted unused.
 */

/** The token as sent over the wire (JSON). */
export interface AuthTokenJson {
  /** Standard padded base64 of the DER authentication certificate. Untrusted client input. */
  readonly unverifiedCertificate: string;
  readonly algorithm: 'RS256';
  /** Standard padded base64 of the signature. */
  readonly signature: string;
  /** `web-eid:1` or `web-eid:1.N`. */
  readonly format: string;
  /** Informational only, never used for decisions, e.g. `https://mynagate.example/cli/0.1.0`. */
  readonly appVersion?: string;
}

/** A parsed token: bytes decoded, nothing verified yet. */
export interface AuthToken {
  readonly unverifiedCertificate: Uint8Array;
  readonly algorithm: 'RS256';
  readonly signature: Uint8Array;
  readonly format: string;
  readonly appVersion: string | undefined;
}

/** The format this library writes. */
export const TOKEN_FORMAT = 'web-eid:1.0';

/** Accepted formats: major 1 exactly, any minor (minor versions are backwards compatible). Not a prefix match. */
export const TOKEN_FORMAT_PATTERN = /^web-eid:1(?:\.(?:0|[1-9][0-9]{0,5}))?$/;

/** Allowed JWA names. */
export const TOKEN_ALGORITHMS: ReadonlySet<string> = new Set(['RS256']);

/** Token length bounds in characters (Web eID: 100..10 000). */
export const TOKEN_MIN_LENGTH = 100;
export const TOKEN_MAX_LENGTH = 10_000;
