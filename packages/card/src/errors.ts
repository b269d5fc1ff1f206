/**
 * The card package's errors: one class per decision a caller makes, each with a stable `code`.
 *
 * Errors that come from a status word carry it as `sw` (e.g. `0x6a82`), so a log can show what the card said.
 */
import { MynaGateError } from '@mynagate/errors';

/** Every card error code with the one-line description the docs print. A test keeps this list and the classes in sync. */
export const CARD_ERROR_CODES = Object.freeze({
  ERR_CARD_PIN_INCORRECT: 'The PIN or password was wrong; `retriesLeft` tries remain before the card blocks it.',
  ERR_CARD_PIN_BLOCKED: 'The PIN or password is blocked; only the municipal office can reset it.',
  ERR_CARD_PIN_FORMAT: 'The PIN or password has the wrong format; it was not sent, so no try was spent.',
  ERR_CARD_SECURITY_STATUS: 'The card refused: the PIN or password this file or key needs is not verified (SW 6982).',
  ERR_CARD_FILE_NOT_FOUND: 'The card has no such application or file (SW 6A82).',
  ERR_CARD_WRONG_LENGTH: 'The card rejected the command length (SW 6700).',
  ERR_CARD_WRONG_PARAMETERS: 'The card rejected P1/P2, e.g. an offset past the end of a file (SW 6A86, 6B00).',
  ERR_CARD_INS_NOT_SUPPORTED: 'The card does not support this instruction (SW 6D00).',
  ERR_CARD_CLA_NOT_SUPPORTED: 'The card does not support this class byte (SW 6E00).',
  ERR_CARD_STATUS: 'The card answered with an unexpected status word (`sw`).',
  ERR_CARD_TRANSPORT_CLOSED: 'The card transport is closed.',
  ERR_CARD_NOT_JPKI: 'The card is not a My Number Card: selecting the JPKI AP or the text AP failed.',
  ERR_CARD_MALFORMED: 'The card sent a response that cannot be parsed.',
  ERR_CARD_FILE_INVALID: 'A virtual card file is unreadable, corrupt or not a MynaGate test card.',
  // PC/SC transport failures (classes in pcsc.ts).
  ERR_CARD_PCSC_UNAVAILABLE: 'The PC/SC service (pcscd) is not running or its library cannot be loaded.',
  ERR_CARD_NO_READER: 'No card reader is attached, or none has the requested name.',
  ERR_CARD_NO_CARD: 'The reader holds no card that answers.',
  ERR_CARD_TIMEOUT: 'Waiting for a card, or for its removal, ran out of time.',
  ERR_CARD_REMOVED: 'The card left the reader; its verified PINs are gone.',
  ERR_CARD_RESET: 'Another program reset the card; its verified PINs are gone.',
  ERR_CARD_IN_USE: 'Another program holds the card exclusively.',
  ERR_CARD_PCSC_FAILURE: 'Another PC/SC failure (unresponsive card, protocol mismatch, communication error).',
} as const);

/** A code of {@link CARD_ERROR_CODES}. */
export type CardErrorCode = keyof typeof CARD_ERROR_CODES;

/** Which PIN an error is about: the JPKI auth PIN, the JPKI sign password, or a text-AP (券面事項入力補助AP) PIN. */
export type PinName = 'auth' | 'sign' | 'text';

const hex = (sw: number) => sw.toString(16).toUpperCase().padStart(4, '0');

/** `ERR_CARD_PIN_INCORRECT`: a wrong PIN; the card counted a failure (SW 63Cx, x ≥ 1). */
export class CardPinIncorrectError extends MynaGateError {
  /** Tries left before the PIN blocks. */
  readonly retriesLeft: number;
  readonly sw: number;
  constructor(retriesLeft: number, sw = 0x63c0 | retriesLeft) {
    super('ERR_CARD_PIN_INCORRECT', `PIN incorrect, ${retriesLeft} tries left`);
    this.retriesLeft = retriesLeft;
    this.sw = sw;
  }
}

/** `ERR_CARD_PIN_BLOCKED`: the PIN is blocked (SW 6983, 6984, or 63C0 after the last wrong try). */
export class CardPinBlockedError extends MynaGateError {
  readonly sw: number;
  constructor(sw: number) {
    super('ERR_CARD_PIN_BLOCKED', `PIN blocked (SW ${hex(sw)})`);
    this.sw = sw;
  }
}

/** `ERR_CARD_PIN_FORMAT`: checked on the host before sending (spec §5), so a malformed PIN never costs a try. */
export class CardPinFormatError extends MynaGateError {
  /** Which PIN was malformed. The value itself is never kept. */
  readonly pin: PinName;
  constructor(pin: PinName, rule: string) {
    super('ERR_CARD_PIN_FORMAT', `${pin} PIN format: ${rule}`);
    this.pin = pin;
  }
}

/** `ERR_CARD_SECURITY_STATUS`: SW 6982, the file or key needs a PIN that is not verified (spec §4.2, §4.5). */
export class CardSecurityStatusError extends MynaGateError {
  readonly sw = 0x6982;
  constructor() {
    super('ERR_CARD_SECURITY_STATUS', 'Security status not satisfied (SW 6982)');
  }
}

/** `ERR_CARD_FILE_NOT_FOUND`: SW 6A82, no such AP or EF. */
export class CardFileNotFoundError extends MynaGateError {
  readonly sw = 0x6a82;
  constructor() {
    super('ERR_CARD_FILE_NOT_FOUND', 'File or application not found (SW 6A82)');
  }
}

/** `ERR_CARD_WRONG_LENGTH`: SW 6700. Also thrown by `parseCommandApdu` for a malformed command. */
export class CardWrongLengthError extends MynaGateError {
  readonly sw = 0x6700;
  constructor(detail = 'SW 6700') {
    super('ERR_CARD_WRONG_LENGTH', `Wrong length (${detail})`);
  }
}

/** `ERR_CARD_WRONG_PARAMETERS`: SW 6A86 (bad P1/P2) or 6B00 (offset out of the file). */
export class CardWrongParametersError extends MynaGateError {
  readonly sw: number;
  constructor(sw: number) {
    super('ERR_CARD_WRONG_PARAMETERS', `Wrong parameters P1-P2 (SW ${hex(sw)})`);
    this.sw = sw;
  }
}

/** `ERR_CARD_INS_NOT_SUPPORTED`: SW 6D00. */
export class CardInsNotSupportedError extends MynaGateError {
  readonly sw = 0x6d00;
  constructor() {
    super('ERR_CARD_INS_NOT_SUPPORTED', 'Instruction not supported (SW 6D00)');
  }
}

/** `ERR_CARD_CLA_NOT_SUPPORTED`: SW 6E00. */
export class CardClaNotSupportedError extends MynaGateError {
  readonly sw = 0x6e00;
  constructor() {
    super('ERR_CARD_CLA_NOT_SUPPORTED', 'Class not supported (SW 6E00)');
  }
}

/** `ERR_CARD_STATUS`: any other status word than 9000. */
export class CardStatusError extends MynaGateError {
  readonly sw: number;
  constructor(sw: number) {
    super('ERR_CARD_STATUS', `Card status ${hex(sw)}`);
    this.sw = sw;
  }
}

/** `ERR_CARD_TRANSPORT_CLOSED`: the transport was closed (`Transport.close`). */
export class CardTransportClosedError extends MynaGateError {
  constructor() {
    super('ERR_CARD_TRANSPORT_CLOSED', 'The card transport is closed');
  }
}

/** `ERR_CARD_NOT_JPKI`: SELECT of the JPKI AP or the text AP failed, so this is not a My Number Card. */
export class CardNotJpkiError extends MynaGateError {
  /** The status word the SELECT got. */
  readonly sw: number;
  constructor(sw: number, ap = 'JPKI AP') {
    super('ERR_CARD_NOT_JPKI', `Not a My Number Card: SELECT ${ap} gave SW ${hex(sw)}`);
    this.sw = sw;
  }
}

/** `ERR_CARD_MALFORMED`: a response that cannot be parsed (too short, bad TLV, wrong certificate header…). */
export class CardMalformedError extends MynaGateError {
  constructor(detail: string, options?: ErrorOptions) {
    super('ERR_CARD_MALFORMED', `Malformed card response: ${detail}`, options);
  }
}

/** `ERR_CARD_FILE_INVALID`: a virtual card file that cannot be read or is not a MynaGate test card. */
export class CardFileInvalidError extends MynaGateError {
  constructor(detail: string, options?: ErrorOptions) {
    super('ERR_CARD_FILE_INVALID', `Invalid virtual card file: ${detail}`, options);
  }
}
