/**
 * The provider's configuration: validated once, then frozen (fastify's rule: options are checked at construction
 * and cannot change under a running server). Misuse is a TypeError.
 */
import type { ClientMetadata } from 'oidc-provider';
import { isLoopbackHost, type CertRef, type LinkingSource } from '@mynagate/pki';
import { ACR_CARD_SIGN } from './acr.ts';
import { ekycClient, loginOnlyBecause, loginOnlyReason } from './client-origin.ts';
import { assertJwks, type PrivateJwks } from './keys.ts';
import { stderrLog, type EventLog } from './lib/log.ts';
import type { LoginCard, LoginVerifier, VerifiedLogin } from './login-token.ts';
import { ONE_SHOT_METHODS, type ProviderStores } from './ports.ts';
import { memoryConsentRecords, type ConsentRecords } from './consent/records.ts';
import { identityStore, type IdentityStore } from './ekyc/identity-store.ts';
import { loginCredentialStore, type LoginCredentials } from './login-credentials.ts';

/** The port `mynagate bridge` listens on by default (127.0.0.1 only), which the login page links to. */
export const BRIDGE_PORT = 24727;

/**
 * The optional linking lookup: given a certificate just verified, the fingerprints of earlier certificates of the
 * same holder (renewal, reissue), from a linking source (the test JPKI's, a platform provider's in production). A
 * renewed card then keeps its person, and so every pairwise `sub`.
 */
export type LinkCertificate = (login: VerifiedLogin) => Promise<readonly string[]>;

/** One virtual card the development phone offers. */
export interface DevCard {
  /** What the list shows, e.g. `Test card 1 (PIN 1234)`. */
  readonly label: string;
  /** Path of the virtual card file (`@mynagate/card` `writeCardFile`). */
  readonly file: string;
}

/** An opened card for the development phone: a JPKI client and how to release it. */
export interface OpenedCard {
  readonly card: LoginCard;
  close(): Promise<void>;
}

/** Development mode: the virtual phone page at `/dev/phone`. */
export interface DevConfig {
  readonly cards: readonly DevCard[];
  /**
   * Opens a card file. Default: `VirtualCard.open(file)` behind a `VirtualTransport` and a `JpkiClient`, so the
   * whole APDU path runs as with a real card.
   */
  readonly openCard?: (file: string) => Promise<OpenedCard>;
}

/** Identity proofing by card signature (acr `urn:mynagate:acr:card-sign`, `verified_claims`, derived claims). */
export interface EkycConfig {
  /**
   * What the signed statement says the data is for, per client id, when the request carries no `purpose`
   * (OIDC4IA §5.5.1 lets an OP show a purpose pre-configured for the RP). Default: a generic identity check. Not for a
   * client of `clients` offered card login only (a public one, say: client-origin.ts `offersEkyc`), which no statement
   * ever names.
   */
  readonly purposes?: Readonly<Record<string, string>>;
  /**
   * The longest a verified identity stays with its grant, seconds, when the grant can get a refresh token. Default
   * 14 days (the refresh token lifetime). Any other grant keeps it only as long as its tokens can ask for claims (the
   * authorization code's lifetime plus the access token's; `ekyc/identity-store.ts` `identityLifetime`). Either way
   * it is reused only while its signing certificate stands, asked about again first (`ekyc/signing-recheck.ts`).
   */
  readonly identityTtlSeconds?: number;
  /**
   * Keep the signing certificate (base64 DER) with the verified identity, for as long as the identity is kept
   * (`identityTtlSeconds`, or until the consent is withdrawn). Default false. The certificate carries the whole
   * basic-4, so this keeps all of it even for a yes/no question (the identity itself keeps only what was signed).
   * Either way the audit holds only its issuer, serial and SHA-256: an append-only audit could never erase it. Not
   * needed for revocation: without it a reuse asks about the certificate by CA and serial (the identity keeps that
   * reference); with it, the kept certificate is validated again.
   */
  readonly keepCertificate?: boolean;
  /** Where verified identities live. Default: beside the grants, in `stores.adapter` (see `ekyc/identity-store.ts`). */
  readonly identities?: IdentityStore;
  /**
   * How a signing certificate is tied to the card the person logged in with. Without it the provider offers **no
   * eKYC at all** (fails closed): a request that needs a verified identity (the card-signature ACR, `verified_claims`,
   * basic-4 or derived claims) is refused at the authorization and PAR endpoints with OAuth `invalid_request`
   * `ERR_IDP_EKYC_UNPAIRED: …`, and the signing page and a posted signature refuse with that code too.
   *
   * - a {@link SigningCardPair}: the authentication certificate (its CA and serial) issued on the same card as a
   *   signing certificate, or `undefined` when unknown: J-LIS 証明書紐付け情報, which platform providers resell
   *   (`@mynagate/pki` `platformLinks`, whose `links(issuer, serial).pair` answers it; {@link platformCardPair}). A
   *   statement signed on a card the person has not logged in with is refused with `ERR_IDP_SIGN_CARD_MISMATCH`, so
   *   one person's identity is never attached to another's account; an unknown pairing is refused too, and a source
   *   that cannot answer fails the signature (`ERR_PKI_LINKS_UNAVAILABLE`).
   * - `'unchecked'`: **dangerous, an explicit opt-out.** The signing certificate alone decides: any valid signing
   *   certificate is accepted, and its basic-4 is kept under the account that logged in. Whoever holds another's card
   *   and signing password (a family member), or a phisher who logs in with their own card and relays the signing QR
   *   code to a victim, then gets the victim's verified identity under the phisher's `sub`, with the card-signature
   *   ACR. The companion's network caution (`SIGN_NETWORK_CAUTION`) is the only guard left. Only for a provider whose
   *   relying parties check the identity themselves, or for tests about something else.
   *
   * Default: unset, no eKYC. `mynagate serve` sets it from its `platform` (`"ekyc": { "signingCardPair":
   * "unchecked" }` opts out); `npm start` from the test JPKI's links.
   */
  readonly signingCardPair?: SigningCardPair | 'unchecked';
}

/** See {@link EkycConfig.signingCardPair}. */
export type SigningCardPair = (signing: {
  /** SHA-256 hex of the signing CA's certificate. */
  readonly issuerFingerprint: string;
  readonly serialNumber: string;
}) => Promise<CertRef | undefined>;

/** The {@link SigningCardPair} a platform provider's links answer (`links(issuer, serial).pair`). */
export function platformCardPair(links: Pick<LinkingSource, 'links'>): SigningCardPair {
  return async (signing) => (await links.links(signing.issuerFingerprint, signing.serialNumber))?.pair;
}

/**
 * Which eKYC a configuration offers ({@link EkycConfig.signingCardPair}): `paired` (the signing card must be a login
 * card), `unchecked` (the signing certificate alone decides: the explicit opt-out) or `off` (no pairing: no eKYC).
 */
export type EkycMode = 'paired' | 'unchecked' | 'off';

/**
 * The {@link EkycMode} of an `ekyc` configuration (given or resolved).
 *
 * @example ekycMode({ signingCardPair: platformCardPair(links) }) // 'paired'
 */
export function ekycMode(ekyc: Pick<EkycConfig, 'signingCardPair'> | undefined): EkycMode {
  const pair = ekyc?.signingCardPair;
  return pair === undefined ? 'off' : pair === 'unchecked' ? 'unchecked' : 'paired';
}

/** The resolved {@link EkycConfig}. */
export interface ResolvedEkycConfig {
  readonly purposes: Readonly<Record<string, string>>;
  readonly identityTtlSeconds: number;
  readonly keepCertificate: boolean;
  readonly identities: IdentityStore;
  /** `undefined`: no eKYC is offered ({@link EkycConfig.signingCardPair}). */
  readonly signingCardPair: SigningCardPair | 'unchecked' | undefined;
}

/** What {@link createProvider} takes. */
export interface IdpConfig {
  /** Issuer identifier, e.g. `https://id.example.jp`; its origin is what card tokens are bound to. No path, query or fragment. */
  readonly issuer: string;
  /** The IdP's display name on pages. Default `MynaGate`. */
  readonly name?: string;
  /**
   * Registered relying parties (node-oidc-provider client metadata). `token_endpoint_auth_method: "none"` (a public
   * client) only with `application_type: "native"` (RFC 8252 §8.5); a public client gets card login only, never eKYC
   * (client-origin.ts `offersEkyc`), and so may not list the card-signature ACR in `default_acr_values` (nor may any
   * other client offered card login only).
   */
  readonly clients: readonly ClientMetadata[];
  /** Private signing keys, the ES256 signing key first ({@link rotateKeys}). */
  readonly jwks: PrivateJwks;
  /** Keys that sign cookies, newest first; each at least 32 characters. Shared by every node. */
  readonly cookieKeys: readonly string[];
  /** Server secret of pairwise subjects, at least 32 bytes. Changing it changes every `sub`. */
  readonly pairwiseSecret: Uint8Array;
  /** Issues challenges and verifies card login tokens (the seam to `@mynagate/pki`'s `createVerifier`). */
  readonly verifier: LoginVerifier;
  /** Storage. */
  readonly stores: ProviderStores;
  /** Optional linking lookup for renewed certificates. */
  readonly linkCertificate?: LinkCertificate;
  /**
   * The platform provider's serial links (`@mynagate/pki` `platformLinks`): a certificate never seen whose
   * predecessor (or that one's, up to 5 renewals back) is a person's credential joins that person, so a renewed card
   * keeps every pairwise `sub`. The same as a {@link LinkCertificate} mapping serials to fingerprints, ready-made.
   * A source that cannot answer fails the login (`ERR_PKI_LINKS_UNAVAILABLE`) rather than split the person.
   */
  readonly renewalLinks?: Pick<LinkingSource, 'links'>;
  /** Clock, epoch ms. Default `Date.now`. Drives QR time, login and challenge expiry. */
  readonly now?: () => number;
  /** Oldest QR code accepted, seconds. Default 3. */
  readonly qrMaxAgeSeconds?: number;
  /**
   * How often a login page's event stream reads the store for a change no one told it of, ms. Default
   * {@link EVENT_POLL_MS}: 2000 when the stores announce other nodes' changes (PostgreSQL + Redis: a lost notice is
   * found within that), 200 without (a single process tells its own streams at once).
   */
  readonly eventPollMs?: number;
  /**
   * The loopback port the login page's "use this computer's card reader" link opens (`mynagate bridge --port`).
   * Default {@link BRIDGE_PORT}.
   */
  readonly bridgePort?: number;
  /** Lifetime of a login transaction (the QR page), seconds. Default 300. */
  readonly loginTtlSeconds?: number;
  /** Lifetime of a challenge after the companion fetched it (time to type the PIN), seconds. Default 180. */
  readonly challengeTtlSeconds?: number;
  /** Subject types; default `['pairwise']`. `public` exposes the internal person id: opt in only for first parties. */
  readonly subjectTypes?: readonly ('pairwise' | 'public')[];
  /** Development mode (virtual phone). Never enable in production. Default off. */
  readonly dev?: DevConfig | false;
  /**
   * Consent and audit records (the opened store's `records`). Default: in memory, for development only; `startServer`
   * with a `store` configuration passes the opened store's.
   */
  readonly records?: ConsentRecords;
  /** eKYC by card signature: offered only with {@link EkycConfig.signingCardPair} set (else none, fail closed). */
  readonly ekyc?: EkycConfig;
  /**
   * The operator's event log, one event each: a card login the provider refused (`login.refused`), a failure a
   * companion reported from the card (`login.failed`), a companion's scan of a login (`login.scanned`) or of an eKYC
   * signature (`sign.scanned`, ekyc/pages.ts), the scans with `network` `same` or `other`, a verified identity that
   * could not be deleted with the grant node-oidc-provider revoked (`identity.delete_failed`, provider.ts: it stays
   * until its TTL): time, code, client_id and, for a refusal, the words that refine its code; nothing personal
   * (interactions/companion.ts). Default one JSON line on stderr (`stderrLog`).
   */
  readonly log?: EventLog;
}

/** The validated, frozen configuration with defaults applied. */
export interface ResolvedConfig {
  readonly issuer: string;
  /** `new URL(issuer).origin`. */
  readonly origin: string;
  readonly name: string;
  readonly clients: readonly ClientMetadata[];
  readonly jwks: PrivateJwks;
  readonly cookieKeys: readonly string[];
  readonly pairwiseSecret: Uint8Array;
  readonly verifier: LoginVerifier;
  readonly stores: ProviderStores;
  readonly linkCertificate: LinkCertificate | undefined;
  readonly renewalLinks: Pick<LinkingSource, 'links'> | undefined;
  readonly now: () => number;
  readonly qrMaxAgeSeconds: number;
  readonly eventPollMs: number;
  readonly bridgePort: number;
  readonly loginTtlSeconds: number;
  readonly challengeTtlSeconds: number;
  readonly subjectTypes: readonly ('pairwise' | 'public')[];
  readonly dev: DevConfig | false;
  readonly records: ConsentRecords;
  readonly ekyc: ResolvedEkycConfig;
  /**
   * The card of each login, for the refresh check (login-credentials.ts): held in `stores.oneShot` for the login
   * session, kept beside the tokens in `stores.adapter` (in memory with node-oidc-provider's in-memory adapter) once a
   * consent grants `offline_access`.
   */
  readonly loginCredentials: LoginCredentials;
  /** Whether cookies get `Secure` (https issuer). */
  readonly secure: boolean;
  readonly log: EventLog;
}

/**
 * Validates and freezes a configuration.
 *
 * @throws TypeError naming the first bad option.
 */
export function resolveConfig(config: IdpConfig): ResolvedConfig {
  if (typeof config !== 'object' || config === null) throw new TypeError('config must be an object');
  const issuer = config.issuer;
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new TypeError('issuer must be an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('issuer must be http(s)');
  if (url.search || url.hash || issuer.endsWith('?') || issuer.endsWith('#')) {
    throw new TypeError('issuer must not have a query or fragment');
  }
  if (url.pathname !== '/' || issuer.endsWith('/')) {
    // Interactions and the companion live at the origin root, so the issuer is the bare origin.
    throw new TypeError('issuer must be a bare origin without a path or trailing slash');
  }
  // The card signs this origin, which the verifier takes over http only on pki's loopback hosts: an issuer on
  // another (http://127.0.0.2) would start, then refuse every login with ERR_PKI_TOKEN_ORIGIN.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new TypeError(
      'an http issuer is only allowed on a loopback host: 127.0.0.1, localhost or [::1] (development)',
    );
  }
  if (!Array.isArray(config.clients)) throw new TypeError('clients must be an array');
  for (const c of config.clients) {
    if (typeof c?.client_id !== 'string' || c.client_id === '') throw new TypeError('every client needs a client_id');
    // RFC 8252 §8.5: a native app cannot keep a secret, so it may be public, PKCE binding its code to the app instance;
    // a web service has a backend that can, and authenticates.
    if (c.token_endpoint_auth_method === 'none' && c.application_type !== 'native') {
      throw new TypeError(
        `client ${c.client_id}: token_endpoint_auth_method none is for a native app only (RFC 8252 §8.5): register it with application_type "native", or give it a secret or a key (client_secret_basic, client_secret_post or private_key_jwt)`,
      );
    }
    // A client offered card login only (client-origin.ts: a public one, or one with a redirect no statement names)
    // that asks for eKYC by default is at odds with itself: node-oidc-provider puts its default_acr_values into every
    // request that names no ACR, and each would be refused (ERR_IDP_CLIENT_LOGIN_ONLY).
    const loginOnly = loginOnlyReason(ekycClient(c), url.origin);
    if (
      loginOnly !== undefined &&
      Array.isArray(c.default_acr_values) &&
      c.default_acr_values.includes(ACR_CARD_SIGN)
    ) {
      throw new TypeError(
        `client ${c.client_id}: default_acr_values asks for ${ACR_CARD_SIGN} (eKYC), but the client gets card login only: ${loginOnlyBecause(loginOnly)}`,
      );
    }
  }
  assertJwks(config.jwks);
  if (!Array.isArray(config.cookieKeys) || config.cookieKeys.length === 0) {
    throw new TypeError('cookieKeys must be a non-empty array');
  }
  for (const k of config.cookieKeys) {
    if (typeof k !== 'string' || k.length < 32)
      throw new TypeError('each cookie key must be a string of >= 32 characters');
  }
  if (!(config.pairwiseSecret instanceof Uint8Array) || config.pairwiseSecret.length < 32) {
    throw new TypeError('pairwiseSecret must be a Uint8Array of >= 32 bytes');
  }
  if (typeof config.verifier?.verifyLoginToken !== 'function' || typeof config.verifier.issueChallenge !== 'function') {
    throw new TypeError('verifier must have issueChallenge and verifyLoginToken');
  }
  const stores = config.stores;
  if (typeof stores?.oneShot?.take !== 'function' || typeof stores.people?.findPersonByCredential !== 'function') {
    throw new TypeError('stores must be { adapter, oneShot, people } (see stores.ts)');
  }
  const missing = ONE_SHOT_METHODS.filter((m) => typeof stores.oneShot[m] !== 'function');
  if (missing.length > 0) throw new TypeError(`stores.oneShot lacks ${missing.join(', ')} (see ports.ts OneShotPort)`);
  if (config.linkCertificate !== undefined && typeof config.linkCertificate !== 'function') {
    throw new TypeError('linkCertificate must be a function');
  }
  if (config.renewalLinks !== undefined && typeof config.renewalLinks?.links !== 'function') {
    throw new TypeError('renewalLinks must be a LinkingSource (platformLinks)');
  }
  if (config.now !== undefined && typeof config.now !== 'function') throw new TypeError('now must be a function');
  const subjectTypes = config.subjectTypes ?? ['pairwise'];
  if (
    !Array.isArray(subjectTypes) ||
    subjectTypes.length === 0 ||
    subjectTypes.some((t) => t !== 'pairwise' && t !== 'public')
  ) {
    throw new TypeError("subjectTypes must be a non-empty subset of ['pairwise', 'public']");
  }
  const dev = config.dev ?? false;
  if (dev !== false) {
    if (typeof dev !== 'object' || !Array.isArray(dev.cards))
      throw new TypeError('dev must be false or { cards: [...] }');
    for (const c of dev.cards) {
      if (typeof c?.label !== 'string' || typeof c.file !== 'string')
        throw new TypeError('dev cards need label and file');
    }
    if (dev.openCard !== undefined && typeof dev.openCard !== 'function')
      throw new TypeError('dev.openCard must be a function');
  }
  const records = config.records ?? memoryConsentRecords(config.now);
  if (typeof records.recordConsent !== 'function' || typeof records.listAudit !== 'function') {
    throw new TypeError('records must be the store records (recordConsent, withdrawConsent, listConsents, audit)');
  }
  const ekyc = config.ekyc ?? {};
  if (typeof ekyc !== 'object' || ekyc === null) throw new TypeError('ekyc must be an object');
  const purposes = ekyc.purposes ?? {};
  for (const [clientId, purpose] of Object.entries(purposes)) {
    // OIDC4IA §5.5.1: a purpose is 3 to 300 characters.
    if (typeof purpose !== 'string' || [...purpose].length < 3 || [...purpose].length > 300) {
      throw new TypeError(`ekyc.purposes.${clientId} must be 3 to 300 characters`);
    }
    // A purpose is what a signed statement says: none is ever built for a client offered card login only.
    const client = config.clients.find((c) => c.client_id === clientId);
    const loginOnly = client === undefined ? undefined : loginOnlyReason(ekycClient(client), url.origin);
    if (loginOnly !== undefined) {
      throw new TypeError(
        `ekyc.purposes.${clientId} is for eKYC, but client ${clientId} gets card login only: ${loginOnlyBecause(loginOnly)}`,
      );
    }
  }
  if (ekyc.keepCertificate !== undefined && typeof ekyc.keepCertificate !== 'boolean') {
    throw new TypeError('ekyc.keepCertificate must be a boolean');
  }
  if (
    ekyc.signingCardPair !== undefined &&
    ekyc.signingCardPair !== 'unchecked' &&
    typeof ekyc.signingCardPair !== 'function'
  ) {
    throw new TypeError("ekyc.signingCardPair must be a function (platformCardPair) or 'unchecked'");
  }
  // Without a pairing no request for eKYC is served (ERR_IDP_EKYC_UNPAIRED): a client that asks for it by default
  // would have every request refused.
  if (ekyc.signingCardPair === undefined) {
    const asking = config.clients.find(
      (c) => Array.isArray(c.default_acr_values) && c.default_acr_values.includes(ACR_CARD_SIGN),
    );
    if (asking !== undefined) {
      throw new TypeError(
        `client ${asking.client_id}: default_acr_values asks for ${ACR_CARD_SIGN} (eKYC), but eKYC is off: ekyc.signingCardPair is not set (a platform provider's links pair the signing card with the login card)`,
      );
    }
  }
  if (config.log !== undefined && typeof config.log !== 'function') throw new TypeError('log must be a function');
  const name = config.name ?? 'MynaGate';
  if (typeof name !== 'string' || name === '') throw new TypeError('name must be a non-empty string');

  return Object.freeze({
    issuer,
    origin: url.origin,
    name,
    clients: Object.freeze(config.clients.map((c) => Object.freeze({ ...c }))),
    jwks: Object.freeze({ keys: Object.freeze([...config.jwks.keys]) }),
    cookieKeys: Object.freeze([...config.cookieKeys]),
    pairwiseSecret: Uint8Array.from(config.pairwiseSecret),
    verifier: config.verifier,
    stores,
    linkCertificate: config.linkCertificate,
    renewalLinks: config.renewalLinks,
    now: config.now ?? Date.now,
    qrMaxAgeSeconds: positiveInteger(config.qrMaxAgeSeconds, 3, 'qrMaxAgeSeconds'),
    eventPollMs: positiveInteger(
      config.eventPollMs,
      stores.changes === undefined ? EVENT_POLL_MS.alone : EVENT_POLL_MS.told,
      'eventPollMs',
    ),
    bridgePort: portNumber(config.bridgePort, BRIDGE_PORT, 'bridgePort'),
    loginTtlSeconds: positiveInteger(config.loginTtlSeconds, 300, 'loginTtlSeconds'),
    challengeTtlSeconds: positiveInteger(config.challengeTtlSeconds, 180, 'challengeTtlSeconds'),
    subjectTypes: Object.freeze([...subjectTypes]),
    dev:
      dev === false
        ? false
        : Object.freeze({ ...dev, cards: Object.freeze(dev.cards.map((c) => Object.freeze({ ...c }))) }),
    records,
    ekyc: Object.freeze({
      purposes: Object.freeze({ ...purposes }),
      identityTtlSeconds: positiveInteger(ekyc.identityTtlSeconds, 14 * 24 * 3600, 'ekyc.identityTtlSeconds'),
      keepCertificate: ekyc.keepCertificate ?? false,
      identities: ekyc.identities ?? identityStore(stores.adapter, config.now),
      signingCardPair: ekyc.signingCardPair,
    }),
    loginCredentials: loginCredentialStore(stores.adapter, stores.oneShot, config.now),
    secure: url.protocol === 'https:',
    log: config.log ?? stderrLog,
  });
}

function portNumber(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new TypeError(`${name} must be a port (1-65535)`);
  return value;
}

/** Default {@link IdpConfig.eventPollMs}: with a change feed (`told`), and without (`alone`). */
export const EVENT_POLL_MS = Object.freeze({ told: 2000, alone: 200 });

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`);
  return value;
}
