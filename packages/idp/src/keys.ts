/**
 * The provider's signing keys as a private JWKS. node-oidc-provider signs with the first key of the wanted
 * algorithm and publishes every key's public half at the JWKS endpoint, so rotation is: put a new key first, keep the
 * previous ones a while so relying parties can still verify tokens signed before the switch.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';

/** A private JSON Web Key as node-oidc-provider takes it (RFC 7517). */
export interface PrivateJwk {
  readonly kty: string;
  readonly kid: string;
  readonly alg?: string;
  readonly use?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly d: string;
  readonly [member: string]: unknown;
}

/** A private JWKS, newest signing key first. */
export interface PrivateJwks {
  readonly keys: readonly PrivateJwk[];
}

/**
 * Generates an ES256 (P-256) signing key, `kid` = its RFC 7638 thumbprint.
 *
 * @example
 * ```ts
 * const jwks = { keys: [generateSigningKey()] };
 * ```
 */
export function generateSigningKey(): PrivateJwk {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  const { crv, x, y, d } = jwk;
  if (!crv || !x || !y || !d) throw new Error('P-256 key export lacks members');
  return Object.freeze({
    kty: 'EC',
    crv,
    x,
    y,
    d,
    kid: thumbprint({ crv, kty: 'EC', x, y }),
    alg: 'ES256',
    use: 'sig',
  });
}

/**
 * Returns a new JWKS with a fresh ES256 key first (it signs from now on) and at most `keep` of the previous keys
 * after it (still published, so tokens they signed keep verifying). Start a provider with the result.
 *
 * @example
 * ```ts
 * const next = rotateKeys(config.jwks, { keep: 1 });
 * ```
 * @throws TypeError when `jwks` is not a JWKS or `keep` is not a non-negative integer.
 */
export function rotateKeys(jwks: PrivateJwks, options: { readonly keep?: number } = {}): PrivateJwks {
  assertJwks(jwks);
  const keep = options.keep ?? 2;
  if (!Number.isInteger(keep) || keep < 0) throw new TypeError('keep must be a non-negative integer');
  return Object.freeze({ keys: Object.freeze([generateSigningKey(), ...jwks.keys.slice(0, keep)]) });
}

/** The public half of a JWKS (what the JWKS endpoint serves). */
export function publicJwks(jwks: PrivateJwks): { keys: Record<string, unknown>[] } {
  assertJwks(jwks);
  return { keys: jwks.keys.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub }) => pub) };
}

/**
 * Checks a private JWKS: an array of private keys with unique `kid`s and at least one ES256 key (ID tokens are ES256).
 *
 * @throws TypeError on any violation.
 */
export function assertJwks(jwks: unknown): asserts jwks is PrivateJwks {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new TypeError('jwks must be { keys: [private JWK, …] }');
  const kids = new Set<string>();
  for (const k of keys as unknown[]) {
    const key = k as Partial<PrivateJwk> | null;
    if (typeof key?.kty !== 'string' || typeof key.d !== 'string')
      throw new TypeError('jwks keys must be private JWKs');
    if (typeof key.kid !== 'string' || key.kid === '') throw new TypeError('every JWK needs a kid');
    if (kids.has(key.kid)) throw new TypeError(`duplicate kid ${key.kid}`);
    kids.add(key.kid);
  }
  if (!(keys as PrivateJwk[]).some(isEs256)) throw new TypeError('jwks needs an ES256 (P-256) key to sign ID tokens');
}

/** Whether a JWK can sign ES256: a P-256 key whose `alg`, if it names one, is ES256 (what {@link assertJwks} asks). */
export function isEs256(k: PrivateJwk): boolean {
  return k.kty === 'EC' && k.crv === 'P-256' && (k.alg ?? 'ES256') === 'ES256';
}

/** RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace. */
function thumbprint(members: { crv: string; kty: string; x: string; y: string }): string {
  const json = `{"crv":"${members.crv}","kty":"${members.kty}","x":"${members.x}","y":"${members.y}"}`;
  return createHash('sha256').update(json).digest('base64url');
}
