/**
 * What a consent is given for. Under APPI (個人情報保護法: the purpose of use is specified and kept to, art. 17 and
 * 18; third-party provision needs the person's prior consent; japan-anchors §4.3) the purpose of use is part of what
 * the person agrees to, so a grant records it beside the claims and their details (consent/items.ts), and a request
 * of the same claims for another purpose gets the consent screen again (`purpose_not_consented` in provider.ts), or
 * `consent_required` with `prompt=none`.
 *
 * The purpose compared is the one the signed statement for the request would give (ekyc/statement.ts
 * `statementPurpose`: the request's `purpose`, else the client's configured one, else the default of the claims
 * listed) together with each entry's per-claim purposes (OIDC4IA §5.5.1): so the consent screen, the consent record
 * on `/me`, the signing page and the statement name the same purpose. Each entry of a request (a claim key or a
 * detail) needs its own grant entry {@link CONSENT_DETAIL.purpose}, binding it to both: one consent for a claim with
 * purpose A never stands for that claim with purpose B, nor for a combination the person was never shown.
 *
 * Grants made before purposes were recorded hold none: their next request with claims asks for consent once more
 * (fail closed), and the consent then records the purpose.
 */
import { CONSENT_DETAIL } from '../claims/names.ts';
import type { RequestedClaims } from '../claims/request.ts';
import { statementPurpose } from '../ekyc/statement.ts';
import { claimPurposesOf, consentItems, type ConsentItem } from './items.ts';

/** A request as the purposes of its consent need it. */
export interface PurposeRequest {
  readonly requested: RequestedClaims;
  /** The request's `purpose` parameter, if any. */
  readonly requestPurpose: unknown;
  /** `ekyc.purposes`: the purpose configured per client id. */
  readonly purposes: Readonly<Record<string, string>>;
  readonly clientId: string;
}

/**
 * The purpose the consent screen shows for `items` (all the request asks for): with claims, the purpose their
 * statement would give ({@link statementPurpose}); without, the request's or the configured one, if any (no claims:
 * nothing is signed, and the identity-verification default would say what is not done).
 */
export function consentPurpose(request: PurposeRequest, items: readonly ConsentItem[]): string | undefined {
  const claims = items.filter((i) => !i.key.startsWith('scope:')).map((i) => i.key);
  const { requestPurpose: requested, purposes, clientId } = request;
  if (claims.length === 0 && typeof requested !== 'string' && !Object.hasOwn(purposes, clientId)) return undefined;
  return statementPurpose({ requested, purposes, clientId, claims });
}

/**
 * The grant entries that record what the request's consented items are for: one {@link CONSENT_DETAIL.purpose} per
 * entry (claim key and detail) of each requested claim the grant holds (`granted`) and the person did not decline
 * (`rejected`), bound to the statement purpose of those claims and the entry's per-claim purposes. Empty without such
 * claims. The consent answer adds them to the grant; {@link missingConsentPurposes} looks for them.
 *
 * @example
 * ```ts
 * purposeEntries({ requested, requestPurpose: '酒類の購入', purposes: {}, clientId }, ['age_over_20'], [])
 * // ['purpose:["age_over_20","酒類の購入",[]]']
 * ```
 */
export function purposeEntries(
  request: PurposeRequest,
  granted: readonly string[],
  rejected: readonly string[],
): string[] {
  const have = new Set(granted);
  const declined = new Set(rejected);
  // The items a statement for this request lists (ekyc/policy.ts `statementItems`), whose keys choose its purpose.
  const items = consentItems(request.requested, '').filter(
    (i) => !i.key.startsWith('scope:') && have.has(i.key) && !declined.has(i.key),
  );
  if (items.length === 0) return [];
  const purpose = statementPurpose({
    requested: request.requestPurpose,
    purposes: request.purposes,
    clientId: request.clientId,
    claims: items.map((i) => i.key),
  });
  return Object.entries(claimPurposesOf(items)).map(([entry, list]) => CONSENT_DETAIL.purpose(entry, purpose, list));
}

/**
 * The entries of {@link purposeEntries} the grant lacks: when there is one, the consent screen is shown again. A
 * grant from before purposes were recorded lacks them all.
 */
export function missingConsentPurposes(
  request: PurposeRequest,
  granted: readonly string[],
  rejected: readonly string[],
): string[] {
  const have = new Set(granted);
  return purposeEntries(request, granted, rejected).filter((e) => !have.has(e));
}
