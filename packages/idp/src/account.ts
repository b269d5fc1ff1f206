/**
 * The provider's account model: an account is a person of the record store, known by an internal id that never
 * leaves the server (relying parties see a pairwise `sub`). Personal claims (`verified_claims`, basic-4, derived
 * claims such as `age_over_20`) come only from an identity verified by card signature for the grant in use, only as
 * requested, granted and listed in the signed statement (`claims/release.ts`), and each release is written to the
 * person's audit history. Only to a client offered eKYC (client-origin.ts `offersEkyc`: a confidential one whose
 * redirects a statement names), however the identity came to its grant: a registration changed since the signature
 * (now public, say) gets none.
 */
import type { Account, FindAccount } from 'oidc-provider';
import { IDENTITY_CLAIM_NAMES } from './claims/names.ts';
import { offersEkyc } from './client-origin.ts';
import { releaseClaims, withinConsent, withinSignature } from './claims/release.ts';
import type { ConsentRecords } from './consent/records.ts';
import type { IdentityStore } from './ekyc/identity-store.ts';
import type { PeoplePort } from './ports.ts';

/** Where verified identities and the audit are (without it, accounts have `sub` only). */
export interface ClaimSources {
  readonly identities: IdentityStore;
  readonly records: Pick<ConsentRecords, 'appendAudit'>;
  readonly now: () => number;
  /** The provider's origin (`ResolvedConfig.origin`), for `offersEkyc`. */
  readonly origin: string;
}

/**
 * node-oidc-provider's `findAccount`: resolves a person id to an account, or `undefined` when the person is gone
 * (the provider then ends the session).
 */
export function accountFinder(people: PeoplePort, sources?: ClaimSources): FindAccount {
  return async (ctx, id): Promise<Account | undefined> => {
    if (!(await people.personExists(id))) return undefined;
    return {
      accountId: id,
      async claims(use, _scope, requested) {
        const base = { sub: id };
        if (sources === undefined || requested === undefined) return base;
        const wanted = Object.fromEntries(Object.entries(requested).filter(([n]) => IDENTITY_CLAIM_NAMES.has(n)));
        if (Object.keys(wanted).length === 0) return base;
        const grantId = ctx.oidc.grant?.jti;
        const identity = typeof grantId === 'string' ? await sources.identities.get(grantId) : undefined;
        if (identity === undefined || identity.accountId !== id) return base;
        // Verified for one service: never answered to another (a grant is one client's; this holds should an
        // identity ever sit under another's grant).
        if (identity.clientId !== ctx.oidc.client?.clientId) return base;
        // Identity data goes to a client offered eKYC only; a registration changed since the signature (now public:
        // its tokens are whoever's completed the flow) gets none. Fails closed.
        if (!offersEkyc(ctx.oidc.client, sources.origin)) return base;
        // Within what the person consented to for this grant, and within what the signature's statement listed.
        const consented = withinConsent(wanted, ctx.oidc.grant?.getOIDCClaims() ?? []);
        const released = releaseClaims(withinSignature(consented, identity.signed), identity, new Date(sources.now()));
        if (Object.keys(released).length > 0) {
          await sources.records.appendAudit({
            type: 'claims.released',
            personId: id,
            clientId: identity.clientId,
            data: { use, claims: Object.keys(released), grantId: identity.grantId },
          });
        }
        return { ...base, ...released };
      },
    };
  };
}
