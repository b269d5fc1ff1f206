/**
 * The companion API (JSON), what a phone app or `mynagate` CLI calls after scanning the QR code:
 *
 * - `GET /companion/:txn?t&c` checks the QR code (fresh and minted here) and returns what to show and sign:
 *   `{ txn, clientName, clientOrigin, origin, intent, challenge, challengeExpiresAt }`;
 * - `POST /companion/:txn/token` takes the Web eID token signed over `SHA-256(origin) ‖ SHA-256(challenge)` and
 *   answers `{ status: 'ok', message }`. It never says who logged in: the outcome goes to the browser session.
 *   `?handover=1` (`mynagate bridge`, the same computer): the outcome waits for the browser that comes back from the
 *   bridge instead, and the answer carries the one-time `code` it must bring (`/interaction/:uid?resume&code=…`).
 * - `POST /companion/:txn/failure` takes `{ challenge, error }`, a refusal the card gave the companion before any
 *   token ({@link COMPANION_FAILURES}), so the browser page can say what happened instead of waiting for a PIN.
 */
import { MynaGateError } from '@mynagate/errors';
import { submitCardToken, type CardLoginDeps } from '../card-login.ts';
import { IdpBadRequestError } from '../errors.ts';
import { messageFor } from '../http-errors.ts';
import { parseLoginToken } from '../login-token.ts';
import type { InteractionContext } from './context.ts';
import { parseJson, readJson, readJsonText, sendJson, type Handler } from './router.ts';

/** The wording the companion shows after a successful post. */
export const COMPANION_DONE = Object.freeze({
  ja: 'ログインしました。ブラウザーの画面に戻ってください。',
  en: 'You are logged in. Return to the browser.',
});

/** `GET /companion/:txn`. */
export function companionScan(context: InteractionContext): Handler {
  return async (_req, res, params, url) => {
    const view = await context.transactions.scan(params['txn']!, url.searchParams.get('t'), url.searchParams.get('c'));
    sendJson(res, 200, view);
  };
}

/** `POST /companion/:txn/token`. */
export function companionToken(context: InteractionContext): Handler {
  return async (req, res, params, url) => {
    const handover = url.searchParams.get('handover');
    if (handover !== null && handover !== '1') throw new IdpBadRequestError('handover must be 1 when given');
    const text = await readJsonText(req);
    parseLoginToken(parseJson(text)); // its shape, answered with this provider's codes
    // The verifier parses the text as posted: its parser refuses a member named twice, which JSON.parse would have
    // settled silently (the last one wins, where a proxy or log may read the first).
    if (handover === null) {
      await submitCardToken(cardLoginDeps(context), params['txn']!, text);
      sendJson(res, 200, { status: 'ok', message: COMPANION_DONE });
      return;
    }
    // The code goes to the poster only, in this answer (no-store): the page that owns the login is not told.
    const code = await submitCardToken(cardLoginDeps(context), params['txn']!, text, { handover: true });
    sendJson(res, 200, { status: 'ok', message: COMPANION_DONE, code });
  };
}

/**
 * The card's refusals a companion may report: ones that end the try with this card (a locked PIN, which only the
 * municipal office can reset; a card that is not a My Number Card; no card at all). The page shows the provider's
 * own wording for the code, never text from the companion. A wrong PIN with tries left is the companion's to retry.
 */
export const COMPANION_FAILURES: ReadonlySet<string> = new Set([
  'ERR_CARD_PIN_BLOCKED',
  'ERR_CARD_NOT_JPKI',
  'ERR_CARD_NO_CARD',
]);

/** `POST /companion/:txn/failure`. */
export function companionFailure(context: InteractionContext): Handler {
  return async (req, res, params) => {
    const body = (await readJson(req, 4096)) as Record<string, unknown> | null;
    const error = body?.['error'];
    const challenge = body?.['challenge'];
    if (typeof error !== 'string' || !COMPANION_FAILURES.has(error) || typeof challenge !== 'string') {
      throw new IdpBadRequestError(`challenge and error (one of ${[...COMPANION_FAILURES].join(', ')}) are required`);
    }
    await context.transactions.reportFailure(
      params['txn']!,
      challenge,
      messageFor(new MynaGateError(error, 'reported by the companion')),
    );
    sendJson(res, 200, { status: 'ok' });
  };
}

/** The card-login dependencies out of the interaction context. */
export function cardLoginDeps(context: InteractionContext): CardLoginDeps {
  const { config } = context;
  return {
    transactions: context.transactions,
    verifier: config.verifier,
    people: config.stores.people,
    linkCertificate: config.linkCertificate,
    renewalLinks: config.renewalLinks,
    origin: config.origin,
    now: config.now,
  };
}
