/**
 * The embedded store: node-oidc-provider models, one-shot state and durable records in one SQLite file through
 * `node:sqlite`, nothing else to install.
 *
 * Settings and why:
 * - WAL: readers never block the writer.
 * - `synchronous=FULL`: in WAL mode NORMAL may lose the last commits on power loss. Losing a committed person row
 *   would mint a new person (a new `sub`) at the next login, and losing audit rows defeats the log, so every commit
 *   is fsynced. The cost (one fsync per write) is what an embedded, one-process deployment can afford; one
 *   connection serves all tables because the setting is per connection, not per table.
 * - `busy_timeout`: another process (a CLI, a second server by mistake) holding the write lock waits, then fails
 *   as `ERR_STORE_UNAVAILABLE`.
 * - Writers use `BEGIN IMMEDIATE`, so a read-then-write transaction takes the write lock first and cannot deadlock.
 * - Expiry is checked on every read; a periodic sweep deletes expired rows.
 */
import { DatabaseSync } from 'node:sqlite';
import { MynaGateError } from '@mynagate/errors';
import {
  StoreAlreadyConsumedError,
  StoreClosedError,
  StoreConflictError,
  StoreFailedError,
  StoreNotFoundError,
  StoreSchemaError,
  StoreUnavailableError,
} from './errors.ts';
import { auditHash, canonicalJson, chainVerifier, GENESIS_HASH } from './lib/audit-hash.ts';
import { decodeValue, encodeValue } from './lib/codec.ts';
import { newId } from './lib/ids.ts';
import { epochSeconds, toAudit, toConsent, toCredential, toPerson } from './lib/rows.ts';
import {
  assertAuditEvent,
  assertFingerprint,
  assertId,
  assertKey,
  assertNewConsent,
  assertNewCredential,
  clockOption,
  expiresInToMs,
  ttlToMs,
} from './lib/validate.ts';
import type {
  Adapter,
  AdapterPayload,
  Credential,
  NewCredential,
  OneShotStore,
  OneShotValue,
  RecordStore,
  Stores,
} from './types.ts';

/** Options of {@link openSqliteStores}. */
export interface SqliteStoreOptions {
  /** The database file; created if missing. `':memory:'` works for throwaway use. */
  readonly path: string;
  /** Epoch milliseconds; defaults to `Date.now`. */
  readonly now?: () => number;
  /** How often expired rows are deleted; 0 disables the timer. Default 60 000. */
  readonly sweepIntervalMs?: number;
  /** How long to wait for another process's write lock. Default 5 000. */
  readonly busyTimeoutMs?: number;
}

/** The SQLite stores, plus `sweep()` to delete expired rows now (returns how many). */
export interface SqliteStores extends Stores {
  sweep(): number;
}

/** Schema migrations; entry i migrates `user_version` i to i + 1. Append only, never edit a shipped entry. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE oidc (model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, grant_id TEXT, user_code TEXT,
     uid TEXT, expires_at INTEGER, consumed_at INTEGER, PRIMARY KEY (model, id)) WITHOUT ROWID;
   CREATE INDEX oidc_grant ON oidc (model, grant_id) WHERE grant_id IS NOT NULL;
   CREATE INDEX oidc_user_code ON oidc (model, user_code) WHERE user_code IS NOT NULL;
   CREATE INDEX oidc_uid ON oidc (model, uid) WHERE uid IS NOT NULL;
   CREATE INDEX oidc_expires ON oidc (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE one_shot (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX one_shot_expires ON one_shot (expires_at);
   CREATE TABLE people (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE credentials (fingerprint TEXT PRIMARY KEY, person_id TEXT NOT NULL REFERENCES people (id),
     kind TEXT NOT NULL, issuer TEXT NOT NULL, serial TEXT NOT NULL, not_after INTEGER NOT NULL,
     created_at INTEGER NOT NULL, last_used_at INTEGER, certificate BLOB, UNIQUE (issuer, serial));
   CREATE INDEX credentials_person ON credentials (person_id);
   CREATE TABLE credential_links (old_fingerprint TEXT NOT NULL, new_fingerprint TEXT NOT NULL
     REFERENCES credentials (fingerprint), person_id TEXT NOT NULL REFERENCES people (id), linked_at INTEGER NOT NULL,
     PRIMARY KEY (old_fingerprint, new_fingerprint)) WITHOUT ROWID;
   CREATE TABLE consents (id TEXT PRIMARY KEY, person_id TEXT NOT NULL REFERENCES people (id), client_id TEXT NOT NULL,
     scopes TEXT NOT NULL, claims TEXT NOT NULL, text_shown TEXT NOT NULL, granted_at INTEGER NOT NULL,
     withdrawn_at INTEGER);
   CREATE INDEX consents_person ON consents (person_id, client_id);
   CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, type TEXT NOT NULL, person_id TEXT,
     client_id TEXT, data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
   CREATE INDEX audit_person ON audit (person_id) WHERE person_id IS NOT NULL;
   CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
   CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;`,
];

/** The schema version this code writes. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

// SQLite result codes (https://sqlite.org/rescode.html) that mean "try again later".
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CONSTRAINT = 19;

type Row = Record<string, unknown>;

/**
 * Opens (creating and migrating if needed) the SQLite file and returns the three stores on it.
 *
 * @example
 * ```ts
 * const stores = openSqliteStores({ path: 'mynagate.db' });
 * const provider = new Provider(issuer, { adapter: stores.adapter });
 * ```
 * @throws `ERR_STORE_UNAVAILABLE` if the file cannot be opened or is locked, `ERR_STORE_SCHEMA` if a newer
 * version migrated it; TypeError on bad options.
 */
export function openSqliteStores(options: SqliteStoreOptions): SqliteStores {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (typeof options.path !== 'string' || options.path.length === 0) throw new TypeError('path must be a string');
  const now = clockOption(options.now);
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  for (const [name, v] of [
    ['sweepIntervalMs', sweepIntervalMs],
    ['busyTimeoutMs', busyTimeoutMs],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`${name} must be a non-negative integer`);
  }

  let db: DatabaseSync;
  try {
    db = new DatabaseSync(options.path);
  } catch (e) {
    throw new StoreUnavailableError('cannot open the SQLite database', {
      cause: e,
    });
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db);
  } catch (e) {
    db.close();
    throw wrap(e);
  }

  let closed = false;
  const sql = (() => {
    const cache = new Map<string, ReturnType<DatabaseSync['prepare']>>();
    return (text: string) => {
      let st = cache.get(text);
      if (!st) cache.set(text, (st = db.prepare(text)));
      return st;
    };
  })();
  /** Runs `fn` synchronously (so it never interleaves with another call) and maps driver errors to codes. */
  const run = async <T>(fn: () => T): Promise<T> => {
    if (closed) throw new StoreClosedError();
    try {
      return fn();
    } catch (e) {
      throw wrap(e);
    }
  };
  const tx = <T>(fn: () => T): T => {
    db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      db.exec('COMMIT');
      return result;
    } catch (e) {
      // SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR); a second ROLLBACK would mask e.
      if (db.isTransaction) db.exec('ROLLBACK');
      throw e;
    }
  };

  const sweep = (): number => {
    if (closed) throw new StoreClosedError();
    const t = now();
    try {
      return (
        Number(sql('DELETE FROM oidc WHERE expires_at <= ?').run(t).changes) +
        Number(sql('DELETE FROM one_shot WHERE expires_at <= ?').run(t).changes)
      );
    } catch (e) {
      throw wrap(e);
    }
  };
  const timer =
    sweepIntervalMs > 0
      ? setInterval(() => {
          try {
            if (!closed) sweep();
          } catch {
            // Busy (another process writes): the next sweep retries, and reads ignore expired rows anyway.
          }
        }, sweepIntervalMs)
      : undefined;
  timer?.unref();

  const adapter = (model: string): Adapter => {
    assertKey(model, 'model');
    const live = '(expires_at IS NULL OR expires_at > ?)';
    const payloadOf = (row: Row | undefined): AdapterPayload | undefined => {
      if (!row) return undefined;
      const payload = JSON.parse(String(row.payload)) as AdapterPayload;
      if (row.consumed_at != null) payload.consumed = Number(row.consumed_at);
      return payload;
    };
    const findBy = (column: 'id' | 'uid' | 'user_code', value: string) =>
      typeof value !== 'string'
        ? Promise.resolve(undefined)
        : run(() =>
            payloadOf(
              sql(`SELECT payload, consumed_at FROM oidc WHERE model = ? AND ${column} = ? AND ${live} LIMIT 1`).get(
                model,
                value,
                now(),
              ),
            ),
          );
    return {
      upsert: (id, payload, expiresIn) => {
        assertKey(id, 'id');
        const ttl = expiresInToMs(expiresIn);
        const text = JSON.stringify(payload);
        return run(() => {
          sql(
            `INSERT INTO oidc (model, id, payload, grant_id, user_code, uid, expires_at, consumed_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
             ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
               user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at, consumed_at = NULL`,
          ).run(
            model,
            id,
            text,
            strOrNull(payload.grantId),
            strOrNull(payload.userCode),
            strOrNull(payload.uid),
            ttl === null ? null : now() + ttl,
          );
        });
      },
      find: (id) => findBy('id', id),
      findByUid: (uid) => findBy('uid', uid),
      findByUserCode: (userCode) => findBy('user_code', userCode),
      consume: (id) =>
        run(() => {
          const t = now();
          const r = sql(
            `UPDATE oidc SET consumed_at = ? WHERE model = ? AND id = ? AND consumed_at IS NULL AND ${live}`,
          ).run(epochSeconds(t), model, id, t);
          if (Number(r.changes) !== 1) throw new StoreAlreadyConsumedError(model);
        }),
      destroy: (id) => run(() => void sql('DELETE FROM oidc WHERE model = ? AND id = ?').run(model, id)),
      revokeByGrantId: (grantId) =>
        run(() => void sql('DELETE FROM oidc WHERE model = ? AND grant_id = ?').run(model, grantId)),
    };
  };

  const oneShot: OneShotStore = {
    put: (key, value, ttlSeconds) => {
      assertKey(key);
      const ttl = ttlToMs(ttlSeconds);
      const text = encodeValue(value);
      return run(() => {
        sql(
          `INSERT INTO one_shot (key, value, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
        ).run(key, text, now() + ttl);
      });
    },
    // DELETE … RETURNING is one statement under the write lock: two takers cannot both see the row.
    take: <T extends OneShotValue>(key: string) =>
      run(() => {
        const row = sql('DELETE FROM one_shot WHERE key = ? RETURNING value, expires_at').get(key);
        return row && Number(row.expires_at) > now() ? (decodeValue(String(row.value)) as T) : undefined;
      }),
    get: <T extends OneShotValue>(key: string) =>
      run(() => {
        const row = sql('SELECT value FROM one_shot WHERE key = ? AND expires_at > ?').get(key, now());
        return row ? (decodeValue(String(row.value)) as T) : undefined;
      }),
    delete: (key) =>
      run(() => {
        const row = sql('DELETE FROM one_shot WHERE key = ? RETURNING expires_at').get(key);
        return row !== undefined && Number(row.expires_at) > now();
      }),
    putIfAbsent: (key, ttlSeconds, value = '1') => {
      assertKey(key);
      const ttl = ttlToMs(ttlSeconds);
      const text = encodeValue(value);
      return run(() => {
        const t = now();
        const row = sql(
          `INSERT INTO one_shot (key, value, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
             WHERE one_shot.expires_at <= ?
           RETURNING key`,
        ).get(key, text, t + ttl, t);
        return row !== undefined;
      });
    },
    incr: (key, ttlSeconds) => {
      assertKey(key);
      const ttl = ttlToMs(ttlSeconds);
      return run(() => {
        const t = now();
        const row = sql(
          `INSERT INTO one_shot (key, value, expires_at) VALUES (?, '1', ?)
           ON CONFLICT (key) DO UPDATE SET
             value = CASE WHEN one_shot.expires_at <= ? THEN '1' ELSE CAST(CAST(one_shot.value AS INTEGER) + 1 AS TEXT) END,
             expires_at = CASE WHEN one_shot.expires_at <= ? THEN excluded.expires_at ELSE one_shot.expires_at END
           RETURNING value`,
        ).get(key, t + ttl, t, t);
        return Number(row?.value);
      });
    },
  };

  const credentialByFp = (fp: string): Credential | undefined => {
    const row = sql('SELECT * FROM credentials WHERE fingerprint = ?').get(fp);
    return row ? toCredential(row) : undefined;
  };
  /** Inserts `c` for `personId` unless registered; throws CONFLICT if it is registered to someone else. */
  const insertCredential = (personId: string, c: NewCredential): Credential => {
    const existing = credentialByFp(c.fingerprint);
    if (existing) {
      if (existing.personId !== personId) throw new StoreConflictError();
      return existing;
    }
    try {
      sql(
        `INSERT INTO credentials (fingerprint, person_id, kind, issuer, serial, not_after, created_at, certificate)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(c.fingerprint, personId, c.kind, c.issuer, c.serial, c.notAfter.getTime(), now(), c.certificate ?? null);
    } catch (e) {
      // The same issuer + serial under another fingerprint: a second certificate claiming the same identity.
      if (errcode(e) === SQLITE_CONSTRAINT) throw new StoreConflictError();
      throw e;
    }
    return credentialByFp(c.fingerprint)!;
  };

  const records: RecordStore = {
    findPerson: (personId) =>
      run(() => {
        const row = sql('SELECT * FROM people WHERE id = ?').get(personId);
        return row ? toPerson(row) : undefined;
      }),
    findCredentialByFingerprint: (fp) => {
      assertFingerprint(fp);
      return run(() => credentialByFp(fp));
    },
    listCredentials: (personId) =>
      run(() =>
        sql('SELECT * FROM credentials WHERE person_id = ? ORDER BY created_at').all(personId).map(toCredential),
      ),
    createPersonWithCredential: (c) => {
      assertNewCredential(c);
      return run(() =>
        tx(() => {
          const existing = credentialByFp(c.fingerprint);
          if (existing) {
            const person = toPerson(sql('SELECT * FROM people WHERE id = ?').get(existing.personId)!);
            return { person, credential: existing, created: false };
          }
          const person = toPerson(
            sql('INSERT INTO people (id, created_at) VALUES (?, ?) RETURNING *').get(newId(), now())!,
          );
          return {
            person,
            credential: insertCredential(person.id, c),
            created: true,
          };
        }),
      );
    },
    addCredential: (personId, c) => {
      assertId(personId, 'personId');
      assertNewCredential(c);
      return run(() =>
        tx(() => {
          if (!sql('SELECT 1 FROM people WHERE id = ?').get(personId)) throw new StoreNotFoundError('person');
          return insertCredential(personId, c);
        }),
      );
    },
    linkCredential: (oldFp, c) => {
      assertFingerprint(oldFp);
      assertNewCredential(c);
      return run(() =>
        tx(() => {
          const old = credentialByFp(oldFp);
          if (!old) throw new StoreNotFoundError('credential');
          const credential = insertCredential(old.personId, c);
          sql(
            `INSERT INTO credential_links (old_fingerprint, new_fingerprint, person_id, linked_at) VALUES (?, ?, ?, ?)
             ON CONFLICT DO NOTHING`,
          ).run(oldFp, c.fingerprint, old.personId, now());
          return credential;
        }),
      );
    },
    touchCredential: (fp) => {
      assertFingerprint(fp);
      return run(() => {
        const r = sql('UPDATE credentials SET last_used_at = ? WHERE fingerprint = ?').run(now(), fp);
        if (Number(r.changes) !== 1) throw new StoreNotFoundError('credential');
      });
    },
    recordConsent: (c) => {
      assertNewConsent(c);
      return run(() => {
        if (!sql('SELECT 1 FROM people WHERE id = ?').get(c.personId)) throw new StoreNotFoundError('person');
        const row = sql(
          `INSERT INTO consents (id, person_id, client_id, scopes, claims, text_shown, granted_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        ).get(newId(), c.personId, c.clientId, JSON.stringify(c.scopes), JSON.stringify(c.claims), c.textShown, now());
        return toConsent(row!);
      });
    },
    withdrawConsent: (personId, clientId) =>
      run(() =>
        Number(
          sql(
            'UPDATE consents SET withdrawn_at = ? WHERE person_id = ? AND client_id = ? AND withdrawn_at IS NULL',
          ).run(now(), personId, clientId).changes,
        ),
      ),
    listConsents: (personId) =>
      run(() =>
        sql('SELECT * FROM consents WHERE person_id = ? ORDER BY granted_at, rowid').all(personId).map(toConsent),
      ),
    appendAudit: (e) => {
      assertAuditEvent(e);
      const data = canonicalJson(e.data ?? {});
      return run(() =>
        tx(() => {
          const last = sql('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get();
          const row = {
            seq: last ? Number(last.seq) + 1 : 1,
            at: now(),
            type: e.type,
            personId: e.personId ?? null,
            clientId: e.clientId ?? null,
            data: JSON.parse(data) as Record<string, unknown>,
          };
          const prevHash = last ? String(last.hash) : GENESIS_HASH;
          const inserted = sql(
            `INSERT INTO audit (seq, at, type, person_id, client_id, data, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
          ).get(row.seq, row.at, row.type, row.personId, row.clientId, data, prevHash, auditHash(prevHash, row));
          return toAudit(inserted!);
        }),
      );
    },
    listAudit: (personId) =>
      run(() => sql('SELECT * FROM audit WHERE person_id = ? ORDER BY seq').all(personId).map(toAudit)),
    verifyAuditChain: () =>
      run(() => {
        const verifier = chainVerifier();
        for (const row of sql('SELECT * FROM audit ORDER BY seq').iterate()) verifier.push(toAudit(row));
        return verifier.result();
      }),
    close: async () => close(),
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    db.close();
  };

  return { adapter, oneShot, records, sweep, close };
}

/** Applies pending migrations in one write transaction, so two processes opening a fresh file do not race. */
function migrate(db: DatabaseSync): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    const version = Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
    if (version > MIGRATIONS.length) throw new StoreSchemaError(version, MIGRATIONS.length);
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    db.exec('COMMIT');
  } catch (e) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function errcode(e: unknown): number | undefined {
  const code = (e as { errcode?: unknown } | null)?.errcode;
  // Extended result codes carry the primary code in the low byte (https://sqlite.org/rescode.html).
  return typeof code === 'number' ? code & 0xff : undefined;
}

/** Domain errors and TypeErrors pass; busy/locked become UNAVAILABLE, anything else FAILED. */
function wrap(e: unknown): Error {
  if (e instanceof MynaGateError || e instanceof TypeError) return e;
  const code = errcode(e);
  if (code === SQLITE_BUSY || code === SQLITE_LOCKED)
    return new StoreUnavailableError('SQLite database is locked', { cause: e });
  return new StoreFailedError('SQLite operation failed', { cause: e });
}
