/** Challenges: minting, the in-memory store's atomic single use, session binding, expiry; and origin form. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryChallengeStore, checkOrigin, newChallenge } from '@mynagate/pki';

const T = Date.UTC(2027, 0, 1);

test('a challenge is 32 random bytes in base64 (44 characters), unique, bound to its session', () => {
  const a = newChallenge('s', T);
  const b = newChallenge('s', T);
  assert.match(a.nonce, /^[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(a.nonce, 'base64').length, 32);
  assert.notEqual(a.nonce, b.nonce);
  assert.equal(a.sessionId, 's');
  assert.equal(a.expiresAt, T + 5 * 60_000);
});

test('take hands a challenge out once; a second take is ERR_PKI_CHALLENGE_USED', async () => {
  const store = new MemoryChallengeStore();
  const c = newChallenge('s', T);
  await store.put(c);
  assert.deepEqual(await store.take(c.nonce, 's', T + 1000), c);
  await assert.rejects(store.take(c.nonce, 's', T + 2000), {
    code: 'ERR_PKI_CHALLENGE_USED',
  });
});

test('concurrent takes of one challenge: exactly one succeeds', async () => {
  const store = new MemoryChallengeStore();
  const c = newChallenge('s', T);
  await store.put(c);
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => store.take(c.nonce, 's', T)));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
});

test('a challenge is expired at exactly its expiry instant: ERR_PKI_CHALLENGE_EXPIRED', async () => {
  const store = new MemoryChallengeStore();
  const c = newChallenge('s', T, 1000);
  await store.put(c);
  await assert.rejects(store.take(c.nonce, 's', T + 1000), {
    code: 'ERR_PKI_CHALLENGE_EXPIRED',
  });
});

test('a challenge from another session is refused and burnt for its own session too', async () => {
  const store = new MemoryChallengeStore();
  const c = newChallenge('victim', T);
  await store.put(c);
  await assert.rejects(store.take(c.nonce, 'attacker', T), {
    code: 'ERR_PKI_CHALLENGE_WRONG_SESSION',
  });
  await assert.rejects(store.take(c.nonce, 'victim', T), {
    code: 'ERR_PKI_CHALLENGE_USED',
  });
});

test('an unknown nonce is ERR_PKI_CHALLENGE_NOT_FOUND, and so is one swept a grace period after expiry', async () => {
  const store = new MemoryChallengeStore();
  await assert.rejects(store.take('nope', 's', T), {
    code: 'ERR_PKI_CHALLENGE_NOT_FOUND',
  });
  const c = newChallenge('s', T, 1000);
  await store.put(c);
  await assert.rejects(store.take(c.nonce, 's', T + 1000 + 5 * 60_000 + 1), {
    code: 'ERR_PKI_CHALLENGE_NOT_FOUND',
  });
  assert.equal(store.size, 0);
});

test('newChallenge refuses an empty session id (programmer error)', () => {
  assert.throws(() => newChallenge('', T), TypeError);
});

test('checkOrigin accepts only https://host[:port] exactly', () => {
  for (const ok of [
    'https://idp.example.jp',
    'https://idp.example.jp:8443',
    'https://xn--r8jz45g.jp',
    'https://127.0.0.1:8443',
  ])
    assert.equal(checkOrigin(ok), ok);
  for (const bad of [
    'https://idp.example.jp/',
    'https://idp.example.jp/path',
    'https://u:p@idp.example.jp',
    'http://idp.example.jp',
    'https://IDP.example.jp',
    'https://idp.example.jp:443',
    'https://idp.example.jp#x',
    'https://例え.jp',
    'idp.example.jp',
    '',
  ])
    assert.throws(() => checkOrigin(bad), { code: 'ERR_PKI_TOKEN_ORIGIN' }, bad);
});
