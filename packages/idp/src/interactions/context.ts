/** What the interaction routes share: the provider, the resolved configuration and the login transactions. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type default as Provider } from 'oidc-provider';
import type { ResolvedConfig } from '../config.ts';
import { IdpInteractionNotFoundError } from '../errors.ts';
import type { LoginTransactions } from '../login-transaction.ts';

/** Dependencies of the interaction routes. */
export interface InteractionContext {
  /** The current provider (a getter: key rotation swaps it). */
  readonly provider: () => Provider;
  readonly config: ResolvedConfig;
  readonly transactions: LoginTransactions;
  /**
   * The keyed tag of the network a request came from (network-tag.ts `networkTagger`, which follows the server's
   * `trustProxy`), or `undefined` when unknown: the login page's browser and the companion are compared by it.
   */
  readonly networkOf: (req: IncomingMessage) => string | undefined;
}

/** The interaction a request belongs to, from node-oidc-provider's signed interaction cookie. */
export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * Interactions already loaded for a request: the page router and the page both ask (`byPrompt`, then the page), and
 * the event stream asks again when it finishes. Each load verifies signed cookies (HMACs) and reads the store; the
 * interaction's parameters, session and grant do not change until it is finished, which loads it afresh
 * (`interactionResult`).
 */
const loaded = new WeakMap<IncomingMessage, Promise<InteractionDetails>>();

/**
 * Loads the interaction the browser's cookie names and checks it is the one in the path. Loaded once per request: a
 * later call on the same request (an event stream finishing) gets the same details; finishing reloads the
 * interaction anyway and fails then if it expired meanwhile.
 *
 * @throws IdpInteractionNotFoundError (`ERR_IDP_INTERACTION_NOT_FOUND`) when the cookie is missing, the interaction
 *   expired, or the cookie names another interaction.
 */
export async function interactionFor(
  context: InteractionContext,
  req: IncomingMessage,
  res: ServerResponse,
  uid: string,
): Promise<InteractionDetails> {
  let load = loaded.get(req);
  if (load === undefined) {
    load = context.provider().interactionDetails(req, res);
    loaded.set(req, load);
    // A failed load is not kept: the next call tries again and reports its own error.
    load.catch(() => loaded.delete(req));
  }
  let details: InteractionDetails;
  try {
    details = await load;
  } catch (e) {
    if (e instanceof errors.SessionNotFound) throw new IdpInteractionNotFoundError({ cause: e });
    throw e;
  }
  if (details.uid !== uid) throw new IdpInteractionNotFoundError();
  return details;
}
