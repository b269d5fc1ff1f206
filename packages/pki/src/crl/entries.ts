/**
 * One pass over revokedCertificates (RFC 5280 §5.1.2.6) into typed arrays: no object per entry. A serial of at most
 * 8 octets (after leading zero octets) becomes two uint32 words; a longer one goes to a side list, which real CRLs
 * rarely need. Each entry's revocation date becomes uint32 seconds and its reasonCode (§5.3.1) one octet.
 */
import { CrlMalformedError, CrlUnknownCriticalExtensionError, CrlUnsupportedError } from './errors.ts';
import { DerCursor, TAG, checkOid, oidToString, readBoolean, readTime } from './der.ts';

/** Entries as read, in CRL order. The first `n` elements of each array are meaningful. */
export interface RawEntries {
  n: number;
  hi: Uint32Array;
  lo: Uint32Array;
  date: Uint32Array;
  reason: Uint8Array;
  /** True when the short serials were strictly increasing, so no sort is needed. */
  sorted: boolean;
  /** Serials longer than 8 octets: `[start, end)` of their significant octets in the DER, with date and reason. */
  long: { starts: number[]; ends: number[]; date: number[]; reason: number[] };
}

// The smallest entry: 30 len | 02 01 xx | 17 0D <13 octets>.
const MIN_ENTRY = 20;

/** Reason codes RFC 5280 §5.3.1 allows in a complete CRL: 7 is unassigned and 8 (removeFromCRL) is for delta CRLs. */
const REASON_OK = 0b110_0111_1111;

/**
 * Reads every entry of revokedCertificates content `[start, end)`.
 *
 * @throws {CrlMalformedError} `ERR_PKI_CRL_MALFORMED`
 * @throws {CrlUnknownCriticalExtensionError} `ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION` for a critical entry
 *   extension other than reasonCode, invalidityDate or holdInstructionCode.
 * @throws {CrlUnsupportedError} `ERR_PKI_CRL_UNSUPPORTED` for a certificateIssuer entry extension (indirect CRL).
 */
export function readEntries(der: Uint8Array, start: number, end: number): RawEntries {
  const cap = start < 0 ? 0 : Math.floor((end - start) / MIN_ENTRY) + 1;
  const hi = new Uint32Array(cap);
  const lo = new Uint32Array(cap);
  const date = new Uint32Array(cap);
  const reason = new Uint8Array(cap);
  const long = {
    starts: [] as number[],
    ends: [] as number[],
    date: [] as number[],
    reason: [] as number[],
  };
  let n = 0;
  let sorted = true;
  let prevHi = -1;
  let prevLo = -1;
  if (start < 0) return { n, hi, lo, date, reason, sorted, long };
  const c = new DerCursor(der, start);
  while (c.pos < end) {
    const entryEnd = c.enter(TAG.SEQUENCE, end);
    const serialEnd = c.enter(TAG.INTEGER, entryEnd);
    let p = c.content;
    if (p === serialEnd) throw new CrlMalformedError('empty serial number', p);
    // The lookup key is the serial's octets without leading zero octets (see index.ts), so a redundant 0x00 a
    // non-conforming CA wrote cannot hide a revocation (RFC 5280 §4.1.2.2 asks users to tolerate such serials).
    while (p < serialEnd - 1 && der[p] === 0) p++;
    // RFC 5280 §4.1.2.2 caps serials at 20 octets; longer ones are tolerated, within reason.
    if (serialEnd - p > 64) throw new CrlMalformedError('serial number longer than 64 octets', p);
    c.pos = serialEnd;
    const seconds = readTime(c, entryEnd);
    if (seconds < 0 || seconds > 0xffffffff) throw new CrlMalformedError('revocationDate out of range', c.pos);
    const code = c.pos < entryEnd ? readEntryExtensions(c, entryEnd) : 0;
    if (c.pos !== entryEnd) throw new CrlMalformedError('trailing bytes in revoked certificate', c.pos);
    if (serialEnd - p <= 8) {
      let h = 0;
      let l = 0;
      for (let i = p; i < serialEnd; i++) {
        h = ((h << 8) | (l >>> 24)) >>> 0;
        l = ((l << 8) | der[i]!) >>> 0;
      }
      if (sorted && (h < prevHi || (h === prevHi && l <= prevLo))) sorted = false;
      prevHi = h;
      prevLo = l;
      hi[n] = h;
      lo[n] = l;
      date[n] = seconds;
      reason[n] = code;
      n++;
    } else {
      long.starts.push(p);
      long.ends.push(serialEnd);
      long.date.push(seconds);
      long.reason.push(code);
    }
  }
  return { n, hi, lo, date, reason, sorted, long };
}

/**
 * Reads crlEntryExtensions (RFC 5280 §5.3) and returns the reason code (0, unspecified, when absent, §5.3.1).
 * Processed: reasonCode; understood and ignored: invalidityDate (§5.3.2), holdInstructionCode (RFC 3280 §5.3.2).
 * certificateIssuer (§5.3.3) only appears in indirect CRLs, which we refuse.
 */
function readEntryExtensions(c: DerCursor, limit: number): number {
  const der = c.buf;
  // RFC 5280 §4.1 says SIZE (1..MAX), but common encoders (@peculiar/x509 among them) write an empty list for an
  // entry without extensions; it says nothing, so it is tolerated.
  const end = c.enter(TAG.SEQUENCE, limit);
  let code = 0;
  let seenReason = false;
  while (c.pos < end) {
    const extEnd = c.enter(TAG.SEQUENCE, end);
    const oidEnd = c.enter(TAG.OID, extEnd);
    const o = c.content;
    c.pos = oidEnd;
    checkOid(der, o, oidEnd);
    const critical = c.peek(extEnd) === TAG.BOOLEAN ? readBoolean(c, extEnd) : false;
    const valueEnd = c.enter(TAG.OCTET_STRING, extEnd);
    if (valueEnd !== extEnd) throw new CrlMalformedError('trailing bytes in extension', valueEnd);
    // id-ce arc 2.5.29 is 55 1D.
    const id = oidEnd - o === 3 && der[o] === 0x55 && der[o + 1] === 0x1d ? der[o + 2]! : -1;
    if (id === 0x15) {
      // reasonCode ::= ENUMERATED (RFC 5280 §5.3.1); one instance per entry (§4.2).
      if (seenReason) throw new CrlMalformedError('duplicate reasonCode', o);
      seenReason = true;
      const enumEnd = c.enter(TAG.ENUMERATED, valueEnd);
      if (enumEnd !== valueEnd || enumEnd - c.content !== 1) throw new CrlMalformedError('bad reasonCode', c.content);
      code = der[c.content]!;
      if (code > 10 || ((REASON_OK >>> code) & 1) === 0)
        throw new CrlMalformedError(`reasonCode ${code} not allowed in a complete CRL`, c.content);
    } else if (id === 0x1d) {
      // certificateIssuer (§5.3.3) makes this entry, and the ones after it, another CA's: an indirect CRL, which we
      // refuse even when an encoder forgot to mark it critical rather than pin another CA's serial on our issuer.
      throw new CrlUnsupportedError('indirect CRL');
    } else if (id !== 0x18 && id !== 0x17 && critical) {
      throw new CrlUnknownCriticalExtensionError(oidToString(der, o, oidEnd), true);
    }
    c.pos = extEnd;
  }
  return code;
}
