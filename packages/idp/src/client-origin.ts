/**
 * What a client's registration lets the provider say about it, and so what it offers the client: its redirect URIs
 * and how it authenticates at the token endpoint.
 *
 * A signed eKYC statement names the service by the origin of its redirect URI (ekyc/statement.ts), and the card may
 * sign only an origin in the one exact form `@mynagate/pki` `checkOrigin` takes: https, or http on a loopback host
 * beside a provider that is itself on loopback http ({@link statementOriginRule}). A native app's private-use URI
 * scheme (RFC 8252 §7.1, `jp.example.bank:/oauth2redirect`) has no origin: the WHATWG URL of one serialises its origin
 * as the string `"null"`. And the identity a signature proves (the signing certificate's basic-4: name, address,
 * birth date, sex, and whatever is derived from it) is law-grade personal data, handed over at the token and userinfo
 * endpoints: only to a client that authenticates there. A public client (`token_endpoint_auth_method: "none"`, a
 * native app, RFC 8252 §8.5) proves nothing there, so its code and tokens go to whoever completes the PKCE flow on
 * a device, claimed https redirects or not (FAPI 2.0 and the German eID's service-provider certificates draw the
 * same line). Hence the decision, per client:
 *
 * - a confidential client ({@link CONFIDENTIAL_AUTH_METHODS}) whose every redirect URI a statement can name (https,
 *   claimed https "app links" / "universal links" included, or loopback http beside an http provider) gets card
 *   login and eKYC;
 * - any other client, a public one included, gets card login only (pairwise `sub`, `acr`, `amr`): a request of its
 *   for eKYC (the card-signature ACR, or any claim only a verified identity answers: `verified_claims`, the basic-4,
 *   the derived claims) is refused before the person is asked for anything, `ERR_IDP_CLIENT_LOGIN_ONLY`
 *   (ekyc/login-only.ts), no statement naming it is ever built, and no identity is ever released to it (account.ts).
 *   A native app that needs eKYC has its own server redeem the code as a confidential client.
 *
 * `mynagate serve --config` accepts, besides the first kind, only two kinds of login-only client: a public native one
 * (`token_endpoint_auth_method: "none"` with `application_type: "native"`), and a native one whose other redirect URIs
 * are private-use ones ({@link privateUseScheme}) or loopback IP ones (RFC 8252 §7.3, `http://127.0.0.1/cb`:
 * node-oidc-provider takes any port of it at request time, for a native client only; in clear, no statement names it
 * beside an https provider). The provider holds every client to the rule above, however it was registered.
 */
import type { ClientMetadata } from 'oidc-provider';
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
 * The token endpoint authentication methods of a confidential client that the provider takes (RFC 6749 §2.1: a client
 * that can keep its credentials; `provider.ts` `clientAuthMethods`, with `none` for a public native app). Any other
 * method, `none` or one the provider does not take (`client_secret_jwt`, mTLS), is no proof of the client here: no eKYC.
 */
export const CONFIDENTIAL_AUTH_METHODS = Object.freeze([
  'private_key_jwt',
  'client_secret_basic',
  'client_secret_post',
] as const);

/** The `token_endpoint_auth_method` of a registration that names none (`provider.ts` `clientDefaults`). */
export const DEFAULT_AUTH_METHOD = 'private_key_jwt';

/**
 * What decides whether a client is offered eKYC: node-oidc-provider's `Client` is one; a registration's metadata is one
 * through {@link ekycClient}.
 */
export interface EkycClient {
  readonly redirectUris?: readonly string[] | undefined;
  /** Its `token_endpoint_auth_method`; unknown is no eKYC. */
  readonly clientAuthMethod?: string | undefined;
}

/**
 * Why a client gets card login only: `public-client`, it does not authenticate at the token endpoint (`none`, or a
 * method unknown here); `redirect-uri`, a signed statement cannot name one of its redirect URIs.
 */
export type LoginOnlyReason = 'public-client' | 'redirect-uri';

/**
 * The client a registration (node-oidc-provider client metadata, as `IdpConfig.clients` and `mynagate serve --config`
 * hold it) is, as far as {@link offersEkyc} asks: its redirect URIs, and its auth method or the provider's default.
 *
 * @example
 * ```ts
 * offersEkyc(ekycClient({ client_id: 'bank', redirect_uris: ['https://bank.example.jp/cb'] }), origin); // true
 * ```
 */
export function ekycClient(metadata: Pick<ClientMetadata, 'redirect_uris' | 'token_endpoint_auth_method'>): EkycClient {
  return {
    redirectUris: metadata.redirect_uris,
    clientAuthMethod: metadata.token_endpoint_auth_method ?? DEFAULT_AUTH_METHOD,
  };
}

/**
 * Why the provider at `providerOrigin` offers `client` card login only, or `undefined` when it offers it eKYC too:
 * `public-client` unless it authenticates at the token endpoint by one of {@link CONFIDENTIAL_AUTH_METHODS} (asked
 * first: no redirect URI makes a public client's tokens its own), then `redirect-uri` unless a statement can name
 * every redirect URI of its ({@link statementOrigin}). Decided per client, not per request, so that a client is
 * either one or the other whichever of its redirect URIs a request uses. Fails closed: no client, no auth method or
 * no redirect URI is card login only.
 *
 * @example
 * ```ts
 * loginOnlyReason({ redirectUris: ['https://bank.example.jp/app'], clientAuthMethod: 'none' }, origin); // 'public-client'
 * loginOnlyReason({ redirectUris: ['jp.example.bank:/cb'], clientAuthMethod: 'private_key_jwt' }, origin); // 'redirect-uri'
 * ```
 */
export function loginOnlyReason(client: EkycClient | undefined, providerOrigin: string): LoginOnlyReason | undefined {
  const method: unknown = client?.clientAuthMethod;
  if (!(CONFIDENTIAL_AUTH_METHODS as readonly unknown[]).includes(method)) return 'public-client';
  const redirectUris: unknown = client?.redirectUris;
  if (
    !Array.isArray(redirectUris) ||
    redirectUris.length === 0 ||
    !redirectUris.every((uri) => statementOrigin(uri, providerOrigin) !== undefined)
  ) {
    return 'redirect-uri';
  }
  return undefined;
}

/**
 * Whether the provider at `providerOrigin` offers eKYC to `client`: only to a confidential client whose every redirect
 * URI a statement can name ({@link loginOnlyReason} says why not).
 *
 * @example
 * ```ts
 * offersEkyc({ redirectUris: ['https://bank.example.jp/cb'], clientAuthMethod: 'private_key_jwt' }, origin); // true
 * offersEkyc({ redirectUris: ['https://bank.example.jp/app', 'jp.example.bank:/cb'], clientAuthMethod: 'private_key_jwt' }, origin); // false
 * offersEkyc({ redirectUris: ['https://bank.example.jp/app'], clientAuthMethod: 'none' }, origin); // false: public
 * ```
 */
export function offersEkyc(client: EkycClient | undefined, providerOrigin: string): boolean {
  return loginOnlyReason(client, providerOrigin) === undefined;
}

/**
 * What an operator's start-up message says of a client that gets card login only, by its {@link LoginOnlyReason}:
 * what to change for it to get eKYC.
 *
 * @example
 * ```ts
 * `client pub-app: … card login only: ${loginOnlyBecause('public-client')}`;
 * ```
 */
export function loginOnlyBecause(reason: LoginOnlyReason): string {
  return reason === 'public-client'
    ? "it is public (token_endpoint_auth_method none), and eKYC goes to a confidential client only: have the app's own server redeem the code with a key or a secret (private_key_jwt, client_secret_basic or client_secret_post)"
    : 'a signed eKYC statement cannot name one of its redirect URIs (a private-use scheme, or loopback http beside an https provider): register https ones';
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
