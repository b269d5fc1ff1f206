/**
 * Appending to the PostgreSQL audit chain, usually in one round trip.
 *
 * Each row carries `seq` (the primary key) and the hash of row `seq - 1`, so the chain stays unbroken whoever
 * writes: a row can only follow the head it was computed from, and the primary key lets exactly one row take each
 * `seq`. This node remembers the head it last wrote or read, and sends its next rows as one `INSERT` (its own
 * transaction: one round trip, one commit) computed from that head. When another node has appended meanwhile, the
 * `INSERT` fails on the primary key and changes nothing; the rows are then recomputed from the head read under the
 * advisory lock, and inserted in that transaction.
 *
 * Every `INSERT` takes that lock too, inside its statement. Without it, a node that lost a race could lose again and
 * again: between its reading the head and its `INSERT`, a busy node's lock-free `INSERT` took the next `seq` first
 * (measured: 20-50 of ~1 500 appends per node in 3 s refused with two nodes appending, each a failed login). With
 * it, nothing is inserted between the head read under the lock and the commit that follows.
 *
 * Appends made while one is being written wait and go together in the next `INSERT` (a group commit): under load
 * many logins share one round trip and one WAL flush, and this node never races itself.
 */
import type pg from 'pg';
import type { AuditEvent, AuditRecord } from '../types.ts';
import { nextAuditRow } from './audit-hash.ts';
import { toAudit } from './rows.ts';

/** Most rows in one `INSERT` (8 parameters each; PostgreSQL allows 65 535). */
const MAX_BATCH = 200;
/** Attempts under the lock before giving up (every `INSERT` takes the lock, so one is lost only by accident). */
const MAX_LOCKED_ATTEMPTS = 20;

type Row = Record<string, unknown>;

/** What the appender needs from the store. */
export interface AuditAppenderDeps {
  readonly pool: pg.Pool;
  /** The quoted schema. */
  readonly schema: string;
  /**
   * Runs `fn` in a transaction opened with `opening` in the same round trip; `fn` gets the rows of its last
   * statement (postgres.ts `tx`).
   */
  readonly tx: <T>(fn: (c: pg.PoolClient, opened: Row[]) => Promise<T>, opening: string) => Promise<T>;
  /** The query config of a statement (postgres.ts `preparedStatements`). */
  readonly statement: (text: string, values: unknown[]) => pg.QueryConfig;
  /** SQL that takes the audit advisory lock and then selects the head (`seq`, `hash`), or no row. */
  readonly lockAndReadHead: string;
  /** The SQL expression that takes the same lock (`pg_advisory_xact_lock(<key>)`), which every `INSERT` runs. */
  readonly lock: string;
  readonly now: () => number;
}

interface Pending {
  readonly event: AuditEvent;
  /** The event's canonical data text. */
  readonly data: string;
  /** A credential fingerprint whose last use is the row's time. */
  readonly touch: string | undefined;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

/** The head of the chain: the newest row's `seq` and `hash`. */
type Head = { readonly seq: unknown; readonly hash: unknown };

/**
 * Returns `append(event, data, touch?)`, which resolves once the event's row (and the last use of credential
 * `touch`) is committed. Rejections are the driver's
 * errors (the store wraps them).
 */
export function postgresAuditAppender(
  deps: AuditAppenderDeps,
): (event: AuditEvent, data: string, touch?: string) => Promise<AuditRecord> {
  const { pool, schema: s, now } = deps;
  // The head this node last committed or read; undefined when unknown (at start, after a lost race or any error,
  // whose outcome may be unknown): then the next write reads it under the lock.
  let head: Head | undefined;
  const queue: Pending[] = [];
  let writing = false;

  /** The rows following `last`, inserted through `c`; resolves the records and the new head. */
  async function insertAfter(
    c: Pick<pg.PoolClient, 'query'>,
    last: Head | undefined,
    batch: readonly Pending[],
  ): Promise<{ readonly records: AuditRecord[]; readonly head: Head }> {
    const at = now();
    const params: unknown[] = [];
    const tuples: string[] = [];
    const records: AuditRecord[] = [];
    let prev = last;
    for (const p of batch) {
      const { row, prevHash, hash } = nextAuditRow(prev, p.event, p.data, at);
      const n = params.push(row.seq, row.at, row.type, row.personId, row.clientId, p.data, prevHash, hash);
      tuples.push(
        `($${n - 7}::bigint, $${n - 6}::bigint, $${n - 5}::text, $${n - 4}::text, $${n - 3}::text, $${n - 2}::text, $${n - 1}::text, $${n}::text)`,
      );
      records.push(
        toAudit({
          seq: row.seq,
          at: row.at,
          type: row.type,
          person_id: row.personId,
          client_id: row.clientId,
          data: p.data,
          prev_hash: prevHash,
          hash,
        }),
      );
      prev = { seq: row.seq, hash };
    }
    const touches = batch.flatMap((p) => (p.touch === undefined ? [] : [p.touch]));
    // The credentials' last use in the same statement, so in the same commit as the rows.
    const touching =
      touches.length === 0
        ? ''
        : `WITH touched AS (UPDATE ${s}.credentials SET last_used_at = $${params.push(at)}
             WHERE fingerprint = ANY($${params.push(touches)}::text[])) `;
    await c.query(
      deps.statement(
        `${touching}INSERT INTO ${s}.audit (seq, at, type, person_id, client_id, data, prev_hash, hash)
       SELECT v.* FROM (VALUES ${tuples.join(', ')}) AS v, (SELECT ${deps.lock}) AS locked`,
        params,
      ),
    );
    return { records, head: prev! };
  }

  async function write(batch: readonly Pending[]): Promise<AuditRecord[]> {
    if (head !== undefined) {
      const known = head;
      head = undefined;
      try {
        const done = await insertAfter(pool, known, batch);
        head = done.head;
        return done.records;
      } catch (e) {
        if (!lostRace(e)) throw e;
      }
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const done = await deps.tx(
          (c, [last]) => insertAfter(c, last as Head | undefined, batch),
          deps.lockAndReadHead,
        );
        head = done.head;
        return done.records;
      } catch (e) {
        if (!lostRace(e) || attempt >= MAX_LOCKED_ATTEMPTS) throw e;
      }
    }
  }

  async function drain(): Promise<void> {
    writing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, MAX_BATCH);
        try {
          const records = await write(batch);
          for (let i = 0; i < batch.length; i++) batch[i]!.resolve(records[i]!);
        } catch (e) {
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      writing = false;
    }
  }

  return (event, data, touch) =>
    new Promise<AuditRecord>((resolve, reject) => {
      queue.push({ event, data, touch, resolve, reject });
      if (!writing) void drain();
    });
}

/** A unique violation on the audit's primary key: another writer took this `seq` first. */
function lostRace(e: unknown): boolean {
  const err = e as { code?: unknown; constraint?: unknown } | null;
  return err?.code === '23505' && err.constraint === 'audit_pkey';
}
