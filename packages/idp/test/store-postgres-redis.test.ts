/**
 * The storage contract at scale: PostgreSQL (records, long-lived models) + Redis (one-shot state, short-lived
 * models). Skips with a visible reason when the servers are unreachable, unless MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';
import { auditHash, canonicalJson } from '../src/store/lib/audit-hash.ts';
import { openStores } from '../src/store/open.ts';
import { openPostgresStores, POSTGRES_SCHEMA_VERSION, preparedStatements } from '../src/store/postgres.ts';
import { openRedisStores } from '../src/store/redis.ts';
import { freezeProxy } from './support/freeze-proxy.ts';
import { PG_URL, postgresRedisSkip, REDIS_URL } from './support/op-fixture.ts';
import { newCredential, runAdapterContract, runStoreContract } from './support/store-contract.ts';

const skip = await postgresRedisSkip();

const unique = () => `mg_test_${randomBytes(6).toString('hex')}`;
const admin = skip ? undefined : new pg.Pool({ connectionString: PG_URL, max: 2 });
const redisAdmin = skip ? undefined : new Redis(REDIS_URL);
after(async () => {
  for (const schema of createdSchemas) await dropSchema(schema);
  await admin?.end();
  redisAdmin?.disconnect();
});

async function dropSchema(schema: string): Promise<void> {
  await admin!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
/** `fn`'s answer once it stops failing, trying for up to 8 s. */
async function eventually<T>(fn: () => Promise<T>): Promise<T> {
  for (const until = Date.now() + 8000; ;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > until) throw e;
      await sleep(100);
    }
  }
}
async function dropRedisPrefix(prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redisAdmin!.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await redisAdmin!.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
/**
 * Runs SQL with the test schema on the search path, on one connection. `bypassTriggers` sets
 * session_replication_role = replica (superuser only), which skips the append-only trigger as an attacker with
 * database access could.
 */
async function rawSql(schema: string, sql: string, bypassTriggers = false): Promise<void> {
  const c = await admin!.connect();
  try {
    await c.query(`SET search_path TO "${schema}"`);
    if (bypassTriggers) await c.query('SET session_replication_role = replica');
    await c.query(sql);
  } finally {
    await c.query('RESET search_path; RESET session_replication_role').catch(() => {});
    c.release();
  }
}

// Creating a schema costs ~150 ms of DDL, so schemas are reused: emptied after each test and leased again.
const freeSchemas: string[] = [];
const createdSchemas: string[] = [];
function leaseSchema(): string {
  const reused = freeSchemas.pop();
  if (reused) return reused;
  const schema = unique();
  createdSchemas.push(schema);
  return schema;
}
async function releaseSchema(schema: string): Promise<void> {
  await rawSql(
    schema,
    'DELETE FROM oidc; DELETE FROM credential_links; DELETE FROM consents; DELETE FROM credentials; ' +
      'DELETE FROM people; DELETE FROM audit',
    true,
  );
  freeSchemas.push(schema);
}
// Redis expires on its own clock, so the scaled harness advances time by sleeping.
const realAdvance = (ms: number) => sleep(ms);

describe('PostgreSQL + Redis', { skip }, () => {
  runStoreContract('PostgreSQL + Redis', async () => {
    const schema = leaseSchema();
    const redisPrefix = `${unique()}:`;
    const config = {
      kind: 'postgres',
      url: PG_URL,
      schema,
      redisUrl: REDIS_URL,
      redisPrefix,
    } as const;
    const stores = await openStores(config);
    const peer = await openStores(config);
    return {
      stores,
      peer,
      adapter: stores.adapter,
      advance: realAdvance,
      raw: (sql) => rawSql(schema, sql),
      tamperAudit: (seq) => rawSql(schema, `UPDATE audit SET data = '{"i":99}' WHERE seq = ${Number(seq)}`, true),
      teardown: async () => {
        await Promise.all([stores.close(), peer.close()]);
        await Promise.all([releaseSchema(schema), dropRedisPrefix(redisPrefix)]);
      },
    };
  });

  runAdapterContract('PostgreSQL alone (every model)', async () => {
    const schema = leaseSchema();
    const stores = await openPostgresStores({
      url: PG_URL,
      schema,
      sweepIntervalMs: 0,
    });
    return {
      adapter: stores.adapter,
      advance: realAdvance,
      teardown: async () => {
        await stores.close();
        await releaseSchema(schema);
      },
    };
  });

  runAdapterContract('Redis alone (every model)', async () => {
    const prefix = `${unique()}:`;
    const stores = await openRedisStores({ url: REDIS_URL, prefix });
    return {
      adapter: stores.adapter,
      advance: realAdvance,
      teardown: async () => {
        await stores.close();
        await dropRedisPrefix(prefix);
      },
    };
  });

  describe('PostgreSQL + Redis: deployment', () => {
    it('8 nodes starting at once on a fresh schema migrate it exactly once (advisory lock)', async () => {
      const schema = unique();
      try {
        const nodes = await Promise.all(
          Array.from({ length: 8 }, () => openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0 })),
        );
        const { rows } = await admin!.query(`SELECT version FROM "${schema}".schema_version`);
        assert.deepEqual(rows, [{ version: POSTGRES_SCHEMA_VERSION }]);
        const reg = await nodes[3]!.records.createPersonWithCredential(newCredential());
        assert.equal((await nodes[5]!.records.findPerson(reg.person.id))?.id, reg.person.id);
        await Promise.all(nodes.map((n) => n.close()));
      } finally {
        await dropSchema(schema);
      }
    });

    it('two nodes appending to the audit at once both get every append in, and the chain holds', async () => {
      // A node that lost a race for the next seq read the head under the lock; before every INSERT took that lock
      // too, the other node's lock-free INSERTs could take the seq again and again (ERR_STORE_FAILED, a failed login).
      const schema = unique();
      const nodes = await Promise.all(
        [0, 1].map(() => openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0 })),
      );
      try {
        const until = Date.now() + 1500;
        const failures: string[] = [];
        let appended = 0;
        const appender = async (node: (typeof nodes)[number], i: number) => {
          while (Date.now() < until) {
            try {
              await node.records.appendAudit({ type: 'login.card', data: { node: i } });
              appended++;
            } catch (e) {
              failures.push(String((e as { code?: unknown }).code));
            }
          }
        };
        await Promise.all(nodes.flatMap((node, i) => Array.from({ length: 4 }, () => appender(node, i))));
        assert.deepEqual(failures, []);
        assert.ok(appended > 100, `${appended} appends`);
        assert.equal((await nodes[0]!.records.verifyAuditChain()).count, appended);
      } finally {
        await Promise.all(nodes.map((n) => n.close()));
        await dropSchema(schema);
      }
    });

    it('an append that finds its seq taken by a writer without the lock (an older node) follows that row', async () => {
      // audit_append numbers rows under the lock; a node of a version before it could insert without the lock. Its
      // uncommitted row holds the next seq: the append waits on it, is refused on the primary key once it commits,
      // and tries again from the new head.
      const schema = unique();
      const node = await openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0 });
      const old = await admin!.connect();
      try {
        const first = await node.records.appendAudit({ type: 'login', data: { i: 1 } });
        const row = { seq: 2, at: Date.now(), type: 'old-node', personId: null, clientId: null, data: { i: 2 } };
        await old.query('BEGIN');
        await old.query(
          `INSERT INTO "${schema}".audit (seq, at, type, person_id, client_id, data, prev_hash, hash)
           VALUES ($1, $2, $3, NULL, NULL, $4, $5, $6)`,
          [row.seq, row.at, row.type, canonicalJson(row.data), first.hash, auditHash(first.hash, row)],
        );
        const appending = node.records.appendAudit({ type: 'login', data: { i: 3 } });
        // The append is waiting on the older node's row (its transaction holds the seq) before that commits.
        for (let waited = 0; ; waited += 20) {
          const { rows } = await admin!.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%audit_append%'`,
          );
          if (rows[0].n > 0) break;
          assert.ok(waited < 5000, 'the append never waited on the row');
          await sleep(20);
        }
        await old.query('COMMIT');
        const third = await appending;
        assert.equal(third.seq, 3);
        assert.deepEqual(await node.records.verifyAuditChain(), { count: 3, head: third.hash });
      } finally {
        old.release();
        await node.close();
        await dropSchema(schema);
      }
    });

    it('an audit append commits with synchronous_commit on, even where the session or server has it off', async () => {
      const schema = unique();
      await (await openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0 })).close();
      const c = await admin!.connect();
      try {
        await c.query('BEGIN');
        await c.query('SET LOCAL synchronous_commit = off');
        await c.query(
          `SELECT * FROM "${schema}".audit_append(1, ARRAY[1]::bigint[], ARRAY['t'], ARRAY[NULL]::text[],
             ARRAY[NULL]::text[], ARRAY['{}'], ARRAY['{"at":1,"clientId":null,"data":{},"personId":null,"seq":'],
             ARRAY[',"type":"t"}'])`,
        );
        const { rows } = await c.query(`SELECT current_setting('synchronous_commit') AS v`);
        assert.equal(rows[0].v, 'on');
      } finally {
        await c.query('ROLLBACK');
        c.release();
        await dropSchema(schema);
      }
    });

    it('existing: a missing schema, or one at an older version, is ERR_STORE_MISSING and nothing is created', async () => {
      const schema = unique();
      try {
        await assert.rejects(openPostgresStores({ url: PG_URL, schema, existing: true }), {
          code: 'ERR_STORE_MISSING',
        });
        const { rows } = await admin!.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
        assert.deepEqual(rows, []);
        await (await openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0 })).close();
        await (await openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0, existing: true })).close();
        await admin!.query(`UPDATE "${schema}".schema_version SET version = version - 1`);
        await assert.rejects(openPostgresStores({ url: PG_URL, schema, existing: true }), {
          code: 'ERR_STORE_MISSING',
          message: new RegExp(`version ${POSTGRES_SCHEMA_VERSION - 1}, not ${POSTGRES_SCHEMA_VERSION}`),
        });
      } finally {
        await dropSchema(schema);
      }
    });

    it(
      'a Redis connection gone silent fails its command in time (ERR_STORE_UNAVAILABLE), then a new one serves',
      { timeout: 20_000 },
      async () => {
        const upstream = new URL(REDIS_URL);
        const proxy = await freezeProxy({ host: upstream.hostname, port: Number(upstream.port || 6379) });
        const prefix = `mg-test-${randomBytes(6).toString('hex')}:`;
        const redis = await openRedisStores({ url: `redis://127.0.0.1:${proxy.port}`, prefix, commandTimeoutMs: 300 });
        try {
          await redis.oneShot.put('k', 'v', 60_000);
          proxy.freeze();
          const t0 = performance.now();
          await assert.rejects(redis.oneShot.get('k'), { code: 'ERR_STORE_UNAVAILABLE' });
          assert.ok(performance.now() - t0 < 2000, 'refused within the command timeout, not held');
          assert.equal(await eventually(() => redis.oneShot.get('k')), 'v');
        } finally {
          await redis.close();
          await proxy.close();
          await dropRedisPrefix(prefix);
        }
      },
    );

    it(
      'a PostgreSQL connection gone silent fails its statement in time (ERR_STORE_UNAVAILABLE), then new ones serve',
      { timeout: 20_000 },
      async () => {
        const upstream = new URL(PG_URL);
        const proxy = await freezeProxy({ host: upstream.hostname, port: Number(upstream.port || 5432) });
        const schema = unique();
        const via = new URL(PG_URL);
        via.host = `127.0.0.1:${proxy.port}`;
        const node = await openPostgresStores({
          url: via.href,
          schema,
          sweepIntervalMs: 0,
          maxConnections: 2,
          queryTimeoutMs: 500,
        });
        try {
          const { person } = await node.records.createPersonWithCredential(newCredential());
          proxy.freeze();
          const t0 = performance.now();
          await assert.rejects(node.records.findPerson(person.id), { code: 'ERR_STORE_UNAVAILABLE' });
          assert.ok(performance.now() - t0 < 3000, 'refused within the query timeout, not held');
          assert.equal((await eventually(() => node.records.findPerson(person.id)))?.id, person.id);
        } finally {
          await node.close();
          await proxy.close();
          await dropSchema(schema);
        }
      },
    );

    it('a schema migrated by a newer version is refused with ERR_STORE_SCHEMA', async () => {
      const schema = unique();
      try {
        await (await openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0 })).close();
        await admin!.query(`UPDATE "${schema}".schema_version SET version = version + 1`);
        await assert.rejects(openPostgresStores({ url: PG_URL, schema }), {
          code: 'ERR_STORE_SCHEMA',
          found: POSTGRES_SCHEMA_VERSION + 1,
        });
      } finally {
        await dropSchema(schema);
      }
    });

    it('prepared statements survive a column added by a newer version while a node runs', async () => {
      const schema = unique();
      // One connection, so the second lookup runs on the connection that prepared the first.
      const stores = await openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0, maxConnections: 1 });
      try {
        const { credential } = await stores.records.createPersonWithCredential(newCredential());
        const grant = stores.adapter('Grant');
        await grant.upsert('g1', { accountId: 'a' }, 60);
        assert.deepEqual(await grant.find('g1'), { accountId: 'a' });
        assert.equal(
          (await stores.records.findCredentialByFingerprint(credential.fingerprint))?.personId,
          credential.personId,
        );
        await admin!.query(`ALTER TABLE "${schema}".credentials ADD COLUMN added_later TEXT`);
        await admin!.query(`ALTER TABLE "${schema}".oidc ADD COLUMN added_later TEXT`);
        assert.equal(
          (await stores.records.findCredentialByFingerprint(credential.fingerprint))?.personId,
          credential.personId,
        );
        assert.deepEqual(await grant.find('g1'), { accountId: 'a' });
      } finally {
        await stores.close();
        await dropSchema(schema);
      }
    });

    it('preparedStatements false sends every statement unnamed; a non-boolean is a TypeError', async () => {
      await assert.rejects(
        openPostgresStores({ url: PG_URL, schema: unique(), preparedStatements: 'no' as unknown as boolean }),
        { name: 'TypeError', message: /preparedStatements/ },
      );
      const schema = unique();
      const stores = await openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0, preparedStatements: false });
      try {
        await stores.adapter('Grant').upsert('g1', { accountId: 'a' }, 60);
        assert.deepEqual(await stores.adapter('Grant').find('g1'), { accountId: 'a' });
        const { credential } = await stores.records.createPersonWithCredential(newCredential());
        assert.equal(
          (await stores.records.findCredentialByFingerprint(credential.fingerprint))?.personId,
          credential.personId,
        );
      } finally {
        await stores.close();
        await dropSchema(schema);
      }
    });

    it('statements are prepared by text, bounded, and never for a `*` result', () => {
      const statement = preparedStatements();
      const a = statement('SELECT a FROM t WHERE id = $1', [1]);
      assert.ok(a.name);
      assert.equal(statement('SELECT a FROM t WHERE id = $1', [2]).name, a.name);
      assert.deepEqual(statement('SELECT a FROM t WHERE id = $1', [2]).values, [2]);
      assert.equal(statement('SELECT * FROM t WHERE id = $1', [1]).name, undefined);
      assert.equal(statement('INSERT INTO t VALUES ($1) RETURNING *', [1]).name, undefined);
      const names = new Set(Array.from({ length: 200 }, (_, i) => statement(`SELECT ${i}`, []).name));
      assert.equal(names.has(undefined), true);
      assert.equal(names.size, 128);
    });

    it('sweep deletes expired PostgreSQL adapter rows', async () => {
      const schema = unique();
      let t = Date.now();
      const stores = await openPostgresStores({
        url: PG_URL,
        schema,
        now: () => t,
        sweepIntervalMs: 0,
      });
      try {
        await stores.adapter('Grant').upsert('g1', {}, 1);
        await stores.adapter('Grant').upsert('g2', {}, 600);
        t += 2_000;
        assert.equal(await stores.sweep(), 1);
        assert.deepEqual(await stores.adapter('Grant').find('g2'), {});
      } finally {
        await stores.close();
        await dropSchema(schema);
      }
    });

    it('unreachable PostgreSQL or Redis is ERR_STORE_UNAVAILABLE at open', async () => {
      await assert.rejects(
        openPostgresStores({
          url: 'postgres://postgres@127.0.0.1:1/test',
          schema: unique(),
        }),
        {
          code: 'ERR_STORE_UNAVAILABLE',
        },
      );
      await assert.rejects(openRedisStores({ url: 'redis://127.0.0.1:1' }), {
        code: 'ERR_STORE_UNAVAILABLE',
      });
    });

    it('openStores rejects a malformed postgres config with TypeError before connecting', async () => {
      const base = {
        kind: 'postgres',
        url: PG_URL,
        schema: 'ok_schema',
        redisUrl: REDIS_URL,
      } as const;
      await assert.rejects(openStores({ ...base, schema: 'Bad-Name"; DROP' }), TypeError);
      await assert.rejects(openStores({ ...base, url: 'mysql://x' }), TypeError);
      await assert.rejects(openStores({ ...base, redisUrl: 'http://x' }), TypeError);
      await assert.rejects(openStores({ ...base, path: 'x' } as never), TypeError);
      const { rows } = await admin!.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'ok_schema'`);
      assert.equal(rows.length, 0);
    });

    it('the split adapter puts Grant in PostgreSQL, Session and Interaction in Redis', async () => {
      const schema = unique();
      const stores = await openStores({
        kind: 'postgres',
        url: PG_URL,
        schema,
        redisUrl: REDIS_URL,
        redisPrefix: `${schema}:`,
      });
      try {
        await stores.adapter('Grant').upsert('g', { accountId: 'a' }, 60);
        await stores.adapter('Session').upsert('s', { uid: 'u' }, 60);
        await stores.adapter('Interaction').upsert('i', {}, 60);
        const { rows } = await admin!.query(`SELECT model FROM "${schema}".oidc`);
        assert.deepEqual(rows, [{ model: 'Grant' }]);
        assert.equal(await redisAdmin!.exists(`${schema}:oidc:Session:s`), 1);
        assert.equal(await redisAdmin!.exists(`${schema}:oidc:Interaction:i`), 1);
        assert.deepEqual(await stores.adapter('Session').findByUid('u'), { uid: 'u' });
      } finally {
        await stores.close();
        await Promise.all([dropSchema(schema), dropRedisPrefix(`${schema}:`)]);
      }
    });

    it('Redis answers an interaction or code this node just wrote from memory, once; the destroy or consume that follows confirms (ERR_STORE_GONE, ERR_STORE_ALREADY_CONSUMED)', async () => {
      const prefix = `${unique()}:`;
      const node = await openRedisStores({ url: REDIS_URL, prefix });
      const off = await openRedisStores({ url: REDIS_URL, prefix, answerRecentWrites: [] });
      const key = (model: string, id: string) => `${prefix}oidc:${model}:${id}`;
      try {
        const interactions = node.adapter('Interaction');
        await interactions.upsert('i1', { uid: 'i1', returnTo: '/auth/i1' }, 60);
        // Deleted by another node: this node still answers from memory, once; the next read is Redis's.
        await redisAdmin!.del(key('Interaction', 'i1'));
        assert.deepEqual(await interactions.find('i1'), { uid: 'i1', returnTo: '/auth/i1' });
        assert.equal(await interactions.find('i1'), undefined);
        // The destroy that follows an answer from memory fails closed when the entry was gone.
        await assert.rejects(interactions.destroy('i1'), { code: 'ERR_STORE_GONE', model: 'Interaction' });
        // Still there: answered from memory, destroyed, confirmed.
        await interactions.upsert('i2', { uid: 'i2' }, 60);
        assert.deepEqual(await interactions.find('i2'), { uid: 'i2' });
        await interactions.destroy('i2');
        assert.equal(await redisAdmin!.exists(key('Interaction', 'i2')), 0);
        // A destroy of an entry read from Redis, or never read, is idempotent as node-oidc-provider expects.
        await interactions.destroy('i2');
        await interactions.destroy('never-written');
        // What this node wrote last is what it answers.
        await interactions.upsert('i3', { uid: 'i3', n: 1 }, 60);
        await interactions.upsert('i3', { uid: 'i3', n: 2 }, 60);
        assert.deepEqual(await interactions.find('i3'), { uid: 'i3', n: 2 });
        // A write that expires sooner than RECENT_MS is answered only within its own lifetime.
        await interactions.upsert('i4', { uid: 'i4' }, 1);
        await sleep(1100);
        assert.equal(await interactions.find('i4'), undefined);
        // Consumed: read from Redis, with its mark.
        await interactions.upsert('i5', { uid: 'i5' }, 60);
        await interactions.consume('i5');
        assert.equal(typeof (await interactions.find('i5'))?.consumed, 'number');
        // upsertExisting replaces only an entry that exists, and is answered from memory like an upsert.
        assert.equal(await interactions.upsertExisting!('i7', { uid: 'i7' }, 60), false);
        assert.equal(await redisAdmin!.exists(key('Interaction', 'i7')), 0);
        await interactions.upsert('i7', { uid: 'i7' }, 60);
        assert.equal(await interactions.upsertExisting!('i7', { uid: 'i7', result: {} }, 60), true);
        await redisAdmin!.del(key('Interaction', 'i7'));
        assert.deepEqual(await interactions.find('i7'), { uid: 'i7', result: {} });
        // A code answered from memory after another node redeemed it: the consume that follows refuses.
        const codes = node.adapter('AuthorizationCode');
        assert.equal(codes, node.adapter('AuthorizationCode'), 'one adapter (and memory) per model');
        await codes.upsert('c1', { grantId: 'g1' }, 60);
        await off.adapter('AuthorizationCode').consume('c1');
        assert.deepEqual(await codes.find('c1'), { grantId: 'g1' });
        await assert.rejects(codes.consume('c1'), { code: 'ERR_STORE_ALREADY_CONSUMED' });
        // Turned off, and models not listed: always Redis.
        await off.adapter('Interaction').upsert('i6', { uid: 'i6' }, 60);
        await redisAdmin!.del(key('Interaction', 'i6'));
        assert.equal(await off.adapter('Interaction').find('i6'), undefined);
        await node.adapter('Session').upsert('s1', { uid: 'u1' }, 60);
        await redisAdmin!.del(key('Session', 's1'));
        assert.equal(await node.adapter('Session').find('s1'), undefined);
        await assert.rejects(
          openRedisStores({ url: REDIS_URL, prefix, answerRecentWrites: 'Interaction' as never }),
          TypeError,
        );
      } finally {
        await Promise.all([node.close(), off.close()]);
        await dropRedisPrefix(prefix);
      }
    });

    it('the Redis change feed tells the other nodes of one prefix, not the publishing node, nor another prefix', async () => {
      const prefix = `${unique()}:`;
      const [a, b, other] = await Promise.all([
        openRedisStores({ url: REDIS_URL, prefix }),
        openRedisStores({ url: REDIS_URL, prefix }),
        openRedisStores({ url: REDIS_URL, prefix: `${unique()}:` }),
      ]);
      try {
        const heard: Record<string, string[]> = { a: [], b: [], other: [] };
        const unsubscribe = a.changes.subscribe((k) => heard['a']!.push(k));
        b.changes.subscribe((k) => heard['b']!.push(k));
        other.changes.subscribe((k) => heard['other']!.push(k));
        // Subscribing takes a round trip; keep publishing until the first notice arrives.
        for (let i = 0; i < 100 && heard['a']!.length === 0; i++) {
          await b.changes.publish('login:scanned:t0');
          await sleep(20);
        }
        assert.ok(heard['a']!.length > 0, 'node a heard node b');
        heard['a']!.length = 0;
        await a.changes.publish('login:outcome:t1');
        await b.changes.publish('login:failure:t2');
        // A marker after both, through the same connections: once a hears it, it heard everything before.
        await b.changes.publish('marker');
        for (let i = 0; i < 100 && !heard['a']!.includes('marker'); i++) await sleep(20);
        assert.deepEqual(heard['a'], ['login:failure:t2', 'marker']);
        assert.ok(heard['b']!.includes('login:outcome:t1') && !heard['b']!.includes('login:failure:t2'));
        assert.deepEqual(heard['other'], []);
        unsubscribe();
        await b.changes.publish('after');
        await b.changes.publish('marker2');
        for (let i = 0; i < 100 && !heard['b']!.includes('marker2'); i++) await sleep(20);
        assert.ok(!heard['a']!.includes('after'), 'unsubscribed');
        assert.throws(() => a.changes.publish(''), TypeError);
      } finally {
        await Promise.all([a.close(), b.close(), other.close()]);
        await dropRedisPrefix(prefix);
      }
    });

    it('Redis destroy deletes the entry and the index keys naming it, not one that names another entry', async () => {
      const prefix = `${unique()}:`;
      const stores = await openRedisStores({ url: REDIS_URL, prefix });
      try {
        const sessions = stores.adapter('Session');
        await sessions.upsert('s1', { uid: 'u1' }, 60);
        await stores.adapter('DeviceCode').upsert('d1', { userCode: 'WXYZ-0000' }, 60);
        assert.equal(await redisAdmin!.get(`${prefix}oidc-uid:Session:u1`), 's1');
        await sessions.destroy('s1');
        await stores.adapter('DeviceCode').destroy('d1');
        assert.deepEqual(await redisAdmin!.keys(`${prefix}*`), []);
        // A uid index moved on to a newer entry stays with it.
        await sessions.upsert('s2', { uid: 'u2' }, 60);
        await sessions.upsert('s3', { uid: 'u2' }, 60);
        await sessions.destroy('s2');
        assert.equal(await redisAdmin!.get(`${prefix}oidc-uid:Session:u2`), 's3');
        assert.deepEqual(await sessions.findByUid('u2'), { uid: 'u2' });
        // A payload that is not JSON (written by something else) is still deleted.
        await redisAdmin!.hset(`${prefix}oidc:Session:junk`, 'payload', '{not json');
        await sessions.destroy('junk');
        assert.equal(await redisAdmin!.exists(`${prefix}oidc:Session:junk`), 0);
      } finally {
        await stores.close();
        await dropRedisPrefix(prefix);
      }
    });
  });
});
