/**
 * Who waits for what happens to a QR transaction (a card login or a signature): the event streams of this node. They
 * are told at once of what this node records, and, with a change feed, of what other nodes record (then the store
 * holds it); without a feed, or for a notice lost, their polling of the store finds it.
 */
import type { ServerResponse } from 'node:http';
import { IdpTooManyStreamsError } from './errors.ts';
import type { ChangeFeedPort } from './ports.ts';

/** What a node recorded for a transaction. */
export type TransactionChange = 'scanned' | 'outcome' | 'failure';

const NOTICE = /^(login|sign):(scanned|outcome|failure):(.+)$/;

/** The watchers of one kind of transaction on this node. */
export class TransactionWatch {
  readonly #kind: 'login' | 'sign';
  readonly #feed: ChangeFeedPort | undefined;
  readonly #watchers = new Map<string, Set<(change: TransactionChange) => void>>();
  #hearing = false;

  constructor(kind: 'login' | 'sign', feed: ChangeFeedPort | undefined) {
    this.#kind = kind;
    this.#feed = feed;
  }

  /** Whether a stream of this node watches `txn`. */
  watching(txn: string): boolean {
    return (this.#watchers.get(txn)?.size ?? 0) > 0;
  }

  /**
   * Calls `onChange` for each change of `txn` this node records or another node announces, until the returned
   * function is called; `onLastGone` runs when the last watcher of `txn` goes.
   */
  watch(txn: string, onChange: (change: TransactionChange) => void, onLastGone?: () => void): () => void {
    this.#hear();
    let set = this.#watchers.get(txn);
    if (set === undefined) this.#watchers.set(txn, (set = new Set()));
    set.add(onChange);
    return () => {
      set.delete(onChange);
      if (set.size > 0 || this.#watchers.get(txn) !== set) return;
      this.#watchers.delete(txn);
      onLastGone?.();
    };
  }

  /** Tells this node's watchers of `txn` (each in a microtask of its own). */
  notify(txn: string, change: TransactionChange): void {
    for (const onChange of this.#watchers.get(txn) ?? []) queueMicrotask(() => onChange(change));
  }

  /**
   * Tells the other nodes, unless a stream of this node watches `txn` (a browser has one stream; a second one
   * elsewhere still polls). Call right after issuing the write it reports, so the notice follows it on the same
   * connection. Best effort: a lost notice is found by polling.
   */
  announce(txn: string, change: TransactionChange): void {
    if (this.watching(txn)) return;
    this.#feed?.publish(`${this.#kind}:${change}:${txn}`).catch(() => {});
  }

  /**
   * Reports a change whose write was just issued: announced at once (the notice follows the write on the same
   * connection), told to this node's watchers once the write is done.
   */
  async record(txn: string, change: TransactionChange, write: Promise<void>): Promise<void> {
    this.announce(txn, change);
    await write;
    this.notify(txn, change);
  }

  /** Subscribes once, on the first watch: other nodes' notices of this kind wake this node's watchers. */
  #hear(): void {
    if (this.#hearing || this.#feed === undefined) return;
    this.#hearing = true;
    this.#feed.subscribe((key) => {
      const m = NOTICE.exec(key);
      if (m !== null && m[1] === this.#kind) this.notify(m[3]!, m[2] as TransactionChange);
    });
  }
}

/** A stream {@link StreamCap} counts (an object of its own, though two streams may share a callback). */
interface Held {
  readonly evict: (reason: IdpTooManyStreamsError) => void;
}

/**
 * The event streams of this node per transaction, at most `max` at once; the newest wins. A login's page holds one,
 * and a reload or an EventSource reconnect opens the next before this node may have seen the last one close; nothing
 * needs more. Without a cap, one browser (or a script with its cookies) could open any number for one transaction,
 * each one watching it and polling the store until the login ends.
 *
 * Only the browser that owns a transaction holds its slots, so one more stream is never refused: the oldest is ended
 * instead. It is most likely dead (a stream has no socket timeout: after a network change, TCP notices a dead
 * connection only after many minutes, longer than a login lasts) or a stale tab; refusing the new one would leave the
 * live page deaf to its outcome, as EventSource does not retry after an answer other than 200.
 */
export class StreamCap {
  readonly #max: number;
  /** Per transaction, its streams' eviction callbacks, oldest first (a Set keeps insertion order). */
  readonly #open = new Map<string, Set<Held>>();

  /** @throws TypeError unless `max` is a whole number >= 1. */
  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('max must be a whole number >= 1');
    this.#max = max;
  }

  /**
   * Counts `res` as a stream of `txn` until it closes, however it ends: the browser goes, the stream ends itself
   * (`done`, `expired`, `refused`), the server closes it, or a newer stream evicts it. When `max` streams of `txn` are
   * open already, the oldest is evicted first: its slot is given back at once, and its `evict` is called (once, with
   * an `ERR_IDP_TOO_MANY_STREAMS` error) to end it in a way its page does not reconnect from (the `refused` event), so
   * that two pages of one login do not take turns evicting each other. A response already closed (the browser left
   * during the store reads) is not counted: its `close` came and went, and would never give the slot back.
   *
   * @example
   * ```ts
   * const streams = new StreamCap(4);
   * // The handler's own way to end a stream: for the QR pages, a `refused` event, then the end (events.ts).
   * streams.hold(txn, res, (reason) => refuse(res, reason));
   * ```
   */
  hold(txn: string, res: ServerResponse, evict: (reason: IdpTooManyStreamsError) => void): void {
    if (res.destroyed || res.closed) return;
    let set = this.#open.get(txn);
    if (set === undefined) this.#open.set(txn, (set = new Set()));
    let oldest: Held | undefined;
    if (set.size >= this.#max) {
      [oldest] = set;
      set.delete(oldest!);
    }
    const held: Held = { evict };
    set.add(held);
    res.once('close', () => {
      // An evicted stream's slot went back when it was evicted.
      if (!set.delete(held) || set.size > 0 || this.#open.get(txn) !== set) return;
      this.#open.delete(txn);
    });
    // Last: the count is right whatever the callback does.
    oldest?.evict(new IdpTooManyStreamsError(this.#max));
  }

  /** The streams of `txn` open now (evicted ones not counted). */
  count(txn: string): number {
    return this.#open.get(txn)?.size ?? 0;
  }

  /** How many transactions have a stream open (what this node keeps: nothing for a transaction without one). */
  get size(): number {
    return this.#open.size;
  }
}
