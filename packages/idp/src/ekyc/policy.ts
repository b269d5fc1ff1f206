/**
 * When a request needs an identity proven by card signature, and the `ekyc` interaction prompt that asks for it.
 *
 * Order of prompts: `login` (card login with the authentication certificate: "this card and its PIN holder"),
 * `consent` (what the service receives), then `ekyc` (the statement, with what was consented, signed with the signing
 * certificate: identity under 犯収法 施行規則 6条1項1号ワ). A signature answers only what its statement listed, so a
 * request for more asks for a new one, and so does a request for another purpose (the statement's `purpose` is what
 * the person agreed the identity is checked for) or with other per-claim purposes (the statement's `claimPurposes`).
 * The signature comes after the card login rather than instead of it: people are keyed by their authentication
 * certificate (pairwise `sub` survives a move, which revokes the signing certificate), and a signing certificate
 * alone proves identity but not the card session.
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { isMynaGateError } from '@mynagate/errors';
import { ACR_CARD_SIGN } from '../acr.ts';
import { IDENTITY_CLAIM_NAMES } from '../claims/names.ts';
import { requestedClaims } from '../claims/request.ts';
import type { SignedClient, SignedCoverage } from '../claims/retention.ts';
import { claimPurposesOf, consentItems, type ConsentItem } from '../consent/items.ts';
import type { IdentityStore, VerifiedIdentity } from './identity-store.ts';
import { certificateEnded, recheckSigningCertificate, type SigningCertificateVerifier } from './signing-recheck.ts';
import { statementPurpose } from './statement.ts';

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
 * The consent items a statement for this request lists: `openid`, and each requested claim that the grant holds
 * (`granted`) and the person did not decline (`rejected`). The signing page shows and signs these, and their claim
 * keys choose the default purpose ({@link statementTerms}).
 */
export function statementItems(
  params: Readonly<Record<string, unknown>>,
  granted: readonly string[],
  rejected: readonly string[],
): ConsentItem[] {
  const have = new Set(granted);
  const declined = new Set(rejected);
  return consentItems(requestedClaims(params['claims']), String(params['scope'] ?? '')).filter(
    (i) => i.key === 'scope:openid' || (have.has(i.key) && !declined.has(i.key)),
  );
}

/** Whom and what for a statement is signed, besides its items: what {@link unsignedTerms} compares. */
export interface StatementTerms {
  readonly purpose: string;
  /**
   * The per-claim purposes (OIDC4IA §5.5.1) of every entry the statement lists (each claim key and detail, `[]` for
   * one given none), sorted: what its `claimPurposes` member signs (consent/items.ts `claimPurposesOf`).
   */
  readonly claimPurposes: Readonly<Record<string, readonly string[]>>;
  /** The client id, its display name and the origin of the request's redirect URI (`undefined`: none readable). */
  readonly client: { readonly id: string; readonly name: string; readonly origin: string | undefined };
}

/**
 * What a statement for this request would say about whom and what for: the client (id, the display name, the
 * origin of `redirect_uri`), the purpose ({@link statementPurpose} of `claims`, the keys of {@link statementItems}),
 * and the per-claim purposes the request gives those claims. The signing page builds its statement from these and
 * the `ekyc` prompt compares them with an earlier signature's, so both take them from here.
 *
 * @example statementTerms({ params, clientId, clientName, purposes: config.ekyc.purposes, claims: ['age_over_20'] })
 */
export function statementTerms(input: {
  readonly params: Readonly<Record<string, unknown>>;
  readonly clientId: string;
  readonly clientName: string;
  /** `ekyc.purposes`: the purpose configured per client id. */
  readonly purposes: Readonly<Record<string, string>>;
  readonly claims: readonly string[];
}): StatementTerms {
  const { params, clientId, clientName, purposes, claims } = input;
  const listed = consentItems(requestedClaims(params['claims']), '').filter((i) => claims.includes(i.key));
  return {
    purpose: statementPurpose({ requested: params['purpose'], purposes, clientId, claims }),
    claimPurposes: claimPurposesOf(listed),
    client: { id: clientId, name: clientName, origin: originOf(params['redirect_uri']) },
  };
}

/** A term of {@link StatementTerms} a signature may not have been made for. */
export type StatementTerm = 'purpose' | 'claimPurposes' | 'client';

/**
 * Which of a request's {@link StatementTerms} the signature recorded as `signed` was not made for: `purpose` unless
 * the signed purpose is exactly the one a new statement would give; `claimPurposes` unless every entry the new
 * statement lists has exactly the per-claim purposes signed for it (an entry signed without any needs none now, and
 * entries signed but not asked for now do not matter, as for the claims); `client` unless the same client id, name
 * and origin. Coverage recorded before the purpose and client were (identities kept from then) has neither, and so
 * is made for no purpose and no client: the request asks for a new signature rather than guess what it was signed
 * for. Coverage recorded before per-claim purposes were is read as signed without any, which is what its statement
 * said (it listed none): it still serves a request that gives none, and never one that gives some.
 *
 * @example
 * ```ts
 * unsignedTerms({ claims: ['age_over_20'], details: [], purpose: '酒類の購入', client }, { purpose: '会員登録', client })
 * // ['purpose']
 * ```
 */
export function unsignedTerms(signed: SignedCoverage | undefined, terms: StatementTerms): StatementTerm[] {
  const out: StatementTerm[] = [];
  // No recorded purpose (an identity kept from before it was recorded): it covers none, so this fails closed.
  if (signed?.purpose === undefined || signed.purpose !== terms.purpose) out.push('purpose');
  const signedPurposes = signed?.claimPurposes ?? {};
  const same = (entry: string, wanted: readonly string[]) => {
    const had = Object.hasOwn(signedPurposes, entry) ? signedPurposes[entry]! : [];
    return had.length === wanted.length && had.every((p, i) => p === wanted[i]);
  };
  if (!Object.entries(terms.claimPurposes).every(([entry, wanted]) => same(entry, wanted))) out.push('claimPurposes');
  if (signed?.client === undefined || terms.client.origin === undefined || !sameClient(signed.client, terms.client)) {
    out.push('client');
  }
  return out;
}

function sameClient(signed: SignedClient, wanted: StatementTerms['client']): boolean {
  return signed.id === wanted.id && signed.name === wanted.name && signed.origin === wanted.origin;
}

function originOf(uri: unknown): string | undefined {
  if (typeof uri !== 'string') return undefined;
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
}

/** What the `ekyc` prompt asks the signing certificate of a kept identity with (signing-recheck.ts). */
export interface EkycPromptSigning {
  /** The provider's verifier (`verifyCertificate`, `signingStatus`); one that has neither reuses no identity. */
  readonly verifier: Partial<SigningCertificateVerifier> | object;
  /** Epoch ms: the time the certificate is asked about at. */
  readonly now: () => number;
}

/** Why the `ekyc` prompt is asked for, once per request: its checks share it. */
type EkycNeed =
  | { readonly need: 'none' | 'signature' }
  /** The identity's signing certificate is revoked or expired (the identity is deleted), or its status unknown. */
  | { readonly need: 'ended' | 'unknown'; readonly code: string };

const NONE: EkycNeed = { need: 'none' };
const SIGNATURE: EkycNeed = { need: 'signature' };

/**
 * The `ekyc` prompt: requested when the request needs an identity and this grant has none verified for this
 * person and client, or has one whose signed statement did not list everything the request now asks for (a
 * signature for `age_over_20` never answers `verified_claims`; an identity that records no coverage answers
 * nothing), or was signed for another purpose, other per-claim purposes or another service than a statement for this
 * request would name (the same claims asked for a new purpose are signed for again), or when the card-signature ACR
 * is asked for and this session has not signed (a fresh card login, e.g. by `prompt=login` or `max_age`, needs a
 * fresh signature) (reason `card_signature_required`).
 *
 * An identity that would serve is reused only once its signing certificate is asked about again
 * (signing-recheck.ts): revoked or expired (a move revokes it), the identity is deleted and the person signs again
 * (reason `signing_certificate_ended`); a status that cannot be had asks for a new signature too, the identity kept
 * (reason `signing_certificate_unknown`). Each carries the verifier's code in the prompt's details
 * (`signingCertificate`). The identity the signature of this very interaction made is not asked about again: the
 * signature's check asked a moment ago, and a source that can answer for a certificate but not for a reference (a
 * partitioned CRL) would ask for signature after signature.
 *
 * `purposes` is `ekyc.purposes`: what the signing page's statement says when a request has no `purpose`, so the
 * prompt knows the purpose a statement for the request would give.
 *
 * @example prompts.add(ekycPrompt(identities, config.ekyc.purposes, { verifier: config.verifier, now: config.now }))
 */
export function ekycPrompt(
  identities: IdentityStore,
  purposes: Readonly<Record<string, string>>,
  signing: EkycPromptSigning,
): interactionPolicy.Prompt {
  // The checks of one request run together (node-oidc-provider awaits them all): one answer serves them.
  const asked = new WeakMap<KoaContextWithOIDC, Promise<EkycNeed>>();
  const needOf = (ctx: KoaContextWithOIDC): Promise<EkycNeed> => {
    let need = asked.get(ctx);
    if (need === undefined) asked.set(ctx, (need = ekycNeed(ctx, identities, purposes, signing)));
    return need;
  };
  const check = (reason: string, description: string, when: EkycNeed['need']) =>
    new interactionPolicy.Check(
      reason,
      description,
      async (ctx: KoaContextWithOIDC) =>
        (await needOf(ctx)).need === when
          ? interactionPolicy.Check.REQUEST_PROMPT
          : interactionPolicy.Check.NO_NEED_TO_PROMPT,
      async (ctx: KoaContextWithOIDC) => {
        const need = await needOf(ctx);
        return 'code' in need ? { signingCertificate: need.code } : {};
      },
    );
  return new interactionPolicy.Prompt(
    { name: EKYC_PROMPT, requestable: false },
    check('card_signature_required', 'an identity proven by a card signature is required', 'signature'),
    check(
      'signing_certificate_ended',
      'the signing certificate of the verified identity is revoked or has expired',
      'ended',
    ),
    check(
      'signing_certificate_unknown',
      'the status of the signing certificate of the verified identity cannot be had',
      'unknown',
    ),
  );
}

async function ekycNeed(
  ctx: KoaContextWithOIDC,
  identities: IdentityStore,
  purposes: Readonly<Record<string, string>>,
  signing: EkycPromptSigning,
): Promise<EkycNeed> {
  const params = (ctx.oidc.params ?? {}) as Record<string, unknown>;
  const declined = ctx.oidc.grant?.getRejectedOIDCClaims() ?? [];
  if (!needsIdentity(params, declined)) return NONE;
  const grantId = ctx.oidc.grant?.jti;
  const identity = typeof grantId === 'string' ? await identities.get(grantId) : undefined;
  if (identity === undefined || identity.accountId !== ctx.oidc.session?.accountId) return SIGNATURE;
  const client = ctx.oidc.client;
  // An identity is verified for one service: another never reuses it (a grant is one client's; this holds should an
  // identity ever sit under another's grant).
  if (client === undefined || identity.clientId !== client.clientId) return SIGNATURE;
  if (identity.signed === undefined || unsignedNeeds(params, declined, identity.signed).length > 0) return SIGNATURE;
  const claims = statementItems(params, ctx.oidc.grant?.getOIDCClaims() ?? [], declined)
    .filter((i) => !i.key.startsWith('scope:'))
    .map((i) => i.key);
  const terms = statementTerms({
    params,
    clientId: client.clientId,
    clientName: client.clientName ?? client.clientId,
    purposes,
    claims,
  });
  if (unsignedTerms(identity.signed, terms).length > 0) return SIGNATURE;
  if (acrRequested(params) && ctx.oidc.acr !== ACR_CARD_SIGN) return SIGNATURE;
  if (signedInThisInteraction(ctx, identity)) return NONE;
  try {
    await recheckSigningCertificate(signing.verifier, identity, new Date(signing.now()));
    return NONE;
  } catch (e) {
    const code = isMynaGateError(e) ? e.code : 'unexpected error';
    if (!certificateEnded(e)) return { need: 'unknown', code };
    // What it says is no longer true: gone, as a refresh that finds it so deletes it (refresh-check.ts). A delete
    // that fails still asks for a new signature, which replaces it.
    await identities.delete(identity.grantId).catch(() => {});
    return { need: 'ended', code };
  }
}

/**
 * Whether `identity` is the one the signature of this interaction made: the interaction ends with the signature as
 * its login (ekyc/pages.ts: acr card-sign at the signature's time, the time the identity records as `verifiedAt`).
 * Only the resume of that interaction carries it; a later authorization, in the same browser session or not, does
 * not.
 */
function signedInThisInteraction(ctx: KoaContextWithOIDC, identity: VerifiedIdentity): boolean {
  const login = (ctx.oidc.result as { login?: { acr?: unknown; ts?: unknown } } | undefined)?.login;
  return login?.acr === ACR_CARD_SIGN && login.ts === Math.floor(Date.parse(identity.verifiedAt) / 1000);
}
