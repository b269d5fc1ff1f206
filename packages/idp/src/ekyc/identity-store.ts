/**
 * Where a verified identity lives between the eKYC signature and the tokens that release it: beside the grant it
 * was made for, keyed by the grant id, for a bounded time. It is never written to the durable records (people,
 * credentials, audit): the audit keeps only the evidence (issuer, serial, the certificate's SHA-256, time, statement
 * hash). Withdrawing the consent or revoking the grant deletes it.
 *
 * Stored through node-oidc-provider's adapter as the model `VerifiedIdentity` (with `grantId` in the payload, so the
 * store's `revokeByGrantId` reaches it), or in process memory when the provider runs on its in-memory adapter.
 */
import type { Adapter } from 'oidc-provider';
import type { VerifiedFacts } from '../claims/verified-claims.ts';

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
   * The signing certificate, base64 DER, only with `ekyc.keepCertificate`. It carries the basic-4, so it lives here
   * under the identity's lifetime and deletion (consent withdrawn, grant revoked, TTL), never in the audit.
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
  const entries = new Map<string, { identity: VerifiedIdentity; expiresAt: number }>();
  return {
    async put(identity, ttlSeconds) {
      entries.set(identity.grantId, { identity, expiresAt: now() + ttlSeconds * 1000 });
    },
    async get(grantId) {
      const entry = entries.get(grantId);
      if (entry === undefined) return undefined;
      if (entry.expiresAt <= now()) {
        entries.delete(grantId);
        return undefined;
      }
      return entry.identity;
    },
    async delete(grantId) {
      entries.delete(grantId);
    },
  };
}
