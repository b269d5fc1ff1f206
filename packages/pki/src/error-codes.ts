/**
 * Every error code the trust core throws, with the one-line description the docs print (fastify's registry, kept in
 * sync with the source by `test/error-codes.test.ts`). One place to look a code up; the classes that carry them
 * are in `errors.ts` and `crl/errors.ts`.
 */
import { CRL_ERROR_CODES } from './crl/errors.ts';

/**
 * Code → one-line description, for every `ERR_PKI_*` code thrown by `@mynagate/pki` (the CRL codes included).
 *
 * @example
 * ```ts
 * if (isMynaGateError(e) && e.code in PKI_ERROR_CODES) log.warn(PKI_ERROR_CODES[e.code as PkiErrorCode]);
 * ```
 */
export const PKI_ERROR_CODES = Object.freeze({
  // The CRL reader and source (crl/errors.ts); ERR_PKI_REVOCATION_UNKNOWN is described once, below, for every source.
  ...CRL_ERROR_CODES,
  // TokenInvalidError
  ERR_PKI_TOKEN_MALFORMED:
    'The login token is not exactly the format: length, JSON, duplicate names, missing members, or non-canonical base64.',
  ERR_PKI_TOKEN_FORMAT: 'The token format is not web-eid:1 or web-eid:1.N.',
  ERR_PKI_TOKEN_ALGORITHM: 'The token algorithm is not on the allow-list (RS256).',
  ERR_PKI_TOKEN_ORIGIN: 'The origin is not exactly https://host[:port] (or an allowed loopback http origin).',
  ERR_PKI_TOKEN_SIGNATURE: 'The token signature does not verify over SHA-256(origin) ‖ SHA-256(challenge).',
  // ChallengeError
  ERR_PKI_CHALLENGE_NOT_FOUND: 'The challenge was never issued here, or was swept after expiry.',
  ERR_PKI_CHALLENGE_EXPIRED: 'The challenge expired before the token arrived.',
  ERR_PKI_CHALLENGE_USED: 'The challenge was already consumed (replay).',
  ERR_PKI_CHALLENGE_WRONG_SESSION: 'The challenge was issued to another browser session (and is now burnt).',
  // CertificateInvalidError: the path checks (RFC 5280 §6.1, JPKI profile)
  ERR_PKI_CERT_MALFORMED: 'The certificate is not strict DER of the profile, or its public key is not RSA-2048+.',
  ERR_PKI_WRONG_CERT_KIND:
    'A signing certificate where a login certificate is due, or the reverse, or a CA certificate.',
  ERR_PKI_UNTRUSTED_ISSUER: 'No trusted CA of this kind has the certificate issuer name.',
  ERR_PKI_BAD_SIGNATURE: 'The certificate signature does not verify with any trusted CA key of that name.',
  ERR_PKI_ANCHOR_EXPIRED: 'The issuing trust anchor has expired.',
  ERR_PKI_ANCHOR_NOT_YET_VALID: 'The issuing trust anchor is not valid yet.',
  ERR_PKI_ISSUER_NOT_CA: 'The issuer lacks basicConstraints cA or keyCertSign.',
  ERR_PKI_CERT_EXPIRED: 'The certificate has expired at the verification time.',
  ERR_PKI_CERT_NOT_YET_VALID: 'The certificate is not valid yet at the verification time.',
  ERR_PKI_UNKNOWN_CRITICAL_EXTENSION: 'The certificate carries a critical extension this validator does not process.',
  ERR_PKI_KEY_USAGE: 'The certificate keyUsage is missing or not that of its kind.',
  ERR_PKI_EKU: 'The login certificate extendedKeyUsage lacks clientAuth.',
  ERR_PKI_POLICY: 'The certificate carries no allowed certificate policy of its kind.',
  // CertificateRevokedError / RevocationUnknownError
  ERR_PKI_CERT_REVOKED: 'The certificate is revoked (reason and date in the error).',
  ERR_PKI_REVOCATION_UNKNOWN:
    'Revocation status could not be established (detail: unknown, unreachable, refused, malformed, stale, future, unavailable, too_large): fail closed.',
  ERR_PKI_OCSP_MALFORMED: 'The OCSP response is not a well-formed BasicOCSPResponse.',
  ERR_PKI_OCSP_STATUS: 'The OCSP responseStatus is not successful.',
  ERR_PKI_OCSP_CERT_ID: 'The OCSP response is not about the certificate asked for.',
  ERR_PKI_OCSP_RESPONSE_COUNT: 'The OCSP response does not hold exactly one SingleResponse.',
  ERR_PKI_OCSP_RESPONDER: 'The OCSP responder is not the CA nor a delegate it authorised (RFC 6960 §4.2.2.2).',
  ERR_PKI_OCSP_SIGNATURE: 'The OCSP response signature does not verify.',
  ERR_PKI_OCSP_NONCE: 'The OCSP response nonce is missing or differs (possible replay).',
  ERR_PKI_OCSP_UNKNOWN_CRITICAL_EXTENSION:
    'The OCSP response carries a critical extension this validator does not process (RFC 6960 §4.4).',
  // IdentityError, StatementError, LinksUnavailableError
  ERR_PKI_IDENTITY_MALFORMED: 'The signing certificate does not carry a well-formed basic-4 identity.',
  ERR_PKI_STATEMENT_MALFORMED: 'The statement is not canonical.',
  ERR_PKI_STATEMENT_SIGNATURE: 'The statement signature does not verify with the signing certificate.',
  ERR_PKI_LINKS_UNAVAILABLE:
    'The serial-linking source cannot answer (detail: unreachable, retry later; refused, malformed, too_large, unknown).',
} as const);

/** A code of {@link PKI_ERROR_CODES}. */
export type PkiErrorCode = keyof typeof PKI_ERROR_CODES;
