/**
 * The one storage contract every implementation passes: SQLite, and PostgreSQL + Redis. Each test gets a fresh,
 * empty store from `setup()` and tears it down after.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { NewCredential, OidcAdapterFactory, Stores } from '../../src/store/types.ts';

/** What the adapter contract needs. */
export interface AdapterHarness {
  readonly adapter: OidcAdapterFactory;
  /** Moves time forward by `ms`: a fake clock, or a real sleep where the backend expires on its own clock. */
  advance(ms: number): Promise<void>;
  teardown(): Promise<void>;
}

/** What the full store contract needs. */
export interface StoreHarness extends AdapterHarness {
  readonly stores: Stores;
  /** A second instance on the same data (another node, another connection); concurrency tests use both. */
  readonly peer: Stores;
  /** Runs raw SQL against the records database, with unqualified table names. */
  raw(sql: string): Promise<void>;
  /** Alters audit row `seq` behind the store's back (past the append-only trigger), as an attacker with DB access. */
  tamperAudit(seq: number): Promise<void>;
}

/** A short TTL (seconds; fractions are allowed) so expiry tests on real clocks stay fast. */
const TTL = 0.25;

export const fingerprint = (): string => createHash('sha256').update(randomBytes(32)).digest('hex');

let serialCounter = 0x1000;
export function newCredential(overrides: Partial<NewCredential> = {}): NewCredential {
  return {
    kind: 'jpki-auth',
    fingerprint: fingerprint(),
    issuer: 'CN=MynaGate Test JPKI User Authentication CA,O=MynaGate Test,C=JP',
    serial: (serialCounter++).toString(16) + randomBytes(4).toString('hex'),
    notAfter: new Date('2030-03-31T14:59:59Z'),
    ...overrides,
  };
}

/** The node-oidc-provider adapter contract. */
export function runAdapterContract(label: string, setup: () => Promise<AdapterHarness>): void {
  describe(`${label}: node-oidc-provider adapter`, () => {
    let h: AdapterHarness;
    beforeEach(async () => {
      h = await setup();
    });
    afterEach(async () => {
      await h.teardown();
    });

    // Long-lived and short-lived models, so a split deployment is exercised on both sides.
    const MODELS = ['Session', 'Grant', 'RefreshToken', 'AccessToken', 'AuthorizationCode', 'Interaction'];

    it('upsert then find returns the payload for every model; a second upsert replaces it', async () => {
      for (const model of MODELS) {
        const a = h.adapter(model);
        const payload = {
          jti: 'id-1',
          kind: model,
          nested: { list: [1, 'two', null] },
        };
        await a.upsert('id-1', payload, 60);
        assert.deepEqual(await a.find('id-1'), payload, model);
        await a.upsert('id-1', { jti: 'id-1', kind: model, v: 2 }, 60);
        assert.deepEqual(await a.find('id-1'), { jti: 'id-1', kind: model, v: 2 }, model);
      }
    });

    it('find of an unknown or non-string id resolves undefined', async () => {
      const a = h.adapter('AccessToken');
      assert.equal(await a.find('nope'), undefined);
      assert.equal(await a.find(undefined as unknown as string), undefined);
    });

    it('models are separate namespaces: the same id in two models does not collide', async () => {
      await h.adapter('AccessToken').upsert('same', { m: 'at' }, 60);
      await h.adapter('RefreshToken').upsert('same', { m: 'rt' }, 60);
      assert.deepEqual(await h.adapter('AccessToken').find('same'), {
        m: 'at',
      });
      assert.deepEqual(await h.adapter('RefreshToken').find('same'), {
        m: 'rt',
      });
    });

    it('consume marks the entry consumed (epoch seconds); a second consume rejects ERR_STORE_ALREADY_CONSUMED', async () => {
      for (const model of ['AuthorizationCode', 'RefreshToken']) {
        const a = h.adapter(model);
        await a.upsert('c1', { jti: 'c1' }, 60);
        const before = Math.floor(Date.now() / 1000) - 86_400 * 365;
        await a.consume('c1');
        const found = await a.find('c1');
        assert.equal(typeof found?.consumed, 'number', model);
        assert.ok((found!.consumed as number) > before, model);
        await assert.rejects(a.consume('c1'), {
          code: 'ERR_STORE_ALREADY_CONSUMED',
        });
        await assert.rejects(a.consume('missing'), {
          code: 'ERR_STORE_ALREADY_CONSUMED',
        });
      }
    });

    it('20 concurrent consumes of one authorization code: exactly one succeeds', async () => {
      for (const model of ['AuthorizationCode', 'RefreshToken']) {
        const a = h.adapter(model);
        await a.upsert('race', { jti: 'race' }, 60);
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => a.consume('race')));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, model);
        for (const r of results) if (r.status === 'rejected') assert.equal(r.reason.code, 'ERR_STORE_ALREADY_CONSUMED');
      }
    });

    it('upsert after consume drops the store marker (the provider carries consumed in the payload itself)', async () => {
      const a = h.adapter('RefreshToken');
      await a.upsert('r', { jti: 'r' }, 60);
      await a.consume('r');
      await a.upsert('r', { jti: 'r', rotated: true }, 60);
      assert.deepEqual(await a.find('r'), { jti: 'r', rotated: true });
    });

    it('destroy removes the entry and its uid and userCode lookups', async () => {
      const s = h.adapter('Session');
      await s.upsert('s1', { uid: 'u1', accountId: 'p' }, 60);
      await s.destroy('s1');
      assert.equal(await s.find('s1'), undefined);
      assert.equal(await s.findByUid('u1'), undefined);
      const d = h.adapter('DeviceCode');
      await d.upsert('d1', { userCode: 'ABCD-EFGH' }, 60);
      await d.destroy('d1');
      assert.equal(await d.findByUserCode('ABCD-EFGH'), undefined);
      await d.destroy('never-existed');
    });

    it('revokeByGrantId deletes every entry of that grant in that model and nothing else', async () => {
      for (const model of ['AccessToken', 'RefreshToken']) {
        const a = h.adapter(model);
        await a.upsert('g1-a', { grantId: 'g1' }, 60);
        await a.upsert('g1-b', { grantId: 'g1' }); // no expiry
        await a.upsert('g2-a', { grantId: 'g2' }, 60);
        await a.revokeByGrantId('g1');
        assert.equal(await a.find('g1-a'), undefined, model);
        assert.equal(await a.find('g1-b'), undefined, model);
        assert.deepEqual(await a.find('g2-a'), { grantId: 'g2' }, model);
        await a.revokeByGrantId('unknown-grant');
      }
    });

    it('findByUid finds a Session by its uid; after a re-upsert with a new uid the old uid finds nothing', async () => {
      const s = h.adapter('Session');
      await s.upsert('sess', { uid: 'uid-1', accountId: 'p1' }, 60);
      assert.deepEqual(await s.findByUid('uid-1'), {
        uid: 'uid-1',
        accountId: 'p1',
      });
      await s.upsert('sess', { uid: 'uid-2', accountId: 'p1' }, 60);
      assert.equal(await s.findByUid('uid-1'), undefined);
      assert.deepEqual(await s.findByUid('uid-2'), {
        uid: 'uid-2',
        accountId: 'p1',
      });
      assert.equal(await s.findByUid('unknown'), undefined);
    });

    it('findByUserCode finds a DeviceCode by its user code', async () => {
      const d = h.adapter('DeviceCode');
      await d.upsert('dc', { userCode: 'WXYZ-1234', grantId: 'g' }, 60);
      assert.deepEqual(await d.findByUserCode('WXYZ-1234'), {
        userCode: 'WXYZ-1234',
        grantId: 'g',
      });
      assert.equal(await d.findByUserCode('WXYZ-0000'), undefined);
    });

    it('entries past expiresIn are gone from find, findByUid and findByUserCode; no expiresIn means no expiry', async () => {
      for (const model of ['Session', 'Interaction']) {
        const a = h.adapter(model);
        await a.upsert('short', { uid: `su-${model}`, userCode: `UC-${model}` }, TTL);
        await a.upsert('forever', { v: 1 });
        assert.ok(await a.find('short'), model);
      }
      await h.advance(TTL * 1000 + 150);
      for (const model of ['Session', 'Interaction']) {
        const a = h.adapter(model);
        assert.equal(await a.find('short'), undefined, model);
        assert.equal(await a.findByUid(`su-${model}`), undefined, model);
        assert.equal(await a.findByUserCode(`UC-${model}`), undefined, model);
        assert.deepEqual(await a.find('forever'), { v: 1 }, model);
        await assert.rejects(a.consume('short'), {
          code: 'ERR_STORE_ALREADY_CONSUMED',
        });
      }
    });

    it('a non-numeric expiresIn or an empty id is a TypeError', async () => {
      const a = h.adapter('AccessToken');
      await assert.rejects(async () => a.upsert('x', {}, '60' as unknown as number), TypeError);
      await assert.rejects(async () => a.upsert('', {}, 60), TypeError);
    });
  });
}

/** The full contract: adapter, one-shot store and records. */
export function runStoreContract(label: string, setup: () => Promise<StoreHarness>): void {
  runAdapterContract(label, async () => {
    const h = await setup();
    return {
      adapter: h.stores.adapter,
      advance: h.advance,
      teardown: h.teardown,
    };
  });

  describe(`${label}: one-shot store`, () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await setup();
    });
    afterEach(async () => {
      await h.teardown();
    });

    it('put then get returns strings and objects unchanged, and get does not delete', async () => {
      const o = h.stores.oneShot;
      await o.put('str', 'hello: world', 60);
      await o.put('obj', { challenge: 'abc', n: 1, list: [true] }, 60);
      assert.equal(await o.get('str'), 'hello: world');
      assert.deepEqual(await o.get('obj'), {
        challenge: 'abc',
        n: 1,
        list: [true],
      });
      assert.equal(await o.get('str'), 'hello: world');
      assert.equal(await o.get('missing'), undefined);
    });

    it('getMany reads several keys in order: values as put, counters as numbers, undefined where none is live', async () => {
      const o = h.stores.oneShot;
      await o.put('a', 'text', 60);
      await o.put('b', { n: 1 }, 60);
      assert.equal(await o.incr('c', 60), 1);
      await o.put('gone', 'soon', TTL);
      await h.advance(TTL * 1000 + 150);
      assert.deepEqual(await h.peer.oneShot.getMany(['b', 'missing', 'a', 'gone', 'c']), [
        { n: 1 },
        undefined,
        'text',
        undefined,
        1,
      ]);
      assert.equal(await o.get('a'), 'text', 'not deleted');
      await assert.rejects(async () => o.getMany([]), TypeError);
      await assert.rejects(async () => o.getMany(['a', 'a']), TypeError);
      await assert.rejects(async () => o.getMany(['a', '']), TypeError);
      await assert.rejects(async () => o.getMany(Array.from({ length: 17 }, (_, i) => `k${i}`)), TypeError);
    });

    it('putDeleting writes one key and deletes others in one step: a reader on another node never sees between', async () => {
      const o = h.stores.oneShot;
      const ended = ['login:1', 'challenge:1', 'failure:1'];
      await o.put('challenge:1', 'n1', 60);
      await o.put('failure:1', { error: 'x' }, 60);
      await o.put('done:1', 'an earlier one', 60);
      await o.putDeleting('done:1', TTL, 'redirect', [...ended, 'never-there']);
      assert.deepEqual(await o.getMany(['done:1', ...ended]), ['redirect', undefined, undefined, undefined]);
      await h.advance(TTL * 1000 + 150);
      assert.equal(await o.get('done:1'), undefined, 'written for its own lifetime');
      // 30 rounds of reads from the peer, started a few turns of the event loop apart around the write, and one
      // after it: each finds all the old keys, or the new one alone.
      const keys = ['done:2', 'login:2', 'challenge:2'];
      const turns = (n: number) =>
        new Promise<void>((resolve) => (n === 0 ? resolve() : setImmediate(() => resolve(turns(n - 1)))));
      for (let round = 0; round < 30; round++) {
        await o.delete('done:2');
        await o.put('login:2', `t${round}`, 60);
        await o.put('challenge:2', `n${round}`, 60);
        const reads = Array.from({ length: 6 }, (_, i) => turns(i).then(() => h.peer.oneShot.getMany(keys)));
        const [, ...found] = await Promise.all([o.putDeleting('done:2', 60, `r${round}`, keys.slice(1)), ...reads]);
        found.push(await h.peer.oneShot.getMany(keys));
        for (const [done, login, challenge] of found) {
          const before = done === undefined && login === `t${round}` && challenge === `n${round}`;
          const after = done === `r${round}` && login === undefined && challenge === undefined;
          assert.ok(before || after, `round ${round}: read ${JSON.stringify([done, login, challenge])}`);
        }
      }
      await assert.rejects(async () => o.putDeleting('k', 60, 'v', []), TypeError);
      await assert.rejects(async () => o.putDeleting('k', 60, 'v', ['k']), TypeError);
      await assert.rejects(async () => o.putDeleting('k', 0, 'v', ['j']), TypeError);
      await assert.rejects(async () => o.putDeleting('', 60, 'v', ['j']), TypeError);
    });

    it('take returns the value once and deletes it', async () => {
      const o = h.stores.oneShot;
      await o.put('qr:1', { secret: 's' }, 60);
      assert.deepEqual(await o.take('qr:1'), { secret: 's' });
      assert.equal(await o.take('qr:1'), undefined);
      assert.equal(await o.get('qr:1'), undefined);
    });

    it('200 concurrent takers of one key (across two nodes): exactly one gets the value', async () => {
      for (let round = 0; round < 3; round++) {
        const key = `login-result:${round}`;
        await h.stores.oneShot.put(key, { personId: `p${round}` }, 60);
        const takers = Array.from({ length: 200 }, (_, i) => (i % 2 ? h.peer : h.stores).oneShot.take(key));
        const got = (await Promise.all(takers)).filter((v) => v !== undefined);
        assert.deepEqual(got, [{ personId: `p${round}` }]);
      }
    });

    it('putIfAbsent detects a replay within the TTL; of 100 concurrent claims exactly one wins', async () => {
      const o = h.stores.oneShot;
      assert.equal(await o.putIfAbsent('jti:a', 60), true);
      assert.equal(await o.putIfAbsent('jti:a', 60), false);
      assert.equal(await o.get('jti:a'), '1');
      assert.equal(await o.putIfAbsent('jti:b', 60, { by: 'session-1' }), true);
      assert.deepEqual(await o.get('jti:b'), { by: 'session-1' });
      const claims = Array.from({ length: 100 }, (_, i) =>
        (i % 2 ? h.peer : h.stores).oneShot.putIfAbsent('jti:c', 60),
      );
      assert.equal((await Promise.all(claims)).filter(Boolean).length, 1);
    });

    it('takeMarking takes once and marks only what was there; of 50 concurrent takers exactly one wins', async () => {
      const o = h.stores.oneShot;
      await o.put('c:1', { nonce: 'n1' }, 60);
      assert.deepEqual(await o.takeMarking('c:1', 'used:1', 60), { nonce: 'n1' });
      assert.equal(await o.get('c:1'), undefined);
      assert.equal(await o.get('used:1'), '1');
      assert.equal(await o.takeMarking('c:1', 'used:1', 60), undefined);
      assert.equal(await o.takeMarking('c:never', 'used:never', 60), undefined);
      assert.equal(await o.get('used:never'), undefined, 'nothing taken, nothing marked');
      await o.put('c:2', 'v', 60);
      const takers = Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? h.peer : h.stores).oneShot.takeMarking('c:2', 'used:2', 60),
      );
      assert.deepEqual(
        (await Promise.all(takers)).filter((v) => v !== undefined),
        ['v'],
      );
      assert.equal(await o.get('used:2'), '1');
      await assert.rejects(async () => o.takeMarking('c:3', '', 60), TypeError);
      await assert.rejects(async () => o.takeMarking('c:3', 'used:3', 0), TypeError);
    });

    it('deleteIf deletes only the value named; of 50 concurrent callers naming it (two nodes) exactly one does', async () => {
      const o = h.stores.oneShot;
      await o.put('challenge:1', 'nonce-1', 60);
      assert.equal(await o.deleteIf('challenge:1', 'nonce-2'), false, 'another value');
      assert.equal(await o.deleteIf('challenge:1', 'nonce-'), false, 'a prefix of it');
      assert.equal(await o.get('challenge:1'), 'nonce-1', 'left as it was');
      assert.equal(await o.deleteIf('challenge:1', 'nonce-1'), true);
      assert.equal(await o.get('challenge:1'), undefined);
      assert.equal(await o.deleteIf('challenge:1', 'nonce-1'), false, 'deleted already');
      assert.equal(await o.deleteIf('challenge:never', 'nonce-1'), false);
      // An object is never a string's match, nor a counter.
      await o.put('obj', { nonce: 'n' }, 60);
      assert.equal(await o.deleteIf('obj', '{"nonce":"n"}'), false);
      assert.equal(await o.incr('count', 60), 1);
      assert.equal(await o.deleteIf('count', '1'), false);
      await o.put('challenge:2', 'n2', 60);
      const callers = Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? h.peer : h.stores).oneShot.deleteIf('challenge:2', i % 3 ? 'n2' : 'n3'),
      );
      assert.equal((await Promise.all(callers)).filter(Boolean).length, 1);
      assert.equal(await o.get('challenge:2'), undefined);
      await assert.rejects(async () => o.deleteIf('', 'v'), TypeError);
      await assert.rejects(async () => o.deleteIf('k', { v: 1 } as unknown as string), TypeError);
    });

    it('renew writes over nothing or the same value, never over another; of 50 concurrent holders (two nodes) one wins', async () => {
      const o = h.stores.oneShot;
      assert.equal(await o.renew('claimed:1', 60, 'post-a'), true, 'absent: written');
      assert.equal(await o.renew('claimed:1', 60, 'post-b'), false, 'another value stays');
      assert.equal(await o.get('claimed:1'), 'post-a');
      assert.equal(await o.renew('claimed:1', 60, 'post-a'), true, 'the same value: renewed');
      assert.equal(await o.get('claimed:1'), 'post-a');
      // A counter or an object is never a string's match.
      assert.equal(await o.incr('count', 60), 1);
      assert.equal(await o.renew('count', 60, '1'), false);
      await o.put('obj', { holder: 'h' }, 60);
      assert.equal(await o.renew('obj', 60, '{"holder":"h"}'), false);
      const holders = Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? h.peer : h.stores).oneShot.renew('claimed:2', 60, `post-${i}`),
      );
      const won = (await Promise.all(holders)).flatMap((ok, i) => (ok ? [`post-${i}`] : []));
      assert.equal(won.length, 1);
      assert.equal(await o.get('claimed:2'), won[0]);
      await assert.rejects(async () => o.renew('', 60, 'v'), TypeError);
      await assert.rejects(async () => o.renew('k', 0, 'v'), TypeError);
      await assert.rejects(async () => o.renew('k', 60, { v: 1 } as unknown as string), TypeError);
    });

    it('renew extends a value for the new lifetime, and writes over one that expired', async () => {
      const o = h.stores.oneShot;
      await o.put('claimed:t', 'post-a', TTL);
      assert.equal(await o.renew('claimed:t', TTL * 4, 'post-a'), true);
      await h.advance(TTL * 1000 + 150);
      assert.equal(await o.get('claimed:t'), 'post-a', 'kept past its first lifetime');
      await o.put('claimed:u', 'post-a', TTL);
      await h.advance(TTL * 1000 + 150);
      assert.equal(await o.renew('claimed:u', 60, 'post-b'), true, 'an expired value is not there to keep');
      assert.equal(await o.get('claimed:u'), 'post-b');
    });

    it('putUnless writes and tells what it replaced, unless the stop key is live; one after another across 50 callers', async () => {
      const o = h.stores.oneShot;
      assert.deepEqual(await o.putUnless('challenge:1', 60, 'n1', 'claimed:1'), { written: true, previous: undefined });
      assert.deepEqual(await o.putUnless('challenge:1', 60, 'n2', 'claimed:1'), { written: true, previous: 'n1' });
      assert.equal(await o.get('challenge:1'), 'n2');
      await o.put('claimed:1', 'post', 60);
      assert.deepEqual(await o.putUnless('challenge:1', 60, 'n3', 'claimed:1'), {
        written: false,
        previous: undefined,
      });
      assert.equal(await o.get('challenge:1'), 'n2', 'left as it was');
      // 50 writers on two nodes: one after another, each told the value it replaced, so the values told and the one
      // kept are the values written, each once (no two writers read the same value).
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (i % 2 ? h.peer : h.stores).oneShot.putUnless('challenge:2', 60, `n${i}`, 'claimed:2'),
        ),
      );
      assert.ok(results.every((r) => r.written));
      assert.equal(results.filter((r) => r.previous === undefined).length, 1, 'one writer found none');
      const told = results.flatMap((r) => (r.previous === undefined ? [] : [String(r.previous)]));
      assert.deepEqual([...told, String(await o.get('challenge:2'))].sort(), results.map((_, i) => `n${i}`).sort());
      await assert.rejects(async () => o.putUnless('', 60, 'v', 'u'), TypeError);
      await assert.rejects(async () => o.putUnless('k', 60, 'v', ''), TypeError);
      await assert.rejects(async () => o.putUnless('k', 0, 'v', 'u'), TypeError);
    });

    it('putUnless writes again once the stop key expired', async () => {
      const o = h.stores.oneShot;
      await o.put('claimed:e', 'post', TTL);
      assert.equal((await o.putUnless('challenge:e', 60, 'n1', 'claimed:e')).written, false);
      await h.advance(TTL * 1000 + 150);
      assert.deepEqual(await o.putUnless('challenge:e', 60, 'n1', 'claimed:e'), { written: true, previous: undefined });
    });

    it('incr counts within the window, also under 50 concurrent increments', async () => {
      const o = h.stores.oneShot;
      assert.equal(await o.incr('rate:ip', 60), 1);
      assert.equal(await o.incr('rate:ip', 60), 2);
      assert.equal(await o.get('rate:ip'), 2);
      const all = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? h.peer : h.stores).oneShot.incr('rate:c', 60)),
      );
      assert.deepEqual(
        [...all].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    });

    it('delete reports whether a value was removed', async () => {
      const o = h.stores.oneShot;
      await o.put('k', 'v', 60);
      assert.equal(await o.delete('k'), true);
      assert.equal(await o.delete('k'), false);
    });

    it('values, replay markers and counters expire after their TTL', async () => {
      const o = h.stores.oneShot;
      await o.put('v', 'x', TTL);
      await o.put('t', 'x', TTL);
      assert.equal(await o.putIfAbsent('jti', TTL), true);
      assert.equal(await o.incr('rate', TTL), 1);
      assert.equal(await o.incr('rate', TTL), 2);
      await o.put('c', 'n', TTL);
      await h.advance(TTL * 1000 + 150);
      assert.equal(await o.deleteIf('c', 'n'), false, 'an expired value is not there to delete');
      assert.equal(await o.get('v'), undefined);
      assert.equal(await o.take('t'), undefined);
      assert.equal(await o.putIfAbsent('jti', 60), true, 'an expired replay marker can be claimed again');
      assert.equal(await o.incr('rate', 60), 1, 'a new window starts at 1');
    });

    it('an empty key, a non-positive TTL or a non-string non-object value is a TypeError', async () => {
      const o = h.stores.oneShot;
      await assert.rejects(async () => o.put('', 'v', 60), TypeError);
      await assert.rejects(async () => o.put('k', 'v', 0), TypeError);
      await assert.rejects(async () => o.put('k', 'v', Number.NaN), TypeError);
      await assert.rejects(async () => o.put('k', 42 as unknown as string, 60), TypeError);
      await assert.rejects(async () => o.putIfAbsent('k', -1), TypeError);
      await assert.rejects(async () => o.incr('', 60), TypeError);
    });
  });

  describe(`${label}: records`, () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await setup();
    });
    afterEach(async () => {
      await h.teardown();
    });

    it('createPersonWithCredential creates a person; the same card again returns that person with created: false', async () => {
      const r = h.stores.records;
      const cred = newCredential();
      const first = await r.createPersonWithCredential(cred);
      assert.equal(first.created, true);
      assert.equal(first.credential.personId, first.person.id);
      assert.ok(first.person.createdAt instanceof Date);
      const again = await r.createPersonWithCredential(cred);
      assert.equal(again.created, false);
      assert.equal(again.person.id, first.person.id);
      assert.deepEqual(await r.findPerson(first.person.id), first.person);
      const other = await r.createPersonWithCredential(newCredential());
      assert.notEqual(other.person.id, first.person.id);
    });

    it('one card = one person: 50 concurrent createPersonWithCredential calls (two nodes) yield exactly one person', async () => {
      const cred = newCredential();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? h.peer : h.stores).records.createPersonWithCredential(cred)),
      );
      assert.equal(new Set(results.map((x) => x.person.id)).size, 1);
      assert.equal(results.filter((x) => x.created).length, 1);
      assert.equal((await h.stores.records.listCredentials(results[0]!.person.id)).length, 1);
    });

    it('findCredentialByFingerprint returns kind, issuer, serial and notAfter; the raw certificate only if given', async () => {
      const r = h.stores.records;
      const withCert = newCredential({
        certificate: new Uint8Array([0x30, 0x82, 0x01, 0x00, 0xff]),
      });
      const without = newCredential();
      await r.createPersonWithCredential(withCert);
      await r.createPersonWithCredential(without);
      const a = await r.findCredentialByFingerprint(withCert.fingerprint);
      assert.deepEqual(
        {
          kind: a?.kind,
          issuer: a?.issuer,
          serial: a?.serial,
          notAfter: a?.notAfter,
          lastUsedAt: a?.lastUsedAt,
        },
        {
          kind: 'jpki-auth',
          issuer: withCert.issuer,
          serial: withCert.serial,
          notAfter: withCert.notAfter,
          lastUsedAt: null,
        },
      );
      assert.deepEqual(a?.certificate, withCert.certificate);
      assert.equal((await r.findCredentialByFingerprint(without.fingerprint))?.certificate, null);
      assert.equal(await r.findCredentialByFingerprint(fingerprint()), undefined);
    });

    it('findCredentialBySerial finds a credential by issuer and serial, and nothing under another issuer', async () => {
      const r = h.stores.records;
      const c = newCredential();
      const { person } = await r.createPersonWithCredential(c);
      const found = await r.findCredentialBySerial(c.issuer, c.serial);
      assert.equal(found?.fingerprint, c.fingerprint);
      assert.equal(found?.personId, person.id);
      assert.equal(await r.findCredentialBySerial(`${c.issuer},O=Other`, c.serial), undefined);
      assert.equal(await r.findCredentialBySerial(c.issuer, 'ffffffffffffffff01'), undefined);
    });

    it('addCredential adds a second card to a person; idempotent; a card of another person is ERR_STORE_CONFLICT', async () => {
      const r = h.stores.records;
      const a = await r.createPersonWithCredential(newCredential());
      const b = await r.createPersonWithCredential(newCredential());
      const second = newCredential();
      const added = await r.addCredential(a.person.id, second);
      assert.equal(added.personId, a.person.id);
      assert.equal((await r.addCredential(a.person.id, second)).fingerprint, second.fingerprint);
      assert.equal((await r.listCredentials(a.person.id)).length, 2);
      await assert.rejects(r.addCredential(b.person.id, second), {
        code: 'ERR_STORE_CONFLICT',
      });
      await assert.rejects(r.addCredential('no-such-person', newCredential()), {
        code: 'ERR_STORE_NOT_FOUND',
      });
    });

    it('a different fingerprint with an already registered issuer + serial is ERR_STORE_CONFLICT', async () => {
      const r = h.stores.records;
      const a = await r.createPersonWithCredential(newCredential());
      const clash = newCredential({
        issuer: a.credential.issuer,
        serial: a.credential.serial,
      });
      await assert.rejects(r.createPersonWithCredential(clash), {
        code: 'ERR_STORE_CONFLICT',
      });
    });

    it('linkCredential keeps the same person across a certificate renewal; unknown old card is ERR_STORE_NOT_FOUND', async () => {
      const r = h.stores.records;
      const old = await r.createPersonWithCredential(newCredential());
      const renewed = newCredential({
        notAfter: new Date('2035-03-31T14:59:59Z'),
      });
      const linked = await r.linkCredential(old.credential.fingerprint, renewed);
      assert.equal(linked.personId, old.person.id);
      assert.equal((await r.createPersonWithCredential(renewed)).person.id, old.person.id);
      assert.equal((await r.linkCredential(old.credential.fingerprint, renewed)).personId, old.person.id);
      await assert.rejects(r.linkCredential(fingerprint(), newCredential()), {
        code: 'ERR_STORE_NOT_FOUND',
      });
      const stranger = await r.createPersonWithCredential(newCredential());
      await assert.rejects(
        r.linkCredential(old.credential.fingerprint, newCredential({ fingerprint: stranger.credential.fingerprint })),
        {
          code: 'ERR_STORE_CONFLICT',
        },
      );
    });

    it('touchCredential sets lastUsedAt; an unknown card is ERR_STORE_NOT_FOUND', async () => {
      const r = h.stores.records;
      const { credential } = await r.createPersonWithCredential(newCredential());
      await r.touchCredential(credential.fingerprint);
      assert.ok((await r.findCredentialByFingerprint(credential.fingerprint))?.lastUsedAt instanceof Date);
      await assert.rejects(r.touchCredential(fingerprint()), {
        code: 'ERR_STORE_NOT_FOUND',
      });
    });

    it("relabelCredentialIssuer moves the credentials under a CA's name to its fingerprint, and only those", async () => {
      const r = h.stores.records;
      const name = `CN=Relabel ${randomBytes(4).toString('hex')},O=JPKI,C=JP`;
      const fp = fingerprint();
      const old = await r.createPersonWithCredential(newCredential({ issuer: name }));
      const other = await r.createPersonWithCredential(newCredential());
      assert.equal(await r.relabelCredentialIssuer(name, fp), 1);
      const moved = (await r.findCredentialByFingerprint(old.credential.fingerprint))!;
      assert.equal(moved.issuer, fp);
      assert.equal((await r.findCredentialBySerial(fp, moved.serial))?.fingerprint, old.credential.fingerprint);
      assert.equal(await r.findCredentialBySerial(name, moved.serial), undefined);
      assert.equal(
        (await r.findCredentialByFingerprint(other.credential.fingerprint))?.issuer,
        other.credential.issuer,
      );
      assert.equal(await r.relabelCredentialIssuer(name, fp), 0, 'idempotent');
      await assert.rejects(async () => r.relabelCredentialIssuer(name, 'not a fingerprint'), TypeError);
      await assert.rejects(async () => r.relabelCredentialIssuer('', fp), TypeError);
    });

    it("appendAudit with touchCredential sets that credential's lastUsedAt to the row's time, in the same commit", async () => {
      const r = h.stores.records;
      const { credential, person } = await r.createPersonWithCredential(newCredential());
      const other = await r.createPersonWithCredential(newCredential());
      const rows = await Promise.all([
        r.appendAudit({ type: 'login.card', personId: person.id }, { touchCredential: credential.fingerprint }),
        r.appendAudit({ type: 'other' }),
      ]);
      const used = await r.findCredentialByFingerprint(credential.fingerprint);
      assert.equal(used?.lastUsedAt?.getTime(), rows[0].at.getTime());
      assert.equal((await r.findCredentialByFingerprint(other.credential.fingerprint))?.lastUsedAt, null);
      // A fingerprint without a credential is no error (the row is what matters); a malformed one is a TypeError.
      await r.appendAudit({ type: 'login.card' }, { touchCredential: fingerprint() });
      await assert.rejects(async () => r.appendAudit({ type: 'x' }, { touchCredential: 'ABC' }), TypeError);
      assert.equal((await r.verifyAuditChain()).count, 3);
    });

    it('a malformed fingerprint, serial or kind is a TypeError', async () => {
      const r = h.stores.records;
      await assert.rejects(async () => r.findCredentialByFingerprint('ABC'), TypeError);
      await assert.rejects(
        async () => r.createPersonWithCredential(newCredential({ fingerprint: 'F'.repeat(64) })),
        TypeError,
      );
      await assert.rejects(async () => r.createPersonWithCredential(newCredential({ serial: '0x12' })), TypeError);
      await assert.rejects(
        async () => r.createPersonWithCredential(newCredential({ kind: 'jpki-sign' as 'jpki-auth' })),
        TypeError,
      );
    });

    it('consents: record, list, withdraw per client; withdrawn ones stay listed with withdrawnAt', async () => {
      const r = h.stores.records;
      const { person } = await r.createPersonWithCredential(newCredential());
      const c1 = await r.recordConsent({
        personId: person.id,
        clientId: 'shop',
        scopes: ['openid'],
        claims: ['age_over_20'],
        textShown: 'Share that you are over 20 with Shop',
      });
      await r.recordConsent({
        personId: person.id,
        clientId: 'bank',
        scopes: ['openid'],
        claims: ['verified_claims'],
        textShown: 'Bank',
      });
      assert.equal(c1.withdrawnAt, null);
      assert.deepEqual(c1.claims, ['age_over_20']);
      assert.equal(await r.withdrawConsent(person.id, 'shop'), 1);
      assert.equal(await r.withdrawConsent(person.id, 'shop'), 0);
      const list = await r.listConsents(person.id);
      assert.deepEqual(
        list.map((c) => [c.clientId, c.withdrawnAt instanceof Date]),
        [
          ['shop', true],
          ['bank', false],
        ],
      );
      assert.equal(list[0]!.textShown, 'Share that you are over 20 with Shop');
      await assert.rejects(
        r.recordConsent({
          personId: 'nobody',
          clientId: 'x',
          scopes: [],
          claims: [],
          textShown: '',
        }),
        { code: 'ERR_STORE_NOT_FOUND' },
      );
    });

    it('audit rows chain (prevHash = previous hash), verifyAuditChain passes, listAudit returns one person only', async () => {
      const r = h.stores.records;
      assert.equal(await r.auditHead(), undefined);
      const e1 = await r.appendAudit({
        type: 'login',
        personId: 'p1',
        clientId: 'shop',
        data: { b: 1, a: [2, { z: 0, y: 1 }] },
      });
      const e2 = await r.appendAudit({ type: 'login', personId: 'p2' });
      const e3 = await r.appendAudit({
        type: 'consent.withdrawn',
        personId: 'p1',
        clientId: 'shop',
      });
      assert.equal(e1.prevHash, '0'.repeat(64));
      assert.equal(e2.prevHash, e1.hash);
      assert.equal(e3.prevHash, e2.hash);
      assert.deepEqual([e1.seq, e2.seq, e3.seq], [1, 2, 3]);
      assert.deepEqual(await r.verifyAuditChain(), { count: 3, head: e3.hash });
      const mine = await r.listAudit('p1');
      assert.deepEqual(
        mine.map((e) => e.seq),
        [1, 3],
      );
      assert.deepEqual(mine[0]!.data, { b: 1, a: [2, { z: 0, y: 1 }] });
      assert.deepEqual(await r.verifyAuditChain(), { count: 3, head: e3.hash });
      assert.equal(await r.auditHashAt(2), e2.hash);
      assert.equal(await r.auditHashAt(4), undefined);
      assert.deepEqual(await r.auditHead(), { seq: 3, hash: e3.hash });
      await assert.rejects(async () => r.auditHashAt(0), TypeError);
    });

    it('audit rows with any text (Japanese, astral, U+2028, controls, quotes, escapes) chain and verify', async () => {
      // PostgreSQL hashes its rows itself (audit_append) from the canonical text this node sends: the bytes must be
      // the ones auditHash recomputes, whatever the text.
      const r = h.stores.records;
      // (NUL only inside data: PostgreSQL text columns cannot hold it.)
      const odd = 'A"\\\u001f\u007f\u2028\u2029\ud83c\udf38 試験　太郎 \u{1f600} </script> \ufeff';
      const rows = [
        {
          type: `t:${odd}`,
          personId: odd,
          clientId: `c${odd}`,
          data: { z: `${odd}\u0000`, a: { y: [odd, -1.5, 1e21] } },
        },
        { type: 'ok', personId: null, clientId: null, data: { [odd]: true, n: Number.MAX_SAFE_INTEGER } },
        { type: odd, data: {} },
      ];
      const records = [];
      for (const row of rows) records.push(await r.appendAudit(row));
      assert.deepEqual(await r.verifyAuditChain(), { count: 3, head: records[2]!.hash });
      assert.deepEqual(await r.listAudit(odd), [records[0]]);
      assert.deepEqual(records[0]!.data, rows[0]!.data);
      assert.equal(records[2]!.type, odd);
    });

    it('30 concurrent appendAudit calls across two nodes form one unbroken chain', async () => {
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 ? h.peer : h.stores).records.appendAudit({
            type: 'login',
            data: { i },
          }),
        ),
      );
      assert.equal((await h.stores.records.verifyAuditChain()).count, 30);
    });

    it('a node appending after another node did (its remembered head is stale) still extends the one chain', async () => {
      const order = ['a', 'b', 'b', 'b', 'a', 'b', 'a', 'a'];
      const records = [];
      for (const [i, who] of order.entries()) {
        const node = who === 'a' ? h.stores : h.peer;
        records.push(await node.records.appendAudit({ type: 'login', data: { i } }));
      }
      assert.deepEqual(
        records.map((r) => r.seq),
        order.map((_, i) => i + 1),
      );
      for (let i = 1; i < records.length; i++) assert.equal(records[i]!.prevHash, records[i - 1]!.hash);
      assert.deepEqual(await h.stores.records.verifyAuditChain(), { count: order.length, head: records.at(-1)!.hash });
    });

    it('40 concurrent appends on one node each resolve with their own row, in one unbroken chain', async () => {
      const records = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          h.stores.records.appendAudit({ type: `t${i}`, personId: `p${i}`, data: { i } }),
        ),
      );
      for (const [i, r] of records.entries()) {
        assert.deepEqual([r.type, r.personId, r.data], [`t${i}`, `p${i}`, { i }]);
      }
      assert.deepEqual(
        records.map((r) => r.seq).sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      const mine = await h.stores.records.listAudit('p7');
      assert.deepEqual(mine, [records[7]]);
      assert.equal((await h.stores.records.verifyAuditChain()).count, 40);
    });

    it('an audit row altered with raw SQL is detected: ERR_STORE_AUDIT_CHAIN at its seq', async () => {
      const r = h.stores.records;
      for (let i = 0; i < 4; i++) await r.appendAudit({ type: 'login', personId: 'p', data: { i } });
      await r.verifyAuditChain();
      await h.tamperAudit(2);
      await assert.rejects(r.verifyAuditChain(), {
        code: 'ERR_STORE_AUDIT_CHAIN',
        seq: 2,
      });
    });

    it('the database itself refuses UPDATE and DELETE on the audit table (append-only trigger)', async () => {
      await h.stores.records.appendAudit({ type: 'login' });
      await assert.rejects(h.raw("UPDATE audit SET type = 'x' WHERE seq = 1"), /append-only/);
      await assert.rejects(h.raw('DELETE FROM audit'), /append-only/);
      await h.stores.records.verifyAuditChain();
    });

    it('audit data that is not JSON (NaN, bigint) is a TypeError', async () => {
      const r = h.stores.records;
      await assert.rejects(async () => r.appendAudit({ type: 'x', data: { n: Number.NaN } }), TypeError);
      await assert.rejects(async () => r.appendAudit({ type: 'x', data: { n: 1n } }), TypeError);
    });

    it('after close, every store rejects with ERR_STORE_CLOSED; close is idempotent', async () => {
      await h.stores.close();
      await h.stores.close();
      await assert.rejects(h.stores.records.findPerson('p'), {
        code: 'ERR_STORE_CLOSED',
      });
      await assert.rejects(h.stores.oneShot.take('k'), {
        code: 'ERR_STORE_CLOSED',
      });
      await assert.rejects(h.stores.adapter('Session').find('s'), {
        code: 'ERR_STORE_CLOSED',
      });
      await assert.rejects(h.stores.adapter('AccessToken').find('s'), {
        code: 'ERR_STORE_CLOSED',
      });
    });
  });
}
