/**
 * The check digit of the 12-digit Individual Number (個人番号), per 総務省令第85号 第5条 (spec §6.6).
 *
 * This module validates and fabricates numbers; it never reads one from a card. Reading the My Number is
 * `readMyNumber` in `@mynagate/card/my-number-reader`, a separate entry that no server code imports.
 */

/** Weights Q(n) for the 11 base digits counted from the right: 2,3,4,5,6,7,2,3,4,5,6. */
const WEIGHTS = [2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6] as const;

/**
 * The check digit for 11 base digits.
 *
 * @example myNumberCheckDigit('12345678901') // 8
 * @throws TypeError when `base` is not exactly 11 ASCII digits.
 */
export function myNumberCheckDigit(base: string): number {
  if (!/^[0-9]{11}$/.test(base)) throw new TypeError('base must be 11 digits');
  let sum = 0;
  for (let n = 1; n <= 11; n++) sum += Number(base[11 - n]) * WEIGHTS[n - 1]!;
  const r = sum % 11;
  return r <= 1 ? 0 : 11 - r;
}

/**
 * Whether `s` is 12 ASCII digits whose last digit is the check digit of the first eleven.
 *
 * @example isValidMyNumber('123456789018') // true
 */
export function isValidMyNumber(s: string): boolean {
  return /^[0-9]{12}$/.test(s) && myNumberCheckDigit(s.slice(0, 11)) === Number(s[11]);
}

/**
 * A check-digit-valid number for test cards. It starts with `9999` so a person reading a test card's data can tell
 * at a glance it is fabricated; `random` supplies the remaining 7 base digits (inject it for reproducible tests).
 */
export function fakeMyNumber(random: (n: number) => number = (n) => Math.floor(Math.random() * n)): string {
  let base = '9999';
  while (base.length < 11) base += String(random(10));
  return base + String(myNumberCheckDigit(base));
}
