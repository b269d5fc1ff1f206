/**
 * Cookie signatures for node-oidc-provider (`cookies.keys`), as the `cookies` package checks them: keygrip's format
 * (HMAC-SHA1 of `name=value`, base64url without padding, the first key signs, any key verifies), so cookies signed
 * by keygrip and by this verify alike and a rolling deployment mixes both.
 *
 * Why not keygrip itself: it compares signatures with `tsscmp`, which HMACs both sides again under a random Buffer
 * key, and node:crypto's `createHmac` probes a Buffer key with `isKeyObject`, which answers by catching a thrown
 * TypeError: two stack traces per cookie checked, about a tenth of a millisecond (2% of the provider's CPU per card
 * login). Here the keys are imported once as KeyObjects and signatures compared with `timingSafeEqual`.
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** What `cookies` (and so Koa and node-oidc-provider) calls on `keys`; keygrip's interface. */
export interface CookieKeys {
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  index(data: string, digest: string): number;
}

/**
 * Cookie signing keys, the first signing (keys are strings, used as their UTF-8 bytes, as keygrip does).
 *
 * @throws TypeError without a key.
 * @example
 * ```ts
 * new Provider(issuer, { cookies: { keys: cookieKeys(['new-key', 'old-key']) } });
 * ```
 */
export function cookieKeys(keys: readonly string[]): CookieKeys {
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => typeof k !== 'string' || k === ''))
    throw new TypeError('cookie keys must be non-empty strings');
  const imported: readonly KeyObject[] = keys.map((k) => createSecretKey(Buffer.from(k, 'utf8')));
  const sign = (data: string, key: KeyObject) => createHmac('sha1', key).update(data).digest('base64url');
  const index = (data: string, digest: string): number => {
    if (typeof digest !== 'string') return -1;
    const given = Buffer.from(digest);
    for (let i = 0; i < imported.length; i++) {
      const expected = Buffer.from(sign(data, imported[i]!));
      // The length of a signature is public (27 characters for SHA-1); only the content is compared in fixed time.
      if (given.length === expected.length && timingSafeEqual(given, expected)) return i;
    }
    return -1;
  };
  return Object.freeze({
    sign: (data: string) => sign(data, imported[0]!),
    verify: (data: string, digest: string) => index(data, digest) > -1,
    index,
  });
}
