/**
 * Saving a grant that the person's audit names. Withdrawal finds a person's grants to a service through the audit
 * (withdraw.ts): a grant saved without a record naming it would be one the person could never withdraw, from this
 * browser or another. So the consent screen's grant is saved together with its audit record, and fails closed: when
 * the record cannot be written, the consent fails, and a grant this call created is destroyed again. (A card login's
 * grant needs no record here: its id is in the login's `login.card` record, on disk before the login can finish;
 * consent/login-grant.ts.)
 */
import type Provider from 'oidc-provider';
import type { AuditEvent } from '../store/types.ts';
import type { ConsentRecords } from './records.ts';

type Grant = InstanceType<Provider['Grant']>;

/**
 * Saves `grant` and appends `event(grantId)` to the audit, at once (one round trip each, in parallel: a login waits
 * for the slower, not for both). Resolves the grant id once both are on disk.
 *
 * A grant this call creates is unreachable until the caller hands its id to node-oidc-provider (the interaction
 * result), so destroying it when the record fails leaves nothing behind; should that destroy fail too, the grant
 * stays unreachable (no session and no interaction names it) until its TTL. A grant that existed before keeps
 * whatever record named it when it was created.
 *
 * @example const grantId = await saveAuditedGrant(records, grant, (grantId) => ({ type: 'login.grant', personId, clientId, data: { grantId } }))
 * @throws whatever the audit append or the grant's save rejects with (the store's `ERR_STORE_*`).
 */
export async function saveAuditedGrant(
  records: Pick<ConsentRecords, 'appendAudit'>,
  grant: Grant,
  event: (grantId: string) => AuditEvent,
): Promise<string> {
  // node-oidc-provider names a grant when it first saves it; named here, the record can go out with the save.
  const created = !grant.jti;
  if (created) grant.jti = (grant as unknown as { generateTokenId(): string }).generateTokenId();
  const [audited, saved] = await Promise.allSettled([records.appendAudit(event(grant.jti)), grant.save()]);
  if (audited.status === 'rejected') {
    if (created && saved.status === 'fulfilled') await grant.destroy().catch(() => {});
    throw audited.reason;
  }
  if (saved.status === 'rejected') throw saved.reason;
  return saved.value;
}
