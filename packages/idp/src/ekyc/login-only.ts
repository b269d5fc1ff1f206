/**
 * The refusal of eKYC to a client that gets card login only (client-origin.ts `loginOnlyReason`: a public client,
 * which does not authenticate at the token endpoint, or one no signed statement can name by its redirect URI, as a
 * native app's private-use scheme). It runs where node-oidc-provider checks an authorization
 * request, and a pushed one (PAR), before any interaction: the person is never shown a login page that could only
 * end in a refusal, and no statement naming the origin `"null"` is ever built.
 */
import { errors, type Client, type KoaContextWithOIDC } from 'oidc-provider';
import { loginOnlyReason, statementOrigin } from '../client-origin.ts';
import { IdpClientLoginOnlyError } from '../errors.ts';
import { needsIdentity } from './policy.ts';

/**
 * Refuses the request in `ctx` when it needs a verified identity ({@link needsIdentity}: the card-signature ACR, or a
 * claim only an identity answers, `verified_claims`, the basic-4 or a derived claim; scopes give none of them) and its
 * client is not offered eKYC by the provider at `providerOrigin` (`loginOnlyReason`: a public client, whatever its
 * redirect URIs; else one not every registered redirect URI of which a statement can name, or whose request's own
 * redirect URI none can, which a native client's loopback one may vary by its port). Fails closed: no client, or an
 * auth method unknown here, is no eKYC.
 *
 * For node-oidc-provider's `extraParams` validators, which it runs on every authorization and pushed authorization
 * request (the parameter present or not), with the client, once the `claims` parameter is normalised (and, at the
 * authorization endpoint, the client's `default_acr_values` applied).
 *
 * @throws node-oidc-provider `InvalidRequest`: OAuth `invalid_request` (the client gets it at its redirect URI, or as
 *   PAR's JSON answer), whose `error_description` is `ERR_IDP_CLIENT_LOGIN_ONLY: <message>`
 *   ({@link IdpClientLoginOnlyError}, its message saying why; ASCII, as RFC 6749 §4.1.2.1 wants it).
 * @example
 * ```ts
 * extraParams: { purpose: (ctx, value, client) => refuseLoginOnlyEkyc(ctx, client, config.origin) }
 * ```
 */
export function refuseLoginOnlyEkyc(ctx: KoaContextWithOIDC, client: Client | undefined, providerOrigin: string): void {
  const params = (ctx.oidc.params ?? {}) as Record<string, unknown>;
  if (!needsIdentity(params)) return;
  const redirectUri = params['redirect_uri'];
  const reason =
    loginOnlyReason(client, providerOrigin) ??
    (redirectUri === undefined || statementOrigin(redirectUri, providerOrigin) !== undefined
      ? undefined
      : 'redirect-uri');
  if (reason === undefined) return;
  const refusal = new IdpClientLoginOnlyError(reason);
  throw new errors.InvalidRequest(`${refusal.code}: ${refusal.message}`);
}
