/**
 * What an eKYC signature covered, and what the provider keeps of the signing certificate's basic-4 for it.
 *
 * The person signs a statement listing what the service receives (consent/items.ts). The verified identity kept
 * beside the grant records exactly that ({@link SignedCoverage}), and keeps only the data those items release
 * ({@link retainForRelease}): a yes/no question keeps its answer, not the birth date or the address behind it.
 *
 * Where what is kept lives: sealed in the one-shot store from the verified signature until the owning browser takes
 * it (ekyc/sign-transaction.ts: encrypted to a key only that browser's cookie gives, so no copy of the store holds it
 * in clear), then beside the grant (ekyc/identity-store.ts) for the grant's tokens' lifetime, with the signing
 * certificate only under `ekyc.keepCertificate`. The audit keeps the evidence, never the basic-4.
 */
import type { Basic4Identity } from '@mynagate/pki';
import { ageClaim, prefectureOf } from './derived.ts';
import { CONSENT_DETAIL } from './names.ts';

/**
 * What a signed statement listed, in the grant's own terms (consent/items.ts): the claim keys (`age_over_20`,
 * `verified_claims`, `residence_in_prefecture`, …) and their details (`verified_claims.name`,
 * `residence_in_prefecture=東京都`, …), and whom and what for it was signed (`client`, `purpose`, `claimPurposes`).
 * Nothing outside it
 * is answered from that signature, and a request for another purpose or service is not answered from it either
 * (ekyc/policy.ts asks for a new signature).
 */
export interface SignedCoverage {
  readonly claims: readonly string[];
  readonly details: readonly string[];
  /**
   * The statement's `purpose`, exactly as signed. Absent on coverage recorded before the purpose was (identities
   * still kept from then): such a signature covers no purpose, so any request asks for a new one.
   */
  readonly purpose?: string;
  /**
   * The statement's per-claim purposes (its `claimPurposes` member: grant entry → sorted purposes, only entries given
   * some), exactly as signed; `{}` when it listed none. Absent on coverage recorded before they were: that statement
   * listed none either, and is read so (ekyc/policy.ts `unsignedTerms`: it serves no request that gives some).
   */
  readonly claimPurposes?: Readonly<Record<string, readonly string[]>>;
  /**
   * The service the statement was signed for: the client id, and the name and origin the statement named. Absent on
   * coverage recorded before it was: covers no service.
   */
  readonly client?: SignedClient;
}

/** The service a statement named ({@link SignedCoverage.client}). */
export interface SignedClient {
  readonly id: string;
  readonly name: string;
  readonly origin: string;
}

/**
 * Answers worked out when the signature was verified, kept instead of the data behind them.
 *
 * `age_over_NN` is answered as it stood at verification time and never recomputed: recomputing it daily would let a
 * service holding a refresh token learn the exact birthday on the day the answer flips. A new signature gives a new
 * answer.
 */
export interface DerivedFacts {
  /** `age_over_NN` → the answer at verification time (Japan time, 民法 §143), for each age claim signed. */
  readonly ages?: Readonly<Record<string, boolean>>;
  /**
   * The prefecture (都道府県) of the address, for the residence claims signed, or `null` when the address starts with
   * none of the 47. Never the address itself.
   */
  readonly prefecture?: string | null;
}

/** What {@link retainForRelease} keeps. */
export interface RetainedFacts {
  /** The basic-4 fields a signed claim releases, and no other. */
  readonly identity: Partial<Basic4Identity>;
  readonly derived: DerivedFacts;
}

/** Which basic-4 fields each end-user claim releases (plainly or inside `verified_claims`). */
const FIELDS_OF_CLAIM: Readonly<Record<string, readonly (keyof Basic4Identity)[]>> = Object.freeze({
  name: ['name', 'nameSubstitutes'],
  family_name: ['name', 'nameSubstitutes'],
  given_name: ['name', 'nameSubstitutes'],
  address: ['address', 'addressSubstitutes'],
  birthdate: ['birthDate', 'birthEra'],
  gender: ['sex'],
});

const RESIDENCE_CLAIMS = new Set(['residence_prefecture', 'residence_in_prefecture']);

/**
 * Cuts a verified basic-4 down to what the signed items need: the fields of the end-user claims signed (plainly or
 * as `verified_claims.<claim>`), the `age_over_NN` answers at `at`, and the prefecture for residence questions.
 *
 * @example
 * ```ts
 * retainForRelease(result.identity, { claims: ['age_over_20'], details: [] }, now)
 * // { identity: {}, derived: { ages: { age_over_20: true } } }
 * ```
 */
export function retainForRelease(identity: Basic4Identity, signed: SignedCoverage, at: Date): RetainedFacts {
  const claims = new Set(signed.claims);
  const details = new Set(signed.details);
  const kept: Partial<Record<keyof Basic4Identity, unknown>> = {};
  for (const [claim, fields] of Object.entries(FIELDS_OF_CLAIM)) {
    const signedPlainly = claims.has(claim);
    const signedVerified = claims.has('verified_claims') && details.has(CONSENT_DETAIL.verifiedClaim(claim));
    if (!signedPlainly && !signedVerified) continue;
    for (const field of fields) kept[field] = identity[field];
  }
  const ages: Record<string, boolean> = {};
  for (const claim of claims) {
    const answer = ageClaim(claim, identity.birthDate, at);
    if (answer !== undefined) ages[claim] = answer;
  }
  const derived: { ages?: Record<string, boolean>; prefecture?: string | null } = {};
  if (Object.keys(ages).length > 0) derived.ages = ages;
  if ([...RESIDENCE_CLAIMS].some((c) => claims.has(c))) derived.prefecture = prefectureOf(identity.address) ?? null;
  return { identity: kept as Partial<Basic4Identity>, derived };
}
