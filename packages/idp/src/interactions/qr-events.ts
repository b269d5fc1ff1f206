/**
 * The Server-Sent Events of a page that shows an animated QR code and waits for a companion (card login, eKYC
 * signing): `qr` {t, link, svg} each second, `scanned` once a companion holds the challenge, `failed` {error,
 * message} when a card's answer was refused (the person may scan again), `done` {redirect}, `expired`, and
 * `refused` {error, message} when the stream cannot go on. What happened is asked of a {@link QrEventSource}.
 */
import type { ServerResponse } from 'node:http';
import type { ErrorBody } from '../http-errors.ts';
import { SHOW_STATUS_SCRIPT } from '../lib/html.ts';
import { qrSvg } from './qr-svg.ts';

/** How often the QR code is checked for a new second (it changes once a second). */
const TICK_MS = 200;
/** How often the stream looks at the store by default, told of changes or not (`streamQrEvents`' `pollMs`). */
const POLL_MS = 200;
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
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();

  let lastT = shownT;
  let wasScanned = false;
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
        if (look.redirect !== undefined) {
          send(res, 'done', { redirect: look.redirect });
          stop();
          return;
        }
        if (look.failure !== undefined) send(res, 'failed', look.failure);
        if (look.scanned && !wasScanned) send(res, 'scanned', {});
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

function send(res: ServerResponse, event: string, data: unknown): void {
  if (res.writableEnded) return;
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** The page's own sentences (Japanese, English) for a companion that scanned, an expired request and the end. */
export interface QrPageTexts {
  readonly scanned: readonly [ja: string, en: string];
  readonly expired: readonly [ja: string, en: string];
  readonly done: readonly [ja: string, en: string];
}

/**
 * The script of a page with an animated QR code, after `const cfg = { events, texts }` (see {@link QrPageTexts}):
 * follows the QR (and the dev-phone and bridge links, where the page has them), shows progress and errors, and
 * continues on `done`.
 */
export const QR_PAGE_SCRIPT = `${SHOW_STATUS_SCRIPT}
const qr = document.getElementById('qr');
const devPhone = document.getElementById('dev-phone');
const bridge = document.getElementById('bridge');
const events = new EventSource(cfg.events);
events.addEventListener('qr', (e) => {
  const d = JSON.parse(e.data);
  qr.innerHTML = d.svg;
  qr.dataset.link = d.link;
  if (devPhone) devPhone.href = '/dev/phone#' + encodeURIComponent(d.link);
  // The bridge gets the current link, so it is fresh when the person clicks.
  if (bridge) {
    const b = new URL(bridge.href);
    b.searchParams.set('link', d.link);
    bridge.href = b.href;
  }
});
events.addEventListener('scanned', () => show(...cfg.texts.scanned));
events.addEventListener('failed', (e) => {
  const d = JSON.parse(e.data);
  show(d.message.ja + ' もう一度QRコードを読み取ってください。', d.message.en + ' Scan the QR code again.', 'error');
});
events.addEventListener('expired', () => {
  events.close();
  show(...cfg.texts.expired, 'error');
});
events.addEventListener('refused', (e) => {
  events.close();
  const d = JSON.parse(e.data);
  show(d.message.ja, d.message.en, 'error');
});
events.addEventListener('done', (e) => {
  events.close();
  const d = JSON.parse(e.data);
  show(...cfg.texts.done, 'done');
  location.assign(d.redirect);
});
`;
