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

/** Every code the test JPKI throws, with what it means: the registry docs/errors.md is checked against. */
export const TESTJPKI_ERROR_CODES = Object.freeze({
  ERR_TESTJPKI_EXISTS: 'The directory already holds a test JPKI; open it instead of creating one.',
  ERR_TESTJPKI_NOT_FOUND: 'No test JPKI in the directory; create one with `mynagate ca init`.',
  ERR_TESTJPKI_UNKNOWN_SERIAL: 'No certificate with this serial was issued by this test JPKI.',
  ERR_TESTJPKI_UNKNOWN_PARTITION:
    'No card was issued in this municipality, so the test JPKI has no CRL partition for it (see `crlPartitions`).',
  ERR_TESTJPKI_ALREADY_REVOKED: 'The certificate is already revoked; its revocation is unchanged.',
  ERR_TESTJPKI_ALREADY_RENEWED: 'The certificates were already renewed; renew the successor instead.',
});
