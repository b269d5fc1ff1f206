/**
 * The Fastify plugin against the real provider: registered inside one scope, it protects that scope's routes with
 * `requireCard()` / `requireFreshCard()` and answers the callback; a sibling scope stays untouched (encapsulation).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { ACR_CARD_AUTH, createMynaGateClient, type CompletionResult } from '../src/index.ts';
import { mynagate } from '../src/fastify.ts';
import { Browser } from './support/browser.ts';
import { loginWithCard, startProvider, type TestProvider } from './support/provider.ts';

let provider: TestProvider;
let card: string;
let app: FastifyInstance;
let rp: string;
const logins: CompletionResult[] = [];
/** Added to the plugin's clock: a login made now looks this old to `requireFreshCard`. */
let aheadMs = 0;

before(async () => {
  rp = await reserve(); // the provider registers the redirect URI with the port
  provider = await startProvider([{ clientId: 'fastify', redirectUri: `${rp}/callback`, auth: 'client_secret_basic' }]);
  card = await provider.newCard();
  const c = provider.clients['fastify']!;
  const client = createMynaGateClient({
    issuer: provider.issuer,
    clientId: c.clientId,
    clientSecret: c.clientSecret!,
    redirectUri: c.redirectUri,
    allowLoopbackHttp: true,
  });

  app = Fastify();
  // The application's one error handler (set before the scopes that inherit it): ERR_RP_* codes to HTTP.
  app.setErrorHandler(async (err: { code?: string }, _request, reply) => {
    return reply.code(err.code === 'ERR_RP_STATE' ? 400 : 500).send({ code: err.code ?? 'internal' });
  });
  app.get('/public', async (request) => ({ mynagate: request.mynagate ?? null, decorated: 'requireCard' in app }));
  await app.register(async (scope) => {
    await scope.register(mynagate, {
      client,
      sessionKey: 'f'.repeat(32),
      onLogin: (r: CompletionResult) => void logins.push(r),
      now: () => Date.now() + aheadMs,
    });
    scope.get('/account', { preHandler: scope.requireCard() }, async (request) => ({
      sub: request.mynagate!.login!.sub,
    }));
    scope.get('/transfer', { preHandler: scope.requireFreshCard({ maxAgeSeconds: 30 }) }, async (request) => ({
      authTime: request.mynagate!.login!.authTime,
    }));
  });
  await app.listen({ port: Number(new URL(rp).port), host: '127.0.0.1' });
});
after(async () => {
  await app?.close();
  await provider?.close();
});

/** A free loopback port (a listener opened and closed). */
async function reserve(): Promise<string> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('fastify: the mynagate plugin in a scope', () => {
  it('redirects an anonymous GET of a protected route to the provider (302, card-auth)', async () => {
    const res = await new Browser().fetch(`${rp}/account`);
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.origin, provider.issuer);
    assert.equal(location.searchParams.get('acr_values'), ACR_CARD_AUTH);
    assert.equal(location.searchParams.get('redirect_uri'), `${rp}/callback`);
    assert.match(res.headers.getSetCookie()[0]!, /^mynagate=[^;]+; Path=\/; Max-Age=28800; HttpOnly; SameSite=Lax$/);
  });

  it('after the card login the browser lands back on the route, which sees the sub; later visits skip the provider', async () => {
    const browser = new Browser();
    const end = await loginWithCard(provider, browser, await browser.follow(`${rp}/account`), card);
    assert.equal(end.url.href, `${rp}/account`);
    const { sub } = (await end.response.json()) as { sub: string };
    assert.equal(logins.at(-1)!.sub, sub);
    const again = await browser.fetch(`${rp}/account`);
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), { sub });
  });

  it('requireFreshCard sends a login older than maxAgeSeconds through a new card login; auth_time moves on', async () => {
    const browser = new Browser();
    await loginWithCard(provider, browser, await browser.follow(`${rp}/account`), card);
    const first = logins.at(-1)!.authTime;
    // Within 30 s and the client's 5 s clock tolerance: fresh enough; beyond them, a step-up.
    aheadMs = 31_000;
    assert.equal((await browser.fetch(`${rp}/transfer`)).status, 200);
    aheadMs = 37_000;
    const res = await browser.fetch(`${rp}/transfer`);
    aheadMs = 0;
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.searchParams.get('prompt'), 'login');
    await sleep(1010 - (Date.now() % 1000)); // into the next second: auth_time (whole seconds) can move on
    const end = await loginWithCard(provider, browser, await browser.follow(location), card);
    assert.equal(end.url.href, `${rp}/transfer`);
    const { authTime } = (await end.response.json()) as { authTime: number };
    assert.ok(authTime > first, `auth_time moved on: ${first} → ${authTime}`);
  });

  it('ERR_RP_STATE for a forged callback', async () => {
    const res = await new Browser().fetch(`${rp}/callback?state=forged-state-0123456789&code=abc`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: 'ERR_RP_STATE' });
  });

  it('leaves a sibling scope alone: no request.mynagate, no decorators, no cookie', async () => {
    const res = await new Browser().fetch(`${rp}/public`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { mynagate: null, decorated: false });
    assert.deepEqual(res.headers.getSetCookie(), []);
  });
});
