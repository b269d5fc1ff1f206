/**
 * Who waits for what happens to a QR transaction (a card login or a signature): the event streams of this node. They
 * are told at once of what this node records, and, with a change feed, of what other nodes record (then the store
 * holds it); without a feed, or for a notice lost, their polling of the store finds it.
 */
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
