/**
 * What a login transaction and a signing transaction have in common: a public id that is also the QR start token,
 * a QR secret that never leaves the server, a lifetime, and the hash of a browser key held only in the owning
 * browser's HttpOnly cookie (the mix-up guard: only that browser can take the outcome).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { qrCode, qrTime } from './animated-qr.ts';
import { IdpLoginNotFoundError, IdpSessionMismatchError } from './errors.ts';
import type { OneShotPort } from './ports.ts';

/** The fields every browser-bound, QR-linked transaction carries. */
export interface BoundFields {
  /** Public id, in the QR link; also the QR start token. */
  readonly txn: string;
  /** The node-oidc-provider interaction it finishes. */
  readonly uid: string;
  /** base64url of 32 random bytes; never leaves the server. */
  readonly qrSecret: string;
  /** Epoch ms of t = 0. */
  readonly startedAt: number;
  readonly expiresAt: number;
  /** base64url SHA-256 of the browser key held in the owning browser's cookie. */
  readonly browserHash: string;
}

/**
 * Fresh binding fields at `now` for `ttlSeconds`, and the browser key for the cookie (never stored server side).
 */
export function newBinding(
  now: number,
  ttlSeconds: number,
): { readonly fields: Omit<BoundFields, 'uid'>; readonly browserKey: string } {
  const browserKey = randomBytes(32).toString('base64url');
  return {
    browserKey,
    fields: {
      txn: randomBytes(16).toString('base64url'),
      qrSecret: randomBytes(32).toString('base64url'),
      startedAt: now,
      expiresAt: now + ttlSeconds * 1000,
      browserHash: hashKey(browserKey),
    },
  };
}

/**
 * The transaction stored under `${prefix}:${txn}`, if it exists and has not expired at `now`.
 *
 * @throws IdpLoginNotFoundError (`ERR_IDP_LOGIN_NOT_FOUND`).
 */
export async function loadBound<T extends BoundFields>(
  oneShot: OneShotPort,
  prefix: string,
  txn: string,
  now: number,
): Promise<T> {
  assertTxn(txn);
  const json = await oneShot.get(`${prefix}:${txn}`);
  if (json === undefined) throw new IdpLoginNotFoundError();
  const transaction = JSON.parse(json) as T;
  if (transaction.expiresAt <= now) throw new IdpLoginNotFoundError();
  return transaction;
}

/**
 * Checks that `txn` has the shape of a transaction id (so that nothing else is ever made into a store key).
 *
 * @throws IdpLoginNotFoundError (`ERR_IDP_LOGIN_NOT_FOUND`).
 */
export function assertTxn(txn: string): void {
  if (!/^[A-Za-z0-9_-]{22}$/.test(txn)) throw new IdpLoginNotFoundError();
}

/**
 * Checks that `browserKey` hashes to the stored one (in constant time) and that the interaction matches.
 *
 * @throws IdpSessionMismatchError (`ERR_IDP_SESSION_MISMATCH`) for any other browser.
 */
export function assertOwner(
  transaction: Pick<BoundFields, 'browserHash' | 'uid'>,
  browserKey: string,
  uid: string,
): void {
  const expected = Buffer.from(transaction.browserHash, 'ascii');
  const actual = Buffer.from(hashKey(browserKey), 'ascii');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual) || transaction.uid !== uid) {
    throw new IdpSessionMismatchError();
  }
}

/** The QR link for the second `now` falls in: `<origin><path><txn>?t=<seconds>&c=<code>`. */
export function boundLink(
  transaction: BoundFields,
  origin: string,
  path: string,
  now: number,
): { readonly t: number; readonly link: string } {
  const t = qrTime(transaction.startedAt, now);
  const code = qrCode(Buffer.from(transaction.qrSecret, 'base64url'), transaction.txn, t);
  const url = new URL(`${path}${encodeURIComponent(transaction.txn)}`, origin);
  url.searchParams.set('t', String(t));
  url.searchParams.set('c', code);
  return { t, link: url.href };
}

function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('base64url');
}

/**
 * How long a finished transaction's redirect waits for the browser's other event streams ({@link keepFinished}): an
 * EventSource reconnects within seconds of a network change.
 */
export const FINISHED_TTL_MS = 60_000;

/** A finished transaction as kept for its browser's other streams: the redirect, and what proves the browser owns it. */
interface Finished extends Pick<BoundFields, 'uid' | 'browserHash'> {
  readonly redirect: string;
}

/**
 * Keeps under `key`, for {@link FINISHED_TTL_MS}, the redirect of a transaction one stream of its browser just
 * finished (node-oidc-provider's resume URL, once the result is in the interaction), for the browser's other streams
 * on any node: after a network change an EventSource reconnects while the server still holds the old connection,
 * which may take the outcome and send `done` into a dead socket. Readable only with the proof {@link assertOwner}
 * asks for ({@link finishedRedirectFor}), or by a stream that proved it already ({@link finishedRedirect}).
 *
 * In the same atomic step the transaction's own keys (`endKeys`) are deleted: a stream that opens meanwhile finds the
 * transaction or its redirect, never neither (one that found neither would be refused for good: an EventSource does
 * not reconnect after an error), and on SQLite it is one commit rather than one per key.
 */
export function keepFinished(
  oneShot: Pick<OneShotPort, 'putDeleting'>,
  key: string,
  transaction: Pick<BoundFields, 'uid' | 'browserHash'>,
  redirect: string,
  endKeys: readonly string[],
): Promise<void> {
  const finished: Finished = { redirect, uid: transaction.uid, browserHash: transaction.browserHash };
  return oneShot.putDeleting(key, JSON.stringify(finished), FINISHED_TTL_MS, endKeys);
}

/** The redirect kept by {@link keepFinished}, read by a stream whose browser proved it owns the transaction. */
export function finishedRedirect(json: string | undefined): string | undefined {
  return json === undefined ? undefined : (JSON.parse(json) as Finished).redirect;
}

/**
 * The redirect kept under `key` by {@link keepFinished}, for the browser holding `browserKey` on interaction `uid`
 * only; `undefined` for any other browser, or when there is none.
 */
export async function finishedRedirectFor(
  oneShot: Pick<OneShotPort, 'get'>,
  key: string,
  browserKey: string,
  uid: string,
): Promise<string | undefined> {
  const json = await oneShot.get(key);
  if (json === undefined) return undefined;
  const finished = JSON.parse(json) as Finished;
  try {
    assertOwner(finished, browserKey, uid);
  } catch {
    return undefined;
  }
  return finished.redirect;
}
