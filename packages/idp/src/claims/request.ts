/**
 * The `claims` request parameter (OpenID Connect Core §5.5) with the OIDC4IA extensions: checked, then normalised
 * into a form node-oidc-provider can carry.
 *
 * node-oidc-provider keeps the parameter as a JSON string, re-parses it at several steps, and treats a member as
 * requested only when its value is `null` or an object (`helpers/claims.js`, `oidc_context.js requestParamClaims`).
 * Two of our requests are not like that, so {@link normalizeClaimsParameter} rewrites them once, in the
 * `assertClaimsParameter` hook, before anything else reads the parameter:
 *
 * - the OIDC4IA **array form** of `verified_claims` (one element per trust framework or evidence) becomes
 *   `{ "mynagate:array": [...] }`, unwrapped again by {@link verifiedClaimsRequests};
 * - `residence_prefecture` asked with `value`/`values` ("does the person live in 東京都?") becomes a request for the
 *   boolean `residence_in_prefecture` with those values, so the prefecture itself is never released for it. Asked
 *   with `null` (no value), `residence_prefecture` answers the prefecture name only, never the address. Asked in
 *   both targets, the question is one: each target asks about the union of both targets' prefectures, as the one
 *   consent line and the one statement item made of both say (consent/items.ts). Answered per target as asked
 *   ("東京都?" in the ID token, "神奈川県?" in UserInfo), two booleans would name the prefecture.
 *
 * The rewrite is idempotent: node-oidc-provider runs the hook again on the stored form (PAR, request objects).
 */
import { errors } from 'oidc-provider';

/** The member that carries the array form of `verified_claims` through node-oidc-provider. */
export const ARRAY_MEMBER = 'mynagate:array';

/** One requested claim: `null`, or an object with OIDC Core §5.5.1 members and OIDC4IA `purpose`/`max_age`. */
export type ClaimRequest = null | Readonly<Record<string, unknown>>;

/** One `verified_claims` request element (OIDC4IA §5.5). */
export interface VerifiedClaimsRequest {
  readonly verification: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, ClaimRequest>>;
}

/** The requested claims per target, as node-oidc-provider stores them (after {@link normalizeClaimsParameter}). */
export interface RequestedClaims {
  readonly id_token: Readonly<Record<string, unknown>>;
  readonly userinfo: Readonly<Record<string, unknown>>;
}

const invalid = (detail: string): never => {
  throw new errors.InvalidRequest(`claims parameter: ${detail}`);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a parsed `claims` parameter and returns its normalised copy (see the module comment).
 *
 * @throws node-oidc-provider `InvalidRequest` (`invalid_request` to the relying party) for a member that is neither
 *   `null` nor an object, a malformed `verified_claims` element, or a `purpose` outside 3–300 characters (OIDC4IA
 *   §5.5.1).
 */
export function normalizeClaimsParameter(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...claims };
  for (const target of ['userinfo', 'id_token'] as const) {
    const members = claims[target];
    if (members === undefined) continue;
    if (!isObject(members)) return invalid(`${target} must be an object`);
    const next: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(members)) {
      if (name === 'verified_claims') {
        const elements = readVerifiedClaims(value, target);
        next[name] =
          elements.length === 1 && !isWrapped(value) && !Array.isArray(value)
            ? elements[0]
            : { [ARRAY_MEMBER]: elements };
        continue;
      }
      checkClaimRequest(value, `${target}.${name}`);
      if (
        name === 'residence_prefecture' &&
        value !== null &&
        (value['value'] !== undefined || value['values'] !== undefined)
      ) {
        next['residence_in_prefecture'] = prefectureQuestion(value, `${target}.${name}`);
        continue;
      }
      if (name === 'residence_in_prefecture') {
        next[name] = prefectureQuestion(value, `${target}.${name}`);
        continue;
      }
      next[name] = value;
    }
    out[target] = next;
  }
  return oneResidenceQuestion(out);
}

/**
 * `claims` with `residence_in_prefecture` asking, in each target that asks it, about the union of the prefectures both
 * targets ask about (the ID token's first, each once): one yes/no for the one question the consent screen and the
 * statement show (consent/items.ts merges both requests into one item). Each target keeps its own `essential` and
 * `purpose`. Unchanged when fewer than two targets ask.
 */
function oneResidenceQuestion(claims: Record<string, unknown>): Record<string, unknown> {
  const targets = (['id_token', 'userinfo'] as const).filter(
    (t) => isObject(claims[t]) && isObject((claims[t] as Record<string, unknown>)['residence_in_prefecture']),
  );
  if (targets.length < 2) return claims;
  const question = (t: (typeof targets)[number]) =>
    (claims[t] as Record<string, unknown>)['residence_in_prefecture'] as Record<string, unknown>;
  const values = [...new Set(targets.flatMap((t) => question(t)['values'] as string[]))];
  const out = { ...claims };
  for (const t of targets) {
    out[t] = { ...(claims[t] as Record<string, unknown>), residence_in_prefecture: { ...question(t), values } };
  }
  return out;
}

/** The `verified_claims` request elements of a normalised member (object, array form, or its wrapper). */
export function verifiedClaimsRequests(value: unknown): readonly VerifiedClaimsRequest[] {
  if (isWrapped(value)) return (value as Record<string, unknown>)[ARRAY_MEMBER] as VerifiedClaimsRequest[];
  if (Array.isArray(value)) return value as VerifiedClaimsRequest[];
  return isObject(value) ? [value as unknown as VerifiedClaimsRequest] : [];
}

/** Whether the normalised `verified_claims` member is the array form (the answer is then an array too). */
export function isArrayForm(value: unknown): boolean {
  return isWrapped(value) || Array.isArray(value);
}

/**
 * The requested claims of an authorization request's (normalised) `claims` parameter string; empty targets when
 * there is none or it does not parse (node-oidc-provider has refused it already then).
 */
export function requestedClaims(parameter: unknown): RequestedClaims {
  let parsed: unknown;
  try {
    parsed = typeof parameter === 'string' ? JSON.parse(parameter) : parameter;
  } catch {
    parsed = undefined;
  }
  const p = isObject(parsed) ? parsed : {};
  return {
    id_token: isObject(p['id_token']) ? p['id_token'] : {},
    userinfo: isObject(p['userinfo']) ? p['userinfo'] : {},
  };
}

/** Whether a claim request says `essential: true` (OIDC Core §5.5.1). */
export function isEssential(request: unknown): boolean {
  return isObject(request) && request['essential'] === true;
}

function isWrapped(value: unknown): boolean {
  return isObject(value) && Array.isArray(value[ARRAY_MEMBER]) && Object.keys(value).length === 1;
}

function checkClaimRequest(value: unknown, where: string): asserts value is ClaimRequest {
  if (value === null) return;
  if (!isObject(value)) invalid(`${where} must be null or an object`);
  const v = value as Record<string, unknown>;
  if (v['essential'] !== undefined && typeof v['essential'] !== 'boolean')
    invalid(`${where}.essential must be boolean`);
  if (v['values'] !== undefined && !Array.isArray(v['values'])) invalid(`${where}.values must be an array`);
  if (v['purpose'] !== undefined) {
    const purpose = v['purpose'];
    // OIDC4IA §5.5.1: a purpose shorter than 3 or longer than 300 characters fails the request.
    if (typeof purpose !== 'string' || [...purpose].length < 3 || [...purpose].length > 300) {
      invalid(`${where}.purpose must be 3 to 300 characters`);
    }
    if (!displayable(purpose as string)) invalid(`${where}.purpose holds a control or bidi-control character`);
  }
  if (v['max_age'] !== undefined && !(Number.isSafeInteger(v['max_age']) && (v['max_age'] as number) >= 0)) {
    invalid(`${where}.max_age must be a non-negative integer`);
  }
}

/** `{ value | values }` of prefecture names → `{ values, essential? }` of `residence_in_prefecture`. */
function prefectureQuestion(value: ClaimRequest, where: string): ClaimRequest {
  if (value === null) return invalid(`${where} needs value or values (the prefectures asked about)`);
  const values = value['values'] ?? (value['value'] === undefined ? undefined : [value['value']]);
  if (!Array.isArray(values) || values.length === 0 || values.some((p) => typeof p !== 'string' || p === '')) {
    return invalid(`${where} value(s) must be prefecture names`);
  }
  return {
    values,
    ...(value['essential'] === true ? { essential: true } : {}),
    ...(typeof value['purpose'] === 'string' ? { purpose: value['purpose'] } : {}),
  };
}

/** A `verified_claims` member → its elements, checked against OIDC4IA's request schema (the parts we use). */
function readVerifiedClaims(value: unknown, target: string): VerifiedClaimsRequest[] {
  const where = `${target}.verified_claims`;
  const list = isWrapped(value)
    ? ((value as Record<string, unknown>)[ARRAY_MEMBER] as unknown[])
    : Array.isArray(value)
      ? value
      : [value];
  if (list.length === 0) invalid(`${where} must not be an empty array`);
  return list.map((element, i) => {
    const at = Array.isArray(value) || isWrapped(value) ? `${where}[${i}]` : where;
    if (!isObject(element)) return invalid(`${at} must be an object`);
    const verification = element['verification'];
    if (!isObject(verification)) return invalid(`${at}.verification is required`);
    if (!('trust_framework' in verification)) invalid(`${at}.verification.trust_framework is required`);
    checkConstraint(verification['trust_framework'], `${at}.verification.trust_framework`);
    for (const [name, member] of Object.entries(verification)) {
      if (name === 'evidence') checkEvidence(member, `${at}.verification.evidence`);
      else if (name !== 'trust_framework') checkConstraint(member, `${at}.verification.${name}`);
    }
    const claims = element['claims'];
    // OIDC4IA request schema: `claims` is required and names at least one claim.
    if (!isObject(claims) || Object.keys(claims).length === 0) return invalid(`${at}.claims must name claims`);
    for (const [name, member] of Object.entries(claims)) checkClaimRequest(member, `${at}.claims.${name}`);
    return { verification, claims } as VerifiedClaimsRequest;
  });
}

function checkConstraint(value: unknown, where: string): void {
  checkClaimRequest(value, where);
}

/** `evidence`: an array of filters, each naming its `type` with `value` (OIDC4IA §5.6: `values` is not allowed). */
function checkEvidence(value: unknown, where: string): void {
  if (value === null) return;
  if (!Array.isArray(value) || value.length === 0) invalid(`${where} must be a non-empty array`);
  (value as unknown[]).forEach((filter, i) => {
    if (!isObject(filter)) return invalid(`${where}[${i}] must be an object`);
    const type = filter['type'];
    if (!isObject(type) || typeof type['value'] !== 'string' || type['values'] !== undefined) {
      invalid(`${where}[${i}].type must be { value }`);
    }
    for (const [name, member] of Object.entries(filter)) {
      if (name !== 'type') checkConstraint(member, `${where}[${i}].${name}`);
    }
  });
}

// C0 and C1 controls, DEL, and the Unicode Bidi_Control characters (ALM, LRM, RLM, LRE-RLO, LRI-PDI).
const UNDISPLAYABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/**
 * Whether a purpose can be shown and signed as it reads: it goes verbatim onto the consent and signing pages and into
 * the signed statement's text, where a right-to-left override or a line break would change how the signed sentence
 * reads. No controls, no bidi controls, no lone surrogates.
 */
export function displayable(text: string): boolean {
  return text.isWellFormed() && !UNDISPLAYABLE.test(text);
}
