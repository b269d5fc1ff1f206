/**
 * `@mynagate/pki`: the server-side trust core. Card login tokens (Web eID `web-eid:1.x`), JPKI path validation as
 * named checks, revocation (OCSP, platform API, CRL) failing closed, basic-4 identity and age, signed statements.
 * The test JPKI lives in `@mynagate/pki/testing`, never here.
 */
export { createVerifier } from './verifier.ts';
export type {
  LoginContext,
  LoginResult,
  SignedStatement,
  SigningStatus,
  StatementResult,
  VerifiedCertificate,
  Verifier,
  VerifierOptions,
} from './verifier.ts';

export { signingCertificateRef } from './certificate-ref.ts';
export type { SigningCertificateRef } from './certificate-ref.ts';
export { loadTrustDir, parseAnchors, pemOrDer } from './anchors.ts';
export type { CertKind, ParsedAnchors, TrustAnchors } from './anchors.ts';
export { commonName, EXT, nameToString, parseCertificate } from './certificate.ts';
export type { CertificateExtension, KeyUsage, ParsedCertificate } from './certificate.ts';

export { DEFAULT_CHALLENGE_TTL_MS, MemoryChallengeStore, newChallenge } from './challenge.ts';
export type { Challenge, ChallengeStore } from './challenge.ts';
export { checkOrigin, isLoopbackHost } from './origin.ts';
export { BoundedMap } from './bounded-map.ts';
export { BodyTooLargeError, readBodyLimited } from './http-body.ts';
export { createAuthToken } from './token/create.ts';
export type { CreateAuthTokenOptions } from './token/create.ts';
export { parseAuthToken, strictBase64 } from './token/parse.ts';
export {
  TOKEN_FORMAT,
  TOKEN_FORMAT_PATTERN,
  TOKEN_ALGORITHMS,
  TOKEN_MAX_LENGTH,
  TOKEN_MIN_LENGTH,
} from './token/format.ts';
export type { AuthToken, AuthTokenJson } from './token/format.ts';
export { authSignedData } from './token/signed-data.ts';
export { digestInfoOfSha256Hash, sha256DigestInfo } from './digest-info.ts';

export { ID_KP_CLIENT_AUTH, JPKI_POLICIES, KNOWN_EXTENSIONS, pathChecks } from './path/checks.ts';
export type { PathCheck, PathContext } from './path/checks.ts';
export { validatePath } from './path/validate.ts';
export type { PathOptions, ValidatedPath } from './path/validate.ts';

export { checkRevocation, CRL_REASONS, firstAnswer } from './revocation.ts';
export type { RevocationSource, RevocationStatus, RevocationSubject } from './revocation.ts';
export { crlRevocation } from './crl/revocation.ts';
export { CrlSource } from './crl/source.ts';
export type { CrlSourceOptions, CrlStatus, CrlStatusOptions } from './crl/source.ts';
export { crlFiles, DEFAULT_CRL_FILES_INTERVAL_MS } from './crl/files.ts';
export type { CrlFiles, CrlFilesOptions } from './crl/files.ts';
export { DEFAULT_CRL_SKEW_MS, loadCrl } from './crl/load.ts';
export type { LoadCrlOptions } from './crl/load.ts';
export { CrlIndex } from './crl/index.ts';
export type { CrlEntryView, CrlLookup, CrlReason, SerialInput } from './crl/index.ts';
export type { CrlScope } from './crl/extensions.ts';
export type { IssuerCertificate } from './crl/issuer.ts';
export { ocspSource } from './ocsp/source.ts';
export type { OcspSourceOptions } from './ocsp/source.ts';
export { buildOcspRequest, certIdOf } from './ocsp/request.ts';
export type { OcspRequest } from './ocsp/request.ts';
export { checkOcspResponse } from './ocsp/response.ts';
export type { OcspAnswer, OcspCheck } from './ocsp/response.ts';
export { platformLinks, platformSource } from './platform.ts';
export type { CertRef, LinkingSource, PlatformOptions, SerialLinks } from './platform.ts';

export { ageAt, ageOver, basic4Claims, basic4FromCertificate, BASIC4_OIDS } from './identity.ts';
export type { Basic4Claims, Basic4Identity } from './identity.ts';
export { canonicalJson, statementBytes, statementDigestInfo, statementHash } from './statement.ts';
export type { SignatureEvidence, Statement } from './statement.ts';

export { PKI_ERROR_CODES } from './error-codes.ts';
export type { PkiErrorCode } from './error-codes.ts';
export {
  CrlBadSignatureError,
  CrlExpiredError,
  CrlFileError,
  CrlIssuerNotCrlSignerError,
  CrlMalformedError,
  CrlNotYetValidError,
  CrlRollbackError,
  CrlUnknownCriticalExtensionError,
  CrlUnsupportedError,
  CrlWrongIssuerError,
  CRL_ERROR_CODES,
} from './crl/errors.ts';
export type { CrlErrorCode } from './crl/errors.ts';
export {
  CertificateInvalidError,
  CertificateRevokedError,
  ChallengeError,
  IdentityError,
  LinksUnavailableError,
  RevocationUnknownError,
  StatementError,
  TokenInvalidError,
} from './errors.ts';
