/**
 * The card login as a consent, to the one thing it names: the person saw the service's name on the phone and tapped
 * the card to log in to it, which gives that service their pairwise identifier and login time (the `openid` scope's
 * claims: `sub`, `acr`, `amr`, `auth_time`), and nothing more. A request that asks for anything else (a claim of the
 * person, `offline_access`, or a consent screen by `prompt=consent`) is answered by the consent screen alone: the login
 * saves no grant for it, so pressing 同意しない, or leaving the screen unanswered, leaves the service nothing, not even
 * the `sub` (a `prompt=none` request then gets `consent_required`). The screen's own grant comes from its answer
 * (page.ts).
 */
import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { IDENTITY_CLAIM_NAMES } from '../claims/names.ts';
import { requestedClaims } from '../claims/request.ts';
import type { InteractionDetails } from '../interactions/context.ts';
import { saveAuditedGrant } from './audited-grant.ts';
import { consentItems } from './items.ts';
import type { ConsentRecords } from './records.ts';

/**
 * The audit type of a grant a card login saved as a record of its own: for a login whose token post did not name its
 * grant (one in flight across an upgrade; records written before `login.card` named the grant). Withdrawal finds a
 * grant by the `data.grantId` of either record.
 */
export const LOGIN_GRANT_AUDIT = 'login.grant';

/**
 * A new grant id, as node-oidc-provider makes them (256 random bits, base64url: its opaque format's default), for the
 * grant a card login that stands as the consent will save: the token post names it in the login's `login.card` audit
 * record (card-login.ts) before the grant can exist.
 *
 * @example const grantId = transaction.standsAsConsent === true ? newGrantId() : undefined;
 */
export function newGrantId(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Whether the card login stands as the consent to the request `params` (an interaction's parameters): its consent
 * screen would list the pairwise identifier alone, no claim asked for needs a verified identity, and the request does
 * not ask for the screen (`prompt=consent`: the login page is not a consent screen). node-oidc-provider keeps
 * `offline_access` in `scope` only with `prompt=consent` (and the screen lists it).
 *
 * @example loginIsConsent({ scope: 'openid' }) // true
 * @example loginIsConsent({ scope: 'openid', claims: '{"id_token":{"age_over_20":null}}' }) // false
 */
export function loginIsConsent(params: Readonly<Record<string, unknown>>): boolean {
  const prompt = typeof params['prompt'] === 'string' ? params['prompt'].split(' ') : [];
  if (prompt.includes('consent')) return false;
  const requested = requestedClaims(params['claims']);
  const names = [...Object.keys(requested.id_token), ...Object.keys(requested.userinfo)];
  if (names.some((n) => IDENTITY_CLAIM_NAMES.has(n))) return false;
  const scope = typeof params['scope'] === 'string' ? params['scope'] : '';
  return consentItems(requested, scope).every((i) => i.key === 'scope:openid');
}

/**
 * The grant of a card login that stands as the consent ({@link loginIsConsent}): the grant the interaction has for
 * this person and service (an earlier one in this browser session, named by the record that created it), else a new
 * one under the id the login's `login.card` record names (`login.grantId`, {@link newGrantId}), with the requested
 * scopes. That record was on disk before the login could finish, so no second record is written: a grant the audit
 * does not name cannot exist. A login without a named id (one in flight across an upgrade) saves its new grant with a
 * `login.grant` record ({@link saveAuditedGrant}). Resolves `undefined`, saving nothing, when the consent screen is to
 * decide.
 *
 * @throws the store's `ERR_STORE_*` when the grant (or the fallback's record) cannot be written (the login then fails).
 */
export async function saveLoginGrant(
  provider: Provider,
  records: Pick<ConsentRecords, 'appendAudit'>,
  details: InteractionDetails,
  login: { readonly accountId: string; readonly grantId?: string | undefined },
): Promise<{ readonly grantId: string; readonly grant: InstanceType<Provider['Grant']> } | undefined> {
  if (!loginIsConsent(details.params)) return undefined;
  const { accountId } = login;
  const clientId = String(details.params['client_id']);
  const scope = details.params['scope'];
  const existing = details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId);
  if (existing !== undefined && existing.accountId === accountId && existing.clientId === clientId) {
    if (typeof scope === 'string') existing.addOIDCScope(scope);
    return { grantId: await existing.save(), grant: existing };
  }
  const grant = new provider.Grant({ accountId, clientId });
  if (typeof scope === 'string') grant.addOIDCScope(scope);
  if (login.grantId === undefined) {
    const grantId = await saveAuditedGrant(records, grant, (id) => ({
      type: LOGIN_GRANT_AUDIT,
      personId: accountId,
      clientId,
      data: { grantId: id },
    }));
    return { grantId, grant };
  }
  grant.jti = login.grantId;
  return { grantId: await grant.save(), grant };
}
