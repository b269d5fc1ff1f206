/**
 * Grants this node has just saved while finishing an interaction, for the authorization request that resumes it a
 * moment later (node-oidc-provider's `loadExistingGrant`): that request need not read back from the store what this
 * node wrote milliseconds before (one PostgreSQL round trip fewer per login).
 *
 * Safe to skip that read: each grant is taken once, by the resume of the interaction that returned it, within
 * {@link KEEP_MS}; and the token endpoint reads the grant from the store before it issues anything
 * (node-oidc-provider's `validateGrant`), so a grant revoked meanwhile yields no tokens. A resume on another node
 * reads the store as before.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

type Grant = InstanceType<Provider['Grant']>;

/** How long a saved grant waits for its resume. */
const KEEP_MS = 10_000;
/** At most this many wait at once (resumes that went to another node, or never came, age out). */
const MAX_KEPT = 10_000;

const kept = new WeakMap<Provider, Map<string, { readonly grant: Grant; readonly until: number }>>();

/** Keeps `grant`, just saved under `grantId` by an interaction finishing on this node, for its resume. */
export function keepSavedGrant(provider: Provider, grantId: string, grant: Grant): void {
  let grants = kept.get(provider);
  if (grants === undefined) kept.set(provider, (grants = new Map()));
  const now = Date.now();
  for (const [id, entry] of grants) {
    if (entry.until > now && grants.size < MAX_KEPT) break;
    grants.delete(id);
  }
  grants.set(grantId, { grant, until: now + KEEP_MS });
}

/**
 * node-oidc-provider's `loadExistingGrant`: its default (the grant the interaction returned, else the session's
 * grant for the client, from the store), except that the grant the interaction returned is taken from
 * {@link keepSavedGrant} when this node saved it.
 */
export async function loadExistingGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const provider = ctx.oidc.provider;
  const returned = (ctx.oidc.result as { consent?: { grantId?: string } } | undefined)?.consent?.grantId;
  if (returned) {
    const grants = kept.get(provider);
    const entry = grants?.get(returned);
    if (entry !== undefined) {
      grants!.delete(returned);
      if (entry.until > Date.now()) return entry.grant;
    }
  }
  // node-oidc-provider's default.
  const grantId = returned || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
  return grantId ? provider.Grant.find(grantId) : undefined;
}
