/** The relying party's session after each completion: what it keeps, and what a login of another person drops. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompletionResult } from '../src/client.ts';
import { withResult, type MynaGateSession } from '../src/session.ts';

const login = (sub: string, extra: object = {}) =>
  ({
    kind: 'login',
    sub,
    acr: 'urn:mynagate:acr:card-auth',
    amr: ['hwk', 'pin', 'sc'],
    authTime: 1,
    ...extra,
  }) as unknown as CompletionResult;
const identity = { claims: { name: '試験　花子' } } as unknown;
const empty: MynaGateSession = { expiresAt: Date.now() + 60_000, pending: {} };

/** Alice's session: her identity proofing, then her age check. */
const aliceProven = () =>
  withResult(
    withResult(empty, login('alice', { kind: 'identity', identity })),
    login('alice', { kind: 'age', age: { over: 20, satisfied: true } }),
  );

describe('withResult', () => {
  it("keeps the person's identity and age answers across their own later logins", () => {
    const s = withResult(aliceProven(), login('alice', { kind: 'step-up' }));
    assert.equal(s.login?.sub, 'alice');
    assert.deepEqual(s.identity, identity);
    assert.deepEqual(s.age, { '20': true });
  });

  it("drops another person's identity and age answers when someone else's card logs in", () => {
    let s = withResult(aliceProven(), login('bob', { kind: 'step-up' }));
    assert.equal(s.login?.sub, 'bob');
    assert.equal(s.identity, undefined);
    assert.equal(s.age, undefined);
    s = withResult(s, login('bob', { kind: 'age', age: { over: 18, satisfied: false } }));
    assert.deepEqual(s.age, { '18': false }, "alice's 20+ answer is not bob's");
  });
});
