/**
 * Status words (ISO 7816-4 §5.6) as the JPKI card uses them (spec §4.7), and their mapping to errors.
 */
import type { MynaGateError } from '@mynagate/errors';
import {
  CardClaNotSupportedError,
  CardFileNotFoundError,
  CardInsNotSupportedError,
  CardPinBlockedError,
  CardPinIncorrectError,
  CardSecurityStatusError,
  CardStatusError,
  CardWrongLengthError,
  CardWrongParametersError,
} from './errors.ts';

/** The status words this package sends (virtual card) or interprets (client). */
export const SW = Object.freeze({
  OK: 0x9000,
  /** 63Cx: wrong PIN, x tries left; also the answer to an empty VERIFY (spec §4.3). */
  COUNTER: 0x63c0,
  WRONG_LENGTH: 0x6700,
  /** Command incompatible with file structure: READ BINARY on a key or PIN EF (spec §4.2). */
  INCOMPATIBLE_FILE: 0x6981,
  SECURITY_STATUS: 0x6982,
  /** ISO "authentication method blocked". */
  AUTH_BLOCKED: 0x6983,
  /** "Reference data not usable": what myna-go reads as a blocked PIN (spec §4.3). */
  REF_DATA_NOT_USABLE: 0x6984,
  /** Command not allowed: no current EF, or the current EF is not a key (spec §4.5). */
  NOT_ALLOWED: 0x6986,
  FILE_NOT_FOUND: 0x6a82,
  WRONG_P1P2: 0x6a86,
  /** Wrong parameters: offset outside the EF (spec §4.2). */
  OFFSET_OUT_OF_RANGE: 0x6b00,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
} as const);

/**
 * The error for a status word other than 9000.
 *
 * 63C0 is "blocked" (the last wrong try), 63Cx is "incorrect, x tries left" (spec §4.3).
 *
 * @example statusError(0x63c2) // CardPinIncorrectError { retriesLeft: 2 }
 * @throws TypeError for 9000, which is not an error.
 */
export function statusError(sw: number): MynaGateError {
  if (sw === SW.OK) throw new TypeError('9000 is not an error');
  if ((sw & 0xfff0) === SW.COUNTER) {
    const tries = sw & 0x0f;
    return tries === 0 ? new CardPinBlockedError(sw) : new CardPinIncorrectError(tries, sw);
  }
  switch (sw) {
    case SW.AUTH_BLOCKED:
    case SW.REF_DATA_NOT_USABLE:
      return new CardPinBlockedError(sw);
    case SW.SECURITY_STATUS:
      return new CardSecurityStatusError();
    case SW.FILE_NOT_FOUND:
      return new CardFileNotFoundError();
    case SW.WRONG_LENGTH:
      return new CardWrongLengthError();
    case SW.WRONG_P1P2:
    case SW.OFFSET_OUT_OF_RANGE:
      return new CardWrongParametersError(sw);
    case SW.INS_NOT_SUPPORTED:
      return new CardInsNotSupportedError();
    case SW.CLA_NOT_SUPPORTED:
      return new CardClaNotSupportedError();
    default:
      return new CardStatusError(sw);
  }
}
