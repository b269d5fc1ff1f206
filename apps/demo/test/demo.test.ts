/**
 * The demo service on its own (the whole sign-up through MynaGate runs in `apps/cli/test/serve.test.ts`): one
 * pairwise `sub` is one account, kept across restarts, and the pages refuse what a sign-up did not start.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDemoAccounts, startDemo, type DemoServer } from '../src/index.ts';

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
    demo = await startDemo({
      accountsPath: ':memory:',
      clientKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    });
  });
  after(() => demo.close());

  it('registers as a private_key_jwt client with its callback and ES256 public key only', () => {
    const m = demo.clientMetadata as unknown as Record<string, unknown> & { jwks: { keys: Record<string, unknown>[] } };
    assert.equal(m['token_endpoint_auth_method'], 'private_key_jwt');
    assert.deepEqual(m['redirect_uris'], [`${demo.url}/callback`]);
    assert.equal(m.jwks.keys.length, 1);
    assert.equal(m.jwks.keys[0]!['d'], undefined, 'no private part');
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

  it('refuses a callback that no sign-up in this browser started (400) and shows no account page without one', async () => {
    const res = await fetch(`${demo.url}/callback?code=x&state=y`, { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /No sign-up in progress/);
    const account = await fetch(`${demo.url}/account`, { redirect: 'manual' });
    assert.equal(account.status, 303);
    assert.equal(account.headers.get('location'), '/');
  });
});
