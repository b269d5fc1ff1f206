/**
 * The demo service's own accounts, keyed by the pairwise `sub` MynaGate gives it. The card is the bot barrier: one
 * card is one person is one `sub` for this service, so signing up twice with the same card finds the same account.
 * The demo stores nothing else about the person.
 */
import { DatabaseSync } from 'node:sqlite';

/** One account of the demo service. */
export interface DemoAccount {
  /** The service's own account number, e.g. `DEMO-000001`. */
  readonly number: string;
  /** The pairwise subject identifier MynaGate issued for this service. */
  readonly sub: string;
  readonly createdAt: Date;
  readonly lastLoginAt: Date;
  readonly logins: number;
}

/** The account store. */
export interface DemoAccounts {
  /**
   * Finds the account of `sub` or opens one, in one transaction: two sign-ups with one card make one account.
   * `created` says whether this call opened it.
   */
  signIn(sub: string, now: Date): { readonly account: DemoAccount; readonly created: boolean };
  find(number: string): DemoAccount | undefined;
  close(): void;
}

interface Row {
  id: number;
  sub: string;
  created_at: number;
  last_login_at: number;
  logins: number;
}

/**
 * Opens (creating if needed) the account database at `path` (`:memory:` for tests).
 *
 * @example
 * ```ts
 * const accounts = openDemoAccounts(join(dataDir, 'demo.db'));
 * const { account, created } = accounts.signIn(claims.sub, new Date());
 * ```
 */
export function openDemoAccounts(path: string): DemoAccounts {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS account (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      sub TEXT NOT NULL UNIQUE,
      created_at INTEGER NOT NULL,
      last_login_at INTEGER NOT NULL,
      logins INTEGER NOT NULL
    )`);
  // Look-up and insert run in one write transaction, and the UNIQUE constraint backs it: one sub, one account.
  const insert = db.prepare('INSERT INTO account (sub, created_at, last_login_at, logins) VALUES (?, ?, ?, 1)');
  const touch = db.prepare('UPDATE account SET last_login_at = ?, logins = logins + 1 WHERE sub = ?');
  const bySub = db.prepare('SELECT * FROM account WHERE sub = ?');
  const byId = db.prepare('SELECT * FROM account WHERE id = ?');
  const toAccount = (r: Row): DemoAccount =>
    Object.freeze({
      number: `DEMO-${String(r.id).padStart(6, '0')}`,
      sub: r.sub,
      createdAt: new Date(r.created_at),
      lastLoginAt: new Date(r.last_login_at),
      logins: r.logins,
    });
  return {
    signIn(sub, now) {
      if (typeof sub !== 'string' || sub === '') throw new TypeError('sub must be a non-empty string');
      db.exec('BEGIN IMMEDIATE');
      try {
        const created = bySub.get(sub) === undefined;
        if (created) insert.run(sub, now.getTime(), now.getTime());
        else touch.run(now.getTime(), sub);
        const account = toAccount(bySub.get(sub) as unknown as Row);
        db.exec('COMMIT');
        return { account, created };
      } catch (e) {
        db.exec('ROLLBACK');
        throw e;
      }
    },
    find(number) {
      const m = /^DEMO-(\d{6,})$/.exec(number);
      const row = m ? (byId.get(Number(m[1])) as unknown as Row | undefined) : undefined;
      return row === undefined ? undefined : toAccount(row);
    },
    close() {
      db.close();
    },
  };
}
