/**
 * The demo relying party on `@mynagate/rp` and `node:http`, three stories:
 *
 * 1. **Sign-up** (`/signup`): `cardLogin()`; the account is keyed by the pairwise `sub`, so one card is one account.
 * 2. **Transfer** (`POST /transfer`): up to {@link STEP_UP_THRESHOLD_YEN} on the session's login; above it, a
 *    `stepUp({ maxAgeSeconds })` card login for the same `sub`, and the transfer is made only after it.
 * 3. **Age-restricted purchase** (`/shop`): `ageCheck({ over: 20 })`; the shop learns one boolean, `age_over_20`.
 *
 * Every login ends at `/callback`, where `complete` checks state, PKCE, the ID token, `acr`/`amr`/`auth_time` and the
 * claims; what happens next is decided by what the session was waiting for.
 */
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MynaGateError } from '@mynagate/errors';
import {
  createMynaGateClient,
  RpAuthorizationError,
  type AgeCheckTransaction,
  type CardLoginTransaction,
  type MynaGateClient,
} from '@mynagate/rp';
import { openDemoAccounts } from './accounts.ts';
import { DemoNotConnectedError } from './errors.ts';
import { accountPage, errorPage, landingPage, purchasePage, shopPage, transferDonePage } from './pages.ts';
import { needsFreshCardLogin, openDemoTransfers, parseAmount, STEP_UP_MAX_AGE_SECONDS } from './transfers.ts';

const COOKIE = 'demo_session';
const MAX_FORM_BYTES = 4096;
/** ID token claims that belong to the protocol, not to the person: left out of "what the shop received". */
const PROTOCOL_CLAIMS = new Set([
  'iss',
  'aud',
  'azp',
  'exp',
  'iat',
  'nbf',
  'jti',
  'nonce',
  'sid',
  'at_hash',
  'c_hash',
  's_hash',
]);

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Where the accounts and transfers live (SQLite file; `:memory:` for a throwaway demo). */
  readonly accountsPath: string;
  /** The client's ES256 private key (private_key_jwt, RFC 7523); its public half goes into the registration. */
  readonly clientKey: KeyObject;
  /** Default `mynagate-demo`. */
  readonly clientId?: string;
  /** Shown by MynaGate on the login page and the phone. Default `デモ銀行 / Demo Bank`. */
  readonly clientName?: string;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Clock, epoch ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** A running demo service. */
export interface DemoServer {
  /** e.g. `http://127.0.0.1:8081`. */
  readonly url: string;
  /** `${url}/callback`. */
  readonly redirectUri: string;
  /** The client registration for MynaGate (`IdpConfig.clients`). */
  readonly clientMetadata: Readonly<Record<string, unknown>> & { readonly client_id: string };
  /** Discovers the provider at `issuer`; the demo answers 503 on its logins until then. */
  connect(issuer: string): Promise<void>;
  close(): Promise<void>;
}

/** What a session waits for at `/callback`. */
type Pending =
  | { readonly story: 'signup'; readonly transaction: CardLoginTransaction }
  | {
      readonly story: 'transfer';
      readonly transaction: CardLoginTransaction;
      readonly payee: string;
      readonly amount: number;
    }
  | { readonly story: 'purchase'; readonly transaction: AgeCheckTransaction };

interface Session {
  pending?: Pending;
  account?: { number: string; sub: string; created: boolean; acr: string };
}

/**
 * Starts the demo service (listening first, so its redirect URI is known before the provider registers it).
 *
 * @example
 * ```ts
 * const demo = await startDemo({ accountsPath: ':memory:', clientKey });
 * const idp = await startServer({ ...config, clients: [demo.clientMetadata] });
 * await demo.connect(idp.issuer);
 * ```
 * @throws TypeError on a bad option; the listen error (e.g. `EADDRINUSE`).
 */
export async function startDemo(options: DemoOptions): Promise<DemoServer> {
  if (options.clientKey?.type !== 'private' || options.clientKey.asymmetricKeyType !== 'ec') {
    throw new TypeError('clientKey must be an EC P-256 private KeyObject');
  }
  const clientId = options.clientId ?? 'mynagate-demo';
  const now = options.now ?? Date.now;
  const accounts = openDemoAccounts(options.accountsPath);
  const transfers = openDemoTransfers(options.accountsPath);
  const sessions = new Map<string, Session>();
  let mynagate: MynaGateClient | undefined;

  let providerOrigin = '';
  const page = (res: ServerResponse, status: number, body: string) => send(res, status, body, providerOrigin);

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof DemoNotConnectedError ? 503 : 500;
      send(res, status, errorPage('サービスを利用できません。', 'The service is not available right now.'));
      if (status === 500) process.stderr.write(`demo: ${(e as Error)?.message ?? String(e)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => {
      accounts.close();
      transfers.close();
      reject(e);
    });
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const redirectUri = `${url}/callback`;
  const publicJwk = {
    ...createPublicKey(options.clientKey).export({ format: 'jwk' }),
    kid: 'demo-1',
    use: 'sig',
    alg: 'ES256',
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reqUrl = new URL(req.url ?? '/', url);
    const sid = cookie(req, COOKIE);
    const session = sid === undefined ? undefined : sessions.get(sid);
    switch (`${req.method} ${reqUrl.pathname}`) {
      case 'GET /':
        if (session?.account) return redirect(res, '/account');
        return page(res, 200, landingPage());
      case 'GET /signup':
        return start(res, session, (c) =>
          c.cardLogin().then((r) => ({ ...r, pending: { story: 'signup', transaction: r.transaction } })),
        );
      case 'GET /callback':
        return callback(reqUrl, res, session);
      case 'GET /account': {
        const a = session?.account;
        const account = a === undefined ? undefined : accounts.find(a.number);
        if (a === undefined || account === undefined) return redirect(res, '/');
        return page(res, 200, accountPage(account, a.created, a.acr, transfers.balance(account.number)));
      }
      case 'POST /transfer':
        return transfer(req, res, session);
      case 'GET /shop':
        return page(res, 200, shopPage());
      case 'POST /shop/buy':
        return start(res, session, (c) =>
          c
            .ageCheck({ over: 20, purpose: '酒類の販売のための年齢確認 / Age check for selling alcohol' })
            .then((r) => ({ ...r, pending: { story: 'purchase', transaction: r.transaction } })),
        );
      case 'POST /logout':
        if (sid !== undefined) sessions.delete(sid);
        res.setHeader('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
        return redirect(res, '/');
      default:
        return page(res, 404, errorPage('ページが見つかりません。', 'Page not found.'));
    }
  }

  /** Starts a card login of some story: keeps its transaction in the session, sends the browser to MynaGate. */
  async function start(
    res: ServerResponse,
    session: Session | undefined,
    begin: (c: MynaGateClient) => Promise<{ url: URL; pending: Pending }>,
  ): Promise<void> {
    if (mynagate === undefined) throw new DemoNotConnectedError();
    const { url: target, pending } = await begin(mynagate);
    if (session === undefined) {
      const sid = randomBytes(24).toString('base64url');
      session = {};
      sessions.set(sid, session);
      // SameSite=Lax: the cookie comes back on the provider's top-level redirect, never on a cross-site POST.
      res.setHeader('set-cookie', `${COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    }
    session.pending = pending;
    redirect(res, target.href);
  }

  async function transfer(req: IncomingMessage, res: ServerResponse, session: Session | undefined): Promise<void> {
    const account = session?.account;
    if (session === undefined || account === undefined) return redirect(res, '/');
    const form = new URLSearchParams(await readBody(req));
    const payee = (form.get('payee') ?? '').trim();
    const amount = parseAmount(form.get('amount') ?? '');
    if (payee === '' || payee.length > 40 || amount === undefined) {
      return page(res, 400, errorPage('振込先と金額を確かめてください。', 'Check the payee and the amount.'));
    }
    if (amount > transfers.balance(account.number)) {
      return page(res, 400, errorPage('残高が足りません。', 'The balance is too low.'));
    }
    if (!needsFreshCardLogin(amount)) {
      const t = transfers.record({
        account: account.number,
        payee,
        amount,
        freshCardLogin: false,
        at: new Date(now()),
      });
      return page(res, 200, transferDonePage(t, transfers.balance(account.number)));
    }
    // A large transfer: the card again, now, and only then the transfer (it waits in the session meanwhile).
    return start(res, session, (c) =>
      c
        .stepUp({ maxAgeSeconds: STEP_UP_MAX_AGE_SECONDS })
        .then((r) => ({ ...r, pending: { story: 'transfer', transaction: r.transaction, payee, amount } })),
    );
  }

  async function callback(reqUrl: URL, res: ServerResponse, session: Session | undefined): Promise<void> {
    const pending = session?.pending;
    if (session === undefined || pending === undefined) {
      return page(res, 400, errorPage('ログインの手続きが見つかりません。', 'No sign-up in progress in this browser.'));
    }
    if (mynagate === undefined) throw new DemoNotConnectedError();
    // A transaction is used once, whatever the outcome.
    delete session.pending;
    try {
      switch (pending.story) {
        case 'signup': {
          const result = await mynagate.complete(pending.transaction, reqUrl);
          const { account, created } = accounts.signIn(result.sub, new Date(now()));
          session.account = { number: account.number, sub: account.sub, created, acr: result.acr };
          return redirect(res, '/account');
        }
        case 'transfer': {
          // complete() demands auth_time within max_age and not before the step-up began (ERR_RP_STALE_AUTH).
          const result = await mynagate.complete(pending.transaction, reqUrl);
          const account = session.account;
          if (account === undefined || result.sub !== account.sub) {
            return page(
              res,
              403,
              errorPage('口座のカードとは別のカードです。', 'That is not the card of this account.'),
            );
          }
          const t = transfers.record({
            account: account.number,
            payee: pending.payee,
            amount: pending.amount,
            freshCardLogin: true,
            at: new Date(now()),
          });
          return page(res, 200, transferDonePage(t, transfers.balance(account.number)));
        }
        case 'purchase': {
          const result = await mynagate.complete(pending.transaction, reqUrl);
          const received = Object.keys(result.idTokenClaims).filter((c) => !PROTOCOL_CLAIMS.has(c));
          return page(res, 200, purchasePage(result.age.satisfied, received));
        }
      }
    } catch (e) {
      return loginFailed(page, res, e);
    }
  }

  return {
    url,
    redirectUri,
    clientMetadata: Object.freeze({
      client_id: clientId,
      client_name: options.clientName ?? 'デモ銀行 / Demo Bank',
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      id_token_signed_response_alg: 'ES256',
      jwks: { keys: [publicJwk] },
    }),
    async connect(issuer) {
      const client = createMynaGateClient({
        issuer,
        clientId,
        privateJwk: { ...options.clientKey.export({ format: 'jwk' }), kid: 'demo-1' },
        redirectUri,
        // A development provider on a loopback address speaks plain HTTP (W3C Secure Contexts §3.2).
        allowLoopbackHttp: new URL(issuer).protocol === 'http:',
        now,
      });
      await client.discover();
      providerOrigin = new URL(issuer).origin;
      mynagate = client;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      accounts.close();
      transfers.close();
    },
  };
}

/** The one place a failed login becomes a page: the code is shown, never a claim or a token. */
function loginFailed(
  send: (res: ServerResponse, status: number, body: string) => void,
  res: ServerResponse,
  e: unknown,
): void {
  if (e instanceof RpAuthorizationError && e.error === 'access_denied') {
    return send(res, 200, errorPage('カードでのログインが取り消されました。', 'The card login was cancelled.'));
  }
  if (e instanceof MynaGateError && e.code === 'ERR_RP_STALE_AUTH') {
    return send(
      res,
      403,
      errorPage('カードでのログインが新しくありません。', 'The card login is not fresh enough (ERR_RP_STALE_AUTH).'),
    );
  }
  if (e instanceof MynaGateError && e.code.startsWith('ERR_RP_')) {
    return send(
      res,
      400,
      errorPage('ログインを確認できませんでした。', `The login could not be confirmed (${e.code}).`),
    );
  }
  throw e;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FORM_BYTES) {
        req.destroy();
        reject(new TypeError('form too large'));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Sends a page. `form-action` also names the provider: the transfer and purchase forms are answered with a
 * redirect to it, and CSP Level 3 §6.3.1 applies `form-action` to the redirects of a form submission.
 */
function send(res: ServerResponse, status: number, body: string, providerOrigin = ''): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'${
      providerOrigin === '' ? '' : ` ${providerOrigin}`
    }; frame-ancestors 'none'; base-uri 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
}
