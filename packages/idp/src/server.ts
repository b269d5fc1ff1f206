/**
 * The IdP as one `node:http` server: the interaction pages and companion API first, node-oidc-provider for everything
 * else (mounted at `/`), and the virtual phone when development mode is on.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import { resolveConfig, type IdpConfig, type ResolvedConfig } from './config.ts';
import { devPhonePage, devPhoneSign } from './dev/phone.ts';
import { sendErrorPage } from './http-errors.ts';
import { sendSignError } from './ekyc/messages.ts';
import { consentAnswer, consentPage } from './consent/page.ts';
import { meRoutes } from './consent/me.ts';
import { ekycRoutes } from './ekyc/pages.ts';
import { EKYC_PROMPT } from './ekyc/policy.ts';
import { companionScan, companionToken } from './interactions/companion.ts';
import { interactionFor, type InteractionContext } from './interactions/context.ts';
import { loginEvents } from './interactions/events.ts';
import { abortLogin, loginPage } from './interactions/login-page.ts';
import { Router, type Handler } from './interactions/router.ts';
import { rotateKeys, type PrivateJwks } from './keys.ts';
import { LoginTransactions } from './login-transaction.ts';
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
  /** Trust `X-Forwarded-*` from a TLS-terminating proxy in front (node-oidc-provider's `proxy`). Default false. */
  readonly trustProxy?: boolean;
}

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
  /** Stops listening and ends open connections (event streams included). */
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
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (handler === undefined) {
      res.writeHead(503).end();
      return;
    }
    handler(req, res);
  };
  const server =
    config.tls === undefined
      ? createHttpServer(listener)
      : createHttpsServer({ key: pem(config.tls.key), cert: pem(config.tls.cert) }, listener);
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

  let resolved: ResolvedConfig;
  try {
    resolved = resolveConfig({ ...config, stores, records, issuer: config.issuer ?? url });
  } catch (e) {
    server.close();
    await owned?.close();
    throw e;
  }
  const make = (c: ResolvedConfig): { provider: Provider; callback: ReturnType<Provider['callback']> } => {
    const provider = buildProvider(c);
    provider.proxy = config.trustProxy === true;
    return { provider, callback: provider.callback() };
  };
  let current = make(resolved);
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
  };
  const ekyc = ekycRoutes(context);
  const me = meRoutes(context);
  const router = new Router()
    .on(
      'GET',
      '/interaction/:uid',
      byPrompt(context, { login: loginPage(context), consent: consentPage(context), [EKYC_PROMPT]: ekyc.page }),
      sendErrorPage,
    )
    .on('POST', '/interaction/:uid/consent', consentAnswer(context), sendErrorPage)
    .on('GET', '/interaction/:uid/sign-events', ekyc.events)
    .on('GET', '/companion/sign/:txn', ekyc.scan, sendSignError)
    .on('POST', '/companion/sign/:txn/signature', ekyc.signature, sendSignError)
    .on('GET', '/me', me.page, sendErrorPage)
    .on('GET', '/me/login', me.login, sendErrorPage)
    .on('GET', '/me/callback', me.callback, sendErrorPage)
    .on('POST', '/me/withdraw', me.withdraw, sendErrorPage)
    .on('POST', '/interaction/:uid/abort', abortLogin(context), sendErrorPage)
    .on('GET', '/interaction/:uid/events', loginEvents(context))
    .on('GET', '/companion/:txn', companionScan(context))
    .on('POST', '/companion/:txn/token', companionToken(context));
  if (resolved.dev !== false) {
    router
      .on('GET', '/dev/phone', devPhonePage(context, resolved.dev), sendErrorPage)
      .on('POST', '/dev/phone/sign', devPhoneSign(context, resolved.dev))
      .on('POST', '/dev/phone/sign-statement', ekyc.devSign(resolved.dev), sendSignError);
  }

  handler = (req, res) => {
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
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await owned?.close();
    },
  };
}

/** `GET /interaction/:uid`: the page of the pending prompt (card login, consent, card signature). */
function byPrompt(context: InteractionContext, pages: Readonly<Record<string, Handler>>): Handler {
  return async (req, res, params, url) => {
    const details = await interactionFor(context, req, res, params['uid']!);
    await (pages[details.prompt.name] ?? pages['login']!)(req, res, params, url);
  };
}

function pem(value: string | Uint8Array): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value);
}
