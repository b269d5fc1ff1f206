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
}

/** The interaction a request belongs to, from node-oidc-provider's signed interaction cookie. */
export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * Loads the interaction the browser's cookie names and checks it is the one in the path.
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
  let details: InteractionDetails;
  try {
    details = await context.provider().interactionDetails(req, res);
  } catch (e) {
    if (e instanceof errors.SessionNotFound) throw new IdpInteractionNotFoundError({ cause: e });
    throw e;
  }
  if (details.uid !== uid) throw new IdpInteractionNotFoundError();
  return details;
}
