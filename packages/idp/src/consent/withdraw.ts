/**
 * Withdrawing consent: every grant the person gave the service is revoked with its tokens (access tokens, refresh
 * tokens, unused codes) and its verified identity, so the service's next token use fails (`invalid_grant` at the
 * token endpoint, `invalid_token` at UserInfo); then the consent records are marked withdrawn. In that order: a
 * failure part way leaves the consent shown as given, so the person can withdraw again, never "withdrawn" over
 * tokens that still work.
 */
import type Provider from 'oidc-provider';
import type { IdentityStore } from '../ekyc/identity-store.ts';
import { revokeGrantTokens } from '../lib/revoke-grant.ts';
import type { ConsentRecords } from './records.ts';

/**
 * Withdraws the person's consent to `clientId` and revokes the grants. The grants are those the audit names for this
 * person and service (any record's `data.grantId`), plus `alsoGrantIds` (e.g. the browser session's). Every grant an
 * interaction saves is named there before the service can use it: a card login's by the login's own `login.card`
 * record, written before the login can finish (card-login.ts; `login.grant` before that record named it), a
 * consent's by `consent.granted` (audited-grant.ts), so a grant made in any browser is found from any other. A
 * `login.card` record may name a grant that never came to be (the login reused the session's grant, or was left
 * unfinished): nothing is found under it. Returns the number of consents withdrawn and of grants revoked.
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
    await revokeGrantTokens(deps.provider, deps.identities, grantId);
    if (grant !== undefined) {
      await grant.destroy();
      grants++;
    }
  }
  const consents = await deps.records.withdrawConsent(personId, clientId);
  await deps.records.appendAudit({ type: 'consent.withdrawn', personId, clientId, data: { consents, grants } });
  return { consents, grants };
}
