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

/** A TCP port number. */
export function port(a: Parsed, name: string, fallback: number): number {
  const v = optional(a, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a port number`);
  return n;
}

/** An ISO 8601 instant. */
export function instant(a: Parsed, name: string): Date | undefined {
  const v = optional(a, name);
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--${name} must be an ISO 8601 time`);
  return d;
}

/** The single positional argument (e.g. a file), or a usage error. */
export function positional(a: Parsed, what: string): string {
  if (a.positionals.length !== 1) throw new UsageError(`expected exactly one ${what}`);
  return a.positionals[0]!;
}
