/**
 * What a PostgreSQL failure says, against a real PostgreSQL: the codes stay `ERR_STORE_FAILED` and
 * `ERR_STORE_UNAVAILABLE`, but the message names the SQLSTATE and PostgreSQL's own message (a database that does not
 * exist, a relation dropped under a running store), or what the socket said (a closed port); the driver's error is
 * the `cause`. A message never carries a row's value: not the `detail` of a unique violation, not the value a data
 * exception quotes.
 *
 * Needs PostgreSQL (MYNAGATE_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test); skips with the reason
 * otherwise, unless MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { describePostgresError, openPostgresStores, wrapPostgresError } from '../src/store/postgres.ts';
import { PG_URL, reachable } from './support/op-fixture.ts';

const skip =
  !(await reachable(PG_URL)) && process.env['MYNAGATE_REQUIRE_SYSTEM'] !== '1'
    ? `not reachable: PostgreSQL at ${new URL(PG_URL).host}`
    : false;
const admin = skip ? undefined : new pg.Pool({ connectionString: PG_URL, max: 1 });
after(() => admin?.end());

const unique = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;

/** The error `p` rejects with. */
async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; cause?: unknown }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  assert.fail('expected a rejection');
}

describe('PostgreSQL errors name their cause', { skip }, () => {
  it('a database that does not exist: ERR_STORE_FAILED with SQLSTATE 3D000 and the database name', async () => {
    const database = unique('mg_no_such_db');
    const url = new URL(PG_URL);
    url.pathname = `/${database}`;
    const e = await rejection(openPostgresStores({ url: url.href, schema: unique('mg_test') }));
    assert.equal(e.code, 'ERR_STORE_FAILED');
    assert.match(e.message, /SQLSTATE 3D000/);
    assert.ok(e.message.includes(`database "${database}" does not exist`), e.message);
    assert.equal((e.cause as { code?: string }).code, '3D000', 'the driver error is the cause');
  });

  it('a closed port: ERR_STORE_UNAVAILABLE saying the connection was refused, with the address', async () => {
    const e = await rejection(openPostgresStores({ url: 'postgres://postgres@127.0.0.1:1/test', schema: 'mg_x' }));
    assert.equal(e.code, 'ERR_STORE_UNAVAILABLE');
    assert.match(e.message, /connection refused/);
    assert.match(e.message, /ECONNREFUSED 127\.0\.0\.1:1\b/);
    assert.equal((e.cause as { code?: string }).code, 'ECONNREFUSED');
  });

  it('a relation dropped under a running store: ERR_STORE_FAILED with SQLSTATE 42P01 and the relation', async () => {
    const schema = unique('mg_test');
    const stores = await openPostgresStores({ url: PG_URL, schema, sweepIntervalMs: 0 });
    try {
      await admin!.query(`DROP SCHEMA "${schema}" CASCADE`);
      const e = await rejection(stores.adapter('Session').find('some-id'));
      assert.equal(e.code, 'ERR_STORE_FAILED');
      assert.match(e.message, /SQLSTATE 42P01: relation "[^"]+" does not exist/);
    } finally {
      await stores.close();
      await admin!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it("never quotes a row's value: a unique violation names its constraint, a data exception only its code", async () => {
    const secret = `secret-${randomBytes(6).toString('hex')}`;
    const c = await admin!.connect();
    try {
      await c.query('CREATE TEMP TABLE t (a TEXT CONSTRAINT t_a_key PRIMARY KEY, n INTEGER)');
      await c.query('INSERT INTO t VALUES ($1, 1)', [secret]);
      const duplicate = await rejection(c.query('INSERT INTO t VALUES ($1, 2)', [secret]));
      assert.match(String((duplicate as { detail?: string }).detail), new RegExp(secret), 'pg put it in detail');
      const failed = wrapPostgresError(duplicate);
      assert.equal((failed as { code?: string }).code, 'ERR_STORE_FAILED');
      assert.match(failed.message, /SQLSTATE 23505: duplicate key value violates unique constraint "t_a_key"/);
      assert.equal(failed.message.includes(secret), false, failed.message);

      const malformed = await rejection(c.query(`INSERT INTO t VALUES ('x', '${secret}')`));
      assert.ok(malformed.message.includes(secret), 'pg quoted the value in its message');
      const wrapped = wrapPostgresError(malformed);
      assert.match(wrapped.message, /SQLSTATE 22P02/);
      assert.equal(wrapped.message.includes(secret), false, wrapped.message);
    } finally {
      c.release(true);
    }
  });
});

describe('describePostgresError without PostgreSQL', () => {
  it('says what a socket said on a name that resolved to several addresses (an AggregateError)', () => {
    const one = Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' });
    const e = Object.assign(new AggregateError([one], ''), { code: 'ECONNREFUSED' });
    assert.equal(describePostgresError(e), 'connection refused: connect ECONNREFUSED ::1:5432');
  });

  it("gives the driver's own plain message, but only the name of another error class", () => {
    assert.equal(
      describePostgresError(new Error('Connection terminated unexpectedly')),
      'Connection terminated unexpectedly',
    );
    assert.equal(describePostgresError(new SyntaxError('Unexpected token, "secret" is not valid JSON')), 'SyntaxError');
  });
});
