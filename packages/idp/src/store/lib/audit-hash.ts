/**
 * The audit hash chain: `hash = SHA-256(prevHash ‖ canonical row)`. The canonical row is JSON with keys sorted at
 * every level, so the hash recomputes identically from SQLite and PostgreSQL rows.
 */
import { createHash } from 'node:crypto';
import { StoreAuditChainError } from '../errors.ts';
import type { AuditRecord } from '../types.ts';
import { auditRowOf } from './rows.ts';

/** `prevHash` of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** The hashed fields of a row; `at` is epoch milliseconds. */
export interface AuditRow {
  seq: number;
  at: number;
  type: string;
  personId: string | null;
  clientId: string | null;
  data: Record<string, unknown>;
}

/** JSON with object keys sorted recursively; throws a TypeError for values JSON cannot carry exactly. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError('audit data must not contain NaN/Infinity');
    if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol') {
      throw new TypeError('audit data must be JSON');
    }
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/**
 * The row that follows `last` (the chain head read under the store's append lock, or none for the first row): its
 * fields, the canonical `data` text stored with it, and its chain hashes. One computation for both stores.
 */
export function nextAuditRow(
  last: Readonly<Record<string, unknown>> | undefined,
  event: { readonly type: string; readonly personId?: string | null; readonly clientId?: string | null },
  data: string,
  at: number,
): { readonly row: AuditRow; readonly prevHash: string; readonly hash: string } {
  const row: AuditRow = {
    seq: last ? Number(last['seq']) + 1 : 1,
    at,
    type: event.type,
    personId: event.personId ?? null,
    clientId: event.clientId ?? null,
    data: JSON.parse(data) as Record<string, unknown>,
  };
  const prevHash = last ? String(last['hash']) : GENESIS_HASH;
  return { row, prevHash, hash: auditHash(prevHash, row) };
}

/** The row's hash as 64 lowercase hex digits. */
export function auditHash(prevHash: string, row: AuditRow): string {
  const { before, after } = canonicalAround(row);
  return createHash('sha256')
    .update(Buffer.from(prevHash, 'hex'))
    .update(`${before}${canonicalJson(row.seq)}${after}`, 'utf8')
    .digest('hex');
}

/**
 * The canonical row (`canonicalJson`) as the text before and after its `seq`, so that a store which numbers the row
 * itself (PostgreSQL, under its lock) hashes `before ‖ seq ‖ after` to the same text. `seq` is the fifth of the six
 * keys in sorted order (`at`, `clientId`, `data`, `personId`, `seq`, `type`).
 */
export function canonicalAround(row: Omit<AuditRow, 'seq'>): { readonly before: string; readonly after: string } {
  const part = (value: unknown): string => {
    // An undefined member is left out of canonicalJson's object, so it has no place to splice around.
    if (value === undefined) throw new TypeError('audit row members must not be undefined');
    return canonicalJson(value);
  };
  return {
    before: `{"at":${part(row.at)},"clientId":${part(row.clientId)},"data":${part(row.data)},"personId":${part(row.personId)},"seq":`,
    after: `,"type":${part(row.type)}}`,
  };
}

/**
 * An incremental chain check, fed rows in `seq` order (so PostgreSQL can page through a large log). Throws
 * `ERR_STORE_AUDIT_CHAIN` at the first row whose `prevHash` is not the previous `hash` or whose `hash` does not
 * recompute. Removing the newest rows is not detectable from the log alone: anchor `head` elsewhere for that.
 */
export function chainVerifier() {
  let head = GENESIS_HASH;
  let count = 0;
  return {
    push(rec: AuditRecord): void {
      if (rec.prevHash !== head || auditHash(rec.prevHash, auditRowOf(rec)) !== rec.hash) {
        throw new StoreAuditChainError(rec.seq);
      }
      head = rec.hash;
      count++;
    },
    result: () => ({ count, head }),
  };
}
