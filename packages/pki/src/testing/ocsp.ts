/**
 * An RFC 6960 OCSP responder over the test JPKI's records. It answers for one CA: `good`, `revoked` (time and
 * reason) or `unknown` per CertID, signs a BasicOCSPResponse with the CA key or a delegated responder key, names
 * the responder by key hash, echoes the nonce, and answers `malformedRequest` to anything it cannot parse.
 */
import { createHash, sign as rsaSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  BasicOCSPResponse,
  CertStatus,
  KeyHash,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import type { CertID } from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier, Certificate, CRLReason } from '@peculiar/asn1-x509';
import { ab, canonicalSerial, der, keyHash } from './lib/der.ts';
import { wholeSeconds } from './lib/time.ts';
import { REASON_CODES } from './store.ts';
import type { RevocationReason } from './store.ts';

/** The status of one certificate at a time, as the responder reports it. */
export type CertificateStatus =
  | { readonly status: 'good' }
  | { readonly status: 'revoked'; readonly revokedAt: Date; readonly reason: RevocationReason }
  | { readonly status: 'unknown' };

/** Who signs responses: the CA itself, or a delegated responder certificate it issued (RFC 6960 §4.2.2.2). */
export interface OcspSigner {
  /** The signer's certificate, DER; included in `certs` so a client can find and check it. */
  readonly cert: Uint8Array;
  readonly spki: Uint8Array;
  readonly privateKey: KeyObject;
}

/** What a response needs. */
export interface OcspResponderContext {
  /** The issuing CA's Name (DER) and SubjectPublicKeyInfo (DER), to match CertIDs (RFC 6960 §4.1.1). */
  readonly issuerName: Uint8Array;
  readonly issuerSpki: Uint8Array;
  readonly signer: OcspSigner;
  /** Status of a serial (canonical hex) issued by this CA, at `now`. */
  readonly lookup: (serial: string, now: Date) => CertificateStatus;
  readonly now: Date;
  /** Seconds from thisUpdate to nextUpdate. */
  readonly nextUpdateSeconds: number;
}

const HASHES: Readonly<Record<string, 'sha1' | 'sha256' | 'sha384' | 'sha512'>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const DER_NULL = new Uint8Array([0x05, 0x00]);

/** The DER of an OCSPResponse with only an error status (RFC 6960 §4.2.1: no responseBytes). */
export function ocspErrorResponse(status: OCSPResponseStatus): Uint8Array {
  return der(new OCSPResponse({ responseStatus: status }));
}

/**
 * Answers one DER OCSPRequest with a DER OCSPResponse. Never throws for a bad request: it answers
 * `malformedRequest` (RFC 6960 §2.3).
 */
export function respondOcsp(request: Uint8Array, ctx: OcspResponderContext): Uint8Array {
  let req: OCSPRequest;
  try {
    req = AsnConvert.parse(request, OCSPRequest);
  } catch {
    return ocspErrorResponse(OCSPResponseStatus.malformedRequest);
  }
  const list = req.tbsRequest.requestList;
  if (list.length === 0) return ocspErrorResponse(OCSPResponseStatus.malformedRequest);

  const now = wholeSeconds(ctx.now);
  const nextUpdate = new Date(now.getTime() + ctx.nextUpdateSeconds * 1000);
  const responses = list.map(
    (r) =>
      new SingleResponse({
        certID: r.reqCert,
        certStatus: certStatus(statusOf(r.reqCert, ctx, now)),
        thisUpdate: now,
        nextUpdate,
      }),
  );
  // RFC 6960 §4.4.1 / RFC 8954: the nonce comes back unchanged.
  const nonce = req.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(ab(keyHash(ctx.signer.spki))) }),
    producedAt: now,
    responses,
    ...(nonce ? { responseExtensions: [nonce] } : {}),
  });
  const tbs = der(data);
  const signature = rsaSign('sha256', tbs, ctx.signer.privateKey);
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: SHA256_WITH_RSA, parameters: ab(DER_NULL) }),
    signature: ab(new Uint8Array(signature)),
    certs: [AsnConvert.parse(ctx.signer.cert, Certificate)],
  });
  return der(
    new OCSPResponse({
      responseStatus: OCSPResponseStatus.successful,
      responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(ab(der(basic))) }),
    }),
  );
}

/** RFC 6960 §4.1.1: a CertID names our CA when both hashes match under its hash algorithm; otherwise `unknown`. */
function statusOf(id: CertID, ctx: OcspResponderContext, now: Date): CertificateStatus {
  const alg = HASHES[id.hashAlgorithm.algorithm];
  if (!alg) return { status: 'unknown' };
  const nameHash = createHash(alg).update(ctx.issuerName).digest();
  if (!nameHash.equals(new Uint8Array(id.issuerNameHash.buffer))) return { status: 'unknown' };
  if (!Buffer.from(keyHash(ctx.issuerSpki, alg)).equals(new Uint8Array(id.issuerKeyHash.buffer))) {
    return { status: 'unknown' };
  }
  const serialHex = Buffer.from(id.serialNumber).toString('hex');
  if (serialHex === '' || (new Uint8Array(id.serialNumber)[0]! & 0x80) !== 0) return { status: 'unknown' };
  return ctx.lookup(canonicalSerial(serialHex), now);
}

function certStatus(s: CertificateStatus): CertStatus {
  switch (s.status) {
    case 'good':
      return new CertStatus({ good: null });
    case 'unknown':
      return new CertStatus({ unknown: null });
    case 'revoked':
      return new CertStatus({
        revoked: new RevokedInfo({
          revocationTime: wholeSeconds(s.revokedAt),
          revocationReason: new CRLReason(REASON_CODES[s.reason]),
        }),
      });
  }
}
