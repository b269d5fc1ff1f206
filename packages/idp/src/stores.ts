/**
 * Fits the storage package's stores (`store/open.ts`: SQLite, PostgreSQL, Redis) to what the provider needs
 * (`ports.ts`). The one-shot store counts in seconds; the provider's ports in milliseconds (rounded up here, so
 * nothing expires early).
 */
import { errors, type Adapter } from 'oidc-provider';
import { BoundedMap } from '@mynagate/pki';
import { IDENTITY_MODEL } from './ekyc/identity-store.ts';
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
  stores: Pick<Stores, 'adapter' | 'oneShot' | 'records' | 'changes'>,
  options: { readonly personSeenMs?: number } = {},
): ProviderStores {
  const personSeenMs = options.personSeenMs ?? PERSON_SEEN_MS;
  if (!(Number.isFinite(personSeenMs) && personSeenMs >= 0)) throw new TypeError('personSeenMs must be >= 0');
  const { oneShot, records } = stores;
  const adapterOf = (name: string) => stores.adapter(name) as unknown as Adapter;
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
  const seen = new BoundedMap<string, number>(PERSON_SEEN_MAX);
  const saw = (personId: string): string => {
    if (personSeenMs > 0) seen.set(personId, performance.now() + personSeenMs);
    return personId;
  };
  const result: ProviderStores = {
    adapter: (name: string) => oidcAnswers(name, adapterOf(name), adapterOf),
    oneShot: {
      put: (key: string, value: string, ttlMs: number) => oneShot.put(key, value, seconds(ttlMs)),
      get: async (key: string) => asString(await oneShot.get(key)),
      getMany: async (keys: readonly string[]) => (await oneShot.getMany(keys)).map(asString),
      putDeleting: (key: string, value: string, ttlMs: number, deleteKeys: readonly string[]) =>
        oneShot.putDeleting(key, seconds(ttlMs), value, deleteKeys),
      take: async (key: string) => asString(await oneShot.take(key)),
      takeMarking: async (key: string, markKey: string, markTtlMs: number) =>
        asString(await oneShot.takeMarking(key, markKey, seconds(markTtlMs))),
      putIfAbsent: (key: string, value: string, ttlMs: number) => oneShot.putIfAbsent(key, seconds(ttlMs), value),
      renew: (key: string, value: string, ttlMs: number) => oneShot.renew(key, seconds(ttlMs), value),
      putUnless: async (key: string, value: string, ttlMs: number, unlessKey: string) => {
        const { written, previous } = await oneShot.putUnless(key, seconds(ttlMs), value, unlessKey);
        return { written, previous: asString(previous) };
      },
      deleteIf: (key: string, value: string) => oneShot.deleteIf(key, value),
      delete: async (key: string) => {
        await oneShot.delete(key);
      },
    },
    ...(stores.changes !== undefined && { changes: stores.changes }),
    people: {
      findPersonByCredential: async (fingerprint: string) => {
        const personId = (await records.findCredentialByFingerprint(fingerprint))?.personId;
        return personId === undefined ? undefined : saw(personId);
      },
      createPersonWithCredential: async (c) => saw((await records.createPersonWithCredential(credential(c))).person.id),
      linkCredential: async (old, c) => saw((await records.linkCredential(old, credential(c))).personId),
      credentialBySerial: async (issuer: string, serial: string) =>
        (await records.findCredentialBySerial(issuer, serial))?.fingerprint,
      credentialRefs: async (personId: string) =>
        (await records.listCredentials(personId)).map((c) => ({ issuer: c.issuer, serial: c.serial })),
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
          {
            type: event.type,
            personId: event.personId ?? null,
            clientId: event.clientId ?? null,
            ...(event.data === undefined ? {} : { data: { ...event.data } }),
          },
          event.credential === undefined ? undefined : { touchCredential: event.credential },
        );
      },
    },
  };
  return Object.freeze(result);
}

/**
 * What node-oidc-provider says where a store's answer would otherwise be a server error:
 * - an interaction the store answered from memory (`answerRecentWrites`) but found gone when the resume destroys it
 *   is the resume's own "interaction session not found" (HTTP 400), as a read from the store would have said;
 * - a code whose `consume` finds it consumed already (a redemption racing another, or a replay to a node that
 *   answered the code from memory) is `invalid_grant`, and the tokens of its grant are revoked, as node-oidc-provider
 *   does for a replay it sees itself (RFC 6749 §4.1.2; its `revoke` for this provider's grant types: access tokens,
 *   codes and the grant), and the grant's verified identity goes with it. A code gone by then (revoked, expired) is `invalid_grant` "not found".
 */
function oidcAnswers(name: string, adapter: Adapter, adapterOf: (name: string) => Adapter): Adapter {
  if (name === 'Interaction')
    return onStoreError(adapter, 'destroy', 'ERR_STORE_GONE', async () => {
      throw new errors.SessionNotFound('interaction session not found');
    });
  if (name === 'AuthorizationCode')
    return onStoreError(adapter, 'consume', 'ERR_STORE_ALREADY_CONSUMED', async (id) => {
      const grantId = (await adapter.find(id))?.['grantId'];
      if (typeof grantId !== 'string') throw new errors.InvalidGrant('authorization code not found');
      await Promise.all([
        adapterOf('AccessToken').revokeByGrantId(grantId),
        adapter.revokeByGrantId(grantId),
        adapterOf(IDENTITY_MODEL).revokeByGrantId(grantId),
        adapterOf('Grant').destroy(grantId),
      ]);
      throw new errors.InvalidGrant('authorization code already consumed');
    });
  return adapter;
}

/** `adapter` whose `method` answers a rejection with store error `code` by `answer` (which throws). */
function onStoreError(
  adapter: Adapter,
  method: 'destroy' | 'consume',
  code: string,
  answer: (id: string) => Promise<never>,
): Adapter {
  const inner = adapter[method].bind(adapter);
  return Object.assign(Object.create(adapter) as Adapter, {
    async [method](id: string): Promise<void> {
      try {
        await inner(id);
      } catch (e) {
        if (codeOf(e) === code) return answer(id);
        throw e;
      }
    },
  });
}

function codeOf(e: unknown): unknown {
  return typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
}
