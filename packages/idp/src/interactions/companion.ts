/**
 * The companion API (JSON), what a phone app or `mynagate` CLI calls after scanning the QR code:
 *
 * - `GET /companion/:txn?t&c` checks the QR code (fresh and minted here) and, unless a card answered the login
 *   already (`ERR_IDP_LOGIN_FINISHED`), returns what to show and sign:
 *   `{ txn, clientName, clientOrigin, origin, intent, challenge, challengeExpiresAt, network }`. `network` is
 *   `same` when the companion scanned from the network the login page's browser started on (IPv4 /24, IPv6 /64, as
 *   this server sees them; compared by keyed tags, never the addresses), else `other`, unknown included. On `other`
 *   a companion shows {@link NETWORK_CAUTION} before it asks for the PIN: a QR code relayed by a phishing page
 *   (QRLJacking) shows a login its owner's browser started, elsewhere.
 * - `POST /companion/:txn/token` takes the Web eID token signed over `SHA-256(origin) ‖ SHA-256(challenge)`, with
 *   one more member, `challenge`: the challenge of the scan it answers (a Web eID parser ignores it), and answers
 *   `{ status: 'ok', message }`. It never says who logged in: the outcome goes to the browser session. A post that
 *   does not name the outstanding challenge is refused (`ERR_IDP_CHALLENGE_INVALID`, whether or not the login exists,
 *   so the id alone never tells a finished login; none named: `ERR_IDP_TOKEN_MALFORMED`) and changes nothing: the
 *   companion that holds the challenge can still post, and the page is not told. Once a token presented it, the
 *   login is that card's: another scan or token is refused `ERR_IDP_LOGIN_FINISHED` while its token is checked (at
 *   most a minute) and for good once accepted (the token refused, the login is open to a scan again).
 *   `?handover=1` (`mynagate bridge`, the same computer): the outcome waits for the browser that comes back from the
 *   bridge instead, and the answer carries the one-time `code` it must bring (`/interaction/:uid?resume&code=…`).
 * - `POST /companion/:txn/failure` takes `{ challenge, error }`, a refusal the card gave the companion before any
 *   token ({@link COMPANION_FAILURES}), so the browser page can say what happened instead of waiting for a PIN.
 *
 * A refused token leaves the operator one line (`login.refused`, {@link loginRefusedEvent}), whichever way it was
 * posted (this API or the development phone, both through {@link logRefusals}); a failure a companion reports leaves
 * one `login.failed` line ({@link loginFailedEvent}); an answered scan one `login.scanned` line ({@link
 * loginScannedEvent}), whose `network` tells the operator how many logins finish on another network. The answer goes to the companion and the page, and neither
 * reaches the server's log otherwise.
 */
import { MynaGateError } from '@mynagate/errors';
import { submitCardToken, type CardLoginDeps } from '../card-login.ts';
import { IdpBadRequestError } from '../errors.ts';
import { isAnsweredByCode, messageFor } from '../http-errors.ts';
import { stderrLog, type EventLog, type LogEvent } from '../lib/log.ts';
import { parseLoginToken } from '../login-token.ts';
import { scanLogger, type Network } from '../network-tag.ts';
import type { InteractionContext } from './context.ts';
import { parseJson, readJson, readJsonText, sendJson, type Handler } from './router.ts';

/** The wording the companion shows after a successful post. */
export const COMPANION_DONE = Object.freeze({
  ja: 'ログインしました。ブラウザーの画面に戻ってください。',
  en: 'You are logged in. Return to the browser.',
});

/**
 * What a companion shows, before it asks for the PIN, when the view's `network` is `other`: the login began on
 * another network than the one the companion scanned from. Continue only if you started it yourself. "This device",
 * not "this phone": the companion may be `mynagate login` on a computer. An eKYC signature has its own,
 * `SIGN_NETWORK_CAUTION` (ekyc/pages.ts).
 */
export const NETWORK_CAUTION = Object.freeze({
  ja: 'このログインは、この端末とは別のネットワークで始まりました。いま目の前の画面で、ご自身でログインを始めた場合だけ続けてください。誰かに送られた・見せられたQRコードなら、暗証番号を入力せずに中止してください。',
  en: 'This login was started on another network than this device. Continue only if you started it yourself, on a screen in front of you. If someone sent or showed you this QR code, stop without entering your PIN.',
});

/**
 * `GET /companion/:txn`. An answered scan is written to `log` as one `login.scanned` event ({@link loginScannedEvent}).
 *
 * @param log where the events go; default one JSON line on stderr.
 */
export function companionScan(context: InteractionContext, log: EventLog = stderrLog): Handler {
  return async (req, res, params, url) => {
    const view = await context.transactions.scan(params['txn']!, url.searchParams.get('t'), url.searchParams.get('c'), {
      network: context.networkOf(req),
      scanned: scanLogger(context.config.now, log, loginScannedEvent),
    });
    sendJson(res, 200, view);
  };
}

/**
 * The `login.scanned` event of a companion's answered scan: `time`, `event`, the `client_id` of the login and
 * `network` (`same` or `other`, as the view says). Nothing else: not the address, not the network's tag (which would
 * link the logins of one network), not the transaction.
 *
 * @example
 * ```json
 * {"time":"2025-04-01T09:00:00.000Z","event":"login.scanned","client_id":"bank","network":"other"}
 * ```
 */
export function loginScannedEvent(at: number, clientId: string, network: Network): LogEvent {
  return { time: new Date(at).toISOString(), event: 'login.scanned', client_id: clientId, network };
}

/**
 * `POST /companion/:txn/token`. A refusal (any code the answer carries: `ERR_PKI_*`, `ERR_IDP_*`, `ERR_STORE_*`) is
 * written to `log` as one `login.refused` event ({@link loginRefusedEvent}) before it is answered; a failure that is
 * not a refusal is `ERR_IDP_INTERNAL`, logged with its stack by `http-errors.ts` instead.
 *
 * @param log where the events go; default one JSON line on stderr.
 */
export function companionToken(context: InteractionContext, log: EventLog = stderrLog): Handler {
  const handle = companionTokenPost(context);
  return (req, res, params, url) => logRefusals(context, log, params['txn']!, () => handle(req, res, params, url));
}

/**
 * Runs `post` (a card token posted for the login `txn`, by any path: this API, the development phone) and writes
 * the `login.refused` event ({@link loginRefusedEvent}) of a refusal it throws, before rethrowing it. A failure
 * that is not a refusal (answered `ERR_IDP_INTERNAL`) is logged with its stack by `http-errors.ts` instead.
 *
 * @example
 * ```ts
 * await logRefusals(context, log, txn, () => submitCardToken(cardLoginDeps(context), txn, token));
 * ```
 */
export async function logRefusals<T>(
  context: InteractionContext,
  log: EventLog,
  txn: string,
  post: () => Promise<T>,
): Promise<T> {
  try {
    return await post();
  } catch (e) {
    if (isAnsweredByCode(e)) await logRefusal(context, log, txn, e);
    throw e;
  }
}

function companionTokenPost(context: InteractionContext): Handler {
  return async (req, res, params, url) => {
    const handover = url.searchParams.get('handover');
    if (handover !== null && handover !== '1') throw new IdpBadRequestError('handover must be 1 when given');
    const text = await readJsonText(req);
    parseLoginToken(parseJson(text)); // its shape and the challenge it names, answered with this provider's codes
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

/** The fields of a refusal that refine its code, each a fixed word of the error class (never data of a person). */
const REFINEMENTS = ['detail', 'check', 'source', 'reason'] as const;
/** A refinement word: `unreachable`, `validity`, `ocsp`, `keyCompromise`, `indefinite length`. No digits: no serial. */
const WORD = /^[A-Za-z][A-Za-z_ ]{0,39}$/;

/**
 * The `login.refused` event of a refused token post, for an operator's log: `time` (ISO 8601), `event`, the `code`,
 * the words that refine it when the error has them (`detail` of `ERR_PKI_REVOCATION_UNKNOWN`, e.g. `unreachable`;
 * `check` of a certificate refusal, e.g. `validity`; `source`, e.g. `ocsp`; `reason` of a revocation, e.g.
 * `keyCompromise`) and the `client_id` of the service the login was for, when known. Never the certificate's
 * serial, subject or fingerprint, the message, nor the poster's address.
 *
 * @example
 * ```json
 * {"time":"2025-04-01T09:00:00.000Z","event":"login.refused","code":"ERR_PKI_REVOCATION_UNKNOWN","detail":"unreachable","source":"ocsp","client_id":"bank"}
 * ```
 */
export function loginRefusedEvent(e: MynaGateError, at: number, clientId: string | undefined): LogEvent {
  const event: Record<string, string> = { time: new Date(at).toISOString(), event: 'login.refused', code: e.code };
  const fields = e as unknown as Record<string, unknown>;
  for (const name of REFINEMENTS) {
    const value = fields[name];
    if (typeof value === 'string' && WORD.test(value)) event[name] = value;
  }
  if (clientId !== undefined) event['client_id'] = clientId;
  return event as LogEvent;
}

/**
 * The `login.failed` event of a failure a companion reported (`POST /companion/:txn/failure`): `time`, `event`, the
 * `code` (one of {@link COMPANION_FAILURES}) and the `client_id` of the login, when known. Nothing else: the report
 * carries no more than the code, and the card's answer never reaches the server.
 *
 * @example
 * ```json
 * {"time":"2025-04-01T09:00:00.000Z","event":"login.failed","code":"ERR_CARD_PIN_BLOCKED","client_id":"bank"}
 * ```
 */
export function loginFailedEvent(code: string, at: number, clientId: string | undefined): LogEvent {
  const event: Record<string, string> = { time: new Date(at).toISOString(), event: 'login.failed', code };
  if (clientId !== undefined) event['client_id'] = clientId;
  return event as LogEvent;
}

/**
 * Writes the `login.refused` event of `e`. The client is read from the login (not for a login that is gone or a
 * store that failed: the read would fail or wait the same way); a log that throws is ignored, the answer goes out.
 */
async function logRefusal(context: InteractionContext, log: EventLog, txn: string, e: MynaGateError): Promise<void> {
  const at = context.config.now();
  const readable = e.code !== 'ERR_IDP_LOGIN_NOT_FOUND' && !e.code.startsWith('ERR_STORE_');
  const clientId = readable
    ? await context.transactions.get(txn).then(
        (t) => t.clientId,
        () => undefined,
      )
    : undefined;
  try {
    log(loginRefusedEvent(e, at, clientId));
  } catch {
    // The log is the operator's; the person's answer does not depend on it.
  }
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

/**
 * `POST /companion/:txn/failure`. An accepted report (the login's outstanding challenge, a code of
 * {@link COMPANION_FAILURES}) is written to `log` as one `login.failed` event ({@link loginFailedEvent}); a refused
 * report is not (it is no card's failure, and anyone could post one).
 *
 * @param log where the events go; default one JSON line on stderr.
 */
export function companionFailure(context: InteractionContext, log: EventLog = stderrLog): Handler {
  return async (req, res, params) => {
    const body = (await readJson(req, 4096)) as Record<string, unknown> | null;
    const error = body?.['error'];
    const challenge = body?.['challenge'];
    if (typeof error !== 'string' || !COMPANION_FAILURES.has(error) || typeof challenge !== 'string') {
      throw new IdpBadRequestError(`challenge and error (one of ${[...COMPANION_FAILURES].join(', ')}) are required`);
    }
    const txn = params['txn']!;
    await context.transactions.reportFailure(
      txn,
      challenge,
      messageFor(new MynaGateError(error, 'reported by the companion')),
    );
    const at = context.config.now();
    const clientId = await context.transactions.get(txn).then(
      (t) => t.clientId,
      () => undefined,
    );
    try {
      log(loginFailedEvent(error, at, clientId));
    } catch {
      // The log is the operator's; the companion's answer does not depend on it.
    }
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
    logins: config.loginCredentials,
  };
}
