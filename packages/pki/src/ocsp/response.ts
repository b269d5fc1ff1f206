/**
 * Checking an OCSP response (RFC 6960 §3.2 and §4.2) for one request, in the order that never interprets
 * unauthenticated content: status and type, responder authorisation, signature, nonce, the one SingleResponse and
 * its CertID, freshness, then the certificate status.
 */
import { createHash, verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicOCSPResponse,
  CertID,
  OCSPResponse,
  OCSPResponseStatus,
  id_kp_OCSPSigning,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { RevocationUnknownError } from '../errors.ts';
import { parseCertificate, signatureHashOf } from '../certificate.ts';
import type { ParsedCertificate } from '../certificate.ts';
import { DerError, TAG, children, equal, expect, whole } from '../der.ts';
import type { KeyCache } from '../keys.ts';
import { signedBy } from '../keys.ts';
import { CRL_REASONS } from '../revocation.ts';
import type { RevocationStatus } from '../revocation.ts';

/** What a response is checked against. */
export interface OcspCheck {
  /** The issuing CA of the certificate asked about (an anchor). */
  readonly issuer: ParsedCertificate;
  /** DER CertID sent. */
  readonly certId: Uint8Array;
  /** Nonce extnValue sent, or `null` when none was sent. */
  readonly nonce: Uint8Array | null;
  /** ms since the epoch. */
  readonly now: number;
  /** Tolerated clock difference (thisUpdate in the future, nextUpdate in the past). */
  readonly skewMs: number;
  /** Oldest acceptable thisUpdate, relative to now. */
  readonly maxAgeMs: number;
  readonly keys: KeyCache;
}

/** A checked answer. `nextUpdate` is when it may no longer be served from a cache. */
export type OcspAnswer = RevocationStatus & {
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
};

const err = (code: string, detail: string, message: string, cause?: unknown): never => {
  throw new RevocationUnknownError(code, detail, 'ocsp', message, cause === undefined ? undefined : { cause });
};

/**
 * Checks `der` (an OCSPResponse) against the request it answers.
 *
 * @throws RevocationUnknownError `ERR_PKI_OCSP_MALFORMED`, `ERR_PKI_OCSP_STATUS`, `ERR_PKI_OCSP_RESPONDER`,
 *   `ERR_PKI_OCSP_SIGNATURE`, `ERR_PKI_OCSP_NONCE`, `ERR_PKI_OCSP_RESPONSE_COUNT`, `ERR_PKI_OCSP_CERT_ID`,
 *   `ERR_PKI_REVOCATION_UNKNOWN` (detail `future` or `stale`)
 */
export function checkOcspResponse(der: Uint8Array, check: OcspCheck): OcspAnswer {
  // NaN would make every freshness comparison below false: nothing would ever be stale.
  if (!Number.isFinite(check.now)) throw new TypeError('now must be a finite time (epoch ms)');
  let outer: OCSPResponse;
  try {
    outer = AsnConvert.parse(der, OCSPResponse);
  } catch (e) {
    return err('ERR_PKI_OCSP_MALFORMED', 'malformed', 'OCSP response is not DER', e);
  }
  // RFC 6960 §4.2.1: only `successful` carries responseBytes; tryLater, unauthorized etc. give no answer.
  if (outer.responseStatus !== OCSPResponseStatus.successful)
    err('ERR_PKI_OCSP_STATUS', String(outer.responseStatus), 'OCSP responseStatus is not successful');
  if (!outer.responseBytes || outer.responseBytes.responseType !== id_pkix_ocsp_basic)
    err('ERR_PKI_OCSP_MALFORMED', 'malformed', 'OCSP response is not id-pkix-ocsp-basic');

  const basicDer = new Uint8Array(outer.responseBytes!.response.buffer);
  let basic: BasicOCSPResponse;
  let tbs: Uint8Array;
  let algDer: Uint8Array;
  let certs: ParsedCertificate[];
  try {
    basic = AsnConvert.parse(basicDer, BasicOCSPResponse);
    // Exact signed bytes and embedded certificates are sliced from the DER, not re-encoded.
    const seq = expect(basicDer, 0, basicDer.length, TAG.SEQUENCE);
    const k = children(basicDer, seq);
    tbs = whole(basicDer, k[0]!);
    algDer = whole(basicDer, k[1]!);
    certs = [];
    if (k[3]) {
      if (k[3].tag !== 0xa0) throw new DerError('bad certs');
      const list = expect(basicDer, k[3].valueStart, k[3].end, TAG.SEQUENCE);
      for (const c of children(basicDer, list)) certs.push(parseCertificate(whole(basicDer, c)));
    }
  } catch (e) {
    return err('ERR_PKI_OCSP_MALFORMED', 'malformed', 'BasicOCSPResponse is malformed', e);
  }

  // RFC 6960 §4.2.2.2: the signer is the CA that issued the certificate, or a delegate that CA issued with
  // id-kp-OCSPSigning. A responder certified by any other CA (even a trusted one) is not authorised.
  const signer = authorisedSigner(basic, certs, check);
  const hash = signatureHashOf(algDer);
  if (!hash) return err('ERR_PKI_OCSP_SIGNATURE', 'algorithm', 'OCSP signature algorithm not allowed');
  let ok = false;
  try {
    ok = verify(hash, tbs, check.keys.get(signer.spki), new Uint8Array(basic.signature));
  } catch {
    ok = false;
  }
  if (!ok) err('ERR_PKI_OCSP_SIGNATURE', 'signature', 'OCSP response signature does not verify');

  const data = basic.tbsResponseData;
  // RFC 8954 §2.1 / RFC 6960 §4.4.1: the response must echo our nonce, else it may be a replay.
  if (check.nonce) {
    const ext = data.responseExtensions?.find((x) => x.extnID === id_pkix_ocsp_nonce);
    if (!ext || !equal(new Uint8Array(ext.extnValue.buffer), check.nonce))
      err('ERR_PKI_OCSP_NONCE', 'nonce', 'OCSP nonce missing or different');
  }

  // We asked about one certificate: exactly one answer, about that certificate (RFC 6960 §4.2.2.3 / Web eID).
  if (data.responses.length !== 1) err('ERR_PKI_OCSP_RESPONSE_COUNT', 'count', 'expected exactly one SingleResponse');
  const single = data.responses[0]!;
  if (!sameCertId(single.certID, AsnConvert.parse(check.certId, CertID)))
    err('ERR_PKI_OCSP_CERT_ID', 'certId', 'SingleResponse is about another certificate');

  // RFC 6960 §3.2 (5)-(6), §4.2.2.1: thisUpdate sufficiently recent and not in the future; nextUpdate not passed.
  const thisUpdate = single.thisUpdate.getTime();
  const nextUpdate = single.nextUpdate?.getTime();
  if (thisUpdate > check.now + check.skewMs)
    err('ERR_PKI_REVOCATION_UNKNOWN', 'future', 'OCSP thisUpdate in the future');
  if (check.now - thisUpdate > check.maxAgeMs) err('ERR_PKI_REVOCATION_UNKNOWN', 'stale', 'OCSP thisUpdate too old');
  if (nextUpdate !== undefined) {
    if (nextUpdate < thisUpdate) err('ERR_PKI_OCSP_MALFORMED', 'malformed', 'OCSP nextUpdate before thisUpdate');
    if (nextUpdate < check.now - check.skewMs) err('ERR_PKI_REVOCATION_UNKNOWN', 'stale', 'OCSP nextUpdate passed');
  }

  const times = {
    thisUpdate: new Date(thisUpdate),
    ...(nextUpdate === undefined ? {} : { nextUpdate: new Date(nextUpdate) }),
  };
  const st = single.certStatus;
  if (st.revoked) {
    const code = st.revoked.revocationReason;
    return Object.freeze({
      status: 'revoked',
      source: 'ocsp',
      revokedAt: st.revoked.revocationTime,
      reason: code === undefined ? 'unspecified' : (CRL_REASONS[code.reason] ?? 'unspecified'),
      ...times,
    });
  }
  if (st.good !== undefined) return Object.freeze({ status: 'good', source: 'ocsp', ...times });
  return Object.freeze({ status: 'unknown', source: 'ocsp', ...times });
}

function authorisedSigner(basic: BasicOCSPResponse, certs: ParsedCertificate[], check: OcspCheck): ParsedCertificate {
  const rid = basic.tbsResponseData.responderID;
  const byName = rid.byName ? new Uint8Array(AsnConvert.serialize(rid.byName)) : undefined;
  const byKey = rid.byKey ? new Uint8Array(rid.byKey.buffer) : undefined;
  // ResponderID byKey is SHA-1 of the responder's subjectPublicKey bits (RFC 6960 §4.2.1).
  const matches = (c: ParsedCertificate) =>
    (byName !== undefined && equal(byName, c.subject)) ||
    (byKey !== undefined && equal(byKey, createHash('sha1').update(c.publicKeyBits).digest()));

  const ca = check.issuer;
  // The CA itself signs (§4.2.2.2 first case): the signature is then checked with the key we pinned, so a
  // look-alike with the CA's name fails at the signature.
  if (matches(ca)) return ca;
  const delegate = certs.find(matches);
  if (!delegate) return err('ERR_PKI_OCSP_RESPONDER', 'responder', 'OCSP responder certificate not found');
  const okDelegate =
    equal(delegate.issuer, ca.subject) &&
    signedBy(delegate, check.keys.get(ca.spki)) &&
    (delegate.extendedKeyUsage?.includes(id_kp_OCSPSigning) ?? false) &&
    !delegate.isCa &&
    check.now >= delegate.notBefore - check.skewMs &&
    check.now <= delegate.notAfter + check.skewMs;
  if (!okDelegate)
    err(
      'ERR_PKI_OCSP_RESPONDER',
      'responder',
      'OCSP responder is not authorised by the issuing CA (RFC 6960 §4.2.2.2)',
    );
  return delegate;
}

/** CertID equality by field (RFC 6960 §4.1.1): an encoder's choice about NULL parameters does not matter. */
function sameCertId(a: CertID, b: CertID): boolean {
  return (
    a.hashAlgorithm.algorithm === b.hashAlgorithm.algorithm &&
    equal(new Uint8Array(a.issuerNameHash.buffer), new Uint8Array(b.issuerNameHash.buffer)) &&
    equal(new Uint8Array(a.issuerKeyHash.buffer), new Uint8Array(b.issuerKeyHash.buffer)) &&
    equal(new Uint8Array(a.serialNumber), new Uint8Array(b.serialNumber))
  );
}
