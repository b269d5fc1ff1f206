/**
 * One relying party of the demo on `node:http`: its own origin, its own client registration at MynaGate (client_id,
 * name, redirect URI, private_key_jwt key), its own session cookie and its own `@mynagate/rp` client. The bank and
 * the shop are two of these, so MynaGate names the right service on its pages and gives each its own pairwise `sub`
 * (the sector is the redirect URI's host, OIDC Core §8.1: two origins, two sectors).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MynaGateError } from '@mynagate/errors';
import { createMynaGateClient, RpAuthorizationError, type MynaGateClient } from '@mynagate/rp';
import { DemoNotConnectedError } from './errors.ts';
import { errorPage, type Brand } from './pages.ts';
import { csrfMatches, DemoSessions } from './sessions.ts';

const MAX_FORM_BYTES = 4096;

/** A service's registration at MynaGate, as `IdpConfig.clients` takes it. */
export type ClientMetadata = Readonly<Record<string, unknown>> & { readonly client_id: string };

/** What the outside sees of one demo service. */
export interface DemoService {
  /** e.g. `http://127.0.0.1:8081`. */
  readonly url: string;
  /** `${url}/callback`. */
  readonly redirectUri: string;
  /** The client registration for MynaGate (`IdpConfig.clients`): private_key_jwt, ES256, the public key only. */
  readonly clientMetadata: ClientMetadata;
}

/** Who a service is at MynaGate and where it listens. */
export interface ServiceOptions {
  /** Whose header the service's own pages (errors) carry. */
  readonly brand: Brand;
  readonly clientId: string;
  /** Shown by MynaGate on the login, consent and signing pages and on the phone. */
  readonly clientName: string;
  /** The ES256 private key of private_key_jwt (RFC 7523); its public half goes into the registration. */
  readonly clientKey: KeyObject;
  /** The key's `kid`. */
  readonly kid: string;
  /** The session cookie's name: cookies are not separated by port (RFC 6265 §8.5), so each service has its own. */
  readonly cookie: string;
  readonly host: string;
  readonly port: number;
  readonly now: () => number;
}

/** One request as a service's handler sees it. */
export interface Exchange<S> {
  readonly brand: Brand;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** This browser's session, or undefined. */
  readonly session: S | undefined;
  /** Gives this browser a new session holding `value` (sets the cookie); returns `value`. */
  startSession(value: S): S;
  /**
   * After a login: this browser's session under a new id (and a new CSRF token), so an id planted before the login
   * (session fixation) is worth nothing after it. Sets the cookie.
   */
  renewSession(): void;
  /** Forgets this browser's session and clears the cookie. */
  endSession(): void;
  /** The CSRF token the forms of this session carry (a hidden `csrf` field). @throws TypeError without a session. */
  csrfToken(): string;
  /** Whether `form` carries this session's CSRF token. */
  csrfValid(form: URLSearchParams): boolean;
  /** The service's MynaGate client. @throws DemoNotConnectedError before {@link RunningService.connect}. */
  client(): MynaGateClient;
  /** Sends a page (`form-action` allows the provider: forms here end in a redirect to it). */
  page(status: number, body: string): void;
  /** 303 to `location`. */
  redirect(location: string): void;
}

/** A listening service. */
export interface RunningService extends DemoService {
  /** Discovers the provider at `issuer`; the service answers 503 on its logins until then. */
  connect(issuer: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts listening (first, so the redirect URI is known before the provider registers it) and serves every request
 * with `handle`. A {@link DemoNotConnectedError} becomes 503, anything else 500; neither shows the error.
 *
 * @throws TypeError for a key that is not EC P-256; the listen error (e.g. `EADDRINUSE`).
 */
export async function startService<S extends object>(
  options: ServiceOptions,
  handle: (x: Exchange<S>) => Promise<void>,
): Promise<RunningService> {
  if (options.clientKey?.type !== 'private' || options.clientKey.asymmetricKeyType !== 'ec') {
    throw new TypeError(`the client key of ${options.clientId} must be an EC P-256 private KeyObject`);
  }
  const sessions = new DemoSessions<S>(options.now);
  let mynagate: MynaGateClient | undefined;
  let providerOrigin = '';

  const server = createServer((req, res) => {
    const reqUrl = new URL(req.url ?? '/', url);
    let sid = cookie(req, options.cookie);
    let entry = sessions.get(sid);
    let session = entry?.value;
    // SameSite=Lax: the cookie comes back on the provider's top-level redirect, never on a cross-site POST.
    const setCookie = (id: string) =>
      res.setHeader('set-cookie', `${options.cookie}=${id}; Path=/; HttpOnly; SameSite=Lax`);
    const x: Exchange<S> = {
      brand: options.brand,
      req,
      res,
      url: reqUrl,
      get session() {
        return session;
      },
      startSession(value) {
        sessions.delete(sid);
        sid = sessions.create(value);
        entry = sessions.get(sid);
        session = value;
        setCookie(sid);
        return value;
      },
      renewSession() {
        if (session === undefined) throw new TypeError('no session to renew');
        sid = sessions.renew(sid, session);
        entry = sessions.get(sid);
        setCookie(sid);
      },
      endSession() {
        sessions.delete(sid);
        sid = undefined;
        entry = undefined;
        session = undefined;
        res.setHeader('set-cookie', `${options.cookie}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
      },
      csrfToken() {
        if (entry === undefined) throw new TypeError('no session: start one before a form');
        return entry.csrf;
      },
      csrfValid: (form) => csrfMatches(entry, form.get('csrf')),
      client() {
        if (mynagate === undefined) throw new DemoNotConnectedError();
        return mynagate;
      },
      page: (status, body) => send(res, status, body, providerOrigin),
      redirect: (location) => redirect(res, location),
    };
    handle(x).catch((e: unknown) => {
      const status = e instanceof DemoNotConnectedError ? 503 : 500;
      send(
        res,
        status,
        errorPage('サービスを利用できません。', 'The service is not available right now.', options.brand),
      );
      if (status === 500) process.stderr.write(`demo: ${(e as Error)?.message ?? String(e)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const redirectUri = `${url}/callback`;
  const publicJwk = {
    ...createPublicKey(options.clientKey).export({ format: 'jwk' }),
    kid: options.kid,
    use: 'sig',
    alg: 'ES256',
  };

  return {
    url,
    redirectUri,
    clientMetadata: Object.freeze({
      client_id: options.clientId,
      client_name: options.clientName,
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      id_token_signed_response_alg: 'ES256',
      jwks: { keys: [publicJwk] },
    }),
    async connect(issuer) {
      const client = createMynaGateClient({
        issuer,
        clientId: options.clientId,
        privateJwk: { ...options.clientKey.export({ format: 'jwk' }), kid: options.kid },
        redirectUri,
        // A development provider on a loopback address speaks plain HTTP (W3C Secure Contexts §3.2).
        allowLoopbackHttp: new URL(issuer).protocol === 'http:',
        now: options.now,
      });
      await client.discover();
      providerOrigin = new URL(issuer).origin;
      mynagate = client;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A sentence in both languages of the demo. */
export interface Bilingual {
  readonly ja: string;
  readonly en: string;
}

/** A login that did not go through, as its result page shows it: the page's status and what happened. */
export interface Refusal extends Bilingual {
  readonly status: number;
}

/**
 * The one place a failed login becomes words: the code is shown, never a claim or a token. `declined` is what the
 * person's "no" (`access_denied`: the login cancelled, or the consent declined at MynaGate) meant for the story that
 * asked (no account opened, no transfer made, nothing sold), in both languages.
 *
 * @throws `e` when it is not a failed login (the service answers 500).
 */
export function loginRefusal(e: unknown, declined: Bilingual): Refusal {
  if (e instanceof RpAuthorizationError && e.error === 'access_denied') return { status: 200, ...declined };
  if (e instanceof MynaGateError && e.code === 'ERR_RP_STALE_AUTH') {
    return {
      status: 403,
      ja: 'カードでのログインが新しくないため、確認できませんでした（ERR_RP_STALE_AUTH）。',
      en: 'The card login was not fresh enough, so it could not be confirmed (ERR_RP_STALE_AUTH).',
    };
  }
  if (e instanceof MynaGateError && e.code.startsWith('ERR_RP_')) {
    return {
      status: 400,
      ja: `ログインを確認できませんでした（${e.code}）。`,
      en: `The login could not be confirmed (${e.code}).`,
    };
  }
  throw e;
}

/** A form body, at most 4 KiB. @throws TypeError when larger. */
export function readBody(req: IncomingMessage): Promise<string> {
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
