/**
 * Withdrawing consent revokes first and marks the consent withdrawn last: a revocation that fails part way leaves the
 * consent shown as given (the person can withdraw again), never "withdrawn" over tokens that still work.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Provider from 'oidc-provider';
import { withdrawConsent } from '../src/consent/withdraw.ts';
import { identityStore } from '../src/ekyc/identity-store.ts';
import { openSqliteStores } from '../src/store/sqlite.ts';
import { newCredential } from './support/store-contract.ts';

/** The provider models `withdrawConsent` uses; `failing` makes the refresh tokens' revocation fail. */
function fakeProvider(personId: string, failing: boolean) {
  const revoked: string[] = [];
  const adapter = (model: string) => ({
    adapter: {
      async revokeByGrantId(grantId: string) {
        if (failing && model === 'RefreshToken')
          throw Object.assign(new Error('down'), { code: 'ERR_STORE_UNAVAILABLE' });
        revoked.push(`${model}:${grantId}`);
      },
    },
  });
  const provider = {
    Grant: {
      find: async () => ({ accountId: personId, clientId: 'bank', destroy: async () => void revoked.push('Grant') }),
    },
    AccessToken: adapter('AccessToken'),
    RefreshToken: adapter('RefreshToken'),
    AuthorizationCode: adapter('AuthorizationCode'),
    BackchannelAuthenticationRequest: adapter('BackchannelAuthenticationRequest'),
  } as unknown as Provider;
  return { provider, revoked };
}

describe('consent withdrawal', () => {
  for (const failing of [true, false]) {
    it(
      failing
        ? 'a revocation that fails leaves the consent given, to withdraw again'
        : 'revokes, then marks the consent withdrawn',
      async () => {
        const stores = openSqliteStores({ path: ':memory:', sweepIntervalMs: 0 });
        try {
          const { records } = stores;
          const { person } = await records.createPersonWithCredential(newCredential());
          await records.recordConsent({
            personId: person.id,
            clientId: 'bank',
            scopes: ['openid'],
            claims: ['name'],
            textShown: 't',
          });
          await records.appendAudit({
            type: 'consent.granted',
            personId: person.id,
            clientId: 'bank',
            data: { grantId: 'g1' },
          });
          const { provider, revoked } = fakeProvider(person.id, failing);
          const deps = { provider, records, identities: identityStore(undefined) };
          if (failing) {
            await assert.rejects(withdrawConsent(deps, person.id, 'bank'), { code: 'ERR_STORE_UNAVAILABLE' });
            assert.deepEqual(
              (await records.listConsents(person.id)).map((c) => c.withdrawnAt),
              [null],
            );
            assert.equal(
              (await records.listAudit(person.id)).some((e) => e.type === 'consent.withdrawn'),
              false,
            );
          } else {
            assert.deepEqual(await withdrawConsent(deps, person.id, 'bank'), { consents: 1, grants: 1 });
            assert.ok(revoked.includes('RefreshToken:g1') && revoked.includes('Grant'));
            assert.ok((await records.listConsents(person.id))[0]!.withdrawnAt instanceof Date);
          }
        } finally {
          await stores.close();
        }
      },
    );
  }
});
