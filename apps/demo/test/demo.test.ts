/**
 * The demo service on its own (the whole stories through MynaGate run in `apps/cli/test/serve.test.ts` and
 * `demo-stories.test.ts`): one pairwise `sub` is one account, kept across restarts; the pages refuse what a sign-up
 * did not start; transfers above ¥100,000 need a fresh card login.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDemoAccounts, startDemo, type DemoServer } from '../src/index.ts';
import {
  needsFreshCardLogin,
  OPENING_BALANCE_YEN,
  openDemoTransfers,
  parseAmount,
  STEP_UP_THRESHOLD_YEN,
} from '../src/transfers.ts';

const newKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mynagate-demo-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('demo accounts: one card, one account', () => {
  it('finds the same account for the same sub, opens another for another sub, and keeps them across a reopen', () => {
    const path = join(dir, 'accounts.db');
    const at = new Date('2025-04-01T00:00:00Z');
    const accounts = openDemoAccounts(path);
    const first = accounts.signIn('sub-a', at);
    assert.equal(first.created, true);
    assert.equal(first.account.number, 'DEMO-000001');
    const again = accounts.signIn('sub-a', new Date(at.getTime() + 1000));
    assert.equal(again.created, false);
    assert.equal(again.account.number, first.account.number);
    assert.equal(again.account.logins, 2);
    assert.equal(accounts.signIn('sub-b', at).account.number, 'DEMO-000002');
    accounts.close();

    const reopened = openDemoAccounts(path);
    assert.equal(reopened.signIn('sub-a', at).account.number, 'DEMO-000001');
    assert.equal(reopened.find('DEMO-000002')?.sub, 'sub-b');
    assert.equal(reopened.find('DEMO-9'), undefined);
    reopened.close();
  });

  it('refuses an empty sub (TypeError)', () => {
    const accounts = openDemoAccounts(':memory:');
    assert.throws(() => accounts.signIn('', new Date()), TypeError);
    accounts.close();
  });
});

describe('demo pages', () => {
  let demo: DemoServer;
  before(async () => {
    demo = await startDemo({ accountsPath: ':memory:', clientKey: newKey(), shop: { clientKey: newKey() } });
  });
  after(() => demo.close());

  it('registers as a private_key_jwt client with its callback and ES256 public key only', () => {
    const m = demo.clientMetadata as unknown as Record<string, unknown> & { jwks: { keys: Record<string, unknown>[] } };
    assert.equal(m['token_endpoint_auth_method'], 'private_key_jwt');
    assert.deepEqual(m['redirect_uris'], [`${demo.url}/callback`]);
    assert.equal(m.jwks.keys.length, 1);
    assert.equal(m.jwks.keys[0]!['d'], undefined, 'no private part');
  });

  it("registers the shop as a client of its own: its id, name, origin, callback and key, none of them the bank's", () => {
    type Metadata = Record<string, unknown> & { jwks: { keys: Record<string, unknown>[] } };
    const bank = demo.clientMetadata as unknown as Metadata;
    const shop = demo.shop.clientMetadata as unknown as Metadata;
    assert.deepEqual(demo.clients, [demo.clientMetadata, demo.shop.clientMetadata], 'both go to the provider');
    assert.equal(bank['client_id'], 'mynagate-demo');
    assert.equal(bank['client_name'], 'デモ銀行 / Demo Bank');
    assert.equal(shop['client_id'], 'mynagate-demo-shop');
    assert.equal(shop['client_name'], 'デモ酒店 / Demo Liquor Shop');
    assert.equal(shop['token_endpoint_auth_method'], 'private_key_jwt');
    assert.deepEqual(shop['redirect_uris'], [`${demo.shop.url}/callback`]);
    // Another origin: another sector, so another pairwise sub (OIDC Core §8.1).
    assert.notEqual(new URL(demo.shop.url).host, new URL(demo.url).host);
    assert.equal(shop.jwks.keys.length, 1);
    assert.equal(shop.jwks.keys[0]!['d'], undefined, 'no private part');
    assert.notEqual(shop.jwks.keys[0]!['x'], bank.jwks.keys[0]!['x'], 'a key of its own');
  });

  it("refuses to give the shop the bank's key or client id (TypeError)", async () => {
    const key = newKey();
    await assert.rejects(startDemo({ accountsPath: ':memory:', clientKey: key, shop: { clientKey: key } }), TypeError);
    await assert.rejects(
      startDemo({
        accountsPath: ':memory:',
        clientKey: newKey(),
        shop: { clientKey: newKey(), clientId: 'mynagate-demo' },
      }),
      TypeError,
    );
  });

  it('sends /shop of the bank to the shop, whose pages link back to the bank', async () => {
    const res = await fetch(`${demo.url}/shop`, { redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), `${demo.shop.url}/`);
    const shop = await (await fetch(`${demo.shop.url}/`)).text();
    assert.match(shop, /デモ酒店/);
    assert.ok(shop.includes(`href="${demo.url}/"`), 'a link to the bank');
  });

  it('shows the sign-up button on the landing page, with a CSP that allows no script', async () => {
    const res = await fetch(`${demo.url}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /マイナンバーカードで登録.*Sign up with My Number Card/s);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  });

  it('answers 503 on sign-up before it has discovered its provider', async () => {
    const res = await fetch(`${demo.url}/signup`, { redirect: 'manual' });
    assert.equal(res.status, 503);
    await res.body?.cancel();
  });

  it('refuses a callback that nothing in this browser waits for (400), saying the same in both languages', async () => {
    const res = await fetch(`${demo.url}/callback?code=x&state=y`, { redirect: 'manual' });
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.match(text, /このブラウザーでカードでの確認を待っている手続きはありません。/);
    assert.match(text, /Nothing in this browser is waiting for a card check\./);
    assert.doesNotMatch(text, /sign-up/, 'a callback may end a transfer as well as a sign-up');
    const account = await fetch(`${demo.url}/account`, { redirect: 'manual' });
    assert.equal(account.status, 303);
    assert.equal(account.headers.get('location'), '/');
  });

  it("refuses a callback at the shop that no purchase started (400), in both languages, in the shop's own words", async () => {
    const res = await fetch(`${demo.shop.url}/callback?code=x&state=y`, { redirect: 'manual' });
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.match(text, /このブラウザーで進行中のご購入手続きはありません。/);
    assert.match(text, /No purchase is in progress in this browser\./);
  });

  it('sends a result page with no result in the session back to the start (303 /)', async () => {
    for (const url of [`${demo.url}/done`, `${demo.shop.url}/done`]) {
      const res = await fetch(url, { redirect: 'manual' });
      assert.equal(res.status, 303, url);
      assert.equal(res.headers.get('location'), '/', url);
    }
  });
});

describe('demo transfers: the step-up rule and the ledger', () => {
  it('needs a fresh card login above ¥100,000 only', () => {
    assert.equal(needsFreshCardLogin(STEP_UP_THRESHOLD_YEN), false);
    assert.equal(needsFreshCardLogin(STEP_UP_THRESHOLD_YEN + 1), true);
  });

  it('parses whole-yen amounts with commas and refuses zero, fractions, signs and more than ¥10,000,000', () => {
    assert.equal(parseAmount('150,000'), 150_000);
    assert.equal(parseAmount(' 5000 '), 5000);
    for (const bad of ['0', '1.5', '-100', '+100', '10000001', '1e5', '', '０１'])
      assert.equal(parseAmount(bad), undefined, bad);
  });

  it('records transfers against the opening balance, and refuses a large one without a fresh card login (TypeError)', () => {
    const ledger = openDemoTransfers(':memory:');
    const at = new Date('2025-04-01T00:00:00Z');
    ledger.record({ account: 'DEMO-000001', payee: 'A', amount: 50_000, freshCardLogin: false, at });
    ledger.record({ account: 'DEMO-000001', payee: 'B', amount: 150_000, freshCardLogin: true, at });
    assert.equal(ledger.balance('DEMO-000001'), OPENING_BALANCE_YEN - 200_000);
    assert.equal(ledger.balance('DEMO-000002'), OPENING_BALANCE_YEN);
    assert.throws(
      () => ledger.record({ account: 'DEMO-000001', payee: 'C', amount: 150_000, freshCardLogin: false, at }),
      TypeError,
    );
    ledger.close();
  });
});

describe('demo transfers and shop without a login', () => {
  let demo: DemoServer;
  before(async () => {
    demo = await startDemo({ accountsPath: ':memory:', clientKey: newKey(), shop: { clientKey: newKey() } });
  });
  after(() => demo.close());

  it('sends a transfer without an account session back to the start (303 /) and records nothing', async () => {
    const res = await fetch(`${demo.url}/transfer`, {
      method: 'POST',
      body: new URLSearchParams({ payee: 'X', amount: '1000' }),
      redirect: 'manual',
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/');
  });

  it('shows the shop with its one question in both languages, and answers 503 on buying before it is connected', async () => {
    const shop = await fetch(`${demo.url}/shop`);
    assert.match(await shop.text(), /20歳以上かどうか.*only whether you are 20 or older/s);
    const buy = await fetch(`${demo.shop.url}/buy`, { method: 'POST', redirect: 'manual' });
    assert.equal(buy.status, 503);
    await buy.body?.cancel();
  });
});
