/**
 * PIN and password formats (spec §5), checked on the host before a VERIFY so a typo never spends one of the card's
 * few tries, and by the virtual card before CHANGE REFERENCE DATA.
 */
import { CardPinFormatError, type PinName } from './errors.ts';

/** Auth PIN and text-AP PIN: 4 digits. Sign password: 6–16 of A–Z0–9 with at least one letter and one digit. */
const RULES: Record<PinName, { test: (s: string) => boolean; rule: string }> = {
  auth: { test: (s) => /^[0-9]{4}$/.test(s), rule: '4 digits' },
  text: { test: (s) => /^[0-9]{4}$/.test(s), rule: '4 digits' },
  sign: {
    test: (s) => /^[A-Z0-9]{6,16}$/.test(s) && /[A-Z]/.test(s) && /[0-9]/.test(s),
    rule: '6-16 letters A-Z and digits, at least one of each',
  },
};

/**
 * The bytes to send for `value`: ASCII, no padding (spec §4.3). The sign password is uppercased first, as myna does.
 *
 * @example pinBytes('sign', 'abc123') // "ABC123" as ASCII
 * @throws CardPinFormatError (`ERR_CARD_PIN_FORMAT`) when `value` breaks the format of `pin`.
 */
export function pinBytes(pin: PinName, value: string): Uint8Array {
  const normalized = pin === 'sign' ? upperAscii(value) : value;
  if (!isValidPinFormat(pin, normalized)) throw new CardPinFormatError(pin, RULES[pin].rule);
  return new TextEncoder().encode(normalized);
}

/** Whether `value` (already uppercased for `sign`) has the format of `pin`. */
export function isValidPinFormat(pin: PinName, value: string): boolean {
  return RULES[pin].test(value);
}

/**
 * The sign password as the card compares it: ASCII a-z uppercased, nothing else touched. `String#toUpperCase` maps
 * some other letters into A-Z ('ß' to 'SS', 'ı' to 'I'), which would pass the format check and spend a try on a
 * password nobody typed.
 */
export function upperAscii(value: string): string {
  return value.replace(/[a-z]+/g, (l) => l.toUpperCase());
}
