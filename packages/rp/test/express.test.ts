/**
 * The Express middleware against the real provider: an Express 5 app on http loopback protects routes with
 * `requireCard()`, `requireFreshCard()` and `requireAge(20)`; a test browser (cookies, redirects) goes through the
 * provider's card login page with a virtual card.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import {
  ACR_CARD_AUTH,
  createMynaGateClient,
  memorySessionStore,
  type CompletionResult,
  type MynaGateClient,
} from '../src/index.ts';
import { mynagate, requireAge, requireCard, requireFreshCard } from '../src/express.ts';
import { signSessionId, type MynaGateSession } from '../src/session.ts';
import { Browser } from './support/browser.ts';
import { loginWithCard, startProvider, type TestProvider } from './support/provider.ts';

const SESSION_KEY = 'k'.repeat(32);
let provider: TestProvider;
let card: string;
let server: Server;
let rp: string;
let webClient: MynaGateClient;
const logins: CompletionResult[] = [];
const store = memorySessionStore();
/** Added to the middleware's clock: a login made now looks this old to `requireFreshCard`. */
let aheadMs = 0;

/** An Express app protecting routes with the middleware; `onLogin` records every completion. */
function buildApp(client: MynaGateClient): express.Express {
  const app = express();
  app.use(
    mynagate(client, {
      sessionKey: SESSION_KEY,
      store,
      onLogin: (r) => void logins.push(r),
      now: () => Date.now() + aheadMs,
    }),
  );
  app.get('/', (_req, res) => res.send('public'));
  app.get('/account', requireCard(), (req, res) => res.json({ sub: req.mynagate!.login!.sub }));
  app.all('/transfer', requireFreshCard({ maxAgeSeconds: 30 }), (req, res) =>
    res.json({ authTime: req.mynagate!.login!.authTime }),
  );
  app.get('/adult', requireAge(20), (_req, res) => res.send('adult'));
  app.get('/logout', async (req, res) => {
    await req.mynagate!.logout();
    res.send('bye');
  });
  // The application's one error handler: ERR_RP_* codes to HTTP.
  app.use((err: { code?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.code === 'ERR_RP_STATE' ? 400 : err.code?.startsWith('ERR_RP_') ? 403 : 500;
    res.status(status).json({ code: err.code ?? 'internal' });
  });
  return app;
}

/** A server whose handler is set later (the provider needs its URL first). */
async function listen(): Promise<{ server: Server; url: string; serve(app: express.Express): void }> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => void s.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve: (app) => void (handler = app),
  };
}

/** The app as seen through a TLS-terminating proxy: public at https://rp.example, served here on loopback http. */
const PUBLIC = 'https://rp.example';
let proxied: Awaited<ReturnType<typeof listen>>;

before(async () => {
  const plain = await listen();
  proxied = await listen();
  server = plain.server;
  rp = plain.url;
  provider = await startProvider([
    { clientId: 'web', redirectUri: `${rp}/callback`, auth: 'private_key_jwt' },
    { clientId: 'proxied', redirectUri: `${PUBLIC}/callback`, auth: 'client_secret_basic' },
  ]);
  card = await provider.newCard();
  const clientOf = (id: string): MynaGateClient => {
    const c = provider.clients[id]!;
    return createMynaGateClient({
      issuer: provider.issuer,
      clientId: c.clientId,
      ...(c.privateJwk ? { privateJwk: c.privateJwk } : { clientSecret: c.clientSecret! }),
      redirectUri: c.redirectUri,
      allowLoopbackHttp: true,
    });
  };
  webClient = clientOf('web');
  plain.serve(buildApp(webClient));
  proxied.serve(buildApp(clientOf('proxied')));
});
after(async () => {
  for (const s of [server, proxied?.server]) {
    s?.closeAllConnections();
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }
  await provider?.close();
});

/** A browser logged in at the RP by a whole card login through `/account`. */
async function loggedIn(): Promise<{ browser: Browser; sub: string }> {
  const browser = new Browser();
  const page = await browser.follow(`${rp}/account`);
  const end = await loginWithCard(provider, browser, page, card);
  assert.equal(end.url.href, `${rp}/account`);
  const { sub } = (await end.response.json()) as { sub: string };
  return { browser, sub };
}

describe('express: mynagate() + requireCard()', () => {
  it('redirects an anonymous GET of a protected route to the provider (302, card-auth, PKCE S256)', async () => {
    const browser = new Browser();
    const res = await browser.fetch(`${rp}/account`);
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.origin, provider.issuer);
    assert.equal(location.searchParams.get('acr_values'), ACR_CARD_AUTH);
    assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(location.searchParams.get('redirect_uri'), `${rp}/callback`);
    const cookie = res.headers.getSetCookie()[0]!;
    assert.match(
      cookie,
      /^mynagate=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Lax$/,
    );
  });

  it('serves an unprotected route without a session or a cookie', async () => {
    const res = await new Browser().fetch(`${rp}/`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers.getSetCookie(), []);
  });

  it('after the card login the browser lands back on the route, which sees the pairwise sub; onLogin ran', async () => {
    const before = logins.length;
    const browser = new Browser();
    const first = await browser.fetch(`${rp}/account`);
    const idBefore = browser.cookie('127.0.0.1', 'mynagate');
    const page = await browser.follow(first.headers.get('location')!);
    const end = await loginWithCard(provider, browser, page, card);
    assert.equal(end.url.href, `${rp}/account`);
    const { sub } = (await end.response.json()) as { sub: string };
    assert.equal(logins.length, before + 1);
    assert.equal(logins.at(-1)!.sub, sub);
    assert.notEqual(browser.cookie('127.0.0.1', 'mynagate'), idBefore, 'a new session id after login (fixation)');

    const again = await browser.fetch(`${rp}/account`);
    assert.equal(again.status, 200, 'logged in: no trip to the provider');
    assert.deepEqual(await again.json(), { sub });
  });

  it('answers 401 (not a redirect) to a POST without login: a redirect would lose the body', async () => {
    const res = await new Browser().fetch(`${rp}/transfer`, { method: 'POST' });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { error: 'login_required' });
  });

  it('treats a session cookie with a bad signature as no session', async () => {
    const { browser } = await loggedIn();
    const [id] = browser.cookie('127.0.0.1', 'mynagate')!.split('.');
    browser.setCookie('127.0.0.1', 'mynagate', `${id}.${'A'.repeat(43)}`);
    const res = await browser.fetch(`${rp}/account`);
    assert.equal(res.status, 302);
    await res.body?.cancel();
  });

  it('logout ends the session at the RP', async () => {
    const { browser } = await loggedIn();
    assert.equal((await browser.fetch(`${rp}/logout`)).status, 200);
    assert.equal(browser.cookie('127.0.0.1', 'mynagate'), undefined, 'the cookie is cleared');
    const res = await browser.fetch(`${rp}/account`);
    assert.equal(res.status, 302);
    await res.body?.cancel();
  });
});

/** The session a browser's cookie names, as the store holds it (JSON). */
async function storedSession(browser: Browser): Promise<string> {
  const value = browser.cookie('127.0.0.1', 'mynagate') ?? browser.cookie('127.0.0.1', '__Host-mynagate');
  assert.ok(value, 'the browser has a session cookie');
  const session = await store.get(value.slice(0, value.lastIndexOf('.')));
  assert.ok(session, 'the store has the session');
  return JSON.stringify(session);
}

/** A JWS compact serialisation (an ID token) anywhere in a string. */
const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/;

describe('express: what the session store keeps', () => {
  it('after a card login: the sub, acr, amr and auth_time, never the ID token or its claims (onLogin saw them)', async () => {
    const browser = new Browser({ stopAt: [`${rp}/callback`] });
    const callback = await loginWithCard(provider, browser, await browser.follow(`${rp}/account`), card);
    // The callback saves the session; read it before any other request could touch it.
    assert.equal((await browser.fetch(callback.url)).status, 302);
    const json = await storedSession(browser);
    const result = logins.at(-1)!;
    const sub = result.sub;
    assert.match(result.idToken, JWT, 'onLogin receives the ID token');
    assert.equal(result.idTokenClaims['sub'], sub, 'and its claims');
    assert.doesNotMatch(json, JWT, 'the stored session holds an ID token');
    for (const word of ['idToken', 'idTokenClaims', result.idTokenClaims['nonce'] as string, '"iss"', '"aud"']) {
      assert.equal(json.includes(word), false, `the stored session holds ${word}`);
    }
    const session = JSON.parse(json) as MynaGateSession;
    assert.deepEqual(session.login, {
      kind: 'login',
      sub,
      acr: ACR_CARD_AUTH,
      amr: result.amr,
      authTime: result.authTime,
    });
  });

  it('rewrites a session saved whole by an earlier version on its next request', async () => {
    const id = `legacy-${Math.random().toString(36).slice(2)}`;
    const legacy = {
      expiresAt: Date.now() + 60_000,
      pending: {},
      login: {
        kind: 'identity',
        sub: 'legacy-sub',
        acr: 'urn:mynagate:acr:card-sign',
        amr: ['hwk', 'pwd', 'sc'],
        authTime: Math.floor(Date.now() / 1000),
        idTokenClaims: { sub: 'legacy-sub', verified_claims: { claims: { name: '試験　花子' } } },
        idToken: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJsZWdhY3ktc3ViIn0.c2ln',
      },
      identity: { claims: { name: '試験　花子', address: { formatted: '東京都千代田区千代田1-1' } } },
    };
    store.set(id, legacy as unknown as MynaGateSession);
    const browser = new Browser();
    browser.setCookie('127.0.0.1', 'mynagate', signSessionId(Buffer.from(SESSION_KEY), id, null));
    const res = await browser.fetch(`${rp}/account`);
    assert.equal(res.status, 200, 'still logged in');
    assert.deepEqual(await res.json(), { sub: 'legacy-sub' });
    const json = await storedSession(browser);
    assert.doesNotMatch(json, JWT);
    assert.equal(json.includes('試験'), false, 'the verified name is gone from the store');
    assert.equal(json.includes('千代田'), false, 'and the address');
  });

  it("a step-up with another person's card is refused (ERR_RP_SUBJECT_MISMATCH): the person logged in stays, with their age answer", async () => {
    const id = `other-${Math.random().toString(36).slice(2)}`;
    store.set(id, {
      expiresAt: Date.now() + 60_000,
      pending: {},
      login: { kind: 'age', sub: 'earlier-person', acr: ACR_CARD_AUTH, amr: ['hwk', 'pin', 'sc'], authTime: 0 },
      age: { '20': true },
    });
    const browser = new Browser();
    browser.setCookie('127.0.0.1', 'mynagate', signSessionId(Buffer.from(SESSION_KEY), id, 'mynagate'));
    assert.equal((await browser.fetch(`${rp}/adult`)).status, 200, "the earlier person's answer counts for them");
    // auth_time 0 is stale: the transfer sends the browser through a new card login, with this test's card (another
    // person's: its sub is not 'earlier-person').
    const res = await browser.fetch(`${rp}/transfer`);
    assert.equal(res.status, 302);
    const seen = logins.length;
    const end = await loginWithCard(provider, browser, await browser.follow(res.headers.get('location')!), card);
    assert.equal(end.url.pathname, '/callback');
    assert.equal(end.response.status, 403);
    assert.deepEqual(await end.response.json(), { code: 'ERR_RP_SUBJECT_MISMATCH' });
    assert.equal(logins.length, seen, 'onLogin never saw the refused login');
    const session = JSON.parse(await storedSession(browser)) as MynaGateSession;
    assert.equal(session.login?.sub, 'earlier-person', 'the session is still the earlier person’s');
    assert.equal(session.login?.authTime, 0, 'and not made fresh by someone else’s card');
    assert.deepEqual(session.age, { '20': true }, 'with their own age answer');
    assert.deepEqual(session.pending, {}, 'the transaction is used up');
    assert.equal((await browser.fetch(`${rp}/adult`)).status, 200);
    const again = await browser.fetch(`${rp}/transfer`);
    assert.equal(again.status, 302, 'the transfer still demands a fresh login of the earlier person');
    await again.body?.cancel();
  });
});

describe('express: logout', () => {
  it("logoutUrl without an ID token names the client, and the provider's logout page answers it", async () => {
    const { browser } = await loggedIn();
    const url = await webClient.logoutUrl();
    assert.equal(url.origin, provider.issuer);
    assert.equal(url.searchParams.get('client_id'), 'web');
    assert.equal(url.searchParams.has('id_token_hint'), false);
    assert.equal((await browser.fetch(`${rp}/logout`)).status, 200);
    const page = await browser.fetch(url);
    assert.equal(page.status, 200, 'the provider asks the person to confirm the logout');
    assert.match(await page.text(), /ログアウト/);
  });
});

describe('express: requireFreshCard()', () => {
  it('sends a browser whose card login is older than maxAgeSeconds through a new card login (prompt=login)', async () => {
    const { browser } = await loggedIn();
    const firstTime = logins.at(-1)!.authTime;
    // Within 30 s and the client's 5 s clock tolerance: fresh enough.
    aheadMs = 31_000;
    assert.equal((await browser.fetch(`${rp}/transfer`)).status, 200);
    // Beyond them (in whole seconds, auth_time's resolution, see loginIsFresh): a step-up.
    aheadMs = 37_000;
    const res = await browser.fetch(`${rp}/transfer`);
    aheadMs = 0;
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.searchParams.get('prompt'), 'login');
    assert.equal(location.searchParams.get('max_age'), '30');
    await sleep(1010 - (Date.now() % 1000)); // into the next second: auth_time (whole seconds) can move on
    const page = await browser.follow(location);
    assert.match(page.url.pathname, /^\/interaction\//, 'the provider asks for the card again despite its session');
    const end = await loginWithCard(provider, browser, page, card);
    assert.equal(end.url.href, `${rp}/transfer`);
    const { authTime } = (await end.response.json()) as { authTime: number };
    assert.ok(authTime > firstTime, `auth_time moved on: ${firstTime} → ${authTime}`);
    assert.equal(logins.at(-1)!.kind, 'step-up');
  });
});

describe('express: the callback', () => {
  it('ERR_RP_STATE for a forged callback: no login of this browser has that state', async () => {
    const { browser } = await loggedIn();
    const res = await browser.fetch(`${rp}/callback?state=forged-state-0123456789&code=abc&iss=${provider.issuer}`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: 'ERR_RP_STATE' });
  });

  it('ERR_RP_STATE when the callback is replayed (a transaction is used once)', async () => {
    const browser = new Browser({ stopAt: [`${rp}/callback`] });
    const page = await browser.follow(`${rp}/account`);
    const callback = await loginWithCard(provider, browser, page, card);
    assert.equal((await browser.fetch(callback.url)).status, 302, 'first use logs in');
    const replay = await browser.fetch(callback.url);
    assert.equal(replay.status, 400);
    assert.deepEqual(await replay.json(), { code: 'ERR_RP_STATE' });
  });
});

describe('express: requireAge(20)', () => {
  /** A browser holding a session seeded in the store (the SessionStore interface, as any store would hold it). */
  function seeded(session: Partial<MynaGateSession>): Browser {
    const id = `seeded-${Math.random().toString(36).slice(2)}`;
    store.set(id, { expiresAt: Date.now() + 60_000, pending: {}, ...session });
    const browser = new Browser();
    browser.setCookie('127.0.0.1', 'mynagate', signSessionId(Buffer.from(SESSION_KEY), id, 'mynagate'));
    return browser;
  }

  it('passes when the provider said age_over_20 true, and answers 403 when it said false', async () => {
    assert.equal((await seeded({ age: { '20': true } }).fetch(`${rp}/adult`)).status, 200);
    const no = await seeded({ age: { '20': false } }).fetch(`${rp}/adult`);
    assert.equal(no.status, 403);
    assert.deepEqual(await no.json(), { error: 'age_requirement_not_met' });
  });

  it('asks the provider only age_over_20 when unknown: a person of 35 gets the route, one of 15 gets 403 (behind a TLS proxy)', async (t) => {
    const discovery = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as {
      verified_claims_supported?: boolean;
    };
    if (discovery.verified_claims_supported !== true) {
      t.skip('the provider does not answer derived claims yet (no verified_claims_supported in discovery)');
      return;
    }
    // The provider signs a statement naming the service's https origin, so this app is reached as https://rp.example
    // (the browser stops there and the test plays the proxy, forwarding to the loopback server).
    const viaProxy = (u: URL): URL => new URL(u.pathname + u.search, proxied.url);
    const run = async (cardFile: string) => {
      const browser = new Browser({ stopAt: [`${PUBLIC}/`] });
      const res = await browser.fetch(`${proxied.url}/adult`);
      assert.equal(res.status, 302);
      const location = new URL(res.headers.get('location')!);
      assert.deepEqual(JSON.parse(location.searchParams.get('claims')!), {
        id_token: { age_over_20: { essential: true } },
        userinfo: { age_over_20: { essential: true } },
      });
      const callback = await loginWithCard(provider, browser, await browser.follow(location), cardFile);
      assert.equal(callback.url.origin + callback.url.pathname, `${PUBLIC}/callback`);
      // The callback saves the session: read it as saved, before the next request.
      const back = await browser.fetch(viaProxy(callback.url));
      assert.equal(back.status, 302);
      const saved = JSON.parse(await storedSession(browser)) as MynaGateSession;
      return { ...(await browser.follow(new URL(back.headers.get('location')!, proxied.url))), saved };
    };
    const adult = await run(card);
    assert.equal(adult.url.pathname, '/adult');
    assert.equal(adult.response.status, 200);
    assert.equal(logins.at(-1)!.kind, 'age');
    assert.deepEqual(adult.saved.age, { '20': true }, 'the derived answer is kept');
    assert.doesNotMatch(JSON.stringify(adult.saved), JWT, 'the ID token of the age check is not');
    assert.equal(JSON.stringify(adult.saved).includes('age_over_20'), false, 'nor its claims');
    assert.deepEqual(Object.keys(adult.saved.login!).sort(), ['acr', 'amr', 'authTime', 'kind', 'sub']);

    const denied = await run((await provider.issueCard({ birthDate: '2010-06-01' })).file);
    assert.equal(denied.url.pathname, '/adult');
    assert.equal(denied.response.status, 403);
    assert.deepEqual(await denied.response.json(), { error: 'age_requirement_not_met' });
  });
});
