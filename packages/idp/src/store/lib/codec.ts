/** Encoding of one-shot values as one string, shared by SQLite and Redis (so a Redis `INCR` counter reads back). */
import type { OneShotValue } from '../types.ts';

/** `s:` + string, or `j:` + JSON for objects. Counters are bare integers (what Redis `INCR` writes). */
export function encodeValue(value: unknown): string {
  if (typeof value === 'string') return `s:${value}`;
  if (typeof value === 'object' && value !== null) return `j:${JSON.stringify(value)}`;
  throw new TypeError('value must be a string or an object');
}

export function decodeValue(text: string): OneShotValue {
  if (text.startsWith('s:')) return text.slice(2);
  if (text.startsWith('j:')) return JSON.parse(text.slice(2)) as object;
  return Number(text);
}
