/**
 * The demo relying party: a bank whose sign-up requires the card. `node:http` and openid-client 6, nothing else.
 *
 * `/` → `/signup` (authorization code + PKCE S256, `acr_values` card-auth, `prompt=login`, private_key_jwt) →
 * MynaGate's card login → `/callback` (the code is redeemed, the ID token's `acr` is checked) → `/account`. The
 * account is keyed by the pairwise `sub`, so the same card always finds the same account.
 */
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { openDemoAccounts } from './accounts.ts';
import { DemoNotConnectedError } from './errors.ts';
import { accountPage, errorPage, landingPage } from './pages.ts';

/** The ACR of a card login (MynaGate `ACR_CARD_AUTH`). */
const ACR_CARD_AUTH = 'urn:mynagate:acr:card-auth';
const COOKIE = 'demo_session';
const PENDING_TTL_MS = 10 * 60_000;

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Where the accounts live (SQLite file; `:memory:` for a throwaway demo). */
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
  /** Discovers the provider at `issuer`; the demo answers 503 on `/signup` until then. */
  connect(issuer: string): Promise<void>;
  close(): Promise<void>;
}

interface Session {
  pending?: { state: string; nonce: string; codeVerifier: string; expiresAt: number };
  account?: { number: string; created: boolean; acr: string };
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
  const sessions = new Map<string, Session>();
  let config: client.Configuration | undefined;

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
    const route = `${req.method} ${reqUrl.pathname}`;
    const sid = cookie(req, COOKIE);
    const session = sid === undefined ? undefined : sessions.get(sid);
    switch (route) {
      case 'GET /':
        if (session?.account) return redirect(res, '/account');
        return send(res, 200, landingPage());
      case 'GET /signup':
        return signup(res);
      case 'GET /callback':
        return callback(reqUrl, res, session);
      case 'GET /account': {
        const a = session?.account;
        const account = a === undefined ? undefined : accounts.find(a.number);
        if (a === undefined || account === undefined) return redirect(res, '/');
        return send(res, 200, accountPage(account, a.created, a.acr));
      }
      case 'POST /logout':
        if (sid !== undefined) sessions.delete(sid);
        res.setHeader('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
        return redirect(res, '/');
      default:
        return send(res, 404, errorPage('ページが見つかりません。', 'Page not found.'));
    }
  }

  async function signup(res: ServerResponse): Promise<void> {
    if (config === undefined) throw new DemoNotConnectedError();
    const sid = randomBytes(24).toString('base64url');
    const pending = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      codeVerifier: client.randomPKCECodeVerifier(),
      expiresAt: now() + PENDING_TTL_MS,
    };
    sweep();
    sessions.set(sid, { pending });
    const target = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
      // A sign-up must be a fresh card login, not an earlier MynaGate session.
      acr_values: ACR_CARD_AUTH,
      prompt: 'login',
    });
    res.setHeader('set-cookie', `${COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    redirect(res, target.href);
  }

  async function callback(reqUrl: URL, res: ServerResponse, session: Session | undefined): Promise<void> {
    const pending = session?.pending;
    if (session === undefined || pending === undefined || pending.expiresAt <= now()) {
      return send(res, 400, errorPage('登録の手続きが見つかりません。', 'No sign-up in progress in this browser.'));
    }
    if (config === undefined) throw new DemoNotConnectedError();
    delete session.pending;
    const error = reqUrl.searchParams.get('error');
    if (error !== null) {
      return error === 'access_denied'
        ? send(res, 200, errorPage('カードでのログインが取り消されました。', 'The card login was cancelled.'))
        : send(res, 400, errorPage('ログインできませんでした。', `The login failed (${error}).`));
    }
    let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    try {
      tokens = await client.authorizationCodeGrant(config, reqUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (e) {
      const code = (e as { error?: string; code?: string }).error ?? (e as { code?: string }).code ?? 'unknown';
      return send(
        res,
        400,
        errorPage('ログインを確認できませんでした。', `The login could not be confirmed (${code}).`),
      );
    }
    const claims = tokens.claims()!;
    // The card is the point of this service: refuse any other way of logging in.
    if (claims.acr !== ACR_CARD_AUTH) {
      return send(
        res,
        403,
        errorPage('マイナンバーカードでのログインが必要です。', 'A My Number Card login is required.'),
      );
    }
    const { account, created } = accounts.signIn(claims.sub, new Date(now()));
    session.account = { number: account.number, created, acr: claims.acr };
    redirect(res, '/account');
  }

  function sweep(): void {
    const t = now();
    for (const [sid, s] of sessions)
      if (s.account === undefined && (s.pending?.expiresAt ?? 0) <= t) sessions.delete(sid);
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
      const key = (await options.clientKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
        'sign',
      ])) as unknown as client.CryptoKey;
      config = await client.discovery(
        new URL(issuer),
        clientId,
        { id_token_signed_response_alg: 'ES256' },
        client.PrivateKeyJwt({ key, kid: 'demo-1' }),
        // A development provider on a loopback address speaks plain HTTP (W3C Secure Contexts §3.2).
        new URL(issuer).protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {},
      );
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      accounts.close();
    },
  };
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function send(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy':
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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
