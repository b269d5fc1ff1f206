/**
 * A signing certificate named without its bytes: its CA, its serial, when it ends and where its CA answers OCSP.
 * What a verified identity keeps so that its certificate's revocation can be asked again
 * (`Verifier.signingStatus`) without keeping the certificate, which carries the whole basic-4.
 */
import { parseCertificate } from './certificate.ts';
import { RevocationUnknownError } from './errors.ts';
import type { RevocationSubject } from './revocation.ts';
import type { VerifiedCertificate } from './verifier.ts';

/**
 * A certificate by reference: JSON as it is (a store keeps it as given). Nothing in it is personal: the CA's
 * fingerprint, a serial (already in the signature evidence), a date and the CA's responder URLs. Its
 * cRLDistributionPoints are left out on purpose: those of a JPKI signing certificate name the holder's municipality
 * (spec §8.2), part of the address, which an identity keeps only when the signed claims release it.
 */
export interface SigningCertificateRef {
  /** SHA-256 of the issuing CA's certificate, lower-case hex (`VerifiedCertificate.issuerFingerprint`). */
  readonly issuerFingerprint: string;
  /** Canonical lower-case hex (`VerifiedCertificate.serialNumber`). */
  readonly serialNumber: string;
  /** ISO 8601: the certificate's notAfter. */
  readonly notAfter: string;
  /** Its OCSP URLs (AuthorityInformationAccess), for an OCSP source that asks where the certificate says. */
  readonly ocspUrls: readonly string[];
}

/**
 * The reference of a verified signing certificate, to keep in its place.
 *
 * @throws TypeError when `certificate` is not of kind `sign`.
 * @example
 * ```ts
 * const { certificate } = await verifier.verifyStatement(signed);
 * const ref = signingCertificateRef(certificate); // later: await verifier.signingStatus(ref)
 * ```
 */
export function signingCertificateRef(certificate: VerifiedCertificate): SigningCertificateRef {
  if (certificate?.kind !== 'sign') throw new TypeError('a signing certificate (kind sign) is required');
  return Object.freeze({
    issuerFingerprint: certificate.issuerFingerprint,
    serialNumber: certificate.serialNumber,
    notAfter: certificate.notAfter.toISOString(),
    ocspUrls: Object.freeze([...parseCertificate(certificate.certificate).ocspUrls]),
  });
}

/** A reference's fields, checked; what the verifier asks about. Internal. */
export interface ReadRef {
  readonly issuerFingerprint: string;
  readonly notAfter: number;
  /** The certificate as a revocation source sees it, issued by the CA whose subject is `issuerName`. */
  subject(issuerName: Uint8Array): RevocationSubject;
}

/**
 * Checks a reference's shape (it comes back from a store). Internal.
 *
 * @throws TypeError when a field is missing or malformed.
 */
export function readRef(ref: SigningCertificateRef): ReadRef {
  if (typeof ref !== 'object' || ref === null) throw new TypeError('a signing certificate reference is required');
  const { issuerFingerprint, serialNumber, notAfter, ocspUrls = [] } = ref;
  if (typeof issuerFingerprint !== 'string' || !/^[0-9a-fA-F]{64}$/.test(issuerFingerprint))
    throw new TypeError('issuerFingerprint must be a SHA-256 fingerprint (hex)');
  // RFC 5280 §4.1.2.2: at most 20 octets; canonical hex is whole octets.
  if (typeof serialNumber !== 'string' || !/^(?:[0-9a-fA-F]{2}){1,20}$/.test(serialNumber))
    throw new TypeError('serialNumber must be hex');
  const end = typeof notAfter === 'string' ? Date.parse(notAfter) : NaN;
  if (!Number.isFinite(end)) throw new TypeError('notAfter must be an ISO 8601 time');
  if (!Array.isArray(ocspUrls) || ocspUrls.some((u) => typeof u !== 'string'))
    throw new TypeError('ocspUrls must be strings');
  const serial = serialNumber.toLowerCase();
  const octets = Buffer.from(serial, 'hex');
  // The INTEGER content of a positive serial: canonical hex drops the sign octet a high first bit needs (X.690 §8.3.2).
  const serialBytes = octets[0]! & 0x80 ? new Uint8Array([0, ...octets]) : new Uint8Array(octets);
  return {
    issuerFingerprint: issuerFingerprint.toLowerCase(),
    notAfter: end,
    subject: (issuer) =>
      guarded({ serialNumber: serial, serialBytes, issuer, ocspUrls: Object.freeze([...ocspUrls]), isCa: false }),
  };
}

// What a source may read of a subject named by reference: the RevocationSubject fields (distribution points are
// not known: undefined), and what `await`, JSON and the Object prototype look up.
const READABLE = new Set(['crlDistributionPoints', 'then', 'toJSON']);

/**
 * The subject as a proxy on which reading a field it does not have (a `ParsedCertificate`'s `fingerprint`, `der`,
 * `notAfter`, …) throws `ERR_PKI_REVOCATION_UNKNOWN` (`unavailable`) instead of giving undefined: a source that
 * opted in to answering by reference but reads more fails closed rather than answering good for what it cannot see.
 */
function guarded(subject: RevocationSubject): RevocationSubject {
  return new Proxy(Object.freeze(subject), {
    get(target, key, receiver) {
      if (typeof key === 'symbol' || key in target || READABLE.has(key)) return Reflect.get(target, key, receiver);
      throw new RevocationUnknownError(
        'ERR_PKI_REVOCATION_UNKNOWN',
        'unavailable',
        'source',
        `the revocation source read ${key}, which a certificate named by reference does not have`,
      );
    },
  });
}
