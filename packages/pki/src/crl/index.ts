/**
 * The CRL index: an immutable, compact view of one checked CRL that answers "is this serial revoked?" by binary
 * search. Serials of at most 8 significant octets (all JPKI-sized serials) are two uint32 words in sorted typed
 * arrays; the revocation date is uint32 seconds and the reason one octet, so an entry costs 13 bytes. Longer serials
 * live in a packed side table of fixed-width big-endian keys.
 *
 * Serials are compared as unsigned big-endian octets without leading zero octets, which is the certificate's
 * serialNumber value for every conforming (positive, RFC 5280 §4.1.2.2) serial. A non-conforming negative serial
 * compares by its octets too, so it can only be confused with a positive serial of the same octets: a false
 * "revoked", never a false "good".
 */
import type { CrlScope } from './extensions.ts';

/** RFC 5280 §5.3.1 CRLReason names, by code. */
export const CRL_REASONS = Object.freeze([
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'unassigned',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const);

/** A CRLReason name (RFC 5280 §5.3.1). */
export type CrlReason = (typeof CRL_REASONS)[number];

/** The answer of {@link CrlIndex.lookup}. */
export type CrlLookup =
  | { readonly revoked: false }
  | {
      readonly revoked: true;
      readonly revokedAt: Date;
      readonly reason: CrlReason;
    };

/** A serial number: the certificate's serialNumber octets, its value, or those octets in hex (as @peculiar/x509's `serialNumber`). */
export type SerialInput = Uint8Array | bigint | string;

/** One revoked entry as listed by {@link CrlIndex.revokedEntries}. */
export interface CrlEntryView {
  /** Lower-case hex of the serial's octets without leading zero octets (`00` for zero). */
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: CrlReason;
}

/** The tables {@link CrlIndex} is built from (internal; made by `loadCrl`). */
export interface CrlIndexData {
  hi: Uint32Array;
  lo: Uint32Array;
  date: Uint32Array;
  reason: Uint8Array;
  longKeys: Uint8Array;
  longWidth: number;
  longDate: Uint32Array;
  longReason: Uint8Array;
  /** First position of each bucket of short keys, see {@link bucketTable}. */
  buckets: Uint32Array;
  bucketShift: number;
  bucketMask: number;
  thisUpdate: number;
  nextUpdate: number;
  issuerName: Uint8Array;
  crlNumber: bigint | null;
  scope: CrlScope;
}

const NOT_REVOKED: CrlLookup = Object.freeze({ revoked: false });
const HEX = /^(?:0x)?([0-9a-fA-F]+)$/;
const scratch = new Uint8Array(32);

/**
 * One checked CRL, indexed. Made by `loadCrl`; immutable (its tables are private).
 *
 * @example
 * ```ts
 * const index = await loadCrl(der, { issuer: caCert, now: new Date() });
 * const r = index.lookup(cert.serialNumber);
 * if (r.revoked) console.log(r.reason, r.revokedAt);
 * ```
 */
export class CrlIndex {
  readonly #hi: Uint32Array;
  readonly #lo: Uint32Array;
  readonly #date: Uint32Array;
  readonly #reason: Uint8Array;
  readonly #longKeys: Uint8Array;
  readonly #longWidth: number;
  readonly #longDate: Uint32Array;
  readonly #longReason: Uint8Array;
  readonly #buckets: Uint32Array;
  readonly #bucketShift: number;
  readonly #bucketMask: number;
  readonly #thisUpdate: number;
  readonly #nextUpdate: number;
  readonly #issuerName: Uint8Array;
  /** Number of revoked entries. */
  readonly entries: number;
  /** cRLNumber (RFC 5280 §5.2.3), `null` when the CRL has none. */
  readonly crlNumber: bigint | null;
  /** What the CRL covers (its issuingDistributionPoint, RFC 5280 §5.2.5). */
  readonly scope: CrlScope;
  /** Bytes of index memory per entry (all tables ÷ entries; 0 for an empty CRL). */
  readonly bytesPerEntry: number;

  /** @internal Use `loadCrl`. */
  constructor(data: CrlIndexData) {
    this.#hi = data.hi;
    this.#lo = data.lo;
    this.#date = data.date;
    this.#reason = data.reason;
    this.#longKeys = data.longKeys;
    this.#longWidth = data.longWidth;
    this.#longDate = data.longDate;
    this.#longReason = data.longReason;
    this.#buckets = data.buckets;
    this.#bucketShift = data.bucketShift;
    this.#bucketMask = data.bucketMask;
    this.#thisUpdate = data.thisUpdate;
    this.#nextUpdate = data.nextUpdate;
    this.#issuerName = data.issuerName;
    this.crlNumber = data.crlNumber;
    this.scope = data.scope;
    this.entries = data.hi.length + data.longDate.length;
    const bytes = [
      data.hi,
      data.lo,
      data.date,
      data.reason,
      data.longKeys,
      data.longDate,
      data.longReason,
      data.buckets,
    ].reduce((sum, a) => sum + a.buffer.byteLength, 0);
    this.bytesPerEntry = this.entries === 0 ? 0 : bytes / this.entries;
    Object.freeze(this);
  }

  /** thisUpdate (RFC 5280 §5.1.2.4). */
  get thisUpdate(): Date {
    return new Date(this.#thisUpdate * 1000);
  }

  /** nextUpdate (RFC 5280 §5.1.2.5); always present, `loadCrl` refuses CRLs without it. */
  get nextUpdate(): Date {
    return new Date(this.#nextUpdate * 1000);
  }

  /** DER of the CRL issuer Name (a copy). */
  get issuerName(): Uint8Array {
    return this.#issuerName.slice();
  }

  /**
   * Whether `serial` is listed, by binary search (no scan).
   *
   * @param serial the certificate's serialNumber octets (leading zero octets are ignored), its value, or its octets
   *   in hex (optionally `0x`-prefixed).
   * @throws {TypeError} when `serial` is none of these.
   */
  lookup(serial: SerialInput): CrlLookup {
    let bytes: Uint8Array;
    let start: number;
    let end: number;
    if (serial instanceof Uint8Array) {
      bytes = serial;
      start = 0;
      end = serial.length;
      if (end === 0) throw new TypeError('empty serial');
    } else if (typeof serial === 'bigint') {
      if (serial >= 0n && serial <= 0xffff_ffff_ffff_ffffn) {
        return this.#short(Number(serial >> 32n), Number(serial & 0xffff_ffffn));
      }
      bytes = bigintOctets(serial);
      start = 0;
      end = bytes.length;
    } else if (typeof serial === 'string') {
      const m = HEX.exec(serial);
      if (!m) throw new TypeError('serial must be hex');
      const hex = m[1]!;
      let i = 0;
      while (i < hex.length - 1 && hex.charCodeAt(i) === 0x30) i++;
      const digits = hex.length - i;
      if (digits <= 16) {
        const cut = Math.max(i, hex.length - 8);
        const h = cut > i ? parseInt(hex.slice(i, cut), 16) : 0;
        return this.#short(h, parseInt(hex.slice(cut), 16));
      }
      bytes = Buffer.from(digits % 2 ? `0${hex.slice(i)}` : hex.slice(i), 'hex');
      start = 0;
      end = bytes.length;
    } else {
      throw new TypeError('serial must be a Uint8Array, a bigint or a hex string');
    }
    while (start < end - 1 && bytes[start] === 0) start++;
    if (end - start <= 8) {
      let h = 0;
      let l = 0;
      for (let i = start; i < end; i++) {
        h = ((h << 8) | (l >>> 24)) >>> 0;
        l = ((l << 8) | bytes[i]!) >>> 0;
      }
      return this.#short(h, l);
    }
    return this.#long(bytes, start, end);
  }

  #short(h: number, l: number): CrlLookup {
    const H = this.#hi;
    const L = this.#lo;
    const last = H.length - 1;
    if (last < 0) return NOT_REVOKED;
    // Outside [first, last] the key is absent; inside, it shares the keys' common prefix, so its bucket is exact.
    const h0 = H[0]!;
    const hn = H[last]!;
    if (h < h0 || (h === h0 && l < L[0]!) || h > hn || (h === hn && l > L[last]!)) return NOT_REVOKED;
    const bucket = bits(h, l, this.#bucketShift) & this.#bucketMask;
    let a = this.#buckets[bucket]!;
    let b = this.#buckets[bucket + 1]! - 1;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      const mh = H[mid]!;
      if (mh < h) a = mid + 1;
      else if (mh > h) b = mid - 1;
      else {
        const ml = L[mid]!;
        if (ml < l) a = mid + 1;
        else if (ml > l) b = mid - 1;
        else return revoked(this.#date[mid]!, this.#reason[mid]!);
      }
    }
    return NOT_REVOKED;
  }

  #long(bytes: Uint8Array, start: number, end: number): CrlLookup {
    const w = this.#longWidth;
    const m = end - start;
    if (m > w) return NOT_REVOKED;
    const q = w <= scratch.length ? scratch.subarray(0, w) : new Uint8Array(w);
    q.fill(0, 0, w - m);
    q.set(bytes.subarray(start, end), w - m);
    const K = this.#longKeys;
    let a = 0;
    let b = this.#longDate.length - 1;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      const row = mid * w;
      let cmp = 0;
      for (let i = 0; i < w && cmp === 0; i++) cmp = K[row + i]! - q[i]!;
      if (cmp < 0) a = mid + 1;
      else if (cmp > 0) b = mid - 1;
      else return revoked(this.#longDate[mid]!, this.#longReason[mid]!);
    }
    return NOT_REVOKED;
  }

  /** Every revoked entry: short serials in ascending order, then long ones in ascending order. */
  *revokedEntries(): IterableIterator<CrlEntryView> {
    const H = this.#hi;
    const L = this.#lo;
    for (let i = 0; i < H.length; i++) {
      const v = (BigInt(H[i]!) << 32n) | BigInt(L[i]!);
      let serial = v.toString(16);
      if (serial.length % 2) serial = `0${serial}`;
      yield view(serial, this.#date[i]!, this.#reason[i]!);
    }
    const w = this.#longWidth;
    for (let i = 0; i < this.#longDate.length; i++) {
      const key = this.#longKeys.subarray(i * w, (i + 1) * w);
      let s = 0;
      while (key[s] === 0) s++;
      yield view(Buffer.from(key.subarray(s)).toString('hex'), this.#longDate[i]!, this.#longReason[i]!);
    }
  }
}

/** The 64-bit key `(h, l)` shifted right by `shift` (0..63), low 32 bits. */
function bits(h: number, l: number, shift: number): number {
  if (shift >= 32) return h >>> (shift - 32);
  if (shift === 0) return l;
  return ((l >>> shift) | (h << (32 - shift))) >>> 0;
}

/**
 * A bucket table over sorted short keys so a lookup binary-searches a few entries instead of all: the buckets are
 * the `bits` bits right after the prefix every key shares (so skewed serials, e.g. all 4-octet, still spread), with
 * about four keys per bucket and at most 2^16 buckets (≤ 1 byte per entry).
 */
export function bucketTable(
  hi: Uint32Array,
  lo: Uint32Array,
): { buckets: Uint32Array; bucketShift: number; bucketMask: number } {
  const n = hi.length;
  const want = n < 8 ? 0 : Math.min(16, Math.floor(Math.log2(n)) - 2);
  let common = 64;
  if (n > 1) {
    const xh = (hi[0]! ^ hi[n - 1]!) >>> 0;
    const xl = (lo[0]! ^ lo[n - 1]!) >>> 0;
    common = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
  }
  const width = Math.min(want, 64 - common);
  const bucketShift = 64 - common - width;
  const bucketMask = width === 0 ? 0 : 2 ** width - 1;
  const buckets = new Uint32Array(bucketMask + 2);
  for (let i = 0; i < n; i++) buckets[(bits(hi[i]!, lo[i]!, bucketShift) & bucketMask) + 1]!++;
  for (let b = 1; b < buckets.length; b++) buckets[b]! += buckets[b - 1]!;
  return { buckets, bucketShift, bucketMask };
}

function revoked(seconds: number, code: number): CrlLookup {
  return {
    revoked: true,
    revokedAt: new Date(seconds * 1000),
    reason: CRL_REASONS[code] ?? 'unspecified',
  };
}

function view(serial: string, seconds: number, code: number): CrlEntryView {
  return {
    serial,
    revokedAt: new Date(seconds * 1000),
    reason: CRL_REASONS[code] ?? 'unspecified',
  };
}

/** Minimal two's-complement octets of a bigint (as a DER INTEGER would carry them). */
function bigintOctets(v: bigint): Uint8Array {
  let n = 1;
  while (v < -(1n << BigInt(8 * n - 1)) || v >= 1n << BigInt(8 * n - 1)) n++;
  let u = v < 0n ? v + (1n << BigInt(8 * n)) : v;
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return out;
}
