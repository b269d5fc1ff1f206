/**
 * Login challenges (Web eID's nonce, intl-anchors §1.2 step 7): 32 random bytes in base64, short-lived, bound to
 * one browser session, consumed atomically exactly once. A token signed for one challenge is worthless for
 * another, and a challenge issued to one session is worthless in another (login CSRF, §1.2 step 7).
 */
import { randomBytes } from 'node:crypto';
import { ChallengeError } from './errors.ts';

/** One issued challenge. */
export interface Challenge {
  /** 32 random bytes, standard base64 (44 characters). The card signs SHA-256 of this string's UTF-8 bytes. */
  readonly nonce: string;
  /** The browser session it was issued to. */
  readonly sessionId: string;
  /** ms since the epoch. */
  readonly issuedAt: number;
  /** ms since the epoch. */
  readonly expiresAt: number;
}

/**
 * Where challenges live between issue and use. `take` must be atomic: under any concurrency, one nonce is handed
 * out at most once (Redis `GETDEL`, SQL `DELETE … RETURNING`).
 */
export interface ChallengeStore {
  /** Stores a newly issued challenge. */
  put(challenge: Challenge): Promise<void>;
  /**
   * Consumes `nonce` for `sessionId` at `now` (ms).
   *
   * @throws ChallengeError `ERR_PKI_CHALLENGE_NOT_FOUND`, `ERR_PKI_CHALLENGE_EXPIRED`, `ERR_PKI_CHALLENGE_USED`,
   *   `ERR_PKI_CHALLENGE_WRONG_SESSION`
   */
  take(nonce: string, sessionId: string, now: number): Promise<Challenge>;
}

/** Default lifetime of a challenge: 5 minutes (Web eID's default nonce TTL). */
export const DEFAULT_CHALLENGE_TTL_MS = 5 * 60_000;

/**
 * Mints a challenge for `sessionId`: 32 bytes from the CSPRNG, base64.
 *
 * @throws TypeError when `sessionId` is empty or `ttlMs` not positive.
 * @example
 * ```ts
 * const c = newChallenge(session.id, Date.now());
 * await store.put(c);
 * ```
 */
export function newChallenge(sessionId: string, now: number, ttlMs = DEFAULT_CHALLENGE_TTL_MS): Challenge {
  if (typeof sessionId !== 'string' || sessionId.length === 0)
    throw new TypeError('sessionId must be a non-empty string');
  if (!(ttlMs > 0)) throw new TypeError('ttlMs must be positive');
  return Object.freeze({
    nonce: randomBytes(32).toString('base64'),
    sessionId,
    issuedAt: now,
    expiresAt: now + ttlMs,
  });
}

const SWEEP_GRACE_MS = DEFAULT_CHALLENGE_TTL_MS;

interface Entry {
  readonly challenge: Challenge;
  used: boolean;
}

/**
 * A `ChallengeStore` in process memory, for one-process deployments and tests. A consumed challenge is kept as
 * "used" until 5 minutes past its expiry so a replay is reported as `ERR_PKI_CHALLENGE_USED` (or `EXPIRED`); then
 * it is swept and a replay reads `ERR_PKI_CHALLENGE_NOT_FOUND`. A challenge presented from another session is burnt: its nonce has
 * leaked, so it must not serve its own session either.
 */
export class MemoryChallengeStore implements ChallengeStore {
  readonly #entries = new Map<string, Entry>();
  #nextSweep = 0;

  async put(challenge: Challenge): Promise<void> {
    if (this.#entries.has(challenge.nonce)) throw new TypeError('duplicate challenge nonce');
    this.#sweep(challenge.issuedAt);
    this.#entries.set(challenge.nonce, { challenge, used: false });
  }

  async take(nonce: string, sessionId: string, now: number): Promise<Challenge> {
    this.#sweep(now);
    // Synchronous from lookup to mark: atomic within the event loop.
    const e = this.#entries.get(nonce);
    if (!e) throw new ChallengeError('ERR_PKI_CHALLENGE_NOT_FOUND', 'challenge not found');
    if (e.challenge.expiresAt <= now) {
      throw new ChallengeError('ERR_PKI_CHALLENGE_EXPIRED', 'challenge expired');
    }
    if (e.used) throw new ChallengeError('ERR_PKI_CHALLENGE_USED', 'challenge already used');
    e.used = true;
    if (e.challenge.sessionId !== sessionId)
      throw new ChallengeError('ERR_PKI_CHALLENGE_WRONG_SESSION', 'challenge belongs to another session');
    return e.challenge;
  }

  /** Number of entries held (used ones included), for tests and metrics. */
  get size(): number {
    return this.#entries.size;
  }

  #sweep(now: number): void {
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + 10_000;
    // Kept one grace period past expiry so a late use reads EXPIRED and a replay USED, not NOT_FOUND.
    for (const [k, e] of this.#entries) if (e.challenge.expiresAt + SWEEP_GRACE_MS <= now) this.#entries.delete(k);
  }
}
