/**
 * A refresh asks the card again: before node-oidc-provider issues anything for a `refresh_token` grant, the
 * authentication certificate of the login the token descends from (login-credentials.ts) is validated again by the
 * verifier, revocation included, and so is the signing certificate of the verified identity the grant keeps, if any
 * (ekyc/signing-recheck.ts: the certificate itself with `ekyc.keepCertificate`, else by its CA, serial and notAfter).
 * A card reported lost, stolen or replaced, or a signing certificate revoked by a move, ends its grants' refresh
 * tokens at their next use, not 14 days later.
 *
 * Fail closed: a revocation source that cannot answer (`ERR_PKI_REVOCATION_UNKNOWN`, `ERR_PKI_OCSP_*`), a login whose
 * certificate was not kept, an identity that keeps no reference to its signing certificate, or a verifier that cannot
 * validate a certificate refuses the refresh (`invalid_grant`), the grant left as it is for a later try. A
 * certificate found revoked (`ERR_PKI_CERT_REVOKED`) or no longer valid (a path validation code, e.g.
 * `ERR_PKI_CERT_EXPIRED`) refuses it and revokes the grant: its tokens, the grant and its verified identity are
 * deleted.
 *
 * The hook is node-oidc-provider's `findAccount`, which its refresh_token grant calls with the refresh token once
 * the token and its grant are found valid, and before the token is consumed or rotated: an `invalid_grant` thrown
 * there is the token endpoint's answer, and nothing has been issued.
 */
import { errors, type FindAccount, type KoaContextWithOIDC, type RefreshToken } from 'oidc-provider';
import { isMynaGateError } from '@mynagate/errors';
import type { IdentityStore } from './ekyc/identity-store.ts';
import {
  certificateEnded,
  recheckSigningCertificate,
  type SigningCertificateVerifier,
} from './ekyc/signing-recheck.ts';
import { revokeGrantTokens } from './lib/revoke-grant.ts';
import type { LoginCredentials } from './login-credentials.ts';

/**
 * What validates a certificate again: `@mynagate/pki`'s verifier (`verifyCertificate`; `signingStatus` for a signing
 * certificate kept by reference).
 */
export interface CertificateVerifier {
  /** Validates `der` as a certificate of `kind` at `at`, revocation included; rejects with `ERR_PKI_*`. */
  verifyCertificate(der: Uint8Array, kind: 'auth' | 'sign', at?: Date): Promise<unknown>;
  /** Whether the signing certificate a reference names stands at `at`; rejects with `ERR_PKI_*`. */
  signingStatus: SigningCertificateVerifier['signingStatus'];
}

/** What {@link checkRefreshCredentials} needs. */
export interface RefreshCheckDeps {
  /** The provider's verifier; one without `verifyCertificate` refuses every refresh. */
  readonly verifier: Partial<CertificateVerifier> | object;
  readonly logins: Pick<LoginCredentials, 'get'>;
  readonly identities: Pick<IdentityStore, 'get' | 'delete'>;
  /** Epoch ms: the time the certificates are validated at. */
  readonly now: () => number;
}

/**
 * `findAccount` that, for a refresh token, first re-checks the certificates of its login (see the top of this file),
 * then answers as `findAccount` does. Every other use (authorization, code exchange, UserInfo) is `findAccount`'s alone.
 *
 * @example findAccount: checkRefreshCredentials(accountFinder(people, sources), { verifier, logins, identities, now })
 * @throws node-oidc-provider's `InvalidGrant` (`invalid_grant`) when the refresh is refused.
 */
export function checkRefreshCredentials(findAccount: FindAccount, deps: RefreshCheckDeps): FindAccount {
  return async (ctx, sub, token) => {
    if (token?.kind === 'RefreshToken') await recheck(ctx, token as RefreshToken, deps);
    return findAccount(ctx, sub, token);
  };
}

async function recheck(ctx: KoaContextWithOIDC, token: RefreshToken, deps: RefreshCheckDeps): Promise<void> {
  // A used token replayed (rotation: each is used once) is node-oidc-provider's to refuse, and it then revokes the
  // grant as stolen; asked first, an unreachable revocation source would answer it and the theft go unnoticed.
  if (token.consumed) return;
  const grantId = token.grantId;
  const verify = (deps.verifier as Partial<CertificateVerifier>).verifyCertificate;
  if (typeof grantId !== 'string' || typeof token.authTime !== 'number' || typeof verify !== 'function') {
    throw new errors.InvalidGrant('the login of this refresh token cannot be checked again');
  }
  const [login, identity] = await Promise.all([
    deps.logins.get(token.accountId, token.authTime),
    deps.identities.get(grantId),
  ]);
  if (login?.certificate === undefined) {
    throw new errors.InvalidGrant('the card of this refresh token’s login is not known');
  }
  const at = new Date(deps.now());
  const der = (base64: string) => new Uint8Array(Buffer.from(base64, 'base64'));
  // Both asked to the end: a signing certificate found revoked ends the grant even while the login's status is unknown.
  const failed = (
    await Promise.allSettled([
      verify.call(deps.verifier, der(login.certificate), 'auth', at),
      identity === undefined ? undefined : recheckSigningCertificate(deps.verifier, identity, at),
    ])
  ).flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failed.length === 0) return;
  const ended = failed.find(certificateEnded);
  if (ended !== undefined) await revoke(ctx, grantId, deps.identities);
  throw new errors.InvalidGrant(`the card of this grant does not stand: ${codeOf(ended ?? failed[0])}`);
}

function codeOf(e: unknown): string {
  return isMynaGateError(e) ? e.code : 'unexpected error';
}

/**
 * Revokes the grant as node-oidc-provider's own revocation does (`grant.revoked` is emitted): its tokens and verified
 * identity, then the grant. A failure here still refuses the refresh; a later refresh finds the card revoked again.
 */
async function revoke(
  ctx: KoaContextWithOIDC,
  grantId: string,
  identities: Pick<IdentityStore, 'delete'>,
): Promise<void> {
  const { provider } = ctx.oidc;
  try {
    await revokeGrantTokens(provider, identities, grantId);
    await provider.Grant.adapter.destroy(grantId);
    provider.emit('grant.revoked', ctx, grantId);
  } catch {
    // Refused all the same (the caller throws invalid_grant).
  }
}
