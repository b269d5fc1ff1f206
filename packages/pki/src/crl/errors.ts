/**
 * The CRL errors: one class per decision a caller makes, each with a stable `code`. A rejected CRL is never used;
 * the caller keeps its previous CRL (see `CrlSource.refresh`) or fails closed.
 */
import { MynaGateError } from '@mynagate/errors';

/** Every CRL error code with the one-line description the docs print. */
export const CRL_ERROR_CODES = Object.freeze({
  ERR_PKI_CRL_MALFORMED: 'The CRL is not strict DER of the RFC 5280 §5.1 CertificateList; `detail` says where.',
  ERR_PKI_CRL_UNSUPPORTED:
    'The CRL is well formed but uses something not supported (`detail`): not v2, another signature algorithm, an indirect or partial-reasons CRL.',
  ERR_PKI_CRL_WRONG_ISSUER: "The CRL's issuer name is not the issuer certificate's subject (RFC 5280 §5.1.2.3).",
  ERR_PKI_CRL_ISSUER_NOT_CRL_SIGNER: "The issuer certificate's key usage lacks cRLSign (RFC 5280 §4.2.1.3).",
  ERR_PKI_CRL_BAD_SIGNATURE:
    "The CRL's signature does not verify with the issuer certificate's public key (RFC 5280 §5.1.1.3).",
  ERR_PKI_CRL_NOT_YET_VALID: 'The CRL thisUpdate is later than now plus the allowed clock skew.',
  ERR_PKI_CRL_EXPIRED: 'The CRL has no nextUpdate, its nextUpdate has passed, or it is older than maxAgeMs.',
  ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION:
    'The CRL or one of its entries carries a critical extension this reader does not process (RFC 5280 §5.2, §5.3).',
  ERR_PKI_CRL_ROLLBACK: 'A refresh offered a CRL older than the one held (lower cRLNumber or earlier thisUpdate).',
  ERR_PKI_CRL_FILE:
    'A CRL file could not be read or its CRL was refused when `crlFiles` started; `file` names it and `cause` (with its own code) says why.',
  ERR_PKI_REVOCATION_UNKNOWN:
    'No current CRL covers this certificate, so its status is unknown and the check fails closed (thrown as the one `RevocationUnknownError`, source `crl`).',
} as const);

/** A code of {@link CRL_ERROR_CODES}. */
export type CrlErrorCode = keyof typeof CRL_ERROR_CODES;

/** `ERR_PKI_CRL_MALFORMED`: a DER or RFC 5280 §5.1 structure error at byte `offset`. */
export class CrlMalformedError extends MynaGateError {
  /** A stable short description of the broken rule, e.g. `indefinite length`, `expected INTEGER`. */
  readonly detail: string;
  /** Byte offset in the CRL DER where the problem was found. */
  readonly offset: number;
  constructor(detail: string, offset: number) {
    super('ERR_PKI_CRL_MALFORMED', `malformed CRL: ${detail} at byte ${offset}`);
    this.detail = detail;
    this.offset = offset;
  }
}

/** `ERR_PKI_CRL_UNSUPPORTED`: a valid CRL feature this reader refuses rather than misread. */
export class CrlUnsupportedError extends MynaGateError {
  /** What is unsupported: `version`, `signature algorithm`, `algorithm mismatch`, `indirect CRL`, … */
  readonly detail: string;
  constructor(detail: string) {
    super('ERR_PKI_CRL_UNSUPPORTED', `unsupported CRL: ${detail}`);
    this.detail = detail;
  }
}

/** `ERR_PKI_CRL_WRONG_ISSUER`: the CRL names another issuer than the certificate given to check it. */
export class CrlWrongIssuerError extends MynaGateError {
  constructor() {
    super('ERR_PKI_CRL_WRONG_ISSUER', "the CRL issuer is not the issuer certificate's subject");
  }
}

/** `ERR_PKI_CRL_ISSUER_NOT_CRL_SIGNER`: the issuer certificate may not sign CRLs. */
export class CrlIssuerNotCrlSignerError extends MynaGateError {
  constructor() {
    super('ERR_PKI_CRL_ISSUER_NOT_CRL_SIGNER', 'the issuer certificate key usage does not include cRLSign');
  }
}

/** `ERR_PKI_CRL_BAD_SIGNATURE`: the signature over tbsCertList does not verify. */
export class CrlBadSignatureError extends MynaGateError {
  constructor() {
    super('ERR_PKI_CRL_BAD_SIGNATURE', 'the CRL signature does not verify with the issuer public key');
  }
}

/** `ERR_PKI_CRL_NOT_YET_VALID`: thisUpdate lies in the future beyond the allowed skew. */
export class CrlNotYetValidError extends MynaGateError {
  readonly thisUpdate: Date;
  constructor(thisUpdate: Date) {
    super('ERR_PKI_CRL_NOT_YET_VALID', `the CRL is not valid before ${thisUpdate.toISOString()}`);
    this.thisUpdate = thisUpdate;
  }
}

/** `ERR_PKI_CRL_EXPIRED`: the CRL is stale, or cannot say until when it is fresh. */
export class CrlExpiredError extends MynaGateError {
  /** The CRL's nextUpdate, `null` when the CRL has none. */
  readonly nextUpdate: Date | null;
  constructor(nextUpdate: Date | null, why: string) {
    super('ERR_PKI_CRL_EXPIRED', `the CRL is stale: ${why}`);
    this.nextUpdate = nextUpdate;
  }
}

/** `ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION`: a critical extension we cannot process, so the CRL is not used. */
export class CrlUnknownCriticalExtensionError extends MynaGateError {
  /** The extension's OID in dotted form. */
  readonly oid: string;
  /** `true` for a crlEntryExtension (RFC 5280 §5.3), `false` for a crlExtension (§5.2). */
  readonly entry: boolean;
  constructor(oid: string, entry: boolean) {
    super('ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION', `unknown critical ${entry ? 'CRL entry' : 'CRL'} extension ${oid}`);
    this.oid = oid;
    this.entry = entry;
  }
}

/** `ERR_PKI_CRL_ROLLBACK`: a refresh offered an older CRL than the one held; the held one stays. */
export class CrlRollbackError extends MynaGateError {
  constructor(why: string) {
    super('ERR_PKI_CRL_ROLLBACK', `the offered CRL is older than the current one: ${why}`);
  }
}

/**
 * `ERR_PKI_CRL_FILE`: a CRL file `crlFiles` must load at start could not be read, or its CRL was refused. `cause`
 * is why, with its own code (`ERR_PKI_CRL_MALFORMED`, `ERR_PKI_CRL_EXPIRED`, a system error's `ENOENT`, …).
 */
export class CrlFileError extends MynaGateError {
  /** The file, as it was named in `files`. */
  readonly file: string;
  constructor(file: string, cause: unknown) {
    super('ERR_PKI_CRL_FILE', `${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.file = file;
  }
}
