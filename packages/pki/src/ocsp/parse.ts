/**
 * The OCSPResponse reader (RFC 6960 §4.2.1; the module of Appendix B.1, EXPLICIT TAGS): the whole response, not
 * only the signed part, must be strict DER (X.690 §10-11) of exactly that syntax, as the certificate and CRL
 * readers require. It walks the bytes with the package's TlvReader and hands out views and numbers, so the exact
 * signed bytes are kept and nothing is re-encoded. Syntax only (with the values the syntax allows, such as
 * CRLReason's): what the fields mean for the answer is `response.ts`'s.
 *
 * Internal. Every violation throws `DerError`; the caller maps it to `ERR_PKI_OCSP_MALFORMED`.
 */
import { DerError, TAG, TlvReader, checkDer, checkInteger, checkOid, equal, time } from '../der.ts';

/** An Extension (RFC 5280 §4.1) of the response or of a SingleResponse. */
export interface OcspExtension {
  /** extnID content octets (compared as bytes; see {@link oidText}). */
  readonly id: Uint8Array;
  readonly critical: boolean;
  /** extnValue content octets. */
  readonly value: Uint8Array;
}

/** CertID (RFC 6960 §4.1.1), as views. */
export interface CertIdFields {
  /** hashAlgorithm's OID content octets. */
  readonly hashAlgorithm: Uint8Array;
  /** hashAlgorithm's parameters (whole TLV), `undefined` when absent or NULL: both are seen for SHA-1/SHA-2. */
  readonly hashParameters: Uint8Array | undefined;
  readonly issuerNameHash: Uint8Array;
  readonly issuerKeyHash: Uint8Array;
  /** serialNumber INTEGER content octets (minimal). */
  readonly serialNumber: Uint8Array;
}

/** One SingleResponse (RFC 6960 §4.2.1). Times are ms since the epoch. */
export interface SingleResponseFields {
  readonly certId: CertIdFields;
  readonly status: 'good' | 'revoked' | 'unknown';
  /** revoked only. */
  readonly revokedAt?: number;
  /** revoked only: the CRLReason (RFC 5280 §5.3.1) when given. */
  readonly reason?: number;
  readonly thisUpdate: number;
  readonly nextUpdate?: number;
  readonly extensions: readonly OcspExtension[];
}

/** BasicOCSPResponse (RFC 6960 §4.2.1), as views into the response. */
export interface BasicResponseFields {
  /** The whole ResponseData: the signed bytes. */
  readonly tbs: Uint8Array;
  /** The whole signatureAlgorithm AlgorithmIdentifier. */
  readonly signatureAlgorithm: Uint8Array;
  /** The signature BIT STRING's bits (no unused bits). */
  readonly signature: Uint8Array;
  /** Each certificate's whole DER, unparsed. */
  readonly certs: readonly Uint8Array[];
  /** ResponderID byName: the Name's whole DER. */
  readonly responderName?: Uint8Array;
  /** ResponderID byKey: the KeyHash octets. */
  readonly responderKeyHash?: Uint8Array;
  readonly producedAt: number;
  readonly responses: readonly SingleResponseFields[];
  readonly extensions: readonly OcspExtension[];
}

/** OCSPResponse (RFC 6960 §4.2.1). */
export interface OcspResponseFields {
  /** OCSPResponseStatus: 0 is successful. */
  readonly status: number;
  /** Present when responseBytes is and its responseType is id-pkix-ocsp-basic. */
  readonly basic?: BasicResponseFields;
}

// id-pkix-ocsp-basic 1.3.6.1.5.5.7.48.1.1 (RFC 6960 §4.2.1), content octets.
const ID_PKIX_OCSP_BASIC = Uint8Array.of(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01);
const NULL = Uint8Array.of(0x05, 0x00);

/**
 * Reads `der` as one OCSPResponse and nothing after it.
 *
 * @throws DerError on anything that is not DER of the RFC 6960 syntax.
 */
export function parseOcspResponse(der: Uint8Array): OcspResponseFields {
  // OCSPResponse ::= SEQUENCE { responseStatus OCSPResponseStatus, responseBytes [0] EXPLICIT ResponseBytes OPTIONAL }
  const r = new TlvReader(der);
  const end = r.expect(0, der.length, TAG.SEQUENCE);
  if (end !== der.length) throw new DerError('bytes after the OCSPResponse');
  let pos = r.expect(r.valueStart, end, TAG.ENUMERATED);
  const status = smallEnum(r);
  if (pos === end) return { status };
  pos = r.expect(pos, end, 0xa0);
  if (pos !== end) throw new DerError('bytes after responseBytes');
  // ResponseBytes ::= SEQUENCE { responseType OBJECT IDENTIFIER, response OCTET STRING }
  if (r.expect(r.valueStart, end, TAG.SEQUENCE) !== end) throw new DerError('bytes after ResponseBytes');
  const rbEnd = r.end;
  const typeEnd = r.expect(r.valueStart, rbEnd, TAG.OID);
  checkOid(der, r.valueStart, typeEnd);
  const basicType = equal(der.subarray(r.valueStart, typeEnd), ID_PKIX_OCSP_BASIC);
  if (r.expect(typeEnd, rbEnd, TAG.OCTET_STRING) !== rbEnd) throw new DerError('bytes after response');
  if (!basicType) return { status };
  return { status, basic: parseBasic(der.subarray(r.valueStart, rbEnd)) };
}

/**
 * CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash OCTET STRING, issuerKeyHash OCTET STRING,
 * serialNumber CertificateSerialNumber }, the whole of `der` (the one a request sent).
 *
 * @throws DerError
 */
export function parseCertId(der: Uint8Array): CertIdFields {
  const r = new TlvReader(der);
  if (r.expect(0, der.length, TAG.SEQUENCE) !== der.length) throw new DerError('bytes after the CertID');
  return certId(r);
}

/** Dotted form of OID content octets, for messages (arcs of any size). */
export function oidText(id: Uint8Array): string {
  const arcs: bigint[] = [];
  let n = 0n;
  for (const b of id) {
    n = (n << 7n) | BigInt(b & 0x7f);
    if (b & 0x80) continue;
    if (arcs.length === 0) arcs.push(n < 80n ? n / 40n : 2n, n < 80n ? n % 40n : n - 80n);
    else arcs.push(n);
    n = 0n;
  }
  return arcs.join('.');
}

function parseBasic(b: Uint8Array): BasicResponseFields {
  // BasicOCSPResponse ::= SEQUENCE { tbsResponseData ResponseData, signatureAlgorithm AlgorithmIdentifier,
  //   signature BIT STRING, certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
  const r = new TlvReader(b);
  const end = r.expect(0, b.length, TAG.SEQUENCE);
  if (end !== b.length) throw new DerError('bytes after the BasicOCSPResponse');
  let pos = r.expect(r.valueStart, end, TAG.SEQUENCE);
  const tbs = b.subarray(r.start, pos);
  const data = responseData(r);
  const algStart = pos;
  pos = r.expect(pos, end, TAG.SEQUENCE);
  algorithmIdentifier(r);
  const signatureAlgorithm = b.subarray(algStart, pos);
  pos = r.expect(pos, end, TAG.BIT_STRING);
  if (r.valueStart === pos || b[r.valueStart] !== 0) throw new DerError('signature has unused bits');
  const signature = b.subarray(r.valueStart + 1, pos);
  const certs: Uint8Array[] = [];
  if (pos < end) {
    pos = r.expect(pos, end, 0xa0);
    const listEnd = r.expect(r.valueStart, pos, TAG.SEQUENCE);
    if (listEnd !== pos) throw new DerError('bytes after certs');
    // Each certificate is only framed here; parseCertificate reads it strictly.
    for (let p = r.valueStart; p < listEnd;) {
      p = r.expect(p, listEnd, TAG.SEQUENCE);
      certs.push(b.subarray(r.start, p));
    }
  }
  if (pos !== end) throw new DerError('bytes after certs');
  return { tbs, signatureAlgorithm, signature, certs, ...data };
}

type ResponseDataFields = Pick<
  BasicResponseFields,
  'responderName' | 'responderKeyHash' | 'producedAt' | 'responses' | 'extensions'
>;

/** ResponseData, the SEQUENCE `r` just read. */
function responseData(r: TlvReader): ResponseDataFields {
  // ResponseData ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1, responderID ResponderID,
  //   producedAt GeneralizedTime, responses SEQUENCE OF SingleResponse,
  //   responseExtensions [1] EXPLICIT Extensions OPTIONAL }
  const b = r.buf;
  const end = r.end;
  let pos = r.read(r.valueStart, end);
  // X.690 §11.5: DEFAULT v1 is never written out, and v1 is the only version RFC 6960 defines: a version is refused.
  if (r.tag === 0xa0) throw new DerError('version is not v1 or written out');
  // ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }, explicit tags.
  let responderName: Uint8Array | undefined;
  let responderKeyHash: Uint8Array | undefined;
  const rid = r.tag;
  if (rid === 0xa1) {
    if (r.expect(r.valueStart, pos, TAG.SEQUENCE) !== pos) throw new DerError('bad ResponderID');
    // The Name is compared byte for byte with certificate subjects; it is DER like them.
    checkDer(b, r.valueStart, pos);
    responderName = b.subarray(r.start, pos);
  } else if (rid === 0xa2) {
    if (r.expect(r.valueStart, pos, TAG.OCTET_STRING) !== pos) throw new DerError('bad ResponderID');
    responderKeyHash = b.subarray(r.valueStart, pos);
  } else throw new DerError('bad ResponderID');
  pos = r.read(pos, end);
  const producedAt = generalizedTime(r);
  pos = r.expect(pos, end, TAG.SEQUENCE);
  const responses: SingleResponseFields[] = [];
  for (let p = r.valueStart; p < pos;) {
    p = r.expect(p, pos, TAG.SEQUENCE);
    responses.push(singleResponse(r));
  }
  let extensions: readonly OcspExtension[] = NONE;
  if (pos < end) {
    pos = r.expect(pos, end, 0xa1);
    extensions = extensionList(r, pos);
  }
  if (pos !== end) throw new DerError('bytes after ResponseData');
  return { responderName, responderKeyHash, producedAt, responses, extensions };
}

/** SingleResponse, the SEQUENCE `r` just read. */
function singleResponse(r: TlvReader): SingleResponseFields {
  // SingleResponse ::= SEQUENCE { certID CertID, certStatus CertStatus, thisUpdate GeneralizedTime,
  //   nextUpdate [0] EXPLICIT GeneralizedTime OPTIONAL, singleExtensions [1] EXPLICIT Extensions OPTIONAL }
  const b = r.buf;
  const end = r.end;
  let pos = r.expect(r.valueStart, end, TAG.SEQUENCE);
  const id = certId(r);
  // CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo,
  //   unknown [2] IMPLICIT UnknownInfo }
  pos = r.read(pos, end);
  let status: SingleResponseFields['status'];
  let revokedAt: number | undefined;
  let reason: number | undefined;
  if (r.tag === 0x80 || r.tag === 0x82) {
    // NULL and UnknownInfo ::= NULL: no content octets (X.690 §8.8.2).
    if (r.valueStart !== pos) throw new DerError('bad certStatus');
    status = r.tag === 0x80 ? 'good' : 'unknown';
  } else if (r.tag === 0xa1) {
    // RevokedInfo ::= SEQUENCE { revocationTime GeneralizedTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }
    status = 'revoked';
    const q = r.read(r.valueStart, pos);
    revokedAt = generalizedTime(r);
    if (q < pos) {
      if (r.expect(q, pos, 0xa0) !== pos || r.expect(r.valueStart, pos, TAG.ENUMERATED) !== pos)
        throw new DerError('bad revocationReason');
      reason = crlReason(r);
    }
  } else throw new DerError('bad certStatus');
  pos = r.read(pos, end);
  const thisUpdate = generalizedTime(r);
  let nextUpdate: number | undefined;
  let extensions: readonly OcspExtension[] = NONE;
  if (pos < end && b[pos] === 0xa0) {
    pos = r.expect(pos, end, 0xa0);
    if (r.read(r.valueStart, pos) !== pos) throw new DerError('bad nextUpdate');
    nextUpdate = generalizedTime(r);
  }
  if (pos < end) {
    pos = r.expect(pos, end, 0xa1);
    extensions = extensionList(r, pos);
  }
  if (pos !== end) throw new DerError('bytes after SingleResponse');
  return { certId: id, status, revokedAt, reason, thisUpdate, nextUpdate, extensions };
}

/** CertID, the SEQUENCE `r` just read. */
function certId(r: TlvReader): CertIdFields {
  const b = r.buf;
  const end = r.end;
  let pos = r.expect(r.valueStart, end, TAG.SEQUENCE);
  const alg = algorithmIdentifier(r);
  pos = r.expect(pos, end, TAG.OCTET_STRING);
  const issuerNameHash = b.subarray(r.valueStart, pos);
  pos = r.expect(pos, end, TAG.OCTET_STRING);
  const issuerKeyHash = b.subarray(r.valueStart, pos);
  if (r.expect(pos, end, TAG.INTEGER) !== end) throw new DerError('bad CertID');
  checkInteger(b, r.valueStart, end);
  return {
    hashAlgorithm: alg.oid,
    hashParameters: alg.parameters === undefined || equal(alg.parameters, NULL) ? undefined : alg.parameters,
    issuerNameHash,
    issuerKeyHash,
    serialNumber: b.subarray(r.valueStart, end),
  };
}

/**
 * AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY DEFINED BY algorithm OPTIONAL }
 * (RFC 5280 §4.1.1.2), the SEQUENCE `r` just read: the OID's content octets and the parameters' whole TLV.
 */
function algorithmIdentifier(r: TlvReader): { oid: Uint8Array; parameters: Uint8Array | undefined } {
  const b = r.buf;
  const end = r.end;
  const oidEnd = r.expect(r.valueStart, end, TAG.OID);
  checkOid(b, r.valueStart, oidEnd);
  const oid = b.subarray(r.valueStart, oidEnd);
  if (oidEnd === end) return { oid, parameters: undefined };
  if (r.read(oidEnd, end) !== end) throw new DerError('bad AlgorithmIdentifier');
  checkDer(b, oidEnd, end);
  return { oid, parameters: b.subarray(oidEnd, end) };
}

/**
 * Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, inside the explicit tag `r` just read, which ends at `end`.
 * Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }.
 */
function extensionList(r: TlvReader, end: number): OcspExtension[] {
  const b = r.buf;
  if (r.expect(r.valueStart, end, TAG.SEQUENCE) !== end) throw new DerError('bytes after Extensions');
  if (r.valueStart === end) throw new DerError('empty Extensions');
  const out: OcspExtension[] = [];
  for (let p = r.valueStart; p < end;) {
    const e = r.expect(p, end, TAG.SEQUENCE);
    p = e;
    let q = r.expect(r.valueStart, e, TAG.OID);
    checkOid(b, r.valueStart, q);
    const id = b.subarray(r.valueStart, q);
    // RFC 5280 §4.2 (which RFC 6960 §4.4 builds on): one instance of an extension per list.
    if (out.some((x) => equal(x.id, id))) throw new DerError(`duplicate extension ${oidText(id)}`);
    let critical = false;
    q = r.read(q, e);
    if (r.tag === TAG.BOOLEAN) {
      // DER: TRUE is FF (X.690 §11.1), and DEFAULT FALSE is not encoded (§11.5).
      if (q - r.valueStart !== 1 || b[r.valueStart] !== 0xff) throw new DerError('bad critical flag');
      critical = true;
      q = r.read(q, e);
    }
    if (r.tag !== TAG.OCTET_STRING || q !== e) throw new DerError('bad Extension');
    out.push({ id, critical, value: b.subarray(r.valueStart, e) });
  }
  return out;
}

/**
 * The GeneralizedTime `r` just read, in ms. RFC 6960 §4.2.2.1 takes RFC 5280 §4.1.2.5.2's form: YYYYMMDDHHMMSSZ,
 * no fraction, no offset (Go's encoding/asn1 refuses the others too). A fraction or offset would also leave
 * a time open to two readings, and OpenSSL's freshness check skips what it cannot compare.
 */
function generalizedTime(r: TlvReader): number {
  if (r.tag !== TAG.GENERALIZED_TIME) throw new DerError('expected GeneralizedTime');
  return time(r.buf, r);
}

/** The ENUMERATED `r` just read, a value from 0 to 127 (one octet: X.690 §8.4, §8.3.2). */
function smallEnum(r: TlvReader): number {
  const v = r.buf[r.valueStart]!;
  if (r.end - r.valueStart !== 1 || v & 0x80) throw new DerError('bad ENUMERATED');
  return v;
}

/** Reason codes RFC 5280 §5.3.1 defines for a certificate that is revoked: 7 is unassigned and 8 (removeFromCRL)
 * only un-revokes in a delta CRL, as the CRL reader holds. */
const REASON_OK = 0b110_0111_1111;

/** CRLReason, the ENUMERATED `r` just read. */
function crlReason(r: TlvReader): number {
  const v = smallEnum(r);
  if (v > 10 || ((REASON_OK >>> v) & 1) === 0) throw new DerError(`CRLReason ${v} not allowed`);
  return v;
}

const NONE: readonly OcspExtension[] = Object.freeze([]);
