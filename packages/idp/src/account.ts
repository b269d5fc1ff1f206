/**
 * The provider's account model: an account is a person of the record store, known by an internal id that never
 * leaves the server (relying parties see a pairwise `sub`). No claims beyond `sub` yet: derived claims
 * (`age_over_20`, …) come with the card-signature issue.
 */
import type { Account, FindAccount } from 'oidc-provider';
import type { PeoplePort } from './ports.ts';

/**
 * node-oidc-provider's `findAccount`: resolves a person id to an account, or `undefined` when the person is gone
 * (the provider then ends the session).
 */
export function accountFinder(people: PeoplePort): FindAccount {
  return async (_ctx, id): Promise<Account | undefined> => {
    if (!(await people.personExists(id))) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id };
      },
    };
  };
}
