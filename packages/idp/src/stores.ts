/**
 * Fits the storage package's stores (`store/open.ts`: SQLite, PostgreSQL, Redis) to what the provider needs
 * (`ports.ts`). The one-shot store counts in seconds; the provider's ports in milliseconds (rounded up here, so
 * nothing expires early).
 */
import type { Adapter } from 'oidc-provider';
import type { ProviderStores } from './ports.ts';
import type { NewCredential, Stores } from './store/types.ts';

/**
 * The provider's view of opened stores.
 *
 * @example
 * ```ts
 * const stores = await openStores({ kind: 'sqlite', path });
 * const idp = await startServer({ ...config, stores: providerStores(stores) });
 * ```
 */
export function providerStores(stores: Pick<Stores, 'adapter' | 'oneShot' | 'records'>): ProviderStores {
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
  const result: ProviderStores = {
    adapter: stores.adapter as unknown as (name: string) => Adapter,
    oneShot: {
      put: (key: string, value: string, ttlMs: number) => oneShot.put(key, value, seconds(ttlMs)),
      get: async (key: string) => asString(await oneShot.get(key)),
      take: async (key: string) => asString(await oneShot.take(key)),
      delete: async (key: string) => {
        await oneShot.delete(key);
      },
    },
    people: {
      findPersonByCredential: async (fingerprint: string) =>
        (await records.findCredentialByFingerprint(fingerprint))?.personId,
      createPersonWithCredential: async (c) => (await records.createPersonWithCredential(credential(c))).person.id,
      linkCredential: async (old, c) => (await records.linkCredential(old, credential(c))).personId,
      credentialUsed: (fingerprint: string) => records.touchCredential(fingerprint),
      personExists: async (personId: string) => (await records.findPerson(personId)) !== undefined,
      audit: async (event) => {
        await records.appendAudit({
          type: event.type,
          personId: event.personId ?? null,
          clientId: event.clientId ?? null,
        });
      },
    },
  };
  return Object.freeze(result);
}
