/**
 * The demo: two relying parties on `@mynagate/rp` and `node:http`, each its own service with its own client at
 * MynaGate:
 *
 * - the bank (`bank.ts`): sign-up with the card, and transfers where a large one needs a fresh card login;
 * - the liquor shop (`shop.ts`): an age-restricted purchase that learns only `age_over_20`.
 *
 * Two origins, two registrations: MynaGate names the service that asks on every page (login, consent, the signed
 * statement), and gives each its own pairwise `sub` for the same card (OIDC Core §8.1: the sector is the redirect
 * URI's host).
 */
import { KeyObject } from 'node:crypto';
import { startBank } from './bank.ts';
import type { ClientMetadata, DemoService, RunningService } from './service.ts';
import { startShop } from './shop.ts';

export type { ClientMetadata, DemoService } from './service.ts';

/** Options of the shop, the demo's second relying party. */
export interface DemoShopOptions {
  /** The shop's own ES256 private key (private_key_jwt, RFC 7523): never the bank's. */
  readonly clientKey: KeyObject;
  /** Default `mynagate-demo-shop`. */
  readonly clientId?: string;
  /** Shown by MynaGate on its pages and the phone. Default `デモ酒店 / Demo Liquor Shop`. */
  readonly clientName?: string;
  /** Default 0 (any free port). Its pairwise `sub` depends on it (its sector). */
  readonly port?: number;
}

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Where the bank's accounts and transfers live (SQLite file; `:memory:` for a throwaway demo). */
  readonly accountsPath: string;
  /** The bank's ES256 private key (private_key_jwt, RFC 7523); its public half goes into the registration. */
  readonly clientKey: KeyObject;
  /** The bank's client_id. Default `mynagate-demo`. */
  readonly clientId?: string;
  /** The bank's name on MynaGate's pages and the phone. Default `デモ銀行 / Demo Bank`. */
  readonly clientName?: string;
  /** The shop: its own client. */
  readonly shop: DemoShopOptions;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** The bank's port. Default 0 (any free port). */
  readonly port?: number;
  /** Clock, epoch ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** The running demo. `url`, `redirectUri` and `clientMetadata` are the bank's (the demo's front door). */
export interface DemoServer extends DemoService {
  /** The shop, on its own origin. */
  readonly shop: DemoService;
  /** Every registration, for `IdpConfig.clients`: the bank's and the shop's. */
  readonly clients: readonly ClientMetadata[];
  /** Discovers the provider at `issuer`, for both services; each answers 503 on its logins until then. */
  connect(issuer: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the bank and the shop (listening first, so their redirect URIs are known before the provider registers
 * them).
 *
 * @example
 * ```ts
 * const demo = await startDemo({ accountsPath: ':memory:', clientKey, shop: { clientKey: shopKey } });
 * const idp = await startServer({ ...config, clients: demo.clients });
 * await demo.connect(idp.issuer);
 * ```
 * @throws TypeError on a bad option (a key that is not EC P-256, the bank's key or client id given to the shop);
 *   the listen error (e.g. `EADDRINUSE`, with its `port`).
 */
export async function startDemo(options: DemoOptions): Promise<DemoServer> {
  if (typeof options?.shop !== 'object' || options.shop === null) throw new TypeError('shop must be an object');
  const [bankKey, shopKey] = [options.clientKey, options.shop.clientKey];
  if (bankKey instanceof KeyObject && shopKey instanceof KeyObject && shopKey.equals(bankKey)) {
    throw new TypeError("shop.clientKey must be the shop's own key, not the bank's");
  }
  const bankId = options.clientId ?? 'mynagate-demo';
  const shopId = options.shop.clientId ?? 'mynagate-demo-shop';
  if (bankId === shopId) throw new TypeError('the shop and the bank need different client ids');
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  let shop: RunningService | undefined;
  const bank = await startBank({
    brand: 'bank',
    clientId: bankId,
    clientName: options.clientName ?? 'デモ銀行 / Demo Bank',
    clientKey: options.clientKey,
    kid: 'demo-1',
    cookie: 'demo_session',
    host,
    port: options.port ?? 0,
    now,
    accountsPath: options.accountsPath,
    shopUrl: () => shop?.url,
  });
  try {
    shop = await startShop({
      brand: 'shop',
      clientId: shopId,
      clientName: options.shop.clientName ?? 'デモ酒店 / Demo Liquor Shop',
      clientKey: options.shop.clientKey,
      kid: 'shop-1',
      // Cookies are not separated by port: the shop's has a name of its own.
      cookie: 'shop_session',
      host,
      port: options.shop.port ?? 0,
      now,
      bankUrl: bank.url,
    });
  } catch (e) {
    await bank.close();
    throw e;
  }
  const { url, redirectUri, clientMetadata } = shop;
  const running = shop;
  return {
    url: bank.url,
    redirectUri: bank.redirectUri,
    clientMetadata: bank.clientMetadata,
    shop: Object.freeze({ url, redirectUri, clientMetadata }),
    clients: Object.freeze([bank.clientMetadata, shop.clientMetadata]),
    async connect(issuer) {
      await Promise.all([bank.connect(issuer), running.connect(issuer)]);
    },
    async close() {
      await Promise.all([bank.close(), running.close()]);
    },
  };
}
