/**
 * The OpenID Provider: node-oidc-provider configured for card login. Authorization code with PKCE S256 only,
 * private_key_jwt or client secrets, PAR, pairwise subjects, ES256 ID tokens, RP-initiated logout, and the card
 * ACRs. Every option is set here, once; the interaction pages are in `interactions/`.
 */
import Provider, {
  errors,
  interactionPolicy,
  type Client,
  type Configuration,
  type KoaContextWithOIDC,
} from 'oidc-provider';
import { isMynaGateError } from '@mynagate/errors';
import { ACR_CARD_AUTH, ACR_CARD_SIGN, ACR_VALUES } from './acr.ts';
import { accountFinder } from './account.ts';
import { CONFIDENTIAL_AUTH_METHODS, DEFAULT_AUTH_METHOD } from './client-origin.ts';
import {
  assertClaimsParameter,
  IDA_DISCOVERY,
  IDENTITY_CLAIMS_OPTION,
  validatePurpose,
} from './claims/provider-options.ts';
import { requestedClaims } from './claims/request.ts';
import { missingConsentDetails } from './consent/items.ts';
import { missingConsentPurposes } from './consent/purposes.ts';
import { meClient } from './consent/me.ts';
import { refuseLoginOnlyEkyc } from './ekyc/login-only.ts';
import { refuseUnpairedEkyc } from './ekyc/unpaired.ts';
import { ekycPrompt } from './ekyc/policy.ts';
import { ekycMode, resolveConfig, type IdpConfig, type ResolvedConfig } from './config.ts';
import { cookieKeys } from './lib/cookie-keys.ts';
import { IdpInteractionNotFoundError } from './errors.ts';
import { logInternal, STATIC_PAGE_HEADERS, staticPageHeaders, toHttpError } from './http-errors.ts';
import { html, page, raw } from './lib/html.ts';
import { cookieName } from './interactions/browser-binding.ts';
import { LOGIN_SESSION_SECONDS } from './login-credentials.ts';
import { pairwiseSubject } from './pairwise.ts';
import { checkRefreshCredentials } from './refresh-check.ts';
import { refreshTokenTtl, rotateRefreshToken } from './refresh-policy.ts';
import { loadExistingGrant } from './saved-grants.ts';

/**
 * Lifetimes in seconds. Codes are short (RFC 6749 §4.1.2 recommends at most 10 minutes; one is plenty). A refresh
 * token's is a function: what is left of its chain's 14 days (refresh-policy.ts).
 */
const TTL = Object.freeze({
  AuthorizationCode: 60,
  AccessToken: 600,
  IdToken: 600,
  ClientCredentials: 600,
  // The login's card is held as long (login-credentials.ts).
  Session: LOGIN_SESSION_SECONDS,
  Grant: 365 * 24 * 3600,
});

/**
 * Creates the provider. Mount `provider.callback()` at `/`; interactions live at `/interaction/:uid`.
 *
 * @example
 * ```ts
 * const provider = createProvider({ issuer, clients, jwks, cookieKeys, pairwiseSecret, verifier, stores });
 * http.createServer(provider.callback()).listen(3000);
 * ```
 * @throws TypeError for an invalid configuration (see {@link resolveConfig}), or when node-oidc-provider refuses a
 *   client's metadata.
 */
export function createProvider(config: IdpConfig): Provider {
  return buildProvider(resolveConfig(config));
}

/** {@link createProvider} for an already resolved configuration (the server resolves once and shares it). */
export function buildProvider(config: ResolvedConfig): Provider {
  // Path=/, as the `__Host-` prefix requires (providerCookieNames). node-oidc-provider would scope the interaction
  // cookie to `/interaction/<uid>`, but lets `cookies.short.path` override that (9.x spreads it over its own path;
  // test/cookie-prefix.test.ts fails should it stop). So a browser holds one interaction cookie: a login started in
  // another tab takes over from the one before. The resume cookie keeps its own path whatever is said here.
  const cookie = { signed: true, httpOnly: true, sameSite: 'lax' as const, secure: config.secure, path: '/' };
  const configuration: Configuration = {
    adapter: config.stores.adapter,
    // node-oidc-provider validates and keeps what it is given; hand it copies it may mutate.
    clients: [...config.clients.map((c) => structuredClone(c)), meClient(config.issuer, config.name)],
    jwks: structuredClone({ keys: [...config.jwks.keys] }) as Configuration['jwks'],
    cookies: {
      keys: cookieKeys(config.cookieKeys),
      names: providerCookieNames(config.secure),
      long: cookie,
      short: cookie,
    },
    // Without a signing-card pairing there is no eKYC (ekyc/unpaired.ts): discovery does not offer its ACR, the
    // OIDC4IA metadata or the identity claims (see {@link loginClaimsOnlyInDiscovery}).
    acrValues: ekycMode(config.ekyc) === 'off' ? [ACR_CARD_AUTH] : [...ACR_VALUES],
    // acr, amr and auth_time ride on the openid scope so every ID token says how the person logged in, asked for
    // or not (node-oidc-provider otherwise adds acr only for acr_values and amr only through the claims parameter).
    claims: { openid: ['sub', 'acr', 'amr', 'auth_time'], sid: null, iss: null, ...IDENTITY_CLAIMS_OPTION },
    conformIdTokenClaims: true,
    // A refresh asks the revocation sources again about the certificates the grant stands on (refresh-check.ts).
    findAccount: checkRefreshCredentials(
      accountFinder(config.stores.people, {
        identities: config.ekyc.identities,
        records: config.records,
        now: config.now,
        origin: config.origin,
      }),
      {
        verifier: config.verifier,
        logins: config.loginCredentials,
        identities: config.ekyc.identities,
        now: config.now,
      },
    ),
    // OIDC4IA `purpose`: what the data is for, shown on the consent screen and in the signed statement.
    // node-oidc-provider runs this validator on every authorization and pushed request, present or not, with the
    // client: there eKYC is refused, before any interaction, by a provider that cannot pair the signing card with the
    // login card (ekyc/unpaired.ts), and to a client that gets card login only (ekyc/login-only.ts).
    extraParams: {
      purpose: (ctx, value, client) => {
        validatePurpose(ctx, value);
        refuseUnpairedEkyc(ctx, config.ekyc.signingCardPair);
        refuseLoginOnlyEkyc(ctx, client, config.origin);
      },
    },
    discovery: ekycMode(config.ekyc) === 'off' ? {} : { ...IDA_DISCOVERY },
    responseTypes: ['code'],
    // RFC 9700 §2.1.1: PKCE for every client, S256 only (node-oidc-provider 9 supports no other method).
    pkce: { required: () => true },
    // `none` only for a native app, which cannot keep a secret (RFC 8252 §8.5; resolveConfig refuses it to any other
    // client): PKCE binds its code to the app instance, and its refresh tokens rotate (refresh-policy.ts), as
    // RFC 9700 §4.14.2 asks of a public client's. node-oidc-provider lets such a client revoke only its own tokens.
    // Such a client gets card login only, never eKYC (client-origin.ts `offersEkyc`): it authenticates nowhere.
    clientAuthMethods: [...CONFIDENTIAL_AUTH_METHODS, 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
      token_endpoint_auth_method: DEFAULT_AUTH_METHOD,
      ...(config.subjectTypes.includes('pairwise') ? { subject_type: 'pairwise' } : {}),
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256'],
      clientAuthSigningAlgValues: ['ES256', 'PS256', 'RS256', 'EdDSA'],
      requestObjectSigningAlgValues: ['ES256', 'PS256', 'RS256', 'EdDSA'],
    },
    subjectTypes: [...config.subjectTypes],
    pairwiseIdentifier: (_ctx, accountId, client) =>
      pairwiseSubject(config.pairwiseSecret, sectorOf(client), accountId),
    features: {
      devInteractions: { enabled: false },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      revocation: { enabled: true, allowedPolicy: ownTokensOnly },
      userinfo: { enabled: true },
      resourceIndicators: { enabled: false },
      // Our own OIDC4IA layer (node-oidc-provider has none): see claims/request.ts.
      claimsParameter: { enabled: true, assertClaimsParameter },
    },
    // UserInfo at /userinfo: `/me` is the person's own page (consent/me.ts), not node-oidc-provider's default.
    routes: { userinfo: '/userinfo' },
    interactions: {
      policy: policy(config),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    ttl: { ...TTL, RefreshToken: refreshTokenTtl, Interaction: config.loginTtlSeconds + 60 },
    // Every refresh rotates its token, within the chain's 14 days (refresh-policy.ts).
    rotateRefreshToken,
    loadExistingGrant,
    renderError,
  };
  const provider = new Provider(config.issuer, configuration);
  provider.use(resumeOwnInteractionOnly(provider));
  if (ekycMode(config.ekyc) === 'off') provider.use(loginClaimsOnlyInDiscovery);
  // A grant node-oidc-provider revokes (token revocation, a refresh token used twice, logout) takes its verified
  // identity with it: the basic-4 is kept no longer than the grant that needed it. A failed delete leaves it to its TTL,
  // and says so on the operator's log (`identity.delete_failed`: the code and the client, nothing personal).
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC | undefined, grantId: string) => {
    config.ekyc.identities.delete(grantId).catch((e: unknown) => {
      const clientId = ctx?.oidc?.client?.clientId;
      try {
        config.log({
          time: new Date(config.now()).toISOString(),
          event: 'identity.delete_failed',
          code: isMynaGateError(e) ? e.code : 'ERR_IDP_INTERNAL',
          ...(clientId === undefined ? {} : { client_id: clientId }),
        });
      } catch {
        // An event log must not throw (lib/log.ts); one that does loses this line, never the provider.
      }
    });
  });
  // node-oidc-provider answers an unexpected error (a store down during an authorization, say) with a bare
  // server_error: the log is the only trace of its cause.
  provider.on('server_error', (_ctx: unknown, error: unknown) => logInternal(error));
  return provider;
}

/**
 * Token revocation (RFC 7009 §2.1: the server checks that the token was issued to the client asking): a client
 * revokes its own tokens only. Another client's token is refused with `invalid_request` to a client that
 * authenticated; a public client (a native app: it proves no identity) gets the 200 of a token it cannot revoke, and
 * nothing is revoked. node-oidc-provider's own default, made explicit (its default warns at run time that it should
 * be replaced).
 */
const ownTokensOnly = async (_ctx: KoaContextWithOIDC, client: Client, token: { clientId?: string | undefined }) => {
  if (token.clientId === client.clientId) return true;
  if (client.clientAuthMethod === 'none') return false;
  throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
};

/** Cookies read as sent: `cookies` (Koa's, node-oidc-provider's parser) checks no signature then. */
const AS_SENT = Object.freeze({ signed: false });

const IDENTITY_CLAIM_NAMES: ReadonlySet<string> = new Set(Object.keys(IDENTITY_CLAIMS_OPTION));

/**
 * Discovery's `claims_supported` without the identity claims, for a provider that offers no eKYC. node-oidc-provider
 * lists every claim of its `claims` option, and they stay in it: dropped from it, a request for one would be ignored
 * rather than refused (`ERR_IDP_EKYC_UNPAIRED`, ekyc/unpaired.ts). So the document is trimmed after it is made.
 */
const loginClaimsOnlyInDiscovery: Parameters<Provider['use']>[0] = async (ctx, next) => {
  await next();
  if (ctx.oidc?.route !== 'discovery') return;
  const body = ctx.body as { claims_supported?: unknown } | undefined;
  if (Array.isArray(body?.claims_supported)) {
    body.claims_supported = body.claims_supported.filter((c: unknown) => !IDENTITY_CLAIM_NAMES.has(String(c)));
  }
};

/**
 * Before node-oidc-provider's router, on every request: its resume cookie (and `.sig`) is taken out of the request
 * unless it names the same interaction as the browser's interaction cookie. The resume
 * (`lib/actions/authorization/resume.js`) finishes whatever interaction the resume cookie names, not the one in the
 * path, and its router takes the resume path in any case, with a trailing slash, and for HEAD too; so no check on
 * `/auth/:uid` can stand in front of it, while a request without the cookie can resume nothing. On an https issuer the
 * resume cookie is `__Secure-` ({@link providerCookieNames}): a sibling subdomain could plant the one of a login it
 * finished with its own card, and the browser it lands in would resume it, logged in to the provider as that account
 * (login CSRF). The interaction cookie is `__Host-`, which only this host sets: node-oidc-provider sets both to the
 * interaction's uid at once, so they agree in the browser that started it, unless it has started another login since
 * (another tab: that one alone can finish). Both are read with the provider's own parser (the first cookie of each
 * name, as the resume reads it). On an http loopback issuer (development) the names are plain and the check runs the
 * same: it costs a normal login nothing, and one code path is what production runs.
 */
function resumeOwnInteractionOnly(provider: Provider): Parameters<Provider['use']>[0] {
  const resume = provider.cookieName('resume');
  const interaction = provider.cookieName('interaction');
  const names = new Set([resume, `${resume}.sig`]);
  return async (ctx, next) => {
    const named = ctx.cookies.get(resume, AS_SENT);
    if (named !== undefined && named !== ctx.cookies.get(interaction, AS_SENT)) {
      ctx.req.headers.cookie = withoutCookies(ctx.req.headers.cookie ?? '', names);
      // Fail closed should the header hold it in a form the parser reads and the filter does not.
      if ([...names].some((name) => ctx.cookies.get(name, AS_SENT) !== undefined)) {
        interactionNotFound(ctx);
        return;
      }
    }
    await next();
  };
}

/** A Cookie header without the cookies named in `names`, the other pairs as sent. */
function withoutCookies(header: string, names: ReadonlySet<string>): string {
  return header
    .split(';')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      return !names.has((eq === -1 ? pair : pair.slice(0, eq)).trim());
    })
    .join(';');
}

/**
 * The page of an unknown, expired or foreign interaction (`ERR_IDP_INTERACTION_NOT_FOUND`), as the interaction pages
 * show it (http-errors.ts `sendErrorPage`), for a context of node-oidc-provider.
 */
function interactionNotFound(ctx: Pick<KoaContextWithOIDC, 'status' | 'type' | 'body' | 'set'>): void {
  const { status, body } = toHttpError(new IdpInteractionNotFoundError());
  ctx.status = status;
  ctx.set({ ...STATIC_PAGE_HEADERS, 'cache-control': 'no-store' });
  ctx.type = 'html';
  ctx.body = page({
    title: 'エラー / Error',
    body: html`<h1>${body.message.ja}<span class="en" lang="en">${body.message.en}</span></h1>
      <p><code id="error">${body.error}</code></p>`,
  });
}

/**
 * The names of node-oidc-provider's cookies: `__Host-` ones on an https issuer (see {@link cookieName}), so a sibling
 * subdomain can plant none of them, but the resume cookie. node-oidc-provider always scopes that one to its resume
 * path (`/auth/<uid>`, over our `path`), and `__Host-` needs `Path=/`, so it gets `__Secure-`: never set over plain
 * http, but a sibling host on https can still plant one (with a Domain). So the provider reads a resume cookie only
 * when it names the browser's own `__Host-` interaction cookie ({@link resumeOwnInteractionOnly}).
 */
function providerCookieNames(secure: boolean): { session: string; interaction: string; resume: string } {
  return {
    session: cookieName('_session', secure),
    interaction: cookieName('_interaction', secure),
    resume: secure ? '__Secure-_interaction_resume' : '_interaction_resume',
  };
}

/** The sector of a client's private-use redirects: their schemes, each with its colon, sorted, once each. */
function privateUseSector(redirectUris: readonly string[]): string {
  const schemes = new Set<string>();
  for (const uri of redirectUris) {
    const protocol = URL.parse(uri)?.protocol;
    if (protocol !== undefined && protocol !== 'https:' && protocol !== 'http:') schemes.add(protocol);
  }
  return [...schemes].sort().join(' ');
}

/**
 * The sector of a client: its sector_identifier_uri host, else its (first) redirect URI host (OIDC Core §8.1); for a
 * first redirect URI that is not http(s), as a native app's private-use one (RFC 8252 §7.1,
 * `jp.example.bank:/oauth2redirect`), the schemes of all its private-use redirects, each with its colon, sorted and
 * space-separated (`jp.example.bank:`; {@link privateUseSector}). Such a URI has no host, or one
 * its app chose freely (`com.example.app://bank.example.jp/cb`), which must not make it the sector of the web service
 * on that host: a scheme with its colon is never a host, so the app's `sub`s are its own unless a
 * sector_identifier_uri, which the host's owner publishes, joins them with the service's.
 *
 * A native app's first redirect on loopback http (RFC 8252 §7.3, `http://127.0.0.1/cb`, any port at request time)
 * names the person's own computer, the same for every desktop app: its host as the sector would give every such app
 * the same `sub`s. Its sector is `loopback app <client_id>`, its own (a space is in no host and no scheme).
 */
function sectorOf(client: Client): string {
  const c = client as Client & { readonly sectorIdentifier?: string };
  const first = c.redirectUris?.[0];
  const scheme = typeof first === 'string' ? URL.parse(first)?.protocol : undefined;
  let sector = c.sectorIdentifier;
  if (c.sectorIdentifierUri === undefined && scheme !== undefined) {
    // Every private-use scheme of the client, not the first one's: node-oidc-provider asks for no sector identifier
    // of a client whose redirects have one host (a private-use URI has none), so an app registered with another's
    // scheme beside its own would otherwise get that app's `sub`s.
    if (scheme !== 'https:' && scheme !== 'http:') sector = privateUseSector(c.redirectUris ?? []);
    // node-oidc-provider takes http for a native client only on a loopback host.
    else if (scheme === 'http:' && c.applicationType === 'native') sector = `loopback app ${client.clientId}`;
  }
  if (typeof sector !== 'string' || sector === '')
    throw new TypeError(`client ${client.clientId} has no sector identifier`);
  return sector;
}

/**
 * The default policy plus one login check: a session that did not log in with the card does not satisfy a request
 * for card login. `max_age` and `prompt=login` already force a fresh login in the default `login` prompt.
 */
function policy(config: ResolvedConfig): interactionPolicy.Prompt[] {
  const prompts = interactionPolicy.base();
  const login = prompts.get('login');
  if (login === undefined) throw new Error('node-oidc-provider base policy lacks the login prompt');
  login.checks.add(
    new interactionPolicy.Check('card_login_required', 'card login is required', (ctx: KoaContextWithOIDC) => {
      const requested = ctx.oidc.params?.['acr_values'];
      if (typeof requested !== 'string' || !requested.split(' ').includes(ACR_CARD_AUTH)) {
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      }
      // A card signature session (eKYC) was a card login too: it satisfies a request for card login.
      return ctx.oidc.acr === ACR_CARD_AUTH || ctx.oidc.acr === ACR_CARD_SIGN
        ? interactionPolicy.Check.NO_NEED_TO_PROMPT
        : interactionPolicy.Check.REQUEST_PROMPT;
    }),
  );
  // Claim names are what node-oidc-provider's consent checks compare; what a verified or derived claim gives (which
  // verified claims, which prefectures asked about) is in the grant too (consent/items.ts), and more is asked again.
  const consent = prompts.get('consent');
  if (consent === undefined) throw new Error('node-oidc-provider base policy lacks the consent prompt');
  consent.checks.add(
    new interactionPolicy.Check(
      'claim_details_missing',
      'requested claims ask for more than was consented to',
      'consent_required',
      (ctx: KoaContextWithOIDC) => {
        const grant = ctx.oidc.grant;
        const missing = missingConsentDetails(
          requestedClaims(ctx.oidc.params?.['claims']),
          grant?.getOIDCClaims() ?? [],
          grant?.getRejectedOIDCClaims() ?? [],
        );
        return missing.length > 0 ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
      },
    ),
  );
  // The purpose of use is part of the consent (APPI): the same claims asked for another statement purpose or other
  // per-claim purposes than those consented are asked again (consent/purposes.ts). A grant that records no purpose
  // (made before they were recorded) is asked once more.
  consent.checks.add(
    new interactionPolicy.Check(
      'purpose_not_consented',
      'requested claims are asked for another purpose than was consented to',
      'consent_required',
      (ctx: KoaContextWithOIDC) => {
        const grant = ctx.oidc.grant;
        const clientId = ctx.oidc.client?.clientId;
        if (clientId === undefined) return interactionPolicy.Check.REQUEST_PROMPT;
        const missing = missingConsentPurposes(
          {
            requested: requestedClaims(ctx.oidc.params?.['claims']),
            requestPurpose: ctx.oidc.params?.['purpose'],
            purposes: config.ekyc.purposes,
            clientId,
          },
          grant?.getOIDCClaims() ?? [],
          grant?.getRejectedOIDCClaims() ?? [],
        );
        return missing.length > 0 ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
      },
    ),
  );
  // After login and consent: the card signature, when the request needs a verified identity and none kept serves,
  // or the signing certificate of the one kept no longer stands (ekyc/policy.ts).
  prompts.add(ekycPrompt(config.ekyc.identities, config.ekyc.purposes, { verifier: config.verifier, now: config.now }));
  return prompts;
}

/**
 * Errors the provider renders itself (bad redirect_uri, unknown client): the OAuth code and a safe description. A
 * resume without its interaction (SessionNotFound: no resume cookie, or one for an interaction that expired, was
 * finished, or is not this browser's) gets the page our interaction routes show for that.
 */
async function renderError(
  ctx: KoaContextWithOIDC,
  out: { error: string; error_description?: string | undefined },
  error: Error,
): Promise<void> {
  if (error instanceof errors.SessionNotFound) {
    interactionNotFound(ctx);
    return;
  }
  ctx.set(STATIC_PAGE_HEADERS);
  ctx.type = 'html';
  ctx.body = page({
    title: 'エラー / Error',
    body: html`<h1>ログインを続けられません<span class="en" lang="en">The login cannot continue</span></h1>
      <p>
        サービスの画面に戻って、もう一度お試しください。<span class="en" lang="en"
          >Go back to the service and try again.</span
        >
      </p>
      <p>
        <code id="error">${out.error}</code
        >${out.error_description ? html`: <span id="error_description">${out.error_description}</span>` : ''}
      </p>`,
  });
}

async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  // Either answer redirects to the post_logout_redirect_uri (node-oidc-provider checked it against the client's,
  // else dropped it): form-action must allow its origin, or the browser stops there. Without one it stays here.
  const back = ctx.oidc.params?.['post_logout_redirect_uri'];
  ctx.set(staticPageHeaders(typeof back === 'string' ? [back] : []));
  ctx.type = 'html';
  ctx.body = page({
    title: 'ログアウト / Log out',
    body: html`<h1>ログアウトしますか？<span class="en" lang="en">Log out?</span></h1>
      ${raw(form)}
      <p>
        <button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">ログアウト / Log out</button>
        <button class="secondary" type="submit" form="op.logoutForm">ログインしたままにする / Stay logged in</button>
      </p>`,
  });
}

async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.set(STATIC_PAGE_HEADERS);
  ctx.type = 'html';
  ctx.body = page({
    title: 'ログアウトしました / Logged out',
    body: html`<h1>ログアウトしました<span class="en" lang="en">You are logged out</span></h1>`,
  });
}
