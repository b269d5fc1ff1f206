/**
 * The durable store at scale: node-oidc-provider's long-lived models and the records (people, credentials, links,
 * consents, audit) in PostgreSQL, shared by N stateless nodes. One-shot state lives in Redis (redis.ts).
 *
 * - Every table lives in one configurable schema; names are quoted, never interpolated from user input.
 * - Migrations run in one transaction under an advisory lock, so N nodes starting at once migrate exactly once.
 * - One card = one person: `INSERT … ON CONFLICT (fingerprint) DO NOTHING`, and a loser re-reads the winner's row.
 * - The audit chain is appended in one statement that numbers and hashes the rows under a transaction-scoped
 *   advisory lock (lib/postgres-audit.ts), so appends of several nodes never race.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { MynaGateError } from '@mynagate/errors';
import {
  StoreAlreadyConsumedError,
  StoreClosedError,
  StoreConflictError,
  StoreFailedError,
  StoreMissingError,
  StoreNotFoundError,
  StoreSchemaError,
  StoreUnavailableError,
} from './errors.ts';
import { canonicalJson, chainVerifier } from './lib/audit-hash.ts';
import { newId } from './lib/ids.ts';
import { postgresAuditAppender } from './lib/postgres-audit.ts';
import { epochSeconds, toAudit, toConsent, toCredential, toPerson } from './lib/rows.ts';
import {
  assertAuditEvent,
  touchOption,
  assertFingerprint,
  assertIssuerName,
  assertId,
  assertKey,
  assertNewConsent,
  assertNewCredential,
  clockOption,
  expiresInToMs,
} from './lib/validate.ts';
import type {
  Adapter,
  AdapterPayload,
  Credential,
  NewCredential,
  OidcAdapterFactory,
  RecordStore,
  Registration,
} from './types.ts';

/** Options of {@link openPostgresStores}. */
export interface PostgresStoreOptions {
  /** `postgres://user@host:port/database`. */
  readonly url: string;
  /** The schema holding every table, created if missing: `[a-z_][a-z0-9_]*`, at most 63 characters. */
  readonly schema: string;
  /** Epoch milliseconds; defaults to `Date.now`. */
  readonly now?: () => number;
  /** How often expired adapter rows are deleted; 0 disables the timer. Default 60 000. */
  readonly sweepIntervalMs?: number;
  /** Pool size. Default 10. */
  readonly maxConnections?: number;
  /**
   * Named prepared statements (default `true`): PostgreSQL parses and plans each statement once per connection.
   * Set `false` behind a pooler that hands one session's statements to several server connections (PgBouncer in
   * transaction mode before 1.21, or without `max_prepared_statements`).
   */
  readonly preparedStatements?: boolean;
  /**
   * Open only a schema a provider of this version made: a missing schema, or one at an older version, is
   * `ERR_STORE_MISSING` instead of being created or migrated (for commands that only read, like the audit's).
   */
  readonly existing?: boolean;
  /**
   * How long a statement may wait for its answer (ms); then it fails `ERR_STORE_UNAVAILABLE` and its connection is
   * dropped from the pool. A connection gone silent (a failover, a lost NAT entry) otherwise held its statement, and
   * after ten of them the whole pool, until the kernel gave up on the socket (~15 min), or forever. Migrations have
   * a bound of their own (6 h). Default 10 000.
   */
  readonly queryTimeoutMs?: number;
}

/** The PostgreSQL stores: an adapter factory, the records, `sweep()` and `close()`. */
export interface PostgresStores {
  readonly adapter: OidcAdapterFactory;
  readonly records: RecordStore;
  /** Deletes expired adapter rows now; resolves how many. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** How long one migration statement may take (another node's migration waited for included). */
const MIGRATION_TIMEOUT_MS = 6 * 3_600_000;

/** Schema migrations for schema `s` (quoted); entry i migrates version i to i + 1. Append only. */
const MIGRATIONS: readonly ((s: string) => string)[] = [
  (s) => `
    CREATE TABLE ${s}.oidc (model TEXT NOT NULL, id TEXT NOT NULL, payload JSONB NOT NULL, grant_id TEXT,
      user_code TEXT, uid TEXT, expires_at BIGINT, consumed_at BIGINT, PRIMARY KEY (model, id));
    CREATE INDEX ON ${s}.oidc (model, grant_id) WHERE grant_id IS NOT NULL;
    CREATE INDEX ON ${s}.oidc (model, user_code) WHERE user_code IS NOT NULL;
    CREATE INDEX ON ${s}.oidc (model, uid) WHERE uid IS NOT NULL;
    CREATE INDEX ON ${s}.oidc (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE ${s}.people (id TEXT PRIMARY KEY, created_at BIGINT NOT NULL);
    CREATE TABLE ${s}.credentials (fingerprint TEXT PRIMARY KEY, person_id TEXT NOT NULL REFERENCES ${s}.people (id),
      kind TEXT NOT NULL, issuer TEXT NOT NULL, serial TEXT NOT NULL, not_after BIGINT NOT NULL,
      created_at BIGINT NOT NULL, last_used_at BIGINT, certificate BYTEA, UNIQUE (issuer, serial));
    CREATE INDEX ON ${s}.credentials (person_id);
    CREATE TABLE ${s}.credential_links (old_fingerprint TEXT NOT NULL,
      new_fingerprint TEXT NOT NULL REFERENCES ${s}.credentials (fingerprint),
      person_id TEXT NOT NULL REFERENCES ${s}.people (id), linked_at BIGINT NOT NULL,
      PRIMARY KEY (old_fingerprint, new_fingerprint));
    CREATE TABLE ${s}.consents (id TEXT PRIMARY KEY, ord BIGINT GENERATED ALWAYS AS IDENTITY,
      person_id TEXT NOT NULL REFERENCES ${s}.people (id), client_id TEXT NOT NULL, scopes TEXT NOT NULL,
      claims TEXT NOT NULL, text_shown TEXT NOT NULL, granted_at BIGINT NOT NULL, withdrawn_at BIGINT);
    CREATE INDEX ON ${s}.consents (person_id, client_id);
    CREATE TABLE ${s}.audit (seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, type TEXT NOT NULL, person_id TEXT,
      client_id TEXT, data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    CREATE INDEX ON ${s}.audit (person_id) WHERE person_id IS NOT NULL;
    CREATE FUNCTION ${s}.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$;
    CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON ${s}.audit
      FOR EACH ROW EXECUTE FUNCTION ${s}.audit_append_only();
    CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON ${s}.audit
      FOR EACH STATEMENT EXECUTE FUNCTION ${s}.audit_append_only();`,
  // Session moved to Redis with the other ephemeral models (ephemeral-models.ts): rows left here are dropped.
  (s) => `DELETE FROM ${s}.oidc WHERE model = 'Session';`,
  // Appends number and hash their rows under the audit lock, in one statement (lib/postgres-audit.ts). Each
  // statement of a plpgsql function reads with a snapshot of its own, so the head it reads after taking the lock
  // includes every row committed before; the hash is audit-hash.ts's: SHA-256(prev ‖ before ‖ seq ‖ after). The
  // transaction commits with synchronous_commit on whatever the server's setting, so an appended row is on disk
  // before the caller is answered (and before an anchor can name it).
  (s) => `
    CREATE FUNCTION ${s}.audit_append(lock_key BIGINT, ats BIGINT[], types TEXT[], person_ids TEXT[],
        client_ids TEXT[], datas TEXT[], befores TEXT[], afters TEXT[])
      RETURNS TABLE (row_seq BIGINT, row_prev_hash TEXT, row_hash TEXT) LANGUAGE plpgsql AS $$
    DECLARE
      head_seq BIGINT;
      head_hash TEXT;
    BEGIN
      PERFORM set_config('synchronous_commit', 'on', true);
      PERFORM pg_advisory_xact_lock(lock_key);
      SELECT a.seq, a.hash INTO head_seq, head_hash FROM ${s}.audit a ORDER BY a.seq DESC LIMIT 1;
      IF NOT FOUND THEN
        head_seq := 0;
        head_hash := repeat('0', 64);
      END IF;
      FOR i IN 1 .. cardinality(ats) LOOP
        row_seq := head_seq + 1;
        row_prev_hash := head_hash;
        row_hash := encode(sha256(decode(head_hash, 'hex') || convert_to(befores[i] || row_seq::text || afters[i],
          'UTF8')), 'hex');
        INSERT INTO ${s}.audit (seq, at, type, person_id, client_id, data, prev_hash, hash)
          VALUES (row_seq, ats[i], types[i], person_ids[i], client_ids[i], datas[i], row_prev_hash, row_hash);
        head_seq := row_seq;
        head_hash := row_hash;
        RETURN NEXT;
      END LOOP;
    END $$;`,
];

/** The schema version this code writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

type Row = Record<string, unknown>;
type Queryable = Pick<pg.PoolClient, 'query'>;

/** Thrown inside a registration transaction when a unique index lost a race; the caller re-reads the winner. */
const LOST_RACE = Symbol('lost race');

/**
 * Connects, migrates the schema (under an advisory lock) and returns the adapter factory and the records.
 *
 * @example
 * ```ts
 * const pgStores = await openPostgresStores({ url: 'postgres://postgres@db/mynagate', schema: 'mynagate' });
 * ```
 * @throws `ERR_STORE_UNAVAILABLE` if PostgreSQL cannot be reached, `ERR_STORE_FAILED` if it refuses (a database that
 * does not exist, a role without rights), each naming the SQLSTATE and PostgreSQL's message; `ERR_STORE_SCHEMA` if a
 * newer version migrated the schema; TypeError on bad options.
 */
export async function openPostgresStores(options: PostgresStoreOptions): Promise<PostgresStores> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (typeof options.url !== 'string' || !/^postgres(ql)?:\/\//.test(options.url)) {
    throw new TypeError('url must be a postgres:// URL');
  }
  if (typeof options.schema !== 'string' || !SCHEMA_NAME.test(options.schema)) {
    throw new TypeError('schema must match [a-z_][a-z0-9_]{0,62}');
  }
  const now = clockOption(options.now);
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  const max = options.maxConnections ?? 10;
  if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs < 0) {
    throw new TypeError('sweepIntervalMs must be a non-negative integer');
  }
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('maxConnections must be a positive integer');
  const prepare = options.preparedStatements ?? true;
  if (typeof prepare !== 'boolean') throw new TypeError('preparedStatements must be a boolean');

  const s = `"${options.schema}"`;
  // A number (sha256 prefix of the schema and purpose), inlined in SQL: never input.
  const auditLock = lockKey(options.schema, 'audit');
  const queryTimeout = options.queryTimeoutMs ?? 10_000;
  if (!Number.isSafeInteger(queryTimeout) || queryTimeout < 1)
    throw new TypeError('queryTimeoutMs must be a positive integer');
  const pool = new pg.Pool({
    connectionString: options.url,
    max,
    connectionTimeoutMillis: 5_000,
    query_timeout: queryTimeout,
    // TCP keep-alive probes after 10 s idle, so a server that vanished is found even with no statement waiting.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle client dying (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => {});
  try {
    await migrate(pool, options.schema, options.existing === true);
  } catch (e) {
    await pool.end().catch(() => {});
    throw wrapPostgresError(e);
  }

  let closed = false;
  const run = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) throw new StoreClosedError();
    try {
      return await fn();
    } catch (e) {
      throw wrapPostgresError(e);
    }
  };
  const statement = prepare ? preparedStatements() : unnamedStatement;
  const q = async (text: string, values: unknown[] = [], c: Queryable = pool): Promise<Row[]> =>
    (await c.query(statement(text, values))).rows as Row[];
  /** Runs `fn` in a transaction. */
  const tx = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const c = await pool.connect();
    let broken = false;
    try {
      await c.query('BEGIN');
      const result = await fn(c);
      await c.query('COMMIT');
      return result;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => (broken = true));
      throw e;
    } finally {
      c.release(broken);
    }
  };

  const sweep = () =>
    run(async () => (await pool.query(`DELETE FROM ${s}.oidc WHERE expires_at <= $1`, [now()])).rowCount ?? 0);
  const timer = sweepIntervalMs > 0 ? setInterval(() => closed || sweep().catch(() => {}), sweepIntervalMs) : undefined;
  timer?.unref();

  const adapter = (model: string): Adapter => {
    assertKey(model, 'model');
    const live = '(expires_at IS NULL OR expires_at > $3)';
    const findBy = (column: 'id' | 'uid' | 'user_code', value: string) =>
      typeof value !== 'string'
        ? Promise.resolve(undefined)
        : run(async () => {
            const [row] = await q(
              `SELECT payload, consumed_at FROM ${s}.oidc WHERE model = $1 AND ${column} = $2 AND ${live} LIMIT 1`,
              [model, value, now()],
            );
            if (!row) return undefined;
            const payload = row.payload as AdapterPayload;
            if (row.consumed_at != null) payload.consumed = Number(row.consumed_at);
            return payload;
          });
    return {
      upsert: (id, payload, expiresIn) => {
        assertKey(id, 'id');
        const ttl = expiresInToMs(expiresIn);
        const text = JSON.stringify(payload);
        return run(async () => {
          await q(
            `INSERT INTO ${s}.oidc (model, id, payload, grant_id, user_code, uid, expires_at)
             VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)
             ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
               user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at, consumed_at = NULL`,
            [
              model,
              id,
              text,
              strOrNull(payload.grantId),
              strOrNull(payload.userCode),
              strOrNull(payload.uid),
              ttl === null ? null : now() + ttl,
            ],
          );
        });
      },
      find: (id) => findBy('id', id),
      findByUid: (uid) => findBy('uid', uid),
      findByUserCode: (userCode) => findBy('user_code', userCode),
      // The row lock serialises concurrent consumers; the loser re-evaluates `consumed_at IS NULL` and matches nothing.
      consume: (id) =>
        run(async () => {
          const t = now();
          const r = await pool.query(
            statement(
              `UPDATE ${s}.oidc SET consumed_at = $4 WHERE model = $1 AND id = $2 AND consumed_at IS NULL AND ${live}`,
              [model, id, t, epochSeconds(t)],
            ),
          );
          if (r.rowCount !== 1) throw new StoreAlreadyConsumedError(model);
        }),
      destroy: (id) =>
        run(async () => void (await q(`DELETE FROM ${s}.oidc WHERE model = $1 AND id = $2`, [model, id]))),
      revokeByGrantId: (grantId) =>
        run(async () => void (await q(`DELETE FROM ${s}.oidc WHERE model = $1 AND grant_id = $2`, [model, grantId]))),
    };
  };

  const appendAuditRow = postgresAuditAppender({
    pool,
    schema: s,
    statement,
    // Serialises the appends of every node (audit_append takes it); released at the statement's commit.
    lockKey: auditLock,
    now,
  });

  const credentialByFp = async (fp: string, c: Queryable = pool): Promise<Credential | undefined> => {
    const [row] = await q(`SELECT ${CREDENTIAL_COLUMNS} FROM ${s}.credentials WHERE fingerprint = $1`, [fp], c);
    return row ? toCredential(row) : undefined;
  };
  /** Inserts the row; a unique index that lost a race throws LOST_RACE (the transaction then rolls back). */
  const insertCredentialRow = async (c: Queryable, personId: string, cred: NewCredential): Promise<Credential> => {
    try {
      const [row] = await q(
        `INSERT INTO ${s}.credentials (fingerprint, person_id, kind, issuer, serial, not_after, created_at, certificate)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (fingerprint) DO NOTHING RETURNING *`,
        [
          cred.fingerprint,
          personId,
          cred.kind,
          cred.issuer,
          cred.serial,
          cred.notAfter.getTime(),
          now(),
          cred.certificate ? Buffer.from(cred.certificate) : null,
        ],
        c,
      );
      if (!row) throw LOST_RACE;
      return toCredential(row);
    } catch (e) {
      // 23505 unique_violation: a concurrent insert of the same card won on (issuer, serial), or another
      // fingerprint claims the same issuer + serial. Either way the caller re-reads after rollback.
      if ((e as { code?: unknown }).code === '23505') throw LOST_RACE;
      throw e;
    }
  };
  /** Inserts `cred` for `personId` unless registered to them; CONFLICT if registered to someone else. */
  const insertCredential = async (c: Queryable, personId: string, cred: NewCredential): Promise<Credential> => {
    const existing = await credentialByFp(cred.fingerprint, c);
    if (!existing) return insertCredentialRow(c, personId, cred);
    if (existing.personId !== personId) throw new StoreConflictError();
    return existing;
  };
  /** Runs a registration transaction; if it lost a race on a unique index, `onLost` decides from the winner's row. */
  const register = async <T>(fp: string, fn: () => Promise<T>, onLost: (winner: Credential) => T | Promise<T>) => {
    try {
      return await fn();
    } catch (e) {
      if (e !== LOST_RACE) throw e;
      const winner = await credentialByFp(fp);
      if (!winner) throw new StoreConflictError();
      return await onLost(winner);
    }
  };
  const personById = async (id: string) => {
    const [row] = await q(`SELECT * FROM ${s}.people WHERE id = $1`, [id]);
    return row ? toPerson(row) : undefined;
  };

  const records: RecordStore = {
    findPerson: (personId) => run(() => personById(personId)),
    findCredentialByFingerprint: (fp) => {
      assertFingerprint(fp);
      return run(() => credentialByFp(fp));
    },
    findCredentialBySerial: (issuer, serial) =>
      run(async () => {
        const [row] = await q(`SELECT * FROM ${s}.credentials WHERE issuer = $1 AND serial = $2`, [
          String(issuer),
          String(serial),
        ]);
        return row ? toCredential(row) : undefined;
      }),
    listCredentials: (personId) =>
      run(async () =>
        (
          await q(`SELECT * FROM ${s}.credentials WHERE person_id = $1 ORDER BY created_at, fingerprint`, [personId])
        ).map(toCredential),
      ),
    createPersonWithCredential: (cred) => {
      assertNewCredential(cred);
      const existingRegistration = async (credential: Credential): Promise<Registration> => ({
        person: (await personById(credential.personId))!,
        credential,
        created: false,
      });
      return run(async () => {
        const existing = await credentialByFp(cred.fingerprint);
        if (existing) return existingRegistration(existing);
        return register(
          cred.fingerprint,
          () =>
            tx(async (c): Promise<Registration> => {
              const [row] = await q(
                `INSERT INTO ${s}.people (id, created_at) VALUES ($1, $2) RETURNING *`,
                [newId(), now()],
                c,
              );
              const person = toPerson(row!);
              return {
                person,
                credential: await insertCredentialRow(c, person.id, cred),
                created: true,
              };
            }),
          existingRegistration,
        );
      });
    },
    addCredential: (personId, cred) => {
      assertId(personId, 'personId');
      assertNewCredential(cred);
      return run(() =>
        register(
          cred.fingerprint,
          () =>
            tx(async (c) => {
              const [person] = await q(`SELECT 1 FROM ${s}.people WHERE id = $1 FOR SHARE`, [personId], c);
              if (!person) throw new StoreNotFoundError('person');
              return insertCredential(c, personId, cred);
            }),
          (winner) => sameOwner(winner, personId),
        ),
      );
    },
    linkCredential: (oldFp, cred) => {
      assertFingerprint(oldFp);
      assertNewCredential(cred);
      let owner = '';
      return run(() =>
        register(
          cred.fingerprint,
          () =>
            tx(async (c) => {
              const old = await credentialByFp(oldFp, c);
              if (!old) throw new StoreNotFoundError('credential');
              owner = old.personId;
              const credential = await insertCredential(c, old.personId, cred);
              await q(
                `INSERT INTO ${s}.credential_links (old_fingerprint, new_fingerprint, person_id, linked_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
                [oldFp, cred.fingerprint, old.personId, now()],
                c,
              );
              return credential;
            }),
          (winner) => sameOwner(winner, owner),
        ),
      );
    },
    touchCredential: (fp) => {
      assertFingerprint(fp);
      return run(async () => {
        const r = await pool.query(`UPDATE ${s}.credentials SET last_used_at = $1 WHERE fingerprint = $2`, [now(), fp]);
        if (r.rowCount !== 1) throw new StoreNotFoundError('credential');
      });
    },
    relabelCredentialIssuer: (name, fp) => {
      assertIssuerName(name);
      assertFingerprint(fp);
      return run(async () => {
        const r = await pool.query(`UPDATE ${s}.credentials SET issuer = $1 WHERE issuer = $2`, [fp, name]);
        return r.rowCount ?? 0;
      });
    },
    recordConsent: (cons) => {
      assertNewConsent(cons);
      return run(async () => {
        try {
          const [row] = await q(
            `INSERT INTO ${s}.consents (id, person_id, client_id, scopes, claims, text_shown, granted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
            [
              newId(),
              cons.personId,
              cons.clientId,
              JSON.stringify(cons.scopes),
              JSON.stringify(cons.claims),
              cons.textShown,
              now(),
            ],
          );
          return toConsent(row!);
        } catch (e) {
          // 23503 foreign_key_violation: no such person.
          if ((e as { code?: unknown }).code === '23503') throw new StoreNotFoundError('person');
          throw e;
        }
      });
    },
    withdrawConsent: (personId, clientId) =>
      run(async () => {
        const r = await pool.query(
          `UPDATE ${s}.consents SET withdrawn_at = $1 WHERE person_id = $2 AND client_id = $3 AND withdrawn_at IS NULL`,
          [now(), personId, clientId],
        );
        return r.rowCount ?? 0;
      }),
    listConsents: (personId) =>
      run(async () =>
        (await q(`SELECT * FROM ${s}.consents WHERE person_id = $1 ORDER BY granted_at, ord`, [personId])).map(
          toConsent,
        ),
      ),
    appendAudit: (e, options) => {
      assertAuditEvent(e);
      const touch = touchOption(options);
      const data = canonicalJson(e.data ?? {});
      return run(() => appendAuditRow(e, data, touch));
    },
    listAudit: (personId) =>
      run(async () => (await q(`SELECT * FROM ${s}.audit WHERE person_id = $1 ORDER BY seq`, [personId])).map(toAudit)),
    auditHashAt: (seq) =>
      run(async () => {
        if (!Number.isSafeInteger(seq) || seq < 1) throw new TypeError('seq must be a positive integer');
        const [row] = await q(`SELECT hash FROM ${s}.audit WHERE seq = $1`, [seq]);
        return row === undefined ? undefined : String(row.hash);
      }),
    auditHead: () =>
      run(async () => {
        const [row] = await q(`SELECT seq, hash FROM ${s}.audit ORDER BY seq DESC LIMIT 1`, []);
        return row === undefined ? undefined : { seq: Number(row.seq), hash: String(row.hash) };
      }),
    verifyAuditChain: () =>
      run(async () => {
        const verifier = chainVerifier();
        // Paged by seq so a long log is never held in memory at once.
        for (let after = 0; ;) {
          const rows = await q(`SELECT * FROM ${s}.audit WHERE seq > $1 ORDER BY seq LIMIT 1000`, [after]);
          for (const row of rows) verifier.push(toAudit(row));
          if (rows.length < 1000) return verifier.result();
          after = Number(rows.at(-1)!.seq);
        }
      }),
    close: () => close(),
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    await pool.end();
  };

  return { adapter, records, sweep, close };
}

/**
 * Creates the schema and applies pending migrations in one transaction, under an advisory lock per schema. A node
 * finding the schema current skips the lock and writes nothing, so restarts are cheap.
 */
async function migrate(pool: pg.Pool, schema: string, existing = false): Promise<void> {
  const s = `"${schema}"`;
  const current = await pool.query(`SELECT version FROM ${s}.schema_version`).then(
    (r) => Number(r.rows[0]?.version ?? 0),
    (e: { code?: unknown }) => {
      // 42P01 undefined_table, 3F000 invalid_schema_name: a fresh database, migrate below.
      if (e.code === '42P01' || e.code === '3F000') return 0;
      throw e;
    },
  );
  if (current > MIGRATIONS.length) throw new StoreSchemaError(current, MIGRATIONS.length);
  if (current === MIGRATIONS.length) return;
  if (existing)
    throw new StoreMissingError(
      current === 0
        ? `no MynaGate schema "${schema}" in the database`
        : `schema "${schema}" is at version ${current}, not ${MIGRATIONS.length}`,
    );

  const c = await pool.connect();
  // A migration may wait for another node's, or rewrite a large table: not bounded by the pool's query timeout.
  const q = (text: string, values?: unknown[]) =>
    c.query({ text, values, query_timeout: MIGRATION_TIMEOUT_MS } as pg.QueryConfig);
  try {
    await q('BEGIN');
    await q('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(schema, 'migrate')]);
    // Re-read under the lock: another node may have migrated while this one waited.
    await q(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await q(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (version INTEGER NOT NULL)`);
    const { rows } = await q(`SELECT version FROM ${s}.schema_version`);
    const version = rows.length ? Number(rows[0].version) : 0;
    if (!rows.length) await q(`INSERT INTO ${s}.schema_version (version) VALUES (0)`);
    if (version > MIGRATIONS.length) throw new StoreSchemaError(version, MIGRATIONS.length);
    for (let v = version; v < MIGRATIONS.length; v++) await q(MIGRATIONS[v]!(s));
    await q(`UPDATE ${s}.schema_version SET version = $1`, [MIGRATIONS.length]);
    await q('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}

/** A 64-bit advisory lock key, stable across nodes, from the schema and the purpose. */
function lockKey(schema: string, purpose: string): string {
  return createHash('sha256').update(`mynagate:${schema}:${purpose}`).digest().readBigInt64BE(0).toString();
}

function sameOwner(winner: Credential, personId: string): Credential {
  if (winner.personId !== personId) throw new StoreConflictError();
  return winner;
}

const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * Domain errors and TypeErrors pass. No SQLSTATE (socket errors, "Connection terminated"), or classes 08
 * (connection exception), 53 (insufficient resources), 57P (operator intervention) and 40 (serialization failure,
 * deadlock): UNAVAILABLE, worth a retry. Anything else: FAILED. The message says what PostgreSQL or the socket said
 * ({@link describePostgresError}), so an operator reads `SQLSTATE 3D000: database "x" does not exist` rather than
 * a bare "failed"; the original stays the `cause`. Internal; exported for tests.
 *
 * @example
 * ```ts
 * wrapPostgresError(e).message; // 'PostgreSQL operation failed (SQLSTATE 3D000: database "mg" does not exist)'
 * ```
 */
export function wrapPostgresError(e: unknown): Error {
  if (e instanceof MynaGateError || e instanceof TypeError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const sqlstate = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const what = describePostgresError(e);
  if (sqlstate === undefined || /^(08|53|57P|40)/.test(sqlstate)) {
    return new StoreUnavailableError(`PostgreSQL is unavailable (${what})`, { cause: e });
  }
  return new StoreFailedError(`PostgreSQL operation failed (${what})`, { cause: e });
}

/**
 * SQLSTATE classes whose primary message PostgreSQL builds from names and server state only (a database, role,
 * relation, column or constraint name, a lock, a timeout), never from a value of a row or a parameter: connection
 * (08), feature (0A), transaction state (25), authorization (28, 2B, 2D), cursor (34), catalog and schema names (3D,
 * 3F), rollback (40), syntax and access rules (42: the tokens quoted are our SQL text, values are parameters),
 * resources and limits (53, 54), object state and locks (55), operator intervention (57), system (58), config file
 * (F0). Integrity violations (23) name the constraint in the message and put the key's value in `detail`, which is
 * never read. Data exceptions (22: `invalid input syntax for type integer: "…"`), raised exceptions (P0, whatever a
 * function formats) and internal errors (XX) are left out: their messages may quote a value.
 */
const PLAIN_MESSAGE_CLASSES = /^(08|0A|23|25|28|2B|2D|34|3D|3F|40|42|53|54|55|57|58|F0)/;

/** What a socket's errno means, for the one line an operator reads. */
const SOCKET_ERRORS: Readonly<Record<string, string>> = Object.freeze({
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EPIPE: 'connection closed',
});

/**
 * One line about a driver error, without anything a row holds: `SQLSTATE 3D000: database "x" does not exist`;
 * for a class whose message may quote a value, only the code and the names PostgreSQL reports (`table`, `column`,
 * `constraint`, `dataType`: schema, not data), never `detail`, `where`, `hint` or `internalQuery`; for a socket,
 * what its errno means and the address (`connection refused: connect ECONNREFUSED 127.0.0.1:5432`); for the
 * driver's own errors (a connection timeout, "Connection terminated unexpectedly") its message; for anything else
 * only its name. Internal; exported for tests.
 */
export function describePostgresError(e: unknown): string {
  if (typeof e !== 'object' || e === null) return `a thrown ${typeof e}`;
  const fields = e as Record<string, unknown>;
  const code = typeof fields['code'] === 'string' ? fields['code'] : undefined;
  const message = e instanceof Error ? oneLine(e.message) : '';
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) {
    if (PLAIN_MESSAGE_CLASSES.test(code) && message !== '') return `SQLSTATE ${code}: ${message}`;
    const names = (['table', 'column', 'constraint', 'dataType'] as const)
      .filter((k) => typeof fields[k] === 'string' && /^[\w$.]{1,63}$/u.test(fields[k] as string))
      .map((k) => `${k} ${String(fields[k])}`);
    return `SQLSTATE ${code}${names.length ? ` on ${names.join(', ')}` : ''}`;
  }
  if (code !== undefined && /^E[A-Z_]+$/.test(code)) {
    // Node.js gives a connection tried on several addresses (localhost: ::1 and 127.0.0.1) as an AggregateError
    // whose message is empty; its first error names an address.
    const first = e instanceof AggregateError ? (e.errors[0] as unknown) : undefined;
    const said = message || (first instanceof Error ? oneLine(first.message) : '') || code;
    const meaning = SOCKET_ERRORS[code];
    return meaning === undefined ? said : `${meaning}: ${said}`;
  }
  // The driver's own errors are plain Errors with fixed texts; another class (a SyntaxError of a JSON value) may
  // quote what it read.
  if (e instanceof Error && e.constructor === Error && message !== '') return message;
  return e instanceof Error ? e.name : 'a thrown non-Error object';
}

/** The first line, at most 300 characters: a message goes into one log line. */
function oneLine(text: string): string {
  const line = text.split('\n', 1)[0]!.trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** The credential columns `toCredential` reads (a prepared statement names its columns: see `preparedStatements`). */
const CREDENTIAL_COLUMNS =
  'fingerprint, person_id, kind, issuer, serial, not_after, created_at, last_used_at, certificate';

/** A statement sent unnamed (parsed and planned each time). */
const unnamedStatement = (text: string, values: unknown[]): pg.QueryConfig => ({ text, values });

/** How many statement texts one store prepares; later ones run unnamed (texts built per batch size stay bounded). */
const MAX_PREPARED = 128;

/**
 * Query configs whose statements PostgreSQL parses and plans once per connection (named prepared statements):
 * half the server's CPU of a parse-and-plan per query, and less latency. A text whose result columns are `*` is
 * not prepared: a column added by a newer version's migration would make a running node's cached plan fail
 * ("cached plan must not change result type").
 */
export function preparedStatements(): (text: string, values: unknown[]) => pg.QueryConfig {
  const names = new Map<string, string>();
  return (text, values) => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_PREPARED && !/(SELECT|RETURNING)\s+\*/.test(text)) {
      name = `mynagate_${names.size}`;
      names.set(text, name);
    }
    return name === undefined ? { text, values } : { name, text, values };
  };
}
