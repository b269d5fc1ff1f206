/**
 * A fast writer of large, valid CRLs for tests and benchmarks: it emits the DER directly from a fixed-size entry
 * template (serial, revocation date and reason patched in place), so 5 million entries take seconds, and it can
 * stream to a file so the CRL exists only once. Entries are deterministic functions of their position
 * ({@link largeCrlEntry}) and deliberately not in serial order, so readers must sort.
 */
import { createSign, sign, type KeyObject } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { CrlHash } from './checks.ts';
import { CRL_REASONS, type CrlReason } from './index.ts';
import { readIssuer, type IssuerCertificate } from './issuer.ts';

/** Options of {@link writeLargeCrl}. */
export interface LargeCrlOptions {
  /** The CA certificate; its subject becomes the CRL issuer. */
  readonly issuerCert: IssuerCertificate;
  /** The CA's RSA private key. */
  readonly issuerKey: KeyObject;
  /** Number of revoked entries (at most 2^30). */
  readonly entries: number;
  /** Octets per serial, 4 to 8; default 8. */
  readonly serialBytes?: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** Give each entry a reasonCode extension; default false. */
  readonly withReasons?: boolean;
  /** cRLNumber; default 1. */
  readonly crlNumber?: bigint;
  /** Signature hash (sha*WithRSAEncryption); default sha256. */
  readonly hash?: CrlHash;
}

/** One entry as {@link writeLargeCrl} writes it. */
export interface LargeCrlEntry {
  readonly serial: Uint8Array;
  readonly revokedAt: Date;
  /** `undefined` when the CRL is written without reasons. */
  readonly reason: CrlReason | undefined;
}

const REASON_CYCLE = [1, 3, 4, 5, 6, 9];
const ALG_ID: Record<CrlHash, number> = {
  sha256: 0x0b,
  sha384: 0x0c,
  sha512: 0x0d,
};
const CHUNK_ENTRIES = 65536;

/** The `i`th entry of a CRL written with `options` (for tests to know what the CRL holds). */
export function largeCrlEntry(
  i: number,
  options: Pick<LargeCrlOptions, 'entries' | 'serialBytes' | 'thisUpdate' | 'withReasons'>,
): LargeCrlEntry {
  const plan = makePlan(options);
  const serial = new Uint8Array(plan.serialBytes);
  writeSerial(serial, 0, i, plan);
  return {
    serial,
    revokedAt: new Date((plan.revokedDay + (i % 86400)) * 1000),
    reason: options.withReasons ? CRL_REASONS[REASON_CYCLE[i % REASON_CYCLE.length]!] : undefined,
  };
}

/**
 * Builds the CRL in memory.
 *
 * @example
 * ```ts
 * const der = writeLargeCrl({ issuerCert, issuerKey, entries: 50_000, thisUpdate, nextUpdate, withReasons: true });
 * ```
 * @throws {TypeError} on bad options.
 */
export function writeLargeCrl(options: LargeCrlOptions): Uint8Array {
  const parts = frame(options);
  const out = Buffer.allocUnsafe(parts.total);
  let at = 0;
  out.set(parts.head, at);
  at += parts.head.length;
  const revStart = at;
  fillEntries(out, revStart, 0, options.entries, parts.plan, true);
  at += options.entries * parts.plan.entrySize;
  out.set(parts.tail, at);
  at += parts.tail.length;
  const tbs = out.subarray(parts.tbsStart, at);
  const sig = sign(options.hash ?? 'sha256', tbs, options.issuerKey);
  out.set(parts.alg, at);
  at += parts.alg.length;
  out.set(parts.sigHeader, at);
  at += parts.sigHeader.length;
  out.set(sig, at);
  return out;
}

/**
 * Streams the CRL to `file` (created or truncated) and returns its size; only one chunk of entries is in memory.
 *
 * @throws {TypeError} on bad options.
 */
export function writeLargeCrlFile(file: string, options: LargeCrlOptions): number {
  const parts = frame(options);
  const signer = createSign(options.hash ?? 'sha256');
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, parts.head);
    signer.update(parts.head.subarray(parts.tbsStart));
    const chunk = Buffer.allocUnsafe(Math.min(options.entries, CHUNK_ENTRIES) * parts.plan.entrySize);
    let first = true;
    for (let from = 0; from < options.entries; from += CHUNK_ENTRIES) {
      const count = Math.min(CHUNK_ENTRIES, options.entries - from);
      fillEntries(chunk, 0, from, count, parts.plan, first);
      first = false;
      const bytes = chunk.subarray(0, count * parts.plan.entrySize);
      writeSync(fd, bytes);
      signer.update(bytes);
    }
    writeSync(fd, parts.tail);
    signer.update(parts.tail);
    const sig = signer.sign(options.issuerKey);
    writeSync(fd, parts.alg);
    writeSync(fd, parts.sigHeader);
    writeSync(fd, sig);
  } finally {
    closeSync(fd);
  }
  return parts.total;
}

interface Plan {
  entries: number;
  serialBytes: number;
  mask: number;
  withReasons: boolean;
  /** Seconds of 00:00:00 UTC of the day before thisUpdate: entry i is revoked i mod 86400 seconds later. */
  revokedDay: number;
  template: Uint8Array;
  entrySize: number;
  /** Offsets inside an entry. */
  serialAt: number;
  hourAt: number;
  reasonAt: number;
}

function makePlan(options: Pick<LargeCrlOptions, 'entries' | 'serialBytes' | 'thisUpdate' | 'withReasons'>): Plan {
  const { entries, serialBytes = 8, thisUpdate, withReasons = false } = options;
  if (!Number.isInteger(entries) || entries < 0 || entries > 2 ** 30) throw new TypeError('entries must be 0..2^30');
  if (!Number.isInteger(serialBytes) || serialBytes < 4 || serialBytes > 8)
    throw new TypeError('serialBytes must be 4..8');
  if (!(thisUpdate instanceof Date)) throw new TypeError('thisUpdate must be a Date');
  const bits = Math.max(1, Math.ceil(Math.log2(Math.max(2, entries))));
  const revokedDay = Math.floor(thisUpdate.getTime() / 86_400_000) * 86400 - 86400;
  const time = encodeTime(new Date(revokedDay * 1000));
  const serialTlv = [0x02, serialBytes, ...new Array<number>(serialBytes).fill(0)];
  const reasonExt = withReasons
    ? [0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, 0x00]
    : [];
  const content = [...serialTlv, ...time, ...reasonExt];
  const template = Uint8Array.from([0x30, content.length, ...content]);
  return {
    entries,
    serialBytes,
    mask: bits >= 32 ? 0xffffffff : 2 ** bits - 1,
    withReasons,
    revokedDay,
    template,
    entrySize: template.length,
    serialAt: 4,
    // HHMMSS are the 6 digits before the final 'Z' of the time.
    hourAt: 4 + serialBytes + time.length - 7,
    reasonAt: template.length - 1,
  };
}

/** Writes serial `i`: unique (an odd multiplier is a bijection modulo 2^bits), positive, exactly `serialBytes` long. */
function writeSerial(buf: Uint8Array, at: number, i: number, plan: Plan): void {
  const low = (Math.imul(i, 0x9e3779b1) & plan.mask) >>> 0;
  const s = plan.serialBytes;
  if (s === 4) {
    const v = (0x40000000 | low) >>> 0;
    buf[at] = v >>> 24;
    buf[at + 1] = (v >>> 16) & 0xff;
    buf[at + 2] = (v >>> 8) & 0xff;
    buf[at + 3] = v & 0xff;
    return;
  }
  const mix = Math.imul(i ^ 0x5bd1e995, 0x85ebca6b) >>> 0;
  buf[at] = 0x40 | ((mix >>> 24) & 0x3f);
  for (let k = 1; k < s - 4; k++) buf[at + k] = (mix >>> (8 * (k % 3))) & 0xff;
  const p = at + s - 4;
  buf[p] = low >>> 24;
  buf[p + 1] = (low >>> 16) & 0xff;
  buf[p + 2] = (low >>> 8) & 0xff;
  buf[p + 3] = low & 0xff;
}

function fillEntries(buf: Uint8Array, at: number, from: number, count: number, plan: Plan, fresh: boolean): void {
  const size = plan.entrySize;
  if (fresh && count > 0) {
    // Lay the template down once, doubling with copyWithin; later chunks reuse the bytes in place.
    buf.set(plan.template, at);
    let filled = size;
    const total = count * size;
    while (filled < total) {
      const n = Math.min(filled, total - filled);
      buf.copyWithin(at + filled, at, at + n);
      filled += n;
    }
  }
  const withReasons = plan.withReasons;
  for (let k = 0; k < count; k++) {
    const i = from + k;
    const e = at + k * size;
    writeSerial(buf, e + plan.serialAt, i, plan);
    const t = i % 86400;
    const h = (t / 3600) | 0;
    const m = ((t / 60) | 0) % 60;
    const s = t % 60;
    const d = e + plan.hourAt;
    buf[d] = 0x30 + ((h / 10) | 0);
    buf[d + 1] = 0x30 + (h % 10);
    buf[d + 2] = 0x30 + ((m / 10) | 0);
    buf[d + 3] = 0x30 + (m % 10);
    buf[d + 4] = 0x30 + ((s / 10) | 0);
    buf[d + 5] = 0x30 + (s % 10);
    if (withReasons) buf[e + plan.reasonAt] = REASON_CYCLE[i % 6]!;
  }
}

/** The fixed parts around the entries, and the total size. */
function frame(options: LargeCrlOptions) {
  const plan = makePlan(options);
  const issuer = readIssuer(options.issuerCert);
  const hash = options.hash ?? 'sha256';
  if (!(hash in ALG_ID)) throw new TypeError('hash must be sha256, sha384 or sha512');
  const modulusBits = options.issuerKey.asymmetricKeyDetails?.modulusLength;
  if (options.issuerKey.asymmetricKeyType !== 'rsa' || !modulusBits)
    throw new TypeError('issuerKey must be an RSA private key');
  const sigLen = Math.ceil(modulusBits / 8);
  const alg = Uint8Array.from([
    0x30,
    0x0d,
    0x06,
    0x09,
    0x2a,
    0x86,
    0x48,
    0x86,
    0xf7,
    0x0d,
    0x01,
    0x01,
    ALG_ID[hash],
    0x05,
    0x00,
  ]);
  const crlNumber = integer(options.crlNumber ?? 1n);
  // crlExtensions [0] { SEQUENCE { Extension { cRLNumber 2.5.29.20, OCTET STRING { INTEGER } } } }
  const ext = tlv(0x30, [0x06, 0x03, 0x55, 0x1d, 0x14], tlv(0x04, crlNumber));
  const tail = Uint8Array.from(tlv(0xa0, tlv(0x30, ext)));
  const revLen = options.entries * plan.entrySize;
  const revHeader = options.entries > 0 ? Uint8Array.from([0x30, ...len(revLen)]) : new Uint8Array(0);
  const tbsFixed = [
    ...[0x02, 0x01, 0x01],
    ...alg,
    ...issuer.subject,
    ...encodeTime(options.thisUpdate),
    ...encodeTime(options.nextUpdate),
  ];
  const tbsLen = tbsFixed.length + revHeader.length + revLen + tail.length;
  const tbsHeader = [0x30, ...len(tbsLen)];
  const sigHeader = Uint8Array.from([0x03, ...len(sigLen + 1), 0x00]);
  const bodyLen = tbsHeader.length + tbsLen + alg.length + sigHeader.length + sigLen;
  const outerHeader = [0x30, ...len(bodyLen)];
  const head = Uint8Array.from([...outerHeader, ...tbsHeader, ...tbsFixed, ...revHeader]);
  return {
    plan,
    head,
    tbsStart: outerHeader.length,
    tail,
    alg,
    sigHeader,
    total: outerHeader.length + bodyLen,
  };
}

function len(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  while (n > 0) {
    out.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | out.length, ...out];
}

function tlv(tag: number, ...parts: ArrayLike<number>[]): number[] {
  const body = parts.flatMap((p) => Array.from(p));
  return [tag, ...len(body.length), ...body];
}

function integer(v: bigint): number[] {
  if (v < 0n) throw new TypeError('crlNumber must be >= 0');
  const out: number[] = [];
  do {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  if (out[0]! & 0x80) out.unshift(0);
  return [0x02, out.length, ...out];
}

/** RFC 5280 §5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050, always Zulu and to the second. */
function encodeTime(d: Date): number[] {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const year = d.getUTCFullYear();
  const digits =
    iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19);
  const text = year >= 1950 && year < 2050 ? `${digits.slice(2)}Z` : `${digits}Z`;
  return [text.length === 13 ? 0x17 : 0x18, text.length, ...Buffer.from(text, 'latin1')];
}
