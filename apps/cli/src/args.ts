/** Small readers for parsed options that turn a missing or malformed value into a usage error. */
import type { Parsed } from './main.ts';
import { UsageError } from './output.ts';

/** The string option `name`, or a usage error naming it. */
export function required(a: Parsed, name: string): string {
  const v = a.values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** The string option `name` or `undefined`. */
export function optional(a: Parsed, name: string): string | undefined {
  const v = a.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** One of `choices`, or the default. */
export function oneOf<T extends string>(a: Parsed, name: string, choices: readonly T[], fallback?: T): T {
  const v = optional(a, name) ?? fallback;
  if (v === undefined) throw new UsageError(`--${name} is required (${choices.join('|')})`);
  if (!(choices as readonly string[]).includes(v))
    throw new UsageError(`--${name} must be one of ${choices.join('|')}`);
  return v as T;
}

/** A TCP port number; `min: 1` where 0 (any free port) makes no sense, e.g. a port written into certificates. */
export function port(a: Parsed, name: string, fallback: number, min: 0 | 1 = 0): number {
  const v = optional(a, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > 65535)
    throw new UsageError(`--${name} must be a port number${min === 1 ? ' (1–65535)' : ''}`);
  return n;
}

/**
 * An ISO 8601 instant with its offset: `2027-01-15T09:00:00+09:00`, `…Z`, seconds and fractions optional. Nothing
 * is guessed: a date alone, a time without an offset (local to whichever machine), and a day that does not exist
 * (`2026-02-30`, which `Date` rolls over to March) are usage errors.
 */
export function instant(a: Parsed, name: string): Date | undefined {
  const v = optional(a, name);
  if (v === undefined) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.exec(v);
  const d = new Date(v);
  const [y, mo, day, h, mi, sec] = (m ?? []).slice(1, 7).map((x) => Number(x ?? 0));
  // The calendar fields as written must be a real date and time (checked in UTC, where nothing rolls over).
  const real =
    m !== null &&
    new Date(Date.UTC(y!, mo! - 1, day!, h!, mi!, sec!))
      .toISOString()
      .startsWith(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}`);
  if (!real || Number.isNaN(d.getTime())) {
    throw new UsageError(`--${name} must be an ISO 8601 time with its offset, e.g. 2027-01-15T09:00:00+09:00`);
  }
  return d;
}

/** The single positional argument (e.g. a file), or a usage error. */
export function positional(a: Parsed, what: string): string {
  if (a.positionals.length !== 1) throw new UsageError(`expected exactly one ${what}`);
  return a.positionals[0]!;
}
