/**
 * Fits the storage package's stores (`store/open.ts`: SQLite, PostgreSQL, Redis) to what the provider needs
 * (`ports.ts`). The one-shot store counts in seconds; the provider's ports in milliseconds (rounded up here, so
 * nothing expires early).
 */
import { errors, type Adapter } from 'oidc-provider';
import type { ProviderStores } from './ports.ts';
import type { NewCredential, Stores } from './store/types.ts';

/**
 * How long a person seen to exist (found or created by a card login, or looked up) is taken to exist without asking
 * the store again. node-oidc-provider asks twice per login (when the interaction resumes and when the code is
 * redeemed), within a second or two of the card login that found the person: two store round trips saved per login.
 * People are never deleted today; whatever deletes one must also call `forgetPerson` on every node, and this bound
 * is how long another node may still take a deleted person to exist.
 */
export const PERSON_SEEN_MS = 30_000;
/** Most people remembered at once (oldest forgotten first). */
const PERSON_SEEN_MAX = 10_000;

/**
 * The provider's view of opened stores.
 *
 * @example
 * ```ts
 * const stores = await openStores({ kind: 'sqlite', path });
 * const idp = await startServer({ ...config, stores: providerStores(stores) });
 * ```
 */
export function providerStores(
  stores: Pick<Stores, 'adapter' | 'oneShot' | 'records'>,
  options: { readonly personSeenMs?: number } = {},
): ProviderStores {
  const personSeenMs = options.personSeenMs ?? PERSON_SEEN_MS;
  if (!(Number.isFinite(personSeenMs) && personSeenMs >= 0)) throw new TypeError('personSeenMs must be >= 0');
  const { oneShot, records } = stores;
  const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));
  const asString = (v: unknown): string | undefined =>
    v === undefined ? undefined : typeof v === 'string' ? v : JSON.stringify(v);
  const credential = (c: { fingerprint: string; serial: string; issuer: string; notAfter: Date }): NewCredential => ({
    kind: 'jpki-auth',
    fingerprint: c.fingerprint,
    serial: c.serial,
    issuer: c.issuer,
    notAfter: c.notAfter,
  });
  // Person id → until when (monotonic ms) it is taken to exist. Positive answers only: "no such person" is always
  // asked again.
  const seen = new Map<string, number>();
  const saw = (personId: string): string => {
    seen.delete(personId);
    if (seen.size >= PERSON_SEEN_MAX) seen.delete(seen.keys().next().value!);
    if (personSeenMs > 0) seen.set(personId, performance.now() + personSeenMs);
    return personId;
  };
  const result: ProviderStores = {
    adapter: (name: string) => sessionNotFoundWhenGone(name, stores.adapter(name) as unknown as Adapter),
    oneShot: {
      put: (key: string, value: string, ttlMs: number) => oneShot.put(key, value, seconds(ttlMs)),
      get: async (key: string) => asString(await oneShot.get(key)),
      take: async (key: string) => asString(await oneShot.take(key)),
      takeMarking: async (key: string, markKey: string, markTtlMs: number) =>
        asString(await oneShot.takeMarking(key, markKey, seconds(markTtlMs))),
      delete: async (key: string) => {
        await oneShot.delete(key);
      },
    },
    people: {
      findPersonByCredential: async (fingerprint: string) => {
        const personId = (await records.findCredentialByFingerprint(fingerprint))?.personId;
        return personId === undefined ? undefined : saw(personId);
      },
      createPersonWithCredential: async (c) => saw((await records.createPersonWithCredential(credential(c))).person.id),
      linkCredential: async (old, c) => saw((await records.linkCredential(old, credential(c))).personId),
      credentialBySerial: async (issuer: string, serial: string) =>
        (await records.findCredentialBySerial(issuer, serial))?.fingerprint,
      credentialSerials: async (personId: string) => (await records.listCredentials(personId)).map((c) => c.serial),
      personExists: async (personId: string) => {
        const until = seen.get(personId);
        if (until !== undefined && performance.now() < until) return true;
        if ((await records.findPerson(personId)) === undefined) {
          seen.delete(personId);
          return false;
        }
        saw(personId);
        return true;
      },
      forgetPerson: (personId: string) => void seen.delete(personId),
      audit: async (event) => {
        await records.appendAudit(
          { type: event.type, personId: event.personId ?? null, clientId: event.clientId ?? null },
          event.credential === undefined ? undefined : { touchCredential: event.credential },
        );
      },
    },
  };
  return Object.freeze(result);
}

/**
 * An interaction the store answered from memory (`answerRecentWrites`) but found gone when node-oidc-provider's
 * resume destroys it is the resume's own "interaction session not found" (HTTP 400), as a read from the store would
 * have said, not a server error.
 */
function sessionNotFoundWhenGone(name: string, adapter: Adapter): Adapter {
  if (name !== 'Interaction') return adapter;
  const destroy = adapter.destroy.bind(adapter);
  return Object.assign(Object.create(adapter) as Adapter, {
    async destroy(id: string): Promise<void> {
      try {
        await destroy(id);
      } catch (e) {
        if ((e as { code?: unknown }).code === 'ERR_STORE_GONE')
          throw new errors.SessionNotFound('interaction session not found');
        throw e;
      }
    },
  });
}
