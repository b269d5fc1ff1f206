/**
 * Origins in the one exact form the token binds: `https://host[:port]` (Web eID, intl-anchors §1.1), lower-case,
 * IDN in punycode, no default port, no trailing slash, path, query, fragment or userinfo.
 */
import { TokenInvalidError } from './errors.ts';

/**
 * Returns `origin` when it is exactly in serialised origin form (WHATWG URL "origin" of an https URL), else throws.
 * Nothing is repaired: `https://example.jp/` is rejected, not trimmed, because the card signed the exact bytes.
 *
 * @throws TokenInvalidError `ERR_PKI_TOKEN_ORIGIN`
 * @example
 * ```ts
 * checkOrigin('https://bank.example.jp'); // ok
 * checkOrigin('https://bank.example.jp/'); // throws ERR_PKI_TOKEN_ORIGIN
 * ```
 */
export function checkOrigin(origin: string): string {
  let url: URL | undefined;
  try {
    url = typeof origin === 'string' && origin.length <= 255 + 16 ? new URL(origin) : undefined;
  } catch {
    url = undefined;
  }
  // url.origin drops path, query, fragment, userinfo and the default port, and lower-cases the host; so equality
  // with the input means the input had none of them.
  if (!url || url.protocol !== 'https:' || url.origin !== origin)
    throw new TokenInvalidError('ERR_PKI_TOKEN_ORIGIN', 'origin must be exactly https://host[:port]');
  return origin;
}
