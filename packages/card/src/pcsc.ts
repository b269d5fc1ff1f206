/**
 * The PC/SC transport: a card in a reader, reached through pcscd (Linux, macOS) or WinSCard (Windows) by the
 * `smartcard` N-API binding. The binding is loaded on first use, so importing this module costs nothing on a
 * machine without a PC/SC library; the first call then rejects with `ERR_CARD_PCSC_UNAVAILABLE`.
 *
 * Every function opens its own PC/SC context and releases it before it settles; a {@link PcscTransport} holds one
 * context for as long as it is connected.
 */
import { MynaGateError } from '@mynagate/errors';
import type { CardInterface, ContextInterface, ReaderInterface, ReaderState } from 'smartcard';
import { CardTransportClosedError } from './errors.ts';
import type { Transport } from './transport.ts';

type Pcsc = typeof import('smartcard');

/** pcscd is not running, or the PC/SC library cannot be loaded. Start the service (`pcscd`) and try again. */
export class CardPcscUnavailableError extends MynaGateError {
  constructor(message = 'the PC/SC service is not available', options?: ErrorOptions) {
    super('ERR_CARD_PCSC_UNAVAILABLE', message, options);
  }
}

/** No reader is attached, or none has the requested name. */
export class CardNoReaderError extends MynaGateError {
  /** The reader asked for, when one was named. */
  readonly reader: string | undefined;
  constructor(reader?: string, options?: ErrorOptions) {
    super('ERR_CARD_NO_READER', reader === undefined ? 'no card reader found' : `no reader named "${reader}"`, options);
    this.reader = reader;
  }
}

/** The reader is there but holds no card (or none that answers). */
export class CardNoCardError extends MynaGateError {
  /** The reader that was looked at, when one was chosen. */
  readonly reader: string | undefined;
  constructor(reader?: string, options?: ErrorOptions) {
    super('ERR_CARD_NO_CARD', reader === undefined ? 'no card in any reader' : `no card in "${reader}"`, options);
    this.reader = reader;
  }
}

/** A wait for a card (or for its removal) ran out of time. */
export class CardTimeoutError extends MynaGateError {
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number) {
    super('ERR_CARD_TIMEOUT', `${what} did not happen within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The card left the reader while connected; its security state (verified PINs) is gone. Start over. */
export class CardRemovedError extends MynaGateError {
  constructor(options?: ErrorOptions) {
    super('ERR_CARD_REMOVED', 'the card was removed', options);
  }
}

/** Another program reset the card while connected; verified PINs are gone (spec §4.8). Reconnect and start over. */
export class CardResetError extends MynaGateError {
  constructor(options?: ErrorOptions) {
    super('ERR_CARD_RESET', 'the card was reset by another program', options);
  }
}

/** Another program holds the card exclusively (PC/SC sharing violation). */
export class CardInUseError extends MynaGateError {
  constructor(options?: ErrorOptions) {
    super('ERR_CARD_IN_USE', 'the card is in use by another program', options);
  }
}

/** Any other PC/SC failure (unresponsive card, protocol mismatch, communication error). `cause` has the detail. */
export class CardPcscError extends MynaGateError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CARD_PCSC_FAILURE', `PC/SC: ${message}`, options);
  }
}

/** One reader as pcscd reports it. */
export interface ReaderInfo {
  readonly name: string;
  /** A card is present and powered (PC/SC `SCARD_STATE_PRESENT` and not `SCARD_STATE_MUTE`). */
  readonly cardPresent: boolean;
  /** The card's ATR when one is present. */
  readonly atr: Uint8Array | null;
}

/** Options of {@link waitForCard} and {@link waitForRemoval}. */
export interface WaitOptions {
  /** Reader name (exact). Omitted: any reader. */
  readonly reader?: string;
  /** How long to wait before rejecting with `ERR_CARD_TIMEOUT`. */
  readonly timeoutMs: number;
  /** Aborting rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Options of {@link PcscTransport.connect}. */
export interface PcscConnectOptions {
  /** Reader name (exact). Omitted: the first reader that holds a card. */
  readonly reader?: string;
  /**
   * `exclusive` (default) keeps other programs off the card while connected, so none can use a PIN this program
   * verified; `shared` lets them in between APDUs (PC/SC `SCARD_SHARE_SHARED`).
   */
  readonly shareMode?: 'exclusive' | 'shared';
  /**
   * What to do with the card on {@link PcscTransport.close}: `reset` (default) clears its security state so the
   * next program does not inherit a verified PIN (spec §4.8); `leave` keeps it.
   */
  readonly disposition?: 'reset' | 'leave';
  /** Send extended-length APDUs (ISO 7816-4 §5.1). Default `false`: many CCID readers take only short ones. */
  readonly extendedLength?: boolean;
}

/**
 * Lists the readers pcscd knows, with whether each holds a card.
 *
 * @example
 * ```ts
 * for (const r of await listReaders()) console.log(r.name, r.cardPresent)
 * ```
 * @throws `ERR_CARD_PCSC_UNAVAILABLE` when pcscd is not running.
 */
export async function listReaders(): Promise<ReaderInfo[]> {
  const { pcsc, ctx } = await openContext();
  try {
    return listIn(ctx).map((r) => readerInfo(pcsc, r.name, r.state, r.atr));
  } finally {
    ctx.close();
  }
}

/**
 * Resolves when a card is present in the reader (or in any reader), at once if one already is.
 *
 * @example
 * ```ts
 * const { reader } = await waitForCard({ timeoutMs: 30_000 })
 * ```
 * @throws `ERR_CARD_TIMEOUT` after `timeoutMs`; `ERR_CARD_NO_READER` when the named reader does not exist;
 *   `ERR_CARD_PCSC_UNAVAILABLE`. Aborting `signal` rejects with its reason.
 */
export function waitForCard(options: WaitOptions): Promise<ReaderInfo> {
  return waitFor(options, 'a card to be inserted', (readers) => readers.find((r) => r.cardPresent));
}

/**
 * Resolves when the reader (or, with no reader named, every reader) is empty, at once if it already is.
 *
 * @throws `ERR_CARD_TIMEOUT` after `timeoutMs`; `ERR_CARD_NO_READER` when the named reader does not exist;
 *   `ERR_CARD_PCSC_UNAVAILABLE`. Aborting `signal` rejects with its reason.
 */
export async function waitForRemoval(options: WaitOptions): Promise<void> {
  await waitFor(options, 'the card to be removed', (readers) =>
    readers.every((r) => !r.cardPresent) ? (readers[0] ?? EMPTY) : undefined,
  );
}

const EMPTY: ReaderInfo = { name: '', cardPresent: false, atr: null };

/**
 * A {@link Transport} over PC/SC. Short APDUs by default; T=1 (the JPKI card speaks only T=1, spec §1.1), T=0
 * accepted for other readers, with its `61xx` (GET RESPONSE) and `6Cxx` (wrong Le) answers resolved here so the
 * client always sees a complete response (ISO 7816-4 §5.3.4, §10.3).
 *
 * APDUs are sent one at a time in call order, whoever calls.
 *
 * @example
 * ```ts
 * const transport = await PcscTransport.connect({ reader: 'Virtual PCD 00 00' })
 * try { await new JpkiClient(transport).readCertificate('auth') } finally { await transport.close() }
 * ```
 */
export class PcscTransport implements Transport {
  readonly atr: Uint8Array;
  readonly extendedLength: boolean;
  /** The reader this transport is connected to. */
  readonly reader: string;
  /** The negotiated protocol. */
  readonly protocol: 'T=0' | 'T=1';

  readonly #pcsc: Pcsc;
  readonly #ctx: ContextInterface;
  readonly #card: CardInterface;
  readonly #reset: boolean;
  readonly #share: number;
  readonly #protocols: number;
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  private constructor(
    pcsc: Pcsc,
    ctx: ContextInterface,
    card: CardInterface,
    reader: string,
    atr: Uint8Array,
    o: PcscConnectOptions,
  ) {
    this.#pcsc = pcsc;
    this.#ctx = ctx;
    this.#card = card;
    this.reader = reader;
    this.atr = atr;
    this.extendedLength = o.extendedLength ?? false;
    this.protocol = card.protocol === pcsc.SCARD_PROTOCOL_T0 ? 'T=0' : 'T=1';
    this.#reset = (o.disposition ?? 'reset') === 'reset';
    this.#share = (o.shareMode ?? 'exclusive') === 'exclusive' ? pcsc.SCARD_SHARE_EXCLUSIVE : pcsc.SCARD_SHARE_SHARED;
    this.#protocols = protocols(pcsc);
  }

  /**
   * Connects to the card in `reader`, or in the first reader that holds one.
   *
   * @throws `ERR_CARD_NO_READER` (no reader, or none with that name), `ERR_CARD_NO_CARD` (the reader is empty),
   *   `ERR_CARD_IN_USE` (held exclusively elsewhere), `ERR_CARD_PCSC_UNAVAILABLE`, `ERR_CARD_PCSC_FAILURE`.
   *   A bad option is a `TypeError`.
   */
  static async connect(options: PcscConnectOptions = {}): Promise<PcscTransport> {
    const { shareMode = 'exclusive', disposition = 'reset' } = options;
    if (shareMode !== 'exclusive' && shareMode !== 'shared') throw new TypeError(`unknown shareMode "${shareMode}"`);
    if (disposition !== 'reset' && disposition !== 'leave') throw new TypeError(`unknown disposition "${disposition}"`);
    if (options.reader !== undefined && typeof options.reader !== 'string')
      throw new TypeError('reader must be a string');
    const { pcsc, ctx } = await openContext();
    try {
      const readers = listIn(ctx);
      if (readers.length === 0) throw new CardNoReaderError();
      let reader: ReaderInterface | undefined;
      if (options.reader !== undefined) {
        reader = readers.find((r) => r.name === options.reader);
        if (!reader) throw new CardNoReaderError(options.reader);
        if (!isPresent(pcsc, reader.state)) throw new CardNoCardError(reader.name);
      } else {
        reader = readers.find((r) => isPresent(pcsc, r.state));
        if (!reader) throw new CardNoCardError();
      }
      const share = shareMode === 'exclusive' ? pcsc.SCARD_SHARE_EXCLUSIVE : pcsc.SCARD_SHARE_SHARED;
      const card = await reader.connect(share, protocols(pcsc)).catch((e: unknown) => {
        throw fromPcsc(e, reader.name);
      });
      let atr: Uint8Array;
      try {
        atr = new Uint8Array(card.getStatus().atr);
      } catch (e) {
        card.disconnect(pcsc.SCARD_LEAVE_CARD);
        throw fromPcsc(e, reader.name);
      }
      return new PcscTransport(pcsc, ctx, card, reader.name, atr, options);
    } catch (e) {
      ctx.close();
      throw e;
    }
  }

  /**
   * Sends one APDU and resolves with the complete response (data ‖ SW1 SW2).
   *
   * @throws `ERR_CARD_TRANSPORT_CLOSED` after {@link close}; `ERR_CARD_REMOVED`, `ERR_CARD_RESET`,
   *   `ERR_CARD_PCSC_FAILURE`. A command longer than a short APDU allows, without `extendedLength`, is a `TypeError`.
   */
  transmit(command: Uint8Array): Promise<Uint8Array> {
    if (!(command instanceof Uint8Array) || command.length < 4) {
      return Promise.reject(new TypeError('command must be a Uint8Array of at least 4 bytes'));
    }
    // A short APDU is at most 4 + 1 + 255 + 1 bytes (ISO 7816-4 §5.1); anything longer is extended.
    if (!this.extendedLength && command.length > 261) {
      return Promise.reject(new TypeError('command is longer than a short APDU and extendedLength is off'));
    }
    if (this.#closing) return Promise.reject(new CardTransportClosedError());
    const run = this.#queue.then(() => this.#exchange(command));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Disconnects (resetting the card unless `disposition: 'leave'`) and releases the context. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#queue; // APDUs sent before close() still get their answers
    try {
      // Reset through the asynchronous SCardReconnect rather than in disconnect: the binding runs disconnect on
      // this thread, and a reset there blocks it until the card has answered.
      if (this.#reset && this.#card.connected) {
        await this.#card.reconnect(this.#share, this.#protocols, this.#pcsc.SCARD_RESET_CARD);
      }
    } catch {
      // The card may already be gone: then there is no security state left to clear.
    }
    try {
      if (this.#card.connected) this.#card.disconnect(this.#pcsc.SCARD_LEAVE_CARD);
    } catch {
      // Nothing left to release on a card that is gone.
    } finally {
      this.#ctx.close();
    }
  }

  async #exchange(command: Uint8Array): Promise<Uint8Array> {
    let response = await this.#send(command);
    // 6Cxx: wrong Le; repeat the command once with Le = xx (ISO 7816-4 §5.3.4). Only a short Case 2 or Case 4
    // command has an Le byte to fix.
    if (response.length === 2 && response[0] === 0x6c && hasShortLe(command)) {
      const fixed = new Uint8Array(command);
      fixed[fixed.length - 1] = response[1]!;
      response = await this.#send(fixed);
    }
    // 61xx: more data waits; fetch it with GET RESPONSE until the card says it is done (ISO 7816-4 §10.3).
    const chunks = [response.subarray(0, -2)];
    for (let i = 0; response.at(-2) === 0x61 && i < 256; i++) {
      response = await this.#send(Uint8Array.of(command[0]! & 0x03, 0xc0, 0x00, 0x00, response.at(-1)!));
      chunks.push(response.subarray(0, -2));
    }
    if (chunks.length === 1) return response;
    return new Uint8Array(Buffer.concat([...chunks, response.subarray(-2)]));
  }

  async #send(apdu: Uint8Array): Promise<Uint8Array> {
    try {
      const maxRecvLength = this.extendedLength ? 65538 : 258;
      const r = await this.#card.transmit(Buffer.from(apdu.buffer, apdu.byteOffset, apdu.byteLength), {
        maxRecvLength,
      });
      if (r.length < 2) throw new CardPcscError('the response has no status word');
      return new Uint8Array(r);
    } catch (e) {
      throw fromPcsc(e, this.reader);
    }
  }
}

// ---- private helpers ----

async function loadPcsc(): Promise<Pcsc> {
  try {
    return await import('smartcard');
  } catch (e) {
    throw new CardPcscUnavailableError('the PC/SC library could not be loaded', { cause: e });
  }
}

async function openContext(): Promise<{ pcsc: Pcsc; ctx: ContextInterface }> {
  const pcsc = await loadPcsc();
  try {
    return { pcsc, ctx: new pcsc.Context() };
  } catch (e) {
    throw fromPcsc(e);
  }
}

function listIn(ctx: ContextInterface): ReaderInterface[] {
  try {
    return ctx.listReaders();
  } catch (e) {
    throw fromPcsc(e);
  }
}

/** T=1 for the JPKI card (spec §1.1); T=0 too, so that other cards and readers still connect. */
function protocols(pcsc: Pcsc): number {
  return pcsc.SCARD_PROTOCOL_T1 | pcsc.SCARD_PROTOCOL_T0;
}

/** Case 2 short (`CLA INS P1 P2 Le`) or Case 4 short (`… Lc data Le`), ISO 7816-4 §5.1. */
function hasShortLe(c: Uint8Array): boolean {
  return c.length === 5 || (c.length > 5 && c[4] !== 0 && c.length === 6 + c[4]!);
}

function isPresent(pcsc: Pcsc, state: number): boolean {
  return (state & pcsc.SCARD_STATE_PRESENT) !== 0 && (state & pcsc.SCARD_STATE_MUTE) === 0;
}

function readerInfo(pcsc: Pcsc, name: string, state: number, atr: Uint8Array | null): ReaderInfo {
  const present = isPresent(pcsc, state);
  return { name, cardPresent: present, atr: present && atr && atr.length > 0 ? new Uint8Array(atr) : null };
}

/** The binding rejects with plain `Error`s whose message is the PC/SC return code's text; map them to codes. */
function fromPcsc(e: unknown, reader?: string): MynaGateError {
  if (e instanceof MynaGateError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const options = { cause: e };
  switch (message) {
    case 'PC/SC service not running':
    case 'PC/SC service stopped':
      return new CardPcscUnavailableError(undefined, options);
    case 'No readers available':
      return new CardNoReaderError(undefined, options);
    case 'Unknown reader':
    case 'Reader unavailable':
      return new CardNoReaderError(reader, options);
    case 'No smart card present':
    case 'Card is unpowered':
      return new CardNoCardError(reader, options);
    case 'Card was removed':
      return new CardRemovedError(options);
    case 'Card was reset':
      return new CardResetError(options);
    case 'Sharing violation':
      return new CardInUseError(options);
    default:
      return new CardPcscError(message, options);
  }
}

/** Polls pcscd's status for the condition, waiting on state changes in short slices so abort and timeout apply. */
async function waitFor(
  options: WaitOptions,
  what: string,
  found: (readers: ReaderInfo[]) => ReaderInfo | undefined,
): Promise<ReaderInfo> {
  const { reader, timeoutMs, signal } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new TypeError('timeoutMs must be a number >= 0');
  if (reader !== undefined && typeof reader !== 'string') throw new TypeError('reader must be a string');
  signal?.throwIfAborted();
  const deadline = performance.now() + timeoutMs;
  const { pcsc, ctx } = await openContext();
  // SCardCancel wakes a pending wait at once; the loop then sees the aborted signal.
  const onAbort = () => ctx.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      signal?.throwIfAborted();
      let readers = listIn(ctx);
      if (reader !== undefined) {
        readers = readers.filter((r) => r.name === reader);
        if (readers.length === 0) throw new CardNoReaderError(reader);
      }
      const hit = found(readers.map((r) => readerInfo(pcsc, r.name, r.state, r.atr)));
      if (hit) return hit;
      const left = deadline - performance.now();
      if (left <= 0) throw new CardTimeoutError(`waiting for ${what}`, timeoutMs);
      // Sleep until pcscd reports a change, at most 250 ms so a reader attached meanwhile and `signal` are seen.
      const states: ReaderState[] = readers.map((r) => ({
        name: r.name,
        state: r.state & ~pcsc.SCARD_STATE_CHANGED,
        changed: false,
        atr: null,
      }));
      const slice = Math.max(1, Math.min(250, Math.ceil(left)));
      if (states.length === 0) await new Promise((r) => setTimeout(r, slice));
      else await ctx.waitForChange(states, slice).catch((e: unknown) => Promise.reject(fromPcsc(e, reader)));
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    ctx.close();
  }
}
