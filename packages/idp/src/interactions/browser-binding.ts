/**
 * The browser binding of a login: an HttpOnly cookie holding the transaction id and a random key whose hash the
 * transaction keeps. Only the browser that opened the QR page has it, so only that browser can take the outcome,
 * whatever token anyone posts (the mix-up guard: a result is delivered only to the session that started it).
 *
 * Every cookie the provider sets is named by {@link cookieName}, node-oidc-provider's too (provider.ts), but for its
 * resume cookie, which cannot be `__Host-`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The login's binding cookie, before {@link cookieName}. */
const LOGIN = 'mynagate_login';

/**
 * A cookie's name on this issuer: `__Host-` first on an https issuer. A browser keeps a `__Host-` cookie only if it
 * is Secure, has `Path=/` and no Domain, and only from the host itself (RFC 6265bis §4.1.3.2), so a sibling
 * subdomain (`evil.example.jp` next to `id.example.jp`) can neither set nor shadow it: no login CSRF by cookie
 * tossing, no session fixation. On an http loopback issuer (development) names stay plain: browsers refuse a
 * prefixed cookie without Secure, and there is no sibling host to fear.
 *
 * @example
 * ```ts
 * cookieName('_session', true); // '__Host-_session'
 * ```
 */
export function cookieName(name: string, secure: boolean): string {
  return secure ? `__Host-${name}` : name;
}

/** Sets the login's binding cookie (see {@link setBindingCookie}). */
export function setBinding(
  res: ServerResponse,
  input: { readonly txn: string; readonly key: string; readonly secure: boolean; readonly maxAgeSeconds: number },
): void {
  setBindingCookie(res, LOGIN, input);
}

/** The login's binding this browser sent, if any (see {@link readBindingCookie}). */
export function readBinding(
  req: IncomingMessage,
  secure: boolean,
): { readonly txn: string; readonly key: string } | undefined {
  return readBindingCookie(req, LOGIN, secure);
}

/**
 * Sets a binding cookie `name` (its {@link cookieName}) to `<txn>.<key>`. `Path=/`, as `__Host-` requires: the
 * transaction it names is tied to its interaction anyway (`getOwned` checks the uid), so a narrower path would add
 * nothing but let a sibling subdomain plant a cookie there.
 */
export function setBindingCookie(
  res: ServerResponse,
  name: string,
  input: { readonly txn: string; readonly key: string; readonly secure: boolean; readonly maxAgeSeconds: number },
): void {
  const attributes = [
    `${cookieName(name, input.secure)}=${input.txn}.${input.key}`,
    'Path=/',
    `Max-Age=${input.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(input.secure ? ['Secure'] : []),
  ];
  res.appendHeader('set-cookie', attributes.join('; '));
}

/**
 * The binding cookie `name` this browser sent, if any: only under its {@link cookieName}, so on an https issuer a
 * plain or `__Secure-` one (which a sibling subdomain can set) is not read.
 */
export function readBindingCookie(
  req: IncomingMessage,
  name: string,
  secure: boolean,
): { readonly txn: string; readonly key: string } | undefined {
  for (const value of readCookies(req, cookieName(name, secure))) {
    const m = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (m !== null) return { txn: m[1]!, key: m[2]! };
  }
  return undefined;
}

/** The values of the cookies named exactly `name` that the browser sent (most specific path first), unchecked. */
export function readCookies(req: IncomingMessage, name: string): string[] {
  const values: string[] = [];
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}
