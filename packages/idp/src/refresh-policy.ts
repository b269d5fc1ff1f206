/**
 * How long a refresh token chain lasts: 14 days from the code exchange that began it, rotation or not. node-oidc-provider's
 * defaults give every rotated token a fresh lifetime (`ttl.RefreshToken`) and rotate until the chain is a year old
 * (`rotateRefreshToken`): a service could keep refreshing for a year after one card login. Here a rotated token
 * inherits what is left of the chain (its `iiat`, the first token's issue time, is kept through rotation), so the
 * chain ends 14 days after it began, and then the person logs in with the card again.
 */
import type { KoaContextWithOIDC, RefreshToken } from 'oidc-provider';

/** The longest a refresh token chain lasts, seconds: 14 days from its first token. */
export const REFRESH_CHAIN_SECONDS = 14 * 24 * 3600;

/**
 * node-oidc-provider's `ttl.RefreshToken`: what is left of the chain `token` belongs to, at least one second (the
 * option must be a positive integer; a token whose chain is over is refused as expired before it could rotate).
 *
 * @example ttl: { RefreshToken: refreshTokenTtl }
 */
export function refreshTokenTtl(_ctx: KoaContextWithOIDC | undefined, token: RefreshToken): number {
  const now = Math.floor(Date.now() / 1000);
  const began = typeof token.iiat === 'number' ? token.iiat : now;
  return Math.max(1, REFRESH_CHAIN_SECONDS - (now - began));
}

/**
 * node-oidc-provider's `rotateRefreshToken`: every use of a refresh token replaces it, so each is used once and a
 * second use of one (a copy taken and used by someone else) revokes the grant (node-oidc-provider's replay check,
 * RFC 9700 §4.14.2). The replacement lives only as long as the chain ({@link refreshTokenTtl}): rotation never
 * lengthens it.
 *
 * @example rotateRefreshToken
 */
export function rotateRefreshToken(_ctx: KoaContextWithOIDC): boolean {
  return true;
}
