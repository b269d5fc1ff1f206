/** Calendar arithmetic in Japan Standard Time (UTC+9, no DST), where JPKI validity ends (spec §8.2). */

const JST_MS = 9 * 3600 * 1000;

/** A calendar date. */
export interface CivilDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

/**
 * Parses `YYYY-MM-DD` into a calendar date that exists.
 *
 * @throws TypeError when the string is not a real date.
 */
export function parseCivilDate(s: string, what = 'date'): CivilDate {
  if (!CIVIL_DATE.test(s)) throw new TypeError(`${what} must be YYYY-MM-DD`);
  const d = civilDate(s);
  if (!d) throw new TypeError(`${what} is not a calendar date`);
  return d;
}

/** `YYYY-MM-DD`, the only form {@link parseCivilDate} reads. */
export const CIVIL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The calendar date `YYYY-MM-DD` names, or `undefined` when it is not of that form or names no day (`2026-02-30`). */
export function civilDate(s: string): CivilDate | undefined {
  const m = CIVIL_DATE.exec(s);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(year, month - 1, day));
  if (t.getUTCFullYear() !== year || t.getUTCMonth() !== month - 1 || t.getUTCDate() !== day) return undefined;
  return { year, month, day };
}

/** `a` before (negative), on (0) or after (positive) `b`. */
export function compareCivil(a: CivilDate, b: CivilDate): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

/** The JST calendar date and clock of an instant. */
export function jst(t: Date): CivilDate & { hour: number; minute: number; second: number } {
  const d = new Date(t.getTime() + JST_MS);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

/** 23:59:59 JST on a date: the end of a JPKI validity period (spec §8.2: `240502145959Z`). */
export function endOfJstDay(d: CivilDate): Date {
  return new Date(Date.UTC(d.year, d.month - 1, d.day, 23, 59, 59) - JST_MS);
}

/** `t` truncated to whole seconds: DER times carry no fractions (RFC 5280 §4.1.2.5.2). */
export function wholeSeconds(t: Date): Date {
  return new Date(Math.floor(t.getTime() / 1000) * 1000);
}

/**
 * How long before it is made a test certificate starts, unless the caller names its start. Real CAs back-date by
 * minutes so that a relying party whose clock runs a little behind accepts a fresh certificate; here it also covers
 * a test whose frozen clock was read just before its fixture made the certificates.
 */
export const BACKDATE_MS = 5 * 60_000;

/**
 * The notBefore of a certificate made at `now`: `notBefore` when the caller names one, else {@link BACKDATE_MS}
 * earlier; whole seconds either way.
 *
 * @throws TypeError when `notBefore` is not a valid Date.
 */
export function certificateStart(now: Date, notBefore?: Date): Date {
  if (notBefore === undefined) return wholeSeconds(new Date(now.getTime() - BACKDATE_MS));
  if (!(notBefore instanceof Date) || Number.isNaN(notBefore.getTime()))
    throw new TypeError('notBefore must be a valid Date');
  return wholeSeconds(notBefore);
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/**
 * The holder's 5th birthday after `issued` (a JST date): certificates expire then (spec §9 "Validity"). A birthday
 * on the issue day does not count as "after". A 29 February birthday falls on 28 February in common years, the
 * earlier of the two possible readings.
 */
export function fifthBirthdayAfter(issued: CivilDate, birth: CivilDate): CivilDate {
  const thisYear = { year: issued.year, month: birth.month, day: birth.day };
  const first = compareCivil(thisYear, issued) > 0 ? issued.year : issued.year + 1;
  const year = first + 4;
  const day = birth.month === 2 && birth.day === 29 && !isLeap(year) ? 28 : birth.day;
  return { year, month: birth.month, day };
}

/** `min(a, b)` for calendar dates. */
export function earlier(a: CivilDate, b: CivilDate): CivilDate {
  return compareCivil(a, b) <= 0 ? a : b;
}

/** Zero-padded decimal. */
export function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
