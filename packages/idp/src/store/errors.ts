/**
 * The storage errors: one class per decision a caller makes, each with a stable `code`. Programmer misuse (a bad
 * option, a malformed fingerprint) is a `TypeError` instead.
 */
import { MynaGateError } from '@mynagate/errors';

/** Every store error code with the one-line description the docs print. */
export const STORE_ERROR_CODES = Object.freeze({
  ERR_STORE_UNAVAILABLE:
    'The database or Redis cannot be reached or is busy; retry later (HTTP 503). For PostgreSQL the message says why (`connection refused: …`, a timeout, a SQLSTATE of class 08, 40, 53 or 57P).',
  ERR_STORE_FAILED:
    "The database rejected an operation for another reason (HTTP 500). For PostgreSQL the message names the SQLSTATE, and PostgreSQL's own message when it cannot quote a row (`SQLSTATE 3D000: database … does not exist`); `cause` is the driver's error.",
  ERR_STORE_SCHEMA: 'The database schema is newer than this code; refuse to run rather than corrupt it.',
  ERR_STORE_MISSING:
    "The store to open (`existing`) is not there, or not at this version's schema: commands that only read it (audit) never create or migrate one.",
  ERR_STORE_CLOSED: 'The store was closed.',
  ERR_STORE_NOT_FOUND: 'The person or credential the operation needs does not exist.',
  ERR_STORE_CONFLICT: 'The certificate is already registered to another person.',
  ERR_STORE_ALREADY_CONSUMED: 'The code or token was consumed already (a concurrent or replayed redemption).',
  ERR_STORE_GONE:
    'An entry this node had just written, and answered from memory, was gone when the next step came to delete it (deleted, expired or taken by another node meanwhile); fail that step.',
  ERR_STORE_AUDIT_CHAIN: 'The audit hash chain is broken at `seq`: a row was altered, removed or inserted.',
  ERR_STORE_AUDIT_ANCHOR:
    'An audit anchor is not signed by this provider, or the audit no longer holds the row it names (cut or recomputed).',
} as const);

/** A code of {@link STORE_ERROR_CODES}. */
export type StoreErrorCode = keyof typeof STORE_ERROR_CODES;

/** `ERR_STORE_UNAVAILABLE`: connection refused, lost, timed out, or SQLite busy past `busy_timeout`. */
export class StoreUnavailableError extends MynaGateError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_STORE_UNAVAILABLE', message, options);
  }
}

/**
 * `ERR_STORE_FAILED`: any other database error; the original is the `cause`. The message says what the database
 * said, never a row's values (PostgreSQL: `describePostgresError`).
 */
export class StoreFailedError extends MynaGateError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_STORE_FAILED', message, options);
  }
}

/** `ERR_STORE_SCHEMA`: the database was migrated by a newer version (`found` > `supported`). */
export class StoreSchemaError extends MynaGateError {
  readonly found: number;
  readonly supported: number;
  constructor(found: number, supported: number) {
    super('ERR_STORE_SCHEMA', `database schema version ${found} is newer than supported ${supported}`);
    this.found = found;
    this.supported = supported;
  }
}

/**
 * `ERR_STORE_MISSING`: a store opened with `existing` is not there (no file, no schema), or is at an older schema
 * version, which opening would migrate.
 */
export class StoreMissingError extends MynaGateError {
  constructor(message: string) {
    super('ERR_STORE_MISSING', message);
  }
}

/** `ERR_STORE_CLOSED`: an operation after `close()`. */
export class StoreClosedError extends MynaGateError {
  constructor() {
    super('ERR_STORE_CLOSED', 'store is closed');
  }
}

/** `ERR_STORE_NOT_FOUND`: the person or credential (`what`) does not exist. */
export class StoreNotFoundError extends MynaGateError {
  readonly what: 'person' | 'credential';
  constructor(what: 'person' | 'credential') {
    super('ERR_STORE_NOT_FOUND', `${what} not found`);
    this.what = what;
  }
}

/** `ERR_STORE_CONFLICT`: the certificate belongs to another person; one card is one person. */
export class StoreConflictError extends MynaGateError {
  constructor() {
    super('ERR_STORE_CONFLICT', 'certificate is registered to another person');
  }
}

/** `ERR_STORE_ALREADY_CONSUMED`: a second `consume` of the same `model` entry; fail the redemption. */
export class StoreAlreadyConsumedError extends MynaGateError {
  readonly model: string;
  constructor(model: string) {
    super('ERR_STORE_ALREADY_CONSUMED', `${model} already consumed`);
    this.model = model;
  }
}

/** `ERR_STORE_GONE`: the `model` entry this node answered from memory no longer existed (see `answerRecentWrites`). */
export class StoreGoneError extends MynaGateError {
  readonly model: string;
  constructor(model: string) {
    super('ERR_STORE_GONE', `${model} no longer exists`);
    this.model = model;
  }
}

/** `ERR_STORE_AUDIT_CHAIN`: the first audit row (`seq`) whose `prevHash` or `hash` does not recompute. */
export class StoreAuditChainError extends MynaGateError {
  readonly seq: number;
  constructor(seq: number) {
    super('ERR_STORE_AUDIT_CHAIN', `audit chain broken at seq ${seq}`);
    this.seq = seq;
  }
}

/** `ERR_STORE_AUDIT_ANCHOR`: an audit anchor that is not ours, or that the audit chain no longer holds. */
export class StoreAuditAnchorError extends MynaGateError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_STORE_AUDIT_ANCHOR', message, options);
  }
}
