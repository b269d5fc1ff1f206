/**
 * Sorting the index keys without a comparator callback: an LSD radix sort over the 64-bit serial keys in 16-bit
 * digits, skipping digits that are equal in every key (4-octet serials need two passes, not four). It returns the
 * permutation so the dates and reasons can follow their serials.
 */

/** Sorted copies of the first `n` keys and, for each sorted position, the index of the key in the input. */
export interface SortedKeys {
  hi: Uint32Array;
  lo: Uint32Array;
  order: Uint32Array;
}

const RADIX = 65536;

/** Sorts the first `n` 64-bit keys `(hi[i], lo[i])` ascending; stable. */
export function sortKeys64(hi: Uint32Array, lo: Uint32Array, n: number): SortedKeys {
  const counts = new Uint32Array(4 * RADIX);
  for (let i = 0; i < n; i++) {
    const h = hi[i]!;
    const l = lo[i]!;
    counts[l & 0xffff]!++;
    counts[RADIX + (l >>> 16)]!++;
    counts[2 * RADIX + (h & 0xffff)]!++;
    counts[3 * RADIX + (h >>> 16)]!++;
  }
  let srcHi = hi;
  let srcLo = lo;
  let srcOrder: Uint32Array | null = null;
  let spare: SortedKeys | null = null;
  for (let d = 0; d < 4 && n > 1; d++) {
    const base = d * RADIX;
    const word = d < 2 ? srcLo : srcHi;
    const shift = (d & 1) * 16;
    // A digit that is the same in every key does not reorder anything.
    if (counts[base + ((word[0]! >>> shift) & 0xffff)] === n) continue;
    let sum = 0;
    for (let b = base; b < base + RADIX; b++) {
      const k = counts[b]!;
      counts[b] = sum;
      sum += k;
    }
    const dst: SortedKeys = spare ?? {
      hi: new Uint32Array(n),
      lo: new Uint32Array(n),
      order: new Uint32Array(n),
    };
    const dHi = dst.hi;
    const dLo = dst.lo;
    const dOrder = dst.order;
    for (let i = 0; i < n; i++) {
      const h = srcHi[i]!;
      const l = srcLo[i]!;
      const digit = ((d < 2 ? l : h) >>> shift) & 0xffff;
      const at = counts[base + digit]!++;
      dHi[at] = h;
      dLo[at] = l;
      dOrder[at] = srcOrder === null ? i : srcOrder[i]!;
    }
    spare = srcOrder === null ? null : { hi: srcHi, lo: srcLo, order: srcOrder };
    srcHi = dHi;
    srcLo = dLo;
    srcOrder = dOrder;
  }
  if (srcOrder === null) {
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    return { hi: hi.slice(0, n), lo: lo.slice(0, n), order };
  }
  return { hi: srcHi, lo: srcLo, order: srcOrder };
}

/**
 * Sorts `n` fixed-width big-endian keys packed in `keys` (`width` octets each) and returns the order: an LSD radix
 * sort in 8-bit digits that skips columns equal in every key.
 */
export function sortPacked(keys: Uint8Array, width: number, n: number): Uint32Array {
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let next = new Uint32Array(n);
  const counts = new Uint32Array(256);
  for (let col = width - 1; col >= 0 && n > 1; col--) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[keys[i * width + col]!]!++;
    if (counts[keys[col]!] === n) continue;
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const k = counts[b]!;
      counts[b] = sum;
      sum += k;
    }
    for (let i = 0; i < n; i++) {
      const row = order[i]!;
      next[counts[keys[row * width + col]!]!++] = row;
    }
    const t = order;
    order = next;
    next = t;
  }
  return order;
}
