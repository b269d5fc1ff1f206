/**
 * The card login as a consent, to the one thing it names: the person saw the service's name on the phone and tapped
 * the card to log in to it, which gives that service their pairwise identifier and login time (the `openid` scope's
 * claims: `sub`, `acr`, `amr`, `auth_time`), and nothing more. A request that asks for anything else (a claim of the
 * person, `offline_access`, or a consent screen by `prompt=consent`) is answered by the consent screen alone: the login
 * saves no grant for it, so pressing 同意しない, or leaving the screen unanswered, leaves the service nothing, not even
 * the `sub` (a `prompt=none` request then gets `consent_required`). The screen's own grant comes from its answer
 * (page.ts).
 */
import type Provider from 'oidc-provider';
import { IDENTITY_CLAIM_NAMES } from '../claims/names.ts';
import { requestedClaims } from '../claims/request.ts';
import type { InteractionDetails } from '../interactions/context.ts';
import { saveAuditedGrant } from './audited-grant.ts';
import { consentItems } from './items.ts';
import type { ConsentRecords } from './records.ts';

/** The audit type of a grant a card login saved (its `data.grantId` is how withdrawal finds it). */
export const LOGIN_GRANT_AUDIT = 'login.grant';

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
 * this person and service (an earlier one in this browser session), else a new one, with the requested scopes; saved
 * with its `login.grant` audit record ({@link saveAuditedGrant}). Resolves `undefined`, saving nothing, when the
 * consent screen is to decide.
 *
 * @throws the store's `ERR_STORE_*` when the grant or its record cannot be written (the login then fails).
 */
export async function saveLoginGrant(
  provider: Provider,
  records: Pick<ConsentRecords, 'appendAudit'>,
  details: InteractionDetails,
  accountId: string,
): Promise<{ readonly grantId: string; readonly grant: InstanceType<Provider['Grant']> } | undefined> {
  if (!loginIsConsent(details.params)) return undefined;
  const clientId = String(details.params['client_id']);
  const existing = details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId);
  const grant =
    existing !== undefined && existing.accountId === accountId && existing.clientId === clientId
      ? existing
      : new provider.Grant({ accountId, clientId });
  if (typeof details.params['scope'] === 'string') grant.addOIDCScope(details.params['scope']);
  const grantId = await saveAuditedGrant(records, grant, (id) => ({
    type: LOGIN_GRANT_AUDIT,
    personId: accountId,
    clientId,
    data: { grantId: id },
  }));
  return { grantId, grant };
}
