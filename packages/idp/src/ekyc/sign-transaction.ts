/**
 * An eKYC signing transaction: the state behind one "sign the statement" page, in the one-shot store (any node can
 * serve any step), built like the card login's (`login-transaction.ts`): an animated QR code only this server can
 * mint, a browser binding, one statement per scan, and an outcome only the owning browser session can take.
 *
 * Keys: `sign:<txn>` the transaction, `sign-statement:<txn>` the statement handed to the last companion that scanned
 * (single use, and used up only by a signature post that names its nonce: {@link SignTransactions.consumeStatement}),
 * `sign-result:<txn>` the verified signature waiting for its browser, sealed (below), `sign-failure:<txn>` the last
 * refusal (a code and a message, nothing personal), `sign-done:<txn>` the finished signature's redirect, for the
 * browser's other event streams (see {@link SignTransactions.finish}).
 *
 * The outcome at rest: crypto-shredded per transaction. The outcome carries the verified identity (the basic-4 the
 * statement covered, and the signing certificate with `ekyc.keepCertificate`), and it waits in the one-shot store
 * between the companion's post and the owning browser's stream: SQLite's ephemeral file (freed pages are not zeroed,
 * the WAL is not truncated), Redis (which may write RDB snapshots and an AOF) or PostgreSQL (dead tuples, WAL,
 * backups). So it is never stored in clear, nor with anything that decrypts it:
 *
 * - start: the browser key (32 random bytes) goes only into the owning browser's HttpOnly cookie; the transaction
 *   keeps its SHA-256 (`browserHash`, the ownership check) and {@link SignTransaction.outcomeKey}, the X25519 public
 *   key of a private key derived from the browser key (HKDF-SHA256, info {@link OUTCOME_KEY_LABEL}; lib/sealed-box.ts).
 * - complete (the companion's request, which has no browser key): the outcome is sealed to that public key (an
 *   ephemeral X25519 key, HKDF-SHA256, AES-256-GCM) with the label and the transaction id as additional data, and
 *   only the box is stored.
 * - take (the owning browser's stream, after the ownership check): the private key is derived again from the
 *   cookie's browser key and opens the box. A box that does not open (altered, moved from another transaction, sealed
 *   to another key) is refused as not this browser's: `ERR_IDP_SESSION_MISMATCH`, and is gone (taken).
 *
 * Once the cookie is gone (it lives as long as the transaction), every copy of the box is noise. Cost: one X25519 key
 * derivation per signing page, one seal (two X25519 operations) per verified signature, one open (two) when it is
 * taken; nothing per login and nothing per poll. What this does not cover: the server's memory while it handles the
 * requests; someone who can both read the store and steal the cookie; a writer of the store, who can seal a value of
 * its own to the stored public key (as it could write any other state); and the identity once taken, which goes to
 * the identity store beside the grant (identity-store.ts: erased with the grant, under its own lifetime).
 */
import { timingSafeEqual } from 'node:crypto';
import { statementBytes, type Statement } from '@mynagate/pki';
import { checkQrCode } from '../animated-qr.ts';
import {
  assertOwner,
  assertTxn,
  boundLink,
  finishedRedirect,
  finishedRedirectFor,
  keepFinished,
  loadBound,
  newBinding,
  type BoundFields,
} from '../bound-transaction.ts';
import { statementOrigin, statementOriginRule } from '../client-origin.ts';
import {
  IdpChallengeInvalidError,
  IdpClientLoginOnlyError,
  IdpLoginNotFoundError,
  IdpSessionMismatchError,
} from '../errors.ts';
import type { ErrorBody } from '../http-errors.ts';
import { openingKey, seal } from '../lib/sealed-box.ts';
import { compareNetworks, type Network, type ScanFrom } from '../network-tag.ts';
import type { ChangeFeedPort, OneShotPort } from '../ports.ts';
import { TransactionWatch, type TransactionChange } from '../transaction-watch.ts';
import type { VerifiedIdentity } from './identity-store.ts';
import { buildStatement, statementNonce, type StatementItem } from './statement.ts';

/**
 * The HKDF label of the key pair a transaction's outcome is sealed to (derived from its browser key), and the start
 * of the box's additional data (then `:<txn>`). A new label is a new key: boxes sealed under another never open.
 */
export const OUTCOME_KEY_LABEL = 'mynagate sign-result v1';

/** One signing transaction as stored. */
export interface SignTransaction extends BoundFields {
  /** The grant the verified identity will belong to. */
  readonly grantId: string;
  /** The person logged in with the card (the signature must come from them; see the report on binding). */
  readonly accountId: string;
  readonly clientId: string;
  readonly clientName: string;
  readonly clientOrigin: string;
  readonly purpose: string;
  /** The items the person consented to, repeated in the statement, each with its per-claim purposes as shown. */
  readonly items: readonly StatementItem[];
  /**
   * The per-claim purposes of those items by grant entry (consent/items.ts `claimPurposesOf`), signed as the
   * statement's `claimPurposes`. Absent on a transaction started before they were: its statement lists none.
   */
  readonly claimPurposes?: Readonly<Record<string, readonly string[]>>;
  /** The claim names granted and listed in the statement: what its signature covers, recorded with the identity. */
  readonly claims: readonly string[];
  /**
   * What exactly those claims give (consent/items.ts `details`: `verified_claims.<claim>`,
   * `residence_in_prefecture=<prefecture>`), recorded with the identity beside {@link claims}.
   */
  readonly details: readonly string[];
  /**
   * base64url of the raw X25519 public key the outcome is sealed to; its private key is derived from the browser key
   * (in the owning browser's cookie only) and never stored. Absent on a transaction started before outcomes were
   * sealed: its signature is refused rather than kept in clear.
   */
  readonly outcomeKey: string;
  /**
   * The keyed tag of the network the browser opened the signing page from (network-tag.ts `networkTagger`), to
   * compare the companion's with at {@link SignTransactions.scan}. Never the address. Absent when unknown.
   */
  readonly network?: string | undefined;
}

/** A verified signature waiting for its browser session. */
export interface SignOutcome {
  readonly accountId: string;
  /** Epoch seconds of the verification. */
  readonly ts: number;
  /** What the grant gets once the owning browser takes this outcome, and only then. */
  readonly identity: VerifiedIdentity;
}

/** What the companion gets when it opens a signing QR link (`GET /companion/sign/:txn`). */
export interface SignView {
  readonly txn: string;
  readonly intent: 'sign';
  readonly clientName: string;
  readonly clientOrigin: string;
  /** This provider's origin. */
  readonly origin: string;
  /** The statement, as an object to show. */
  readonly statement: Statement;
  /** Its canonical JSON: sign DigestInfo(SHA-256(UTF-8 of this)) with the signing key (`statementDigestInfo`). */
  readonly canonical: string;
  /** Epoch ms after which the statement is refused. */
  readonly expiresAt: number;
  /**
   * Whether the companion scanned from the network the signing page's browser opened it on (the same IPv4 /24 or
   * IPv6 /64, as the provider sees the two; network-tag.ts). `other` also when either is unknown. A companion shows a
   * caution before it asks for the signing password when `other`: a signature started elsewhere is what a relayed
   * QR code looks like (the person's statement would give the relaying page's session a verified identity), though
   * it may also be the person's own computer on another network.
   */
  readonly network: Network;
}

/** Settings of {@link SignTransactions}. */
export interface SignTransactionOptions {
  readonly oneShot: OneShotPort;
  readonly now: () => number;
  readonly origin: string;
  readonly ttlSeconds: number;
  readonly statementTtlSeconds: number;
  readonly qrMaxAgeSeconds: number;
  /** Word from and to the other nodes sharing the store (see {@link SignTransactions.watch}); none: one process. */
  readonly changes?: ChangeFeedPort | undefined;
}

/** The signing transactions of one provider. */
export class SignTransactions {
  readonly #o: SignTransactionOptions;
  readonly #watch: TransactionWatch;

  constructor(options: SignTransactionOptions) {
    this.#o = options;
    this.#watch = new TransactionWatch('sign', options.changes);
  }

  /**
   * Calls `onChange` when this node records a scan, a verified signature or a refusal of `txn`, or another node
   * announces one (the store holds it then), so the signing page's stream answers at once. Returns the unsubscribe
   * function.
   */
  watch(txn: string, onChange: (change: TransactionChange) => void): () => void {
    return this.#watch.watch(txn, onChange);
  }

  /**
   * Starts a signing transaction; the browser key goes into an HttpOnly cookie, only its hash and the public key the
   * outcome will be sealed to are stored, with the browser's network tag when known (`input.network`, never its
   * address). Fails closed on a `clientOrigin` no statement may name (client-origin.ts `statementOrigin`: `"null"`, a
   * private-use scheme's, http beside an https provider): nothing is stored, and no statement naming it is ever built.
   *
   * @throws IdpClientLoginOnlyError (`ERR_IDP_CLIENT_LOGIN_ONLY`).
   */
  async start(
    input: Omit<SignTransaction, Exclude<keyof BoundFields, 'uid'> | 'outcomeKey'>,
  ): Promise<{ readonly transaction: SignTransaction; readonly browserKey: string }> {
    if (statementOrigin(input.clientOrigin, this.#o.origin) !== input.clientOrigin) {
      throw new IdpClientLoginOnlyError('redirect-uri');
    }
    const { fields, browserKey } = newBinding(this.#o.now(), this.#o.ttlSeconds);
    const outcomeKey = Buffer.from(outcomeOpener(browserKey).publicKey).toString('base64url');
    const { network, ...rest } = input;
    const transaction: SignTransaction = {
      ...rest,
      ...fields,
      outcomeKey,
      ...(network === undefined ? {} : { network }),
    };
    await this.#o.oneShot.put(`sign:${transaction.txn}`, JSON.stringify(transaction), this.#o.ttlSeconds * 1000);
    return { transaction, browserKey };
  }

  /**
   * The transaction, if it exists and has not expired.
   *
   * @throws IdpLoginNotFoundError (`ERR_IDP_LOGIN_NOT_FOUND`).
   */
  get(txn: string): Promise<SignTransaction> {
    return loadBound<SignTransaction>(this.#o.oneShot, 'sign', txn, this.#o.now());
  }

  /**
   * The owning browser's transaction.
   *
   * @throws `ERR_IDP_LOGIN_NOT_FOUND`; IdpSessionMismatchError (`ERR_IDP_SESSION_MISMATCH`) for another browser.
   */
  async getOwned(txn: string, browserKey: string, uid: string): Promise<SignTransaction> {
    const transaction = await this.get(txn);
    assertOwner(transaction, browserKey, uid);
    return transaction;
  }

  /** The QR link for the current second: `<origin>/companion/sign/<txn>?t=<seconds>&c=<code>`. */
  currentLink(transaction: SignTransaction): { readonly t: number; readonly link: string } {
    return boundLink(transaction, this.#o.origin, '/companion/sign/', this.#o.now());
  }

  /**
   * Opens a scanned QR link: checks the code, then issues a fresh statement with a new nonce (replacing any earlier
   * one, so only the last companion to scan can finish). `from.network`, the companion's network tag, is compared
   * with the browser's ({@link SignView.network}); `from.scanned` is told of the answered scan.
   *
   * @throws `ERR_IDP_LOGIN_NOT_FOUND`, `ERR_IDP_QR_INVALID`, `ERR_IDP_QR_STALE`.
   */
  async scan(txn: string, t: string | null, code: string | null, from: ScanFrom = {}): Promise<SignView> {
    const transaction = await this.get(txn);
    const now = this.#o.now();
    checkQrCode({
      qrSecret: Buffer.from(transaction.qrSecret, 'base64url'),
      qrStartToken: transaction.txn,
      startedAt: transaction.startedAt,
      now,
      t,
      code,
      maxAgeSeconds: this.#o.qrMaxAgeSeconds,
    });
    const statement = buildStatement({
      clientName: transaction.clientName,
      clientOrigin: transaction.clientOrigin,
      issuer: this.#o.origin,
      purpose: transaction.purpose,
      items: transaction.items,
      ...(transaction.claimPurposes === undefined ? {} : { claimPurposes: transaction.claimPurposes }),
      nonce: statementNonce(),
      now: new Date(now),
    });
    const canonical = new TextDecoder().decode(statementBytes(statement, statementOriginRule(this.#o.origin)));
    const ttl = Math.min(this.#o.statementTtlSeconds * 1000, transaction.expiresAt - now);
    if (!(ttl > 0)) throw new IdpLoginNotFoundError();
    await this.#watch.record(
      txn,
      'scanned',
      this.#o.oneShot.put(`sign-statement:${txn}`, JSON.stringify(statement), ttl),
    );
    const network = compareNetworks(transaction.network, from.network);
    from.scanned?.(transaction.clientId, network);
    return {
      txn,
      intent: 'sign',
      clientName: transaction.clientName,
      clientOrigin: transaction.clientOrigin,
      origin: this.#o.origin,
      statement,
      canonical,
      expiresAt: now + ttl,
      network,
    };
  }

  /** The outstanding statement without taking it (the development phone signs it server side). */
  async peekStatement(txn: string): Promise<Statement | undefined> {
    const json = await this.#o.oneShot.get(`sign-statement:${txn}`);
    return json === undefined ? undefined : (JSON.parse(json) as Statement);
  }

  /** Whether a companion holds an outstanding statement (the page says "enter your password"). */
  async scanned(txn: string): Promise<boolean> {
    return (await this.scanId(txn)) !== undefined;
  }

  /** Which scan holds the outstanding statement (its nonce; never sent to the page); `undefined` when none does. */
  async scanId(txn: string): Promise<string | undefined> {
    const json = await this.#o.oneShot.get(`sign-statement:${txn}`);
    return json === undefined ? undefined : (JSON.parse(json) as Statement).nonce;
  }

  /**
   * Consumes the outstanding statement for a signature post that names its `nonce`: read, its nonce compared, then
   * deleted only while the store still holds that very statement (compare-and-delete of the stored text, which its
   * nonce makes unique). So of two posts racing for one statement at most one gets it; a post naming any other nonce
   * (whoever merely knows the transaction's id, which every QR frame carries) changes nothing; and a post of a
   * statement that a rescan replaced meanwhile gets nothing and leaves the new one to the companion that holds it.
   * The nonce is compared in constant time; the store's comparison of the statement is reached only after it matched.
   *
   * @throws IdpChallengeInvalidError (`ERR_IDP_CHALLENGE_INVALID`) unless `nonce` is the outstanding statement's:
   *   none was issued, it was used, replaced by a later scan or expired, the transaction finished, or never existed.
   *   IdpLoginNotFoundError (`ERR_IDP_LOGIN_NOT_FOUND`) for an id no transaction can have.
   */
  async consumeStatement(txn: string, nonce: string): Promise<Statement> {
    assertTxn(txn);
    const key = `sign-statement:${txn}`;
    const json = await this.#o.oneShot.get(key);
    if (json !== undefined) {
      const statement = JSON.parse(json) as Statement;
      if (sameNonce(statement.nonce, nonce) && (await this.#o.oneShot.deleteIf(key, json))) return statement;
    }
    throw new IdpChallengeInvalidError();
  }

  /**
   * Records the verified signature for the owning browser, sealed to the transaction's {@link
   * SignTransaction.outcomeKey}: the store never holds it in clear.
   *
   * @throws `ERR_IDP_LOGIN_NOT_FOUND` for a transaction without an outcome key (started before they were made).
   */
  async complete(transaction: SignTransaction, outcome: SignOutcome): Promise<void> {
    const { txn } = transaction;
    const recipient =
      typeof transaction.outcomeKey === 'string' ? Buffer.from(transaction.outcomeKey, 'base64url') : undefined;
    if (recipient?.length !== 32) throw new IdpLoginNotFoundError();
    const box = seal(recipient, Buffer.from(JSON.stringify(outcome), 'utf8'), outcomeAad(txn));
    const write = this.#o.oneShot.put(`sign-result:${txn}`, box, this.#remaining(transaction));
    await this.#watch.record(txn, 'outcome', write);
  }

  /**
   * Takes the verified signature, once, and opens it with the key derived from `browserKey`. Call only after
   * {@link getOwned} (with the same browser key): a box is taken even when it does not open.
   *
   * @throws IdpSessionMismatchError (`ERR_IDP_SESSION_MISMATCH`) when the box does not open with this browser's key
   *   (another browser's key, altered or moved bytes).
   */
  async takeOutcome(txn: string, browserKey: string): Promise<SignOutcome | undefined> {
    const box = await this.#o.oneShot.take(`sign-result:${txn}`);
    if (box === undefined) return undefined;
    let plain: Uint8Array;
    try {
      plain = outcomeOpener(browserKey).open(box, outcomeAad(txn));
    } catch {
      throw new IdpSessionMismatchError();
    }
    return JSON.parse(new TextDecoder().decode(plain)) as SignOutcome;
  }

  async fail(transaction: SignTransaction, body: ErrorBody): Promise<void> {
    const { txn } = transaction;
    const write = this.#o.oneShot.put(`sign-failure:${txn}`, JSON.stringify(body), this.#remaining(transaction));
    await this.#watch.record(txn, 'failure', write);
  }

  async takeFailure(txn: string): Promise<ErrorBody | undefined> {
    const json = await this.#o.oneShot.take(`sign-failure:${txn}`);
    return json === undefined ? undefined : (JSON.parse(json) as ErrorBody);
  }

  async end(txn: string): Promise<void> {
    await Promise.all(SIGN_KEYS.map((k) => this.#o.oneShot.delete(`${k}:${txn}`)));
  }

  /**
   * Ends the transaction of a signature a stream of its browser just finished, keeping its redirect for the browser's
   * other streams on any node, for a minute, in one atomic step (bound-transaction.ts `keepFinished`): the stream that
   * took the outcome may have been on a connection a network change left dead, and the page's reconnected stream then
   * sends the same `done` ({@link finished}, {@link finishedFor}) instead of waiting for an outcome that is gone.
   */
  async finish(transaction: SignTransaction, redirect: string): Promise<void> {
    const { txn } = transaction;
    const ended = SIGN_KEYS.map((k) => `${k}:${txn}`);
    const write = keepFinished(this.#o.oneShot, `sign-done:${txn}`, transaction, redirect, ended);
    await this.#watch.record(txn, 'outcome', write);
  }

  /** The redirect {@link finish} kept. Call only for the owning browser (after {@link getOwned}). */
  async finished(txn: string): Promise<string | undefined> {
    return finishedRedirect(await this.#o.oneShot.get(`sign-done:${txn}`));
  }

  /**
   * The redirect of a signature that finished moments ago ({@link finish}), for the browser holding
   * `browserKey` on interaction `uid` only; `undefined` for any other browser, or when there is none.
   */
  async finishedFor(txn: string, browserKey: string, uid: string): Promise<string | undefined> {
    assertTxn(txn);
    return finishedRedirectFor(this.#o.oneShot, `sign-done:${txn}`, browserKey, uid);
  }

  #remaining(transaction: SignTransaction): number {
    return Math.max(1000, transaction.expiresAt - this.#o.now());
  }
}

/** A signature transaction's own keys, deleted when it ends. */
const SIGN_KEYS = ['sign', 'sign-statement', 'sign-result', 'sign-failure'] as const;

/** Whether a stored statement's nonce is the one a post named, in constant time. */
function sameNonce(stored: unknown, named: string): boolean {
  if (typeof stored !== 'string') return false;
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(named, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The key that opens the outcome of the transaction whose browser holds `browserKey`. */
function outcomeOpener(browserKey: string) {
  return openingKey(Buffer.from(browserKey, 'base64url'), OUTCOME_KEY_LABEL);
}

/** What a box is for, authenticated with it: this use and this transaction. */
function outcomeAad(txn: string): Uint8Array {
  return Buffer.from(`${OUTCOME_KEY_LABEL}:${txn}`, 'utf8');
}
