/**
 * Where a verified identity lives between the eKYC signature and the tokens that release it: beside the grant it
 * was made for, keyed by the grant id, for a bounded time ({@link identityLifetime}), and reused only while the
 * signing certificate that proved it stands: a new authorization and a refresh ask about it again first
 * (signing-recheck.ts), and one found revoked or expired deletes the identity. It holds only what the signed
 * statement covered (`claims/retention.ts`), and records that coverage. It is never written to the durable records
 * (people, credentials, audit): the audit keeps only the evidence (issuer, serial, the certificate's SHA-256, time,
 * statement hash). Withdrawing the consent or revoking the grant deletes it.
 *
 * Before that, from the verified signature until the browser that owns the signing transaction takes it (at most
 * the transaction's lifetime), it waits in the one-shot store only sealed to a key derived from that browser's
 * cookie (`sign-result:<txn>`, sign-transaction.ts): no copy of that store (SQLite's ephemeral file and WAL, a Redis
 * RDB or AOF, PostgreSQL's WAL or a backup) holds it in clear, nor anything that opens it once the cookie is gone.
 *
 * Stored through node-oidc-provider's adapter as the model `VerifiedIdentity` (with `grantId` in the payload, so the
 * store's `revokeByGrantId` reaches it), or in process memory when the provider runs on its in-memory adapter.
 */
import type { Adapter, default as Provider } from 'oidc-provider';
import type { SigningCertificateRef } from '@mynagate/pki';
import type { SignedCoverage } from '../claims/retention.ts';
import type { VerifiedFacts } from '../claims/verified-claims.ts';
import { memoryIdentityStore } from '../memory-stores.ts';

/** The model name in the adapter. */
export const IDENTITY_MODEL = 'VerifiedIdentity';

/** A verified identity bound to one grant (one person, one client). */
export interface VerifiedIdentity extends VerifiedFacts {
  readonly grantId: string;
  readonly accountId: string;
  readonly clientId: string;
  /** base64url SHA-256 of the signed statement. */
  readonly statementHash: string;
  /**
   * What the signed statement listed, and whom and what for: the only claims this identity answers, and what a later
   * request must stay within, for exactly the same purpose and service, to go without a new signature
   * (ekyc/policy.ts). Absent on identities kept before it was recorded, which then answer nothing and cover nothing;
   * recorded without `purpose`/`client` (kept before those were), it covers no purpose, so any request signs again.
   */
  readonly signed?: SignedCoverage;
  /**
   * The signing certificate by reference (`@mynagate/pki` `signingCertificateRef`: its CA's fingerprint, serial,
   * notAfter and OCSP URLs; nothing personal), so that its revocation and expiry are asked about again
   * (`Verifier.signingStatus`) before the identity is reused, without keeping the certificate. Absent on identities
   * kept before it was recorded: without {@link certificate} either, those are never reused (signing-recheck.ts).
   */
  readonly signingCertificate?: SigningCertificateRef;
  /**
   * The signing certificate, base64 DER, only with `ekyc.keepCertificate`. It carries the whole basic-4 whatever was
   * signed, so it lives here under the identity's lifetime and deletion (consent withdrawn, grant revoked, TTL), never
   * in the audit.
   */
  readonly certificate?: string;
}

/** Verified identities by grant. */
export interface IdentityStore {
  /** Stores `identity` for `ttlSeconds`, replacing an earlier one of the same grant. */
  put(identity: VerifiedIdentity, ttlSeconds: number): Promise<void>;
  /** The identity of a grant, if any and not expired. */
  get(grantId: string): Promise<VerifiedIdentity | undefined>;
  delete(grantId: string): Promise<void>;
}

/**
 * An identity store over node-oidc-provider's adapter factory, or in memory when `adapter` is `undefined`
 * (development: node-oidc-provider's own in-memory adapter then holds the grants, in the same process).
 *
 * @example
 * ```ts
 * const identities = identityStore(stores.adapter);
 * ```
 */
export function identityStore(
  adapter: ((name: string) => Adapter) | undefined,
  now: () => number = Date.now,
): IdentityStore {
  if (adapter !== undefined) {
    const model = adapter(IDENTITY_MODEL);
    return {
      put: (identity, ttlSeconds) =>
        model.upsert(
          identity.grantId,
          { ...identity } as unknown as Record<string, unknown>,
          ttlSeconds,
        ) as Promise<void>,
      get: async (grantId) => {
        const found = (await model.find(grantId)) as unknown as VerifiedIdentity | undefined;
        return found?.grantId === grantId ? found : undefined;
      },
      delete: async (grantId) => {
        await model.destroy(grantId);
      },
    };
  }
  // Deleted when expired, read or not (memory-stores.ts).
  return memoryIdentityStore({ now });
}

/**
 * How long a grant's verified identity is kept, seconds: at most `maxSeconds` (`ekyc.identityTtlSeconds`), and only
 * as long as a token of the grant can still ask for its claims. A grant that can get a refresh token (the client may
 * use them and `offline_access` was granted: node-oidc-provider's default `issueRefreshToken`) keeps it for
 * `maxSeconds`; any other grant only for the authorization code's lifetime plus the access token's (the ID token is
 * made when the code is exchanged, UserInfo answers while the access token lives). Either lifetime unknown (a
 * `ttl` function): `maxSeconds`.
 *
 * @example await identities.put(identity, await identityLifetime(provider, grantId, clientId, 14 * 24 * 3600))
 */
export async function identityLifetime(
  provider: Pick<Provider, 'Grant' | 'Client' | 'AuthorizationCode' | 'AccessToken'>,
  grantId: string,
  clientId: string,
  maxSeconds: number,
  refreshable?: boolean,
): Promise<number> {
  if (refreshable ?? (await grantGetsRefreshTokens(provider, grantId, clientId))) return maxSeconds;
  const code = fixedLifetime(provider.AuthorizationCode);
  const access = fixedLifetime(provider.AccessToken);
  return code === undefined || access === undefined ? maxSeconds : Math.min(maxSeconds, code + access);
}

/**
 * Whether the grant can get refresh tokens: `offline_access` granted and the client may use them (node-oidc-provider's
 * default `issueRefreshToken`). Pass the answer to {@link identityLifetime} to ask once.
 *
 * @example const refreshable = await grantGetsRefreshTokens(provider, grantId, clientId)
 */
export async function grantGetsRefreshTokens(
  provider: Pick<Provider, 'Grant' | 'Client'>,
  grantId: string,
  clientId: string,
): Promise<boolean> {
  const [grant, client] = await Promise.all([provider.Grant.find(grantId), provider.Client.find(clientId)]);
  const offline = (grant?.getOIDCScope() ?? '').split(' ').includes('offline_access');
  return offline && client?.grantTypeAllowed('refresh_token') === true;
}

/**
 * A token model's lifetime when node-oidc-provider's `ttl` gives it as a number (`BaseToken.expiresIn`, which reads
 * the configured `ttl.<Model>`); `undefined` when it is a function of the token (or unreadable).
 */
function fixedLifetime(model: unknown): number | undefined {
  const expiresIn = (model as { expiresIn?: unknown }).expiresIn;
  if (typeof expiresIn !== 'function') return undefined;
  try {
    const seconds: unknown = expiresIn.call(model);
    return typeof seconds === 'number' && Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
  } catch {
    return undefined;
  }
}
