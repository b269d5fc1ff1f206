/**
 * The Server-Sent Events of a page that shows an animated QR code and waits for a companion (card login, eKYC
 * signing): `qr` {t, link, svg} each second, `scanned` once a companion holds the challenge, `failed` {error,
 * message, retry} when a card's answer was refused (`retry`: scanning again may help, see {@link retryable}),
 * `done` {redirect}, `expired`, and
 * `refused` {error, message} when the stream cannot go on. What happened is asked of a {@link QrEventSource}.
 */
import type { ServerResponse } from 'node:http';
import { isMynaGateError } from '@mynagate/errors';
import type { ErrorBody } from '../http-errors.ts';
import { SHOW_STATUS_SCRIPT } from '../lib/html.ts';
import { qrSvg } from './qr-svg.ts';

/** How often the QR code is checked for a new second (it changes once a second). */
const TICK_MS = 200;
/** How often the stream looks at the store by default, told of changes or not (`streamQrEvents`' `pollMs`). */
const POLL_MS = 200;
/** How long the stream waits out a store it cannot reach before it ends with the refusal. */
const STORE_OUTAGE_MS = 15_000;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/** What one look at the transaction found. */
export interface QrEventLook {
  /** Set when the transaction finished: the stream sends `done` with it and ends. */
  readonly redirect?: string;
  /** A refusal to report (taken: reported once). */
  readonly failure?: ErrorBody;
  /** Whether a companion holds the challenge now. */
  readonly scanned: boolean;
  /**
   * Which scan the outstanding challenge came from, when the look read it from the store: any value that changes
   * from one scan to the next (the challenge itself; never sent). A new one is a new `scanned`, so that a page that
   * showed its code again (the person's scan went nowhere) hides it again at the next scan.
   */
  readonly scanId?: string | undefined;
  /** Set when the look was told of a scan (by this node, or another's notice): a new `scanned`, whatever came before. */
  readonly newScan?: boolean | undefined;
}

/** The transaction behind one stream. */
export interface QrEventSource<Change> {
  /** Epoch ms after which the stream sends `expired` and ends. */
  readonly expiresAt: number;
  now(): number;
  /** The QR link for the current second. */
  currentLink(): { readonly t: number; readonly link: string };
  /** Looks at the transaction; `change`, when this node just recorded it, may spare reading the store. */
  look(change: Change | undefined): Promise<QrEventLook>;
  /** The body of a `refused` event for an error thrown by `look`. */
  refused(e: unknown): ErrorBody;
  /** Calls `onChange` when this node records something for the transaction; returns the unsubscribe function. */
  watch?(onChange: (change: Change) => void): () => void;
}

/**
 * Streams the events of `source` on `res` until the transaction finishes, expires or the browser goes. `shownT` is
 * the second of the code the page already shows (not sent again), or -1. The stream looks at the transaction when
 * `watch` reports a change, and otherwise every `pollMs` (default 200).
 */
export async function streamQrEvents<Change>(
  res: ServerResponse,
  source: QrEventSource<Change>,
  shownT: number,
  pollMs = POLL_MS,
): Promise<void> {
  // A browser that left while the handler was still reading the store has closed the response already, and 'close'
  // does not come twice: a stream started now would poll and stay subscribed until the transaction expired.
  if (res.destroyed || res.closed) return;
  res.writeHead(200, STREAM_HEADERS);
  res.flushHeaders();

  let lastT = shownT;
  let wasScanned = false;
  // The scan the last `scanned` was for, when known; after a scan the stream was told of, the next one read is taken
  // for it (a told look does not read which).
  let lastScanId: string | undefined;
  let adoptScanId = false;
  let busy = false;
  let again = false;
  let finished = false;
  let lastBeat = Date.now();
  const stop = (): void => {
    finished = true;
    clearInterval(timer);
    unwatch?.();
    if (!res.writableEnded) res.end();
  };
  let lastLook = -Infinity;
  // Since when the store has been unreachable, while it is: a blip skips a look, an outage ends the stream.
  let unavailableSince: number | undefined;
  const tick = async (change?: Change, told = false): Promise<void> => {
    if (busy || finished) return;
    busy = true;
    try {
      if (source.now() >= source.expiresAt) {
        send(res, 'expired', {});
        stop();
        return;
      }
      if (told || performance.now() - lastLook >= pollMs) {
        lastLook = performance.now();
        const look = await source.look(change);
        unavailableSince = undefined;
        if (look.redirect !== undefined) {
          send(res, 'done', { redirect: look.redirect });
          stop();
          return;
        }
        if (look.failure !== undefined) send(res, 'failed', { ...look.failure, retry: retryable(look.failure.error) });
        const newScan =
          look.newScan === true || (look.scanId !== undefined && !adoptScanId && look.scanId !== lastScanId);
        if (look.scanned && (!wasScanned || newScan)) send(res, 'scanned', {});
        if (look.newScan === true) adoptScanId = true;
        else if (look.scanId !== undefined) [lastScanId, adoptScanId] = [look.scanId, false];
        wasScanned = look.scanned;
      }
      const { t, link } = source.currentLink();
      if (t !== lastT) {
        lastT = t;
        send(res, 'qr', { t, link, svg: await qrSvg(link) });
      }
      if (Date.now() - lastBeat > HEARTBEAT_MS) {
        lastBeat = Date.now();
        res.write(': keep-alive\n\n');
      }
    } catch (e) {
      // The store out of reach for a moment (a failover, a restart): look again at the next poll rather than end the
      // person's login; an outage longer than STORE_OUTAGE_MS ends it as any refusal does.
      const now = Date.now();
      if (isMynaGateError(e, 'ERR_STORE_UNAVAILABLE') && now - (unavailableSince ??= now) < STORE_OUTAGE_MS) return;
      send(res, 'refused', source.refused(e));
      stop();
    } finally {
      busy = false;
      if (again) {
        again = false;
        void tick(undefined, true);
      }
    }
  };
  const timer = setInterval(() => void tick(), TICK_MS);
  // A change this node recorded, or another node announced, wakes the stream at once; one no one told of is seen at
  // the next poll. While a look is under way, the next one reads the store (several changes may have come meanwhile).
  const unwatch = source.watch?.((change) => {
    if (busy) again = true;
    else void tick(change, true);
  });
  res.on('close', stop);
  await tick();
}

/**
 * Answers a stream whose transaction another stream of the browser finished moments ago: `done` with its redirect at
 * once, then the end, as {@link streamQrEvents} ends one that finishes.
 */
export function sendDone(res: ServerResponse, redirect: string): void {
  if (res.destroyed || res.closed) return;
  res.writeHead(200, STREAM_HEADERS);
  send(res, 'done', { redirect });
  res.end();
}

const STREAM_HEADERS = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
});

function send(res: ServerResponse, event: string, data: unknown): void {
  if (res.writableEnded) return;
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * Refusals after which scanning the QR code again can help: a mistyped PIN or password, a card not held long enough
 * or the wrong card, a code or challenge that went stale, an answer that did not verify, a check service that was
 * unreachable for a moment. Everything else (a locked PIN, an expired or revoked certificate, the wrong kind of
 * certificate, a signature by another card than the login's, a code we do not know) ends the same way however often
 * the person scans: the page must not suggest it.
 */
const RETRYABLE: ReadonlySet<string> = new Set([
  'ERR_CARD_PIN_INCORRECT',
  'ERR_CARD_PIN_FORMAT',
  'ERR_CARD_NO_CARD',
  'ERR_CARD_NO_READER',
  'ERR_CARD_NOT_JPKI',
  'ERR_PKI_TOKEN_MALFORMED',
  'ERR_PKI_TOKEN_FORMAT',
  'ERR_PKI_TOKEN_ALGORITHM',
  'ERR_PKI_TOKEN_SIGNATURE',
  'ERR_PKI_STATEMENT_SIGNATURE',
  'ERR_PKI_CHALLENGE_NOT_FOUND',
  'ERR_PKI_CHALLENGE_EXPIRED',
  'ERR_PKI_CHALLENGE_USED',
  'ERR_PKI_REVOCATION_UNKNOWN',
  'ERR_PKI_LINKS_UNAVAILABLE',
  'ERR_IDP_QR_STALE',
  'ERR_IDP_QR_INVALID',
  'ERR_IDP_CHALLENGE_INVALID',
  'ERR_IDP_TOKEN_MALFORMED',
  'ERR_STORE_UNAVAILABLE',
]);

/** Whether scanning the QR code again may help after a refusal with `code` (the `failed` event's `retry`). */
export function retryable(code: string): boolean {
  return RETRYABLE.has(code);
}

/** The page's own sentences (Japanese, English): a companion that scanned, a code about to expire, expired, the end. */
export interface QrPageTexts {
  readonly scanned: readonly [ja: string, en: string];
  readonly expiring: readonly [ja: string, en: string];
  readonly expired: readonly [ja: string, en: string];
  readonly done: readonly [ja: string, en: string];
}

/**
 * The script of a page with an animated QR code, after `const cfg = { events, texts, expiresIn, closesIn, reshowIn }`
 * (see {@link QrPageTexts}; the deadlines in ms from when the page was made, `reshowIn` from a scan): follows the QR
 * (and the dev-phone and bridge links, where the page has them), shows progress and errors, and continues on `done`.
 * Once a companion scanned, the code is hidden and no longer follows (its last frame goes stale in seconds), so that
 * someone who can see the screen cannot scan a fresh one while the person enters the PIN; a refusal (`failed`) shows
 * the code again. So does a scan that nothing follows (a camera app opened the link, the person declined, a wrong PIN,
 * which is not reported, a bridge that never came back): at once with the button `#qr-again` (the script adds it
 * after the code), and by itself `reshowIn` after the scan (the challenge's lifetime: by then the companion's
 * challenge has expired, so no PIN entry is under way for a fresh frame to cut in on).
 * A minute before the code expires it says so and offers a new code (a reload, while the interaction lives long
 * enough to gain time); when it expires it removes the code and its links and offers a new code or the way back to
 * the service (`#qr-expiry`, `#qr-reload`, `#back-to-service`).
 */
export const QR_PAGE_SCRIPT = `${SHOW_STATUS_SCRIPT}
function say(ja, en, kind) {
  show(ja, en, kind);
  for (const s of document.querySelectorAll('#status .en')) s.lang = 'en';
}
const qr = document.getElementById('qr');
const devPhone = document.getElementById('dev-phone');
const bridge = document.getElementById('bridge');
const cancel = document.getElementById('cancel');
const expiry = document.getElementById('qr-expiry');
const reload = document.getElementById('qr-reload');
const back = document.getElementById('back-to-service');
const WARN_MS = 60000;
// A new code is worth offering only while the interaction outlives it by this much.
const RENEW_MS = 30000;
const born = performance.now();
const left = (ms) => ms - (performance.now() - born);
let over = false;
// A companion holds the challenge: the code on screen stays hidden until a refusal, a click on \`again\` or \`reshowIn\`.
let held = false;
// The newest frame, shown at once when the code comes back.
let latest;
let reshowTimer;
const RESHOW_MS = 180000;
const again = document.createElement('button');
again.type = 'button';
again.id = 'qr-again';
again.className = 'secondary';
again.textContent = 'QRコードをもう一度表示 / Show the QR code again';
hide(again, true);
qr.after(again);
again.addEventListener('click', () => reshow(false));
function unhold() {
  held = false;
  clearTimeout(reshowTimer);
  hide(again, true);
  if (over) return;
  if (latest) {
    qr.innerHTML = latest.svg;
    qr.dataset.link = latest.link;
  }
  hide(qr, false);
}
function reshow(timed) {
  if (over || !held) return;
  unhold();
  if (timed) say('読み取りが終わらなかったようです。もう一度QRコードを読み取ってください。', 'The scan did not finish. Scan the QR code again.');
  else say('QRコードを読み取ってください。', 'Scan the QR code.');
}
const events = new EventSource(cfg.events);
events.addEventListener('qr', (e) => {
  if (over) return;
  const d = JSON.parse(e.data);
  latest = d;
  if (!held) {
    qr.innerHTML = d.svg;
    qr.dataset.link = d.link;
  }
  // The links stay fresh: only someone at this browser can follow them.
  if (devPhone) devPhone.href = '/dev/phone#' + encodeURIComponent(d.link);
  // The bridge gets the current link, so it is fresh when the person clicks.
  if (bridge) {
    const b = new URL(bridge.href);
    b.searchParams.set('link', d.link);
    bridge.href = b.href;
  }
});
events.addEventListener('scanned', () => {
  if (over) return;
  held = true;
  hide(qr, true);
  hide(again, false);
  clearTimeout(reshowTimer);
  reshowTimer = setTimeout(() => reshow(true), cfg.reshowIn ?? RESHOW_MS);
  say(...cfg.texts.scanned);
});
events.addEventListener('failed', (e) => {
  unhold();
  const d = JSON.parse(e.data);
  if (d.retry) say(d.message.ja + ' もう一度QRコードを読み取ってください。', d.message.en + ' Scan the QR code again.', 'error');
  else say(d.message.ja, d.message.en, 'error');
});
// The page's style shows buttons and the QR box whatever \`hidden\` says: hide by the element's own style.
function hide(el, hidden) {
  if (el) el.style.display = hidden ? 'none' : '';
}
function offer() {
  if (expiry) expiry.hidden = false;
  hide(reload, !(left(cfg.closesIn) > RENEW_MS));
}
function expire() {
  if (over) return;
  over = true;
  events.close();
  unhold();
  // The code and the links that carry it no longer work: nothing stays on screen to be scanned.
  hide(qr, true);
  qr.replaceChildren();
  delete qr.dataset.link;
  hide(devPhone, true);
  hide(bridge, true);
  // Cancel needs the interaction; the way back to the service does not.
  if (back || !(left(cfg.closesIn) > 0)) hide(cancel, true);
  say(...cfg.texts.expired, 'error');
  offer();
}
if (reload) reload.addEventListener('click', () => location.assign(location.pathname));
setTimeout(() => {
  if (over) return;
  say(...cfg.texts.expiring);
  offer();
}, Math.max(0, left(cfg.expiresIn) - WARN_MS));
setTimeout(expire, Math.max(0, left(cfg.expiresIn)));
setTimeout(() => hide(reload, true), Math.max(0, left(cfg.closesIn) - RENEW_MS));
setTimeout(() => hide(cancel, true), Math.max(0, left(cfg.closesIn)));
events.addEventListener('expired', expire);
events.addEventListener('refused', (e) => {
  events.close();
  const d = JSON.parse(e.data);
  say(d.message.ja, d.message.en, 'error');
});
events.addEventListener('done', (e) => {
  events.close();
  over = true;
  unhold();
  const d = JSON.parse(e.data);
  say(...cfg.texts.done, 'done');
  location.assign(d.redirect);
});
`;
