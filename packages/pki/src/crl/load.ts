/**
 * `loadCrl`: checks one DER CRL against its issuer certificate at `now` and builds its {@link CrlIndex}: one pass
 * over the entries into typed arrays, then a radix sort unless the CRL already lists its serials in order.
 */
import {
  checkIssuerKeyUsage,
  checkIssuerName,
  checkMaxAge,
  checkNextUpdate,
  checkSignatureAlgorithm,
  checkThisUpdate,
  checkVersion,
  checkSignature,
} from './checks.ts';
import { readEntries, type RawEntries } from './entries.ts';
import { readCrlExtensions, type CrlExtensions } from './extensions.ts';
import { CrlIndex, bucketTable, type CrlIndexData } from './index.ts';
import { readIssuer, type IssuerCertificate } from './issuer.ts';
import { readLayout } from './layout.ts';
import { sortKeys64, sortPacked } from './sort.ts';

/** Options of {@link loadCrl}. */
export interface LoadCrlOptions {
  /** The certificate of the CA that issued the CRL (DER or @peculiar/x509). */
  readonly issuer: IssuerCertificate;
  /** The time the CRL must be valid at. */
  readonly now: Date;
  /** Allowed clock skew for thisUpdate and nextUpdate, in ms; default 60 000. */
  readonly skewMs?: number;
  /** Refuse a CRL issued more than this long before `now` (local policy), in ms; default: no limit. */
  readonly maxAgeMs?: number;
}

/** The default clock skew allowed around thisUpdate and nextUpdate. */
export const DEFAULT_CRL_SKEW_MS = 60_000;

/**
 * Checks a DER CRL and indexes it. Resolves after the work is done on the calling thread; `CrlSource`
 * does it in a worker. The checks, in order: strict DER structure (RFC 5280 §5.1), version v2,
 * signature algorithm (§5.1.1.2), issuer name (§5.1.2.3), issuer cRLSign (§4.2.1.3), signature (§5.1.1.3),
 * extensions (§5.2, §5.3), thisUpdate and nextUpdate at `now` (§6.3.3 (a)).
 *
 * @example
 * ```ts
 * const index = await loadCrl(await readFile('sign-ca.crl'), { issuer: signCaCert, now: new Date() });
 * index.lookup(cert.serialNumber); // { revoked: false } | { revoked: true, revokedAt, reason }
 * ```
 * @throws {TypeError} on bad options or an issuer that is not a certificate.
 * @throws {CrlMalformedError} `ERR_PKI_CRL_MALFORMED`
 * @throws {CrlUnsupportedError} `ERR_PKI_CRL_UNSUPPORTED`
 * @throws {CrlWrongIssuerError} `ERR_PKI_CRL_WRONG_ISSUER`
 * @throws {CrlIssuerNotCrlSignerError} `ERR_PKI_CRL_ISSUER_NOT_CRL_SIGNER`
 * @throws {CrlBadSignatureError} `ERR_PKI_CRL_BAD_SIGNATURE`
 * @throws {CrlUnknownCriticalExtensionError} `ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION`
 * @throws {CrlNotYetValidError} `ERR_PKI_CRL_NOT_YET_VALID`
 * @throws {CrlExpiredError} `ERR_PKI_CRL_EXPIRED`
 */
export async function loadCrl(der: Uint8Array, options: LoadCrlOptions): Promise<CrlIndex> {
  return new CrlIndex(checkAndIndexCrl(der, options));
}

/**
 * The synchronous body of {@link loadCrl}: runs every check and returns the index tables, which are transferable
 * (the CRL source builds them in a worker thread and wraps them in a {@link CrlIndex} on its own thread).
 *
 * @throws the same errors as {@link loadCrl}.
 */
export function checkAndIndexCrl(der: Uint8Array, options: LoadCrlOptions): CrlIndexData {
  if (!(der instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array');
  const { now, skewMs = DEFAULT_CRL_SKEW_MS, maxAgeMs } = options ?? ({} as LoadCrlOptions);
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError('now must be a valid Date');
  if (!(skewMs >= 0)) throw new TypeError('skewMs must be >= 0');
  if (maxAgeMs !== undefined && !(maxAgeMs >= 0)) throw new TypeError('maxAgeMs must be >= 0');
  const issuer = readIssuer(options.issuer);

  const layout = readLayout(der);
  checkVersion(layout);
  const hash = checkSignatureAlgorithm(der, layout);
  checkIssuerName(der, layout, issuer);
  checkIssuerKeyUsage(issuer);
  // Nothing inside tbsCertList is trusted, or reported on, before its signature verifies.
  checkSignature(der, layout, hash, issuer);
  const extensions = readCrlExtensions(der, layout);
  checkThisUpdate(layout.thisUpdate, now, skewMs);
  checkNextUpdate(layout.nextUpdate, now, skewMs);
  checkMaxAge(layout.thisUpdate, layout.nextUpdate, now, maxAgeMs, skewMs);
  const raw = readEntries(der, layout.revokedStart, layout.revokedEnd);
  return buildIndex(der, layout.issuerStart, layout.issuerEnd, layout.thisUpdate, layout.nextUpdate!, extensions, raw);
}

function buildIndex(
  der: Uint8Array,
  issuerStart: number,
  issuerEnd: number,
  thisUpdate: number,
  nextUpdate: number,
  extensions: CrlExtensions,
  raw: RawEntries,
): CrlIndexData {
  const n = raw.n;
  let hi: Uint32Array;
  let lo: Uint32Array;
  let date: Uint32Array;
  let reason: Uint8Array;
  if (raw.sorted) {
    hi = raw.hi.slice(0, n);
    lo = raw.lo.slice(0, n);
    date = raw.date.slice(0, n);
    reason = raw.reason.slice(0, n);
  } else {
    const sorted = sortKeys64(raw.hi, raw.lo, n);
    hi = sorted.hi;
    lo = sorted.lo;
    date = new Uint32Array(n);
    reason = new Uint8Array(n);
    const order = sorted.order;
    const d = raw.date;
    const r = raw.reason;
    for (let i = 0; i < n; i++) {
      const j = order[i]!;
      date[i] = d[j]!;
      reason[i] = r[j]!;
    }
  }

  const long = raw.long;
  const ln = long.starts.length;
  let width = 0;
  for (let i = 0; i < ln; i++) width = Math.max(width, long.ends[i]! - long.starts[i]!);
  const packed = new Uint8Array(ln * width);
  for (let i = 0; i < ln; i++) {
    const s = long.starts[i]!;
    const e = long.ends[i]!;
    packed.set(der.subarray(s, e), (i + 1) * width - (e - s));
  }
  const order = sortPacked(packed, width, ln);
  const longKeys = new Uint8Array(ln * width);
  const longDate = new Uint32Array(ln);
  const longReason = new Uint8Array(ln);
  for (let i = 0; i < ln; i++) {
    const j = order[i]!;
    longKeys.set(packed.subarray(j * width, (j + 1) * width), i * width);
    longDate[i] = long.date[j]!;
    longReason[i] = long.reason[j]!;
  }

  return {
    ...bucketTable(hi, lo),
    hi,
    lo,
    date,
    reason,
    longKeys,
    longWidth: width,
    longDate,
    longReason,
    thisUpdate,
    nextUpdate,
    issuerName: der.slice(issuerStart, issuerEnd),
    crlNumber: extensions.crlNumber,
    scope: extensions.scope,
  };
}
