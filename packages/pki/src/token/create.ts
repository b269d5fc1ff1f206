/**
 * Builds an authentication token from a card signature: the companion side (CLI today, phone app tomorrow).
 */
import { checkOrigin } from '../origin.ts';
import { sha256DigestInfo } from '../digest-info.ts';
import { TOKEN_FORMAT } from './format.ts';
import type { AuthTokenJson } from './format.ts';
import { authSignedData } from './signed-data.ts';

/** Inputs of {@link createAuthToken}. */
export interface CreateAuthTokenOptions {
  /** The DER authentication certificate read from the card (EF 000A, spec §3.1). */
  readonly certificate: Uint8Array;
  /** The relying origin, exactly `https://host[:port]`. */
  readonly origin: string;
  /** The challenge nonce as issued (base64 text). */
  readonly challenge: string;
  /**
   * Signs a DER DigestInfo with the auth key; the card pads PKCS#1 v1.5 itself (spec §4.5), e.g.
   * `(di) => card.sign('auth', di)`.
   */
  readonly sign: (digestInfo: Uint8Array) => Promise<Uint8Array>;
  /** Informational, e.g. `https://mynagate.example/cli/0.1.0`. */
  readonly appVersion?: string;
}

/**
 * Has the card sign `DigestInfo(SHA-256(SHA-256(origin) ‖ SHA-256(challenge)))` and wraps certificate and
 * signature as a `web-eid:1.0` token (RS256).
 *
 * @throws TokenInvalidError `ERR_PKI_TOKEN_ORIGIN` when `origin` is not in exact origin form; whatever `sign`
 *   throws (e.g. `ERR_CARD_PIN_INCORRECT`).
 * @example
 * ```ts
 * const token = await createAuthToken({ certificate, origin, challenge, sign: (di) => card.sign('auth', di) });
 * await fetch(url, { method: 'POST', body: JSON.stringify(token) });
 * ```
 */
export async function createAuthToken(options: CreateAuthTokenOptions): Promise<AuthTokenJson> {
  const { certificate, origin, challenge, sign, appVersion } = options;
  if (!(certificate instanceof Uint8Array)) throw new TypeError('certificate must be a Uint8Array');
  if (typeof challenge !== 'string' || challenge.length === 0) throw new TypeError('challenge must be a string');
  if (typeof sign !== 'function') throw new TypeError('sign must be a function');
  checkOrigin(origin);
  const signature = await sign(sha256DigestInfo(authSignedData(origin, challenge)));
  const token: AuthTokenJson = {
    unverifiedCertificate: Buffer.from(certificate).toString('base64'),
    algorithm: 'RS256',
    signature: Buffer.from(signature).toString('base64'),
    format: TOKEN_FORMAT,
    ...(appVersion === undefined ? {} : { appVersion }),
  };
  return Object.freeze(token);
}
