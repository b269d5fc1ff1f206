/**
 * The demo services' sessions: in memory, bounded, expiring, each with its own CSRF token. Two pools, as in
 * `@mynagate/rp`'s memory store: sessions before a login (anyone's, for one click on "sign up") live ten minutes and
 * evict only each other; a session gets a new id when its login completes (session fixation: the shop, on another
 * port of the same host, shares the bank's cookies, RFC 6265 §8.5) and then lives in the other pool.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** How long and how many. */
export interface SessionLimits {
  /** A session before its login, ms. The SDK's login transaction lives 600 s. */
  readonly anonymousTtlMs: number;
  /** A logged-in session unused this long ends, ms. */
  readonly idleTtlMs: number;
  /** A logged-in session ends this long after its login in any case, ms. */
  readonly absoluteTtlMs: number;
  /** Per pool; beyond it the least recently used session goes. */
  readonly maxPerPool: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = Object.freeze({
  anonymousTtlMs: 10 * 60_000,
  idleTtlMs: 60 * 60_000,
  absoluteTtlMs: 8 * 3600_000,
  maxPerPool: 10_000,
});

/** One browser's session. */
export interface SessionEntry<S> {
  readonly value: S;
  /** The token every state-changing form of this session carries (`csrf`). */
  readonly csrf: string;
  readonly loggedIn: boolean;
  /** Epoch ms: the end of its lifetime, moved on by use within the limits. */
  expiresAt: number;
  /** Epoch ms: when it was made (the login, for a logged-in one). */
  readonly createdAt: number;
}

/** The sessions of one service. */
export class DemoSessions<S> {
  readonly #now: () => number;
  readonly #limits: SessionLimits;
  readonly #anonymous = new Map<string, SessionEntry<S>>();
  readonly #loggedIn = new Map<string, SessionEntry<S>>();

  constructor(now: () => number, limits: SessionLimits = DEFAULT_SESSION_LIMITS) {
    this.#now = now;
    this.#limits = limits;
  }

  /** The live session of `id` (its use moves its idle expiry on), or undefined. */
  get(id: string | undefined): SessionEntry<S> | undefined {
    if (id === undefined) return undefined;
    const pool = this.#anonymous.has(id) ? this.#anonymous : this.#loggedIn;
    const entry = pool.get(id);
    if (entry === undefined) return undefined;
    const now = this.#now();
    if (entry.expiresAt <= now) {
      pool.delete(id);
      return undefined;
    }
    if (entry.loggedIn) {
      entry.expiresAt = Math.min(entry.createdAt + this.#limits.absoluteTtlMs, now + this.#limits.idleTtlMs);
    }
    pool.delete(id); // re-insert: Map order is the eviction order (least recently used first)
    pool.set(id, entry);
    return entry;
  }

  /** A new session before any login; its id. */
  create(value: S): string {
    return this.#add(value, false);
  }

  /** The session of `id` under a new id, logged in (after a login completes): the old id is worthless; the new id. */
  renew(id: string | undefined, value: S): string {
    this.delete(id);
    return this.#add(value, true);
  }

  delete(id: string | undefined): void {
    if (id === undefined) return;
    this.#anonymous.delete(id);
    this.#loggedIn.delete(id);
  }

  #add(value: S, loggedIn: boolean): string {
    const id = randomBytes(24).toString('base64url');
    const now = this.#now();
    const ttl = loggedIn ? Math.min(this.#limits.idleTtlMs, this.#limits.absoluteTtlMs) : this.#limits.anonymousTtlMs;
    const pool = loggedIn ? this.#loggedIn : this.#anonymous;
    pool.set(id, {
      value,
      csrf: randomBytes(24).toString('base64url'),
      loggedIn,
      expiresAt: now + ttl,
      createdAt: now,
    });
    for (const [oldest, entry] of pool) {
      if (pool.size <= this.#limits.maxPerPool && entry.expiresAt > now) break;
      pool.delete(oldest);
    }
    return id;
  }
}

/** Whether `given` (a form's `csrf`) is the session's token, compared in constant time. */
export function csrfMatches(entry: SessionEntry<unknown> | undefined, given: string | null): boolean {
  if (entry === undefined || given === null) return false;
  const a = Buffer.from(entry.csrf);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
