/**
 * The provider's pure parts without a server: configuration validated then frozen, the animated QR code, pairwise
 * subjects, signing keys and their rotation, the token shape check, the one error-to-HTTP table, and the memo of
 * people seen to exist.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer as createNetServer, connect } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MynaGateError } from '@mynagate/errors';
import { CertificateRevokedError, CertificateInvalidError } from '@mynagate/pki';
import { CardPinBlockedError, CardPinIncorrectError } from '@mynagate/card';
import { checkQrCode, companionLink, qrCode, qrTime } from '../src/animated-qr.ts';
import { ekycMode, resolveConfig, type IdpConfig } from '../src/config.ts';
import { IDP_ERROR_CODES } from '../src/errors.ts';
import { toHttpError } from '../src/http-errors.ts';
import { assertJwks, generateSigningKey, publicJwks, rotateKeys } from '../src/keys.ts';
import { parseLoginToken } from '../src/login-token.ts';
import { LoginTransactions, type LoginTransactionOptions } from '../src/login-transaction.ts';
import { TransactionWatch } from '../src/transaction-watch.ts';
import { createMemoryStores } from '../src/memory-stores.ts';
import { pairwiseSubject } from '../src/pairwise.ts';
import { keepSavedGrant, loadExistingGrant } from '../src/saved-grants.ts';
import type { default as Provider, KoaContextWithOIDC } from 'oidc-provider';
import { oneShotChallengeStore } from '../src/challenge-store.ts';
import { startServer } from '../src/server.ts';
import { providerStores } from '../src/stores.ts';
import type { Stores } from '../src/store/types.ts';
import { newChallenge } from '@mynagate/pki';

const valid: IdpConfig = {
  issuer: 'https://id.example.jp',
  clients: [{ client_id: 'rp', redirect_uris: ['https://rp.example/cb'] }],
  jwks: { keys: [generateSigningKey()] },
  cookieKeys: ['k'.repeat(32)],
  pairwiseSecret: randomBytes(32),
  verifier: {
    issueChallenge: async () => ({ nonce: 'n', expiresAt: 0 }),
    verifyLoginToken: async () => {
      throw new Error('unused');
    },
  },
  stores: createMemoryStores(),
};

describe('configuration', () => {
  it('resolves defaults and freezes the result', () => {
    const c = resolveConfig(valid);
    assert.equal(c.origin, 'https://id.example.jp');
    assert.equal(c.qrMaxAgeSeconds, 3);
    // Streams poll the store every 200 ms in one process, every 2 s where other nodes announce their changes.
    assert.equal(c.eventPollMs, 200);
    const told = { ...valid.stores, changes: { publish: async () => {}, subscribe: () => () => {} } };
    assert.equal(resolveConfig({ ...valid, stores: told }).eventPollMs, 2000);
    assert.deepEqual(c.subjectTypes, ['pairwise']);
    assert.equal(c.dev, false);
    assert.equal(c.secure, true);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.clients) && Object.isFrozen(c.clients[0]));
    assert.throws(() => ((c as { name: string }).name = 'x'), TypeError);
  });

  const bad: [string, Partial<IdpConfig> & Record<string, unknown>][] = [
    ['issuer with a path', { issuer: 'https://id.example.jp/op' }],
    ['issuer with a trailing slash', { issuer: 'https://id.example.jp/' }],
    ['issuer with a query', { issuer: 'https://id.example.jp?x=1' }],
    ['http issuer off loopback', { issuer: 'http://id.example.jp' }],
    ['short cookie key', { cookieKeys: ['short'] }],
    ['no cookie keys', { cookieKeys: [] }],
    ['short pairwise secret', { pairwiseSecret: randomBytes(16) }],
    ['jwks without an ES256 key', { jwks: { keys: [{ kty: 'oct', kid: 'a', k: 'x', d: 'x' }] } }],
    [
      'jwks with duplicate kids',
      {
        jwks: {
          keys: [
            { ...generateSigningKey(), kid: 'a' },
            { ...generateSigningKey(), kid: 'a' },
          ],
        },
      },
    ],
    ['verifier without issueChallenge', { verifier: { verifyLoginToken: async () => ({}) } as never }],
    [
      'a one-shot port without getMany (one made before it was asked for)',
      {
        stores: {
          ...valid.stores,
          oneShot: { ...valid.stores.oneShot, getMany: undefined } as never,
        },
      },
    ],
    ['client without client_id', { clients: [{} as never] }],
    ['unknown subject type', { subjectTypes: ['global' as never] }],
    ['zero QR age', { qrMaxAgeSeconds: 0 }],
    ['a fractional event poll', { eventPollMs: 0.5 }],
    ['bridge port 0', { bridgePort: 0 }],
    ['dev without cards', { dev: {} as never }],
    [
      "a signing card pairing that is neither a function nor 'unchecked'",
      { ekyc: { signingCardPair: 'platform' as never } },
    ],
  ];
  for (const [name, change] of bad) {
    it(`refuses ${name} with a TypeError`, () => {
      assert.throws(() => resolveConfig({ ...valid, ...change } as IdpConfig), TypeError);
    });
  }

  it('allows a public client (token_endpoint_auth_method none) only if native (RFC 8252 §8.5), however registered', async () => {
    const app = {
      client_id: 'pub-app',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['jp.example.pub:/cb'],
    } as const;
    assert.equal(resolveConfig({ ...valid, clients: [app] }).clients[0]?.token_endpoint_auth_method, 'none');
    const message =
      /^client pub-web: token_endpoint_auth_method none is for a native app only \(RFC 8252 §8\.5\): register it with application_type "native", or give it a secret or a key \(client_secret_basic, client_secret_post or private_key_jwt\)$/;
    const { application_type: _, ...web } = { ...app, client_id: 'pub-web', redirect_uris: ['https://rp.example/cb'] };
    for (const client of [web, { ...web, application_type: 'web' as const }]) {
      assert.throws(() => resolveConfig({ ...valid, clients: [client] }), { name: 'TypeError', message });
      // startServer resolves the same configuration before it opens anything.
      await assert.rejects(startServer({ ...valid, clients: [client] }), { name: 'TypeError', message });
    }
  });

  it('refuses eKYC-only settings on a client offered card login only: a public one, or one no statement names', () => {
    const links = {
      client_id: 'pub-links',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['https://rp.example/app/cb'],
    } as const;
    // Card login alone: accepted, claimed https redirects or not.
    assert.equal(resolveConfig({ ...valid, clients: [links] }).clients[0]?.client_id, 'pub-links');
    const publicWhy =
      "it is public (token_endpoint_auth_method none), and eKYC goes to a confidential client only: have the app's own server redeem the code with a key or a secret (private_key_jwt, client_secret_basic or client_secret_post)";
    const byDefault = { ...links, default_acr_values: ['urn:mynagate:acr:card-auth', 'urn:mynagate:acr:card-sign'] };
    assert.throws(() => resolveConfig({ ...valid, clients: [byDefault] }), {
      name: 'TypeError',
      message: `client pub-links: default_acr_values asks for urn:mynagate:acr:card-sign (eKYC), but the client gets card login only: ${publicWhy}`,
    });
    assert.throws(
      () => resolveConfig({ ...valid, clients: [links], ekyc: { purposes: { 'pub-links': '口座開設' } } }),
      {
        name: 'TypeError',
        message: `ekyc.purposes.pub-links is for eKYC, but client pub-links gets card login only: ${publicWhy}`,
      },
    );
    // A private-use app (confidential) is held to the same rule, for its own reason.
    const { token_endpoint_auth_method: _, ...scheme } = { ...links, redirect_uris: ['jp.example.pub:/cb'] };
    assert.throws(
      () => resolveConfig({ ...valid, clients: [{ ...scheme, default_acr_values: ['urn:mynagate:acr:card-sign'] }] }),
      { name: 'TypeError', message: /^client pub-links: .* card login only: a signed eKYC statement cannot name/ },
    );
    // A confidential client with https redirects keeps them, and the card-auth ACR by default is anyone's.
    const { token_endpoint_auth_method: __, ...confidential } = byDefault;
    const paired = { signingCardPair: async () => undefined };
    assert.equal(resolveConfig({ ...valid, clients: [confidential], ekyc: paired }).clients.length, 1);
    assert.equal(
      resolveConfig({ ...valid, clients: [{ ...links, default_acr_values: ['urn:mynagate:acr:card-auth'] }] }).clients
        .length,
      1,
    );
    assert.equal(
      resolveConfig({ ...valid, clients: [confidential], ekyc: { ...paired, purposes: { 'pub-links': '口座開設' } } })
        .ekyc.purposes['pub-links'],
      '口座開設',
    );
  });

  it('offers no eKYC without a signing card pairing (fails closed), and says which mode otherwise', () => {
    const pair = async () => undefined;
    assert.equal(resolveConfig(valid).ekyc.signingCardPair, undefined);
    assert.equal(ekycMode(resolveConfig(valid).ekyc), 'off');
    assert.equal(ekycMode(resolveConfig({ ...valid, ekyc: { signingCardPair: pair } }).ekyc), 'paired');
    assert.equal(ekycMode(resolveConfig({ ...valid, ekyc: { signingCardPair: 'unchecked' } }).ekyc), 'unchecked');
    // A client asking for eKYC by default would have every request refused (ERR_IDP_EKYC_UNPAIRED): stop the start.
    const signing = { ...valid.clients[0]!, default_acr_values: ['urn:mynagate:acr:card-sign'] };
    assert.throws(() => resolveConfig({ ...valid, clients: [signing] }), {
      name: 'TypeError',
      message:
        "client rp: default_acr_values asks for urn:mynagate:acr:card-sign (eKYC), but eKYC is off: ekyc.signingCardPair is not set (a platform provider's links pair the signing card with the login card)",
    });
    assert.equal(resolveConfig({ ...valid, clients: [signing], ekyc: { signingCardPair: pair } }).clients.length, 1);
    assert.equal(
      resolveConfig({ ...valid, clients: [signing], ekyc: { signingCardPair: 'unchecked' } }).clients.length,
      1,
    );
  });

  it('allows an http issuer on loopback only (development)', () => {
    assert.equal(resolveConfig({ ...valid, issuer: 'http://127.0.0.1:3000' }).secure, false);
  });
});

describe('animated QR code', () => {
  const secret = randomBytes(32);
  const start = 1_700_000_000_000;

  it('is HMAC-SHA256(qrSecret, qrStartToken ‖ t) in base64url', () => {
    const expected = createHmac('sha256', secret).update('txn42').digest('base64url');
    assert.equal(qrCode(secret, 'txn', 42), expected);
  });

  it('counts whole seconds since the start', () => {
    assert.equal(qrTime(start, start + 999), 0);
    assert.equal(qrTime(start, start + 1000), 1);
    assert.equal(qrTime(start, start - 5000), 0);
  });

  it('puts txn, t and c in the companion link', () => {
    const link = new URL(companionLink('https://id.example.jp', 'abc', 7, 'code'));
    assert.equal(link.pathname, '/companion/abc');
    assert.equal(link.searchParams.get('t'), '7');
    assert.equal(link.searchParams.get('c'), 'code');
  });

  const check = (t: number | string, code: string, nowMs: number) => () =>
    checkQrCode({
      qrSecret: secret,
      qrStartToken: 'txn',
      startedAt: start,
      now: nowMs,
      t: String(t),
      code,
      maxAgeSeconds: 3,
    });

  it('accepts the current code and codes up to 3 s old', () => {
    check(5, qrCode(secret, 'txn', 5), start + 5_500)();
    check(2, qrCode(secret, 'txn', 2), start + 5_999)();
  });
  it('refuses a 4 s old code with ERR_IDP_QR_STALE', () => {
    assert.throws(check(1, qrCode(secret, 'txn', 1), start + 5_000), { code: 'ERR_IDP_QR_STALE', ageSeconds: 4 });
  });
  it('refuses a code from the future with ERR_IDP_QR_INVALID', () => {
    assert.throws(check(9, qrCode(secret, 'txn', 9), start + 5_000), { code: 'ERR_IDP_QR_INVALID' });
  });
  it('refuses a code of another login with ERR_IDP_QR_INVALID', () => {
    assert.throws(check(5, qrCode(secret, 'other', 5), start + 5_000), { code: 'ERR_IDP_QR_INVALID' });
  });
  it('refuses a malformed t with ERR_IDP_QR_INVALID', () => {
    for (const t of ['-1', '01', '1.5', 'x', '']) {
      assert.throws(check(t, qrCode(secret, 'txn', 1), start + 1_000), { code: 'ERR_IDP_QR_INVALID' }, t);
    }
  });
});

describe('pairwise subject', () => {
  const secret = randomBytes(32);
  it('is stable per sector and person, and differs across sectors and people', () => {
    const a = pairwiseSubject(secret, 'bank.example', 'p1');
    assert.equal(a, pairwiseSubject(secret, 'bank.example', 'p1'));
    assert.notEqual(a, pairwiseSubject(secret, 'shop.example', 'p1'));
    assert.notEqual(a, pairwiseSubject(secret, 'bank.example', 'p2'));
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  });
  it('separates sector and person unambiguously', () => {
    assert.notEqual(pairwiseSubject(secret, 'a.example', '1x'), pairwiseSubject(secret, 'a.example1', 'x'));
  });
  it('refuses a short secret with a TypeError', () => {
    assert.throws(() => pairwiseSubject(randomBytes(8), 's', 'p'), TypeError);
  });
});

describe('signing keys', () => {
  it('generates ES256 keys with RFC 7638 thumbprint kids', () => {
    const key = generateSigningKey();
    assert.equal(key.alg, 'ES256');
    assert.match(key.kid, /^[A-Za-z0-9_-]{43}$/);
    assertJwks({ keys: [key] });
  });
  it('rotates: a new key first, `keep` previous keys after it', () => {
    const one = { keys: [generateSigningKey()] };
    const two = rotateKeys(one, { keep: 1 });
    const three = rotateKeys(two, { keep: 1 });
    assert.equal(two.keys[1]!.kid, one.keys[0]!.kid);
    assert.deepEqual(
      three.keys.map((k) => k.kid),
      [three.keys[0]!.kid, two.keys[0]!.kid],
    );
  });
  it('publishes no private members', () => {
    for (const k of publicJwks(rotateKeys({ keys: [generateSigningKey()] })).keys) assert.equal(k['d'], undefined);
  });
});

describe('token shape', () => {
  const token = {
    unverifiedCertificate: 'MII',
    algorithm: 'RS256',
    signature: 'AA==',
    format: 'web-eid:1.0',
    appVersion: 'x',
    challenge: 'c'.repeat(44),
  };
  it('accepts a Web eID token that names the challenge it answers', () => {
    assert.deepEqual({ ...parseLoginToken(token) }, token);
  });
  for (const [name, value] of [
    ['a missing signature', { ...token, signature: undefined }],
    ['no challenge named', { ...token, challenge: undefined }],
    ['an empty challenge', { ...token, challenge: '' }],
    ['a challenge that is not a string', { ...token, challenge: 1 }],
    ['another algorithm', { ...token, algorithm: 'ES256' }],
    ['a non-object', 'token'],
    ['an array', [token]],
  ] as const) {
    it(`refuses ${name} with ERR_IDP_TOKEN_MALFORMED`, () => {
      assert.throws(() => parseLoginToken(value), { code: 'ERR_IDP_TOKEN_MALFORMED' });
    });
  }
});

describe('errors to HTTP', () => {
  it('gives PIN tries left in Japanese and English with retriesLeft', () => {
    const { status, body } = toHttpError(new CardPinIncorrectError(2));
    assert.equal(status, 401);
    assert.equal(body.retriesLeft, 2);
    assert.match(body.message.ja, /あと2回/);
    assert.match(body.message.en, /2 tries left/);
  });
  it('explains a locked PIN, an expired or revoked certificate and a missing card in both languages', () => {
    const cases: [MynaGateError, number, RegExp][] = [
      [new CardPinBlockedError(0x6984), 423, /ロック/],
      [new CertificateInvalidError('ERR_PKI_CERT_EXPIRED', 'validity', 'expired'), 403, /有効期限/],
      [new CertificateRevokedError(new Date(), 'keyCompromise', 'ocsp'), 403, /失効/],
      [new MynaGateError('ERR_CARD_NO_CARD', 'no card in "reader 0"'), 409, /カードが見つかりません/],
    ];
    for (const [error, status, ja] of cases) {
      const mapped = toHttpError(error);
      assert.equal(mapped.status, status, error.code);
      assert.match(mapped.body.message.ja, ja, error.code);
      assert.ok(mapped.body.message.en.length > 10, error.code);
    }
  });
  it('maps every IdP code, and never leaks the internal message', () => {
    for (const code of Object.keys(IDP_ERROR_CODES)) {
      const mapped = toHttpError(new MynaGateError(code, 'secret detail 1234'));
      // ERR_IDP_INTERNAL is the one code that means "unexpected": it is 500 by definition.
      if (code === 'ERR_IDP_INTERNAL') assert.equal(mapped.status, 500);
      else assert.notEqual(mapped.status, 500, code);
      assert.equal(JSON.stringify(mapped).includes('secret detail'), false, code);
    }
  });
  it('answers anything unexpected with a generic 500 ERR_IDP_INTERNAL', () => {
    const mapped = toHttpError(new Error('stack and PII'));
    assert.equal(mapped.status, 500);
    assert.equal(mapped.body.error, 'ERR_IDP_INTERNAL');
    assert.equal(JSON.stringify(mapped).includes('PII'), false);
  });
});

describe('challenge store on the one-shot store', () => {
  const now = 1_700_000_000_000;
  const store = () => oneShotChallengeStore(createMemoryStores({ now: () => now }).oneShot);

  it('hands a challenge out once, then reports ERR_PKI_CHALLENGE_USED', async () => {
    const s = store();
    const c = newChallenge('txn-1', now);
    await s.put(c);
    assert.equal((await s.take(c.nonce, 'txn-1', now)).nonce, c.nonce);
    await assert.rejects(s.take(c.nonce, 'txn-1', now), { code: 'ERR_PKI_CHALLENGE_USED' });
  });
  it('refuses an unknown nonce with ERR_PKI_CHALLENGE_NOT_FOUND', async () => {
    await assert.rejects(store().take('nope', 'txn-1', now), { code: 'ERR_PKI_CHALLENGE_NOT_FOUND' });
  });
  it('refuses and burns a challenge presented for another session (ERR_PKI_CHALLENGE_WRONG_SESSION)', async () => {
    const s = store();
    const c = newChallenge('txn-1', now);
    await s.put(c);
    await assert.rejects(s.take(c.nonce, 'txn-2', now), { code: 'ERR_PKI_CHALLENGE_WRONG_SESSION' });
    await assert.rejects(s.take(c.nonce, 'txn-1', now), { code: 'ERR_PKI_CHALLENGE_USED' });
  });
  it('refuses an expired challenge with ERR_PKI_CHALLENGE_EXPIRED', async () => {
    const s = store();
    // Issued 10 s ago for 9.999 s: still held by the store (it keeps at least 1 s), but past its expiry.
    const c = newChallenge('txn-1', now - 10_000, 9_999);
    await s.put(c);
    await assert.rejects(s.take(c.nonce, 'txn-1', now), { code: 'ERR_PKI_CHALLENGE_EXPIRED' });
  });
});

/** A verifier that does not offer to write the login's record alongside its challenge. */
/** node-oidc-provider's resume URL, as a finished login keeps it. */
const RESUME = 'https://id.example.jp/auth/uid-1';

const legacyVerifier = { issueChallenge: async () => ({ nonce: 'n', expiresAt: Date.now() + 60_000 }) };

describe('login transactions', () => {
  const outcome = { accountId: 'person-1', acr: 'urn:mynagate:acr:card-auth', amr: ['hwk'], ts: 1 };
  /** Transactions over a memory one-shot store whose puts are recorded. */
  async function setup(verifier: LoginTransactionOptions['verifier'] = legacyVerifier) {
    const oneShot = createMemoryStores().oneShot;
    const puts: string[] = [];
    const gets: string[] = [];
    const recorded = {
      ...oneShot,
      put: (k: string, v: string, ttl: number) => (puts.push(k), oneShot.put(k, v, ttl)),
      putIfAbsent: (k: string, v: string, ttl: number) => (puts.push(k), oneShot.putIfAbsent(k, v, ttl)),
      putUnless: (k: string, v: string, ttl: number, unless: string) => (
        puts.push(k),
        oneShot.putUnless(k, v, ttl, unless)
      ),
      get: (k: string) => (gets.push(k), oneShot.get(k)),
    };
    /** A node: its own transactions object over the shared store (and the feed given). */
    const node = (changes?: LoginTransactionOptions['changes']) =>
      new LoginTransactions({
        oneShot: recorded,
        changes,
        verifier,
        now: Date.now,
        origin: 'https://id.example.jp',
        loginTtlSeconds: 300,
        challengeTtlSeconds: 60,
        qrMaxAgeSeconds: 3,
      });
    const transactions = node();
    const { transaction } = await transactions.start({
      uid: 'uid-1',
      clientId: 'rp',
      clientName: 'RP',
      clientOrigin: 'https://rp.example',
    });
    const scan = (on: LoginTransactions) => {
      const link = new URL(on.currentLink(transaction).link);
      return on.scan(transaction.txn, link.searchParams.get('t'), link.searchParams.get('c'));
    };
    return { transactions, transaction, puts, gets, oneShot, node, scan };
  }

  it('a scan on the node that started the login reads the transaction from memory; on another node from the store', async () => {
    const { transactions, transaction, gets, node, scan } = await setup();
    const { txn } = transaction;
    await scan(transactions);
    // Nothing read: the claim and the challenge a new one replaces are read by the write of the new one (putUnless).
    assert.deepEqual(gets, []);
    await scan(node());
    assert.deepEqual(gets, [`login:${txn}`]);
  });

  it('once the login ended on any node, a scan or token post for it is ERR_IDP_LOGIN_NOT_FOUND', async () => {
    const { transactions, transaction, scan } = await setup();
    await transactions.finish(transaction, RESUME);
    await assert.rejects(scan(transactions), { code: 'ERR_IDP_LOGIN_NOT_FOUND' });
    const other = await setup();
    await other.node().finish(other.transaction, RESUME);
    // The starting node's scan may still hand out a challenge; the token post reads the store (get) and refuses.
    await other.scan(other.transactions);
    await assert.rejects(other.transactions.get(other.transaction.txn), { code: 'ERR_IDP_LOGIN_NOT_FOUND' });
  });

  for (const [name, verifier] of [
    ['a verifier writing it alongside its challenge', undefined],
    ['a verifier that does not offer that', legacyVerifier],
  ] as const) {
    it(`a scan records the login's challenge, with ${name}`, async () => {
      const calls: string[] = [];
      const { transactions, transaction, puts } = await setup(
        verifier ?? {
          issueChallenge: async (_txn, alongside) => {
            const c = { nonce: 'nonce-1', expiresAt: Date.now() + 60_000 };
            calls.push('issue');
            await alongside?.(c);
            return c;
          },
        },
      );
      const link = new URL(transactions.currentLink(transaction).link);
      const view = await transactions.scan(transaction.txn, link.searchParams.get('t'), link.searchParams.get('c'));
      assert.deepEqual(puts, [`login:${transaction.txn}`, `challenge:${transaction.txn}`]);
      assert.equal(await transactions.scanned(transaction.txn), true);
      await transactions.consumeChallenge(transaction.txn, view.challenge);
      assert.equal(await transactions.scanned(transaction.txn), false);
      assert.deepEqual(calls, verifier ? [] : ['issue']);
    });
  }

  it('an outcome without a watching stream is written to the store for any node to take', async () => {
    const { transactions, transaction, puts } = await setup();
    await transactions.complete(transaction, outcome);
    assert.deepEqual(puts, [`login:${transaction.txn}`, `result:${transaction.txn}`]);
    assert.equal((await transactions.pending(transaction.txn)).outcome, true);
    assert.deepEqual(await transactions.takeOutcome(transaction.txn), outcome);
    assert.equal(await transactions.takeOutcome(transaction.txn), undefined);
  });

  it('an outcome with a watching stream is handed over in memory (no store write), once', async () => {
    const { transactions, transaction, puts } = await setup();
    const changes: string[] = [];
    const unwatch = transactions.watch(transaction.txn, (c) => changes.push(c));
    await transactions.complete(transaction, outcome);
    await sleep(0);
    assert.deepEqual(changes, ['outcome']);
    assert.deepEqual(puts, [`login:${transaction.txn}`]);
    assert.equal((await transactions.pending(transaction.txn)).outcome, true);
    assert.deepEqual(await transactions.takeOutcome(transaction.txn), outcome);
    assert.equal(await transactions.takeOutcome(transaction.txn), undefined);
    unwatch();
    assert.deepEqual(puts, [`login:${transaction.txn}`]);
  });

  it('a stream that goes before taking its outcome leaves it in the store for the next stream', async () => {
    const { transactions, transaction, puts, oneShot } = await setup();
    const unwatch = transactions.watch(transaction.txn, () => {});
    await transactions.complete(transaction, outcome);
    unwatch();
    await sleep(0);
    assert.deepEqual(puts, [`login:${transaction.txn}`, `result:${transaction.txn}`]);
    assert.notEqual(await oneShot.get(`result:${transaction.txn}`), undefined);
    assert.deepEqual(await transactions.takeOutcome(transaction.txn), outcome);
  });

  it('with a change feed, a change is announced when the stream is on another node, and a notice wakes it there', async () => {
    const { transaction, node, scan } = await setup();
    // Two nodes on one feed: each hears the other's notices.
    const listeners = new Map<string, (key: string) => void>();
    const published: string[] = [];
    const feed = (name: string): LoginTransactionOptions['changes'] => ({
      publish: async (key) => {
        published.push(`${name} ${key}`);
        for (const [n, l] of listeners) if (n !== name) l(key);
      },
      subscribe: (onKey) => (listeners.set(name, onKey), () => listeners.delete(name)),
    });
    const a = node(feed('a'));
    const b = node(feed('b'));
    const heard: string[] = [];
    const unwatch = a.watch(transaction.txn, (c) => heard.push(c));
    // Node B records: A's stream is told.
    await scan(b);
    await b.complete(transaction, outcome);
    await b.fail(transaction, { error: 'ERR_PKI_TOKEN_SIGNATURE', message: { ja: 'x', en: 'x' } });
    await sleep(0);
    assert.deepEqual(heard, ['scanned', 'outcome', 'failure']);
    assert.deepEqual(await a.takeOutcome(transaction.txn), outcome, 'an outcome recorded elsewhere is in the store');
    // Node A records with its stream here: nothing is announced.
    const count = published.length;
    await scan(a);
    await a.complete(transaction, outcome);
    await sleep(0);
    assert.equal(published.length, count);
    assert.deepEqual(heard.slice(3), ['scanned', 'outcome']);
    unwatch();
  });

  it('finishing the transaction drops an outcome handed over and not taken', async () => {
    const { transactions, transaction, puts } = await setup();
    const unwatch = transactions.watch(transaction.txn, () => {});
    await transactions.complete(transaction, outcome);
    await transactions.finish(transaction, RESUME);
    unwatch();
    assert.equal(await transactions.takeOutcome(transaction.txn), undefined);
    assert.deepEqual(puts, [`login:${transaction.txn}`]);
  });
});

describe('transaction watch', () => {
  it("a notice wakes the watchers of its kind and transaction only, and the last watcher's going is reported", async () => {
    const listeners = new Set<(key: string) => void>();
    const hear = (key: string) => listeners.forEach((l) => l(key));
    const feed = {
      publish: async () => {},
      subscribe: (onKey: (key: string) => void) => (listeners.add(onKey), () => listeners.delete(onKey)),
    };
    const logins = new TransactionWatch('login', feed);
    const signs = new TransactionWatch('sign', feed);
    const heard: string[] = [];
    let gone = 0;
    const stop = logins.watch(
      't1',
      (c) => heard.push(`login t1 ${c}`),
      () => gone++,
    );
    signs.watch('t1', (c) => heard.push(`sign t1 ${c}`));
    for (const key of ['login:outcome:t1', 'sign:scanned:t1', 'login:failure:t2', 'login:bogus:t1', 'other']) hear(key);
    await sleep(0);
    assert.deepEqual(heard.sort(), ['login t1 outcome', 'sign t1 scanned']);
    assert.equal(logins.watching('t1'), true);
    stop();
    assert.equal(gone, 1);
    assert.equal(logins.watching('t1'), false);
  });
});

describe('grants saved by this node (loadExistingGrant)', () => {
  /** A provider whose store answers `find` with a marker, counting the reads. */
  function fakeProvider() {
    const reads: string[] = [];
    const provider = {
      Grant: { find: async (id: string) => (reads.push(id), { jti: id, fromStore: true }) },
    } as unknown as Provider;
    const ctx = (grantId: string | undefined, sessionGrant?: string) =>
      ({
        oidc: {
          provider,
          result: grantId === undefined ? undefined : { consent: { grantId } },
          session: { grantIdFor: () => sessionGrant },
          client: { clientId: 'rp' },
        },
      }) as unknown as KoaContextWithOIDC;
    return { provider, reads, ctx };
  }

  it('the resume of the interaction that returned a grant saved here takes it once, without a store read', async () => {
    const { provider, reads, ctx } = fakeProvider();
    const grant = { jti: 'g1' } as unknown as InstanceType<Provider['Grant']>;
    keepSavedGrant(provider, 'g1', grant);
    assert.equal(await loadExistingGrant(ctx('g1')), grant);
    assert.deepEqual(reads, []);
    assert.deepEqual(await loadExistingGrant(ctx('g1')), { jti: 'g1', fromStore: true });
    assert.deepEqual(reads, ['g1']);
  });

  it('any other grant, or none returned, is node-oidc-provider default: the store', async () => {
    const { provider, reads, ctx } = fakeProvider();
    keepSavedGrant(provider, 'g1', { jti: 'g1' } as unknown as InstanceType<Provider['Grant']>);
    assert.deepEqual(await loadExistingGrant(ctx('g2')), { jti: 'g2', fromStore: true });
    assert.deepEqual(await loadExistingGrant(ctx(undefined, 'g3')), { jti: 'g3', fromStore: true });
    assert.equal(await loadExistingGrant(ctx(undefined)), undefined);
    assert.deepEqual(reads, ['g2', 'g3']);
  });
});

describe('people seen to exist (providerStores)', () => {
  /** Records with one person and one credential, counting the person lookups. */
  const records = () => {
    const people = new Set(['p1']);
    const counts = { findPerson: 0 };
    const r = {
      findPerson: async (id: string) => (
        counts.findPerson++,
        people.has(id) ? { id, createdAt: new Date(0) } : undefined
      ),
      findCredentialByFingerprint: async (fp: string) => (fp === 'f'.repeat(64) ? { personId: 'p1' } : undefined),
    };
    return { people, counts, stores: { adapter: undefined, oneShot: undefined, records: r } as unknown as Stores };
  };

  it('a person just found by a card login is known to exist without asking the store again', async () => {
    const { stores, counts } = records();
    const { people } = providerStores(stores);
    assert.equal(await people.findPersonByCredential('f'.repeat(64)), 'p1');
    assert.equal(await people.personExists('p1'), true);
    assert.equal(await people.personExists('p1'), true);
    assert.equal(counts.findPerson, 0);
  });

  it('a missing person is asked for every time (no negative answers remembered)', async () => {
    const { stores, counts } = records();
    const { people } = providerStores(stores);
    assert.equal(await people.personExists('p2'), false);
    assert.equal(await people.personExists('p2'), false);
    assert.equal(counts.findPerson, 2);
  });

  it('forgetPerson, and the end of personSeenMs, make it ask the store again (a deleted person is then refused)', async () => {
    const { stores, counts, people: rows } = records();
    const { people } = providerStores(stores, { personSeenMs: 50 });
    assert.equal(await people.personExists('p1'), true);
    assert.equal(await people.personExists('p1'), true);
    assert.equal(counts.findPerson, 1);
    people.forgetPerson!('p1');
    assert.equal(await people.personExists('p1'), true);
    assert.equal(counts.findPerson, 2);
    rows.delete('p1');
    assert.equal(await people.personExists('p1'), true, 'still remembered within personSeenMs');
    await sleep(80);
    assert.equal(await people.personExists('p1'), false);
    assert.equal(counts.findPerson, 3);
  });

  it('personSeenMs 0 asks the store every time; a negative or NaN value is a TypeError', async () => {
    const { stores, counts } = records();
    const { people } = providerStores(stores, { personSeenMs: 0 });
    await people.personExists('p1');
    await people.personExists('p1');
    assert.equal(counts.findPerson, 2);
    assert.throws(() => providerStores(stores, { personSeenMs: -1 }), TypeError);
    assert.throws(() => providerStores(stores, { personSeenMs: Number.NaN }), TypeError);
  });
});

describe('server options', () => {
  it('refuses neither or both of stores and store with a TypeError', async () => {
    const { stores, ...rest } = valid;
    await assert.rejects(startServer(rest), TypeError);
    await assert.rejects(startServer({ ...rest, stores, store: { kind: 'sqlite', path: ':memory:' } }), TypeError);
  });

  it('closes its socket when node-oidc-provider refuses the configuration after it listens (no hang)', async () => {
    // No issuer: it is the address listened on, so the configuration is complete only then.
    const { issuer: _, ...rest } = valid;
    const port = await new Promise<number>((resolve) => {
      const probe = createNetServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const client = { client_id: 'rp', redirect_uris: ['https://rp.example/cb'] };
    await assert.rejects(startServer({ ...rest, clients: [client, client], port, host: '127.0.0.1' }));
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    assert.equal(open, false, 'nothing listens any more');
  });
});
