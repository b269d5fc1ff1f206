/**
 * The demo services' sessions: a new id at every completed login (a cookie planted before it, e.g. by the shop on
 * another port of the same host, is worth nothing after it), a CSRF token on every state-changing form, and a
 * bounded, expiring store where anonymous sessions never push out logged-in ones. The bank and the shop run against
 * a scripted provider on http loopback (the SDK's own negative-test provider): the login itself is not under test.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startBank } from '../src/bank.ts';
import type { RunningService } from '../src/service.ts';
import { DemoSessions } from '../src/sessions.ts';
import { startShop } from '../src/shop.ts';
import {
  KID,
  signJwt,
  startFakeProvider,
  validClaims,
  type FakeProvider,
} from '../../../packages/rp/test/support/fake-provider.ts';

const newKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

describe('DemoSessions', () => {
  const limits = { anonymousTtlMs: 600_000, idleTtlMs: 3_600_000, absoluteTtlMs: 8 * 3_600_000, maxPerPool: 3 };

  it('renews a session under a new id after login: the old id is forgotten, the CSRF token changes', () => {
    const sessions = new DemoSessions<{ n: number }>(() => 0, limits);
    const value = { n: 1 };
    const old = sessions.create(value);
    const before = sessions.get(old)!.csrf;
    const renewed = sessions.renew(old, value);
    assert.notEqual(renewed, old);
    assert.equal(sessions.get(old), undefined);
    assert.equal(sessions.get(renewed)!.value, value);
    assert.notEqual(sessions.get(renewed)!.csrf, before);
  });

  it('keeps anonymous sessions apart: a flood of them evicts only each other, and they expire first', () => {
    let now = 0;
    const sessions = new DemoSessions<object>(() => now, limits);
    const loggedIn = sessions.renew(undefined, {});
    const first = sessions.create({});
    for (let i = 0; i < 100; i++) sessions.create({});
    assert.ok(sessions.get(loggedIn), 'the logged-in session stays');
    assert.equal(sessions.get(first), undefined, 'the oldest anonymous one went');
    const anonymous = sessions.create({});
    now = 600_001;
    assert.equal(sessions.get(anonymous), undefined, 'an anonymous session lives ten minutes');
    assert.ok(sessions.get(loggedIn), 'a logged-in one an hour from its last use');
    now += 3_600_001;
    assert.equal(sessions.get(loggedIn), undefined, 'then it ends');
  });

  it('ends a logged-in session at its absolute lifetime however often it is used', () => {
    let now = 0;
    const sessions = new DemoSessions<object>(() => now, limits);
    const id = sessions.renew(undefined, {});
    for (now = 0; now < 8 * 3_600_000; now += 1_800_000) assert.ok(sessions.get(id), `alive at ${now}`);
    assert.equal(sessions.get(id), undefined);
  });
});

describe('the bank and the shop: session fixation and CSRF', () => {
  let op: FakeProvider;
  let bank: RunningService;
  let shop: RunningService;

  before(async () => {
    op = await startFakeProvider();
    const common = { host: '127.0.0.1', port: 0, now: Date.now, kid: 'demo-1' } as const;
    bank = await startBank({
      ...common,
      brand: 'bank',
      clientId: 'mynagate-demo',
      clientName: 'Demo Bank',
      clientKey: newKey(),
      cookie: 'mynagate_demo_bank',
      accountsPath: ':memory:',
      shopUrl: () => undefined,
    });
    shop = await startShop({
      ...common,
      brand: 'shop',
      clientId: 'mynagate-demo-shop',
      clientName: 'Demo Shop',
      clientKey: newKey(),
      cookie: 'mynagate_demo_shop',
      bankUrl: 'http://127.0.0.1:9',
    });
    await bank.connect(op.issuer);
    await shop.connect(op.issuer);
  });
  after(async () => {
    await bank?.close();
    await shop?.close();
    await op?.close();
  });

  const get = (url: string, cookie?: string) =>
    fetch(url, { redirect: 'manual', headers: cookie === undefined ? {} : { cookie } });
  const post = (url: string, cookie: string, form: Record<string, string>) =>
    fetch(url, { method: 'POST', redirect: 'manual', headers: { cookie }, body: new URLSearchParams(form) });
  const cookieOf = (res: Response) => res.headers.get('set-cookie')?.split(';')[0];
  const csrfIn = (page: string) => /name="csrf" value="([A-Za-z0-9_-]+)"/.exec(page)?.[1];

  /** Signs up at the bank in a browser holding `cookie`; the callback's answer. */
  async function signUp(cookie: string, sub: string): Promise<Response> {
    const start = await get(`${bank.url}/signup`, cookie);
    assert.equal(start.status, 303);
    const auth = new URL(start.headers.get('location')!);
    const now = Math.floor(Date.now() / 1000);
    op.token = () => ({
      body: {
        token_type: 'Bearer',
        access_token: 'AT',
        id_token: signJwt(
          op.key,
          { alg: 'ES256', kid: KID },
          { ...validClaims(op.issuer, 'mynagate-demo', auth.searchParams.get('nonce')!, now), sub },
        ),
      },
    });
    const state = auth.searchParams.get('state')!;
    return get(`${bank.url}/callback?code=c&state=${state}&iss=${encodeURIComponent(op.issuer)}`, cookie);
  }

  it('a session id planted before the login is worth nothing after it: the callback issues a new one', async () => {
    const planted = cookieOf(await get(`${bank.url}/signup`))!; // the attacker's session
    assert.ok(planted);
    const callback = await signUp(planted, 'victim-sub');
    assert.equal(callback.status, 303);
    assert.equal(callback.headers.get('location'), '/account');
    const fresh = cookieOf(callback);
    assert.ok(fresh, 'a new session cookie');
    assert.notEqual(fresh, planted);
    const attacker = await get(`${bank.url}/account`, planted);
    assert.equal(attacker.status, 303, 'the planted id is not logged in');
    assert.equal(attacker.headers.get('location'), '/');
    assert.equal((await get(`${bank.url}/account`, fresh)).status, 200);
  });

  it('POST /transfer and /logout need the session’s CSRF token (403 without it, nothing done)', async () => {
    const first = cookieOf(await get(`${bank.url}/signup`))!;
    const cookie = cookieOf(await signUp(first, 'csrf-sub'))!;
    const page = await (await get(`${bank.url}/account`, cookie)).text();
    const csrf = csrfIn(page);
    assert.ok(csrf, 'the account page forms carry a CSRF token');
    assert.equal(page.match(/name="csrf"/g)?.length, 2, 'both the transfer and the logout form');
    const balance = () => /id="balance">([^<]+)</.exec(page)?.[1];
    const before = balance();

    for (const form of [{}, { csrf: 'x'.repeat(32) }] as Record<string, string>[]) {
      const forged = await post(`${bank.url}/transfer`, cookie, { payee: 'X', amount: '1000', ...form });
      assert.equal(forged.status, 403);
      assert.equal((await post(`${bank.url}/logout`, cookie, form)).status, 403);
    }
    const after = await (await get(`${bank.url}/account`, cookie)).text();
    assert.equal(/id="balance">([^<]+)</.exec(after)?.[1], before, 'no transfer was made');

    const done = await post(`${bank.url}/transfer`, cookie, { payee: 'X', amount: '1000', csrf });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/done');
    const out = await post(`${bank.url}/logout`, cookie, { csrf });
    assert.equal(out.status, 303);
    assert.equal((await get(`${bank.url}/account`, cookie)).status, 303, 'logged out');
  });

  it("the shop's purchase form carries a CSRF token, and POST /buy without it is refused (403)", async () => {
    const landing = await get(`${shop.url}/`);
    const cookie = cookieOf(landing)!;
    const csrf = csrfIn(await landing.text());
    assert.ok(cookie && csrf);
    assert.equal((await post(`${shop.url}/buy`, cookie, {})).status, 403);
    const buy = await post(`${shop.url}/buy`, cookie, { csrf });
    assert.equal(buy.status, 303);
    assert.equal(new URL(buy.headers.get('location')!).origin, op.issuer);
  });
});
