/**
 * A size-bounded cache map with first-in-first-out eviction in constant time. Plain `map.delete(map.keys().next()
 * .value)` is not: V8 leaves a deleted entry's slot in place until the table is rebuilt, and an iterator walks every
 * such slot at the front, so a full 10 000-entry cache paid about 4 us per eviction (measured) where this pays 0.16.
 *
 * Nor does it delete from a `Map` at all. A V8 Map that keeps deleting and adding rebuilds its table every few dozen
 * sets, and the table it leaves points to the new one (for iterators still walking it). Once an old table is in the
 * old generation it is garbage, but the young-generation collector takes its pointers as roots: so every table built
 * since the last full collection, and every value ever set in them, survived each scavenge and was copied and
 * promoted. A cold login cache of 47 churned this way made each scavenge copy about 17 MB (20-40 ms of pause, about
 * 1 us of a login's CPU; measured with `--trace-gc-nvp`). Here an evicted or deleted entry is only marked dead (its
 * value dropped), and once dead entries fill half the Map, the live ones move to a new Map and the old one is
 * dropped whole: what a scavenge can be led to keep is bounded by the cache, not by the time since the last full
 * collection.
 */

/** One key's record: dead once evicted or deleted (its value then dropped), and never alive again. */
interface Entry<K, V> {
  readonly key: K;
  value: V | undefined;
  live: boolean;
}

/**
 * A Map of at most `max` entries: setting a new key in a full map first evicts the oldest key set. Setting a key
 * already present replaces its value and keeps its age; a key deleted and set again is new. `max` 0 keeps nothing.
 * The keys of up to `max` evicted or deleted entries may stay referenced (not their values) until the next rebuild.
 *
 * @example
 * ```ts
 * const paths = new BoundedMap<string, Path>(10_000);
 * paths.set(fingerprint, path);
 * ```
 */
export class BoundedMap<K, V> {
  readonly #max: number;
  // Live and dead entries by key, at most one per key. Nothing is ever deleted from it: once dead entries make it
  // twice the bound, the live ones move to a new Map and the old one is dropped whole.
  #map = new Map<K, Entry<K, V>>();
  #size = 0;
  // Entries in the order they were set, from #head on; a dead one there evicts nothing.
  #order: Entry<K, V>[] = [];
  #head = 0;

  /** @throws TypeError unless `max` is an integer >= 0. */
  constructor(max: number) {
    if (!(Number.isInteger(max) && max >= 0)) throw new TypeError('max must be an integer >= 0');
    this.#max = max;
  }

  get size(): number {
    return this.#size;
  }

  get(key: K): V | undefined {
    // A dead entry's value is undefined.
    return this.#map.get(key)?.value;
  }

  has(key: K): boolean {
    return this.#map.get(key)?.live === true;
  }

  set(key: K, value: V): this {
    if (this.#max === 0) return this;
    const e = this.#map.get(key);
    if (e !== undefined && e.live) {
      e.value = value;
      return this;
    }
    // Every live entry has a place at or after #head, so this ends; a dead one evicts nothing and the loop goes on.
    while (this.#size >= this.#max) this.#kill(this.#order[this.#head++]!);
    // A dead entry of this key is replaced in place; a new key grows the Map, up to twice the bound.
    if (e === undefined && this.#map.size >= 2 * this.#max) this.#rebuild();
    const n: Entry<K, V> = { key, value, live: true };
    this.#map.set(key, n);
    this.#order.push(n);
    this.#size++;
    // The evicted front is dropped once it is as long as the bound, and the dead entries of deletes once the order
    // is twice the bound: each copy is paid for by as many sets.
    if (this.#head >= this.#max) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    } else if (this.#order.length - this.#head > 2 * this.#max) {
      this.#order = this.#order.slice(this.#head).filter((x) => x.live);
      this.#head = 0;
    }
    return this;
  }

  delete(key: K): boolean {
    const e = this.#map.get(key);
    if (e === undefined || !e.live) return false;
    this.#kill(e);
    return true;
  }

  #kill(e: Entry<K, V>): void {
    if (!e.live) return;
    e.live = false;
    e.value = undefined;
    this.#size--;
  }

  /** Moves the live entries (fewer than the bound) to a new Map: each move is paid for by a set since the last. */
  #rebuild(): void {
    const m = new Map<K, Entry<K, V>>();
    for (const e of this.#map.values()) if (e.live) m.set(e.key, e);
    this.#map = m;
  }
}
