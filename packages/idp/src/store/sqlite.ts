/**
 * The embedded store: node-oidc-provider models, one-shot state and durable records through `node:sqlite`, nothing
 * else to install. Two files, because SQLite's `synchronous` setting is per database file, not per table:
 *
 * - the durable file (`path`): people, credentials, links, consents, the audit chain and the long-lived models
 *   (`Grant`, `RefreshToken`, `Client`, …). Nothing written there is acknowledged before it is on disk:
 *   losing a committed person row would mint a new person (a new `sub`) at the next login, and losing audit rows
 *   defeats the log. `synchronous=FULL` would fsync inside each `COMMIT`, blocking the event loop (`node:sqlite` is
 *   synchronous; ~1–3 ms per commit on a busy disk, several per login). Instead the file commits with NORMAL and the
 *   caller waits for an `fdatasync` of the WAL on the thread pool, shared by all commits made meanwhile
 *   (lib/wal-sync.ts): the same guarantee, group commit, and the event loop keeps serving.
 * - the ephemeral file (`ephemeralPath`, default `<path>-ephemeral`): one-shot state (challenges, login
 *   transactions, replay markers) and the login-state models of {@link EPHEMERAL_MODELS} (`Session`,
 *   `Interaction`, `AuthorizationCode`, `AccessToken`, …), with `synchronous=NORMAL` and no wait. In WAL mode that is still atomic
 *   and consistent, and durable across a crash of this process (a commit is in the OS once `COMMIT` returns); only
 *   an OS crash or power loss may roll back the commits since the last checkpoint. What is lost then is what Redis
 *   holds at scale: logins in flight and minutes-long codes and tokens, so people log in again; never an account.
 *   One-shot atomicity (a challenge or a code taken once) holds because it comes from the write lock, not from the
 *   fsync, and a replay marker rolled back by a power loss is for an entry (code, challenge) rolled back with it, or
 *   one that expires within minutes. Per login that takes about a dozen commits off the disk's critical path.
 *
 * Both files:
 * - WAL: readers never block the writer. Checkpoints run on a worker thread (lib/checkpointer.ts).
 * - `busy_timeout`: another process (a CLI, a second server by mistake) holding the write lock waits, then fails
 *   as `ERR_STORE_UNAVAILABLE`.
 * - Writers use `BEGIN IMMEDIATE`, so a read-then-write transaction takes the write lock first and cannot deadlock.
 *   No transaction spans both files.
 * - Statements are prepared once per connection and cached.
 * - Expiry is checked on every read; a periodic sweep deletes expired rows, {@link SQLITE_SWEEP_CHUNK} per statement
 *   with the event loop free between statements.
 *
 * Erasure, for the rows of {@link ERASED_MODELS} (a grant's verified identity), in the durable file. `secure_delete`
 * is FAST for every other delete: it zeroes the cells a delete removes from the pages it writes anyway, at no extra
 * I/O, but leaves the pages the delete frees (the overflow chain holding a long payload's tail, a page emptied) as
 * they were, on the free list (https://sqlite.org/pragma.html#pragma_secure_delete). Those rows are deleted with
 * `secure_delete` ON, which zeroes the freed pages too; and the WAL file still holds the frames that wrote the row,
 * until overwritten, which may be never (the file is reused from its start, not shrunk). So a delete that removed
 * one (explicitly, with its grant, by the sweep once expired, or replaced by a new one) is followed by a
 * `wal_checkpoint(TRUNCATE)`, which copies the zeroed pages into the database file, syncs it and empties the WAL file:
 * at once if none ran in the last `erasureIntervalMs`, else when that has passed (one checkpoint for all the deletes
 * meanwhile), and again each interval while another connection's reader or checkpoint holds the file (it never
 * waits for one). An expired identity is thus off the disk within `sweepIntervalMs` + `erasureIntervalMs` of its
 * expiry. (What the file system does with the truncated blocks is beyond SQLite's reach: full-disk encryption.)
 */
import { chmodSync, closeSync, existsSync, openSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
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
import { EPHEMERAL_MODELS } from './ephemeral-models.ts';
import { ERASED_MODELS } from './erased-models.ts';
import { canonicalJson, chainVerifier, nextAuditRow } from './lib/audit-hash.ts';
import { decodeValue, encodeValue } from './lib/codec.ts';
import { newId } from './lib/ids.ts';
import { walSync, type WalSync } from './lib/wal-sync.ts';
import { startCheckpointer, type Checkpointer } from './lib/checkpointer.ts';
import { epochSeconds, toAudit, toConsent, toCredential, toPerson } from './lib/rows.ts';
import {
  assertAuditEvent,
  touchOption,
  assertFingerprint,
  assertIssuerName,
  assertId,
  assertKey,
  assertKeys,
  assertNewConsent,
  assertNewCredential,
  clockOption,
  expiresInToMs,
  ttlToMs,
} from './lib/validate.ts';
import {
  ONE_SHOT_MANY_MAX,
  type Adapter,
  type AdapterPayload,
  type Credential,
  type NewCredential,
  type OneShotStore,
  type OneShotValue,
  type RecordStore,
  type Stores,
} from './types.ts';

/** Options of {@link openSqliteStores}. */
export interface SqliteStoreOptions {
  /** The durable database file; created if missing. `':memory:'` works for throwaway use. */
  readonly path: string;
  /**
   * The ephemeral database file (one-shot state, short-lived models); created if missing. Default `<path>-ephemeral`
   * ({@link sqliteEphemeralPath}), or `':memory:'` when `path` is.
   */
  readonly ephemeralPath?: string;
  /** Epoch milliseconds; defaults to `Date.now`. */
  readonly now?: () => number;
  /** How often expired rows are deleted; 0 disables the timer. Default 60 000. */
  readonly sweepIntervalMs?: number;
  /** How long to wait for another process's write lock. Default 5 000. */
  readonly busyTimeoutMs?: number;
  /**
   * How often a worker thread checkpoints the WAL files (lib/checkpointer.ts), so the event loop does not; 0 leaves
   * checkpoints to the writing connection (SQLite's default). Default 100.
   */
  readonly checkpointIntervalMs?: number;
  /**
   * The least time between two erasure checkpoints (`wal_checkpoint(TRUNCATE)` after a verified identity's row is
   * deleted, see "Erasure" above). Each holds the event loop for a checkpoint and two syncs (about 10 ms, at times
   * over 100 on a busy disk), so logins never pay for it more than once per interval. 0 runs one after every such
   * delete. Default 10 000.
   */
  readonly erasureIntervalMs?: number;
  /** The WAL file's `fdatasync` (lib/wal-sync.ts); a seam for tests. Default `fs.fdatasync`. */
  readonly walDatasync?: (fd: number, done: (e: Error | null) => void) => void;
  /**
   * Open only a database a provider of this version made: a missing file, or one at an older schema version, is
   * `ERR_STORE_MISSING` instead of being created or migrated (for commands that only read, like the audit's).
   */
  readonly existing?: boolean;
}

/**
 * Expired rows the periodic sweep deletes per table in one statement; the event loop runs between statements. Rows
 * expire in time order but sit in key order, so each costs 20-40 us to delete: 128 of them hold the loop for a few
 * milliseconds, where one statement after a busy minute held it for hundreds.
 */
export const SQLITE_SWEEP_CHUNK = 128;

const SWEEP_OIDC = `DELETE FROM oidc WHERE (model, id) IN (SELECT model, id FROM oidc INDEXED BY oidc_expires
  WHERE expires_at <= ? AND expires_at IS NOT NULL ORDER BY expires_at LIMIT ${SQLITE_SWEEP_CHUNK})`;
// The durable file's sweep says which models it deleted: an erased model's row calls for an erasure checkpoint.
const SWEEP_OIDC_MODELS = `${SWEEP_OIDC} RETURNING model`;
const SWEEP_ONE_SHOT = `DELETE FROM one_shot WHERE key IN (SELECT key FROM one_shot INDEXED BY one_shot_expires
  WHERE expires_at <= ? ORDER BY expires_at LIMIT ${SQLITE_SWEEP_CHUNK})`;

/** The SQLite stores, plus `sweep()` to delete every expired row now, in chunks, synchronously (returns how many). */
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
  // One-shot state and the ephemeral models moved to the ephemeral file; what was in flight here is dropped. (The
  // list is EPHEMERAL_MODELS as shipped with this migration, spelled out so the migration never changes.)
  `DROP TABLE one_shot;
   DELETE FROM oidc WHERE model IN ('AccessToken', 'AuthorizationCode', 'BackchannelAuthenticationRequest',
     'ClientCredentials', 'DeviceCode', 'Interaction', 'PreAuthorizedCode', 'PushedAuthorizationRequest',
     'ReplayDetection');`,
  // Session became ephemeral: sessions in this file are dropped (people log in again once).
  `DELETE FROM oidc WHERE model = 'Session';`,
];

/** Migrations of the ephemeral file; same rule. */
const EPHEMERAL_MIGRATIONS: readonly string[] = [
  `CREATE TABLE oidc (model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, grant_id TEXT, user_code TEXT,
     uid TEXT, expires_at INTEGER, consumed_at INTEGER, PRIMARY KEY (model, id)) WITHOUT ROWID;
   CREATE INDEX oidc_grant ON oidc (model, grant_id) WHERE grant_id IS NOT NULL;
   CREATE INDEX oidc_user_code ON oidc (model, user_code) WHERE user_code IS NOT NULL;
   CREATE INDEX oidc_uid ON oidc (model, uid) WHERE uid IS NOT NULL;
   CREATE INDEX oidc_expires ON oidc (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE one_shot (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX one_shot_expires ON one_shot (expires_at);`,
];

/**
 * The WHERE clause that finds a model's rows by one column, with the index it must use. The secondary indexes are
 * partial (`WHERE col IS NOT NULL`), and SQLite's planner does not infer `col IS NOT NULL` from `col = ?`, so
 * without `INDEXED BY` and the explicit condition it scans every row of the model (every session, for each token
 * request's session lookup by uid). `INDEXED BY` also makes a missing index an error at prepare time, not a scan.
 * Exported for the query-plan test only.
 */
export const BY_COLUMN = Object.freeze({
  id: 'WHERE model = ? AND id = ?',
  uid: 'INDEXED BY oidc_uid WHERE model = ? AND uid = ? AND uid IS NOT NULL',
  user_code: 'INDEXED BY oidc_user_code WHERE model = ? AND user_code = ? AND user_code IS NOT NULL',
  grant_id: 'INDEXED BY oidc_grant WHERE model = ? AND grant_id = ? AND grant_id IS NOT NULL',
});

/** The schema version this code writes to the durable file. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;
/** The schema version this code writes to the ephemeral file. */
export const SQLITE_EPHEMERAL_SCHEMA_VERSION = EPHEMERAL_MIGRATIONS.length;

/**
 * The default ephemeral file of a durable file: `<path>-ephemeral` (beside SQLite's own `-wal` and `-shm`), or
 * `':memory:'` for an in-memory database.
 */
export function sqliteEphemeralPath(path: string): string {
  return path === ':memory:' ? ':memory:' : `${path}-ephemeral`;
}

// SQLite result codes (https://sqlite.org/rescode.html) that mean "try again later".
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CONSTRAINT = 19;

type Row = Record<string, unknown>;

/**
 * Opens (creating and migrating if needed) the durable and the ephemeral SQLite files and returns the three stores
 * on them.
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
  const checkpointIntervalMs = options.checkpointIntervalMs ?? 100;
  const erasureIntervalMs = options.erasureIntervalMs ?? 10_000;
  for (const [name, v] of [
    ['sweepIntervalMs', sweepIntervalMs],
    ['busyTimeoutMs', busyTimeoutMs],
    ['checkpointIntervalMs', checkpointIntervalMs],
    ['erasureIntervalMs', erasureIntervalMs],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`${name} must be a non-negative integer`);
  }

  if (options.ephemeralPath !== undefined && (typeof options.ephemeralPath !== 'string' || !options.ephemeralPath)) {
    throw new TypeError('ephemeralPath must be a string');
  }
  const ephemeralPath = options.ephemeralPath ?? sqliteEphemeralPath(options.path);
  const existing = options.existing === true;
  if (existing && (options.path === ':memory:' || !existsSync(options.path)))
    throw new StoreMissingError(`no SQLite database at ${options.path}`);
  const db = openFile(options.path, busyTimeoutMs, 'FULL', MIGRATIONS, existing);
  let eph: DatabaseSync;
  try {
    eph = openFile(ephemeralPath, busyTimeoutMs, 'NORMAL', EPHEMERAL_MIGRATIONS);
  } catch (e) {
    db.close();
    throw e;
  }
  let closed = false;
  const inWal = (conn: DatabaseSync, path: string) =>
    path !== ':memory:' && conn.prepare('PRAGMA journal_mode').get()?.journal_mode === 'wal';
  // The durable file commits without waiting for the disk and its callers wait for a group fsync on the thread pool
  // (lib/wal-sync.ts): FULL's durability without blocking the event loop. Without a WAL file (`:memory:`, or a file
  // system where WAL mode was refused) it stays FULL, synced inline.
  let wal: WalSync | undefined;
  if (inWal(db, options.path)) {
    try {
      wal = walSync(options.path, options.walDatasync === undefined ? {} : { datasync: options.walDatasync });
      db.exec('PRAGMA synchronous = NORMAL');
    } catch {
      wal = undefined;
    }
  }
  // Checkpoints on a worker thread (lib/checkpointer.ts); the writers' own stay as a fallback at a higher mark, and
  // at SQLite's default again should the worker stop.
  const walFiles = [
    ...(inWal(db, options.path) ? [{ conn: db, path: options.path }] : []),
    ...(inWal(eph, ephemeralPath) ? [{ conn: eph, path: ephemeralPath }] : []),
  ];
  let checkpointer: Checkpointer | undefined;
  if (checkpointIntervalMs > 0 && walFiles.length > 0) {
    checkpointer = startCheckpointer(
      walFiles.map((f) => f.path),
      {
        intervalMs: checkpointIntervalMs,
        busyTimeoutMs,
        onExit: () => {
          for (const f of walFiles) if (!closed) f.conn.exec('PRAGMA wal_autocheckpoint = 1000');
        },
      },
    );
    for (const f of walFiles) f.conn.exec('PRAGMA wal_autocheckpoint = 10000');
  }

  /** Prepared statements of one connection, cached by text. */
  const statements = (conn: DatabaseSync) => {
    const cache = new Map<string, ReturnType<DatabaseSync['prepare']>>();
    return (text: string) => {
      let st = cache.get(text);
      if (!st) cache.set(text, (st = conn.prepare(text)));
      return st;
    };
  };
  const sql = statements(db);
  const ephSql = statements(eph);
  /** Runs `fn` synchronously (so it never interleaves with another call) and maps driver errors to codes. */
  const run = async <T>(fn: () => T): Promise<T> => {
    if (closed) throw new StoreClosedError();
    try {
      return fn();
    } catch (e) {
      throw wrap(e);
    }
  };
  let changesSeen = 0;
  // The WAL commit number of the last commit that created or linked a credential (or its person).
  let identityCommit = 0;
  const totalChanges = () => Number(sql('SELECT total_changes() AS n').get()!.n);
  /**
   * {@link run} on the durable file: answers once what `fn` committed, and any commit `fn` may have read, is on
   * disk. `identity` marks a write that creates or links credentials; `identityRead` a read of credentials, which
   * then waits only for those writes (who is behind a card must never be read before it is durable, but a login
   * need not wait for other people's audit rows and grants). `anyWriter` marks a read whose answer must be durable
   * whoever wrote it (another process too, e.g. `mynagate audit anchor` beside the provider): it waits for a sync
   * begun after the read, which covers every frame of the WAL file, not only this process's commits.
   */
  const runDurable = async <T>(fn: () => T, kind?: 'identity' | 'identityRead' | 'anyWriter'): Promise<T> => {
    // The commit is numbered in the same synchronous step as the statement, so no other call comes between.
    const result = await run(() => {
      const r = fn();
      if (wal !== undefined) {
        const changes = totalChanges();
        // A read of what any process wrote counts as a commit here: the sync that answers it begins after the read.
        if (changes !== changesSeen || kind === 'anyWriter') {
          changesSeen = changes;
          const commit = wal.committed();
          if (kind === 'identity') identityCommit = commit;
        }
      }
      return r;
    });
    if (wal !== undefined) {
      try {
        await wal.durable(kind === 'identityRead' ? identityCommit : undefined);
      } catch (e) {
        throw new StoreFailedError('SQLite commit could not be made durable', { cause: e });
      }
    }
    return result;
  };
  const inTx = <T>(conn: DatabaseSync, fn: () => T): T => {
    conn.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      conn.exec('COMMIT');
      return result;
    } catch (e) {
      // SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR); a second ROLLBACK would mask e.
      if (conn.isTransaction) conn.exec('ROLLBACK');
      throw e;
    }
  };
  const tx = <T>(fn: () => T): T => inTx(db, fn);
  const ephTx = <T>(fn: () => T): T => inTx(eph, fn);

  // Erasure (see the top of this file). Both pragmas act when their statement is prepared, not when it runs, so they
  // go through `exec` each time, never the statement cache.
  /** Runs `fn` (a statement on the durable file) with `secure_delete` ON: the pages it frees are zeroed. */
  const zeroingFreed = <T>(fn: () => T): T => {
    db.exec('PRAGMA secure_delete = ON');
    try {
      return fn();
    } finally {
      db.exec('PRAGMA secure_delete = FAST');
    }
  };
  const erasesWal = inWal(db, options.path);
  let erasurePending = false;
  let erasureTimer: ReturnType<typeof setTimeout> | undefined;
  let lastErasure = -Infinity;
  /**
   * Checkpoints the durable file and empties its WAL file, without waiting for a lock (busy_timeout 0: the event loop
   * must not sleep on another process's reader); whether it did.
   */
  const truncateWal = (): boolean => {
    db.exec('PRAGMA busy_timeout = 0');
    try {
      return Number(db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get()?.busy) === 0;
    } finally {
      db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    }
  };
  const erase = (): void => {
    erasureTimer = undefined;
    if (closed || !erasurePending) return;
    lastErasure = performance.now();
    let done = false;
    try {
      done = truncateWal();
    } catch {
      // Busy or failed: retried after the interval, as when another connection holds the file.
    }
    if (done) erasurePending = false;
    else scheduleErasure();
  };
  /** Notes that a committed delete removed an erased model's row: its old frames leave the WAL file soon. */
  const scheduleErasure = (): void => {
    if (!erasesWal || closed) return;
    erasurePending = true;
    if (erasureTimer !== undefined) return;
    erasureTimer = setTimeout(erase, Math.max(0, lastErasure + erasureIntervalMs - performance.now()));
    erasureTimer.unref();
  };

  // Expired rows go in chunks, oldest first, each chunk one short statement (SQLITE_SWEEP_CHUNK).
  const chunkOf = (q: typeof sql, text: string) => () => Number(q(text).run(now()).changes);
  // The durable file's chunk may hold verified identities: zeroed, and erased from the WAL file.
  const durableChunk = (): number => {
    const models = zeroingFreed(() => sql(SWEEP_OIDC_MODELS).all(now()));
    if (models.some((row) => ERASED_MODELS.has(String(row.model)))) scheduleErasure();
    return models.length;
  };
  const sweepChunks = [durableChunk, chunkOf(ephSql, SWEEP_OIDC), chunkOf(ephSql, SWEEP_ONE_SHOT)];
  /** One chunk of each table; whether any table may have more. */
  const sweepStep = (): { deleted: number; more: boolean } => {
    if (closed) throw new StoreClosedError();
    let deleted = 0;
    let more = false;
    try {
      for (const chunk of sweepChunks) {
        const n = chunk();
        deleted += n;
        if (n === SQLITE_SWEEP_CHUNK) more = true;
      }
    } catch (e) {
      throw wrap(e);
    }
    return { deleted, more };
  };
  const sweep = (): number => {
    let total = 0;
    for (let step = sweepStep(); ; step = sweepStep()) {
      total += step.deleted;
      if (!step.more) return total;
    }
  };
  /** The timer's sweep: a chunk per table, then the event loop runs (requests, I/O) before the next chunk. */
  let sweeping = false;
  const sweepInBackground = (): void => {
    if (sweeping || closed) return;
    sweeping = true;
    const next = (): void => {
      let more = false;
      try {
        more = !closed && sweepStep().more;
      } catch {
        // Busy (another process writes): the next sweep retries, and reads ignore expired rows anyway.
      }
      if (more) setImmediate(next);
      else sweeping = false;
    };
    next();
  };
  const timer = sweepIntervalMs > 0 ? setInterval(sweepInBackground, sweepIntervalMs) : undefined;
  timer?.unref();

  const adapter = (model: string): Adapter => {
    assertKey(model, 'model');
    // The file follows the model: short-lived ones in the ephemeral file, the rest fsynced.
    const ephemeral = EPHEMERAL_MODELS.has(model);
    const q = ephemeral ? ephSql : sql;
    const exec = ephemeral ? run : runDurable;
    // A verified identity's row: what a statement deletes or replaces of it is zeroed, then erased from the WAL file.
    const erased = !ephemeral && ERASED_MODELS.has(model);
    const removing = (fn: () => { changes: number | bigint }): void => {
      if (!erased) return void fn();
      if (Number(zeroingFreed(fn).changes) > 0) scheduleErasure();
    };
    // Reads do not wait for the group fsync. A durable model's row is written by a request that answers only once
    // it is on disk, so a row another request can name (by a cookie, a token or a grant id it was given) is durable
    // already; what a read could see early is only a concurrent rewrite of it, which its writer is still waiting
    // to make durable. Waiting here would make every read wait for every other login's commits.
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
              q(`SELECT payload, consumed_at FROM oidc ${BY_COLUMN[column]} AND ${live} LIMIT 1`).get(
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
        return exec(() => {
          // Replacing an identity removes the old one (whose claims may be more than the new one's).
          const replaces = erased && q(`SELECT 1 FROM oidc ${BY_COLUMN.id}`).get(model, id) !== undefined;
          const write = () =>
            q(
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
          if (replaces) removing(write);
          else write();
        });
      },
      find: (id) => findBy('id', id),
      findByUid: (uid) => findBy('uid', uid),
      findByUserCode: (userCode) => findBy('user_code', userCode),
      consume: (id) =>
        exec(() => {
          const t = now();
          const r = q(
            `UPDATE oidc SET consumed_at = ? WHERE model = ? AND id = ? AND consumed_at IS NULL AND ${live}`,
          ).run(epochSeconds(t), model, id, t);
          if (Number(r.changes) !== 1) throw new StoreAlreadyConsumedError(model);
        }),
      destroy: (id) => exec(() => removing(() => q('DELETE FROM oidc WHERE model = ? AND id = ?').run(model, id))),
      revokeByGrantId: (grantId) =>
        exec(() => removing(() => q(`DELETE FROM oidc ${BY_COLUMN.grant_id}`).run(model, grantId))),
    };
  };

  const MARK = encodeValue('1');
  /** Stores `text` (encoded) under `key` until `expiresAt` (epoch ms), replacing any value. */
  const upsert = (key: string, text: string, expiresAt: number): void => {
    ephSql(
      `INSERT INTO one_shot (key, value, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    ).run(key, text, expiresAt);
  };
  /** The live value under `key` at `t` (epoch ms), still encoded. */
  const live = (key: string, t: number): string | undefined => {
    const row = ephSql('SELECT value FROM one_shot WHERE key = ? AND expires_at > ?').get(key, t);
    return row === undefined ? undefined : String(row.value);
  };
  /**
   * Writes `value` unless the key holds a live value (`sameToo`: a live value other than this one), in one statement
   * under the write lock (`putIfAbsent`, `renew`): of two writers, one sees the other's row. Resolves whether it wrote.
   */
  const writeUnlessHeld = (key: string, ttlSeconds: number, value: string | object, sameToo: boolean) => {
    assertKey(key);
    const ttl = ttlToMs(ttlSeconds);
    const text = encodeValue(value);
    return run(() => {
      const t = now();
      const row = ephSql(
        `INSERT INTO one_shot (key, value, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
           WHERE one_shot.expires_at <= ?${sameToo ? ' OR one_shot.value = excluded.value' : ''}
         RETURNING key`,
      ).get(key, text, t + ttl, t);
      return row !== undefined;
    });
  };
  const oneShot: OneShotStore = {
    put: (key, value, ttlSeconds) => {
      assertKey(key);
      const ttl = ttlToMs(ttlSeconds);
      const text = encodeValue(value);
      return run(() => upsert(key, text, now() + ttl));
    },
    // DELETE … RETURNING is one statement under the write lock: two takers cannot both see the row.
    take: <T extends OneShotValue>(key: string) =>
      run(() => {
        const row = ephSql('DELETE FROM one_shot WHERE key = ? RETURNING value, expires_at').get(key);
        return row && Number(row.expires_at) > now() ? (decodeValue(String(row.value)) as T) : undefined;
      }),
    takeMarking: <T extends OneShotValue>(key: string, markKey: string, markTtlSeconds: number) => {
      assertKey(markKey);
      const ttl = ttlToMs(markTtlSeconds);
      return run(() =>
        ephTx(() => {
          const row = ephSql('DELETE FROM one_shot WHERE key = ? RETURNING value, expires_at').get(key);
          const t = now();
          if (!row || Number(row.expires_at) <= t) return undefined;
          upsert(markKey, MARK, t + ttl);
          return decodeValue(String(row.value)) as T;
        }),
      );
    },
    get: <T extends OneShotValue>(key: string) =>
      run(() => {
        const value = live(key, now());
        return value === undefined ? undefined : (decodeValue(value) as T);
      }),
    // One statement: a read of several keys sees one snapshot of the file.
    getMany: (keys) => {
      assertKeys(keys, ONE_SHOT_MANY_MAX);
      return run(() => {
        const rows = ephSql(
          `SELECT key, value FROM one_shot WHERE key IN (${placeholders(keys.length)}) AND expires_at > ?`,
        ).all(...keys, now());
        const found = new Map(rows.map((r) => [String(r.key), String(r.value)]));
        return keys.map((k) => {
          const value = found.get(k);
          return value === undefined ? undefined : decodeValue(value);
        });
      });
    },
    delete: (key) =>
      run(() => {
        const row = ephSql('DELETE FROM one_shot WHERE key = ? RETURNING expires_at').get(key);
        return row !== undefined && Number(row.expires_at) > now();
      }),
    // One statement under the write lock, as `take`: of two callers naming the value, one sees the row.
    deleteIf: (key, value) => {
      assertKey(key);
      if (typeof value !== 'string') throw new TypeError('value must be a string');
      const text = encodeValue(value);
      return run(() => {
        const row = ephSql('DELETE FROM one_shot WHERE key = ? AND value = ? AND expires_at > ? RETURNING key').get(
          key,
          text,
          now(),
        );
        return row !== undefined;
      });
    },
    putIfAbsent: (key, ttlSeconds, value = '1') => writeUnlessHeld(key, ttlSeconds, value, false),
    renew: (key, ttlSeconds, value) => {
      if (typeof value !== 'string') throw new TypeError('value must be a string');
      return writeUnlessHeld(key, ttlSeconds, value, true);
    },
    // One transaction under the write lock: the stop key and the previous value are read as the write sees them.
    putUnless: (key, ttlSeconds, value, unlessKey) => {
      assertKey(key);
      assertKey(unlessKey);
      if (typeof value !== 'string') throw new TypeError('value must be a string');
      const ttl = ttlToMs(ttlSeconds);
      const text = encodeValue(value);
      return run(() =>
        ephTx(() => {
          const t = now();
          if (live(unlessKey, t) !== undefined) return { written: false, previous: undefined };
          const previous = live(key, t);
          upsert(key, text, t + ttl);
          return { written: true, previous: previous === undefined ? undefined : decodeValue(previous) };
        }),
      );
    },
    // One transaction under the write lock, one commit.
    putDeleting: (key, ttlSeconds, value, deleteKeys) => {
      assertKey(key);
      assertKeys(deleteKeys, ONE_SHOT_MANY_MAX, 'deleteKeys', key);
      const ttl = ttlToMs(ttlSeconds);
      const text = encodeValue(value);
      return run(() =>
        ephTx(() => {
          upsert(key, text, now() + ttl);
          ephSql(`DELETE FROM one_shot WHERE key IN (${placeholders(deleteKeys.length)})`).run(...deleteKeys);
        }),
      );
    },
    incr: (key, ttlSeconds) => {
      assertKey(key);
      const ttl = ttlToMs(ttlSeconds);
      return run(() => {
        const t = now();
        const row = ephSql(
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
    // By id without the durability wait: a person id is handed out only once its row is on disk (the creation
    // below answers after the fsync), so the row named is durable; only credential lookups race with creation.
    findPerson: (personId) =>
      run(() => {
        const row = sql('SELECT * FROM people WHERE id = ?').get(personId);
        return row ? toPerson(row) : undefined;
      }),
    findCredentialByFingerprint: (fp) => {
      assertFingerprint(fp);
      return runDurable(() => credentialByFp(fp), 'identityRead');
    },
    findCredentialBySerial: (issuer, serial) =>
      runDurable(() => {
        // The UNIQUE (issuer, serial) index answers it.
        const row = sql('SELECT * FROM credentials WHERE issuer = ? AND serial = ?').get(
          String(issuer),
          String(serial),
        );
        return row ? toCredential(row) : undefined;
      }, 'identityRead'),
    listCredentials: (personId) =>
      runDurable(
        () => sql('SELECT * FROM credentials WHERE person_id = ? ORDER BY created_at').all(personId).map(toCredential),
        'identityRead',
      ),
    createPersonWithCredential: (c) => {
      assertNewCredential(c);
      return runDurable(
        () =>
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
        'identity',
      );
    },
    addCredential: (personId, c) => {
      assertId(personId, 'personId');
      assertNewCredential(c);
      return runDurable(
        () =>
          tx(() => {
            if (!sql('SELECT 1 FROM people WHERE id = ?').get(personId)) throw new StoreNotFoundError('person');
            return insertCredential(personId, c);
          }),
        'identity',
      );
    },
    linkCredential: (oldFp, c) => {
      assertFingerprint(oldFp);
      assertNewCredential(c);
      return runDurable(
        () =>
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
        'identity',
      );
    },
    touchCredential: (fp) => {
      assertFingerprint(fp);
      return runDurable(() => {
        const r = sql('UPDATE credentials SET last_used_at = ? WHERE fingerprint = ?').run(now(), fp);
        if (Number(r.changes) !== 1) throw new StoreNotFoundError('credential');
      });
    },
    relabelCredentialIssuer: (name, fp) => {
      assertIssuerName(name);
      assertFingerprint(fp);
      return runDurable(
        () => Number(sql('UPDATE credentials SET issuer = ? WHERE issuer = ?').run(fp, name).changes),
        'identity',
      );
    },
    recordConsent: (c) => {
      assertNewConsent(c);
      return runDurable(() => {
        if (!sql('SELECT 1 FROM people WHERE id = ?').get(c.personId)) throw new StoreNotFoundError('person');
        const row = sql(
          `INSERT INTO consents (id, person_id, client_id, scopes, claims, text_shown, granted_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        ).get(newId(), c.personId, c.clientId, JSON.stringify(c.scopes), JSON.stringify(c.claims), c.textShown, now());
        return toConsent(row!);
      });
    },
    withdrawConsent: (personId, clientId) =>
      runDurable(() =>
        Number(
          sql(
            'UPDATE consents SET withdrawn_at = ? WHERE person_id = ? AND client_id = ? AND withdrawn_at IS NULL',
          ).run(now(), personId, clientId).changes,
        ),
      ),
    listConsents: (personId) =>
      runDurable(() =>
        sql('SELECT * FROM consents WHERE person_id = ? ORDER BY granted_at, rowid').all(personId).map(toConsent),
      ),
    appendAudit: (e, options) => {
      assertAuditEvent(e);
      const touch = touchOption(options);
      const data = canonicalJson(e.data ?? {});
      return runDurable(() =>
        tx(() => {
          const last = sql('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get();
          const { row, prevHash, hash } = nextAuditRow(last, e, data, now());
          if (touch !== undefined)
            sql('UPDATE credentials SET last_used_at = ? WHERE fingerprint = ?').run(row.at, touch);
          const inserted = sql(
            `INSERT INTO audit (seq, at, type, person_id, client_id, data, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
          ).get(row.seq, row.at, row.type, row.personId, row.clientId, data, prevHash, hash);
          return toAudit(inserted!);
        }),
      );
    },
    listAudit: (personId) =>
      runDurable(() => sql('SELECT * FROM audit WHERE person_id = ? ORDER BY seq').all(personId).map(toAudit)),
    auditHashAt: (seq) =>
      run(() => {
        if (!Number.isSafeInteger(seq) || seq < 1) throw new TypeError('seq must be a positive integer');
        const row = sql('SELECT hash FROM audit WHERE seq = ?').get(seq);
        return row === undefined ? undefined : String(row.hash);
      }),
    // Durable whoever wrote the rows, so an anchor never names a row that a power loss could still take back.
    auditHead: () =>
      runDurable(() => {
        const row = sql('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get();
        return row === undefined ? undefined : { seq: Number(row.seq), hash: String(row.hash) };
      }, 'anyWriter'),
    verifyAuditChain: () =>
      runDurable(() => {
        const verifier = chainVerifier();
        for (const row of sql('SELECT * FROM audit ORDER BY seq').iterate()) verifier.push(toAudit(row));
        return verifier.result();
      }, 'anyWriter'),
    close: async () => close(),
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    // The last erasure, if one is still due: closing empties the WAL file only when no other connection has it open.
    if (erasurePending) erase();
    clearTimeout(erasureTimer);
    closed = true;
    clearInterval(timer);
    await checkpointer?.close();
    await wal?.close();
    db.close();
    eph.close();
  };

  return { adapter, oneShot, records, sweep, close };
}

/**
 * Makes the database file readable by its owner only (created so, or narrowed): it holds verified identities and the
 * audit. SQLite gives its `-wal` and `-shm` files the database file's permissions.
 */
function ownerOnly(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  }
}

/** `?, ?, …`: `n` statement parameters (a statement is cached per text, so one per count). */
function placeholders(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

/** Opens one file in WAL mode with the given `synchronous` and migrates it. */
function openFile(
  path: string,
  busyTimeoutMs: number,
  synchronous: 'FULL' | 'NORMAL',
  migrations: readonly string[],
  existing = false,
): DatabaseSync {
  let db: DatabaseSync;
  try {
    if (path !== ':memory:') ownerOnly(path);
    db = new DatabaseSync(path);
  } catch (e) {
    throw new StoreUnavailableError('cannot open the SQLite database', {
      cause: e,
    });
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    // Deleted rows (a verified identity gone with its grant, an expired session) are zeroed in the pages a delete
    // writes anyway, rather than left readable in free space until reused.
    db.exec('PRAGMA secure_delete = FAST');
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${synchronous}`);
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db, migrations, existing ? path : undefined);
  } catch (e) {
    db.close();
    throw wrap(e);
  }
  return db;
}

/**
 * Applies pending migrations in one write transaction, so two processes opening a fresh file do not race. With
 * `existing` (the file's path), a pending migration is `ERR_STORE_MISSING` instead.
 */
function migrate(db: DatabaseSync, migrations: readonly string[], existing?: string): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    const version = Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
    if (version > migrations.length) throw new StoreSchemaError(version, migrations.length);
    if (existing !== undefined && version < migrations.length)
      throw new StoreMissingError(`${existing} is at schema version ${version}, not ${migrations.length}`);
    for (let v = version; v < migrations.length; v++) db.exec(migrations[v]!);
    db.exec(`PRAGMA user_version = ${migrations.length}`);
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
