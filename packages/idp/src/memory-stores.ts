/**
 * In-process stores for development and unit tests: one process, nothing persisted. node-oidc-provider's own
 * in-memory adapter holds its models. Not for production (no durability, no sharing between nodes).
 */
import { randomUUID } from 'node:crypto';
import type { CredentialInput, OneShotPort, PeoplePort, ProviderStores } from './ports.ts';

/**
 * Creates in-memory stores. `now` drives one-shot expiry.
 *
 * @example
 * ```ts
 * const stores = createMemoryStores({ now: () => Date.now() });
 * ```
 */
export function createMemoryStores(options: { readonly now?: () => number } = {}): ProviderStores {
  const now = options.now ?? Date.now;
  const oneShot = new Map<string, { value: string; expiresAt: number }>();
  const live = (key: string): string | undefined => {
    const entry = oneShot.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now()) {
      oneShot.delete(key);
      return undefined;
    }
    return entry.value;
  };
  const oneShotPort: OneShotPort = {
    async put(key, value, ttlMs) {
      oneShot.set(key, { value, expiresAt: now() + ttlMs });
    },
    async get(key) {
      return live(key);
    },
    async take(key) {
      const value = live(key);
      oneShot.delete(key);
      return value;
    },
    async takeMarking(key, markKey, markTtlMs) {
      const value = live(key);
      oneShot.delete(key);
      if (value !== undefined) oneShot.set(markKey, { value: '1', expiresAt: now() + markTtlMs });
      return value;
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
