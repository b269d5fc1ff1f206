/**
 * The IdP as one `node:http` server: the interaction pages and companion API first, node-oidc-provider for everything
 * else (mounted at `/`), and the virtual phone when development mode is on.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isMynaGateError } from '@mynagate/errors';
import type Provider from 'oidc-provider';
import { resolveConfig, type IdpConfig, type ResolvedConfig } from './config.ts';
import { devPhonePage, devPhoneSign } from './dev/phone.ts';
import { sendErrorPage } from './http-errors.ts';
import { sendSignError } from './ekyc/messages.ts';
import { consentAnswer, consentPage } from './consent/page.ts';
import { meRoutes } from './consent/me.ts';
import { ekycRoutes } from './ekyc/pages.ts';
import { EKYC_PROMPT } from './ekyc/policy.ts';
import { companionFailure, companionScan, companionToken } from './interactions/companion.ts';
import { interactionFor, type InteractionContext } from './interactions/context.ts';
import { loginEvents } from './interactions/events.ts';
import { abortLogin, loginPage } from './interactions/login-page.ts';
import { Router, type Handler } from './interactions/router.ts';
import { rotateKeys, type PrivateJwks } from './keys.ts';
import { LoginTransactions } from './login-transaction.ts';
import { networkTagger, proxyTrust, type TrustProxy } from './network-tag.ts';
import type { ProviderStores } from './ports.ts';
import { buildProvider } from './provider.ts';
import { openStores, type StoreConfig } from './store/open.ts';
import { providerStores } from './stores.ts';

/**
 * What {@link startServer} takes: an {@link IdpConfig} whose issuer may be left to the listening address, with
 * either opened `stores` (the caller closes them) or a `store` configuration (opened here, closed by `close()`).
 */
export interface ServerConfig extends Omit<IdpConfig, 'issuer' | 'stores'> {
  readonly stores?: ProviderStores;
  /** Where to open the stores, e.g. `{ kind: 'sqlite', path: 'mynagate.db' }`. */
  readonly store?: StoreConfig;
  /** Default: `http://<host>:<port>` of the listening socket (development). */
  readonly issuer?: string;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /**
   * Let several processes listen on `port` at once (Linux SO_REUSEPORT; the kernel spreads connections over them),
   * so one machine runs one provider per core. They must share PostgreSQL + Redis stores. Default false.
   */
  readonly reusePort?: boolean;
  /** Serve HTTPS with this key and certificate (PEM). Without it, plain HTTP (loopback or behind a TLS proxy). */
  readonly tls?: { readonly key: string | Uint8Array; readonly cert: string | Uint8Array };
  /**
   * A TLS-terminating proxy in front (node-oidc-provider's `proxy`), trusted for the client's address in
   * `X-Forwarded-For` (for the network check of a card login or an eKYC signature; network-tag.ts): `true`, whoever
   * connects, one hop (its last entry); or, better, a list of the proxies' addresses and networks (CIDR), so that a
   * client reaching the provider directly cannot name its own network, and a chain of proxies is walked through
   * ({@link TrustProxy}). Default false. The URLs the provider publishes and accepts always follow `issuer`, never the
   * request's `Host` or `X-Forwarded-Host`/`-Proto`.
   */
  readonly trustProxy?: TrustProxy;
  /** Connection limits and timeouts, each with a default fit for the open Internet. */
  readonly limits?: ServerLimits;
}

/**
 * How long the server waits for a client and how many it holds at once (node:http's timeouts, which by default let a
 * silent or trickling client hold a connection for minutes). Times in milliseconds.
 */
export interface ServerLimits {
  /** Time to receive a request's headers (then 408 and close). Default 10 000. */
  readonly headersTimeoutMs?: number;
  /** Time to receive a whole request, body included (then 408 and close); at least `headersTimeoutMs`. Default 30 000. */
  readonly requestTimeoutMs?: number;
  /** Time a kept-alive connection waits for its next request. Default 5 000. */
  readonly keepAliveTimeoutMs?: number;
  /**
   * Time a connection may go without reading or writing anything before it is closed, event streams excepted (they
   * end by themselves when the login does). Default 30 000.
   */
  readonly idleTimeoutMs?: number;
  /** Connections open at once; more are closed as they come. Default 10 000. */
  readonly maxConnections?: number;
  /**
   * Requests on one kept-alive connection before it is closed; 0, the default, for no limit. Node answers a request
   * past the limit that a client sent before it saw `Connection: close` with a bare 503, which fails that person's
   * login (measured: 1-2 of ~2 500 logins with 1 000).
   */
  readonly maxRequestsPerSocket?: number;
  /**
   * How long {@link IdpServer.close} waits for the requests under way (a card token being verified, say) before it
   * cuts their connections. Default 10 000.
   */
  readonly drainTimeoutMs?: number;
}

/** The limits {@link startServer} applies where {@link ServerConfig.limits} names none. */
export const DEFAULT_SERVER_LIMITS: Readonly<Required<ServerLimits>> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  maxConnections: 10_000,
  maxRequestsPerSocket: 0,
  drainTimeoutMs: 10_000,
});

/** RFC 6797: browsers that reached the issuer over HTTPS never try it over HTTP for two years. */
const HSTS = 'max-age=63072000; includeSubDomains';

/** A running IdP. */
export interface IdpServer {
  /** The listening URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The issuer identifier (the same as `url` unless configured). */
  readonly issuer: string;
  /** The current provider (replaced by {@link IdpServer.rotateKeys}). */
  readonly provider: Provider;
  /**
   * Puts a fresh ES256 key first and keeps `keep` previous keys published; returns the new private JWKS for the
   * operator to store. Sessions, codes and tokens survive (they live in the stores, not in the provider object).
   */
  rotateKeys(options?: { readonly keep?: number }): PrivateJwks;
  /**
   * Stops listening, ends the event streams, lets the requests under way finish (up to `limits.drainTimeoutMs`),
   * then ends every connection and closes the stores it opened.
   */
  close(): Promise<void>;
}

/**
 * Starts the IdP.
 *
 * @example
 * ```ts
 * const idp = await startServer({ clients, jwks, cookieKeys, pairwiseSecret, verifier, store: { kind: 'sqlite', path } });
 * console.log(`${idp.url}/.well-known/openid-configuration`);
 * ```
 * @throws TypeError for an invalid configuration.
 */
export async function startServer(config: ServerConfig): Promise<IdpServer> {
  const host = config.host ?? '127.0.0.1';
  const port = config.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError('port must be 0..65535');
  const limits = resolveLimits(config.limits);
  const trust = proxyTrust(config.trustProxy);
  if ((config.stores === undefined) === (config.store === undefined)) {
    throw new TypeError('give exactly one of stores (opened) and store (a configuration)');
  }
  const owned = config.store === undefined ? undefined : await openStores(config.store);
  const stores = config.stores ?? providerStores(owned!);
  // Consent and audit records: the caller's, else the opened store's (else in memory, development only).
  const records = config.records ?? owned?.records;
  try {
    if (config.issuer !== undefined) resolveConfig({ ...config, stores, records, issuer: config.issuer }); // fail before listening
  } catch (e) {
    await owned?.close();
    throw e;
  }

  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  // What close() drains: requests under way (their answers are written before the connections go), and the event
  // streams, which end at once (the page's EventSource reconnects, to another node behind a balancer).
  const active = new Set<ServerResponse>();
  let drained: (() => void) | undefined;
  let closing = false;
  const streams = new Set<ServerResponse>();
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (handler === undefined) {
      res.writeHead(503).end();
      return;
    }
    active.add(res);
    res.once('close', () => {
      active.delete(res);
      if (active.size === 0) drained?.();
    });
    // A request on a kept-alive connection while closing: answered, then the connection goes.
    if (closing) res.setHeader('connection', 'close');
    handler(req, res);
  };
  /** An event stream: exempt from the idle timeout (it writes on its own schedule) and ended first by close(). */
  const eventStream =
    (route: Handler): Handler =>
    async (req, res, params, url) => {
      req.socket.setTimeout(0);
      if (closing) {
        res.writeHead(503, { 'retry-after': '1' }).end();
        return;
      }
      streams.add(res);
      res.once('close', () => streams.delete(res));
      await route(req, res, params, url);
    };
  const options = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often node:http looks for connections past headersTimeout or requestTimeout (default 30 s, which lets a
    // silent client hold a connection that much longer).
    connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.headersTimeoutMs / 4)),
  };
  const server =
    config.tls === undefined
      ? createHttpServer(options, listener)
      : createHttpsServer(
          // A TLS connection is not HTTP until its handshake ends (default: 120 s to do so).
          {
            ...options,
            handshakeTimeout: limits.headersTimeoutMs,
            key: pem(config.tls.key),
            cert: pem(config.tls.cert),
          },
          listener,
        );
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, reusePort: config.reusePort === true }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (e: unknown) => {
    await owned?.close();
    throw e;
  });
  const address = server.address() as AddressInfo;
  const url = `${config.tls === undefined ? 'http' : 'https'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  const make = (c: ResolvedConfig): { provider: Provider; callback: ReturnType<Provider['callback']> } => {
    const provider = buildProvider(c);
    provider.proxy = trust !== false;
    return { provider, callback: provider.callback() };
  };
  let resolved: ResolvedConfig;
  let current: ReturnType<typeof make>;
  // Either may refuse the configuration (node-oidc-provider checks the clients when it is built) after the server
  // listens: it is closed then, or the process would hang on it with nothing said.
  try {
    resolved = resolveConfig({ ...config, stores, records, issuer: config.issuer ?? url });
    current = make(resolved);
  } catch (e) {
    server.close();
    await owned?.close();
    throw e;
  }
  const context: InteractionContext = {
    provider: () => current.provider,
    get config() {
      return resolved;
    },
    transactions: new LoginTransactions({
      oneShot: resolved.stores.oneShot,
      changes: resolved.stores.changes,
      verifier: resolved.verifier,
      now: resolved.now,
      origin: resolved.origin,
      loginTtlSeconds: resolved.loginTtlSeconds,
      challengeTtlSeconds: resolved.challengeTtlSeconds,
      qrMaxAgeSeconds: resolved.qrMaxAgeSeconds,
    }),
    networkOf: networkTagger(resolved.pairwiseSecret, trust),
  };
  const ekyc = ekycRoutes(context, resolved.log);
  const me = meRoutes(context);
  const router = new Router()
    .on(
      'GET',
      '/interaction/:uid',
      byPrompt(context, { login: loginPage(context), consent: consentPage(context), [EKYC_PROMPT]: ekyc.page }),
      sendErrorPage,
    )
    .on('POST', '/interaction/:uid/consent', consentAnswer(context), sendErrorPage)
    .on('GET', '/interaction/:uid/sign-events', eventStream(ekyc.events))
    .on('GET', '/companion/sign/:txn', ekyc.scan, sendSignError)
    .on('POST', '/companion/sign/:txn/signature', ekyc.signature, sendSignError)
    .on('GET', '/me', me.page, sendErrorPage)
    .on('GET', '/me/login', me.login, sendErrorPage)
    .on('GET', '/me/callback', me.callback, sendErrorPage)
    .on('POST', '/me/withdraw', me.withdraw, sendErrorPage)
    .on('POST', '/interaction/:uid/abort', abortLogin(context), sendErrorPage)
    .on('GET', '/interaction/:uid/events', eventStream(loginEvents(context)))
    .on('GET', '/companion/:txn', companionScan(context, resolved.log))
    .on('POST', '/companion/:txn/token', companionToken(context, resolved.log))
    .on('POST', '/companion/:txn/failure', companionFailure(context, resolved.log));
  if (resolved.dev !== false) {
    router
      .on('GET', '/dev/phone', devPhonePage(context, resolved.dev), sendErrorPage)
      .on('POST', '/dev/phone/sign', devPhoneSign(context, resolved.dev, resolved.log))
      .on('POST', '/dev/phone/sign-statement', ekyc.devSign(resolved.dev), sendSignError);
  }

  const issuerUrl = new URL(resolved.issuer);
  handler = (req, res) => {
    if (issuerUrl.protocol === 'https:') res.setHeader('strict-transport-security', HSTS);
    pinToIssuer(req, issuerUrl, trust !== false);
    router.handle(req, res, resolved.origin).then(
      (handled) => {
        if (!handled) void current.callback(req, res);
      },
      (e: unknown) => sendErrorPage(res, e),
    );
  };

  return {
    url,
    issuer: resolved.issuer,
    get provider() {
      return current.provider;
    },
    rotateKeys(options = {}) {
      const jwks = rotateKeys(resolved.jwks, options);
      const next = resolveConfig({ ...resolved, jwks });
      current = make(next);
      resolved = next;
      return jwks;
    },
    async close() {
      // No new connections; the requests under way finish (up to drainTimeoutMs), the event streams end now.
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      for (const res of streams) res.end();
      // The answers still to come close their connections (no next request on them).
      for (const res of active) if (!res.headersSent) res.setHeader('connection', 'close');
      if (active.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, limits.drainTimeoutMs);
          drained = () => (clearTimeout(timer), resolve());
        });
      }
      server.closeAllConnections();
      await closed;
      await owned?.close();
    },
  };
}

/** `GET /interaction/:uid`: the page of the pending prompt (card login, consent, card signature). */
function byPrompt(context: InteractionContext, pages: Readonly<Record<string, Handler>>): Handler {
  return async (req, res, params, url) => {
    let details;
    try {
      details = await interactionFor(context, req, res, params['uid']!);
    } catch (e) {
      // Back from the card-reader bridge (`?resume&code=`) in a browser without this login's cookies: a page sent the
      // person's bridge the link of a login its own browser started. The hand-over is refused as such, its code used
      // up and the login's own page told (ERR_IDP_HANDOVER_MISMATCH), not taken for an unknown interaction.
      const code = url.searchParams.get('code');
      if (isMynaGateError(e, 'ERR_IDP_INTERACTION_NOT_FOUND') && code !== null && url.searchParams.has('resume')) {
        await context.transactions.takeHandover(code, undefined, params['uid']!);
      }
      throw e;
    }
    await (pages[details.prompt.name] ?? pages['login']!)(req, res, params, url);
  };
}

/**
 * Makes the request name the issuer, whatever the client sent. node-oidc-provider builds the URLs it publishes and the
 * audience it expects of client assertions (private_key_jwt, client_secret_jwt) from the request's address (Koa's
 * `ctx.href`): a forged `Host` would publish another origin's endpoints and accept an assertion minted for another
 * server's token endpoint. Behind a trusted proxy, only the client's address (`X-Forwarded-For`) comes from it.
 */
function pinToIssuer(req: IncomingMessage, issuer: URL, trustProxy: boolean): void {
  req.headers.host = issuer.host;
  delete req.headers['x-forwarded-host'];
  if (trustProxy) req.headers['x-forwarded-proto'] = issuer.protocol.slice(0, -1);
  else delete req.headers['x-forwarded-proto'];
  // An absolute-form target (RFC 9112 §3.2.2: `GET http://other.example/token`) is Koa's `href` as sent; the path is
  // all that counts. One that does not parse is left to the router (400).
  const target = req.url ?? '/';
  if (!target.startsWith('/') && URL.canParse(target)) {
    const url = new URL(target);
    if (url.protocol === 'http:' || url.protocol === 'https:') req.url = `${url.pathname}${url.search}`;
  }
}

function resolveLimits(given: ServerLimits = {}): Required<ServerLimits> {
  const limits = { ...DEFAULT_SERVER_LIMITS, ...given };
  for (const [name, value] of Object.entries(limits)) {
    const least = name === 'maxRequestsPerSocket' ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < least)
      throw new TypeError(`limits.${name} must be a whole number >= ${least}`);
  }
  if (limits.requestTimeoutMs < limits.headersTimeoutMs) {
    throw new TypeError('limits.requestTimeoutMs must be at least limits.headersTimeoutMs');
  }
  return Object.freeze(limits);
}

function pem(value: string | Uint8Array): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value);
}
