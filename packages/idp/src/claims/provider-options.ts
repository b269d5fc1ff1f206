/**
 * The node-oidc-provider options of the claims layer, set once in `provider.ts`: which claims exist, the `claims`
 * parameter hook, the OIDC4IA `purpose` request parameter, and the OIDC4IA discovery metadata.
 */
import { errors, type ClaimsParameter, type KoaContextWithOIDC } from 'oidc-provider';
import { DERIVED_CLAIM_NAMES, EVIDENCE_TYPE, TRUST_FRAMEWORK, VERIFIED_CLAIM_NAMES } from './names.ts';
import { displayable, normalizeClaimsParameter } from './request.ts';

/**
 * Claims not tied to a scope (node-oidc-provider's `claims` option, `{ claim: null }`): personal data is released
 * only when requested one by one through the `claims` parameter and consented, never by a broad scope.
 */
export const IDENTITY_CLAIMS_OPTION: Readonly<Record<string, null>> = Object.freeze(
  Object.fromEntries(['verified_claims', ...VERIFIED_CLAIM_NAMES, ...DERIVED_CLAIM_NAMES].map((c) => [c, null])),
);

/** OIDC4IA §7 OP metadata. */
export const IDA_DISCOVERY = Object.freeze({
  verified_claims_supported: true,
  trust_frameworks_supported: [TRUST_FRAMEWORK],
  evidence_supported: [EVIDENCE_TYPE],
  claims_in_verified_claims_supported: [...VERIFIED_CLAIM_NAMES],
});

/**
 * `features.claimsParameter.assertClaimsParameter`: checks the parameter and replaces it with its normalised form
 * (see `request.ts` for why the parameter itself is rewritten).
 *
 * @throws node-oidc-provider `InvalidRequest`.
 */
export async function assertClaimsParameter(ctx: KoaContextWithOIDC, claims: ClaimsParameter): Promise<void> {
  const normalized = normalizeClaimsParameter(claims as Record<string, unknown>);
  (ctx.oidc.params as Record<string, unknown>)['claims'] = JSON.stringify(normalized);
}

/**
 * `extraParams.purpose` (OIDC4IA §5.5.1 / §8: the purpose of the request, shown to the person): 3 to 300 characters.
 *
 * @throws node-oidc-provider `InvalidRequest`.
 */
export function validatePurpose(_ctx: KoaContextWithOIDC, value: string | undefined): void {
  if (value === undefined) return;
  if ([...value].length < 3 || [...value].length > 300) {
    throw new errors.InvalidRequest('purpose must be 3 to 300 characters');
  }
  if (!displayable(value)) throw new errors.InvalidRequest('purpose holds a control or bidi-control character');
}
