/**
 * A grant node-oidc-provider revokes takes its verified identity with it (provider.ts `grant.revoked`). A delete that
 * fails leaves the identity to its TTL, and is no longer silent: one `identity.delete_failed` line on the operator's
 * log, with the code and the client, nothing personal (not the grant, never the identity).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MynaGateError } from '@mynagate/errors';
import type { IdentityStore } from '../src/ekyc/identity-store.ts';
import { generateSigningKey } from '../src/keys.ts';
import type { LogEvent } from '../src/lib/log.ts';
import { createMemoryStores } from '../src/memory-stores.ts';
import { createProvider } from '../src/provider.ts';

const AT = Date.parse('2025-04-01T09:00:00Z');

function providerWith(identities: IdentityStore, events: LogEvent[]) {
  return createProvider({
    issuer: 'https://id.example.jp',
    clients: [{ client_id: 'bank', client_secret: 's'.repeat(32), redirect_uris: ['https://bank.example/cb'] }],
    jwks: { keys: [generateSigningKey()] },
    cookieKeys: [randomBytes(32).toString('base64url')],
    pairwiseSecret: randomBytes(32),
    verifier: {
      issueChallenge: async () => ({ nonce: 'n', expiresAt: 0 }),
      verifyLoginToken: async () => {
        throw new Error('unused');
      },
    },
    stores: createMemoryStores(),
    now: () => AT,
    ekyc: { identities },
    log: (e) => events.push(e),
  });
}

/** Emits `grant.revoked` as node-oidc-provider does, and lets the delete settle. */
async function revoke(provider: ReturnType<typeof createProvider>, clientId?: string): Promise<void> {
  provider.emit('grant.revoked', clientId === undefined ? undefined : { oidc: { client: { clientId } } }, 'grant-1');
  await new Promise((r) => setImmediate(r));
}

describe('grant.revoked', () => {
  it('deletes the identity of the revoked grant, logging nothing', async () => {
    const deleted: string[] = [];
    const events: LogEvent[] = [];
    const identities = { delete: async (id: string) => void deleted.push(id) } as unknown as IdentityStore;
    await revoke(providerWith(identities, events), 'bank');
    assert.deepEqual(deleted, ['grant-1']);
    assert.deepEqual(events, []);
  });

  it('reports a failed delete on the operator log: time, event, code and client_id', async () => {
    const events: LogEvent[] = [];
    const down = new MynaGateError('ERR_STORE_UNAVAILABLE', 'store down at 10.0.0.5');
    const identities = { delete: () => Promise.reject(down) } as unknown as IdentityStore;
    const provider = providerWith(identities, events);
    await revoke(provider, 'bank');
    assert.deepEqual(events, [
      {
        time: '2025-04-01T09:00:00.000Z',
        event: 'identity.delete_failed',
        code: 'ERR_STORE_UNAVAILABLE',
        client_id: 'bank',
      },
    ]);
    // Without a client in the context, and for an error without a code.
    events.length = 0;
    const plain = providerWith({ delete: () => Promise.reject(new Error('x')) } as unknown as IdentityStore, events);
    await revoke(plain);
    assert.deepEqual(events, [
      { time: '2025-04-01T09:00:00.000Z', event: 'identity.delete_failed', code: 'ERR_IDP_INTERNAL' },
    ]);
  });
});
