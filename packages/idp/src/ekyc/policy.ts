/**
 * When a request needs an identity proven by card signature, and the `ekyc` interaction prompt that asks for it.
 *
 * Order of prompts: `login` (card login with the authentication certificate: "this card and its PIN holder"),
 * `consent` (what the service receives), then `ekyc` (the statement, with what was consented, signed with the signing
 * certificate: identity under 犯収法 施行規則 6条1項1号ワ). A signature answers only what its statement listed, so a
 * request for more asks for a new one. The signature comes after the card login rather than instead of it: people
 * are keyed by their authentication certificate (pairwise `sub` survives a move, which revokes the signing
 * certificate), and a signing certificate alone proves identity but not the card session.
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_CARD_SIGN } from '../acr.ts';
import { IDENTITY_CLAIM_NAMES } from '../claims/names.ts';
import { requestedClaims } from '../claims/request.ts';
import type { SignedCoverage } from '../claims/retention.ts';
import { consentItems } from '../consent/items.ts';
import type { IdentityStore } from './identity-store.ts';

/** The prompt's name; the interaction page shows the signing step for it. */
export const EKYC_PROMPT = 'ekyc';

/**
 * Whether an authorization request needs a verified identity: it asks for the card-signature ACR, or for a claim
 * only a verified identity answers (`verified_claims`, basic-4, derived), minus those the person declined.
 */
export function needsIdentity(params: Readonly<Record<string, unknown>>, declined: readonly string[] = []): boolean {
  return acrRequested(params) || identityClaimsRequested(params, declined).length > 0;
}

/** Whether `acr_values` asks for the card signature. */
export function acrRequested(params: Readonly<Record<string, unknown>>): boolean {
  const acr = params['acr_values'];
  return typeof acr === 'string' && acr.split(' ').includes(ACR_CARD_SIGN);
}

/** The requested claims that need a verified identity, without those declined. */
export function identityClaimsRequested(
  params: Readonly<Record<string, unknown>>,
  declined: readonly string[] = [],
): string[] {
  const requested = requestedClaims(params['claims']);
  const names = new Set([...Object.keys(requested.id_token), ...Object.keys(requested.userinfo)]);
  return [...names].filter((n) => IDENTITY_CLAIM_NAMES.has(n) && !declined.includes(n));
}

/**
 * What a request needs a signature to cover, in the grant's terms (consent/items.ts): the key and the details of
 * every identity claim it asks for (`verified_claims` and `verified_claims.name`, `residence_in_prefecture` and
 * `residence_in_prefecture=東京都`, `age_over_20`, …), except those the person declined.
 */
export function signatureNeeds(params: Readonly<Record<string, unknown>>, declined: readonly string[] = []): string[] {
  return consentItems(requestedClaims(params['claims']), '')
    .filter((i) => !i.key.startsWith('scope:') && !declined.includes(i.key))
    .flatMap((i) => [i.key, ...i.details]);
}

/**
 * The entries of {@link signatureNeeds} that the signature recorded as `signed` did not cover. With no record
 * (an identity kept before coverage was recorded) nothing is covered.
 *
 * @example
 * ```ts
 * unsignedNeeds(params, [], { claims: ['age_over_20'], details: [] }) // ['verified_claims', 'verified_claims.name', …]
 * ```
 */
export function unsignedNeeds(
  params: Readonly<Record<string, unknown>>,
  declined: readonly string[],
  signed: SignedCoverage | undefined,
): string[] {
  const have = new Set([...(signed?.claims ?? []), ...(signed?.details ?? [])]);
  return signatureNeeds(params, declined).filter((entry) => !have.has(entry));
}

/**
 * The `ekyc` prompt: requested when the request needs an identity and this grant has none verified for this
 * person, or has one whose signed statement did not list everything the request now asks for (a signature for
 * `age_over_20` never answers `verified_claims`; an identity that records no coverage answers nothing), or when the
 * card-signature ACR is asked for and this session has not signed (a fresh card login, e.g. by `prompt=login` or
 * `max_age`, needs a fresh signature).
 */
export function ekycPrompt(identities: IdentityStore): interactionPolicy.Prompt {
  return new interactionPolicy.Prompt(
    { name: EKYC_PROMPT, requestable: false },
    new interactionPolicy.Check(
      'card_signature_required',
      'an identity proven by a card signature is required',
      async (ctx: KoaContextWithOIDC) => {
        const params = (ctx.oidc.params ?? {}) as Record<string, unknown>;
        const declined = ctx.oidc.grant?.getRejectedOIDCClaims() ?? [];
        if (!needsIdentity(params, declined)) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const grantId = ctx.oidc.grant?.jti;
        const identity = typeof grantId === 'string' ? await identities.get(grantId) : undefined;
        if (identity === undefined || identity.accountId !== ctx.oidc.session?.accountId) {
          return interactionPolicy.Check.REQUEST_PROMPT;
        }
        if (identity.signed === undefined || unsignedNeeds(params, declined, identity.signed).length > 0) {
          return interactionPolicy.Check.REQUEST_PROMPT;
        }
        if (acrRequested(params) && ctx.oidc.acr !== ACR_CARD_SIGN) return interactionPolicy.Check.REQUEST_PROMPT;
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      },
    ),
  );
}
