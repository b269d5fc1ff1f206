/**
 * The rules a new card's holder data, PIN and password meet, checked before anything is issued. Each check is one
 * rule with its source. A value that breaks one is data a person may have typed (`mynagate card issue`): a
 * TestJpkiInvalidInputError (`ERR_TESTJPKI_INVALID_INPUT`) naming the field, never echoing the value. A value of the
 * wrong type is a programmer's mistake: a `TypeError`.
 */
import { TestJpkiInvalidInputError } from './errors.ts';
import { civilDate, CIVIL_DATE, compareCivil, jst } from './lib/time.ts';
import type { CivilDate } from './lib/time.ts';
import { prefectureOf } from './municipality.ts';
import type { Municipality } from './municipality.ts';

/** The holder data of a new card, as `TestJpki.issueCard` takes it (see `IssueCardOptions`). */
export interface CardHolder {
  /** Family and given name, separated by a full-width space (spec §8.3). */
  readonly name: string;
  /** Starting with the prefecture, no postcode (spec §8.3). */
  readonly address: string;
  /** YYYY-MM-DD, Western calendar. */
  readonly birthDate: string;
  /** ISO/IEC 5218 as on the text AP: '1' male, '2' female, '9' not applicable. */
  readonly sex: '1' | '2' | '9';
  /** `card` or `android`. Default `card`. */
  readonly profile?: 'card' | 'android';
  /** YYYY-MM-DD card expiry. */
  readonly cardExpires?: string;
  /** Given, the address need not start with a prefecture: nothing is derived from it. */
  readonly municipality?: Municipality;
}

/**
 * The longest name, in characters. The spec gives no limit; real names are far shorter, and this keeps the signing
 * certificate (name and its substitute positions in the SubjectAltName) and the text AP's basic-4 EF within the
 * 2-byte DER lengths they must have (spec §3.2, §6.2), whatever the characters.
 */
export const NAME_MAX_CHARACTERS = 100;

/** The longest address, in characters (spec §8.3, OID 1.2.392.200149.8.5.5.5: "Max 200 characters"). */
export const ADDRESS_MAX_CHARACTERS = 200;

/**
 * Checks the holder data of a new card as `TestJpki.issueCard` does, so that a caller can refuse it before asking a
 * person for a PIN.
 *
 * @param now the issue time (the birth date may not be after its JST day). Default: the current time.
 * @example
 * ```ts
 * checkHolder({ name: '試験　太郎', address: '東京都千代田区千代田1-1', birthDate: '1990-01-02', sex: '1' });
 * ```
 * @throws TestJpkiInvalidInputError (`ERR_TESTJPKI_INVALID_INPUT`, `field`) for a field that breaks its rule.
 * @throws TypeError for a field of the wrong type.
 */
export function checkHolder(holder: CardHolder, now: Date = new Date()): void {
  if (typeof holder !== 'object' || holder === null) throw new TypeError('the holder must be an object');
  const today = jst(now);
  checkName(holder.name);
  checkAddress(holder.address, holder.municipality !== undefined);
  const birth = checkDate('birthDate', holder.birthDate);
  // Nobody holds a card before they are born.
  if (compareCivil(birth, today) > 0) invalid('birthDate', 'is after the issue date');
  if (holder.cardExpires !== undefined) {
    // A card that expired before it was issued would get certificates that end before they start (spec §8.2).
    if (compareCivil(checkDate('cardExpires', holder.cardExpires), today) < 0)
      invalid('cardExpires', 'is before the issue date');
  }
  oneOf('sex', holder.sex, ['1', '2', '9'], 'ISO/IEC 5218 as on the text AP, spec §6.2');
  if (holder.profile !== undefined) oneOf('profile', holder.profile, ['card', 'android'], 'the two JPKI tokens');
}

/**
 * Checks the PIN and passwords of a new card (spec §5): the auth PIN and text-AP PIN are 4 digits; the signing
 * password is 6–16 of A–Z and 0–9 with at least one letter and one digit (lower case is taken: clients upper-case it).
 *
 * @throws TestJpkiInvalidInputError (`ERR_TESTJPKI_INVALID_INPUT`, `field` `pin`, `password` or `textPin`).
 * @throws TypeError for a value that is not a string.
 */
export function checkSecrets(secrets: {
  readonly pin: string;
  readonly password: string;
  readonly textPin?: string | undefined;
}): void {
  if (!/^[0-9]{4}$/.test(string('pin', secrets.pin))) invalid('pin', '(the auth PIN) must be 4 digits');
  if (secrets.textPin !== undefined && !/^[0-9]{4}$/.test(string('textPin', secrets.textPin)))
    invalid('textPin', '(the text-AP PIN) must be 4 digits');
  const password = string('password', secrets.password);
  if (!/^[A-Za-z0-9]{6,16}$/.test(password) || !/[A-Za-z]/.test(password) || !/[0-9]/.test(password))
    invalid('password', '(the signing password) must be 6–16 of A–Z and 0–9, with at least one letter and one digit');
}

/**
 * Control characters (C0, DEL, C1: `\p{Cc}`) and bidirectional formatting controls (`\p{Bidi_Control}`: U+061C,
 * U+200E, U+200F, U+202A–U+202E, U+2066–U+2069). No person's name or address holds one, and these go into the
 * certificates (spec §8.3) and onto the provider's pages and the phone: a control breaks the line a log or terminal
 * shows, and a bidi control makes text read otherwise than it is stored (Unicode UAX #9; CVE-2021-42574).
 */
const CONTROL = /[\p{Cc}\p{Bidi_Control}]/u;

/**
 * No control or bidi control ({@link CONTROL}), and no lone surrogate: UTF-8 cannot encode one (RFC 3629 §3), so no
 * UTF8String of a certificate (RFC 5280 §4.1.2.4) can hold it.
 */
function checkCharacters(field: string, value: string): void {
  if (CONTROL.test(value) || !value.isWellFormed())
    invalid(field, 'must not contain control characters, bidirectional controls or lone surrogates');
}

/** Not blank (spec §8.3: family and given name), at most {@link NAME_MAX_CHARACTERS}, printable characters. */
function checkName(name: string): void {
  if (string('name', name).trim() === '') invalid('name', 'is empty');
  if ([...name].length > NAME_MAX_CHARACTERS) invalid('name', `is longer than ${NAME_MAX_CHARACTERS} characters`);
  checkCharacters('name', name);
}

/**
 * Not blank, at most {@link ADDRESS_MAX_CHARACTERS} (spec §8.3), printable characters, and starting with one of the 47
 * prefectures (spec §8.3: "starting from the prefecture"), from which the municipality is derived unless the caller
 * names it.
 */
function checkAddress(address: string, municipalityGiven: boolean): void {
  if (string('address', address).trim() === '') invalid('address', 'is empty');
  if ([...address].length > ADDRESS_MAX_CHARACTERS)
    invalid('address', `is longer than ${ADDRESS_MAX_CHARACTERS} characters (spec §8.3)`);
  checkCharacters('address', address);
  if (!municipalityGiven && prefectureOf(address) === undefined)
    invalid('address', 'must start with a prefecture (都道府県), e.g. 東京都');
}

/** `YYYY-MM-DD` naming a day of the (proleptic Gregorian) calendar. */
function checkDate(field: string, value: string): CivilDate {
  if (!CIVIL_DATE.test(string(field, value))) invalid(field, 'must be YYYY-MM-DD');
  const d = civilDate(value);
  if (d === undefined) invalid(field, 'is not a calendar date');
  return d;
}

function oneOf(field: string, value: string, choices: readonly string[], why: string): void {
  if (!choices.includes(string(field, value))) invalid(field, `must be one of ${choices.join(', ')} (${why})`);
}

/** `value` when it is a string; a TypeError naming `field` otherwise (a programmer's mistake, not bad data). */
function string(field: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${field} must be a string`);
  return value;
}

function invalid(field: string, rule: string): never {
  throw new TestJpkiInvalidInputError(field, rule);
}
