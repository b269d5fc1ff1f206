/**
 * The claims this provider can release about a person, all from a signing certificate verified during eKYC (the
 * authentication certificate carries no personal data, spec §8.2), and the OpenID Connect for Identity Assurance
 * (OIDC4IA) identifiers we use.
 */

/** OIDC4IA trust framework of 犯収法 (Act on Prevention of Transfer of Criminal Proceeds), japan-anchors §3.4. */
export const TRUST_FRAMEWORK = 'jp_aml';

/** The one evidence type we produce: a signature with the JPKI signing certificate (施行規則 6条1項1号ワ). */
export const EVIDENCE_TYPE = 'electronic_signature';

/**
 * `signature_type` of our evidence. OIDC4IA predefines no JPKI value, and the final spec asks adopters for
 * collision-resistant, domain-based identifiers (japan-anchors §3.4); this is ours.
 */
export const SIGNATURE_TYPE = 'https://mynagate.example/jpki';

/** End-user claims that may appear inside `verified_claims.claims` (and plainly, when asked and consented). */
export const VERIFIED_CLAIM_NAMES: readonly string[] = Object.freeze([
  'name',
  'given_name',
  'family_name',
  'address',
  'birthdate',
  'gender',
]);

/**
 * Derived claims: answers to a question, never the data behind it. `residence_in_prefecture` is the boolean answer
 * to `residence_prefecture` requested with `value`/`values` (see `request.ts`).
 */
export const DERIVED_CLAIM_NAMES: readonly string[] = Object.freeze([
  'age_over_18',
  'age_over_20',
  'residence_prefecture',
  'residence_in_prefecture',
]);

/** Every claim that needs a verified identity (and so an eKYC signature) to be answered. */
export const IDENTITY_CLAIM_NAMES: ReadonlySet<string> = new Set([
  'verified_claims',
  ...VERIFIED_CLAIM_NAMES,
  ...DERIVED_CLAIM_NAMES,
]);

/**
 * The grant entries that record exactly what a consent gave, beside the claim names: consent/items.ts writes them
 * when the person accepts, claims/release.ts answers only what they cover.
 */
export const CONSENT_DETAIL = Object.freeze({
  /** One claim inside `verified_claims`. */
  verifiedClaim: (claim: string): string => `verified_claims.${claim}`,
  /** One prefecture asked about by `residence_in_prefecture`. */
  prefecture: (name: string): string => `residence_in_prefecture=${name}`,
  /**
   * What one of the entries above (a claim key or a detail) was consented for: the statement's purpose and the
   * entry's own per-claim purposes (sorted, `[]` for none), as JSON (consent/purposes.ts). Never a claim name.
   */
  purpose: (entry: string, purpose: string, claimPurposes: readonly string[]): string =>
    `purpose:${JSON.stringify([entry, purpose, claimPurposes])}`,
});
