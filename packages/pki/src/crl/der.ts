/**
 * A minimal, strict DER reader for exactly what a CRL needs (X.690 §8, §10): single-octet tags, definite lengths of
 * at most four octets in minimal form, and offsets into one `Uint8Array`. It never allocates per element: a cursor
 * moves over the bytes and reports offsets, so a CRL with millions of entries is read without creating objects.
 *
 * Every violation throws {@link CrlMalformedError} (`ERR_PKI_CRL_MALFORMED`) with a stable `detail` and the offset.
 */
import { CrlMalformedError } from './errors.ts';

/** Universal and context tags the CRL reader expects (X.690 §8.1.2, RFC 5280 §5.1). */
export const TAG = Object.freeze({
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONTEXT_0: 0xa0,
  CONTEXT_3: 0xa3,
} as const);

/**
 * A cursor over DER bytes. After {@link DerCursor.enter} or {@link DerCursor.over}, `start` is the element's first
 * byte (its tag), `content` its first content byte and `pos` where reading continues.
 */
export class DerCursor {
  readonly buf: Uint8Array;
  /** Where reading continues. */
  pos: number;
  /** The tag octet of the last element read. */
  start = 0;
  /** The first content octet of the last element read. */
  content = 0;

  constructor(buf: Uint8Array, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }

  /** The tag at `pos`, or -1 when `pos` has reached `limit`. */
  peek(limit: number): number {
    return this.pos < limit ? this.buf[this.pos]! : -1;
  }

  /**
   * Reads the header of an element with tag `tag` that must end by `limit`, leaves `pos` at its content and returns
   * the content's end offset.
   */
  enter(tag: number, limit: number): number {
    const buf = this.buf;
    const p = this.pos;
    if (p >= limit) throw new CrlMalformedError(`expected ${tagName(tag)}, found end`, p);
    if (buf[p] !== tag) throw new CrlMalformedError(`expected ${tagName(tag)}, found tag 0x${buf[p]!.toString(16)}`, p);
    this.start = p;
    let q = p + 1;
    if (q >= limit) throw new CrlMalformedError('length past the end', q);
    const b = buf[q++]!;
    let len: number;
    if (b < 0x80) {
      len = b;
    } else {
      len = readLongLength(buf, q - 1, b, limit);
      q += b & 0x7f;
    }
    const end = q + len;
    if (end > limit) throw new CrlMalformedError('length past the end', p);
    this.content = q;
    this.pos = q;
    return end;
  }

  /** Reads a whole element with tag `tag` ending by `limit` and moves `pos` past it; returns the element's end. */
  over(tag: number, limit: number): number {
    const end = this.enter(tag, limit);
    this.pos = end;
    return end;
  }

  /** Throws unless `pos` is exactly `end`: DER leaves no bytes unaccounted for inside an element (X.690 §8.1.1). */
  done(end: number, what: string): void {
    if (this.pos !== end) throw new CrlMalformedError(`trailing bytes in ${what}`, this.pos);
  }
}

/**
 * Decodes a long-form length (X.690 §8.1.3.5) whose initial octet `b` is at `at`: rejects the indefinite form
 * (§10.1: DER uses the definite form only), the reserved 0xFF, more than four length octets, and non-minimal
 * encodings (§10.1: the minimum number of octets; a length below 128 must use the short form).
 */
export function readLongLength(buf: Uint8Array, at: number, b: number, limit: number): number {
  if (b === 0x80) throw new CrlMalformedError('indefinite length', at);
  const n = b & 0x7f;
  if (n > 4) throw new CrlMalformedError(n === 0x7f ? 'reserved length octet' : 'length too long', at);
  if (at + 1 + n > limit) throw new CrlMalformedError('length past the end', at);
  const first = buf[at + 1]!;
  if (first === 0) throw new CrlMalformedError('non-minimal length', at);
  let len = 0;
  for (let i = 1; i <= n; i++) len = len * 256 + buf[at + i]!;
  if (len < 0x80) throw new CrlMalformedError('non-minimal length', at);
  return len;
}

/**
 * Reads a UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5.1, §4.1.2.5.2: `YYMMDDHHMMSSZ` / `YYYYMMDDHHMMSSZ`, no
 * fractions, always Zulu) whose header the cursor just read, and returns seconds since the Unix epoch.
 */
export function readTime(c: DerCursor, limit: number): number {
  const buf = c.buf;
  const tag = c.peek(limit);
  let year: number;
  let p: number;
  if (tag === TAG.UTC_TIME) {
    const end = c.enter(TAG.UTC_TIME, limit);
    p = c.content;
    if (end - p !== 13) throw new CrlMalformedError('UTCTime is not YYMMDDHHMMSSZ', p);
    const yy = two(buf, p);
    // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, YY < 50 is 20YY.
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    p += 2;
  } else if (tag === TAG.GENERALIZED_TIME) {
    const end = c.enter(TAG.GENERALIZED_TIME, limit);
    p = c.content;
    if (end - p !== 15) throw new CrlMalformedError('GeneralizedTime is not YYYYMMDDHHMMSSZ', p);
    year = two(buf, p) * 100 + two(buf, p + 2);
    p += 4;
  } else {
    throw new CrlMalformedError('expected UTCTime or GeneralizedTime', c.pos);
  }
  const month = two(buf, p);
  const day = two(buf, p + 2);
  const hour = two(buf, p + 4);
  const minute = two(buf, p + 6);
  const second = two(buf, p + 8);
  if (buf[p + 10] !== 0x5a) throw new CrlMalformedError('time is not Zulu', p + 10);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
    throw new CrlMalformedError('time out of range', p);
  c.pos = p + 11;
  return daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
}

/** Two ASCII digits as a number; throws on anything else. */
function two(buf: Uint8Array, p: number): number {
  const a = buf[p]! - 0x30;
  const b = buf[p + 1]! - 0x30;
  if (a < 0 || a > 9 || b < 0 || b > 9) throw new CrlMalformedError('time has a non-digit', p);
  return a * 10 + b;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil), without allocating a Date. */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Reads a small non-negative INTEGER (at most 6 content octets, minimal per X.690 §8.3.2) and returns it. */
export function readSmallInt(c: DerCursor, limit: number): number {
  const end = c.enter(TAG.INTEGER, limit);
  const p = c.content;
  checkMinimalInteger(c.buf, p, end);
  if (c.buf[p]! & 0x80) throw new CrlMalformedError('negative INTEGER', p);
  if (end - p > 6) throw new CrlMalformedError('INTEGER too large', p);
  let v = 0;
  for (let i = p; i < end; i++) v = v * 256 + c.buf[i]!;
  c.pos = end;
  return v;
}

/** Reads a non-negative INTEGER of any size as a bigint (e.g. cRLNumber, RFC 5280 §5.2.3: up to 20 octets). */
export function readBigUint(c: DerCursor, limit: number): bigint {
  const end = c.enter(TAG.INTEGER, limit);
  const p = c.content;
  checkMinimalInteger(c.buf, p, end);
  if (c.buf[p]! & 0x80) throw new CrlMalformedError('negative INTEGER', p);
  let v = 0n;
  for (let i = p; i < end; i++) v = (v << 8n) | BigInt(c.buf[i]!);
  c.pos = end;
  return v;
}

/** X.690 §8.3.1–8.3.2: an INTEGER has at least one content octet and no redundant leading 0x00 or 0xFF. */
export function checkMinimalInteger(buf: Uint8Array, p: number, end: number): void {
  if (end === p) throw new CrlMalformedError('empty INTEGER', p);
  if (end - p > 1) {
    const a = buf[p]!;
    const b = buf[p + 1]!;
    if ((a === 0 && b < 0x80) || (a === 0xff && b >= 0x80)) throw new CrlMalformedError('non-minimal INTEGER', p);
  }
}

/**
 * Reads a BOOLEAN field that is `DEFAULT FALSE`, as every BOOLEAN of a CRL is (an extension's `critical`, and the
 * IssuingDistributionPoint flags, RFC 5280 §4.1 and §5.2.5): present, it can only be TRUE, 0xFF (X.690 §11.1),
 * since DER omits a value equal to its default (X.690 §11.5). So it returns true or throws.
 */
export function readBoolean(c: DerCursor, limit: number, tag: number = TAG.BOOLEAN): true {
  const end = c.enter(tag, limit);
  const p = c.content;
  if (end - p !== 1) throw new CrlMalformedError('BOOLEAN is not one octet', p);
  const v = c.buf[p]!;
  if (v === 0) throw new CrlMalformedError('DEFAULT FALSE written out', p);
  if (v !== 0xff) throw new CrlMalformedError('BOOLEAN is not 0xFF', p);
  c.pos = end;
  return true;
}

/**
 * Refuses OID content octets that are not DER (X.690 §8.19.2): none, a subidentifier with a leading 0x80 octet, or
 * a last one left unfinished. Extensions are told apart by their exact octets, so a non-minimal id-ce OID would
 * otherwise pass as an unknown, non-critical extension and be ignored.
 */
export function checkOid(buf: Uint8Array, p: number, end: number): void {
  if (end <= p) throw new CrlMalformedError('empty OID', p);
  if ((buf[end - 1]! & 0x80) !== 0) throw new CrlMalformedError('OID ends inside a subidentifier', end - 1);
  for (let i = p; i < end; i++) {
    if (buf[i] === 0x80 && (i === p || (buf[i - 1]! & 0x80) === 0))
      throw new CrlMalformedError('OID subidentifier not minimal', i);
  }
}

/** Dotted form of OID content octets, for messages only. */
export function oidToString(buf: Uint8Array, p: number, end: number): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = p; i < end; i++) {
    v = v * 128 + (buf[i]! & 0x7f);
    if ((buf[i]! & 0x80) === 0) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** True when `buf[p..end)` equals `oid` (content octets). */
export function oidEquals(buf: Uint8Array, p: number, end: number, oid: Uint8Array): boolean {
  if (end - p !== oid.length) return false;
  for (let i = 0; i < oid.length; i++) if (buf[p + i] !== oid[i]) return false;
  return true;
}

/** Byte equality of two ranges. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function tagName(tag: number): string {
  switch (tag) {
    case TAG.BOOLEAN:
      return 'BOOLEAN';
    case TAG.INTEGER:
      return 'INTEGER';
    case TAG.BIT_STRING:
      return 'BIT STRING';
    case TAG.OCTET_STRING:
      return 'OCTET STRING';
    case TAG.NULL:
      return 'NULL';
    case TAG.OID:
      return 'OBJECT IDENTIFIER';
    case TAG.ENUMERATED:
      return 'ENUMERATED';
    case TAG.SEQUENCE:
      return 'SEQUENCE';
    default:
      return `tag 0x${tag.toString(16)}`;
  }
}
