/**
 * In-process stores for development and unit tests: one process, nothing persisted. node-oidc-provider's own
 * in-memory adapter holds its models. Not for production (no durability, no sharing between nodes).
 *
 * What expires is deleted when it expires, not when next read: a verified identity is personal data that must not
 * outlive its TTL in a long-running development server (and the one-shot values are bounded the same way; a signing
 * outcome waits there only sealed to its browser, ekyc/sign-transaction.ts). A sweep runs every `sweepIntervalMs` while anything is stored (an unref'd timer, so it never
 * keeps the process alive), and on a write when the `now` clock says a sweep is due; each store keeps at most
 * `maxEntries`, dropping the oldest written beyond that.
 */
import { randomUUID } from 'node:crypto';
import type { IdentityStore, VerifiedIdentity } from './ekyc/identity-store.ts';
import type { LoginCredential, LoginCredentials } from './login-credentials.ts';
import type { CredentialInput, OneShotPort, PeoplePort, ProviderStores } from './ports.ts';
import { assertKey, assertKeys } from './store/lib/validate.ts';
import { ONE_SHOT_MANY_MAX } from './store/types.ts';

/** Expiry of the in-memory stores. */
export interface MemoryExpiryOptions {
  /** Epoch milliseconds, the clock entries expire by; defaults to `Date.now`. */
  readonly now?: () => number;
  /**
   * The longest an expired entry stays, in real milliseconds (the timer's period); a write also sweeps once this
   * much has passed by `now`. Default 1 000.
   */
  readonly sweepIntervalMs?: number;
  /**
   * The most entries kept; a write beyond it drops the oldest written. Default 100 000 (one-shot), 10 000
   * (identities).
   */
  readonly maxEntries?: number;
}

/**
 * Creates in-memory stores. `now` drives one-shot expiry.
 *
 * @example
 * ```ts
 * const stores = createMemoryStores({ now: () => Date.now() });
 * ```
 * @throws TypeError on a bad `sweepIntervalMs` or `maxEntries`.
 */
export function createMemoryStores(options: MemoryExpiryOptions = {}): ProviderStores {
  const oneShot = expiringMap<string>(options, 100_000);
  const oneShotPort: OneShotPort = {
    async put(key, value, ttlMs) {
      oneShot.set(key, value, ttlMs);
    },
    async get(key) {
      return oneShot.get(key);
    },
    async getMany(keys) {
      assertKeys(keys, ONE_SHOT_MANY_MAX);
      return keys.map((key) => oneShot.get(key));
    },
    async putDeleting(key, value, ttlMs, deleteKeys) {
      assertKey(key);
      assertKeys(deleteKeys, ONE_SHOT_MANY_MAX, 'deleteKeys', key);
      oneShot.set(key, value, ttlMs);
      for (const k of deleteKeys) oneShot.delete(k);
    },
    async take(key) {
      const value = oneShot.get(key);
      oneShot.delete(key);
      return value;
    },
    async takeMarking(key, markKey, markTtlMs) {
      const value = oneShot.get(key);
      oneShot.delete(key);
      if (value !== undefined) oneShot.set(markKey, '1', markTtlMs);
      return value;
    },
    async putIfAbsent(key, value, ttlMs) {
      if (oneShot.get(key) !== undefined) return false;
      oneShot.set(key, value, ttlMs);
      return true;
    },
    async renew(key, value, ttlMs) {
      const held = oneShot.get(key);
      if (held !== undefined && held !== value) return false;
      oneShot.set(key, value, ttlMs);
      return true;
    },
    async putUnless(key, value, ttlMs, unlessKey) {
      if (oneShot.get(unlessKey) !== undefined) return { written: false, previous: undefined };
      const previous = oneShot.get(key);
      oneShot.set(key, value, ttlMs);
      return { written: true, previous };
    },
    async deleteIf(key, value) {
      if (oneShot.get(key) !== value) return false;
      oneShot.delete(key);
      return true;
    },
    async delete(key) {
      oneShot.delete(key);
    },
  };

  const people = new Set<string>();
  // Fingerprint → person, issuer and serial.
  const credentials = new Map<
    string,
    { readonly personId: string; readonly issuer: string; readonly serial: string }
  >();
  const peoplePort: PeoplePort = {
    async findPersonByCredential(fingerprint) {
      return credentials.get(fingerprint)?.personId;
    },
    async createPersonWithCredential(credential: CredentialInput) {
      const existing = credentials.get(credential.fingerprint);
      if (existing !== undefined) return existing.personId;
      const id = randomUUID();
      people.add(id);
      credentials.set(credential.fingerprint, { personId: id, issuer: credential.issuer, serial: credential.serial });
      return id;
    },
    async linkCredential(oldFingerprint, credential) {
      const personId = credentials.get(oldFingerprint)?.personId;
      if (personId === undefined) throw new TypeError('no such credential');
      credentials.set(credential.fingerprint, { personId, issuer: credential.issuer, serial: credential.serial });
      return personId;
    },
    async credentialBySerial(issuer, serial) {
      for (const [fingerprint, c] of credentials) if (c.issuer === issuer && c.serial === serial) return fingerprint;
      return undefined;
    },
    async credentialRefs(personId) {
      return [...credentials.values()]
        .filter((c) => c.personId === personId)
        .map((c) => ({ issuer: c.issuer, serial: c.serial }));
    },
    async personExists(personId) {
      return people.has(personId);
    },
    async audit() {},
  };
  return Object.freeze({ adapter: undefined, oneShot: oneShotPort, people: peoplePort });
}

/** An in-memory {@link IdentityStore}, and how many identities it holds (expired ones included, until swept). */
export interface MemoryIdentityStore extends IdentityStore {
  readonly size: number;
}

/**
 * Verified identities in process memory (development: node-oidc-provider's in-memory adapter holds the grants), each
 * deleted once its TTL is over (within `sweepIntervalMs`), whether or not it is read again.
 *
 * @example
 * ```ts
 * const identities = memoryIdentityStore({ now: config.now });
 * await identities.put(identity, 3600);
 * ```
 * @throws TypeError on a bad `sweepIntervalMs` or `maxEntries`.
 */
export function memoryIdentityStore(options: MemoryExpiryOptions = {}): MemoryIdentityStore {
  const entries = expiringMap<VerifiedIdentity>(options, 10_000);
  return {
    get size() {
      return entries.size;
    },
    async put(identity, ttlSeconds) {
      entries.set(identity.grantId, identity, ttlSeconds * 1000);
    },
    async get(grantId) {
      return entries.get(grantId);
    },
    async delete(grantId) {
      entries.delete(grantId);
    },
  };
}

/**
 * The kept credentials of card logins in process memory (development: node-oidc-provider's in-memory adapter holds
 * the tokens), each deleted once its TTL is over. The held ones are in the one-shot store (login-credentials.ts).
 *
 * @example const logins = memoryLoginCredentials({ now: config.now });
 * @throws TypeError on a bad `sweepIntervalMs` or `maxEntries`.
 */
export function memoryLoginCredentials(options: MemoryExpiryOptions = {}): Pick<LoginCredentials, 'put' | 'get'> {
  const entries = expiringMap<LoginCredential>(options, 10_000);
  return {
    async put(login, ttlSeconds) {
      entries.set(`${login.accountId} ${login.loginTs}`, login, ttlSeconds * 1000);
    },
    async get(accountId, loginTs) {
      return entries.get(`${accountId} ${loginTs}`);
    },
  };
}

/** A map whose entries expire (see the top of this file). */
function expiringMap<V>(options: MemoryExpiryOptions, defaultMaxEntries: number) {
  const now = options.now ?? Date.now;
  const sweepIntervalMs = options.sweepIntervalMs ?? 1_000;
  const maxEntries = options.maxEntries ?? defaultMaxEntries;
  if (typeof now !== 'function') throw new TypeError('now must be a function');
  if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs < 1)
    throw new TypeError('sweepIntervalMs must be a positive integer');
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
  // In write order (a rewrite moves a key to the end), so the first entry is the one the cap drops.
  const entries = new Map<string, { readonly value: V; readonly expiresAt: number }>();
  let lastSweep = now();
  let timer: ReturnType<typeof setInterval> | undefined;
  const sweep = (): void => {
    const t = now();
    lastSweep = t;
    for (const [key, entry] of entries) if (entry.expiresAt <= t) entries.delete(key);
    // Nothing left to expire: no timer holds the map (nor runs) until the next write.
    if (entries.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    get size(): number {
      return entries.size;
    },
    get(key: string): V | undefined {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.expiresAt <= now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    set(key: string, value: V, ttlMs: number): void {
      const t = now();
      if (t - lastSweep >= sweepIntervalMs) sweep();
      entries.delete(key);
      entries.set(key, { value, expiresAt: t + ttlMs });
      // O(1): the timer takes care of the expired ones; at the cap, the oldest written goes, expired or not.
      for (const oldest of entries.keys()) {
        if (entries.size <= maxEntries) break;
        entries.delete(oldest);
      }
      if (timer === undefined) {
        timer = setInterval(sweep, sweepIntervalMs);
        timer.unref();
      }
    },
    delete(key: string): void {
      entries.delete(key);
      if (entries.size === 0 && timer !== undefined) {
        clearInterval(timer);
        timer = undefined;
      }
    },
  };
}
