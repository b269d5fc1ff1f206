/**
 * A minimal strict DER reader (X.690 §10) for the hot path: certificates are sliced, not decoded into objects,
 * so the exact signed bytes (TBS, names) are kept and parsing costs microseconds. Internal: not exported from the
 * package entry. Every function throws `DerError` on input that is not DER; callers map it to their own code.
 */

/** Thrown on anything that is not strict DER. Internal; callers translate it. */
export class DerError extends Error {}

/** One TLV: `tag` is the identifier octet; the value is `buf[start + header .. end)`. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first value octet. */
  readonly valueStart: number;
  /** Offset just past the value. */
  readonly end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8: 0x0c,
  PRINTABLE: 0x13,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Reads the TLV at `pos`, which must end at or before `limit`. Definite, minimal lengths only (X.690 §10.1). */
export function readTlv(buf: Uint8Array, pos: number, limit: number = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated');
  const tag = buf[pos]!;
  // High-tag-number form never occurs in the structures we read.
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag number');
  let len = buf[pos + 1]!;
  let valueStart = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) throw new DerError('bad length');
    if (valueStart + n > limit) throw new DerError('truncated');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[valueStart + i]!;
    // DER: the long form only for lengths >= 128, and without leading zero octets.
    if (len < 0x80 || buf[valueStart] === 0) throw new DerError('non-minimal length');
    valueStart += n;
  }
  const end = valueStart + len;
  if (end > limit) throw new DerError('truncated');
  return { tag, start: pos, valueStart, end };
}

/**
 * A TLV reader that allocates nothing per element: `read` fills its fields in place, so a certificate walk makes
 * one object instead of one per TLV (the verifier parses every new certificate on the login path). Same rules as
 * {@link readTlv}.
 */
export class TlvReader {
  readonly buf: Uint8Array;
  tag = 0;
  start = 0;
  valueStart = 0;
  end = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  /** Reads the TLV at `pos`, which must end at or before `limit`; returns its end. */
  read(pos: number, limit: number): number {
    const buf = this.buf;
    if (pos + 2 > limit) throw new DerError('truncated');
    const tag = buf[pos]!;
    if ((tag & 0x1f) === 0x1f) throw new DerError('high tag number');
    let len = buf[pos + 1]!;
    let valueStart = pos + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3) throw new DerError('bad length');
      if (valueStart + n > limit) throw new DerError('truncated');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[valueStart + i]!;
      // DER: the long form only for lengths >= 128, and without leading zero octets.
      if (len < 0x80 || buf[valueStart] === 0) throw new DerError('non-minimal length');
      valueStart += n;
    }
    const end = valueStart + len;
    if (end > limit) throw new DerError('truncated');
    this.tag = tag;
    this.start = pos;
    this.valueStart = valueStart;
    this.end = end;
    return end;
  }

  /** {@link read} and assert the tag. */
  expect(pos: number, limit: number, tag: number): number {
    const end = this.read(pos, limit);
    if (this.tag !== tag) throw new DerError(`expected tag ${tag.toString(16)}, got ${this.tag.toString(16)}`);
    return end;
  }
}

/** Reads a TLV and asserts its tag. */
export function expect(buf: Uint8Array, pos: number, limit: number, tag: number): Tlv {
  const t = readTlv(buf, pos, limit);
  if (t.tag !== tag) throw new DerError(`expected tag ${tag.toString(16)}, got ${t.tag.toString(16)}`);
  return t;
}

/** The children of a constructed TLV, which must exactly fill it. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.valueStart;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** The value octets of a TLV (a view, not a copy). */
export function value(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.valueStart, t.end);
}

/** The whole encoding of a TLV (a view). */
export function whole(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

/** Decodes an OBJECT IDENTIFIER value to dotted form (X.690 §8.19). */
export function oid(v: Uint8Array): string {
  return oidAt(v, 0, v.length);
}

/**
 * Decodes the OBJECT IDENTIFIER content octets `buf[start..end)` to dotted form (X.690 §8.19), without a view or an
 * array: certificate parsing decodes a dozen OIDs per certificate.
 */
export function oidAt(buf: Uint8Array, start: number, end: number): string {
  if (end <= start || buf[end - 1]! & 0x80) throw new DerError('bad OID');
  let s = '';
  let n = 0;
  let first = true;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (n === 0 && b === 0x80) throw new DerError('non-minimal OID arc');
    n = n * 128 + (b & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if (!(b & 0x80)) {
      if (first) {
        const a = n < 40 ? 0 : n < 80 ? 1 : 2;
        s = `${a}.${n - a * 40}`;
        first = false;
      } else s += `.${n}`;
      n = 0;
    }
  }
  return s;
}

/** Decodes a BOOLEAN value; DER requires 0x00 or 0xFF (X.690 §11.1). */
export function boolean(v: Uint8Array): boolean {
  if (v.length !== 1 || (v[0] !== 0 && v[0] !== 0xff)) throw new DerError('bad BOOLEAN');
  return v[0] === 0xff;
}

/** Throws unless the INTEGER or ENUMERATED content `buf[start..end)` is minimal: one octet or more, no redundant
 * leading 00 or FF (X.690 §8.3.2, §8.4). */
export function checkInteger(buf: Uint8Array, start: number, end: number): void {
  if (end <= start) throw new DerError('empty INTEGER');
  if (end - start > 1) {
    const a = buf[start]!;
    const b = buf[start + 1]! & 0x80;
    if ((a === 0 && b === 0) || (a === 0xff && b !== 0)) throw new DerError('non-minimal INTEGER');
  }
}

/**
 * Throws unless the OBJECT IDENTIFIER content `buf[start..end)` is DER (X.690 §8.19.2): not empty, no
 * subidentifier with a leading 0x80 octet, the last one finished. Unlike {@link oidAt} it puts no bound on an arc
 * (2.25 UUID arcs are 128 bits), for OIDs only compared as bytes.
 */
export function checkOid(buf: Uint8Array, start: number, end: number): void {
  if (end <= start || buf[end - 1]! & 0x80) throw new DerError('bad OID');
  for (let i = start; i < end; i++)
    if (buf[i] === 0x80 && (i === start || !(buf[i - 1]! & 0x80))) throw new DerError('non-minimal OID arc');
}

/** How deep {@link checkDer} descends: a Name is 4 levels, an AlgorithmIdentifier's parameters a few more. */
const MAX_DEPTH = 32;

/**
 * Throws unless `buf[start..end)` is a series of whole DER elements, descending into every constructed one: definite,
 * minimal lengths (X.690 §10.1), nothing left over (§8.1.1), no end-of-contents, strings primitive (§10.2), and the
 * universal primitives whose DER form is unique in that form: BOOLEAN (§11.1), INTEGER and ENUMERATED (§8.3.2),
 * NULL (§8.8.2), OBJECT IDENTIFIER (§8.19.2). For parts kept as bytes rather than decoded (a ResponderID Name, an
 * algorithm's parameters): they are then DER too, and a non-DER one is refused rather than merely unequal.
 * Primitive string contents and SET OF order (§11.6) are not checked.
 */
export function checkDer(buf: Uint8Array, start: number, end: number): void {
  walk(new TlvReader(buf), start, end, 0);
}

function walk(r: TlvReader, pos: number, end: number, depth: number): void {
  if (depth > MAX_DEPTH) throw new DerError('nested too deep');
  while (pos < end) {
    pos = r.read(pos, end);
    const tag = r.tag;
    const universal = (tag & 0xc0) === 0;
    if (tag & 0x20) {
      if (universal && tag !== TAG.SEQUENCE && tag !== TAG.SET) throw new DerError('constructed string');
      walk(r, r.valueStart, pos, depth + 1);
      continue;
    }
    if (!universal) continue;
    const v = r.valueStart;
    if (tag === 0) throw new DerError('end-of-contents');
    else if (tag === TAG.BOOLEAN) boolean(r.buf.subarray(v, pos));
    else if (tag === TAG.INTEGER || tag === TAG.ENUMERATED) checkInteger(r.buf, v, pos);
    else if (tag === TAG.NULL && pos !== v) throw new DerError('bad NULL');
    else if (tag === TAG.OID) checkOid(r.buf, v, pos);
    else if (tag === 0x10 || tag === 0x11) throw new DerError('primitive SEQUENCE or SET');
  }
}

/** Decodes a UTCTime or GeneralizedTime of the RFC 5280 §4.1.2.5 form (`Z`, seconds, no fraction) to ms. */
export function time(buf: Uint8Array, t: Tlv): number {
  const p = t.valueStart;
  const len = t.end - p;
  let year: number;
  let i: number;
  if (t.tag === TAG.UTC_TIME) {
    // YYMMDDHHMMSSZ (RFC 5280 §4.1.2.5.1).
    if (len !== 13) throw new DerError('bad UTCTime');
    const yy = digits2(buf, p);
    // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    i = p + 2;
  } else if (t.tag === TAG.GENERALIZED_TIME) {
    // YYYYMMDDHHMMSSZ (RFC 5280 §4.1.2.5.2).
    if (len !== 15) throw new DerError('bad GeneralizedTime');
    year = digits2(buf, p) * 100 + digits2(buf, p + 2);
    i = p + 4;
  } else throw new DerError('expected a time');
  if (buf[t.end - 1] !== 0x5a /* Z */) throw new DerError('time not in UTC (Z)');
  const mon = digits2(buf, i);
  const day = digits2(buf, i + 2);
  const h = digits2(buf, i + 4);
  const m = digits2(buf, i + 6);
  const sec = digits2(buf, i + 8);
  if (mon < 1 || mon > 12 || day < 1 || day > daysIn(year, mon) || h > 23 || m > 59 || sec > 59)
    throw new DerError('bad date');
  // What Date.UTC gives (the proleptic Gregorian calendar), by arithmetic: no call out of JS (a certificate has two
  // times, and every new one is parsed on the login path), and the years 0-99 need no second pass (Date.UTC reads
  // them as 1900-1999).
  return daysFromCivil(year, mon, day) * 86_400_000 + ((h * 60 + m) * 60 + sec) * 1000;
}

/** Days from 1970-01-01 to the proleptic Gregorian `year`-`mon`-`day` (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, mon: number, day: number): number {
  const y = mon <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (mon > 2 ? mon - 3 : mon + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function digits2(buf: Uint8Array, i: number): number {
  const a = buf[i]! - 0x30;
  const b = buf[i + 1]! - 0x30;
  if (a < 0 || a > 9 || b < 0 || b > 9) throw new DerError('bad time digit');
  return a * 10 + b;
}

function daysIn(year: number, mon: number): number {
  if (mon === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return mon === 4 || mon === 6 || mon === 9 || mon === 11 ? 30 : 31;
}

/** Decodes a string-typed value as text: UTF8String, PrintableString, IA5String (others as latin1). */
export function text(buf: Uint8Array, t: Tlv): string {
  const v = value(buf, t);
  if (t.tag === TAG.UTF8) return UTF8.decode(v);
  return latin1(v);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function latin1(v: Uint8Array): string {
  let s = '';
  for (let i = 0; i < v.length; i++) s += String.fromCharCode(v[i]!);
  return s;
}

/** Hex of bytes, lower case. */
export function hex(v: Uint8Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
}

/** Whether `buf[start..end)` equals `ref` (no view is made: for the few-byte comparisons of parsing). */
export function bytesAt(buf: Uint8Array, start: number, end: number, ref: Uint8Array): boolean {
  if (end - start !== ref.length) return false;
  for (let i = 0; i < ref.length; i++) if (buf[start + i] !== ref[i]) return false;
  return true;
}

/** Byte equality. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  // Names and key identifiers (the common case, several per certificate) compare faster in place than through a
  // Buffer made for the call.
  if (n <= 512) {
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** AlgorithmIdentifier { rsaEncryption, NULL } (RFC 8017 A.1), DER: `30 0d 06 09 2a 86 48 86 f7 0d 01 01 01 05 00`. */
export const RSA_ENCRYPTION: Uint8Array = Uint8Array.from(Buffer.from('300d06092a864886f70d0101010500', 'hex'));
