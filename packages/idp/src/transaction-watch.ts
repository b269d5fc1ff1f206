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

/**
 * The event streams of this node per transaction, at most `max` at once. A login's page holds one, and a reload or
 * an EventSource reconnect opens the next before this node may have seen the last one close; nothing needs more.
 * Without a cap, one browser (or a script with its cookies) could open any number for one transaction, each one
 * watching it and polling the store until the login ends.
 */
export class StreamCap {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  /** @throws TypeError unless `max` is a whole number >= 1. */
  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('max must be a whole number >= 1');
    this.#max = max;
  }

  /**
   * Counts `res` as a stream of `txn` until it closes, however it ends: the browser goes, the stream ends itself
   * (`done`, `expired`, `refused`), or the server closes it. Call before the first byte, so a refusal is an HTTP
   * answer. A response already closed (the browser left during the store reads) is not counted: its `close` came
   * and went, and would never give the slot back.
   *
   * @throws IdpTooManyStreamsError (`ERR_IDP_TOO_MANY_STREAMS`) when `max` streams of `txn` are open already.
   */
  hold(txn: string, res: ServerResponse): void {
    if (res.destroyed || res.closed) return;
    const open = this.#open.get(txn) ?? 0;
    if (open >= this.#max) throw new IdpTooManyStreamsError(this.#max);
    this.#open.set(txn, open + 1);
    res.once('close', () => {
      const left = (this.#open.get(txn) ?? 1) - 1;
      if (left > 0) this.#open.set(txn, left);
      else this.#open.delete(txn);
    });
  }

  /** The streams of `txn` open now. */
  count(txn: string): number {
    return this.#open.get(txn) ?? 0;
  }

  /** How many transactions have a stream open (what this node keeps: nothing for a transaction without one). */
  get size(): number {
    return this.#open.size;
  }
}
