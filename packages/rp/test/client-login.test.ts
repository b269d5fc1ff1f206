/**
 * The SDK against the real provider (in process, http loopback): card login with private_key_jwt and
 * client_secret_basic, PAR, discovery caching, step-up, and the negative cases of `complete`, each asserting its
 * exact `ERR_RP_*` code.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ACR_CARD_AUTH,
  ACR_CARD_SIGN,
  createMynaGateClient,
  type CardLoginTransaction,
  type MynaGateClient,
  type MynaGateClientOptions,
  type Transaction,
} from '../src/index.ts';
import { loopbackTls } from '../../idp/test/support/op-tls.ts';
import { Browser } from './support/browser.ts';
import { cancelLogin, loginWithCard, startProvider, type TestProvider } from './support/provider.ts';

const BANK = { clientId: 'bank', redirectUri: 'https://bank.example/cb', auth: 'private_key_jwt' } as const;
const SHOP = { clientId: 'shop', redirectUri: 'https://shop.example/cb', auth: 'client_secret_basic' } as const;

let provider: TestProvider;
let card: string;
let other: string;
/** Requests the clients made, by URL path (the `fetch` option). */
const requests: string[] = [];
let clock = 0; // ms added to the client's clock

function client(spec: typeof BANK | typeof SHOP, extra: Partial<MynaGateClientOptions> = {}): MynaGateClient {
  const c = provider.clients[spec.clientId]!;
  return createMynaGateClient({
    issuer: provider.issuer,
    clientId: c.clientId,
    redirectUri: c.redirectUri,
    ...(c.privateJwk ? { privateJwk: c.privateJwk } : { clientSecret: c.clientSecret! }),
    allowLoopbackHttp: true,
    fetch: (input, init) => {
      requests.push(new URL(input instanceof Request ? input.url : input.toString()).pathname);
      return fetch(input, init);
    },
    now: () => Date.now() + clock,
    ...extra,
  });
}

let bank: MynaGateClient;
let shop: MynaGateClient;

before(async () => {
  provider = await startProvider([BANK, SHOP]);
  [card, other] = await Promise.all([provider.newCard(), provider.newCard()]);
  bank = client(BANK);
  shop = client(SHOP);
});
after(() => provider?.close());

/** Starts `request` in `browser` and logs in with `cardFile`; returns the callback URL the RP receives. */
async function runLogin(
  url: URL,
  browser = new Browser({ stopAt: [BANK.redirectUri, SHOP.redirectUri] }),
  cardFile = card,
): Promise<URL> {
  const end = await loginWithCard(provider, browser, await browser.follow(url), cardFile);
  assert.ok(end.url.searchParams.get('code'), `the provider redirected back with a code: ${end.url.href}`);
  return end.url;
}

describe('card login with the SDK against the real provider', () => {
  it('cardLogin → card → complete yields sub, acr card-auth, amr hwk/pin/sc and auth_time (private_key_jwt)', async () => {
    const { url, transaction } = await bank.cardLogin();
    assert.equal(url.origin, provider.issuer);
    assert.equal(url.searchParams.get('acr_values'), ACR_CARD_AUTH);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('nonce'), transaction.nonce);
    assert.equal(url.searchParams.get('state'), transaction.state);
    assert.equal(transaction.kind, 'login');
    const stored = JSON.parse(JSON.stringify(transaction)) as CardLoginTransaction; // through a session store

    const before = Math.floor(Date.now() / 1000);
    const result = await bank.complete(stored, await runLogin(url));
    assert.equal(result.kind, 'login');
    assert.equal(result.acr, ACR_CARD_AUTH);
    assert.deepEqual(result.amr, ['hwk', 'pin', 'sc']);
    assert.match(result.sub, /^[A-Za-z0-9_-]{20,}$/);
    assert.ok(result.authTime >= before - 1 && result.authTime <= Date.now() / 1000 + 1, 'auth_time is now');
    assert.equal(result.idTokenClaims['aud'], BANK.clientId);
    assert.equal(result.idToken.split('.').length, 3);
  });

  it('gives the same card the same sub at one service and another sub at another (pairwise), with client_secret_basic', async () => {
    const a = await bank.cardLogin();
    const first = await bank.complete(a.transaction, await runLogin(a.url, undefined, other));
    const b = await bank.cardLogin();
    const second = await bank.complete(b.transaction, await runLogin(b.url, undefined, other));
    assert.equal(first.sub, second.sub);
    const s = await shop.cardLogin();
    const atShop = await shop.complete(s.transaction, await runLogin(s.url, undefined, other));
    assert.notEqual(atShop.sub, first.sub);
  });

  it('pushes the request by PAR when usePar is set: the browser URL carries only client_id and request_uri', async () => {
    const { url, transaction } = await shop.cardLogin({ usePar: true });
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    assert.match(url.searchParams.get('request_uri')!, /^urn:ietf:params:oauth:request_uri:/);
    const result = await shop.complete(transaction, await runLogin(url));
    assert.equal(result.acr, ACR_CARD_AUTH);
  });

  it("checks the ID token's signature with the provider's ES256 JWKS, read from jwks_uri over http loopback", async () => {
    const fresh = client(BANK);
    requests.length = 0;
    const { url, transaction } = await fresh.cardLogin();
    const result = await fresh.complete(transaction, await runLogin(url));
    const discovery = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as {
      jwks_uri: string;
    };
    assert.ok(requests.includes(new URL(discovery.jwks_uri).pathname), `the JWKS was read: ${requests.join(' ')}`);
    const header = JSON.parse(Buffer.from(result.idToken.split('.')[0]!, 'base64url').toString()) as { alg: string };
    assert.equal(header.alg, 'ES256');
  });

  it('reads discovery once per client and caches it', async () => {
    const fresh = client(BANK);
    requests.length = 0;
    await fresh.cardLogin();
    await fresh.cardLogin();
    await fresh.stepUp({ maxAgeSeconds: 60 });
    assert.equal(requests.filter((p) => p === '/.well-known/openid-configuration').length, 1);
  });

  it('keeps a caller-chosen state', async () => {
    const state = 'app-state-0123456789abcdef';
    const { url, transaction } = await bank.cardLogin({ state });
    assert.equal(transaction.state, state);
    assert.equal(url.searchParams.get('state'), state);
  });
});

describe('step-up', () => {
  it('forces a new card login in a browser that already has a provider session, and auth_time moves on', async () => {
    const browser = new Browser({ stopAt: [BANK.redirectUri] });
    const first = await bank.cardLogin();
    const login = await bank.complete(first.transaction, await runLogin(first.url, browser));

    // Without step-up the provider answers from its session: no card, the same auth_time.
    const sso = await bank.cardLogin();
    const quiet = await browser.follow(sso.url);
    assert.equal(quiet.url.origin, 'https://bank.example', 'single sign-on: straight back with a code');
    const again = await bank.complete(sso.transaction, quiet.url);
    assert.equal(again.authTime, login.authTime);

    await sleep(1100); // auth_time has a one-second resolution
    const up = await bank.stepUp({ maxAgeSeconds: 300 });
    assert.equal(up.url.searchParams.get('prompt'), 'login');
    assert.equal(up.url.searchParams.get('max_age'), '300');
    const page = await browser.follow(up.url);
    assert.match(page.url.pathname, /^\/interaction\//, 'step-up shows the card login page despite the session');
    const end = await loginWithCard(provider, browser, page, card);
    const fresh = await bank.complete(up.transaction, end.url);
    assert.equal(fresh.kind, 'step-up');
    assert.equal(fresh.sub, login.sub);
    assert.ok(fresh.authTime > login.authTime, `auth_time moved: ${login.authTime} → ${fresh.authTime}`);
  });

  it('ERR_RP_STALE_AUTH when an answer from the old session comes back to a step-up', async () => {
    const strict = client(BANK, { clockToleranceSeconds: 0 }); // the sleep below is shorter than the default 5 s
    const browser = new Browser({ stopAt: [BANK.redirectUri] });
    const first = await strict.cardLogin();
    await strict.complete(first.transaction, await runLogin(first.url, browser));
    await sleep(1100);
    // The step-up transaction, but the browser took a plain SSO request with the same state and nonce (a provider
    // ignoring prompt=login would answer the same way).
    const up = await strict.stepUp({ maxAgeSeconds: 300 });
    const plain = new URL(up.url);
    plain.searchParams.delete('prompt');
    plain.searchParams.delete('max_age');
    const quiet = await browser.follow(plain);
    assert.equal(quiet.url.origin, 'https://bank.example');
    await assert.rejects(strict.complete(up.transaction, quiet.url), { code: 'ERR_RP_STALE_AUTH' });
  });

  it('ERR_RP_STALE_AUTH when the login is older than max_age by the client clock', async () => {
    const up = await bank.stepUp({ maxAgeSeconds: 60 });
    const callback = await runLogin(up.url);
    clock = 120_000;
    try {
      await assert.rejects(bank.complete(up.transaction, callback), { code: 'ERR_RP_STALE_AUTH', maxAgeSeconds: 60 });
    } finally {
      clock = 0;
    }
  });
});

describe('complete refuses what was not asked for', () => {
  it('ERR_RP_STATE when the callback state was altered', async () => {
    const { url, transaction } = await bank.cardLogin();
    const callback = await runLogin(url);
    callback.searchParams.set('state', `${transaction.state}x`);
    await assert.rejects(bank.complete(transaction, callback), { code: 'ERR_RP_STATE' });
  });

  it('ERR_RP_STATE when a callback comes back to another transaction (two tabs mixed up)', async () => {
    const a = await bank.cardLogin();
    const b = await bank.cardLogin();
    await assert.rejects(bank.complete(b.transaction, await runLogin(a.url)), { code: 'ERR_RP_STATE' });
  });

  it('ERR_RP_ACR_NOT_MET when card-sign was required but the provider completed a card-auth login', async () => {
    const { url, transaction } = await bank.cardLogin();
    const demanding: Transaction = { ...transaction, acr: ACR_CARD_SIGN };
    await assert.rejects(bank.complete(demanding, await runLogin(url)), {
      code: 'ERR_RP_ACR_NOT_MET',
      required: ACR_CARD_SIGN,
      actual: ACR_CARD_AUTH,
    });
  });

  it('ERR_RP_TOKEN when the code in the callback was tampered with', async () => {
    const { url, transaction } = await bank.cardLogin();
    const callback = await runLogin(url);
    callback.searchParams.set('code', `${callback.searchParams.get('code')}A`);
    await assert.rejects(bank.complete(transaction, callback), { code: 'ERR_RP_TOKEN', error: 'invalid_grant' });
  });

  it('ERR_RP_TOKEN when the same callback is completed twice (a code is single-use)', async () => {
    const { url, transaction } = await bank.cardLogin();
    const callback = await runLogin(url);
    await bank.complete(transaction, callback);
    await assert.rejects(bank.complete(transaction, callback), { code: 'ERR_RP_TOKEN', error: 'invalid_grant' });
  });

  it('ERR_RP_TOKEN when the PKCE verifier is not the one of the request', async () => {
    const { url, transaction } = await bank.cardLogin();
    const other = await bank.cardLogin();
    const swapped = { ...transaction, codeVerifier: other.transaction.codeVerifier };
    await assert.rejects(bank.complete(swapped, await runLogin(url)), { code: 'ERR_RP_TOKEN', error: 'invalid_grant' });
  });

  it('ERR_RP_NONCE when the ID token nonce is not the transaction nonce', async () => {
    const { url, transaction } = await bank.cardLogin();
    const swapped = { ...transaction, nonce: `${transaction.nonce}x` };
    await assert.rejects(bank.complete(swapped, await runLogin(url)), { code: 'ERR_RP_NONCE' });
  });

  it('ERR_RP_CALLBACK_INVALID when the callback iss is not the provider (RFC 9207 mix-up)', async () => {
    const { url, transaction } = await bank.cardLogin();
    const callback = await runLogin(url);
    assert.equal(callback.searchParams.get('iss'), provider.issuer, 'the provider sends iss');
    callback.searchParams.set('iss', 'https://evil.example');
    await assert.rejects(bank.complete(transaction, callback), { code: 'ERR_RP_CALLBACK_INVALID' });
  });

  it('ERR_RP_CALLBACK_INVALID when the callback has no code', async () => {
    const { url, transaction } = await bank.cardLogin();
    const callback = await runLogin(url);
    callback.searchParams.delete('code');
    await assert.rejects(bank.complete(transaction, callback), { code: 'ERR_RP_CALLBACK_INVALID' });
  });

  it('ERR_RP_AUTHORIZATION with access_denied when the person cancels on the login page', async () => {
    const { url, transaction } = await bank.cardLogin();
    const browser = new Browser({ stopAt: [BANK.redirectUri] });
    const end = await cancelLogin(browser, await browser.follow(url));
    await assert.rejects(bank.complete(transaction, end.url), { code: 'ERR_RP_AUTHORIZATION', error: 'access_denied' });
  });

  it('ERR_RP_TRANSACTION_EXPIRED when the transaction is older than transactionTtlSeconds', async () => {
    const { transaction } = await bank.cardLogin();
    const old = { ...transaction, createdAt: Date.now() - 601_000 };
    await assert.rejects(bank.complete(old, `?state=${transaction.state}&code=x`), {
      code: 'ERR_RP_TRANSACTION_EXPIRED',
    });
  });

  it('TypeError for a transaction of another client or one mangled by the session store', async () => {
    const { transaction } = await bank.cardLogin();
    await assert.rejects(shop.complete(transaction, '?state=x'), TypeError);
    await assert.rejects(bank.complete({ ...transaction, v: 2 } as never, '?state=x'), TypeError);
    await assert.rejects(bank.complete({ ...transaction, kind: 'other' } as never, '?state=x'), TypeError);
  });
});

describe('discovery failures', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const options = (issuer: string): MynaGateClientOptions => ({
    issuer,
    clientId: 'x',
    clientSecret: 's',
    redirectUri: 'https://x.example/cb',
    allowLoopbackHttp: true,
  });

  it('ERR_RP_DISCOVERY when the issuer serves no provider metadata, and tries again on the next call', async () => {
    const c = createMynaGateClient(options(base));
    await assert.rejects(c.cardLogin(), { code: 'ERR_RP_DISCOVERY' });
    await assert.rejects(c.discover(), { code: 'ERR_RP_DISCOVERY' });
  });

  it('ERR_RP_NETWORK when nothing answers at the issuer', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(createMynaGateClient(options(`http://127.0.0.1:${port}`)).discover(), {
      code: 'ERR_RP_NETWORK',
      message: new RegExp(
        `^request to http://127\\.0\\.0\\.1:${port}/\\.well-known/openid-configuration failed: .*ECONNREFUSED`,
      ),
    });
  });

  it('ERR_RP_NETWORK names the TLS reason when the provider certificate is not trusted (self-signed)', async () => {
    const tls = await loopbackTls();
    const untrusted = createHttpsServer(tls, (_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => untrusted.listen(0, '127.0.0.1', resolve));
    try {
      const issuer = `https://127.0.0.1:${(untrusted.address() as AddressInfo).port}`;
      // fetch says "fetch failed"; the certificate error is its cause, two causes below the ERR_RP_NETWORK.
      await assert.rejects(createMynaGateClient(options(issuer)).discover(), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_RP_NETWORK');
        assert.match(
          e.message,
          /failed: self[- ]signed certificate.* \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)$/,
        );
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => untrusted.close(() => resolve()));
    }
  });
});
