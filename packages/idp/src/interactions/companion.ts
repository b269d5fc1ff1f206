/**
 * The companion API (JSON), what a phone app or `mynagate` CLI calls after scanning the QR code:
 *
 * - `GET /companion/:txn?t&c` checks the QR code (fresh and minted here) and returns what to show and sign:
 *   `{ txn, clientName, clientOrigin, origin, intent, challenge, challengeExpiresAt }`;
 * - `POST /companion/:txn/token` takes the Web eID token signed over `SHA-256(origin) ‖ SHA-256(challenge)` and
 *   answers `{ status: 'ok', message }`. It never says who logged in: the outcome goes to the browser session.
 */
import { submitCardToken, type CardLoginDeps } from '../card-login.ts';
import { parseLoginToken } from '../login-token.ts';
import type { InteractionContext } from './context.ts';
import { parseJson, readJsonText, sendJson, type Handler } from './router.ts';

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
  return async (req, res, params) => {
    const text = await readJsonText(req);
    parseLoginToken(parseJson(text)); // its shape, answered with this provider's codes
    // The verifier parses the text as posted: its parser refuses a member named twice, which JSON.parse would have
    // settled silently (the last one wins, where a proxy or log may read the first).
    await submitCardToken(cardLoginDeps(context), params['txn']!, text);
    sendJson(res, 200, { status: 'ok', message: COMPANION_DONE });
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
