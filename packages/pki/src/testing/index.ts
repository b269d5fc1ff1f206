/**
 * `@mynagate/pki/testing`: a test JPKI for development and tests. Two self-signed CAs shaped like J-LIS's but
 * named TEST, card issuance producing virtual-card specs, revocation, renewal links, CRLs, an OCSP responder and an
 * HTTP server. Never use it outside tests; relying parties pin these CAs only in the test environment.
 */
export { TestJpki } from './test-jpki.ts';
export type {
  IssueCardOptions,
  IssuedCard,
  RenewedCard,
  RenewOptions,
  SerialLinks,
  TestJpkiInitOptions,
  TestJpkiOpenOptions,
} from './test-jpki.ts';
export { checkHolder } from './holder.ts';
export type { CardHolder } from './holder.ts';
export { serveTestJpki } from './server.ts';
export { syncDir, writeFileAtomic } from './lib/fs.ts';
export type { ServeTestJpkiOptions, TestJpkiServer } from './server.ts';
export { createKeyPool, freshKeys, generateRsaKeyPair } from './keys.ts';
export type { KeyPair, KeySource } from './keys.ts';
export {
  TestJpkiAlreadyRenewedError,
  TestJpkiAlreadyRevokedError,
  TestJpkiDamagedError,
  TestJpkiExistsError,
  TestJpkiIncompleteError,
  TestJpkiInvalidInputError,
  TestJpkiLockedError,
  TestJpkiNotFoundError,
  TestJpkiUnknownPartitionError,
  TestJpkiUnknownSerialError,
  TESTJPKI_ERROR_CODES,
} from './errors.ts';
export {
  certificateBirthDate,
  certificateSex,
  eraCode,
  substitute,
  JPKI_PERSONAL_DATA_OIDS,
  SUBSTITUTE_CHAR,
} from './basic4.ts';
export { municipalityOf } from './municipality.ts';
export type { Municipality } from './municipality.ts';
export { POLICY_AUTH, POLICY_SIGN, TEST_ORGANIZATION } from './profiles.ts';
export type { CaKind } from './profiles.ts';
export type { CertificateStatus } from './ocsp.ts';
export type { CardRecord, CertificateRecord, LinkRecord, RevocationReason } from './store.ts';
