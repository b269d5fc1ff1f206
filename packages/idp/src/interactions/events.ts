/**
 * `GET /interaction/:uid/events`: Server-Sent Events for the login page. Only the browser session that started the
 * login gets a stream (node-oidc-provider's interaction cookie and our binding cookie must both match), and only that
 * stream can take the verified outcome and finish the interaction: another session can never finish it. A login has
 * at most {@link STREAMS_PER_LOGIN} streams open on a node at once; a newer one ends the oldest with a `refused`
 * event `ERR_IDP_TOO_MANY_STREAMS` ({@link cappedSource}).
 *
 * Of the browser's streams (a reconnect, a reload, a duplicated tab; on any node), the first to take the outcome
 * finishes the login, and the others send the same `done` (login-transaction.ts `finish`), also one that opens
 * within a minute after the end: the one that took it may have been on a connection the network change left dead.
 *
 * Events: those of qr-events.ts, the first `qr` after `?t=` (the code the page already shows, if given).
 */
import type { ServerResponse } from 'node:http';
import { isMynaGateError } from '@mynagate/errors';
import { errors, type InteractionResults } from 'oidc-provider';
import { saveLoginGrant } from '../consent/login-grant.ts';
import { IdpInteractionNotFoundError, IdpSessionMismatchError, type IdpTooManyStreamsError } from '../errors.ts';
import { messageFor } from '../http-errors.ts';
import type { LoginChange, LoginOutcome, LoginTransaction } from '../login-transaction.ts';
import { keepSavedGrant } from '../saved-grants.ts';
import type { Adapter as StoreAdapter, AdapterPayload } from '../store/types.ts';
import { StreamCap, type TransactionChange } from '../transaction-watch.ts';
import { readBinding } from './browser-binding.ts';
import { interactionFor, type InteractionContext, type InteractionDetails } from './context.ts';
import { sendDone, streamQrEvents, type QrEventSource } from './qr-events.ts';
import type { Handler } from './router.ts';

/**
 * The event streams one login may have open on a node at once: its page holds one, a reload (`?resume`) or an
 * EventSource reconnect briefly two, before this node sees the last one close. One more ends the oldest.
 */
export const STREAMS_PER_LOGIN = 4;

/**
 * `source` as a stream counted by `streams` for `txn` (call before the stream starts), which a newer stream of the
 * transaction may evict ({@link StreamCap.hold}, newest wins): it is then woken at once, and its next look throws the
 * eviction, which the stream sends as its terminal `refused` event (`ERR_IDP_TOO_MANY_STREAMS`) before it ends. The
 * page closes its EventSource on `refused` and says the login continues elsewhere: it does not reconnect and evict
 * the newer stream in turn.
 */
export function cappedSource(
  streams: StreamCap,
  txn: string,
  res: ServerResponse,
  source: QrEventSource<TransactionChange>,
): QrEventSource<TransactionChange> {
  let evicted: IdpTooManyStreamsError | undefined;
  let wake: (() => void) | undefined;
  streams.hold(txn, res, (reason) => {
    evicted = reason;
    wake?.();
  });
  return {
    ...source,
    look: (change) => (evicted === undefined ? source.look(change) : Promise.reject(evicted)),
    watch(onChange) {
      // Woken as by a change, the stream looks at once; the look throws the eviction before it reads the change.
      wake = () => onChange('failure');
      return source.watch?.(onChange) ?? (() => {});
    },
  };
}

/** The SSE handler. */
export function loginEvents(context: InteractionContext): Handler {
  const streams = new StreamCap(STREAMS_PER_LOGIN);
  return async (req, res, params, url) => {
    const uid = params['uid']!;
    const binding = readBinding(req, context.config.secure);
    const transactions = context.transactions;
    // Both loads at once, and the stream's first look at the transaction with them (one round trip to Redis);
    // errors are reported in this order, and what the look found is used only once the browser proved it owns the
    // transaction.
    let firstLook = binding === undefined ? undefined : transactions.pending(binding.txn);
    firstLook?.catch(() => {});
    const [interaction, owned] = await Promise.allSettled([
      interactionFor(context, req, res, uid),
      binding === undefined
        ? Promise.reject(new IdpSessionMismatchError())
        : transactions.getOwned(binding.txn, binding.key, uid),
    ]);
    if (interaction.status === 'rejected') throw interaction.reason;
    if (owned.status === 'rejected') {
      // The login finished moments ago, by another stream of this browser (the one before a reconnect): this page
      // goes on too.
      const finished =
        binding !== undefined && isMynaGateError(owned.reason, 'ERR_IDP_LOGIN_NOT_FOUND')
          ? await transactions.finishedFor(binding.txn, binding.key, uid)
          : undefined;
      if (finished === undefined) throw owned.reason;
      sendDone(res, finished);
      return;
    }
    const transaction = owned.value;
    const { txn } = transaction;
    // `?t=` names the code the page already shows (login-page.ts): no need to render and send it again.
    const shown = Number(url.searchParams.get('t') ?? -1);
    // Counted once the browser proved it owns the transaction (no one else can take its slots), until the response
    // closes, whichever way the stream ends.
    await streamQrEvents<LoginChange>(
      res,
      cappedSource(streams, txn, res, {
        expiresAt: transaction.expiresAt,
        now: context.config.now,
        currentLink: () => transactions.currentLink(transaction),
        async look(change) {
          // This node's own scan or outcome is acted on without reading the store; a refusal may or may not have
          // used up the challenge, so it is read, as is everything a poll finds.
          const early = firstLook;
          firstLook = undefined;
          const pending =
            change === 'outcome' || change === 'scanned'
              ? { outcome: change === 'outcome', failure: false, scanned: true, finished: undefined, scanId: undefined }
              : await (early ?? transactions.pending(txn));
          const newScan = change === 'scanned';
          const outcome = pending.outcome ? await transactions.takeOutcome(txn) : undefined;
          if (outcome !== undefined) {
            let redirect: string;
            try {
              redirect = await finish(context, req, res, transaction, outcome);
            } catch (e) {
              // The browser's other streams, which no longer find the outcome, hear why instead of waiting.
              void transactions.fail(transaction, messageFor(e)).catch(() => {});
              throw e;
            }
            return { redirect, scanned: pending.scanned };
          }
          // An outcome that another stream of this browser took first (the page before a reconnect or a reload, a
          // duplicated tab): that stream finishes the login and keeps its redirect for this one, which sends the same
          // `done` once it is there (told, or at its next poll).
          const finished =
            pending.finished ?? (pending.outcome ? (await transactions.pending(txn)).finished : undefined);
          if (finished !== undefined) return { redirect: finished, scanned: pending.scanned };
          const failure = pending.failure ? await transactions.takeFailure(txn) : undefined;
          return { failure, scanned: pending.scanned, scanId: pending.scanId, newScan };
        },
        refused: messageFor,
        watch: (onChange) => transactions.watch(txn, onChange),
      }),
      Number.isSafeInteger(shown) && shown >= 0 ? shown : -1,
      context.config.eventPollMs,
    );
  };
}

/**
 * Finishes the interaction with the card login, and, when the login stands as the consent (the request asks for the
 * service's pairwise identifier alone: consent/login-grant.ts), with a grant for it, under the id the login's audit
 * record named at the token post (card-login.ts). Otherwise no grant: the consent screen that follows decides.
 * Returns node-oidc-provider's resume URL.
 */
async function finish(
  context: InteractionContext,
  req: Parameters<Handler>[0],
  res: ServerResponse,
  transaction: LoginTransaction,
  outcome: LoginOutcome,
): Promise<string> {
  const provider = context.provider();
  // The stream's own details (loaded once per request, context.ts).
  const details: InteractionDetails = await interactionFor(context, req, res, transaction.uid);
  const saved = await saveLoginGrant(provider, context.config.records, details, outcome);
  if (saved !== undefined) keepSavedGrant(provider, saved.grantId, saved.grant);
  try {
    const redirect = await saveResult(provider, req, res, details, {
      // remember: false keeps the session cookie to this browser session: a card login on a shared PC ends with it.
      login: {
        accountId: outcome.accountId,
        acr: outcome.acr,
        amr: [...outcome.amr],
        ts: outcome.ts,
        remember: false,
      },
      ...(saved === undefined ? {} : { consent: { grantId: saved.grantId } }),
    });
    // Then the redirect for the browser's other streams, and the transaction's keys go (its outcome is taken
    // already), in one atomic step (login-transaction.ts `finish`). Best effort: if it fails, nothing changed; the
    // keys expire by themselves, and another stream of the browser (the page it already left, for this one is
    // answered) waits until then.
    void context.transactions.finish(transaction, redirect).catch(() => {});
    return redirect;
  } catch (e) {
    // The interaction expired while the person was at the card.
    if (e instanceof errors.SessionNotFound) throw new IdpInteractionNotFoundError({ cause: e });
    throw e;
  }
}

/**
 * Writes the login's result into the interaction and returns node-oidc-provider's resume URL. With a store that can
 * replace an entry only if it still exists (`upsertExisting`: Redis), the interaction this stream loaded goes back
 * with the result in one step, with no read first (its parameters never change; only a result is ever written to an
 * interaction, and two results race today as well); one deleted or expired meanwhile is not brought back:
 * `ERR_IDP_INTERACTION_NOT_FOUND`. Otherwise node-oidc-provider's `interactionResult` reads it afresh, then writes.
 */
async function saveResult(
  provider: ReturnType<InteractionContext['provider']>,
  req: Parameters<Handler>[0],
  res: ServerResponse,
  details: InteractionDetails,
  result: InteractionResults,
): Promise<string> {
  const adapter = details.adapter as { upsertExisting?: StoreAdapter['upsertExisting'] };
  if (adapter.upsertExisting === undefined)
    return provider.interactionResult(req, res, result, { mergeWithLastSubmission: false });
  const ttl = details.exp - Math.floor(Date.now() / 1000);
  if (!(ttl > 0)) throw new IdpInteractionNotFoundError();
  details.result = result;
  const model = details as unknown as ModelInternals;
  const { payload } = await model.getValueAndPayload();
  if (!(await adapter.upsertExisting(model.jti, payload, ttl))) throw new IdpInteractionNotFoundError();
  return details.returnTo;
}

/** What node-oidc-provider's models have beyond their type declarations (models/base_model.js). */
interface ModelInternals {
  readonly jti: string;
  getValueAndPayload(): Promise<{ readonly payload: AdapterPayload }>;
}
