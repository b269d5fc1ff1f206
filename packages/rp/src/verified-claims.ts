/**
 * Identity proofing in OpenID Connect for Identity Assurance form (OIDC4IDA 1.0, japan-anchors §3.2–3.4): the `claims`
 * request for `verified_claims` under trust framework `jp_aml` with `electronic_signature` evidence (the JPKI
 * signing certificate, 犯収法 施行規則 6条1項1号ワ), and the strict reading of what comes back.
 */
import { RpVerifiedClaimsError } from './errors.ts';
import type { IdentityClaimName } from './transaction.ts';

/** The trust framework of the Act on Prevention of Transfer of Criminal Proceeds (japan-anchors §3.4). */
export const TRUST_FRAMEWORK_JP_AML = 'jp_aml';

/** An OIDC Core §5.5 `claims` request object (`id_token` / `userinfo` members). */
export interface ClaimsRequest {
  readonly id_token?: Readonly<Record<string, unknown>>;
  readonly userinfo?: Readonly<Record<string, unknown>>;
}

/** `electronic_signature` evidence (OIDC4IDA verified claims, § Evidence type electronic_signature): which certificate signed. */
export interface ElectronicSignatureEvidence {
  readonly type: 'electronic_signature';
  /** What kind of signature, a provider-defined identifier (no JPKI value is registered). */
  readonly signature_type: string;
  /** The CA that issued the signing certificate (its DN). */
  readonly issuer: string;
  /** The signing certificate's serial number. A correlatable identifier: keep it only for AML audit. */
  readonly serial_number: string;
  /** When the signature was made (ISO 8601), when the provider says. */
  readonly created_at: string | undefined;
}

/** An OIDC Core §5.1.1 address. */
export interface VerifiedAddress {
  readonly formatted?: string;
  readonly street_address?: string;
  readonly locality?: string;
  readonly region?: string;
  readonly postal_code?: string;
  readonly country?: string;
}

/** The verified claims themselves: exactly the ones requested. */
export interface VerifiedIdentityClaims {
  readonly name?: string;
  readonly address?: VerifiedAddress;
  /** `YYYY-MM-DD`. */
  readonly birthdate?: string;
  /** OIDC Core values (`female`, `male`) or another provider-defined string. */
  readonly gender?: string;
}

/** The result of identity proofing. Plain JSON; personal data: keep it with the service's records, not in a session. */
export interface VerifiedIdentity {
  readonly trustFramework: typeof TRUST_FRAMEWORK_JP_AML;
  readonly evidence: ElectronicSignatureEvidence;
  /** `verification.time`: when the identity was verified (ISO 8601). */
  readonly verifiedAt: string;
  /** `verification.verification_process`: the provider's audit reference, when given. */
  readonly verificationProcess: string | undefined;
  readonly claims: VerifiedIdentityClaims;
}

/** The `verified_claims` request element (the same for the ID token and userinfo). */
function verifiedClaimsRequest(claims: readonly IdentityClaimName[], purpose: string): Record<string, unknown> {
  return {
    // OIDC4IDA § Requesting verification data: every verification element wanted must be asked for; `value` filters (the OP omits the whole
    // verified_claims if it cannot meet it), evidence entries filter by `type.value`.
    verification: {
      trust_framework: { value: TRUST_FRAMEWORK_JP_AML },
      time: null,
      verification_process: null,
      evidence: [
        {
          type: { value: 'electronic_signature' },
          signature_type: null,
          issuer: null,
          serial_number: null,
          created_at: null,
        },
      ],
    },
    // OIDC4IDA § Requesting end-user claims: `purpose` (3–300 characters) may accompany each requested claim.
    claims: Object.fromEntries(claims.map((c) => [c, { essential: true, purpose }])),
  };
}

/**
 * The `claims` request parameter for identity proofing: `verified_claims` asked in both the ID token and userinfo
 * (the provider may answer in either; the ID token is read first).
 *
 * @example
 * ```ts
 * identityProofingClaims(['name', 'birthdate'], '口座開設の本人確認のため')
 * ```
 * @throws TypeError for an empty, duplicated or unknown claim list, or a purpose outside 3–300 characters.
 */
export function identityProofingClaims(claims: readonly IdentityClaimName[], purpose: string): ClaimsRequest {
  assertIdentityRequest(claims, purpose);
  const element = verifiedClaimsRequest(claims, purpose);
  return { id_token: { verified_claims: element }, userinfo: { verified_claims: structuredClone(element) } };
}

/** @throws TypeError for a bad claim list or purpose. */
export function assertIdentityRequest(claims: readonly IdentityClaimName[], purpose: string): void {
  const known: readonly string[] = ['name', 'address', 'birthdate', 'gender'];
  if (!Array.isArray(claims) || claims.length === 0) throw new TypeError('claims must be a non-empty array');
  for (const c of claims) if (!known.includes(c)) throw new TypeError(`unknown identity claim ${String(c)}`);
  if (new Set(claims).size !== claims.length) throw new TypeError('claims must not repeat');
  // OIDC4IDA § Requesting end-user claims: purpose MUST be 3 to 300 characters.
  if (typeof purpose !== 'string' || [...purpose].length < 3 || [...purpose].length > 300) {
    throw new TypeError('purpose must be a string of 3 to 300 characters');
  }
}

/** ISO 8601 date-time as IDA uses it (`2025-01-15T01:23Z`, seconds and fraction optional). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;
const DATE = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$/;
const ADDRESS_MEMBERS = ['formatted', 'street_address', 'locality', 'region', 'postal_code', 'country'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new RpVerifiedClaimsError(path, 'must be a non-empty string');
  return v;
}

function dateTime(v: unknown, path: string): string {
  if (typeof v !== 'string' || !DATE_TIME.test(v) || Number.isNaN(Date.parse(v))) {
    throw new RpVerifiedClaimsError(path, 'must be an ISO 8601 date-time');
  }
  return v;
}

/**
 * Reads one `verified_claims` value (object or array form, OIDC4IDA verified claims § Base elements) strictly: trust framework `jp_aml`, a
 * verification time, one `electronic_signature` evidence with `signature_type`, `issuer` and `serial_number`, and
 * every requested claim well-formed. Claims not requested are dropped (data minimisation).
 *
 * @param value the `verified_claims` member of the ID token or userinfo (undefined when absent).
 * @throws `ERR_RP_VERIFIED_CLAIMS` ({@link RpVerifiedClaimsError}) naming the first member that fails.
 */
export function readVerifiedIdentity(value: unknown, requested: readonly IdentityClaimName[]): VerifiedIdentity {
  if (value === undefined || value === null) throw new RpVerifiedClaimsError('', 'is missing');
  // The array form carries one element per trust framework: take ours and ignore the others (OIDC4IDA: RPs
  // should ignore trust frameworks they do not understand).
  let element: unknown = value;
  if (Array.isArray(value)) {
    element = value.find(
      (v) =>
        isObject(v) && isObject(v['verification']) && v['verification']['trust_framework'] === TRUST_FRAMEWORK_JP_AML,
    );
    if (element === undefined)
      throw new RpVerifiedClaimsError('verification.trust_framework', `is not ${TRUST_FRAMEWORK_JP_AML}`);
  }
  if (!isObject(element)) throw new RpVerifiedClaimsError('', 'must be an object');
  const verification = element['verification'];
  if (!isObject(verification)) throw new RpVerifiedClaimsError('verification', 'must be an object');
  if (verification['trust_framework'] !== TRUST_FRAMEWORK_JP_AML) {
    throw new RpVerifiedClaimsError('verification.trust_framework', `is not ${TRUST_FRAMEWORK_JP_AML}`);
  }
  const verifiedAt = dateTime(verification['time'], 'verification.time');
  const process = verification['verification_process'];
  if (process !== undefined && (typeof process !== 'string' || process === '')) {
    throw new RpVerifiedClaimsError('verification.verification_process', 'must be a non-empty string');
  }
  const evidence = readEvidence(verification['evidence']);
  const claims = readClaims(element['claims'], requested);
  return Object.freeze({
    trustFramework: TRUST_FRAMEWORK_JP_AML,
    evidence,
    verifiedAt,
    verificationProcess: process as string | undefined,
    claims,
  });
}

function readEvidence(value: unknown): ElectronicSignatureEvidence {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RpVerifiedClaimsError('verification.evidence', 'must be a non-empty array');
  }
  const index = value.findIndex((e) => isObject(e) && e['type'] === 'electronic_signature');
  if (index === -1) throw new RpVerifiedClaimsError('verification.evidence', 'has no electronic_signature');
  const e = value[index] as Record<string, unknown>;
  const at = `verification.evidence[${index}]`;
  // OIDC4IDA verified claims, § Evidence type electronic_signature: signature_type, issuer and serial_number are REQUIRED, created_at OPTIONAL.
  return Object.freeze({
    type: 'electronic_signature' as const,
    signature_type: nonEmptyString(e['signature_type'], `${at}.signature_type`),
    issuer: nonEmptyString(e['issuer'], `${at}.issuer`),
    serial_number: nonEmptyString(e['serial_number'], `${at}.serial_number`),
    created_at: e['created_at'] === undefined ? undefined : dateTime(e['created_at'], `${at}.created_at`),
  });
}

function readClaims(value: unknown, requested: readonly IdentityClaimName[]): VerifiedIdentityClaims {
  if (!isObject(value)) throw new RpVerifiedClaimsError('claims', 'must be an object');
  const out: Record<string, unknown> = {};
  for (const name of requested) {
    const v = value[name];
    const path = `claims.${name}`;
    if (v === undefined || v === null) throw new RpVerifiedClaimsError(path, 'is missing');
    switch (name) {
      case 'name':
      case 'gender':
        out[name] = nonEmptyString(v, path);
        break;
      case 'birthdate':
        // OIDC Core §5.1: YYYY-MM-DD; the card always has the full date.
        if (typeof v !== 'string' || !DATE.test(v)) throw new RpVerifiedClaimsError(path, 'must be YYYY-MM-DD');
        out[name] = v;
        break;
      case 'address': {
        if (!isObject(v)) throw new RpVerifiedClaimsError(path, 'must be an object');
        const address: Record<string, string> = {};
        for (const m of ADDRESS_MEMBERS) {
          if (v[m] === undefined) continue;
          address[m] = nonEmptyString(v[m], `${path}.${m}`);
        }
        if (Object.keys(address).length === 0) throw new RpVerifiedClaimsError(path, 'has no address member');
        out[name] = Object.freeze(address);
        break;
      }
    }
  }
  return Object.freeze(out) as VerifiedIdentityClaims;
}
