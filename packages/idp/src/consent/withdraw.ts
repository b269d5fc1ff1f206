/**
 * Withdrawing consent: every grant the person gave the service is revoked with its tokens (access tokens, refresh
 * tokens, unused codes) and its verified identity, so the service's next token use fails (`invalid_grant` at the
 * token endpoint, `invalid_token` at UserInfo); then the consent records are marked withdrawn. In that order: a
 * failure part way leaves the consent shown as given, so the person can withdraw again, never "withdrawn" over
 * tokens that still work.
 */
import type Provider from 'oidc-provider';
import type { IdentityStore } from '../ekyc/identity-store.ts';
import type { ConsentRecords } from './records.ts';

/** The node-oidc-provider models that carry a `grantId`. */
const GRANT_MODELS = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'BackchannelAuthenticationRequest'] as const;

/**
 * Withdraws the person's consent to `clientId` and revokes the grants. The grants are those the audit names for this
 * person and service (consent, eKYC) plus `alsoGrantIds` (e.g. the browser session's). Returns the number of
 * consents withdrawn and of grants revoked.
 *
 * @example await withdrawConsent({ provider, records, identities }, personId, 'bank-rp')
 */
export async function withdrawConsent(
  deps: { readonly provider: Provider; readonly records: ConsentRecords; readonly identities: IdentityStore },
  personId: string,
  clientId: string,
  alsoGrantIds: readonly string[] = [],
): Promise<{ readonly consents: number; readonly grants: number }> {
  const grantIds = new Set(alsoGrantIds);
  for (const event of await deps.records.listAudit(personId)) {
    const grantId = event.data['grantId'];
    if (event.clientId === clientId && typeof grantId === 'string') grantIds.add(grantId);
  }
  let grants = 0;
  for (const grantId of grantIds) {
    const grant = await deps.provider.Grant.find(grantId);
    // Only this person's grants to this service: a grant id from elsewhere never revokes another's grant.
    if (grant !== undefined && (grant.accountId !== personId || grant.clientId !== clientId)) continue;
    for (const model of GRANT_MODELS) {
      const adapter = (deps.provider[model] as unknown as { adapter: { revokeByGrantId(id: string): Promise<void> } })
        .adapter;
      await adapter.revokeByGrantId(grantId);
    }
    await deps.identities.delete(grantId);
    if (grant !== undefined) {
      await grant.destroy();
      grants++;
    }
  }
  const consents = await deps.records.withdrawConsent(personId, clientId);
  await deps.records.appendAudit({ type: 'consent.withdrawn', personId, clientId, data: { consents, grants } });
  return { consents, grants };
}
