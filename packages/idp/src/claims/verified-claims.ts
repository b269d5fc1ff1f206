/**
 * `verified_claims` answers (OpenID Connect for Identity Assurance 1.0, schema `openid-ida-verified-claims`): the
 * person's basic-4 as verified from their signing certificate, with the verification and its
 * `electronic_signature` evidence, filtered by the request:
 *
 * - `verification` carries `trust_framework` always (it is required), and `time`, `verification_process` and
 *   `evidence` only when requested (OIDC4IA §5.6: "The RP MUST explicitly request any data it wants");
 * - a `value`/`values`/`max_age` constraint under `verification` that our data does not meet omits the **whole**
 *   element, without an error (§5.8 "Data not Matching Requirements"); so does an evidence filter of another type;
 * - a claim constraint that is not met omits that claim only; an element left with no claims is omitted;
 * - the array form answers with an array of the elements that could be fulfilled (§5.7).
 */
import type { Basic4Identity } from '@mynagate/pki';
import { EVIDENCE_TYPE, SIGNATURE_TYPE, TRUST_FRAMEWORK } from './names.ts';
import type { ClaimRequest, VerifiedClaimsRequest } from './request.ts';
import type { DerivedFacts } from './retention.ts';

/** What an eKYC signature established, as the claims layer needs it. */
export interface VerifiedFacts {
  /**
   * The basic-4 of the signing certificate, or as much of it as was kept: an identity kept with a grant holds only
   * the fields its signed claims release (`retention.ts`); a missing field is never answered.
   */
  readonly identity: Partial<Basic4Identity>;
  /** Derived answers worked out at verification time (`age_over_NN`, the prefecture); none are computed later. */
  readonly derived?: DerivedFacts;
  /** The signature evidence (`@mynagate/pki` `SignatureEvidence` fields we release). */
  readonly evidence: {
    readonly issuer: string;
    readonly serialNumber: string;
    /** ISO 8601: when the statement was signed (the statement's `time`). */
    readonly signedAt: string;
  };
  /** ISO 8601: when the provider verified the signature (`verification.time`). */
  readonly verifiedAt: string;
  /** A unique reference of this verification for audit (`verification.verification_process`). */
  readonly verificationProcess: string;
}

/**
 * The end-user claims of an identity in OIDC form: `name`, `family_name`/`given_name` when the name splits at its
 * (full-width) space, `address.formatted`, `birthdate`, and `gender` when known; each only if its field was kept.
 */
export function identityClaims(identity: Partial<Basic4Identity>): Readonly<Record<string, unknown>> {
  const parts = identity.name?.split(/[\u3000 ]/u).filter((p) => p !== '') ?? [];
  return {
    ...(identity.name === undefined ? {} : { name: identity.name }),
    ...(parts.length === 2 ? { family_name: parts[0], given_name: parts[1] } : {}),
    ...(identity.address === undefined ? {} : { address: { formatted: identity.address } }),
    ...(identity.birthDate === undefined ? {} : { birthdate: identity.birthDate }),
    ...(identity.sex === undefined || identity.sex === 'unknown' ? {} : { gender: identity.sex }),
  };
}

/**
 * Answers `verified_claims` requests; `undefined` when no element can be fulfilled (the claim is then omitted).
 *
 * @example
 * ```ts
 * verifiedClaimsAnswer(verifiedClaimsRequests(requested.verified_claims), facts, new Date(), isArrayForm(...))
 * ```
 */
export function verifiedClaimsAnswer(
  requests: readonly VerifiedClaimsRequest[],
  facts: VerifiedFacts,
  now: Date,
  arrayForm: boolean,
): unknown {
  const answers = requests.map((r) => answerOne(r, facts, now)).filter((a) => a !== undefined);
  if (answers.length === 0) return undefined;
  return arrayForm ? answers : answers[0];
}

function answerOne(request: VerifiedClaimsRequest, facts: VerifiedFacts, now: Date): object | undefined {
  const verification = verificationAnswer(request.verification, facts, now);
  if (verification === undefined) return undefined;
  const available = identityClaims(facts.identity);
  const claims: Record<string, unknown> = {};
  for (const [name, constraint] of Object.entries(request.claims)) {
    const value = available[name];
    if (value !== undefined && meets(constraint, value)) claims[name] = value;
  }
  if (Object.keys(claims).length === 0) return undefined;
  return { verification, claims };
}

function verificationAnswer(
  request: Readonly<Record<string, unknown>>,
  facts: VerifiedFacts,
  now: Date,
): Record<string, unknown> | undefined {
  const ours: Record<string, unknown> = {
    trust_framework: TRUST_FRAMEWORK,
    time: facts.verifiedAt,
    verification_process: facts.verificationProcess,
  };
  const out: Record<string, unknown> = { trust_framework: TRUST_FRAMEWORK };
  for (const [name, constraint] of Object.entries(request)) {
    if (name === 'evidence') {
      const evidence = evidenceAnswer(constraint, facts, now);
      if (evidence === undefined) return undefined;
      out['evidence'] = evidence;
      continue;
    }
    const value = ours[name];
    // A constraint on data we do not have (e.g. assurance_level) cannot be met: omit the element (§5.8).
    if (value === undefined) {
      if (hasConstraint(constraint)) return undefined;
      continue;
    }
    if (!meets(constraint as ClaimRequest, value, now)) return undefined;
    out[name] = value;
  }
  return out;
}

/** Evidence filters are ORed (§5.6); the first that our one evidence meets shapes the answer. */
function evidenceAnswer(filters: unknown, facts: VerifiedFacts, now: Date): object[] | undefined {
  const ours: Record<string, unknown> = {
    type: EVIDENCE_TYPE,
    signature_type: SIGNATURE_TYPE,
    issuer: facts.evidence.issuer,
    serial_number: facts.evidence.serialNumber,
    created_at: facts.evidence.signedAt,
  };
  // The schema's required members of electronic_signature evidence are always given once evidence is returned.
  const required = ['type', 'signature_type', 'issuer', 'serial_number'];
  if (filters === null) return [pick(ours, required)];
  for (const filter of filters as Record<string, unknown>[]) {
    let ok = true;
    for (const [name, constraint] of Object.entries(filter)) {
      const value = ours[name];
      if (value === undefined ? hasConstraint(constraint) : !meets(constraint as ClaimRequest, value, now)) ok = false;
    }
    if (ok) return [pick(ours, [...required, ...Object.keys(filter).filter((k) => ours[k] !== undefined)])];
  }
  return undefined;
}

function pick(source: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries([...new Set(names)].map((n) => [n, source[n]]));
}

function hasConstraint(constraint: unknown): boolean {
  if (typeof constraint !== 'object' || constraint === null) return false;
  const c = constraint as Record<string, unknown>;
  return c['value'] !== undefined || c['values'] !== undefined || c['max_age'] !== undefined;
}

/**
 * Whether `value` meets `value`/`values` (OIDC Core §5.5.1) and `max_age` (OIDC4IA §5.6.2: seconds elapsed since a
 * timestamp, at the time of the request).
 */
export function meets(constraint: ClaimRequest | unknown, value: unknown, now?: Date): boolean {
  if (typeof constraint !== 'object' || constraint === null) return true;
  const c = constraint as Record<string, unknown>;
  if (c['value'] !== undefined && c['value'] !== value) return false;
  if (Array.isArray(c['values']) && !c['values'].includes(value)) return false;
  if (typeof c['max_age'] === 'number') {
    const at = typeof value === 'string' ? Date.parse(value) : NaN;
    if (now === undefined || Number.isNaN(at) || now.getTime() - at > c['max_age'] * 1000) return false;
  }
  return true;
}
