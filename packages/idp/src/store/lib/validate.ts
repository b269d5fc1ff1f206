/** Argument checks shared by every store. Misuse is a programmer error, so each throws a TypeError. */
import type { AuditEvent, AuditOptions, NewConsent, NewCredential } from '../types.ts';

const FINGERPRINT = /^[0-9a-f]{64}$/;
const SERIAL = /^[0-9a-f]{1,64}$/;

/** A one-shot or adapter key: a non-empty string of at most 1024 characters. */
export function assertKey(key: unknown, name = 'key'): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 1024) {
    throw new TypeError(`${name} must be a non-empty string of at most 1024 characters`);
  }
}

/**
 * A list of one-shot keys: an array of 1 to `max` keys, each as {@link assertKey} asks, none twice, and none of them
 * `besides` (the key written beside them, when there is one).
 */
export function assertKeys(
  keys: unknown,
  max: number,
  name = 'keys',
  besides?: string,
): asserts keys is readonly string[] {
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > max)
    throw new TypeError(`${name} must be an array of 1 to ${max} keys`);
  for (const key of keys) assertKey(key, `each of ${name}`);
  if (new Set(keys).size !== keys.length) throw new TypeError(`${name} must not name a key twice`);
  if (besides !== undefined && keys.includes(besides)) throw new TypeError(`${name} must not name the key written`);
}

/** A one-shot TTL in seconds → milliseconds; must be positive and finite. */
export function ttlToMs(ttlSeconds: unknown): number {
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError('ttlSeconds must be a positive finite number');
  }
  return Math.max(1, Math.round(ttlSeconds * 1000));
}

/**
 * node-oidc-provider's `expiresIn` (seconds, or undefined for no expiry) → milliseconds or null. A non-positive
 * value means "already expired": kept for 1 ms rather than rejected, so the provider never sees a store error.
 */
export function expiresInToMs(expiresIn: unknown): number | null {
  if (expiresIn === undefined || expiresIn === null) return null;
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn)) {
    throw new TypeError('expiresIn must be a finite number of seconds or undefined');
  }
  return Math.max(1, Math.round(expiresIn * 1000));
}

/** A SHA-256 fingerprint: 64 lowercase hex digits. */
export function assertFingerprint(fp: unknown): asserts fp is string {
  if (typeof fp !== 'string' || !FINGERPRINT.test(fp)) {
    throw new TypeError('fingerprint must be a SHA-256 digest as 64 lowercase hex digits');
  }
}

/** An internal id (person, consent): a non-empty string. */
export function assertId(id: unknown, name: string): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 256) {
    throw new TypeError(`${name} must be a non-empty string`);
  }
}

export function assertNewCredential(c: NewCredential): void {
  if (typeof c !== 'object' || c === null) throw new TypeError('credential must be an object');
  if (c.kind !== 'jpki-auth') throw new TypeError("credential.kind must be 'jpki-auth'");
  assertFingerprint(c.fingerprint);
  if (typeof c.issuer !== 'string' || c.issuer.length === 0) throw new TypeError('credential.issuer must be a string');
  if (typeof c.serial !== 'string' || !SERIAL.test(c.serial)) {
    throw new TypeError('credential.serial must be lowercase hex');
  }
  if (!(c.notAfter instanceof Date) || Number.isNaN(c.notAfter.getTime())) {
    throw new TypeError('credential.notAfter must be a valid Date');
  }
  if (c.certificate !== undefined && !(c.certificate instanceof Uint8Array)) {
    throw new TypeError('credential.certificate must be a Uint8Array or omitted');
  }
}

export function assertNewConsent(c: NewConsent): void {
  if (typeof c !== 'object' || c === null) throw new TypeError('consent must be an object');
  assertId(c.personId, 'consent.personId');
  assertId(c.clientId, 'consent.clientId');
  for (const [name, list] of [
    ['scopes', c.scopes],
    ['claims', c.claims],
  ] as const) {
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) {
      throw new TypeError(`consent.${name} must be an array of strings`);
    }
  }
  if (typeof c.textShown !== 'string') throw new TypeError('consent.textShown must be a string');
}

export function assertAuditEvent(e: AuditEvent): void {
  if (typeof e !== 'object' || e === null) throw new TypeError('audit event must be an object');
  if (typeof e.type !== 'string' || e.type.length === 0) throw new TypeError('audit event type must be a string');
  if (e.personId != null) assertId(e.personId, 'audit event personId');
  if (e.clientId != null) assertId(e.clientId, 'audit event clientId');
  if (e.data !== undefined && (typeof e.data !== 'object' || e.data === null || Array.isArray(e.data))) {
    throw new TypeError('audit event data must be a plain object');
  }
}

/** A CA name as a credential's issuer held it: a non-empty string. */
export function assertIssuerName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new TypeError('issuer name must be a non-empty string');
}

/** The `touchCredential` of `appendAudit`'s options, checked: a fingerprint, or undefined. */
export function touchOption(options: AuditOptions | undefined): string | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw new TypeError('audit options must be an object');
  if (options.touchCredential === undefined) return undefined;
  assertFingerprint(options.touchCredential);
  return options.touchCredential;
}

/** The injected clock option: a function returning epoch milliseconds. */
export function clockOption(now: unknown): () => number {
  if (now === undefined) return Date.now;
  if (typeof now !== 'function') throw new TypeError('now must be a function returning epoch milliseconds');
  return now as () => number;
}
