/** Errors of the test JPKI. Each is one decision a caller makes; fields carry what it needs. */
import { MynaGateError } from '@mynagate/errors';

/** `ERR_TESTJPKI_EXISTS`: `init` found a test JPKI already in the directory; use `open` instead. */
export class TestJpkiExistsError extends MynaGateError {
  readonly dir: string;
  constructor(dir: string) {
    super('ERR_TESTJPKI_EXISTS', 'the directory already holds a test JPKI');
    this.dir = dir;
  }
}

/** `ERR_TESTJPKI_NOT_FOUND`: `open` found no test JPKI in the directory; create one with `init`. */
export class TestJpkiNotFoundError extends MynaGateError {
  readonly dir: string;
  constructor(dir: string, options?: ErrorOptions) {
    super('ERR_TESTJPKI_NOT_FOUND', 'no test JPKI in the directory', options);
    this.dir = dir;
  }
}

/** `ERR_TESTJPKI_UNKNOWN_SERIAL`: no certificate with this serial was issued by this test JPKI. */
export class TestJpkiUnknownSerialError extends MynaGateError {
  readonly serial: string;
  constructor(serial: string) {
    super('ERR_TESTJPKI_UNKNOWN_SERIAL', 'no certificate with that serial was issued here');
    this.serial = serial;
  }
}

/** `ERR_TESTJPKI_ALREADY_REVOKED`: the certificate is already revoked; its revocation is unchanged. */
export class TestJpkiAlreadyRevokedError extends MynaGateError {
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: string;
  constructor(serial: string, revokedAt: Date, reason: string) {
    super('ERR_TESTJPKI_ALREADY_REVOKED', 'the certificate is already revoked');
    this.serial = serial;
    this.revokedAt = revokedAt;
    this.reason = reason;
  }
}

/** `ERR_TESTJPKI_ALREADY_RENEWED`: the certificates were already renewed; `successor` is the newer auth serial. */
export class TestJpkiAlreadyRenewedError extends MynaGateError {
  readonly serial: string;
  readonly successor: string;
  constructor(serial: string, successor: string) {
    super('ERR_TESTJPKI_ALREADY_RENEWED', 'the certificates were already renewed');
    this.serial = serial;
    this.successor = successor;
  }
}

/** `ERR_TESTJPKI_UNKNOWN_PARTITION`: no card was issued in this municipality, so it has no CRL partition here. */
export class TestJpkiUnknownPartitionError extends MynaGateError {
  readonly prefecture: string;
  readonly city: string;
  constructor(where: { readonly prefecture: string; readonly city: string }) {
    super('ERR_TESTJPKI_UNKNOWN_PARTITION', 'no card was issued in that municipality');
    this.prefecture = where.prefecture;
    this.city = where.city;
  }
}

/**
 * `ERR_TESTJPKI_INCOMPLETE`: the directory holds CA files but no `store.json`, what an interrupted `init` leaves.
 * Nothing was issued from it; `init` on the same directory replaces it.
 */
export class TestJpkiIncompleteError extends MynaGateError {
  readonly dir: string;
  constructor(dir: string, options?: ErrorOptions) {
    super(
      'ERR_TESTJPKI_INCOMPLETE',
      `${dir} holds an unfinished test JPKI (an interrupted init); run init on it again to replace it`,
      options,
    );
    this.dir = dir;
  }
}

/**
 * `ERR_TESTJPKI_DAMAGED`: a file of the test JPKI (a CA key or certificate, `store.json`) is missing, cut short or
 * corrupt; `path` names it.
 */
export class TestJpkiDamagedError extends MynaGateError {
  readonly path: string;
  constructor(path: string, problem: string, options?: ErrorOptions) {
    super('ERR_TESTJPKI_DAMAGED', `the test JPKI file ${path} is damaged: ${problem}`, options);
    this.path = path;
  }
}

/**
 * `ERR_TESTJPKI_LOCKED`: another process held the test JPKI's lock file longer than the wait. `pid` is the holder
 * the file names (undefined when it names none yet).
 */
export class TestJpkiLockedError extends MynaGateError {
  readonly path: string;
  readonly pid: number | undefined;
  constructor(path: string, pid: number | undefined) {
    super(
      'ERR_TESTJPKI_LOCKED',
      `${path} is held by ${pid === undefined ? 'another process' : `process ${pid}`}; if no test JPKI command is running, remove the file`,
    );
    this.path = path;
    this.pid = pid;
  }
}

/**
 * `ERR_TESTJPKI_INVALID_INPUT`: a field of a new card breaks its rule (holder data, PIN, password), or a certificate to
 * renew is not DER; `field` names it as the options do (`birthDate`, `pin`, `authCert`…). This is data a person may
 * have typed (`mynagate card issue`); a value of the wrong type is a programmer's mistake and stays a `TypeError`. The
 * message names the field and the rule, never the value: it may be a PIN or personal data.
 */
export class TestJpkiInvalidInputError extends MynaGateError {
  readonly field: string;
  constructor(field: string, rule: string) {
    super('ERR_TESTJPKI_INVALID_INPUT', `${field} ${rule}`);
    this.field = field;
  }
}

/** Every code the test JPKI throws, with what it means: the registry docs/errors.md is checked against. */
export const TESTJPKI_ERROR_CODES = Object.freeze({
  ERR_TESTJPKI_EXISTS: 'The directory already holds a test JPKI; open it instead of creating one.',
  ERR_TESTJPKI_NOT_FOUND: 'No test JPKI in the directory; create one with `mynagate ca init`.',
  ERR_TESTJPKI_UNKNOWN_SERIAL: 'No certificate with this serial was issued by this test JPKI.',
  ERR_TESTJPKI_UNKNOWN_PARTITION:
    'No card was issued in this municipality, so the test JPKI has no CRL partition for it (see `crlPartitions`).',
  ERR_TESTJPKI_ALREADY_REVOKED: 'The certificate is already revoked; its revocation is unchanged.',
  ERR_TESTJPKI_ALREADY_RENEWED: 'The certificates were already renewed; renew the successor instead.',
  ERR_TESTJPKI_INCOMPLETE:
    'The directory holds CA files but no `store.json`, what an interrupted `mynagate ca init` leaves; run `mynagate ca init` on it again.',
  ERR_TESTJPKI_DAMAGED:
    'A file of the test JPKI (a CA key or certificate, `store.json`) is missing, cut short or corrupt; the message names it. Restore it from a copy, or start a new test JPKI.',
  ERR_TESTJPKI_INVALID_INPUT:
    'A field of a new card breaks its rule: name or address empty or too long, an address that starts with no prefecture, a birth date that does not exist or lies after the issue date, an unknown sex or profile, a PIN not 4 digits, a password not 6–16 of A–Z and 0–9 with a letter and a digit; or a certificate to renew that is not DER (a damaged card file). The message names the field (`field`), never its value.',
  ERR_TESTJPKI_LOCKED:
    'Another process held the test JPKI lock (`store.json.lock`, which names its process id) for longer than the wait; if no such process runs, remove the file.',
});
