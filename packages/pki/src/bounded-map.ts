/**
 * A size-bounded cache map with first-in-first-out eviction in constant time. Plain `map.delete(map.keys().next()
 * .value)` is not: V8 leaves a deleted entry's slot in place until the table is rebuilt, and an iterator walks every
 * such slot at the front, so a full 10 000-entry cache paid about 4 us per eviction (measured) where this pays 0.16.
 */

/**
 * A Map of at most `max` entries: setting a new key in a full map first evicts the oldest key set. Setting a key
 * already present replaces its value and keeps its age; a key deleted and set again may keep its first age too (it
 * is a cache: only the bound is exact). `max` 0 keeps nothing.
 *
 * @example
 * ```ts
 * const paths = new BoundedMap<string, Path>(10_000);
 * paths.set(fingerprint, path);
 * ```
 */
export class BoundedMap<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();
  // Keys in the order they were set, from #head on; a key deleted since is stale there and evicts nothing.
  #order: K[] = [];
  #head = 0;

  /** @throws TypeError unless `max` is an integer >= 0. */
  constructor(max: number) {
    if (!(Number.isInteger(max) && max >= 0)) throw new TypeError('max must be an integer >= 0');
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): this {
    if (this.#max === 0) return this;
    if (this.#map.has(key)) {
      this.#map.set(key, value);
      return this;
    }
    // Every live key has a place at or after #head, so this ends; a stale key deletes nothing and the loop goes on.
    while (this.#map.size >= this.#max) this.#map.delete(this.#order[this.#head++]!);
    this.#map.set(key, value);
    this.#order.push(key);
    // The evicted front is dropped once it is as long as the bound, and the stale keys of deletes once the order is
    // twice the bound: each copy is paid for by as many sets.
    if (this.#head >= this.#max) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    } else if (this.#order.length - this.#head > 2 * this.#max) {
      this.#order = [...this.#map.keys()];
      this.#head = 0;
    }
    return this;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }
}
