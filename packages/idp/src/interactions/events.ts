/**
 * `GET /interaction/:uid/events`: Server-Sent Events for the login page. Only the browser session that started the
 * login gets a stream (node-oidc-provider's interaction cookie and our binding cookie must both match), and only that
 * stream can take the verified outcome and finish the interaction: another session can never finish it.
 *
 * Events: `qr` {t, link, svg} each second (after `?t=`, the code the page already shows, if given); `scanned` once a
 * companion holds the challenge; `failed` {error, message} when a token was refused (the person may scan again);
 * `done` {redirect}; `expired`; `refused` {error, message} when the stream cannot go on.
 */
import type { ServerResponse } from 'node:http';
import { errors } from 'oidc-provider';
import { IdpInteractionNotFoundError, IdpSessionMismatchError } from '../errors.ts';
import { messageFor } from '../http-errors.ts';
import type { LoginChange, LoginOutcome, LoginTransaction } from '../login-transaction.ts';
import { readBinding } from './browser-binding.ts';
import { interactionFor, type InteractionContext, type InteractionDetails } from './context.ts';
import { qrSvg } from './qr-svg.ts';
import type { Handler } from './router.ts';

/** How often the stream looks at the shared store (any node may have received the token). */
const POLL_MS = 200;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/** The SSE handler. */
export function loginEvents(context: InteractionContext): Handler {
  return async (req, res, params, url) => {
    const uid = params['uid']!;
    const binding = readBinding(req);
    // Both loads at once (one round trip to Redis); their errors are reported in this order.
    const [interaction, owned] = await Promise.allSettled([
      interactionFor(context, req, res, uid),
      binding === undefined
        ? Promise.reject(new IdpSessionMismatchError())
        : context.transactions.getOwned(binding.txn, binding.key, uid),
    ]);
    if (interaction.status === 'rejected') throw interaction.reason;
    if (owned.status === 'rejected') throw owned.reason;
    const transaction = owned.value;

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();

    // `?t=` names the code the page already shows (login-page.ts): no need to render and send it again.
    const shown = Number(url.searchParams.get('t') ?? -1);
    let lastT = Number.isSafeInteger(shown) && shown >= 0 ? shown : -1;
    let wasScanned = false;
    let busy = false;
    let again = false;
    let finished = false;
    let lastBeat = Date.now();
    const stop = (): void => {
      finished = true;
      clearInterval(timer);
      unwatch();
      if (!res.writableEnded) res.end();
    };
    /** One look at the login: `change`, when this node just recorded it, saves reading the store to find out. */
    const tick = async (change?: LoginChange): Promise<void> => {
      if (busy || finished) return;
      busy = true;
      try {
        if (context.config.now() >= transaction.expiresAt) {
          send(res, 'expired', {});
          stop();
          return;
        }
        const pending =
          change === 'outcome'
            ? { outcome: true, failure: false, scanned: wasScanned }
            : change === 'scanned'
              ? { outcome: false, failure: false, scanned: true }
              : // A refusal may or may not have used up the challenge: read it.
                await context.transactions.pending(transaction.txn);
        const outcome = pending.outcome ? await context.transactions.takeOutcome(transaction.txn) : undefined;
        if (outcome !== undefined) {
          const redirect = await finish(context, req, res, transaction, outcome);
          send(res, 'done', { redirect });
          stop();
          return;
        }
        const failure = pending.failure ? await context.transactions.takeFailure(transaction.txn) : undefined;
        if (failure !== undefined) send(res, 'failed', failure);
        if (pending.scanned && !wasScanned) send(res, 'scanned', {});
        wasScanned = pending.scanned;
        const { t, link } = context.transactions.currentLink(transaction);
        if (t !== lastT) {
          lastT = t;
          send(res, 'qr', { t, link, svg: await qrSvg(link) });
        }
        if (Date.now() - lastBeat > HEARTBEAT_MS) {
          lastBeat = Date.now();
          res.write(': keep-alive\n\n');
        }
      } catch (e) {
        send(res, 'refused', messageFor(e));
        stop();
      } finally {
        busy = false;
        if (again) {
          again = false;
          void tick();
        }
      }
    };
    const timer = setInterval(() => void tick(), POLL_MS);
    // A token posted to this node wakes the stream at once; one posted to another node is seen at the next poll.
    const unwatch = context.transactions.watch(transaction.txn, (change) => {
      // While a look is under way, the next one reads the store (several changes may have come meanwhile).
      if (busy) again = true;
      else void tick(change);
    });
    req.on('close', stop);
    await tick();
  };
}

/**
 * Finishes the interaction with the card login and a grant for what the client asked (the person saw the service's
 * name on the phone and tapped the card for it). Returns node-oidc-provider's resume URL.
 */
async function finish(
  context: InteractionContext,
  req: Parameters<Handler>[0],
  res: ServerResponse,
  transaction: LoginTransaction,
  outcome: LoginOutcome,
): Promise<string> {
  const provider = context.provider();
  // The stream's own details (loaded once per request, context.ts); interactionResult below loads it afresh.
  const details: InteractionDetails = await interactionFor(context, req, res, transaction.uid);
  const clientId = String(details.params['client_id']);
  const existing = details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId);
  const grant =
    existing !== undefined && existing.accountId === outcome.accountId && existing.clientId === clientId
      ? existing
      : new provider.Grant({ accountId: outcome.accountId, clientId });
  if (typeof details.params['scope'] === 'string') grant.addOIDCScope(details.params['scope']);
  // The transaction's keys are deleted meanwhile (its outcome is taken already): no round trip of its own. Its
  // failure is reported below, unless saving the grant fails first (the keys then expire by themselves).
  const ended = context.transactions.end(transaction.txn);
  ended.catch(() => {});
  const grantId = await grant.save();
  try {
    const [, redirect] = await Promise.all([
      ended,
      provider.interactionResult(
        req,
        res,
        {
          // remember: false keeps the session cookie to this browser session: a card login on a shared PC ends with it.
          login: {
            accountId: outcome.accountId,
            acr: outcome.acr,
            amr: [...outcome.amr],
            ts: outcome.ts,
            remember: false,
          },
          consent: { grantId },
        },
        { mergeWithLastSubmission: false },
      ),
    ]);
    return redirect;
  } catch (e) {
    // The interaction expired while the person was at the card.
    if (e instanceof errors.SessionNotFound) throw new IdpInteractionNotFoundError({ cause: e });
    throw e;
  }
}

function send(res: ServerResponse, event: string, data: unknown): void {
  if (res.writableEnded) return;
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
