/**
 * The relying-party client: one call to start each kind of card login (login, step-up, identity proofing, age
 * check) and one `complete` to finish any of them. Authorization code + PKCE S256 + nonce + state on every request
 * (RFC 9700 §2.1.1), optional PAR (RFC 9126), ES256 ID tokens, and every result checked against what was asked.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as oidc from 'openid-client';
import { ACR_CARD_AUTH, ACR_CARD_SIGN } from './acr.ts';
import { ageCheckClaims, assertAgeThreshold, readAgeOver, type AgeCheck } from './age.ts';
import { checkAuthentication } from './authentication.ts';
import { checkIdToken } from './id-token.ts';
import {
  RpCallbackInvalidError,
  RpDiscoveryError,
  RpIdTokenError,
  RpNetworkError,
  RpStateError,
  RpTransactionExpiredError,
  RpAuthorizationError,
} from './errors.ts';
import { toRpError, type Step } from './openid-errors.ts';
import { resolveOptions, type MynaGateClientOptions, type ResolvedOptions } from './options.ts';
import {
  assertTransaction,
  type AgeCheckTransaction,
  type AgeThreshold,
  type CardLoginTransaction,
  type IdentityClaimName,
  type IdentityProofingTransaction,
  type Transaction,
} from './transaction.ts';
import {
  assertIdentityRequest,
  identityProofingClaims,
  readVerifiedIdentity,
  type ClaimsRequest,
  type VerifiedIdentity,
} from './verified-claims.ts';

/** Where to send the browser, and what to keep in the session until the callback. */
export interface AuthorizationRequest<T extends Transaction> {
  /** The provider's authorization URL: redirect the browser here (HTTP 302/303). */
  readonly url: URL;
  /** Store it server-side (it holds the PKCE verifier) and hand it to {@link MynaGateClient.complete}. */
  readonly transaction: T;
}

/** Options shared by every request. */
export interface RequestOptions {
  /** Push the request first (PAR, RFC 9126): the browser URL then carries only a `request_uri`. Default false. */
  readonly usePar?: boolean;
  /**
   * The person who must complete this login: their pairwise `sub` at this service, e.g. the person logged in, for a
   * step-up. `complete` refuses another person's card with `ERR_RP_SUBJECT_MISMATCH`. The provider is not told (it
   * takes no `login_hint`): the check is made on the result.
   */
  readonly sub?: string;
}

/** Options of {@link MynaGateClient.cardLogin}. */
export interface CardLoginOptions extends RequestOptions {
  /** Your own `state` (at least 16 characters of URL-safe randomness). Default: 32 random bytes. */
  readonly state?: string;
}

/** Options of {@link MynaGateClient.stepUp}. */
export interface StepUpOptions extends RequestOptions {
  /** The card login must be at most this old, seconds (`max_age`); with `prompt=login` it is new in any case. */
  readonly maxAgeSeconds: number;
}

/** Options of {@link MynaGateClient.identityProofing}. */
export interface IdentityProofingOptions extends RequestOptions {
  /** The verified claims wanted: only what the service needs (data minimisation). */
  readonly claims: readonly IdentityClaimName[];
  /** Why, shown to the person (OIDC4IDA `purpose`, 3–300 characters), e.g. `口座開設の本人確認のため`. */
  readonly purpose: string;
}

/** Options of {@link MynaGateClient.ageCheck}. */
export interface AgeCheckOptions extends RequestOptions {
  readonly over: AgeThreshold;
  /**
   * Why, shown to the person and in the statement they sign (OIDC4IDA `purpose`, 3–300 characters), e.g.
   * `酒類の販売のための年齢確認`. Default: the provider's (an age check).
   */
  readonly purpose?: string;
}

/**
 * A completed card login, as `complete` returns it (and the middleware's `onLogin` receives it): once, at the
 * callback. `idTokenClaims` and `idToken` hold everything the provider released, so do not keep the result whole in
 * a session: keep what the service needs later (usually `sub`; the middleware keeps a `SessionLogin`).
 */
export interface CardLoginResult {
  /** What was started: `login`, `step-up`, `identity` or `age`. */
  readonly kind: Transaction['kind'];
  /** The pairwise subject: the person's stable id at this service (one card, one person, one `sub`). */
  readonly sub: string;
  /** The authentication context class reached, e.g. `urn:mynagate:acr:card-auth`. */
  readonly acr: string;
  /** RFC 8176 methods, e.g. `['hwk', 'pin', 'sc']`. */
  readonly amr: readonly string[];
  /** When the person last used the card at the provider, epoch seconds. */
  readonly authTime: number;
  /** Every claim of the validated ID token. Login time only: it may hold what was released about the person. */
  readonly idTokenClaims: Readonly<Record<string, unknown>>;
  /** The ID token itself. Login time only, like {@link CardLoginResult.idTokenClaims}: it carries the same claims. */
  readonly idToken: string;
}

/** A completed identity proofing. */
export interface IdentityProofingResult extends CardLoginResult {
  readonly kind: 'identity';
  /** Verified personal data: store it with the service's own records (e.g. AML), never in a session. */
  readonly identity: VerifiedIdentity;
}

/** A completed age check. */
export interface AgeCheckResult extends CardLoginResult {
  readonly kind: 'age';
  readonly age: AgeCheck;
}

/** Any completion. */
export type CompletionResult = CardLoginResult | IdentityProofingResult | AgeCheckResult;

/** Options of {@link MynaGateClient.logoutUrl}. */
export interface LogoutOptions {
  /** An ID token of this client for the person, sent as `id_token_hint`. */
  readonly idToken?: string;
  /** Where the provider sends the browser afterwards: one of the client's registered `post_logout_redirect_uris`. */
  readonly postLogoutRedirectUri?: string;
}

/** A relying party of one MynaGate provider. */
export interface MynaGateClient {
  readonly issuer: string;
  readonly clientId: string;
  readonly redirectUri: string;
  /**
   * The tolerated clock difference with the provider, seconds (`clockToleranceSeconds`); the middleware's too (5 when
   * absent: an implementation of this interface written before it existed).
   */
  readonly clockToleranceSeconds?: number;
  /**
   * Starts a card login (`acr_values=urn:mynagate:acr:card-auth`).
   *
   * @throws `ERR_RP_DISCOVERY`, `ERR_RP_NETWORK`, `ERR_RP_PAR`; TypeError for a bad option.
   */
  cardLogin(options?: CardLoginOptions): Promise<AuthorizationRequest<CardLoginTransaction>>;
  /**
   * Starts a step-up: a fresh card login now (`prompt=login` + `max_age`), e.g. before a transfer. The result's
   * `auth_time` must be newer than this request.
   *
   * @throws as {@link MynaGateClient.cardLogin}.
   */
  stepUp(options: StepUpOptions): Promise<AuthorizationRequest<CardLoginTransaction>>;
  /**
   * Starts identity proofing by card signature (`acr_values=urn:mynagate:acr:card-sign`) with the OIDC4IDA
   * `verified_claims` request (trust framework `jp_aml`, `electronic_signature` evidence).
   *
   * @throws as {@link MynaGateClient.cardLogin}.
   */
  identityProofing(options: IdentityProofingOptions): Promise<AuthorizationRequest<IdentityProofingTransaction>>;
  /**
   * Starts an age check: a card login asking only `age_over_18` or `age_over_20`.
   *
   * @throws as {@link MynaGateClient.cardLogin}.
   */
  ageCheck(options: AgeCheckOptions): Promise<AuthorizationRequest<AgeCheckTransaction>>;
  /**
   * Finishes any request at the callback: checks state, exchanges the code (PKCE), validates the ID token (its
   * signature against the provider's JWKS, `alg`, `iss`, `aud`, `azp`, `exp`, nonce), the person (`sub`, when the
   * request named one), then `acr`, `amr` and `auth_time` against what was asked, then the requested claims. Take
   * the transaction out of the session before calling it: it is good for one callback, whatever the outcome.
   *
   * @param callbackUrl the URL the browser came back to (only its query is read), or the query itself.
   * @throws `ERR_RP_TRANSACTION_EXPIRED`, `ERR_RP_STATE`, `ERR_RP_AUTHORIZATION`, `ERR_RP_CALLBACK_INVALID`,
   *   `ERR_RP_TOKEN`, `ERR_RP_ID_TOKEN`, `ERR_RP_NONCE`, `ERR_RP_SUBJECT_MISMATCH` (a request made with `sub`),
   *   `ERR_RP_ACR_NOT_MET`, `ERR_RP_AMR_NOT_MET`,
   *   `ERR_RP_STALE_AUTH`, `ERR_RP_USERINFO`, `ERR_RP_CLAIM_MISSING`, `ERR_RP_CLAIM_INVALID`,
   *   `ERR_RP_VERIFIED_CLAIMS`, `ERR_RP_NETWORK`; TypeError for a malformed transaction or another client's.
   */
  complete(transaction: CardLoginTransaction, callbackUrl: string | URL): Promise<CardLoginResult>;
  complete(transaction: IdentityProofingTransaction, callbackUrl: string | URL): Promise<IdentityProofingResult>;
  complete(transaction: AgeCheckTransaction, callbackUrl: string | URL): Promise<AgeCheckResult>;
  complete(transaction: Transaction, callbackUrl: string | URL): Promise<CompletionResult>;
  /**
   * The provider's RP-initiated logout URL (OIDC RP-Initiated Logout 1.0 §2), always with `client_id`. `idToken`
   * becomes `id_token_hint` when given; without it (the middleware keeps no ID token) the provider asks the person
   * to confirm the logout.
   *
   * @example
   * ```ts
   * await req.mynagate!.logout();
   * res.redirect((await client.logoutUrl()).href);
   * ```
   * @throws `ERR_RP_DISCOVERY`, `ERR_RP_NETWORK`; TypeError for a bad option.
   */
  logoutUrl(options?: LogoutOptions): Promise<URL>;
  /** Reads discovery now (it is otherwise read on first use, once). @throws `ERR_RP_DISCOVERY`, `ERR_RP_NETWORK`. */
  discover(): Promise<void>;
}

/**
 * Creates a client. Discovery happens on first use and is cached (a failed discovery is retried next time).
 *
 * @example
 * ```ts
 * const mg = createMynaGateClient({ issuer: 'https://id.example.jp', clientId: 'bank', privateJwk, redirectUri: 'https://bank.example/cb' });
 * const { url, transaction } = await mg.cardLogin();
 * session.mg = transaction; res.redirect(url.href);
 * // at https://bank.example/cb: take the transaction out first (one use, even when complete throws)
 * const pending = session.mg; delete session.mg;
 * const { sub, authTime } = await mg.complete(pending, req.originalUrl);
 * await session.regenerate(); session.sub = sub; // a new session id after login (session fixation)
 * ```
 * @throws TypeError for invalid options (see {@link MynaGateClientOptions}).
 */
export function createMynaGateClient(options: MynaGateClientOptions): MynaGateClient {
  return new Client(resolveOptions(options));
}

const STATE = /^[A-Za-z0-9._~-]{16,512}$/;

class Client implements MynaGateClient {
  readonly #o: ResolvedOptions;
  #configuration: Promise<oidc.Configuration> | undefined;

  constructor(options: ResolvedOptions) {
    this.#o = options;
  }

  get issuer(): string {
    return this.#o.issuerId;
  }
  get clientId(): string {
    return this.#o.clientId;
  }
  get redirectUri(): string {
    return this.#o.redirectUri.href;
  }
  get clockToleranceSeconds(): number {
    return this.#o.clockToleranceSeconds;
  }

  async discover(): Promise<void> {
    await this.#config();
  }

  async cardLogin(options: CardLoginOptions = {}): Promise<AuthorizationRequest<CardLoginTransaction>> {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    if (options.state !== undefined && (typeof options.state !== 'string' || !STATE.test(options.state))) {
      throw new TypeError('state must be 16–512 URL-safe characters');
    }
    return this.#start({ kind: 'login', acr: ACR_CARD_AUTH }, {}, options, options.state);
  }

  async stepUp(options: StepUpOptions): Promise<AuthorizationRequest<CardLoginTransaction>> {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const maxAge = options.maxAgeSeconds;
    if (!Number.isSafeInteger(maxAge) || maxAge < 0) throw new TypeError('maxAgeSeconds must be an integer >= 0');
    return this.#start(
      { kind: 'step-up', acr: ACR_CARD_AUTH, maxAge, prompt: 'login' },
      { prompt: 'login', max_age: String(maxAge) },
      options,
    );
  }

  async identityProofing(options: IdentityProofingOptions): Promise<AuthorizationRequest<IdentityProofingTransaction>> {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    assertIdentityRequest(options.claims, options.purpose);
    return this.#start(
      { kind: 'identity', acr: ACR_CARD_SIGN, claims: Object.freeze([...options.claims]) },
      // OIDC4IDA § Purpose: the request-level `purpose` is shown to the person at consent.
      { claims: JSON.stringify(identityProofingClaims(options.claims, options.purpose)), purpose: options.purpose },
      options,
    );
  }

  async ageCheck(options: AgeCheckOptions): Promise<AuthorizationRequest<AgeCheckTransaction>> {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    assertAgeThreshold(options.over);
    const { purpose } = options;
    if (purpose !== undefined && (typeof purpose !== 'string' || [...purpose].length < 3 || [...purpose].length > 300))
      throw new TypeError('purpose must be a string of 3 to 300 characters');
    return this.#start(
      { kind: 'age', acr: ACR_CARD_AUTH, over: options.over },
      {
        claims: JSON.stringify(ageCheckClaims(options.over) satisfies ClaimsRequest),
        ...(purpose === undefined ? {} : { purpose }),
      },
      options,
    );
  }

  async #start<T extends Transaction>(
    fields: Omit<T, 'v' | 'clientId' | 'state' | 'nonce' | 'codeVerifier' | 'createdAt' | 'sub'>,
    extra: Record<string, string>,
    options: RequestOptions,
    state?: string,
  ): Promise<AuthorizationRequest<T>> {
    if (options.usePar !== undefined && typeof options.usePar !== 'boolean')
      throw new TypeError('usePar must be a boolean');
    if (options.sub !== undefined && (typeof options.sub !== 'string' || options.sub === ''))
      throw new TypeError('sub must be a non-empty string');
    const config = await this.#config();
    const transaction = Object.freeze({
      v: 1,
      ...fields,
      clientId: this.#o.clientId,
      state: state ?? oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier: oidc.randomPKCECodeVerifier(),
      createdAt: this.#o.now(),
      ...(options.sub === undefined ? {} : { sub: options.sub }),
    }) as unknown as T;
    const parameters: Record<string, string> = {
      redirect_uri: this.#o.redirectUri.href,
      scope: 'openid',
      // RFC 9700 §2.1.1: PKCE S256 on every request (the provider requires it), plus nonce for the ID token.
      code_challenge: await oidc.calculatePKCECodeChallenge(transaction.codeVerifier),
      code_challenge_method: 'S256',
      state: transaction.state,
      nonce: transaction.nonce,
      acr_values: transaction.acr,
      ...extra,
    };
    let url: URL;
    if (options.usePar === true) {
      url = await oidc.buildAuthorizationUrlWithPAR(config, parameters).catch((e: unknown) => {
        throw toRpError(e, 'par');
      });
    } else {
      url = oidc.buildAuthorizationUrl(config, parameters);
    }
    return Object.freeze({ url, transaction });
  }

  complete(transaction: CardLoginTransaction, callbackUrl: string | URL): Promise<CardLoginResult>;
  complete(transaction: IdentityProofingTransaction, callbackUrl: string | URL): Promise<IdentityProofingResult>;
  complete(transaction: AgeCheckTransaction, callbackUrl: string | URL): Promise<AgeCheckResult>;
  complete(transaction: Transaction, callbackUrl: string | URL): Promise<CompletionResult>;
  async complete(transaction: Transaction, callbackUrl: string | URL): Promise<CompletionResult> {
    assertTransaction(transaction);
    if (transaction.clientId !== this.#o.clientId) throw new TypeError('transaction belongs to another client');
    const params = callbackParameters(callbackUrl);
    const now = this.#o.now();
    const ageSeconds = Math.floor((now - transaction.createdAt) / 1000);
    if (ageSeconds > this.#o.transactionTtlSeconds) throw new RpTransactionExpiredError(ageSeconds);
    // RFC 6749 §10.12: the state binds this callback to the browser session that started the request. Checked
    // before anything else in the callback is believed, an error response included.
    if (params.get('state') !== transaction.state) throw new RpStateError();
    const config = await this.#config();
    const error = params.get('error');
    if (error !== null) throw new RpAuthorizationError(error, params.get('error_description') ?? undefined);
    const metadata = config.serverMetadata();
    const iss = params.get('iss');
    // RFC 9207 §2.4: a provider that advertises `iss` in responses must send it, and it must be its issuer (mix-up).
    if (iss !== null ? iss !== metadata.issuer : metadata.authorization_response_iss_parameter_supported === true) {
      throw new RpCallbackInvalidError('iss is missing or not the provider');
    }
    if (!params.get('code')) throw new RpCallbackInvalidError('no code');
    // RFC 6749 §4.1.2 / OIDC Core §3.1.2.5: a code flow answer carries no token in the front channel.
    for (const name of ['id_token', 'access_token', 'token', 'response']) {
      if (params.has(name)) throw new RpCallbackInvalidError(`unexpected ${name} parameter`);
    }

    const current = new URL(this.#o.redirectUri);
    current.search = params.toString();
    const tokens = await this.#grant(config, () =>
      oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: transaction.codeVerifier,
        expectedState: transaction.state,
        expectedNonce: transaction.nonce,
        idTokenExpected: true,
      }),
    );
    const claims = tokens.claims() as Readonly<Record<string, unknown>> | undefined;
    if (claims === undefined || tokens.id_token === undefined) throw new RpIdTokenError('no ID token');
    const clock = { now, toleranceSeconds: this.#o.clockToleranceSeconds };
    checkIdToken(transaction, claims, clock);
    checkAuthentication(transaction, claims, clock);

    const login: CardLoginResult = {
      kind: transaction.kind,
      sub: claims['sub'] as string,
      acr: claims['acr'] as string,
      amr: Object.freeze((claims['amr'] as unknown[]).map(String)),
      authTime: claims['auth_time'] as number,
      idTokenClaims: Object.freeze({ ...claims }),
      idToken: tokens.id_token,
    };
    switch (transaction.kind) {
      case 'login':
      case 'step-up':
        return Object.freeze(login);
      case 'identity': {
        const source = await this.#claimSource(config, claims, 'verified_claims', tokens.access_token);
        const identity = readVerifiedIdentity(source['verified_claims'], transaction.claims);
        return Object.freeze({ ...login, kind: 'identity', identity });
      }
      case 'age': {
        const name = `age_over_${transaction.over}`;
        const source = await this.#claimSource(config, claims, name, tokens.access_token);
        return Object.freeze({ ...login, kind: 'age', age: readAgeOver(source, transaction.over) });
      }
    }
  }

  /** The ID token when it has `claim`, else userinfo (OIDC Core §5.3; its `sub` must be the ID token's, §5.3.2). */
  async #claimSource(
    config: oidc.Configuration,
    idToken: Readonly<Record<string, unknown>>,
    claim: string,
    accessToken: string,
  ): Promise<Readonly<Record<string, unknown>>> {
    if (idToken[claim] !== undefined) return idToken;
    if (config.serverMetadata().userinfo_endpoint === undefined) return idToken;
    return this.#call('userinfo', () => oidc.fetchUserInfo(config, accessToken, idToken['sub'] as string));
  }

  async logoutUrl(options: LogoutOptions = {}): Promise<URL> {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { idToken, postLogoutRedirectUri } = options;
    if (idToken !== undefined && typeof idToken !== 'string') throw new TypeError('idToken must be a string');
    if (postLogoutRedirectUri !== undefined && typeof postLogoutRedirectUri !== 'string')
      throw new TypeError('postLogoutRedirectUri must be a string');
    const config = await this.#config();
    // buildEndSessionUrl adds client_id: the provider then knows the client without a hint (§2, client_id).
    return oidc.buildEndSessionUrl(config, {
      ...(idToken === undefined ? {} : { id_token_hint: idToken }),
      ...(postLogoutRedirectUri === undefined ? {} : { post_logout_redirect_uri: postLogoutRedirectUri }),
    });
  }

  async #call<T>(step: Step, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw toRpError(e, step);
    }
  }

  /**
   * The authorization code grant, its errors mapped by how far it got: the fetch wrapper moves the step on when the
   * token request is sent (`token`) and when the provider's JWKS is read to check the ID token's signature (`keys`).
   */
  async #grant<T>(config: oidc.Configuration, f: () => Promise<T>): Promise<T> {
    const metadata = config.serverMetadata();
    const p: GrantProgress = {
      step: 'callback',
      tokenEndpoint: normalisedUrl(metadata.token_endpoint),
      jwksUri: normalisedUrl(metadata.jwks_uri),
    };
    try {
      return await progress.run(p, f);
    } catch (e) {
      throw toRpError(e, p.step);
    }
  }

  #config(): Promise<oidc.Configuration> {
    this.#configuration ??= this.#discover().catch((e: unknown) => {
      this.#configuration = undefined; // retried on the next call
      throw e;
    });
    return this.#configuration;
  }

  async #discover(): Promise<oidc.Configuration> {
    const o = this.#o;
    const auth =
      o.auth.method === 'client_secret_basic'
        ? oidc.ClientSecretBasic(o.auth.secret)
        : oidc.PrivateKeyJwt({
            key: o.auth.key.toCryptoKey(CRYPTO_ALGORITHMS[o.auth.alg], false, ['sign']) as unknown as oidc.CryptoKey,
            kid: o.auth.kid,
          });
    const inner = o.fetch;
    const guarded: oidc.CustomFetch = async (url, init) => {
      const p = progress.getStore();
      if (p !== undefined) {
        const target = normalisedUrl(url);
        if (target === p.jwksUri) p.step = 'keys';
        else if (target === p.tokenEndpoint) p.step = 'token';
      }
      try {
        return await inner(url, init as RequestInit);
      } catch (e) {
        // No HTTP answer at all. The URL without its query: a code or token could be in it.
        throw new RpNetworkError(url.replace(/[?#].*$/, ''), { cause: e });
      }
    };
    const config = await this.#call('discovery', () =>
      oidc.discovery(
        o.issuer,
        o.clientId,
        {
          // The provider signs ID tokens with ES256 only; pin it (no algorithm negotiation).
          id_token_signed_response_alg: 'ES256',
          // exp (and max_age in openid-client) with our tolerance, not openid-client's default of 30 s.
          [oidc.clockTolerance]: o.clockToleranceSeconds,
        },
        auth,
        {
          [oidc.customFetch]: guarded,
          ...(o.insecureLoopback ? { execute: [oidc.allowInsecureRequests] } : {}),
        },
      ),
    );
    const acrs = config.serverMetadata().acr_values_supported;
    if (!Array.isArray(acrs) || !acrs.includes(ACR_CARD_AUTH)) {
      throw new RpDiscoveryError(`the provider does not offer ${ACR_CARD_AUTH}`);
    }
    if (typeof config.serverMetadata().jwks_uri !== 'string') {
      throw new RpDiscoveryError('the provider names no jwks_uri: ID token signatures could not be checked');
    }
    // openid-client checks the signature of an ID token from the token endpoint only when asked (OIDC Core §3.1.3.7
    // step 6 lets a client rely on TLS instead). We check it: the token is the proof of the card login, kept and
    // handed to `onLogin`. The JWKS is read through the same fetch (and insecure-loopback setting) as the rest.
    oidc.enableNonRepudiationChecks(config);
    return config;
  }
}

/** How far an authorization code grant got: the step its errors belong to (see openid-errors.ts). */
interface GrantProgress {
  step: 'callback' | 'token' | 'keys';
  readonly tokenEndpoint: string | undefined;
  readonly jwksUri: string | undefined;
}

/** The progress of the grant running in this async context, moved on by the fetch wrapper. */
const progress = new AsyncLocalStorage<GrantProgress>();

/** A URL without query or fragment, normalised, for comparing endpoints; undefined when not a URL. */
function normalisedUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const u = new URL(value);
    u.search = '';
    u.hash = '';
    return u.href;
  } catch {
    return undefined;
  }
}

const CRYPTO_ALGORITHMS = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  EdDSA: { name: 'Ed25519' },
} as const;

/** The callback's query parameters from a full URL, a path with query, or a bare query string. */
function callbackParameters(callbackUrl: string | URL): URLSearchParams {
  if (callbackUrl instanceof URL) return new URLSearchParams(callbackUrl.search);
  if (typeof callbackUrl !== 'string') throw new TypeError('callbackUrl must be a URL or a string');
  const q = callbackUrl.indexOf('?');
  const query =
    q === -1 ? (callbackUrl.includes('=') && !callbackUrl.includes('/') ? callbackUrl : '') : callbackUrl.slice(q + 1);
  return new URLSearchParams(query.replace(/#.*$/, ''));
}
