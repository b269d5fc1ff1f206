/**
 * The animated QR code (BankID RP API v6, intl-anchors §2): every second the login page shows a new code that only
 * the server can mint, from a secret that never leaves it. A photo of the screen relayed to a victim is useless a
 * few seconds later, and a guessed link is refused.
 *
 * code(t) = base64url(HMAC-SHA256(qrSecret, qrStartToken ‖ t)), t = whole seconds since the login started, as
 * ASCII decimal. (BankID prints hex; base64url keeps the QR one version smaller.)
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { IdpQrInvalidError, IdpQrStaleError } from './errors.ts';

/** Whole seconds from `startedAt` to `now` (both epoch ms); 0 before the start. */
export function qrTime(startedAt: number, now: number): number {
  return Math.max(0, Math.floor((now - startedAt) / 1000));
}

/**
 * The code for second `t` of a login. The secret goes in as a KeyObject: given bytes, `createHmac` first asks
 * `isKeyObject`, which node:crypto answers by catching a thrown error (a stack trace, 3x the cost of the HMAC).
 */
export function qrCode(qrSecret: Uint8Array, qrStartToken: string, t: number): string {
  if (!Number.isSafeInteger(t) || t < 0) throw new TypeError('t must be a non-negative integer');
  return createHmac('sha256', createSecretKey(qrSecret)).update(`${qrStartToken}${t}`, 'ascii').digest('base64url');
}

/** The link a QR code carries: `<origin>/companion/<txn>?t=<seconds>&c=<code>`. */
export function companionLink(origin: string, txn: string, t: number, code: string): string {
  const url = new URL(`/companion/${encodeURIComponent(txn)}`, origin);
  url.searchParams.set('t', String(t));
  url.searchParams.set('c', code);
  return url.href;
}

/** What {@link checkQrCode} needs. */
export interface QrCheck {
  readonly qrSecret: Uint8Array;
  readonly qrStartToken: string;
  /** Epoch ms when the login started (t = 0). */
  readonly startedAt: number;
  /** Epoch ms now (injected). */
  readonly now: number;
  /** The scanned `t` and `c`, as the link carried them. */
  readonly t: string | null;
  readonly code: string | null;
  /** Oldest acceptable code, in seconds (BankID's codes live about one second; scanning takes a little more). */
  readonly maxAgeSeconds: number;
}

/**
 * Accepts a scanned code only if the server minted it for this login and it is at most `maxAgeSeconds` old.
 *
 * @throws IdpQrInvalidError (`ERR_IDP_QR_INVALID`) for a malformed `t`, a time in the future or a wrong code;
 *   IdpQrStaleError (`ERR_IDP_QR_STALE`) for a genuine code that is too old.
 */
export function checkQrCode(check: QrCheck): void {
  const { t, code } = check;
  if (t === null || !/^(0|[1-9][0-9]{0,8})$/.test(t)) throw new IdpQrInvalidError('t is not a whole number of seconds');
  if (code === null || !/^[A-Za-z0-9_-]{43}$/.test(code)) throw new IdpQrInvalidError('code is malformed');
  const seconds = Number(t);
  const expected = Buffer.from(qrCode(check.qrSecret, check.qrStartToken, seconds), 'ascii');
  if (!timingSafeEqual(expected, Buffer.from(code, 'ascii'))) throw new IdpQrInvalidError('code does not match');
  const current = qrTime(check.startedAt, check.now);
  if (seconds > current) throw new IdpQrInvalidError('t is in the future');
  if (current - seconds > check.maxAgeSeconds) throw new IdpQrStaleError(current - seconds);
}
