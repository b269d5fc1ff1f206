/**
 * `mynagate serve --config FILE`: the operator's configuration, one JSON file, read and checked in full before
 * anything starts. Paths in it are relative to the file. Secrets (signing keys, cookie keys, the pairwise secret)
 * live in files of their own, which `--init` creates once (mode 0600) and nothing ever prints.
 *
 * ```json
 * {
 *   "issuer": "https://id.example.jp",
 *   "listen": { "host": "0.0.0.0", "port": 8080 },
 *   "trustProxy": ["10.0.0.0/8"],
 *   "name": "Example ID",
 *   "clients": "clients.json",
 *   "keys": "secrets/oidc-keys.json",
 *   "secrets": "secrets/secrets.json",
 *   "trust": "trust",
 *   "revocation": { "ocsp": true, "crl": ["crl/sign-01.crl"] },
 *   "platform": { "url": "https://platform.example.jp", "headers": { "x-api-key": "…" } },
 *   "store": { "kind": "postgres", "url": "postgres://…", "redisUrl": "redis://…" }
 * }
 * ```
 *
 * `bridgePort` is the port the login page's "this computer's card reader" link opens (`mynagate bridge --port`).
 * `tls` (`{ "key": "tls/key.pem", "cert": "tls/cert.pem" }`) serves HTTPS itself; without it the provider expects a
 * TLS-terminating proxy (`trustProxy`: the list of its addresses and networks, or `true` for whoever connects, one
 * hop; idp `TrustProxy`). `revocation.ocsp` is `true` (each certificate's own AIA URL) or a URL;
 * `platform` answers revocation too when no other source is named, links renewed cards to their holder and binds
 * eKYC to the login card: without it the provider offers no eKYC (idp `EkycConfig.signingCardPair`; requests for it
 * are refused with `ERR_IDP_EKYC_UNPAIRED`), unless `"ekyc": { "signingCardPair": "unchecked" }` opts out of the
 * binding, which is dangerous: any valid signing certificate is then attached to whoever logged in, so a signing QR
 * code relayed to someone else puts their identity on the relaying person's account. The start says which
 * ({@link ekycLine}). `store.kind` is `sqlite` (`path`) or `postgres` (`url`, `redisUrl`, and `schema`, default
 * `mynagate`, `redisPrefix`, and `preparedStatements`, default true: false behind a transaction-mode pooler).
 * `listen.reusePort: true` lets several processes of one deployment listen on the same port (Linux SO_REUSEPORT:
 * the kernel spreads connections over them); it needs the postgres store, which they share.
 * `audit` (`{ "anchorDir": "anchors", "anchorEverySeconds": 3600 }`) has the running provider anchor the audit head
 * (as `mynagate audit anchor` does) into `anchorDir`, one file per anchored row, whenever the head moved, and once
 * more on stop: mount there what the database's writers cannot rewrite.
 * `limits` (`{ "headersTimeoutMs", "requestTimeoutMs", "keepAliveTimeoutMs", "idleTimeoutMs", "maxConnections",
 * "maxRequestsPerSocket" }`, each optional) overrides the connection limits and timeouts (`ServerLimits`).
 *
 * `issuer` is https; an http one only on 127.0.0.1, localhost or [::1] (a provider tried on this computer), where
 * the card signs that http origin. Each client is checked as the provider will read it (`checkClients`, which also
 * checks the registrations of `mynagate serve --dev --client FILE`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMynaGateError, MynaGateError } from '@mynagate/errors';
import {
  ACR_CARD_SIGN,
  assertJwks,
  createMemoryStores,
  createProvider,
  DEFAULT_SERVER_LIMITS,
  generateSigningKey,
  ekycClient,
  loginOnlyBecause,
  loginOnlyReason,
  ME_CLIENT_ID,
  oneShotChallengeStore,
  platformCardPair,
  openStores,
  privateUseScheme,
  providerStores,
  proxyTrust,
  resolveConfig,
  statementOrigin,
  statementOriginRule,
  upgradeCredentialIssuers,
  type EkycMode,
  type IssuerUpgrade,
  type PrivateJwks,
  type ProviderStores,
  type ServerConfig,
  type ServerLimits,
  type Stores,
  type StoreConfig,
  type TrustProxy,
} from '@mynagate/idp';
import {
  checkOrigin,
  createVerifier,
  CrlFileError,
  crlFiles,
  crlRevocation,
  firstAnswer,
  loadTrustDir,
  ocspSource,
  platformLinks,
  platformSource,
  type RevocationSource,
  type TrustAnchors,
} from '@mynagate/pki';
import { errorLine } from '../output.ts';

/** `ERR_CLI_CONFIG`: the configuration file (or a file it names) is missing, malformed or inconsistent. */
export class ConfigError extends MynaGateError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CLI_CONFIG', message, options);
  }
}

/**
 * What `serve --config` starts: the server configuration, and what loading it opened (the CRL files' watcher of
 * `revocation.crl`, the stores), which {@link LoadedConfig.close} closes on stop.
 */
export interface LoadedConfig {
  readonly server: ServerConfig;
  readonly stores: Stores;
  /** `audit.anchorDir`: where the running provider anchors the audit head, every `everyMs`. */
  readonly auditAnchoring?: { readonly dir: string; readonly everyMs: number };
  /** What start-up did to credentials still under their CA's name (`upgradeCredentialIssuers`). */
  readonly issuerUpgrade: IssuerUpgrade;
  /**
   * Closes what loading opened, the last opened first: the stores, then the CRL files' watcher. Call it after the
   * server closed (and the audit anchoring stopped, which writes to the stores). Once; a second call waits for the
   * first. Rejects with the first failure, after trying every close.
   */
  close(): Promise<void>;
}

/** The closes of what {@link loadConfig} opened so far, in the order it opened them. */
type Opened = (() => Promise<void>)[];

/** Runs every close of `opened`, the last opened first; rejects with the first failure after trying them all. */
async function closeAll(opened: Opened): Promise<void> {
  let failure: { readonly e: unknown } | undefined;
  for (const close of opened.splice(0).reverse()) {
    try {
      await close();
    } catch (e) {
      failure ??= { e };
    }
  }
  if (failure) throw failure.e;
}

type Json = Record<string, unknown>;
/** A client registration: node-oidc-provider client metadata. */
type ClientMetadata = ServerConfig['clients'][number];

/**
 * Reads, checks and resolves the configuration; with `init`, creates missing key and secret files first.
 *
 * @throws ConfigError `ERR_CLI_CONFIG`, naming the field or file.
 */
export async function loadConfig(file: string, options: { readonly init?: boolean } = {}): Promise<LoadedConfig> {
  // What is opened (the CRL watcher, then the stores) is closed again when a later step refuses the file: a watcher
  // or a connection left behind would outlive a start that failed (an in-process caller, a test).
  const opened: Opened = [];
  try {
    const loaded = await load(file, options, opened);
    let closing: Promise<void> | undefined;
    return { ...loaded, close: () => (closing ??= closeAll(opened)) };
  } catch (e) {
    await closeAll(opened).catch(() => {});
    throw e;
  }
}

async function load(
  file: string,
  options: { readonly init?: boolean },
  opened: Opened,
): Promise<Omit<LoadedConfig, 'close'>> {
  const { c, rel } = await readConfig(file);

  const issuer = text(c['issuer'], 'issuer');
  const issuerUrl = new URL(url(issuer, 'issuer'));
  // The card signs the provider's origin, which the verifier takes over http only on a loopback host (pki
  // checkOrigin): a provider tried on this computer. Anything else in clear would start, then refuse every login.
  const loopbackHttp = isLoopbackHttp(issuerUrl);
  if (issuerUrl.protocol !== 'https:' && !loopbackHttp)
    throw new ConfigError(
      'issuer must be https (http only on 127.0.0.1, localhost or [::1], to try the provider on this computer)',
    );
  const listen = c['listen'] === undefined ? {} : object(c['listen'], 'listen');
  const port = listen['port'] ?? 8080;
  if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535)
    throw new ConfigError('listen.port must be a port number');
  const host = listen['host'] === undefined ? '127.0.0.1' : text(listen['host'], 'listen.host');
  const reusePort = listen['reusePort'] === undefined ? false : flag(listen['reusePort'], 'listen.reusePort');

  const keysFile = rel('keys', c['keys']);
  const secretsFile = rel('secrets', c['secrets']);
  if (options.init) await initSecrets(keysFile, secretsFile);
  const jwks = await readKeys(keysFile);
  const secrets = object(await readJson(secretsFile, 'secrets'), 'secrets');
  const cookieKeys = secrets['cookieKeys'];
  if (!Array.isArray(cookieKeys) || cookieKeys.length === 0 || !cookieKeys.every((k) => typeof k === 'string'))
    throw new ConfigError('secrets.cookieKeys must be a list of strings');
  const pairwiseSecret = Buffer.from(text(secrets['pairwiseSecret'], 'secrets.pairwiseSecret'), 'base64url');

  const clientsValue =
    typeof c['clients'] === 'string' ? await readJson(rel('clients', c['clients']), 'clients') : c['clients'];
  if (!Array.isArray(clientsValue) || clientsValue.length === 0)
    throw new ConfigError('clients must be a non-empty list of client metadata (or a file holding one)');
  const clients = await checkClients(clientsValue, issuer, (i) => `clients[${i}]`);

  let anchors: TrustAnchors;
  try {
    anchors = await loadTrustDir(rel('trust', c['trust']));
  } catch (e) {
    throw new ConfigError(`trust: ${(e as Error).message}`, { cause: e });
  }

  const platform = c['platform'] === undefined ? undefined : object(c['platform'], 'platform');
  const platformOptions =
    platform === undefined
      ? undefined
      : {
          baseUrl: url(platform['url'], 'platform.url'),
          ...(platform['headers'] === undefined ? {} : { headers: headers(platform['headers']) }),
        };
  const uncheckedEkyc = ekycFrom(c['ekyc'], platform !== undefined);
  const revocation = await revocationFrom(c['revocation'], anchors, platformOptions, (f, v) => rel(f, v), opened);
  const store = storeFrom(c['store'], (f, v) => rel(f, v));
  if (reusePort && store.kind !== 'postgres')
    throw new ConfigError(
      'listen.reusePort needs a postgres store (several processes share it; SQLite is one process)',
    );
  const tls = c['tls'] === undefined ? undefined : object(c['tls'], 'tls');
  const bridgePort = c['bridgePort'];
  if (
    bridgePort !== undefined &&
    (!Number.isInteger(bridgePort) || (bridgePort as number) < 1 || (bridgePort as number) > 65535)
  )
    throw new ConfigError('bridgePort must be a port number (1-65535)');
  // An https issuer is served either with TLS here or behind a TLS-terminating proxy whose X-Forwarded-Proto the
  // provider trusts; with neither, every secure cookie would be refused at run time, so say it now.
  const trustProxy = c['trustProxy'] === undefined ? undefined : trustProxyFrom(c['trustProxy']);
  if (issuerUrl.protocol === 'https:' && tls === undefined && (trustProxy === undefined || trustProxy === false))
    throw new ConfigError(
      'an https issuer needs "tls" (serve HTTPS here) or "trustProxy" (a TLS proxy in front: true, or better the list of its addresses)',
    );

  const audit = c['audit'] === undefined ? undefined : object(c['audit'], 'audit');
  let auditAnchoring: LoadedConfig['auditAnchoring'];
  if (audit !== undefined) {
    const every = audit['anchorEverySeconds'] ?? 3600;
    if (!Number.isSafeInteger(every) || (every as number) < 1)
      throw new ConfigError('audit.anchorEverySeconds must be a whole number of seconds >= 1');
    auditAnchoring = { dir: rel('audit.anchorDir', audit['anchorDir']), everyMs: (every as number) * 1000 };
  }

  // Everything the file can still get wrong is read and checked before the stores open: an error after that would
  // leave their connections (PostgreSQL, Redis) holding the process, neither serving nor exiting.
  const name = c['name'] === undefined ? undefined : text(c['name'], 'name');
  const limits = c['limits'] === undefined ? undefined : limitsFrom(c['limits']);
  const tlsFiles =
    tls === undefined
      ? undefined
      : {
          key: await readBytes(rel('tls.key', tls['key']), 'tls.key'),
          cert: await readBytes(rel('tls.cert', tls['cert']), 'tls.cert'),
        };

  let stores: Stores;
  try {
    stores = await openStores(store);
  } catch (e) {
    throw new ConfigError(`store: ${(e as Error).message}`, { cause: e });
  }
  opened.push(() => stores.close());
  const issuerUpgrade = await upgradeCredentialIssuers(stores.records, anchors.auth);
  const server = serverConfig(stores);
  // The provider's own checks (cookie key and secret lengths, clients), as ERR_CLI_CONFIG here.
  try {
    resolveConfig({ ...server, issuer, stores: server.stores!, records: server.records! });
  } catch (e) {
    if (e instanceof TypeError) throw new ConfigError(e.message, { cause: e });
    throw e;
  }
  return { server, stores, issuerUpgrade, ...(auditAnchoring ? { auditAnchoring } : {}) };

  function serverConfig(stores: Stores): ServerConfig {
    const ports = providerStores(stores);
    const links = platformOptions === undefined ? undefined : platformLinks(platformOptions);
    return {
      issuer,
      host,
      port: port as number,
      ...(reusePort ? { reusePort } : {}),
      ...(name === undefined ? {} : { name }),
      ...(trustProxy === undefined ? {} : { trustProxy }),
      ...(limits === undefined ? {} : { limits }),
      ...(bridgePort === undefined ? {} : { bridgePort: bridgePort as number }),
      ...(tlsFiles === undefined ? {} : { tls: tlsFiles }),
      clients,
      jwks,
      cookieKeys: cookieKeys as string[],
      pairwiseSecret,
      verifier: createVerifier({
        anchors,
        revocation,
        challenges: oneShotChallengeStore(ports.oneShot),
        // The provider's own loopback origin (checked above), the one origin its logins are bound to.
        ...(loopbackHttp ? { allowLoopbackHttp: true } : {}),
      }),
      stores: ports,
      records: stores.records,
      ...(links === undefined ? {} : { renewalLinks: links }),
      // eKYC only with the signing card paired with the login card (the platform's links), or explicitly unchecked;
      // else none (idp EkycConfig.signingCardPair).
      ...(links !== undefined
        ? { ekyc: { signingCardPair: platformCardPair(links) } }
        : uncheckedEkyc
          ? { ekyc: { signingCardPair: 'unchecked' as const } }
          : {}),
    };
  }
}

/**
 * `ekyc`: `{ "signingCardPair": "unchecked" }` (the explicit opt-out of the card binding) or nothing. The binding
 * itself comes from `platform`, so both at once is a contradiction.
 *
 * @returns whether eKYC runs unchecked.
 * @throws ConfigError `ERR_CLI_CONFIG`.
 */
function ekycFrom(value: unknown, platform: boolean): boolean {
  if (value === undefined) return false;
  const e = object(value, 'ekyc');
  for (const k of Object.keys(e))
    if (k !== 'signingCardPair') throw new ConfigError(`ekyc.${k} is not an option (signingCardPair)`);
  const pair = e['signingCardPair'];
  if (pair === undefined) return false;
  if (pair !== 'unchecked')
    throw new ConfigError(
      'ekyc.signingCardPair must be "unchecked" (the card binding itself comes from "platform", whose links pair the signing card with the login card)',
    );
  if (platform)
    throw new ConfigError(
      'ekyc.signingCardPair "unchecked" and "platform" exclude each other: the platform pairs the signing card with the login card; drop "unchecked"',
    );
  return true;
}

/**
 * The start-up line of `serve --config` about eKYC: which {@link EkycMode} the provider runs in.
 *
 * @example ekycLine(ekycMode(config.ekyc)) // 'eKYC: paired by the platform (…)'
 */
export function ekycLine(mode: EkycMode): string {
  switch (mode) {
    case 'paired':
      return 'eKYC: paired by the platform (a signature counts only on a card the person logged in with)';
    case 'unchecked':
      return 'eKYC: UNCHECKED (ekyc.signingCardPair "unchecked"): any valid signing certificate is attached to whoever logged in; a signing QR code relayed to someone else puts their identity on the account';
    case 'off':
      return 'eKYC: off (no pairing source: add "platform", whose links pair the signing card with the login card); requests for it are refused with ERR_IDP_EKYC_UNPAIRED';
  }
}

/**
 * What the audit commands need of a configuration: the issuer, the signing keys and the opened stores (the rest of
 * the file is not read, so a provider's audit can be checked where its CAs and clients are not at hand).
 *
 * @throws ConfigError `ERR_CLI_CONFIG`.
 */
export async function loadAuditConfig(
  file: string,
): Promise<{ readonly issuer: string; readonly jwks: PrivateJwks; readonly stores: Stores }> {
  const { c, rel } = await readConfig(file);
  const issuer = url(c['issuer'], 'issuer');
  const jwks = await readKeys(rel('keys', c['keys']));
  // Only a store the provider made: an audit check never creates or migrates one (a mistyped path or schema would
  // otherwise verify as an empty, unbroken chain).
  const store = { ...storeFrom(c['store'], rel), existing: true };
  try {
    return { issuer, jwks, stores: await openStores(store) };
  } catch (e) {
    if (isMynaGateError(e, 'ERR_STORE_MISSING')) throw e;
    throw new ConfigError(`store: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Checks each client registration as the provider will read it, before anything starts: node-oidc-provider reads a
 * static client only when a request names it, so a fault found there reaches the person, not the operator
 * (`invalid_client_metadata`). Each must be an object with a `client_id` of its own (not one `registered` holds, nor
 * the provider's `mynagate-me`), publish no private key, be public (`token_endpoint_auth_method: "none"`) only if it
 * is a native app (RFC 8252 §8.5: an app cannot keep a secret, a web service's backend can; idp `resolveConfig` holds
 * a library-registered client to the same rule), pass node-oidc-provider's own schema (`Client.validate`, on a
 * provider built as MynaGate builds it: its auth methods, algorithms, pairwise subjects), and send the person back to
 * origins a signed eKYC statement can name, or be a native app that gets card login only:
 *
 * - a signed eKYC statement names the service by its redirect URI's origin, which must be https (claimed https "app
 *   links" and "universal links" of a native app are https too), or http on a loopback host when the provider itself
 *   is http (idp `statementOrigin` under `statementOriginRule`, pki `checkOrigin`). A client whose every redirect URI
 *   is one gets card login and eKYC.
 * - a native client (`application_type: "native"`) may also use private-use URI scheme redirects, a reverse domain
 *   name the app controls with one slash and no host (RFC 8252 §7.1, `jp.example.bank:/oauth2redirect`; idp
 *   `privateUseScheme`), and loopback IP redirects, `http://127.0.0.1/cb` or `http://[::1]/cb` (RFC 8252 §7.3: a
 *   desktop app opens a port at login time, and node-oidc-provider takes any port of a native client's loopback
 *   redirect at request time), beside any provider. No statement can name a private-use redirect (its origin is
 *   `"null"`), nor one in clear beside an https provider, so the client gets card login only: the provider refuses its
 *   eKYC requests before the person is asked for anything (`ERR_IDP_CLIENT_LOGIN_ONLY`, idp `loginOnlyReason`), whoever
 *   registered it ({@link loginOnlyLines} says so at start). Any other redirect (a private-use scheme without a period
 *   or with a host, one on a client that is not native, a native one on `localhost`, which RFC 8252 §8.3 advises
 *   against, http off the loopback host, loopback http of a web client beside an https provider) is refused here.
 * - a public client gets card login only too, whatever its redirects (claimed https ones included): eKYC goes to a
 *   confidential client only, as a public one's code and tokens go to whoever completes the PKCE flow on a device
 *   (idp `loginOnlyReason`). A native app that needs eKYC has its own server redeem the code with a key or a secret.
 *
 * A client that gets card login only and lists the card-signature ACR in `default_acr_values` is refused here (idp
 * `resolveConfig` refuses it too): node-oidc-provider puts it into every request that names no ACR, each refused.
 *
 * @param issuer the provider's issuer (its scheme decides the eKYC rule).
 * @param name what a message calls the `i`th client, e.g. `clients[0]`.
 * @param registered the clients the provider holds besides these (the demo's, in development).
 * @returns the clients, as node-oidc-provider metadata.
 * @throws ConfigError `ERR_CLI_CONFIG: <name> (<client_id>): <reason>`.
 * @example
 * ```ts
 * await checkClients([{ client_id: 'x' }], 'https://id.example.jp', (i) => `clients[${i}]`);
 * // ConfigError: clients[0] (x): redirect_uris is mandatory property
 * ```
 */
export async function checkClients(
  clients: readonly unknown[],
  issuer: string,
  name: (i: number) => string,
  registered: readonly ClientMetadata[] = [],
): Promise<ClientMetadata[]> {
  const taken = new Map<string, string>([[ME_CLIENT_ID, "the provider's own (its /me page)"]]);
  for (const c of registered) taken.set(c.client_id, `already registered (${String(c.client_name ?? c.client_id)})`);
  const checked: ClientMetadata[] = [];
  for (const [i, value] of clients.entries()) {
    const c = registration(value, name(i));
    const other = taken.get(c.client_id);
    if (other !== undefined) throw new ConfigError(`${name(i)} (${c.client_id}): client_id is ${other}`);
    taken.set(c.client_id, `already ${name(i)}'s`);
    checked.push(c);
  }
  let provider: ReturnType<typeof createProvider>;
  try {
    provider = createProvider({
      issuer,
      clients: [],
      jwks: { keys: [generateSigningKey()] },
      cookieKeys: [randomBytes(32).toString('base64url')],
      pairwiseSecret: randomBytes(32),
      verifier: NO_LOGINS,
      stores: { ...createMemoryStores(), adapter: NO_STORAGE },
      // Metadata only, never a login: eKYC on, so that node-oidc-provider takes the card-signature ACR in
      // default_acr_values (its discovery without eKYC offers card login's alone); whether eKYC is on is the real
      // provider's to say (idp resolveConfig refuses that ACR when it is off).
      ekyc: { signingCardPair: 'unchecked' },
    });
  } catch (e) {
    // The issuer is all that is the caller's here (an issuer with a path, say).
    if (e instanceof TypeError) throw new ConfigError(e.message, { cause: e });
    throw e;
  }
  // The provider's own rule of the origins a statement may name (loopback http ones only beside a provider on http).
  const origin = new URL(issuer).origin;
  const rule = statementOriginRule(origin).allowLoopbackHttp
    ? 'https, or http on 127.0.0.1, localhost or [::1]'
    : 'https (http on 127.0.0.1, localhost or [::1] only beside a provider on http)';
  for (const [i, c] of checked.entries()) {
    const at = `${name(i)} (${c.client_id})`;
    const keys = (c['jwks'] as { keys?: unknown } | undefined)?.keys;
    if (Array.isArray(keys) && keys.some((k) => typeof k === 'object' && k !== null && 'd' in k))
      throw new ConfigError(`${at}: jwks holds a private key ("d"): register only its public half`);
    const native = c['application_type'] === 'native';
    // RFC 8252 §8.5: only a native app is public; PKCE then binds its code to the app instance.
    if (c.token_endpoint_auth_method === 'none' && !native)
      throw new ConfigError(
        `${at}: token_endpoint_auth_method none is for a native app only (RFC 8252 §8.5): register it with "application_type": "native" or give it a secret or a key (client_secret_basic, client_secret_post or private_key_jwt)`,
      );
    // A client offered card login only (idp loginOnlyReason: a public one, or one with a redirect no statement names)
    // that asks for eKYC by default: every request naming no ACR would be refused (idp resolveConfig refuses it too).
    const loginOnly = loginOnlyReason(ekycClient(c), origin);
    if (loginOnly !== undefined && Array.isArray(c.default_acr_values) && c.default_acr_values.includes(ACR_CARD_SIGN))
      throw new ConfigError(
        `${at}: default_acr_values asks for ${ACR_CARD_SIGN} (eKYC), but the client gets card login only: ${loginOnlyBecause(loginOnly)}`,
      );
    // Said before node-oidc-provider's "redirect_uris must only contain web uris", which does not say what to do.
    for (const [j, uri] of (Array.isArray(c.redirect_uris) ? c.redirect_uris : []).entries()) {
      if (!native && typeof uri === 'string' && privateUseScheme(uri) !== undefined)
        throw new ConfigError(
          `${at}: redirect_uris[${j}] ${uri}: a private-use scheme is a native app's redirect: register the client with "application_type": "native" (it then gets card login only)`,
        );
    }
    try {
      await provider.Client.validate(structuredClone(c));
    } catch (e) {
      const reason = (e as { error_description?: unknown }).error_description;
      throw new ConfigError(`${at}: ${typeof reason === 'string' ? reason : (e as Error).message}`, { cause: e });
    }
    for (const [j, uri] of (c.redirect_uris ?? []).entries()) {
      const where = `${at}: redirect_uris[${j}] ${uri}`;
      // node-oidc-provider takes http for a native client only on localhost, 127.0.0.1 or [::1] (checked above).
      const loopback = native ? URL.parse(uri) : null;
      if (loopback?.protocol === 'http:') {
        // RFC 8252 §8.3: `localhost` may resolve to another interface, or be blocked by a firewall: the IP literal.
        if (loopback.hostname === 'localhost')
          throw new ConfigError(
            `${where}: a native app's loopback redirect must name the loopback IP address, http://127.0.0.1/… or http://[::1]/…, not localhost (RFC 8252 §8.3); the app may listen on any port (RFC 8252 §7.3)`,
          );
        // RFC 8252 §7.3: any port at request time (node-oidc-provider, native clients only). Beside an https provider
        // no statement names it: card login only (idp offersEkyc).
        continue;
      }
      if (statementOrigin(uri, origin) !== undefined) continue;
      if (native && !/^https?:/i.test(uri)) {
        // RFC 8252 §7.1: no statement names it, so this client gets card login only (idp offersEkyc).
        if (privateUseScheme(uri) !== undefined) continue;
        throw new ConfigError(
          `${where}: a native app's private-use redirect must be a reverse domain name the app controls (with a period), then ":/" and a path, without a host, e.g. jp.example.bank:/oauth2redirect (RFC 8252 §7.1)`,
        );
      }
      throw new ConfigError(
        `${where}: a signed eKYC statement names the service by this origin, which must be ${rule}`,
      );
    }
  }
  return checked;
}

/**
 * The start-up line of each of `clients` that the provider at `issuer` offers card login only (idp `loginOnlyReason`:
 * a statement cannot name one of its redirect URIs, or it is a public client, which eKYC never goes to), naming the
 * first such redirect, or saying it is public, so the operator sees at start what the provider will refuse its eKYC
 * requests with (`ERR_IDP_CLIENT_LOGIN_ONLY`); the same line says a public native app (`token_endpoint_auth_method:
 * "none"`) is public. None for another client, offered eKYC.
 *
 * @example
 * ```ts
 * loginOnlyLines([{ client_id: 'bank-app', application_type: 'native', redirect_uris: ['jp.example.bank:/cb'] }], issuer);
 * // ['client bank-app: card login only (native app redirect jp.example.bank:/cb; eKYC is not offered)']
 * loginOnlyLines([{ client_id: 'pub-app', application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['jp.example.pub:/cb'] }], issuer);
 * // ['client pub-app: card login only (native app redirect jp.example.pub:/cb; eKYC is not offered), public (no client authentication)']
 * loginOnlyLines([{ client_id: 'pub-links', application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['https://bank.example.jp/app'] }], issuer);
 * // ['client pub-links: card login only (eKYC is not offered to a public client), public (no client authentication)']
 * ```
 */
export function loginOnlyLines(clients: readonly ClientMetadata[], issuer: string): string[] {
  const origin = new URL(issuer).origin;
  const lines: string[] = [];
  for (const c of clients) {
    const said: string[] = [];
    const reason = loginOnlyReason(ekycClient(c), origin);
    if (reason !== undefined) {
      const uri = (c.redirect_uris ?? []).find((u) => statementOrigin(u, origin) === undefined);
      const kind = c['application_type'] === 'native' ? 'native app redirect' : 'redirect';
      if (uri !== undefined) said.push(`card login only (${kind} ${uri}; eKYC is not offered)`);
      else if (reason === 'public-client') said.push('card login only (eKYC is not offered to a public client)');
      else said.push('card login only (no redirect URI; eKYC is not offered)');
    }
    if (c.token_endpoint_auth_method === 'none') said.push('public (no client authentication)');
    if (said.length > 0) lines.push(`client ${c.client_id}: ${said.join(', ')}`);
  }
  return lines;
}

/**
 * The client registrations of `mynagate serve --dev --client FILE` (repeatable): each file holds one registration
 * (an object) or a list of them. Their shape is checked here; {@link checkClients} checks the rest once the
 * demo's registrations are known.
 *
 * @returns the registrations, and what a message calls each (`--client svc.json`, `--client all.json[1]`).
 * @throws ConfigError `ERR_CLI_CONFIG`, naming the file.
 */
export async function readClientFiles(
  files: readonly string[],
): Promise<{ readonly clients: readonly ClientMetadata[]; readonly names: readonly string[] }> {
  const clients: ClientMetadata[] = [];
  const names: string[] = [];
  for (const file of files) {
    const value = await readJson(resolve(file), `--client ${file}`);
    const list: unknown[] = Array.isArray(value) ? value : [value];
    if (list.length === 0) throw new ConfigError(`--client ${file} holds an empty list`);
    for (const [j, c] of list.entries()) {
      const name = Array.isArray(value) ? `--client ${file}[${j}]` : `--client ${file}`;
      // The shape now, before anything starts; the provider's own checks need the demo's registrations.
      clients.push(registration(c, name));
      names.push(name);
    }
  }
  return { clients, names };
}

/** `value` as a client registration: an object with a client_id. @throws ConfigError naming it. */
function registration(value: unknown, name: string): ClientMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(`${name} must be an object (a client registration)`);
  const id = (value as Json)['client_id'];
  if (typeof id !== 'string' || id === '') throw new ConfigError(`${name}: client_id must be a non-empty string`);
  return value as ClientMetadata;
}

/** A verifier for a provider that only reads client metadata ({@link checkClients}): it never logs anyone in. */
const NO_LOGINS: ServerConfig['verifier'] = {
  issueChallenge: () => Promise.reject(new Error('not a serving provider')),
  verifyLoginToken: () => Promise.reject(new Error('not a serving provider')),
};

/**
 * Storage for a provider that only reads client metadata: it keeps nothing (with none, node-oidc-provider would
 * warn on stderr of its in-memory adapter, at every start).
 */
const NO_STORAGE: NonNullable<ProviderStores['adapter']> = () => ({
  upsert: async () => {},
  find: async () => undefined,
  findByUserCode: async () => undefined,
  findByUid: async () => undefined,
  consume: async () => {},
  destroy: async () => {},
  revokeByGrantId: async () => {},
});

/** An http URL on a host whose origin the card's login token may name (pki `checkOrigin`'s loopback hosts). */
function isLoopbackHttp(u: URL): boolean {
  if (u.protocol !== 'http:') return false;
  try {
    checkOrigin(u.origin, { allowLoopbackHttp: true });
    return true;
  } catch {
    return false;
  }
}

async function readKeys(file: string): Promise<PrivateJwks> {
  const jwks = (await readJson(file, 'keys')) as PrivateJwks;
  try {
    assertJwks(jwks);
  } catch (e) {
    throw new ConfigError(`keys (${file}) is not a private ES256 JWKS`, { cause: e });
  }
  return jwks;
}

/** The configuration object, and a resolver of the paths in it (relative to the file). */
async function readConfig(file: string): Promise<{ c: Json; rel: (field: string, v: unknown) => string }> {
  const path = resolve(file);
  const c = object(await readJson(path, 'the configuration'), 'the configuration');
  return { c, rel: (field, v) => resolve(dirname(path), text(v, field)) };
}

/** Creates the key and secret files that do not exist yet (mode 0600, their folder 0700). */
async function initSecrets(keysFile: string, secretsFile: string): Promise<void> {
  const create = async (file: string, value: unknown) => {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    try {
      await writeFile(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  };
  await create(keysFile, { keys: [generateSigningKey()] });
  await create(secretsFile, {
    cookieKeys: [randomBytes(32).toString('base64url')],
    pairwiseSecret: randomBytes(32).toString('base64url'),
  });
}

async function revocationFrom(
  value: unknown,
  anchors: TrustAnchors,
  platform: { baseUrl: string; headers?: Record<string, string> } | undefined,
  rel: (field: string, v: unknown) => string,
  opened: Opened,
): Promise<RevocationSource> {
  const r = value === undefined ? {} : object(value, 'revocation');
  const sources: RevocationSource[] = [];
  if (r['crl'] !== undefined) {
    if (!Array.isArray(r['crl']) || r['crl'].length === 0)
      throw new ConfigError('revocation.crl must be a list of CRL files');
    const files = r['crl'].map((f, i) => rel(`revocation.crl[${i}]`, f));
    const every = r['crlCheckSeconds'] ?? 60;
    if (!Number.isSafeInteger(every) || (every as number) < 1)
      throw new ConfigError('revocation.crlCheckSeconds must be a whole number of seconds >= 1');
    // Read now (a file that fails stops the start) and again whenever one is replaced, so a fresh CRL put in place
    // (by hand, or by a job fetching it from J-LIS) is used without a restart; one that cannot be used leaves the
    // CRL in use and says why on stderr.
    let started = false;
    const crl = await crlFiles({
      files,
      issuers: [...anchors.auth, ...anchors.sign],
      intervalMs: (every as number) * 1000,
      onLoad: (file, index) => {
        if (started)
          process.stderr.write(
            `crl: ${file}: now in use (cRLNumber ${index.crlNumber ?? '-'}, nextUpdate ${index.nextUpdate.toISOString()})\n`,
          );
      },
      onError: (e, file) => process.stderr.write(`crl: ${file}: not used: ${errorLine(e)}\n`),
    }).catch((e: unknown) => {
      if (!(e instanceof CrlFileError)) throw e;
      const cause = e.cause as Error;
      throw new ConfigError(`revocation.crl[${files.indexOf(e.file)}] (${e.file}): ${cause.message}`, { cause });
    });
    started = true;
    opened.push(() => crl.close());
    sources.push(crlRevocation(crl));
  }
  const ocsp = r['ocsp'];
  if (ocsp === true) sources.push(ocspSource({}));
  else if (ocsp !== undefined && ocsp !== false) sources.push(ocspSource({ url: url(ocsp, 'revocation.ocsp') }));
  if (sources.length === 0 && platform !== undefined) sources.push(platformSource(platform));
  // Fail closed: a provider must name where revocation comes from.
  if (sources.length === 0) throw new ConfigError('revocation names no source (ocsp, crl, or a platform)');
  return sources.length === 1 ? sources[0]! : firstAnswer(...sources);
}

function storeFrom(value: unknown, rel: (field: string, v: unknown) => string): StoreConfig {
  const s = object(value, 'store');
  if (s['kind'] === 'sqlite') return { kind: 'sqlite', path: rel('store.path', s['path']) };
  if (s['kind'] === 'postgres') {
    return {
      kind: 'postgres',
      url: url(s['url'], 'store.url'),
      redisUrl: url(s['redisUrl'], 'store.redisUrl'),
      schema: s['schema'] === undefined ? 'mynagate' : text(s['schema'], 'store.schema'),
      ...(s['redisPrefix'] === undefined ? {} : { redisPrefix: text(s['redisPrefix'], 'store.redisPrefix') }),
      ...(s['preparedStatements'] === undefined
        ? {}
        : { preparedStatements: flag(s['preparedStatements'], 'store.preparedStatements') }),
    };
  }
  throw new ConfigError('store.kind must be sqlite or postgres');
}

function limitsFrom(v: unknown): ServerLimits {
  const names = Object.keys(DEFAULT_SERVER_LIMITS);
  const limits: Record<string, number> = {};
  for (const [k, value] of Object.entries(object(v, 'limits'))) {
    if (!names.includes(k)) throw new ConfigError(`limits.${k} is not a limit (${names.join(', ')})`);
    const least = k === 'maxRequestsPerSocket' ? 0 : 1;
    if (!Number.isSafeInteger(value) || (value as number) < least)
      throw new ConfigError(`limits.${k} must be a whole number >= ${least}`);
    limits[k] = value as number;
  }
  const all = { ...DEFAULT_SERVER_LIMITS, ...limits };
  if (all.requestTimeoutMs < all.headersTimeoutMs)
    throw new ConfigError('limits.requestTimeoutMs must be at least limits.headersTimeoutMs');
  return limits;
}

/** A file the configuration names, as bytes. @throws ConfigError naming the field. */
async function readBytes(file: string, field: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new ConfigError(`${field}: cannot read ${file}`, { cause: e });
  }
}

async function readJson(file: string, what: string): Promise<unknown> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (e) {
    const hint = what === 'keys' || what === 'secrets' ? ' (serve --config FILE --init creates it)' : '';
    throw new ConfigError(`${what}: cannot read ${file}${hint}`, { cause: e });
  }
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(`${what}: ${file} is not JSON`, { cause: e });
  }
}

function object(v: unknown, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${field} must be an object`);
  return v as Json;
}

function flag(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(`${field} must be true or false`);
  return v;
}

/** `trustProxy`: true or false, or the list of the proxies' addresses and networks (idp `TrustProxy`), checked. */
function trustProxyFrom(v: unknown): TrustProxy {
  if (typeof v === 'boolean') return v;
  if (!Array.isArray(v))
    throw new ConfigError("trustProxy must be true, false or a list of the proxies' addresses or networks (CIDR)");
  try {
    proxyTrust(v as string[]);
  } catch (e) {
    throw new ConfigError((e as Error).message, { cause: e });
  }
  return v as string[];
}

function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${field} must be a non-empty string`);
  return v;
}

function url(v: unknown, field: string): string {
  const s = text(v, field);
  if (!URL.canParse(s)) throw new ConfigError(`${field} must be a URL`);
  return s;
}

function headers(v: unknown): Record<string, string> {
  const h = object(v, 'platform.headers');
  for (const [k, value] of Object.entries(h))
    if (typeof value !== 'string') throw new ConfigError(`platform.headers.${k} must be a string`);
  return h as Record<string, string>;
}
