/**
 * The outer shape of a CRL (RFC 5280 §5.1): where tbsCertList, the algorithm identifiers, the issuer name, the
 * revoked-certificates list, the extensions and the signature lie, as offsets into the DER. Entries are read
 * later, in one pass, by `entries.ts`.
 */
import { CrlMalformedError } from './errors.ts';
import { DerCursor, TAG, readSmallInt, readTime } from './der.ts';

/** Offsets (`[start, end)` of whole elements unless said otherwise) into one CRL's DER. */
export interface CrlLayout {
  /** tbsCertList, the signed bytes (RFC 5280 §5.1.1.1). */
  readonly tbsStart: number;
  readonly tbsEnd: number;
  /** `null` when the optional version field is absent (that is v1). */
  readonly version: number | null;
  /** tbsCertList.signature (RFC 5280 §5.1.2.2). */
  readonly innerAlgStart: number;
  readonly innerAlgEnd: number;
  readonly issuerStart: number;
  readonly issuerEnd: number;
  /** Seconds since the epoch. */
  readonly thisUpdate: number;
  /** Seconds since the epoch, `null` when absent. */
  readonly nextUpdate: number | null;
  /** Content of revokedCertificates; both -1 when the list is absent. */
  readonly revokedStart: number;
  readonly revokedEnd: number;
  /** Content of crlExtensions' inner SEQUENCE; both -1 when absent. */
  readonly extStart: number;
  readonly extEnd: number;
  /** signatureAlgorithm (RFC 5280 §5.1.1.2). */
  readonly outerAlgStart: number;
  readonly outerAlgEnd: number;
  /** The signature octets, after the BIT STRING's unused-bits octet. */
  readonly sigStart: number;
  readonly sigEnd: number;
}

/**
 * Reads the CertificateList structure (RFC 5280 §5.1) without visiting the entries.
 *
 * @throws {CrlMalformedError} `ERR_PKI_CRL_MALFORMED` when the bytes are not the strict DER of a CertificateList.
 */
export function readLayout(der: Uint8Array): CrlLayout {
  const c = new DerCursor(der);
  const listEnd = c.enter(TAG.SEQUENCE, der.length);
  if (listEnd !== der.length) throw new CrlMalformedError('trailing bytes after CertificateList', listEnd);
  const tbsStart = c.pos;
  const tbsEnd = c.enter(TAG.SEQUENCE, listEnd);
  const version = c.peek(tbsEnd) === TAG.INTEGER ? readSmallInt(c, tbsEnd) : null;
  const innerAlgStart = c.pos;
  const innerAlgEnd = c.over(TAG.SEQUENCE, tbsEnd);
  const issuerStart = c.pos;
  const issuerEnd = c.over(TAG.SEQUENCE, tbsEnd);
  const thisUpdate = readTime(c, tbsEnd);
  const next = c.peek(tbsEnd);
  const nextUpdate = next === TAG.UTC_TIME || next === TAG.GENERALIZED_TIME ? readTime(c, tbsEnd) : null;
  let revokedStart = -1;
  let revokedEnd = -1;
  if (c.peek(tbsEnd) === TAG.SEQUENCE) {
    revokedEnd = c.enter(TAG.SEQUENCE, tbsEnd);
    revokedStart = c.pos;
    c.pos = revokedEnd;
  }
  let extStart = -1;
  let extEnd = -1;
  if (c.peek(tbsEnd) === TAG.CONTEXT_0) {
    const explicitEnd = c.enter(TAG.CONTEXT_0, tbsEnd);
    extEnd = c.enter(TAG.SEQUENCE, explicitEnd);
    extStart = c.pos;
    // RFC 5280 §4.1 says SIZE (1..MAX); an empty list (some encoders write one) says nothing and is tolerated.
    c.pos = extEnd;
    c.done(explicitEnd, 'crlExtensions');
  }
  c.done(tbsEnd, 'tbsCertList');
  const outerAlgStart = c.pos;
  const outerAlgEnd = c.over(TAG.SEQUENCE, listEnd);
  const sigEnd = c.enter(TAG.BIT_STRING, listEnd);
  const bits = c.content;
  // X.690 §8.6.2: the first octet counts unused bits; a signature is whole octets, so it must be 0.
  if (sigEnd - bits < 2 || der[bits] !== 0) throw new CrlMalformedError('signature BIT STRING has unused bits', bits);
  c.pos = sigEnd;
  c.done(listEnd, 'CertificateList');
  return {
    tbsStart,
    tbsEnd,
    version,
    innerAlgStart,
    innerAlgEnd,
    issuerStart,
    issuerEnd,
    thisUpdate,
    nextUpdate,
    revokedStart,
    revokedEnd,
    extStart,
    extEnd,
    outerAlgStart,
    outerAlgEnd,
    sigStart: bits + 1,
    sigEnd,
  };
}
