/**
 * OCSP requests (RFC 6960 §4.1) with a nonce (RFC 8954). The CertID uses SHA-1, the hash every responder must
 * support (RFC 5019 §2.1.1).
 */
import { createHash, randomBytes } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension } from '@peculiar/asn1-x509';
import { CertID, OCSPRequest, Request, TBSRequest, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import type { ParsedCertificate } from '../certificate.ts';
import type { RevocationSubject } from '../revocation.ts';

const SHA1 = '1.3.14.3.2.26';

/** A built request and what its response must match. */
export interface OcspRequest {
  /** DER OCSPRequest, to POST as `application/ocsp-request`. */
  readonly der: Uint8Array;
  /** DER CertID, the cache key and what the SingleResponse must carry. */
  readonly certId: Uint8Array;
  /** The nonce extension's extnValue (DER OCTET STRING of the nonce), which the response must echo. */
  readonly nonce: Uint8Array;
}

/** CertID of `cert` issued by `issuer` (RFC 6960 §4.1.1): SHA-1 of the issuer Name DER and of its key bits. */
export function certIdOf(cert: Pick<RevocationSubject, 'serialBytes'>, issuer: ParsedCertificate): CertID {
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({
      algorithm: SHA1,
      parameters: null,
    }),
    issuerNameHash: new OctetString(createHash('sha1').update(issuer.subject).digest()),
    issuerKeyHash: new OctetString(createHash('sha1').update(issuer.publicKeyBits).digest()),
    serialNumber: new Uint8Array(cert.serialBytes).buffer,
  });
}

/**
 * Builds a request for one certificate with a fresh 32-byte nonce (RFC 8954 §2.1: 1..32 octets).
 *
 * @example
 * ```ts
 * const req = buildOcspRequest(cert, issuer);
 * await fetch(url, { method: 'POST', body: req.der, headers: { 'content-type': 'application/ocsp-request' } });
 * ```
 */
export function buildOcspRequest(
  cert: Pick<RevocationSubject, 'serialBytes'>,
  issuer: ParsedCertificate,
  nonceBytes: Uint8Array = randomBytes(32),
): OcspRequest {
  const certId = certIdOf(cert, issuer);
  const nonce = new Uint8Array(AsnConvert.serialize(new OctetString(nonceBytes)));
  const req = new OCSPRequest({
    tbsRequest: new TBSRequest({
      requestList: [new Request({ reqCert: certId })],
      requestExtensions: [
        new Extension({
          extnID: id_pkix_ocsp_nonce,
          critical: false,
          extnValue: new OctetString(nonce),
        }),
      ],
    }),
  });
  return Object.freeze({
    der: new Uint8Array(AsnConvert.serialize(req)),
    certId: new Uint8Array(AsnConvert.serialize(certId)),
    nonce,
  });
}
