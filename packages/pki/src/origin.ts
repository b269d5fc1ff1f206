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

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

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
    (options.allowLoopbackHttp === true && url?.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
  if (!url || !secure || url.origin !== origin)
    throw new TokenInvalidError('ERR_PKI_TOKEN_ORIGIN', 'origin must be exactly https://host[:port]');
  return origin;
}
