/**
 * The vpcd bridge: serves a card (any {@link ApduProcessor}, usually a `VirtualCard`) to pcscd through the
 * vsmartcard virtual reader driver, so that every PC/SC program (OpenSC, browsers, `pcsc_scan`, our own
 * `PcscTransport`) sees it in the reader "Virtual PCD 00 0n".
 *
 * vpcd is the TCP server (pcscd loads it; slot n listens on 35963 + n); the card side is the client. Each message
 * either way is a 2-byte big-endian length and a payload. From vpcd, a 1-byte payload is a control message
 * (0x00 power off, 0x01 power on, 0x02 reset, 0x04 get ATR; only the last is answered); anything longer is a command
 * APDU, answered with the response APDU (vsmartcard `vpcd.h`, `virtualsmartcard/VirtualSmartcard.py`).
 *
 * Serve the card from another thread (a worker) or process than any PC/SC client of the same reader: pcscd polls
 * and resets the card while holding the reader's lock, and the PC/SC binding makes some calls (disconnect)
 * synchronously, so a client blocked on the serving thread deadlocks with pcscd.
 *
 * Latency: vpcd writes each message's length and payload separately; with Nagle on its side and delayed ACK on ours,
 * every APDU waits about 40 ms on Linux (about 20 round trips per second), whatever this bridge does.
 */
import { connect, type Socket } from 'node:net';
import type { ApduProcessor } from './spec.ts';

/** The port of vpcd's first reader slot (`0x8C7B` in `/etc/reader.conf.d/vpcd`). */
export const VPCD_PORT = 35963;

/**
 * What the bridge reports, for logging. APDU contents are never reported: a VERIFY carries a PIN in clear.
 * `apdu` carries only the running count of commands processed on this connection.
 *
 * - `connecting`: attempt `attempt` (from 1) to reach vpcd starts.
 * - `unreachable`: that attempt failed before vpcd accepted it; `reason` is the socket's error code only
 *   (`ECONNREFUSED` while pcscd or its vpcd driver is not up, `ENOTFOUND`, `ETIMEDOUT`…). Another attempt follows
 *   after the backoff.
 * - `connected`: vpcd accepted the connection: pcscd sees the card inserted.
 * - `disconnected`: the connection ended (pcscd sees the card removed); `reason` is `closed` after
 *   {@link VpcdAttachment.close}, else `vpcd closed the connection` and the bridge reconnects.
 */
export type VpcdEvent =
  | { readonly type: 'connecting'; readonly attempt: number }
  | { readonly type: 'unreachable'; readonly attempt: number; readonly reason: string }
  | { readonly type: 'connected' }
  | { readonly type: 'disconnected'; readonly reason: string }
  | { readonly type: 'power-on' }
  | { readonly type: 'power-off' }
  | { readonly type: 'reset' }
  | { readonly type: 'apdu'; readonly count: number };

/** Options of {@link attachToVpcd}. */
export interface VpcdOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default {@link VPCD_PORT} (slot 0); slot n is `VPCD_PORT + n`. */
  readonly port?: number;
  /** Aborting detaches the card, as {@link VpcdAttachment.close} does. */
  readonly signal?: AbortSignal;
  /** Called for each {@link VpcdEvent}; must not throw. */
  readonly onEvent?: (event: VpcdEvent) => void;
  /** First reconnect delay in ms, doubled after each failure up to `maxBackoffMs`. Default 50. */
  readonly backoffMs?: number;
  /** Default 2000. */
  readonly maxBackoffMs?: number;
}

/** A card attached to vpcd. */
export interface VpcdAttachment {
  /** Resolves once the bridge has stopped for good (after {@link close} or an abort). */
  readonly closed: Promise<void>;
  /** Disconnects from vpcd, so pcscd sees the card removed, and stops reconnecting. Idempotent. */
  close(): Promise<void>;
}

/**
 * Inserts `card` into a vpcd reader slot and keeps it there: if vpcd is not up yet, or pcscd restarts, the bridge
 * reconnects with exponential backoff until closed. Each failed attempt is reported as an `unreachable` event with
 * the socket's error code, so a caller can tell the person that vpcd cannot be reached (and give up when it wants
 * to, by closing); the bridge itself never gives up.
 *
 * @example
 * ```ts
 * const card = await VirtualCard.open(cardFile)
 * const attached = attachToVpcd(card, {
 *   onEvent: (e) => console.error(e.type === 'unreachable' ? `vpcd: ${e.reason}` : e.type),
 * })
 * // … `pkcs15-tool -D` now sees the card …
 * await attached.close()
 * ```
 * @throws TypeError for a bad `port` or `host`. Connection failures are not errors: they are retried.
 */
export function attachToVpcd(card: ApduProcessor, options: VpcdOptions = {}): VpcdAttachment {
  const { host = '127.0.0.1', port = VPCD_PORT, signal, onEvent, backoffMs = 50, maxBackoffMs = 2000 } = options;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new TypeError('port must be an integer 1–65535');
  if (typeof host !== 'string' || host === '') throw new TypeError('host must be a non-empty string');
  if (!(backoffMs > 0) || !(maxBackoffMs >= backoffMs))
    throw new TypeError('backoffMs must be > 0 and <= maxBackoffMs');

  const emit = (event: VpcdEvent) => {
    try {
      onEvent?.(event);
    } catch {
      // A logger must not take the card out of the reader.
    }
  };

  let stopped = false;
  let socket: Socket | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));

  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(retryTimer);
    signal?.removeEventListener('abort', stop);
    if (socket && !socket.destroyed) {
      socket.once('close', () => resolveClosed());
      socket.destroy();
    } else {
      resolveClosed();
    }
  };

  let attempt = 0;
  let delay = backoffMs;
  const dial = () => {
    if (stopped) return;
    const n = ++attempt;
    emit({ type: 'connecting', attempt: n });
    let apdus = 0;
    let pending: Buffer = Buffer.alloc(0);
    let wasConnected = false;
    let failure: string | undefined;
    const s = connect({ host, port });
    socket = s;
    s.setNoDelay(true);
    s.on('connect', () => {
      wasConnected = true;
      delay = backoffMs;
      emit({ type: 'connected' });
    });
    s.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      // Frames: 2-byte big-endian length, then that many bytes. A chunk may hold several frames, or part of one.
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const payload = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        const reply = handle(payload);
        if (reply) s.write(frame(reply));
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      // Reported through 'close' below. Only the code: a system error's message names nothing more useful, and no
      // event carries anything of the exchange.
      failure ??= typeof e.code === 'string' ? e.code : 'UNKNOWN';
    });
    s.on('close', () => {
      if (socket === s) socket = undefined;
      if (wasConnected) emit({ type: 'disconnected', reason: stopped ? 'closed' : 'vpcd closed the connection' });
      else if (!stopped) emit({ type: 'unreachable', attempt: n, reason: failure ?? 'UNKNOWN' });
      if (stopped) return;
      retryTimer = setTimeout(dial, delay);
      delay = Math.min(delay * 2, maxBackoffMs);
    });

    function handle(payload: Buffer): Uint8Array | undefined {
      if (payload.length === 1) {
        switch (payload[0]) {
          case 0x00:
            card.powerOff();
            emit({ type: 'power-off' });
            return undefined;
          case 0x01:
            card.powerOn();
            emit({ type: 'power-on' });
            return undefined;
          case 0x02:
            card.reset();
            emit({ type: 'reset' });
            return undefined;
          case 0x04:
            // vpcd also asks for the ATR to poll presence (every few hundred ms): not worth an event.
            return card.atr;
          default:
            // An unknown control byte: vpcd expects no answer to it.
            return undefined;
        }
      }
      if (payload.length === 0) return undefined;
      apdus++;
      emit({ type: 'apdu', count: apdus });
      try {
        return card.process(new Uint8Array(payload));
      } catch {
        // An ApduProcessor never throws for card-level errors; if it does anyway, answer "no precise diagnosis"
        // (ISO 7816-4 §5.6, SW 6F00) rather than leave pcscd waiting.
        return Uint8Array.of(0x6f, 0x00);
      }
    }
  };

  if (signal?.aborted) stop();
  else {
    signal?.addEventListener('abort', stop, { once: true });
    dial();
  }

  return {
    closed,
    close() {
      stop();
      return closed;
    },
  };
}

function frame(payload: Uint8Array): Buffer {
  // The length field is 16 bits; a longer response cannot be framed, so answer 6F00 instead (ISO 7816-4 §5.6).
  if (payload.length > 0xffff) payload = Uint8Array.of(0x6f, 0x00);
  const out = Buffer.allocUnsafe(2 + payload.length);
  out.writeUInt16BE(payload.length, 0);
  out.set(payload, 2);
  return out;
}
