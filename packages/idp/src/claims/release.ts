/**
 * What an ID token or UserInfo answer carries for the claims a relying party requested (and the person granted, and
 * signed for): `verified_claims`, plain basic-4 claims, and derived claims as worked out when the signature was
 * verified. Only requested claims are answered; without a verified identity nothing is.
 */
import { AGE_CLAIM } from './derived.ts';
import { CONSENT_DETAIL } from './names.ts';
import { ARRAY_MEMBER, isArrayForm, verifiedClaimsRequests } from './request.ts';
import type { SignedCoverage } from './retention.ts';
import { identityClaims, meets, verifiedClaimsAnswer, type VerifiedFacts } from './verified-claims.ts';

/**
 * The claims to release for `requested` (one target of the normalised `claims` parameter, already filtered by the
 * grant and by the signature), from `facts` at `now`.
 *
 * - `age_over_18`, `age_over_20`: the booleans of `facts.derived.ages`, worked out from the verified birth date in
 *   Japan time when the signature was verified (`retention.ts` says why not later); the birth date is not released.
 * - `residence_in_prefecture` (asked as `residence_prefecture` with `value`/`values`): whether the prefecture kept
 *   (`facts.derived.prefecture`) is one of those asked about; `residence_prefecture` asked with `null`: the prefecture
 *   name only.
 * - `name`, `given_name`, `family_name`, `address`, `birthdate`, `gender`: plainly, as requested, if kept.
 *
 * @example releaseClaims({ age_over_20: null }, facts, new Date()) // { age_over_20: true }
 */
export function releaseClaims(
  requested: Readonly<Record<string, unknown>>,
  facts: VerifiedFacts | undefined,
  now: Date,
): Record<string, unknown> {
  if (facts === undefined) return {};
  const plain = identityClaims(facts.identity);
  const out: Record<string, unknown> = {};
  for (const [name, request] of Object.entries(requested)) {
    let value: unknown;
    if (name === 'verified_claims') {
      value = verifiedClaimsAnswer(verifiedClaimsRequests(request), facts, now, isArrayForm(request));
    } else if (name === 'residence_in_prefecture') {
      const values = (request as { values?: unknown } | null)?.values;
      const own = facts.derived?.prefecture;
      value = Array.isArray(values) && own !== undefined ? own !== null && values.includes(own) : undefined;
    } else if (name === 'residence_prefecture') {
      value = facts.derived?.prefecture ?? undefined;
    } else {
      value = AGE_CLAIM.test(name) ? facts.derived?.ages?.[name] : plain[name];
      if (value !== undefined && !meets(request, value, now)) value = undefined;
    }
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * `requested` cut down to what the person consented to for this grant (`granted`: the grant's claim entries, with
 * the details of consent/items.ts): a verified claim without `verified_claims.<claim>`, and a prefecture asked about
 * without `residence_in_prefecture=<prefecture>`, is not answered. A later request of the same claim names cannot
 * widen what a consent gave (the consent screen asks again first; this holds should anything get past it).
 */
export function withinConsent(
  requested: Readonly<Record<string, unknown>>,
  granted: readonly string[],
): Record<string, unknown> {
  const have = new Set(granted);
  const out: Record<string, unknown> = {};
  for (const [name, request] of Object.entries(requested)) {
    if (name === 'verified_claims') {
      const elements = verifiedClaimsRequests(request).flatMap((element) => {
        const claims = Object.fromEntries(
          Object.entries(element.claims).filter(([claim]) => have.has(CONSENT_DETAIL.verifiedClaim(claim))),
        );
        return Object.keys(claims).length === 0 ? [] : [{ ...element, claims }];
      });
      if (elements.length > 0) out[name] = isArrayForm(request) ? { [ARRAY_MEMBER]: elements } : elements[0];
    } else if (name === 'residence_in_prefecture') {
      const values = ((request as { values?: unknown[] } | null)?.values ?? []).filter((v) =>
        have.has(CONSENT_DETAIL.prefecture(String(v))),
      );
      if (values.length > 0) out[name] = { ...(request as object), values };
    } else out[name] = request;
  }
  return out;
}

/**
 * `requested` cut down to what the verified identity's signature covered (`signed`, recorded with it): a claim the
 * signed statement did not list, a verified claim without `verified_claims.<claim>` and a prefecture without
 * `residence_in_prefecture=<prefecture>` are not answered. An identity that records no coverage (kept before
 * coverage was recorded) answers nothing. The `ekyc` prompt asks for a new signature first (ekyc/policy.ts); this
 * holds should anything get past it. The signed purpose is not compared here, as no token or UserInfo request
 * carries one: only that prompt keeps a signature to its purpose (`unsignedTerms`).
 *
 * @example
 * ```ts
 * withinSignature({ age_over_20: null, name: null }, { claims: ['age_over_20'], details: [] }) // { age_over_20: null }
 * ```
 */
export function withinSignature(
  requested: Readonly<Record<string, unknown>>,
  signed: SignedCoverage | undefined,
): Record<string, unknown> {
  if (signed === undefined) return {};
  const names = new Set(signed.claims);
  return withinConsent(Object.fromEntries(Object.entries(requested).filter(([n]) => names.has(n))), signed.details);
}
