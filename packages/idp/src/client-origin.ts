/**
 * What a client's redirect URIs let the provider say about it, and so what it offers the client.
 *
 * A signed eKYC statement names the service by the origin of its redirect URI (ekyc/statement.ts), and the card may
 * sign only an origin in the one exact form `@mynagate/pki` `checkOrigin` takes: https, or http on a loopback host
 * beside a provider that is itself on loopback http ({@link statementOriginRule}). A native app's private-use URI
 * scheme (RFC 8252 §7.1, `jp.example.bank:/oauth2redirect`) has no origin: the WHATWG URL of one serialises its origin
 * as the string `"null"`. Hence the decision, per client:
 *
 * - a client whose every redirect URI a statement can name (https, claimed https "app links" / "universal links"
 *   included, or loopback http beside an http provider) gets card login and eKYC;
 * - any other client gets card login only: a request of its for eKYC (the card-signature ACR, or any claim only a
 *   verified identity answers: `verified_claims`, the basic-4, the derived claims) is refused before the person is
 *   asked for anything, `ERR_IDP_CLIENT_LOGIN_ONLY` (ekyc/login-only.ts), and no statement naming it is ever built.
 *
 * `mynagate serve --config` accepts, besides the first kind, only one kind of login-only client: a native one
 * (`application_type: "native"`) whose other redirect URIs are private-use ones ({@link privateUseScheme}) or
 * loopback IP ones (RFC 8252 §7.3, `http://127.0.0.1/cb`: node-oidc-provider takes any port of it at request time,
 * for a native client only; in clear, no statement names it beside an https provider). The provider holds every
 * client to the rule above, however it was registered.
 */
import { checkOrigin } from '@mynagate/pki';

/**
 * Which service origins a statement may name beside the provider at `providerOrigin`: exact https ones, and loopback
 * http ones only when the provider itself runs on loopback http (development; `resolveConfig` refuses http on any
 * other host). The one rule of the provider's statements and of `mynagate serve`'s start-up check of its clients.
 *
 * @example
 * ```ts
 * checkOrigin(origin, statementOriginRule('https://id.example.jp')); // https origins only
 * statementOriginRule('http://127.0.0.1:8080'); // { allowLoopbackHttp: true }
 * ```
 */
export function statementOriginRule(providerOrigin: string): { allowLoopbackHttp: boolean } {
  return { allowLoopbackHttp: providerOrigin.startsWith('http://') };
}

/**
 * The origin a signed statement names for a service that sends the person back to `redirectUri`, or `undefined`
 * when no statement can name it ({@link statementOriginRule}): a private-use scheme, http off the loopback host or
 * beside an https provider, anything that is not a URL.
 *
 * @example
 * ```ts
 * statementOrigin('https://bank.example.jp/cb', 'https://id.example.jp'); // 'https://bank.example.jp'
 * statementOrigin('jp.example.bank:/oauth2redirect', 'https://id.example.jp'); // undefined
 * ```
 */
export function statementOrigin(redirectUri: unknown, providerOrigin: string): string | undefined {
  const url = typeof redirectUri === 'string' ? URL.parse(redirectUri) : null;
  if (url === null) return undefined;
  try {
    return checkOrigin(url.origin, statementOriginRule(providerOrigin));
  } catch {
    return undefined;
  }
}

/**
 * Whether the provider at `providerOrigin` offers eKYC to a client registered with `redirectUris`: only when a
 * statement can name every one of them ({@link statementOrigin}). Decided per client, not per request, so that a
 * client is either one or the other whichever of its redirect URIs a request uses. No redirect URI: none.
 *
 * @example
 * ```ts
 * offersEkyc(['https://bank.example.jp/cb'], 'https://id.example.jp'); // true
 * offersEkyc(['https://bank.example.jp/app', 'jp.example.bank:/cb'], 'https://id.example.jp'); // false: login only
 * ```
 */
export function offersEkyc(redirectUris: readonly string[] | undefined, providerOrigin: string): boolean {
  return (
    Array.isArray(redirectUris) &&
    redirectUris.length > 0 &&
    redirectUris.every((uri) => statementOrigin(uri, providerOrigin) !== undefined)
  );
}

/**
 * RFC 8252 §7.1: a private-use URI scheme redirect names the app by a domain name it controls, in reverse order (so
 * at least one period), and, as there is no naming authority, only a single slash follows the scheme: no host.
 * Letters, digits and hyphens in each label (RFC 1035 §2.3.1), the first a letter (a URI scheme's, RFC 3986 §3.1).
 */
const PRIVATE_USE_REDIRECT = /^([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+):\/(?!\/)/i;

/**
 * The scheme (lower case, without the colon) of a native app's private-use URI scheme redirect as RFC 8252 §7.1 has
 * it, `jp.example.bank` of `jp.example.bank:/oauth2redirect`; `undefined` for anything else (http and https, a scheme
 * without a period such as `myapp:/cb`, one with a host such as `jp.example.bank://cb`, a string that is not a URL).
 *
 * @example
 * ```ts
 * privateUseScheme('jp.example.bank:/oauth2redirect'); // 'jp.example.bank'
 * privateUseScheme('myapp:/oauth2redirect'); // undefined
 * ```
 */
export function privateUseScheme(uri: string): string | undefined {
  const scheme = PRIVATE_USE_REDIRECT.exec(uri)?.[1];
  if (scheme === undefined || !URL.canParse(uri)) return undefined;
  return scheme.toLowerCase();
}

/**
 * What the pages, the companion and the consent record show beside the client's name for a request that sends the
 * person back to `redirectUri`: its origin for an http(s) one, else the app it names by its scheme,
 * `アプリ / app: jp.example.bank` (never the string `"null"` a private-use URI's origin is). Plain text: every page
 * escapes it as it escapes any text.
 *
 * @example
 * ```ts
 * clientOriginLabel('https://bank.example.jp/cb'); // 'https://bank.example.jp'
 * clientOriginLabel('jp.example.bank:/oauth2redirect'); // 'アプリ / app: jp.example.bank'
 * ```
 */
export function clientOriginLabel(redirectUri: unknown): string {
  const uri = typeof redirectUri === 'string' ? redirectUri : '';
  const url = URL.parse(uri);
  if (url !== null && (url.protocol === 'https:' || url.protocol === 'http:')) return url.origin;
  const scheme = url?.protocol.slice(0, -1);
  return scheme ? `アプリ / app: ${scheme}` : 'アプリ / app';
}
