/**
 * The refusal of eKYC by a provider that cannot tie a signing certificate to the card the person logged in with
 * (config.ts `EkycConfig.signingCardPair` unset). Without that tie any valid signing certificate would be accepted
 * and its identity kept under the account that logged in: a person who logs in with their own card and relays the
 * signing QR code to someone else (phishing) would get that person's verified identity under their own `sub`. So such
 * a provider offers no eKYC at all, and says so where node-oidc-provider checks an authorization request, and a pushed
 * one (PAR), before any interaction, as login-only.ts does for a client offered card login only.
 */
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { ResolvedEkycConfig } from '../config.ts';
import { IdpEkycUnpairedError } from '../errors.ts';
import { needsIdentity } from './policy.ts';

/**
 * Refuses the request in `ctx` when it needs a verified identity ({@link needsIdentity}: the card-signature ACR, or a
 * claim only an identity answers) and the provider offers no eKYC (`signingCardPair` undefined). `'unchecked'` and a
 * pairing function let it through.
 *
 * For node-oidc-provider's `extraParams` validators, which it runs on every authorization and pushed authorization
 * request, once the `claims` parameter is normalised (and, at the authorization endpoint, the client's
 * `default_acr_values` applied).
 *
 * @throws node-oidc-provider `InvalidRequest`: OAuth `invalid_request` (the client gets it at its redirect URI, or as
 *   PAR's JSON answer), whose `error_description` is `ERR_IDP_EKYC_UNPAIRED: <message>` ({@link IdpEkycUnpairedError}).
 * @example
 * ```ts
 * extraParams: { purpose: (ctx) => refuseUnpairedEkyc(ctx, config.ekyc.signingCardPair) }
 * ```
 */
export function refuseUnpairedEkyc(
  ctx: KoaContextWithOIDC,
  signingCardPair: ResolvedEkycConfig['signingCardPair'],
): void {
  if (signingCardPair !== undefined) return;
  if (!needsIdentity((ctx.oidc.params ?? {}) as Record<string, unknown>)) return;
  const refusal = new IdpEkycUnpairedError();
  throw new errors.InvalidRequest(`${refusal.code}: ${refusal.message}`);
}
