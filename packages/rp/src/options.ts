/**
 * The client's options: validated once at construction, then frozen (fastify's rule). Misuse is a TypeError.
 */
import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';

/** A private JWK for `private_key_jwt` (RFC 7523): EC P-256 (ES256), RSA (PS256 or RS256) or Ed25519 (EdDSA). */
export interface PrivateJwk extends JsonWebKey {
  /** Sent as the assertion's `kid`; set it when the provider holds several of the client's keys. */
  readonly kid?: string;
}

/** Options of `createMynaGateClient`. */
export interface MynaGateClientOptions {
  /** The provider's issuer identifier, e.g. `https://id.example.jp` (discovery is read from it once). */
  readonly issuer: string | URL;
  /** The client_id registered with the provider. */
  readonly clientId: string;
  /** For `client_secret_basic`. Give exactly one of `clientSecret` and `privateJwk`. */
  readonly clientSecret?: string;
  /** For `private_key_jwt` (the provider's default). Give exactly one of `clientSecret` and `privateJwk`. */
  readonly privateJwk?: PrivateJwk;
  /** The registered redirect URI the provider sends the browser back to. No query or fragment. */
  readonly redirectUri: string | URL;
  /** The HTTP client for every request to the provider. Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Allow an `http://` issuer on a loopback host (a development provider, `mynagate serve`). Default false. */
  readonly allowLoopbackHttp?: boolean;
  /** Clock, epoch ms. Default `Date.now`. Drives `max_age`, freshness and transaction expiry checks. */
  readonly now?: () => number;
  /** Tolerated clock difference with the provider, seconds. Default 5. */
  readonly clockToleranceSeconds?: number;
  /** Oldest transaction `complete` accepts, seconds. Default 600 (the provider's login page lives 300 s). */
  readonly transactionTtlSeconds?: number;
}

/** How the client authenticates at the token endpoint. */
export type ClientAuthentication =
  | { readonly method: 'client_secret_basic'; readonly secret: string }
  | {
      readonly method: 'private_key_jwt';
      readonly key: KeyObject;
      readonly alg: JwsAlg;
      readonly kid: string | undefined;
    };

/** The JWS algorithms the provider accepts for client assertions. */
export type JwsAlg = 'ES256' | 'PS256' | 'RS256' | 'EdDSA';

/** The validated options. */
export interface ResolvedOptions {
  /** As given (a URL object's `href`). */
  readonly issuerId: string;
  readonly issuer: URL;
  readonly clientId: string;
  readonly auth: ClientAuthentication;
  readonly redirectUri: URL;
  readonly fetch: typeof fetch;
  readonly insecureLoopback: boolean;
  readonly now: () => number;
  readonly clockToleranceSeconds: number;
  readonly transactionTtlSeconds: number;
}

/**
 * The loopback hosts, a copy of `@mynagate/pki`'s `isLoopbackHost` (this SDK depends on `@mynagate/errors` only):
 * `localhost`, `127.0.0.1` and `[::1]` exactly, the hosts whose http origin a card's token may name and a provider
 * may serve on. Not the rest of 127.0.0.0/8, which the provider refuses as an http issuer and as a redirect URI's
 * origin. test/loopback-hosts.test.ts asserts the same table as pki's.
 */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether `url` is `http:` on a loopback host ({@link LOOPBACK_HOSTS}). */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

function absoluteUrl(value: unknown, name: string): URL {
  if (typeof value !== 'string' && !(value instanceof URL)) throw new TypeError(`${name} must be a URL string`);
  try {
    return new URL(value);
  } catch {
    throw new TypeError(`${name} must be an absolute URL`);
  }
}

function seconds(value: unknown, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < min)
    throw new TypeError(`${name} must be an integer >= ${min}`);
  return value as number;
}

/**
 * Validates and freezes the options.
 *
 * @throws TypeError naming the first bad option.
 */
export function resolveOptions(options: MynaGateClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const issuer = absoluteUrl(options.issuer, 'issuer');
  const allowLoopbackHttp = options.allowLoopbackHttp ?? false;
  if (typeof allowLoopbackHttp !== 'boolean') throw new TypeError('allowLoopbackHttp must be a boolean');
  const insecureLoopback = issuer.protocol === 'http:';
  if (insecureLoopback && !(allowLoopbackHttp && isLoopbackHttp(issuer))) {
    throw new TypeError('issuer must be https (http only on a loopback host with allowLoopbackHttp: true)');
  } else if (!insecureLoopback && issuer.protocol !== 'https:') {
    throw new TypeError('issuer must be https');
  }
  if (typeof options.clientId !== 'string' || options.clientId === '') {
    throw new TypeError('clientId must be a non-empty string');
  }
  const redirectUri = absoluteUrl(options.redirectUri, 'redirectUri');
  if (redirectUri.search !== '' || redirectUri.hash !== '') {
    throw new TypeError('redirectUri must have no query or fragment');
  }
  if (redirectUri.protocol !== 'https:' && !isLoopbackHttp(redirectUri)) {
    // RFC 9700 §4.1.1 / RFC 6749 §3.1.2.1: the code must not travel in clear, except to this very machine.
    throw new TypeError('redirectUri must be https (or http on a loopback host)');
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function')
    throw new TypeError('fetch must be a function');
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('now must be a function');
  return Object.freeze({
    issuerId: typeof options.issuer === 'string' ? options.issuer : options.issuer.href,
    issuer,
    clientId: options.clientId,
    auth: clientAuthentication(options),
    redirectUri,
    fetch: options.fetch ?? globalThis.fetch,
    insecureLoopback,
    now: options.now ?? Date.now,
    clockToleranceSeconds: seconds(options.clockToleranceSeconds, 5, 'clockToleranceSeconds', 0),
    transactionTtlSeconds: seconds(options.transactionTtlSeconds, 600, 'transactionTtlSeconds', 1),
  });
}

function clientAuthentication(options: MynaGateClientOptions): ClientAuthentication {
  const { clientSecret, privateJwk } = options;
  if ((clientSecret === undefined) === (privateJwk === undefined)) {
    throw new TypeError('give exactly one of clientSecret and privateJwk');
  }
  if (clientSecret !== undefined) {
    if (typeof clientSecret !== 'string' || clientSecret === '') throw new TypeError('clientSecret must be a string');
    return Object.freeze({ method: 'client_secret_basic', secret: clientSecret });
  }
  if (typeof privateJwk !== 'object' || privateJwk === null || typeof privateJwk.d !== 'string') {
    throw new TypeError('privateJwk must be a private JWK (with d)');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: privateJwk as JsonWebKey, format: 'jwk' });
  } catch (e) {
    throw new TypeError('privateJwk is not a usable private key', { cause: e });
  }
  const alg = algorithmOf(privateJwk);
  if (privateJwk.kid !== undefined && typeof privateJwk.kid !== 'string')
    throw new TypeError('privateJwk.kid must be a string');
  return Object.freeze({ method: 'private_key_jwt', key, alg, kid: privateJwk.kid });
}

function algorithmOf(jwk: PrivateJwk): JwsAlg {
  const byKey: JwsAlg | undefined =
    jwk.kty === 'EC' && jwk.crv === 'P-256'
      ? 'ES256'
      : jwk.kty === 'OKP' && jwk.crv === 'Ed25519'
        ? 'EdDSA'
        : jwk.kty === 'RSA'
          ? 'PS256'
          : undefined;
  if (byKey === undefined) throw new TypeError('privateJwk must be EC P-256, RSA or Ed25519');
  if (jwk.alg === undefined) return byKey;
  const fits =
    jwk.alg === byKey || (jwk.kty === 'RSA' && jwk.alg === 'RS256') || (jwk.kty === 'OKP' && jwk.alg === 'Ed25519');
  if (!fits) throw new TypeError(`privateJwk.alg ${jwk.alg} does not fit its key type`);
  return jwk.alg === 'Ed25519' ? 'EdDSA' : (jwk.alg as JwsAlg);
}
