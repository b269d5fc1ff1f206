/**
 * Revoking a grant's tokens: every node-oidc-provider model that carries its `grantId` (access tokens, refresh tokens,
 * unused codes), then its verified identity. Used by consent withdrawal and by a refresh refused for a revoked card.
 */
import type Provider from 'oidc-provider';
import type { IdentityStore } from '../ekyc/identity-store.ts';

/** The node-oidc-provider models that carry a `grantId`. */
const GRANT_MODELS = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'BackchannelAuthenticationRequest'] as const;

/**
 * Deletes every token of `grantId` and its verified identity, in that order (the grant itself is the caller's to
 * destroy). Rejects with the store's error on the first that fails: the caller may run it again.
 */
export async function revokeGrantTokens(
  provider: Provider,
  identities: Pick<IdentityStore, 'delete'>,
  grantId: string,
): Promise<void> {
  for (const model of GRANT_MODELS) {
    const adapter = (provider[model] as unknown as { adapter: { revokeByGrantId(id: string): Promise<void> } }).adapter;
    await adapter.revokeByGrantId(grantId);
  }
  await identities.delete(grantId);
}
