/**
 * The relying party's session after each completion: what it keeps (the pairwise `sub`, `acr`, `amr`, `auth_time`,
 * age answers), what it never keeps (the ID token, its claim set, verified identity claims), what a login of another
 * person drops, which logins in flight a login keeps, and the memory store's compare-and-set.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompletionResult } from '../src/client.ts';
import {
  memorySessionStore,
  minimised,
  signSessionId,
  verifySessionId,
  withResult,
  type MynaGateSession,
} from '../src/session.ts';

/** What an eKYC released: none of it may reach a session store. */
const NAME = '試験　花子';
const ADDRESS = '東京都千代田区千代田1-1';
const SERIAL = '0a1b2c3d4e5f';
const ID_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';

const login = (sub: string, extra: object = {}) =>
  ({
    kind: 'login',
    sub,
    acr: 'urn:mynagate:acr:card-auth',
    amr: ['hwk', 'pin', 'sc'],
    authTime: 1,
    idTokenClaims: { iss: 'https://id.example', sub, aud: 'rp', nonce: 'n0nce', birthdate: '1990-01-02' },
    idToken: ID_TOKEN,
    ...extra,
  }) as unknown as CompletionResult;
const identity = {
  trustFramework: 'jp_aml',
  evidence: { type: 'electronic_signature', signature_type: 'jpki', issuer: 'CN=Sign CA', serial_number: SERIAL },
  verifiedAt: '2025-04-01T00:00Z',
  claims: { name: NAME, address: { formatted: ADDRESS } },
};
const proofing = (sub: string) =>
  login(sub, {
    kind: 'identity',
    acr: 'urn:mynagate:acr:card-sign',
    amr: ['hwk', 'pwd', 'sc'],
    identity,
    idTokenClaims: { sub, verified_claims: { claims: identity.claims } },
  });
const empty: MynaGateSession = { expiresAt: Date.now() + 60_000, pending: {} };

/** Alice's session: her identity proofing, then her age check. */
const aliceProven = () =>
  withResult(withResult(empty, proofing('alice')), login('alice', { kind: 'age', age: { over: 20, satisfied: true } }));

/** The session as a store holds it. */
const stored = (s: MynaGateSession) => JSON.stringify(s);

describe('withResult', () => {
  it('keeps only kind, sub, acr, amr and auth_time of a login', () => {
    const s = withResult(empty, login('alice'));
    assert.deepEqual(s.login, {
      kind: 'login',
      sub: 'alice',
      acr: 'urn:mynagate:acr:card-auth',
      amr: ['hwk', 'pin', 'sc'],
      authTime: 1,
    });
    assert.deepEqual(Object.keys(s).sort(), ['expiresAt', 'login', 'pending']);
  });

  it('stores neither the ID token, its claims, nor the verified name, address or certificate serial of an eKYC', () => {
    const s = aliceProven();
    const json = stored(s);
    for (const [what, value] of [
      ['the raw ID token', ID_TOKEN],
      ['the claim set', 'idTokenClaims'],
      ['a claim of the ID token', 'n0nce'],
      ['a birth date', '1990-01-02'],
      ['the verified name', NAME],
      ['the verified address', ADDRESS],
      ['the signing certificate serial', SERIAL],
      ['verified_claims', 'verified_claims'],
    ]) {
      assert.equal(json.includes(value!), false, `the session holds ${what}`);
    }
    assert.equal(s.login?.kind, 'age');
    assert.deepEqual(s.age, { '20': true });
  });

  it("keeps the person's age answers across their own later logins", () => {
    const s = withResult(aliceProven(), login('alice', { kind: 'step-up' }));
    assert.equal(s.login?.sub, 'alice');
    assert.equal(s.login?.kind, 'step-up');
    assert.deepEqual(s.age, { '20': true });
  });

  it("drops another person's login and age answers when someone else's card logs in", () => {
    let s = withResult(aliceProven(), login('bob', { kind: 'step-up' }));
    assert.equal(s.login?.sub, 'bob');
    assert.equal(s.age, undefined);
    s = withResult(s, login('bob', { kind: 'age', age: { over: 18, satisfied: false } }));
    assert.deepEqual(s.age, { '18': false }, "alice's 20+ answer is not bob's");
  });
});

describe('withResult: logins in flight', () => {
  const inFlight = (state: string, sub?: string) => ({
    transaction: { v: 1, kind: 'login', state } as never,
    returnTo: '/',
    ...(sub === undefined ? {} : { sub }),
  });

  it("keeps the person's own (a step-up of theirs in another tab), drops those that name nobody or someone else", () => {
    const before: MynaGateSession = {
      ...empty,
      pending: { anyone: inFlight('anyone'), hers: inFlight('hers', 'alice'), his: inFlight('his', 'bob') },
    };
    assert.deepEqual(Object.keys(withResult(before, login('alice')).pending), ['hers']);
  });
});

describe('memorySessionStore.compareAndSet', () => {
  const now = 1_000_000;
  const session = (n: number): MynaGateSession => ({ expiresAt: now + 60_000 + n, pending: {} });

  it('replaces or deletes only what get returned; never creates; an expired session is gone', async () => {
    const store = memorySessionStore({ now: () => now });
    store.set('a', session(1));
    const read = (await store.get('a'))!;
    assert.equal(await store.compareAndSet!('a', session(0), session(2)), false, 'another value');
    assert.deepEqual(await store.get('a'), session(1));
    assert.equal(await store.compareAndSet!('a', read, session(2)), true);
    assert.deepEqual(await store.get('a'), session(2));
    assert.equal(await store.compareAndSet!('a', read, session(3)), false, 'changed since read');
    assert.equal(await store.compareAndSet!('a', session(2), undefined), true, 'deleted');
    assert.equal(await store.get('a'), undefined);
    assert.equal(await store.compareAndSet!('a', session(2), session(4)), false, 'never recreated');
    assert.equal(await store.get('a'), undefined);
    store.set('old', { ...session(1), expiresAt: now });
    assert.equal(await store.compareAndSet!('old', { ...session(1), expiresAt: now }, session(5)), false, 'expired');
  });
});

describe('minimised: a session saved by an earlier version', () => {
  it('loses the whole result and the identity it kept', () => {
    const old = {
      ...empty,
      login: { ...login('alice'), kind: 'identity' },
      identity,
      age: { '20': true },
    } as unknown as MynaGateSession;
    const s = minimised(old);
    assert.ok(s, 'it is rewritten');
    assert.equal(stored(s).includes(ID_TOKEN), false);
    assert.equal(stored(s).includes(NAME), false);
    assert.deepEqual(Object.keys(s).sort(), ['age', 'expiresAt', 'login', 'pending']);
    assert.deepEqual(Object.keys(s.login!).sort(), ['acr', 'amr', 'authTime', 'kind', 'sub']);
  });

  it('leaves a session of this version alone', () => {
    assert.equal(minimised(aliceProven()), undefined);
    assert.equal(minimised(empty), undefined);
  });
});

describe('signSessionId: a value is valid under its own cookie name only', () => {
  const key = new Uint8Array(32).fill(7);
  const id = 'A'.repeat(43);

  it('a value signed for __Host-mynagate verifies under that name, not as an unbound (earlier) one or another name', () => {
    const value = signSessionId(key, id, '__Host-mynagate');
    assert.equal(verifySessionId(key, value, '__Host-mynagate'), id);
    assert.equal(verifySessionId(key, value, null), undefined);
    assert.equal(verifySessionId(key, value, 'mynagate'), undefined);
  });

  it('an unbound value (as earlier versions signed) verifies only as one', () => {
    const value = signSessionId(key, id, null);
    assert.equal(verifySessionId(key, value, null), id);
    assert.equal(verifySessionId(key, value, '__Host-mynagate'), undefined);
  });

  it('refuses an id that newSessionId cannot make, however signed (a name-bound input passed off as an id)', () => {
    const bound = signSessionId(key, id, '__Host-mynagate');
    const mac = bound.slice(bound.lastIndexOf('.') + 1);
    assert.equal(verifySessionId(key, `__Host-mynagate\0${id}.${mac}`, null), undefined);
    assert.equal(verifySessionId(key, signSessionId(key, 'a b', null), null), undefined);
  });
});
