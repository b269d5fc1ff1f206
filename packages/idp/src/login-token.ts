/**
 * The card login token, in Web eID's format (`web-eid:1.0`, intl-anchors §1): the user-authentication certificate
 * and an RS256 signature over `SHA-256(origin) ‖ SHA-256(challenge)`. The origin binding makes a token relayed to
 * another site worthless; the single-use challenge makes a replay worthless.
 */
import { createHash } from 'node:crypto';
import { IdpTokenMalformedError } from './errors.ts';

/** A Web eID authentication token as the companion posts it. */
export interface LoginToken {
  /** The user-authentication certificate, base64 DER. Unverified until the verifier has validated its path. */
  readonly unverifiedCertificate: string;
  /** `RS256`: RSASSA-PKCS1-v1_5 with SHA-256, the one algorithm of the JPKI's RSA-2048 keys. */
  readonly algorithm: 'RS256';
  /** base64 signature over `SHA-256(origin) ‖ SHA-256(challenge)`. */
  readonly signature: string;
  readonly format: string;
  /** Which companion made it, e.g. `https://mynagate.example/cli 0.1.0`. */
  readonly appVersion?: string;
  /**
   * The challenge the card signed, as the companion's scan gave it. MynaGate's member beside Web eID's (a Web eID
   * parser ignores it): the provider takes the login's outstanding challenge only for a post that names it
   * (card-login.ts), so whoever merely knows the login's id (it is in every QR frame) cannot use up the companion's
   * challenge or put a refusal on the login's page.
   */
  readonly challenge: string;
}

/** What the verifier learns from a valid token: which certificate logged in. */
export interface VerifiedLogin {
  /** SHA-256 of the authentication certificate DER, lowercase hex: the credential's key. */
  readonly fingerprint: string;
  /** Lowercase hex. */
  readonly serialNumber: string;
  /** Issuer DN (RFC 4514). */
  readonly issuer: string;
  /** SHA-256 of the issuing CA's certificate, lowercase hex: with the serial, what names the certificate. */
  readonly issuerFingerprint: string;
  readonly kind: 'auth';
  readonly notAfter: Date;
  /**
   * The certificate, DER, when the verifier gives it (`@mynagate/pki`'s does). Kept with the login (it carries no
   * personal data, spec §8.2) so that a refresh of a grant made with it can ask again whether it is revoked
   * (login-credentials.ts, refresh-check.ts); without it such a refresh is refused.
   */
  readonly certificate?: Uint8Array;
}

/** What the token is checked against. */
export interface LoginTokenContext {
  /** The provider's own origin (scheme://host[:port]). */
  readonly origin: string;
  /** The challenge issued for this login by {@link LoginVerifier.issueChallenge}. */
  readonly challenge: string;
  /** The login transaction the challenge belongs to. */
  readonly sessionId: string;
}

/** A challenge as the verifier issues it. */
export interface IssuedChallenge {
  /** The text the card signs (hashed), e.g. base64 of 32 random bytes. */
  readonly nonce: string;
  /** Epoch ms. */
  readonly expiresAt: number;
}

/**
 * The seam to `@mynagate/pki`: `createVerifier(…)` satisfies it. The verifier issues challenges bound to a session
 * id (here: the login transaction) and, in `verifyLoginToken`, consumes the challenge and checks signature, origin,
 * certificate path, policy and revocation, rejecting with `ERR_PKI_*` codes.
 */
export interface LoginVerifier {
  /**
   * `alongside` (optional for a verifier to honour: the login writes its record itself when it was not called) is
   * called with the minted challenge and awaited with the challenge's own write, so both go in one round trip.
   */
  issueChallenge(
    sessionId: string,
    alongside?: (challenge: IssuedChallenge) => Promise<void>,
  ): Promise<IssuedChallenge>;
  /** `token` as an object, or as the JSON text a companion posted (parsed by the verifier, strictly). */
  verifyLoginToken(token: LoginToken | string, context: LoginTokenContext): Promise<VerifiedLogin>;
}

/**
 * Checks the shape of a posted token, the `challenge` it names included (not its validity: that is the verifier's job).
 *
 * @throws IdpTokenMalformedError (`ERR_IDP_TOKEN_MALFORMED`).
 */
export function parseLoginToken(value: unknown): LoginToken {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new IdpTokenMalformedError('not an object');
  const v = value as Record<string, unknown>;
  for (const name of ['unverifiedCertificate', 'algorithm', 'signature', 'format', 'challenge'] as const) {
    if (typeof v[name] !== 'string' || v[name] === '') throw new IdpTokenMalformedError(`${name} missing`);
    if ((v[name] as string).length > 16384) throw new IdpTokenMalformedError(`${name} too long`);
  }
  if (v['algorithm'] !== 'RS256') throw new IdpTokenMalformedError('algorithm must be RS256');
  if (v['appVersion'] !== undefined && typeof v['appVersion'] !== 'string') {
    throw new IdpTokenMalformedError('appVersion is not a string');
  }
  const token: LoginToken = {
    unverifiedCertificate: v['unverifiedCertificate'] as string,
    algorithm: 'RS256',
    signature: v['signature'] as string,
    format: v['format'] as string,
    ...(typeof v['appVersion'] === 'string' ? { appVersion: v['appVersion'] } : {}),
    challenge: v['challenge'] as string,
  };
  return Object.freeze(token);
}

/** The bytes the card signs (hashed once more by RS256): `SHA-256(origin) ‖ SHA-256(challenge)`, both UTF-8. */
export function loginSignedData(origin: string, challenge: string): Uint8Array {
  const a = createHash('sha256').update(origin, 'utf8').digest();
  const b = createHash('sha256').update(challenge, 'utf8').digest();
  return Buffer.concat([a, b]);
}

/** The parts of `@mynagate/card`'s `JpkiClient` a card login needs. */
export interface LoginCard {
  verify(key: 'auth', pin: string): Promise<void>;
  readCertificate(which: 'auth'): Promise<Uint8Array>;
  sign(key: 'auth', data: Uint8Array): Promise<Uint8Array>;
}

/** DER prefix of DigestInfo { sha256, NULL } (RFC 8017 §9.2 note 1); the hash follows. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * Makes a login token with a card, as a companion does: VERIFY the auth PIN, read the auth certificate, and have the
 * card sign DigestInfo(SHA-256(`SHA-256(origin) ‖ SHA-256(challenge)`)) (the card pads, spec §4.5). The token names
 * the challenge it answers ({@link LoginToken.challenge}), as the token post must.
 *
 * @example
 * ```ts
 * const token = await signLoginToken(new JpkiClient(transport), { origin, challenge, pin, appVersion: 'cli 0.1.0' });
 * ```
 * @throws the card's errors: `ERR_CARD_PIN_FORMAT`, `ERR_CARD_PIN_INCORRECT` (with `retriesLeft`),
 *   `ERR_CARD_PIN_BLOCKED`, `ERR_CARD_*` of the transport.
 */
export async function signLoginToken(
  card: LoginCard,
  input: { readonly origin: string; readonly challenge: string; readonly pin: string; readonly appVersion?: string },
): Promise<LoginToken> {
  await card.verify('auth', input.pin);
  const certificate = await card.readCertificate('auth');
  const hash = createHash('sha256').update(loginSignedData(input.origin, input.challenge)).digest();
  const signature = await card.sign('auth', Buffer.concat([SHA256_DIGEST_INFO, hash]));
  return Object.freeze({
    unverifiedCertificate: Buffer.from(certificate).toString('base64'),
    algorithm: 'RS256',
    signature: Buffer.from(signature).toString('base64'),
    format: 'web-eid:1.0',
    appVersion: input.appVersion ?? 'mynagate-idp',
    challenge: input.challenge,
  });
}
