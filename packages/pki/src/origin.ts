/**
 * Origins in the one exact form the token binds: `https://host[:port]` (Web eID, intl-anchors §1.1), lower-case,
 * IDN in punycode, no default port, no trailing slash, path, query, fragment or userinfo.
 */
import { TokenInvalidError } from './errors.ts';

/** Options of {@link checkOrigin}. */
export interface OriginOptions {
  /**
   * Also accept `http://localhost`, `http://127.0.0.1` and `http://[::1]` (with a port): loopback origins are
   * "potentially trustworthy" (W3C Secure Contexts §3.2), so a development server needs no TLS certificate. Off by
   * default; never for a public deployment.
   */
  readonly allowLoopbackHttp?: boolean;
}

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Whether `hostname` (a WHATWG `URL.hostname`: lower-case, IPv6 in brackets) is one of the loopback hosts whose http
 * origin {@link checkOrigin} takes with `allowLoopbackHttp`: `localhost`, `127.0.0.1` and `[::1]` exactly. Not the
 * rest of 127.0.0.0/8: a card's token names the origin in one form, and a provider, companion or bridge that took
 * `http://127.0.0.2` for loopback would start and then see every token refused (`ERR_PKI_TOKEN_ORIGIN`). Every
 * loopback test of this project is this one (the RP SDK, which depends on `errors` only, keeps a copy).
 *
 * @example
 * ```ts
 * isLoopbackHost(new URL('http://[::1]:3000').hostname); // true
 * isLoopbackHost('127.0.0.2'); // false
 * ```
 */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname);
}

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
export function checkOrigin(origin: string, options: OriginOptions = {}): string {
  let url: URL | undefined;
  try {
    url = typeof origin === 'string' && origin.length <= 255 + 16 ? new URL(origin) : undefined;
  } catch {
    url = undefined;
  }
  // url.origin drops path, query, fragment, userinfo and the default port, and lower-cases the host; so equality
  // with the input means the input had none of them.
  const secure =
    url?.protocol === 'https:' ||
    (options.allowLoopbackHttp === true && url?.protocol === 'http:' && isLoopbackHost(url.hostname));
  if (!url || !secure || url.origin !== origin)
    throw new TokenInvalidError('ERR_PKI_TOKEN_ORIGIN', 'origin must be exactly https://host[:port]');
  return origin;
}
