/**
 * One login, one person, without a server: a card login's challenge goes only to a token post that names it, the
 * first post that presents it claims the login on every node (no other scan gets a challenge, no other token an
 * outcome), an outcome is written once, a rescan forgets the challenge it replaced, and a finished login's redirect
 * waits a minute for its browser's other event streams, and for that browser only. The same over HTTP, on SQLite and
 * on PostgreSQL + Redis: op-login-once.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MynaGateError } from '@mynagate/errors';
import { newChallenge } from '@mynagate/pki';
import { submitCardToken, type CardLoginDeps } from '../src/card-login.ts';
import { oneShotChallengeStore } from '../src/challenge-store.ts';
import type { LoginToken, LoginVerifier, VerifiedLogin } from '../src/login-token.ts';
import { CLAIM_TTL_MS, LoginTransactions, type LoginOutcome } from '../src/login-transaction.ts';
import { createMemoryStores } from '../src/memory-stores.ts';
import type { OneShotPort } from '../src/ports.ts';
import { StoreUnavailableError } from '../src/store/errors.ts';

const ORIGIN = 'https://id.example.jp';
const outcome: LoginOutcome = { accountId: 'person-1', acr: 'urn:mynagate:acr:card-auth', amr: ['hwk'], ts: 1 };

/**
 * A verifier over the one-shot store as the provider's is wired (`oneShotChallengeStore`): it takes the challenge
 * it issued, then "verifies" a token whose certificate is a card's name and whose signature must be `sig:<challenge>`
 * (a token signed for another challenge fails as the real one does). `hold` keeps verifications waiting.
 */
function fakeVerifier(oneShot: OneShotPort, now: () => number) {
  const challenges = oneShotChallengeStore(oneShot);
  let gate: Promise<void> | undefined;
  const verifier: LoginVerifier = {
    async issueChallenge(sessionId, alongside) {
      const c = newChallenge(sessionId, now(), 60_000);
      await Promise.all([challenges.put(c), alongside?.(c)]);
      return c;
    },
    async verifyLoginToken(token, context): Promise<VerifiedLogin> {
      await challenges.take(context.challenge, context.sessionId, now());
      await gate;
      const t = (typeof token === 'string' ? JSON.parse(token) : token) as LoginToken;
      if (t.signature !== `sig:${context.challenge}`)
        throw new MynaGateError('ERR_PKI_TOKEN_SIGNATURE', 'signature does not verify');
      return {
        fingerprint: t.unverifiedCertificate.padEnd(64, '0'),
        serialNumber: '01',
        issuer: 'CN=Test',
        issuerFingerprint: 'f'.repeat(64),
        kind: 'auth',
        notAfter: new Date('2030-01-01'),
      };
    },
  };
  return {
    verifier,
    /** Verifications wait until the returned function is called. */
    hold(): () => void {
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      return () => {
        gate = undefined;
        open();
      };
    },
  };
}

/** What `pending` finds while a companion holds `challenge` and nothing else happened. */
function waitingFor(challenge: string) {
  return { outcome: false, failure: false, scanned: true, scanId: challenge, finished: undefined };
}

/** node-oidc-provider's resume URL, as a finished login keeps it. */
const RESUME = 'https://id.example.jp/auth/uid-1';

/** A card's token for `challenge`, naming `named` (default: that challenge). */
function token(card: string, challenge: string, named = challenge): LoginToken {
  return {
    unverifiedCertificate: card,
    algorithm: 'RS256',
    signature: `sig:${challenge}`,
    format: 'web-eid:1.0',
    challenge: named,
  };
}

/** Two nodes over one memory store and clock, a login started on the first, and what a card login needs. */
async function setup() {
  let clock = 1_700_000_000_000;
  const now = () => clock;
  const stores = createMemoryStores({ now });
  const { oneShot } = stores;
  const { verifier, hold } = fakeVerifier(oneShot, now);
  const node = (port: OneShotPort = oneShot, v: LoginVerifier = verifier) =>
    new LoginTransactions({
      oneShot: port,
      verifier: v,
      now,
      origin: ORIGIN,
      loginTtlSeconds: 300,
      challengeTtlSeconds: 60,
      qrMaxAgeSeconds: 3,
    });
  const a = node();
  const b = node();
  const { transaction, browserKey } = await a.start({
    uid: 'uid-1',
    clientId: 'rp',
    clientName: 'RP',
    clientOrigin: 'https://rp.example',
  });
  const { txn } = transaction;
  const scan = (on: LoginTransactions) => {
    const link = new URL(on.currentLink(transaction).link);
    return on.scan(txn, link.searchParams.get('t'), link.searchParams.get('c'));
  };
  const deps = (transactions: LoginTransactions): CardLoginDeps => ({
    transactions,
    verifier,
    people: stores.people,
    linkCertificate: undefined,
    origin: ORIGIN,
    now,
  });
  const post = (on: LoginTransactions, t: LoginToken | string) => submitCardToken(deps(on), txn, t);
  /** The person a card of {@link token} logged in as. */
  const personOf = (card: string) => stores.people.findPersonByCredential(card.padEnd(64, '0'));
  return {
    personOf,
    node,
    a,
    b,
    oneShot,
    transaction,
    browserKey,
    txn,
    scan,
    post,
    deps,
    hold,
    verifier,
    now,
    advance: (ms: number) => void (clock += ms),
  };
}

describe('one-shot port in memory', () => {
  it('putIfAbsent writes once (again after expiry); deleteIf deletes only the value named', async () => {
    let clock = 0;
    const { oneShot } = createMemoryStores({ now: () => clock });
    assert.equal(await oneShot.putIfAbsent('k', 'first', 1000), true);
    assert.equal(await oneShot.putIfAbsent('k', 'second', 1000), false);
    assert.equal(await oneShot.get('k'), 'first');
    clock += 1000;
    assert.equal(await oneShot.putIfAbsent('k', 'third', 1000), true, 'an expired value is no value');
    assert.equal(await oneShot.deleteIf('k', 'first'), false);
    assert.equal(await oneShot.get('k'), 'third');
    assert.equal(await oneShot.deleteIf('k', 'third'), true);
    assert.equal(await oneShot.get('k'), undefined);
    assert.equal(await oneShot.deleteIf('k', 'third'), false);
  });

  it('getMany and putDeleting refuse what the stores refuse, with a TypeError', async () => {
    const { oneShot } = createMemoryStores();
    await oneShot.put('a', '1', 1000);
    await oneShot.putDeleting('b', '2', 1000, ['a']);
    assert.deepEqual(await oneShot.getMany(['a', 'b']), [undefined, '2']);
    for (const keys of [[], ['a', 'a'], ['a', ''], Array.from({ length: 17 }, (_, i) => `k${i}`)]) {
      await assert.rejects(oneShot.getMany(keys), TypeError, JSON.stringify(keys));
      await assert.rejects(oneShot.putDeleting('z', '1', 1000, keys), TypeError, JSON.stringify(keys));
    }
    await assert.rejects(oneShot.putDeleting('a', '1', 1000, ['a']), TypeError);
    await assert.rejects(oneShot.putDeleting('', '1', 1000, ['a']), TypeError);
  });
});

describe('a token post presents the challenge it answers', () => {
  it('naming another challenge: ERR_IDP_CHALLENGE_INVALID, and nothing changes (the challenge stays, the page hears nothing)', async () => {
    const { a, txn, scan, post, oneShot, personOf } = await setup();
    const view = await scan(a);
    // Whoever knows the login's id (every QR frame carries it), with a token of their own card.
    await assert.rejects(post(a, token('mallory', 'guess')), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    await assert.rejects(post(a, token('mallory', view.challenge, 'guess')), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    assert.deepEqual(await a.pending(txn), waitingFor(view.challenge));
    assert.equal(await oneShot.get(`claimed:${txn}`), undefined);
    // The companion that scanned still finishes.
    await post(a, token('alice', view.challenge));
    assert.equal((await a.takeOutcome(txn))?.accountId, await personOf('alice'));
  });

  it('naming none: ERR_IDP_TOKEN_MALFORMED, posted as text or as an object; nothing changes', async () => {
    const { a, txn, scan, post } = await setup();
    const view = await scan(a);
    const { challenge: _, ...bare } = token('mallory', view.challenge);
    await assert.rejects(post(a, JSON.stringify(bare)), { code: 'ERR_IDP_TOKEN_MALFORMED' });
    await assert.rejects(post(a, bare as LoginToken), { code: 'ERR_IDP_TOKEN_MALFORMED' });
    await assert.rejects(post(a, '{'), { code: 'ERR_IDP_TOKEN_MALFORMED' });
    assert.deepEqual(await a.pending(txn), waitingFor(view.challenge));
  });

  it('two posts presenting one challenge at once: one goes on, the other is ERR_IDP_CHALLENGE_INVALID', async () => {
    const { a, txn, scan, post } = await setup();
    const view = await scan(a);
    const results = await Promise.allSettled([
      post(a, JSON.stringify(token('alice', view.challenge))),
      post(a, JSON.stringify(token('alice', view.challenge))),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((refused.reason as MynaGateError).code, 'ERR_IDP_CHALLENGE_INVALID');
    assert.equal((await a.pending(txn)).failure, false);
  });

  it('presented, then refused by the verifier: the page is told, and the login is open to a scan again', async () => {
    const { a, txn, scan, post, oneShot } = await setup();
    const view = await scan(a);
    await assert.rejects(post(a, token('alice', 'another', view.challenge)), { code: 'ERR_PKI_TOKEN_SIGNATURE' });
    assert.equal((await a.takeFailure(txn))?.error, 'ERR_PKI_TOKEN_SIGNATURE');
    assert.equal(await oneShot.get(`claimed:${txn}`), undefined, 'the claim was given up');
    const again = await scan(a);
    await post(a, token('alice', again.challenge));
    assert.notEqual(await a.takeOutcome(txn), undefined);
  });
});

describe('one login, one person', () => {
  it('once a card answered, a scan on any node is ERR_IDP_LOGIN_FINISHED, after the QR code checked out', async () => {
    const { a, b, transaction, txn, scan, post } = await setup();
    const view = await scan(a);
    await post(a, token('alice', view.challenge));
    await assert.rejects(scan(a), { code: 'ERR_IDP_LOGIN_FINISHED' });
    await assert.rejects(scan(b), { code: 'ERR_IDP_LOGIN_FINISHED' });
    // Whoever has only the id learns nothing of it: a QR code that is not a fresh frame is refused first.
    await assert.rejects(a.scan(txn, '0', 'AAAAAAAAAAAAAAAAAAAAAA'), { code: 'ERR_IDP_QR_INVALID' });
    // And so after another node ended the login, on the node that started it (which reads no transaction there).
    await b.finish(transaction, RESUME);
    await assert.rejects(scan(a), { code: 'ERR_IDP_LOGIN_FINISHED' });
    await assert.rejects(scan(b), { code: 'ERR_IDP_LOGIN_NOT_FOUND' });
  });

  it("while the first card's token is checked, a scan is refused; once refused, scanning works again", async () => {
    const { a, b, txn, scan, post, hold } = await setup();
    const view = await scan(a);
    const open = hold();
    const first = post(a, token('alice', 'another', view.challenge));
    await sleep(10);
    await assert.rejects(scan(b), { code: 'ERR_IDP_LOGIN_FINISHED' });
    open();
    await assert.rejects(first, { code: 'ERR_PKI_TOKEN_SIGNATURE' });
    const again = await scan(b);
    await post(b, token('alice', again.challenge));
    assert.notEqual(await a.takeOutcome(txn), undefined);
  });

  for (const [where, watching] of [
    ['waiting in the store', false],
    ["handed over in memory to the browser's stream on the other node", true],
  ] as const) {
    it(`a second card with a challenge from a racing scan never replaces the first's outcome (${where}): ERR_IDP_LOGIN_FINISHED, the page not told`, async () => {
      const { a, b, txn, scan, post, oneShot, personOf } = await setup();
      const changes: string[] = [];
      const unwatch = watching ? a.watch(txn, (c) => changes.push(c)) : () => {};
      const view = await scan(b);
      await post(a, token('alice', view.challenge));
      // A scan that read the login before the first card claimed it wrote its challenge after: Mallory holds it.
      const raced = 'raced-challenge';
      await oneShot.put(`challenge:${txn}`, raced, 60_000);
      await oneShot.put(
        `pki-challenge:${raced}`,
        JSON.stringify({ nonce: raced, sessionId: txn, issuedAt: 0, expiresAt: Number.MAX_SAFE_INTEGER }),
        60_000,
      );
      await assert.rejects(post(b, token('mallory', raced)), { code: 'ERR_IDP_LOGIN_FINISHED' });
      await sleep(0);
      assert.equal((await a.pending(txn)).failure, false, 'the page is not told');
      assert.equal((await a.takeOutcome(txn))?.accountId, await personOf('alice'));
      assert.equal(await a.takeOutcome(txn), undefined);
      assert.equal(await personOf('mallory'), undefined, 'the second card never logged in');
      assert.deepEqual(changes, watching ? ['outcome'] : []);
      unwatch();
    });
  }

  it('an outcome is written once: a second is ERR_IDP_LOGIN_FINISHED, handed over in memory or waiting in the store', async () => {
    const { a, b, transaction, txn } = await setup();
    await a.complete(transaction, outcome);
    await assert.rejects(b.complete(transaction, { ...outcome, accountId: 'mallory' }), {
      code: 'ERR_IDP_LOGIN_FINISHED',
    });
    assert.deepEqual(await a.takeOutcome(txn), outcome);
    const unwatch = a.watch(txn, () => {});
    await a.complete(transaction, outcome);
    await assert.rejects(a.complete(transaction, { ...outcome, accountId: 'mallory' }), {
      code: 'ERR_IDP_LOGIN_FINISHED',
    });
    assert.deepEqual(await a.takeOutcome(txn), outcome);
    unwatch();
  });

  it("the claim is written once across nodes: the second is ERR_IDP_LOGIN_FINISHED; its holder's release opens it", async () => {
    const { a, b, transaction } = await setup();
    await a.claim(transaction, 'post-1');
    await assert.rejects(b.claim(transaction, 'post-2'), { code: 'ERR_IDP_LOGIN_FINISHED' });
    await b.release(transaction, 'post-2');
    await assert.rejects(
      b.claim(transaction, 'post-2'),
      { code: 'ERR_IDP_LOGIN_FINISHED' },
      'only its holder frees it',
    );
    await a.release(transaction, 'post-1');
    await b.claim(transaction, 'post-2');
  });

  it('a hand-over the wrong browser brings back gives up the claim: the page is told, and it can scan again', async () => {
    const { a, txn, scan, deps } = await setup();
    const view = await scan(a);
    const code = await submitCardToken(deps(a), txn, token('alice', view.challenge), { handover: true });
    await assert.rejects(scan(a), { code: 'ERR_IDP_LOGIN_FINISHED' });
    await assert.rejects(a.takeHandover(code, 'not-the-browser-key', 'uid-1'), { code: 'ERR_IDP_HANDOVER_MISMATCH' });
    assert.equal((await a.takeFailure(txn))?.error, 'ERR_IDP_HANDOVER_MISMATCH');
    await scan(a);
  });
});

describe('a claim bounds the check of its token', () => {
  it('a node that dies mid-check: rescans are ERR_IDP_LOGIN_FINISHED until CLAIM_TTL_MS, then work again', async () => {
    const { a, b, transaction, txn, scan, advance } = await setup();
    const view = await scan(a);
    // Node b takes the token post: consumes the challenge and claims, then dies before the verifier settles.
    await b.consumeChallenge(txn, view.challenge);
    await b.claim(transaction, 'post-on-b');
    advance(1_000);
    await assert.rejects(scan(a), { code: 'ERR_IDP_LOGIN_FINISHED' });
    advance(CLAIM_TTL_MS - 1_000);
    const again = await scan(a);
    assert.equal((await a.pending(txn)).scanned, true);
    assert.notEqual(again.challenge, view.challenge);
  });

  it('a claim written whose reply was lost (ERR_STORE_UNAVAILABLE): the page is told, and a rescan works at once', async () => {
    const { node, oneShot, txn, scan, deps } = await setup();
    const lossy: OneShotPort = {
      get: (k) => oneShot.get(k),
      getMany: (ks) => oneShot.getMany(ks),
      putDeleting: (k, v, t, ds) => oneShot.putDeleting(k, v, t, ds),
      take: (k) => oneShot.take(k),
      takeMarking: (k, m, t) => oneShot.takeMarking(k, m, t),
      deleteIf: (k, v) => oneShot.deleteIf(k, v),
      renew: (k, v, t) => oneShot.renew(k, v, t),
      putUnless: (k, v, t, u) => oneShot.putUnless(k, v, t, u),
      delete: (k) => oneShot.delete(k),
      put: (k, v, t) => oneShot.put(k, v, t),
      async putIfAbsent(key, value, ttl) {
        const written = await oneShot.putIfAbsent(key, value, ttl);
        if (key.startsWith('claimed:')) throw new StoreUnavailableError('reply lost');
        return written;
      },
    };
    const c = node(lossy);
    const view = await scan(c);
    await assert.rejects(submitCardToken(deps(c), txn, token('alice', view.challenge)), {
      code: 'ERR_STORE_UNAVAILABLE',
    });
    assert.equal((await c.takeFailure(txn))?.error, 'ERR_STORE_UNAVAILABLE', 'the page is told to scan again');
    assert.equal(await oneShot.get(`claimed:${txn}`), undefined, 'the claim written was given up');
    await scan(c);
  });

  it("a scan whose challenge the verifier could not store (ERR_STORE_UNAVAILABLE): the page's record goes and it is told", async () => {
    const { node, verifier, now, a, txn, scan } = await setup();
    const c = node(undefined, {
      ...verifier,
      async issueChallenge(sessionId, alongside) {
        const issued = newChallenge(sessionId, now(), 60_000);
        await alongside?.(issued);
        throw new StoreUnavailableError('the challenge was not written');
      },
    });
    await assert.rejects(scan(c), { code: 'ERR_STORE_UNAVAILABLE' });
    const pending = await a.pending(txn);
    assert.equal(pending.scanned, false, 'no challenge left for the page to wait on');
    assert.equal(pending.failure, true);
    assert.equal((await a.takeFailure(txn))?.error, 'ERR_STORE_UNAVAILABLE', 'the page shows its code again');
    const view = await scan(a);
    assert.equal((await a.pending(txn)).scanId, view.challenge, 'a rescan works at once');
  });

  it('a post whose audit never completes (a node that dies in the durable write) holds the login for CLAIM_TTL_MS only', async () => {
    const { a, b, txn, scan, deps, advance } = await setup();
    const view = await scan(a);
    const stuck = { ...deps(a), people: { ...deps(a).people, audit: () => new Promise<void>(() => {}) } };
    void submitCardToken(stuck, txn, token('alice', view.challenge));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await assert.rejects(scan(b), { code: 'ERR_IDP_LOGIN_FINISHED' }, 'claimed while its token is checked');
    advance(CLAIM_TTL_MS);
    await scan(b);
  });

  it('once accepted, the claim outlives CLAIM_TTL_MS: a scan while the outcome waits is ERR_IDP_LOGIN_FINISHED', async () => {
    const { a, b, txn, scan, post, advance } = await setup();
    const view = await scan(a);
    await post(a, token('alice', view.challenge));
    advance(CLAIM_TTL_MS + 60_000);
    await assert.rejects(scan(b), { code: 'ERR_IDP_LOGIN_FINISHED' });
    assert.notEqual(await a.takeOutcome(txn), undefined);
  });

  it("a claim that lapsed and was taken by another post stays that one's: the first makes no outcome", async () => {
    const { a, b, transaction, advance } = await setup();
    await a.claim(transaction, 'slow');
    advance(CLAIM_TTL_MS);
    await b.claim(transaction, 'second');
    await assert.rejects(a.keepClaim(transaction, 'slow'), { code: 'ERR_IDP_LOGIN_FINISHED' });
    await a.release(transaction, 'slow');
    await assert.rejects(a.claim(transaction, 'third'), { code: 'ERR_IDP_LOGIN_FINISHED' });
  });

  it('a claim that lapsed and no one took is written again by its holder, and then outlives CLAIM_TTL_MS', async () => {
    const { a, b, transaction, advance } = await setup();
    await a.claim(transaction, 'slow');
    advance(CLAIM_TTL_MS);
    await a.keepClaim(transaction, 'slow');
    advance(CLAIM_TTL_MS + 1_000);
    await assert.rejects(b.claim(transaction, 'second'), { code: 'ERR_IDP_LOGIN_FINISHED' });
  });
});

describe('a token post that does not present the outstanding challenge', () => {
  it('is ERR_IDP_CHALLENGE_INVALID whether the login waits, finished or expired: the id alone tells nothing', async () => {
    const { a, transaction, txn, scan, post, advance } = await setup();
    const guess = token('mallory', 'guess');
    await assert.rejects(post(a, guess), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    const view = await scan(a);
    await post(a, token('alice', view.challenge));
    await a.finish(transaction, RESUME); // what the event stream does once the login finished
    advance(10_000);
    await assert.rejects(post(a, guess), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    advance(600_000);
    await assert.rejects(post(a, guess), { code: 'ERR_IDP_CHALLENGE_INVALID' });
  });
});

describe('a rescan', () => {
  it('forgets the challenge it replaced; a token for that one is ERR_IDP_CHALLENGE_INVALID', async () => {
    const { a, b, txn, scan, post, oneShot } = await setup();
    const first = await scan(a);
    assert.notEqual(await oneShot.get(`pki-challenge:${first.challenge}`), undefined);
    const second = await scan(b);
    assert.equal(await oneShot.get(`pki-challenge:${first.challenge}`), undefined);
    assert.notEqual(await oneShot.get(`pki-challenge:${second.challenge}`), undefined);
    assert.equal(await oneShot.get(`challenge:${txn}`), second.challenge);
    await assert.rejects(post(a, token('alice', first.challenge)), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    await post(a, token('alice', second.challenge));
  });
});

describe('a scan of a claimed login', () => {
  it('is ERR_IDP_LOGIN_FINISHED and leaves no challenge behind, on the node that started the login and on another', async () => {
    const { a, b, transaction, txn, scan, oneShot } = await setup();
    await a.claim(transaction, 'post-1');
    // The verifier's challenges written meanwhile (it writes them through the same store).
    const issued: string[] = [];
    const put = oneShot.put.bind(oneShot);
    oneShot.put = (key, value, ttlMs) => (key.startsWith('pki-challenge:') && issued.push(key), put(key, value, ttlMs));
    for (const node of [a, b]) {
      await assert.rejects(scan(node), { code: 'ERR_IDP_LOGIN_FINISHED' });
      assert.equal(await oneShot.get(`challenge:${txn}`), undefined, 'no challenge outstanding');
      assert.equal((await node.pending(txn)).scanned, false, 'the page is not told of a scan');
    }
    for (const key of issued) assert.equal(await oneShot.get(key), undefined, `${key} forgotten`);
  });

  it('leaves the challenge a companion holds as it was (a scan that came between a post and its claim)', async () => {
    const { a, b, transaction, txn, scan, oneShot } = await setup();
    const held = await scan(a);
    await a.claim(transaction, 'post-1');
    for (const node of [a, b]) await assert.rejects(scan(node), { code: 'ERR_IDP_LOGIN_FINISHED' });
    assert.equal(await oneShot.get(`challenge:${txn}`), held.challenge, 'not overwritten');
    assert.notEqual(await oneShot.get(`pki-challenge:${held.challenge}`), undefined, 'not forgotten');
  });
});

describe("a finished login's redirect", () => {
  it("is kept a minute for the owning browser's streams only", async () => {
    const { a, b, transaction, browserKey, txn, advance } = await setup();
    await a.finish(transaction, RESUME);
    await assert.rejects(b.get(txn), { code: 'ERR_IDP_LOGIN_NOT_FOUND' }, 'the transaction ended with it');
    assert.equal((await b.pending(txn)).finished, RESUME);
    assert.equal(await b.finishedFor(txn, browserKey, 'uid-1'), RESUME);
    assert.equal(await b.finishedFor(txn, 'another-browser-key', 'uid-1'), undefined);
    assert.equal(await b.finishedFor(txn, browserKey, 'another-interaction'), undefined);
    await assert.rejects(b.finishedFor('x'.repeat(2000), browserKey, 'uid-1'), { code: 'ERR_IDP_LOGIN_NOT_FOUND' });
    advance(60_000);
    assert.equal(await b.finishedFor(txn, browserKey, 'uid-1'), undefined);
    assert.equal((await b.pending(txn)).finished, undefined);
  });
});
