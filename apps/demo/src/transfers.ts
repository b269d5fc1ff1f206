/**
 * The demo bank's transfers: a ledger per account, and the rule of the second story. A transfer up to the threshold
 * goes through on the login the session already has; above it, the bank wants the card again, just now (a step-up:
 * a fresh card login, `auth_time` newer than the request). The ledger records which kind each transfer had.
 */
import { DatabaseSync } from 'node:sqlite';

/** Above this many yen a transfer needs a fresh card login. */
export const STEP_UP_THRESHOLD_YEN = 100_000;
/** How old (seconds) the card login behind a large transfer may be (`max_age`). */
export const STEP_UP_MAX_AGE_SECONDS = 60;
/** Every demo account starts with this balance, yen. */
export const OPENING_BALANCE_YEN = 1_000_000;

/** One transfer out of an account. */
export interface DemoTransfer {
  readonly id: number;
  readonly account: string;
  /** The payee as typed (a fake name in the demo). */
  readonly payee: string;
  readonly amount: number;
  /** Whether a fresh card login stood behind it (large transfers only). */
  readonly freshCardLogin: boolean;
  readonly at: Date;
}

/** The ledger. */
export interface DemoTransfers {
  /** Records a transfer that has passed its checks. @throws TypeError on a bad amount or payee. */
  record(transfer: Omit<DemoTransfer, 'id'>): DemoTransfer;
  /** The account's balance: the opening balance less its transfers. */
  balance(account: string): number;
  close(): void;
}

/** Whether a transfer of `amount` yen needs a fresh card login. */
export function needsFreshCardLogin(amount: number): boolean {
  return amount > STEP_UP_THRESHOLD_YEN;
}

/**
 * Parses a transfer form's amount: whole yen, 1 to 10,000,000, digits only (commas allowed).
 *
 * @example parseAmount('150,000') // 150000
 */
export function parseAmount(text: string): number | undefined {
  const digits = text.replaceAll(',', '').trim();
  if (!/^[1-9]\d{0,7}$/.test(digits)) return undefined;
  const n = Number(digits);
  return n <= 10_000_000 ? n : undefined;
}

/**
 * Opens (creating if needed) the ledger in the SQLite file at `path` (`:memory:` for tests).
 *
 * @example
 * ```ts
 * const transfers = openDemoTransfers(join(dataDir, 'demo.db'));
 * transfers.record({ account: 'DEMO-000001', payee: '佐藤花子', amount: 5000, freshCardLogin: false, at: new Date() });
 * ```
 */
export function openDemoTransfers(path: string): DemoTransfers {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA journal_mode = WAL;
    PRAGMA busy_timeout = 2000;
    CREATE TABLE IF NOT EXISTS transfer (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      account TEXT NOT NULL,
      payee TEXT NOT NULL,
      amount INTEGER NOT NULL,
      fresh_card_login INTEGER NOT NULL,
      at INTEGER NOT NULL
    )`);
  const insert = db.prepare(
    'INSERT INTO transfer (account, payee, amount, fresh_card_login, at) VALUES (?, ?, ?, ?, ?) RETURNING id',
  );
  const spent = db.prepare('SELECT COALESCE(SUM(amount), 0) AS total FROM transfer WHERE account = ?');
  return {
    record(t) {
      if (!Number.isSafeInteger(t.amount) || t.amount <= 0) throw new TypeError('amount must be a positive integer');
      if (typeof t.payee !== 'string' || t.payee.trim() === '') throw new TypeError('payee must be a non-empty string');
      // A large transfer without a fresh card login is a programming error of the caller, not a decision.
      if (needsFreshCardLogin(t.amount) && !t.freshCardLogin) {
        throw new TypeError(`a transfer over ${STEP_UP_THRESHOLD_YEN} yen needs a fresh card login`);
      }
      const row = insert.get(t.account, t.payee, t.amount, t.freshCardLogin ? 1 : 0, t.at.getTime()) as {
        id: number;
      };
      return Object.freeze({ ...t, id: row.id });
    },
    balance(account) {
      return OPENING_BALANCE_YEN - Number((spent.get(account) as { total: number }).total);
    },
    close() {
      db.close();
    },
  };
}
