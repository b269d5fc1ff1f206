/**
 * Cookie signatures for node-oidc-provider (`cookies.keys`), as the `cookies` package checks them: keygrip's format
 * (HMAC-SHA1 of `name=value`, base64url without padding, the first key signs, any key verifies), so cookies signed
 * by keygrip and by this verify alike and a rolling deployment mixes both.
 *
 * Why not keygrip itself: it compares signatures with `tsscmp`, which HMACs both sides again under a random Buffer
 * key, and node:crypto's `createHmac` probes a Buffer key with `isKeyObject`, which answers by catching a thrown
 * TypeError: two stack traces per cookie checked, about a tenth of a millisecond (2% of the provider's CPU per card
 * login). Here the keys are imported once as KeyObjects and signatures compared with `timingSafeEqual`.
 *
 * Even so, an HMAC costs about 4 us (node:crypto sets up a new OpenSSL context for each), and a login signs or checks
 * its cookies about thirty times, most of them a cookie this provider signed moments before (set by one response,
 * sent back with the next requests). The first key's signatures are kept for the latest {@link RECENT_SIGNED} values
 * signed or checked, so checking such a cookie again is a lookup and a fixed-time compare.
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { BoundedMap } from '@mynagate/pki';

/**
 * How many values' signatures are kept (oldest out first): a login's cookies come back within its seconds, so this
 * covers thousands of logins in flight, in at most a few megabytes (a cookie is at most 4 KB).
 */
const RECENT_SIGNED = 4096;

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
  // Values (as given: a signature is over their UTF-8 bytes) -> the first key's signature of them.
  const recent = new BoundedMap<string, string>(RECENT_SIGNED);
  const signFirst = (data: string): string => {
    let digest = recent.get(data);
    if (digest === undefined) recent.set(data, (digest = sign(data, imported[0]!)));
    return digest;
  };
  const index = (data: string, digest: string): number => {
    if (typeof digest !== 'string') return -1;
    const given = Buffer.from(digest);
    for (let i = 0; i < imported.length; i++) {
      const known = i === 0 ? recent.get(data) : undefined;
      const text = known ?? sign(data, imported[i]!);
      const expected = Buffer.from(text);
      // The length of a signature is public (27 characters for SHA-1); only the content is compared in fixed time.
      if (given.length === expected.length && timingSafeEqual(given, expected)) {
        // Kept only once it verified: values sent with wrong signatures never push out the genuine ones.
        if (i === 0 && known === undefined) recent.set(data, text);
        return i;
      }
    }
    return -1;
  };
  return Object.freeze({
    sign: signFirst,
    verify: (data: string, digest: string) => index(data, digest) > -1,
    index,
  });
}
