/**
 * crlExtensions (RFC 5280 §5.2): what this reader processes, what it ignores, and what it refuses.
 *
 * - cRLNumber (§5.2.3) is read so a source can refuse an older CRL (rollback).
 * - issuingDistributionPoint (§5.2.5) is read as the CRL's scope: JPKI partitions its CRLs by municipality (spec
 *   §8.2: a directoryName CRLDP per issuing office), so one partition only speaks for certificates whose
 *   cRLDistributionPoints name it (§6.3.3 (b)(2)(i)). onlySomeReasons, indirectCRL and onlyContainsAttributeCerts
 *   are refused: an index built from them would claim more than the CRL says.
 * - deltaCRLIndicator (§5.2.4) is refused whether or not it is marked critical: a delta read as complete would
 *   miss every revocation listed only in its base CRL.
 * - authorityKeyIdentifier, issuerAltName, freshestCRL and authorityInfoAccess are non-critical and not needed.
 * - Any other critical extension rejects the CRL (§5.2: "If a CRL contains a critical extension that the
 *   application cannot process, then the application MUST NOT use that CRL to determine the status of certificates").
 */
import { CrlMalformedError, CrlUnknownCriticalExtensionError, CrlUnsupportedError } from './errors.ts';
import { DerCursor, TAG, checkOid, oidToString, readBigUint, readBoolean } from './der.ts';
import type { CrlLayout } from './layout.ts';

/** What a CRL covers (RFC 5280 §5.2.5); a CRL without issuingDistributionPoint covers every certificate of its issuer. */
export interface CrlScope {
  /** DER of the IDP's DistributionPointName (`[0] fullName` or `[1] nameRelativeToCRLIssuer`), `null` for a full CRL. */
  readonly distributionPoint: Uint8Array | null;
  readonly onlyContainsUserCerts: boolean;
  readonly onlyContainsCACerts: boolean;
}

/** The CRL extensions this reader keeps. */
export interface CrlExtensions {
  /** cRLNumber (RFC 5280 §5.2.3), `null` when absent. */
  readonly crlNumber: bigint | null;
  readonly scope: CrlScope;
}

const FULL_SCOPE: CrlScope = Object.freeze({
  distributionPoint: null,
  onlyContainsUserCerts: false,
  onlyContainsCACerts: false,
});

// Last octet of id-ce (2.5.29.x) extensions.
const CRL_NUMBER = 0x14;
const DELTA_CRL_INDICATOR = 0x1b;
const ISSUING_DISTRIBUTION_POINT = 0x1c;

/**
 * Reads crlExtensions.
 *
 * @throws {CrlMalformedError} `ERR_PKI_CRL_MALFORMED` on bad DER or a duplicated extension (RFC 5280 §4.2).
 * @throws {CrlUnsupportedError} `ERR_PKI_CRL_UNSUPPORTED` for delta, indirect, partial-reason or attribute CRLs.
 * @throws {CrlUnknownCriticalExtensionError} `ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION`.
 */
export function readCrlExtensions(der: Uint8Array, layout: CrlLayout): CrlExtensions {
  if (layout.extStart < 0) return { crlNumber: null, scope: FULL_SCOPE };
  const c = new DerCursor(der, layout.extStart);
  const end = layout.extEnd;
  const seen = new Set<string>();
  let crlNumber: bigint | null = null;
  let scope = FULL_SCOPE;
  while (c.pos < end) {
    const extEnd = c.enter(TAG.SEQUENCE, end);
    const oidEnd = c.enter(TAG.OID, extEnd);
    const o = c.content;
    c.pos = oidEnd;
    checkOid(der, o, oidEnd);
    const oid = oidToString(der, o, oidEnd);
    if (seen.has(oid)) throw new CrlMalformedError(`duplicate extension ${oid}`, o);
    seen.add(oid);
    const critical = c.peek(extEnd) === TAG.BOOLEAN ? readBoolean(c, extEnd) : false;
    const valueEnd = c.enter(TAG.OCTET_STRING, extEnd);
    if (valueEnd !== extEnd) throw new CrlMalformedError('trailing bytes in extension', valueEnd);
    const id = oidEnd - o === 3 && der[o] === 0x55 && der[o + 1] === 0x1d ? der[o + 2]! : -1;
    if (id === CRL_NUMBER) {
      crlNumber = readBigUint(c, valueEnd);
      c.done(valueEnd, 'cRLNumber');
    } else if (id === DELTA_CRL_INDICATOR) {
      throw new CrlUnsupportedError('delta CRL');
    } else if (id === ISSUING_DISTRIBUTION_POINT) {
      scope = readIssuingDistributionPoint(c, valueEnd);
    } else if (critical) {
      throw new CrlUnknownCriticalExtensionError(oid, false);
    }
    c.pos = extEnd;
  }
  return { crlNumber, scope };
}

/**
 * IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName OPTIONAL,
 * onlyContainsUserCerts [1] BOOLEAN DEFAULT FALSE, onlyContainsCACerts [2] BOOLEAN DEFAULT FALSE,
 * onlySomeReasons [3] ReasonFlags OPTIONAL, indirectCRL [4] BOOLEAN DEFAULT FALSE,
 * onlyContainsAttributeCerts [5] BOOLEAN DEFAULT FALSE } (RFC 5280 §5.2.5, implicit tags).
 */
function readIssuingDistributionPoint(c: DerCursor, limit: number): CrlScope {
  const der = c.buf;
  const end = c.enter(TAG.SEQUENCE, limit);
  let distributionPoint: Uint8Array | null = null;
  let onlyContainsUserCerts = false;
  let onlyContainsCACerts = false;
  if (c.peek(end) === 0xa0) {
    // [0] is explicit because DistributionPointName is a CHOICE (X.680 §31.2.7); keep the CHOICE's own DER.
    const dpEnd = c.enter(0xa0, end);
    const inner = c.pos;
    const tag = c.peek(dpEnd);
    if (tag !== 0xa0 && tag !== 0xa1) throw new CrlMalformedError('bad DistributionPointName', inner);
    c.over(tag, dpEnd);
    c.done(dpEnd, 'distributionPoint');
    distributionPoint = der.slice(inner, dpEnd);
  }
  if (c.peek(end) === 0x81) onlyContainsUserCerts = readBoolean(c, end, 0x81);
  if (c.peek(end) === 0x82) onlyContainsCACerts = readBoolean(c, end, 0x82);
  if (c.peek(end) === 0x83) throw new CrlUnsupportedError('onlySomeReasons');
  if (c.peek(end) === 0x84 && readBoolean(c, end, 0x84)) throw new CrlUnsupportedError('indirect CRL');
  if (c.peek(end) === 0x85 && readBoolean(c, end, 0x85)) throw new CrlUnsupportedError('attribute certificate CRL');
  c.done(end, 'issuingDistributionPoint');
  c.done(limit, 'issuingDistributionPoint');
  // §5.2.5: at most one of the only-contains flags may be TRUE.
  if (onlyContainsUserCerts && onlyContainsCACerts)
    throw new CrlMalformedError('both onlyContainsUserCerts and onlyContainsCACerts', end);
  return Object.freeze({
    distributionPoint,
    onlyContainsUserCerts,
    onlyContainsCACerts,
  });
}
