/**
 * A card login transaction: the state behind one QR page, kept server side in the one-shot store so any node can
 * serve any step. It binds together the interaction, the browser session that opened the page, the QR secret, the
 * single challenge the companion gets, and the outcome, which only the owning browser session can take.
 *
 * One login, one person: once a companion's token post presented the outstanding challenge, the login is claimed for
 * it (while its token is checked, at most {@link CLAIM_TTL_MS}, and for the rest of the login once accepted): no other
 * scan gets a challenge and no other token an outcome, so the browser never finishes as whoever posted last (see
 * {@link LoginTransactions.claim}).
 *
 * Keys (one-shot store): `login:<txn>` the transaction, `challenge:<txn>` the outstanding challenge,
 * `claimed:<txn>` the token post that holds the login (a value unique to that post), `result:<txn>` a verified login waiting for its
 * browser (written once), `failure:<txn>` the last refusal, for the page to show, `done:<txn>` the finished login's
 * redirect, for the browser's other event streams (see {@link LoginTransactions.finish}),
 * `handover:<SHA-256 of a one-time code>` a verified login the card-reader bridge handed over (see {@link
 * LoginTransactions.handOver}).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { checkQrCode } from './animated-qr.ts';
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
} from './bound-transaction.ts';
import { forgetChallenge } from './challenge-store.ts';
import {
  IdpChallengeInvalidError,
  IdpHandoverMismatchError,
  IdpLoginFinishedError,
  IdpLoginNotFoundError,
} from './errors.ts';
import { messageFor, type ErrorBody } from './http-errors.ts';
import type { IssuedChallenge, LoginVerifier } from './login-token.ts';
import { compareNetworks, type Network, type ScanFrom } from './network-tag.ts';
import type { ChangeFeedPort, OneShotPort } from './ports.ts';
import { TransactionWatch, type TransactionChange } from './transaction-watch.ts';

/** How many started transactions a node keeps for scans (a few minutes of logins at a high rate). */
const MAX_STARTED = 100_000;
/** How long a hand-over code works: the bridge sends the browser back at once (a redirect). */
const HANDOVER_TTL_MS = 60_000;
/**
 * How long a token post holds the login while its token is checked (see {@link LoginTransactions.claim}): the
 * verifier's round trips (the challenge, revocation with its own timeouts, the people store) take seconds; a minute
 * bounds what a node that dies mid-check, or a claim written whose reply was lost, keeps every rescan refused.
 */
export const CLAIM_TTL_MS = 60_000;

/** One login transaction as stored. */
export interface LoginTransaction extends BoundFields {
  readonly clientId: string;
  /**
   * What the companion shows: the service's name and the origin it asked from (client-origin.ts `clientOriginLabel`:
   * for a native app's private-use redirect, the app it names, `アプリ / app: jp.example.bank`).
   */
  readonly clientName: string;
  readonly clientOrigin: string;
  /** What the person is asked to do; `login` today, `sign` with the card-signature issue. */
  readonly intent: 'login';
  /**
   * The keyed tag of the network the browser started the login from (network-tag.ts `networkTagger`), to compare
   * the companion's with at {@link LoginTransactions.scan}. Never the address. Absent when unknown.
   */
  readonly network?: string | undefined;
  /**
   * Whether the login stands as the consent (consent/login-grant.ts `loginIsConsent`, decided from the interaction's
   * request when the transaction starts): its token post then names the grant the login will save (card-login.ts).
   */
  readonly standsAsConsent?: true | undefined;
}

/** What this node just recorded for a login (see {@link LoginTransactions.watch}). */
export type LoginChange = TransactionChange;

/** A verified card login waiting for its browser session. */
export interface LoginOutcome {
  readonly accountId: string;
  readonly acr: string;
  readonly amr: readonly string[];
  /** Epoch seconds of the card login. */
  readonly ts: number;
  /**
   * The id of the grant this login saves when it stands as the consent: named in the login's `login.card` audit
   * record at the token post, before the grant can exist (card-login.ts), and given to a new grant at the finish
   * (consent/login-grant.ts `saveLoginGrant`).
   */
  readonly grantId?: string | undefined;
}

/** What the companion learns when it opens a QR link. */
export interface CompanionView {
  readonly txn: string;
  readonly clientName: string;
  /** The service's origin, or `アプリ / app: <scheme>` for a native app (see {@link LoginTransaction.clientOrigin}). */
  readonly clientOrigin: string;
  /** The origin the card signs (this provider's). */
  readonly origin: string;
  readonly intent: 'login';
  /** The verifier's nonce (base64 of 32 random bytes); single use. */
  readonly challenge: string;
  /** Epoch ms after which the challenge is refused. */
  readonly challengeExpiresAt: number;
  /**
   * Whether the companion scanned from the network the login page's browser started the login on (the same IPv4 /24
   * or IPv6 /64, as the provider sees the two; network-tag.ts). `other` also when either is unknown. A companion
   * shows a caution before it asks for the PIN when `other`: a login started elsewhere is what a relayed QR code
   * (QRLJacking) looks like, though it may also be the person's own computer on another network.
   */
  readonly network: Network;
}

/** The transaction store's settings. */
export interface LoginTransactionOptions {
  readonly oneShot: OneShotPort;
  /** Word from and to the other nodes sharing the store (see {@link LoginTransactions.watch}); none: one process. */
  readonly changes?: ChangeFeedPort | undefined;
  /** Issues the challenges (bound to the transaction id as the verifier's session id). */
  readonly verifier: Pick<LoginVerifier, 'issueChallenge'>;
  readonly now: () => number;
  readonly origin: string;
  readonly loginTtlSeconds: number;
  readonly challengeTtlSeconds: number;
  readonly qrMaxAgeSeconds: number;
}

/** The login transactions of one provider. */
export class LoginTransactions {
  readonly #o: LoginTransactionOptions;
  readonly #watch: TransactionWatch;
  /**
   * The transactions this node started, until they end or expire: a transaction never changes once written, so a
   * companion's scan on this node reads it here instead of the store (see {@link scan}). Oldest first.
   */
  readonly #started = new Map<string, LoginTransaction>();
  /** Outcomes handed to a watching stream of this node, not written to the store (see {@link complete}). */
  readonly #handedOver = new Map<string, { readonly transaction: LoginTransaction; readonly outcome: LoginOutcome }>();

  constructor(options: LoginTransactionOptions) {
    this.#o = options;
    this.#watch = new TransactionWatch('login', options.changes);
  }

  /**
   * Starts a login for an interaction. Returns the transaction and the browser key, which goes into an HttpOnly
   * cookie of the browser that asked and is never stored server side (only its hash is).
   */
  async start(input: {
    readonly uid: string;
    readonly clientId: string;
    readonly clientName: string;
    readonly clientOrigin: string;
    /** The browser's network tag (network-tag.ts), never its address; absent when unknown. */
    readonly network?: string | undefined;
    /** Whether the login stands as the consent ({@link LoginTransaction.standsAsConsent}). */
    readonly standsAsConsent?: boolean | undefined;
  }): Promise<{ readonly transaction: LoginTransaction; readonly browserKey: string }> {
    const { fields, browserKey } = newBinding(this.#o.now(), this.#o.loginTtlSeconds);
    const transaction: LoginTransaction = {
      ...fields,
      uid: input.uid,
      clientId: input.clientId,
      clientName: input.clientName,
      clientOrigin: input.clientOrigin,
      intent: 'login',
      ...(input.network === undefined ? {} : { network: input.network }),
      ...(input.standsAsConsent === true ? { standsAsConsent: true } : {}),
    };
    await this.#o.oneShot.put(`login:${transaction.txn}`, JSON.stringify(transaction), this.#o.loginTtlSeconds * 1000);
    this.#remember(transaction);
    return { transaction, browserKey };
  }

  /**
   * The transaction, if it exists and has not expired.
   *
   * @throws IdpLoginNotFoundError (`ERR_IDP_LOGIN_NOT_FOUND`).
   */
  get(txn: string): Promise<LoginTransaction> {
    return loadBound<LoginTransaction>(this.#o.oneShot, 'login', txn, this.#o.now());
  }

  /**
   * The owning browser's transaction: the cookie's key must hash to the stored one and the interaction must match.
   *
   * @throws `ERR_IDP_LOGIN_NOT_FOUND`; IdpSessionMismatchError (`ERR_IDP_SESSION_MISMATCH`) for any other browser.
   */
  async getOwned(txn: string, browserKey: string, uid: string): Promise<LoginTransaction> {
    const transaction = await this.get(txn);
    assertOwner(transaction, browserKey, uid);
    return transaction;
  }

  /** The QR link for the current second. */
  currentLink(transaction: LoginTransaction): { readonly t: number; readonly link: string } {
    return boundLink(transaction, this.#o.origin, '/companion/', this.#o.now());
  }

  /**
   * Opens a scanned QR link: checks the code, then issues the login's one challenge (replacing any earlier one, so
   * of the companions that scan before a token is posted only the last can finish; the one replaced is forgotten).
   * Once a token post claimed the login ({@link claim}), no scan gets a challenge. `from.network`, the companion's
   * network tag, is compared with the browser's ({@link CompanionView.network}).
   *
   * @throws `ERR_IDP_LOGIN_NOT_FOUND`, `ERR_IDP_QR_INVALID`, `ERR_IDP_QR_STALE`, IdpLoginFinishedError
   *   (`ERR_IDP_LOGIN_FINISHED`) once a card answered the login.
   */
  async scan(txn: string, t: string | null, code: string | null, from: ScanFrom = {}): Promise<CompanionView> {
    assertTxn(txn);
    // Started on this node: the transaction is not read from the store, so the code is checked before the store is
    // asked anything. A transaction another node ended meanwhile is refused by its claim, kept until the login expires
    // ({@link keepClaim}).
    const started = this.#started.get(txn);
    const transaction = started !== undefined && started.expiresAt > this.#o.now() ? started : await this.get(txn);
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
    // Only after the code checked out: the answer is for whoever holds a fresh frame, not for anyone with the id.
    if (this.#handedOver.has(txn)) throw new IdpLoginFinishedError();
    const ttlOf = (issued: IssuedChallenge) =>
      Math.min(this.#o.challengeTtlSeconds * 1000, transaction.expiresAt - now, issued.expiresAt - now);
    // The transaction's record of its challenge goes with the verifier's own (one round trip), or after it by a
    // verifier that does not offer that; it is written only while no token post claimed the login, in the same atomic
    // step that reads the challenge it replaces.
    let recorded: Promise<{ readonly written: boolean; readonly previous: string | undefined }> | undefined;
    let recordedNonce: string | undefined;
    const record = (issued: IssuedChallenge): Promise<void> => {
      const ttl = ttlOf(issued);
      recordedNonce = issued.nonce;
      recorded =
        ttl > 0
          ? this.#o.oneShot.putUnless(`challenge:${txn}`, issued.nonce, ttl, `claimed:${txn}`)
          : Promise.resolve({ written: true, previous: undefined });
      return recorded.then(() => {});
    };
    let issued: IssuedChallenge;
    try {
      issued = await this.#o.verifier.issueChallenge(txn, record);
    } catch (e) {
      // The verifier's record failed (a store error) while the transaction's may have been written: a page whose poll
      // saw it would hide its code for a scan no companion can finish. Taken back while it is still this scan's, and
      // the page told, as after any refusal once a companion scanned (best effort: the store just failed).
      const mine = await recorded?.catch(() => undefined);
      if (mine?.written === true && recordedNonce !== undefined) {
        await Promise.all([
          this.#o.oneShot.deleteIf(`challenge:${txn}`, recordedNonce),
          this.fail(transaction, messageFor(e)),
        ]).catch(() => {});
      }
      throw e;
    }
    if (recorded === undefined) await record(issued);
    const { written, previous: replaced } = await recorded!;
    if (!written) {
      // A card answered the login first. The verifier's record of the challenge goes again (no one was given it).
      await forgetChallenge(this.#o.oneShot, issued.nonce).catch(() => {});
      throw new IdpLoginFinishedError();
    }
    const challenge = issued.nonce;
    const ttl = ttlOf(issued);
    if (!(ttl > 0)) throw new IdpLoginNotFoundError();
    // Told at once, before anything else goes to the store: a stream's poll that found the new challenge first and
    // then this notice would say `scanned` twice.
    this.#watch.notify(txn, 'scanned');
    this.#watch.announce(txn, 'scanned');
    // The challenge replaced is forgotten (best effort: unused, it expires anyway). A rescan's own round trip.
    if (replaced !== undefined && replaced !== issued.nonce)
      await forgetChallenge(this.#o.oneShot, replaced).catch(() => {});
    const network = compareNetworks(transaction.network, from.network);
    from.scanned?.(transaction.clientId, network);
    return {
      txn,
      clientName: transaction.clientName,
      clientOrigin: transaction.clientOrigin,
      origin: this.#o.origin,
      intent: transaction.intent,
      challenge,
      challengeExpiresAt: now + ttl,
      network,
    };
  }

  /**
   * What a waiting page polls: whether an outcome or a refusal waits to be taken, whether a companion holds the
   * challenge, and the redirect of the login if another stream of the browser finished it ({@link finish}).
   * Reads only, all at once (one round trip to Redis; no write lock on SQLite), since most polls find nothing; the
   * takes stay the atomic steps. Call only for the owning browser (after {@link getOwned}): `finished` is its own.
   */
  async pending(txn: string): Promise<{
    readonly outcome: boolean;
    readonly failure: boolean;
    readonly scanned: boolean;
    /** The outstanding challenge: which scan holds it (never sent to the page). */
    readonly scanId: string | undefined;
    readonly finished: string | undefined;
  }> {
    const [outcome, failure, challenge, done] = await this.#o.oneShot.getMany(
      ['result', 'failure', 'challenge', 'done'].map((k) => `${k}:${txn}`),
    );
    return {
      outcome: outcome !== undefined || this.#handedOver.has(txn),
      failure: failure !== undefined,
      scanned: challenge !== undefined,
      scanId: challenge,
      finished: finishedRedirect(done),
    };
  }

  /** Whether a companion has scanned and holds an outstanding challenge (the page says "enter your PIN"). */
  async scanned(txn: string): Promise<boolean> {
    return (await this.#o.oneShot.get(`challenge:${txn}`)) !== undefined;
  }

  /**
   * Consumes the outstanding challenge for a post that presents it: only while it is `challenge`, in one atomic step
   * (compare-and-delete), so of two tokens racing for one challenge at most one is checked, and a post naming any
   * other (whoever merely knows the login's id) changes nothing. The store compares, not in constant time: the
   * challenge is 256 random bits, and each guess costs a round trip that dwarfs the comparison.
   *
   * @throws IdpChallengeInvalidError (`ERR_IDP_CHALLENGE_INVALID`) unless `challenge` is the outstanding one.
   */
  async consumeChallenge(txn: string, challenge: string): Promise<void> {
    assertTxn(txn);
    if (!(await this.#o.oneShot.deleteIf(`challenge:${txn}`, challenge))) throw new IdpChallengeInvalidError();
  }

  /**
   * Claims the login for the token post that consumed its challenge ({@link consumeChallenge}), under `holder`, a
   * value unique to that post: written once, for every node, for {@link CLAIM_TTL_MS} while the token is checked,
   * then for the rest of the login once the outcome is kept ({@link keepClaim}). A claimed login gives no other scan a
   * challenge ({@link scan}) and no other token an outcome, so a second card (someone at the screen scanning a fresh
   * frame, a race across nodes) never replaces the first card's login. {@link release} gives it up when the token is
   * refused, and after a store error on the claim itself (it may have been written with its reply lost); a node that
   * dies mid-check leaves it to lapse.
   *
   * @throws IdpLoginFinishedError (`ERR_IDP_LOGIN_FINISHED`) when another post claimed it first.
   */
  async claim(transaction: LoginTransaction, holder: string): Promise<void> {
    const ttl = Math.min(CLAIM_TTL_MS, this.#remaining(transaction));
    if (!(await this.#o.oneShot.putIfAbsent(claimKey(transaction), holder, ttl))) throw new IdpLoginFinishedError();
  }

  /**
   * Keeps `holder`'s claim for the rest of the login, before its outcome is recorded: a scan while the outcome waits
   * for its browser (or, handed over, for the bridge's return) is still refused `ERR_IDP_LOGIN_FINISHED`. Still write
   * once, in one atomic step (`renew`): the claim is extended if it is `holder`'s, or written if it lapsed (a check
   * that outlasted {@link CLAIM_TTL_MS}) and no one took it; one another post took meanwhile stays that post's, and
   * this one makes no outcome. Made long before the outcome is recorded, not after, so that a lapsed claim never lets
   * two outcomes be made.
   *
   * @throws `ERR_IDP_LOGIN_FINISHED` when another post holds the login.
   */
  async keepClaim(transaction: LoginTransaction, holder: string): Promise<void> {
    if (!(await this.#o.oneShot.renew(claimKey(transaction), holder, this.#remaining(transaction))))
      throw new IdpLoginFinishedError();
  }

  /** Gives up `holder`'s claim (a refused token): the login is open to a scan again. Another post's claim stays. */
  async release(transaction: LoginTransaction, holder: string): Promise<void> {
    await this.#o.oneShot.deleteIf(claimKey(transaction), holder);
  }

  /**
   * Records a verified login for the owning browser to take, once: an outcome waiting (here or in the store) is never
   * replaced. When that browser's event stream is on this node (it watches the transaction, which only the owner's
   * stream does), the outcome is handed to it in memory: no write and no take in the store, two round trips fewer on
   * the way to `done`. Should the stream go before taking it, the outcome is written to the store then, for the
   * browser's next stream on any node. Call only with the login's claim ({@link claim}), which is what keeps a
   * second outcome from being made on another node.
   *
   * @throws IdpLoginFinishedError (`ERR_IDP_LOGIN_FINISHED`) when an outcome waits already.
   */
  async complete(transaction: LoginTransaction, outcome: LoginOutcome): Promise<void> {
    const { txn } = transaction;
    if (this.#handedOver.has(txn)) throw new IdpLoginFinishedError();
    if (this.#watch.watching(txn)) {
      this.#handedOver.set(txn, { transaction, outcome });
      this.#watch.notify(txn, 'outcome');
    } else {
      await this.#watch.record(txn, 'outcome', this.#store(transaction, outcome));
    }
  }

  /**
   * Keeps a verified login that the card-reader bridge (`mynagate bridge`) posted as a same-device hand-over, under a
   * fresh one-time code, and returns the code, which only the poster learns (the store keeps its hash). The owning
   * browser's event stream is not told: a page could have sent the person's bridge the link of a login that page's
   * own browser started, and the person's PIN must not finish that. The login finishes only for a browser that comes
   * back with the code and owns the transaction ({@link takeHandover}). `holder` is the poster's claim ({@link
   * claim}), kept with the code so that a refused hand-over gives it up.
   */
  async handOver(transaction: LoginTransaction, outcome: LoginOutcome, holder: string): Promise<string> {
    const code = randomBytes(32).toString('base64url');
    const ttl = Math.min(HANDOVER_TTL_MS, this.#remaining(transaction));
    await this.#o.oneShot.put(handoverKey(code), JSON.stringify({ txn: transaction.txn, outcome, holder }), ttl);
    return code;
  }

  /**
   * Takes the login handed over under `code` (once, whoever asks) for the browser holding `browserKey` on
   * interaction `uid`, and records it for that browser's event stream as {@link complete} does. A browser that does
   * not own the transaction is refused; the code is then used up, the login's own page is told, and the login is
   * open to a scan again (its claim given up).
   *
   * @throws `ERR_IDP_LOGIN_NOT_FOUND` (no such code: unknown, used or expired; or the login is gone),
   *   IdpHandoverMismatchError (`ERR_IDP_HANDOVER_MISMATCH`) for any other browser.
   */
  async takeHandover(code: string, browserKey: string | undefined, uid: string): Promise<LoginTransaction> {
    const json = /^[A-Za-z0-9_-]{43}$/.test(code) ? await this.#o.oneShot.take(handoverKey(code)) : undefined;
    if (json === undefined) throw new IdpLoginNotFoundError();
    const { txn, outcome, holder } = JSON.parse(json) as {
      readonly txn: string;
      readonly outcome: LoginOutcome;
      readonly holder: string;
    };
    const transaction = await this.get(txn);
    try {
      if (browserKey === undefined) throw new IdpHandoverMismatchError();
      assertOwner(transaction, browserKey, uid);
    } catch {
      const refused = new IdpHandoverMismatchError();
      await Promise.all([this.fail(transaction, messageFor(refused)), this.release(transaction, holder)]);
      throw refused;
    }
    await this.complete(transaction, outcome);
    return transaction;
  }

  /** Takes the verified login, once; `undefined` while there is none. Call only after {@link getOwned}. */
  async takeOutcome(txn: string): Promise<LoginOutcome | undefined> {
    const local = this.#handedOver.get(txn);
    if (local !== undefined) {
      this.#handedOver.delete(txn);
      return local.outcome;
    }
    const json = await this.#o.oneShot.take(`result:${txn}`);
    return json === undefined ? undefined : (JSON.parse(json) as LoginOutcome);
  }

  /** Records why the last token was refused, for the page (code and bilingual message only). */
  async fail(transaction: LoginTransaction, body: ErrorBody): Promise<void> {
    const { txn } = transaction;
    const write = this.#o.oneShot.put(`failure:${txn}`, JSON.stringify(body), this.#remaining(transaction));
    await this.#watch.record(txn, 'failure', write);
  }

  /**
   * Records a refusal the card gave the companion (a locked PIN, not a My Number Card), for the page, when
   * `challenge` is the transaction's outstanding one (so only the companion that scanned can report). The challenge
   * stays: the person may try again with another card.
   *
   * @throws `ERR_IDP_LOGIN_NOT_FOUND`, `ERR_IDP_CHALLENGE_INVALID`.
   */
  async reportFailure(txn: string, challenge: string, body: ErrorBody): Promise<void> {
    assertTxn(txn);
    const [transaction, outstanding] = await Promise.all([this.get(txn), this.#o.oneShot.get(`challenge:${txn}`)]);
    const a = Buffer.from(challenge);
    const b = Buffer.from(outstanding ?? '');
    if (outstanding === undefined || a.length !== b.length || !timingSafeEqual(a, b))
      throw new IdpChallengeInvalidError();
    await this.fail(transaction, body);
  }

  /** Takes the last refusal, once. */
  async takeFailure(txn: string): Promise<ErrorBody | undefined> {
    const json = await this.#o.oneShot.take(`failure:${txn}`);
    return json === undefined ? undefined : (JSON.parse(json) as ErrorBody);
  }

  /**
   * Ends the transaction of a login a stream of its browser just finished, keeping its redirect for the browser's
   * other streams, on any node (bound-transaction.ts `keepFinished`, for a minute), in one atomic step. A stream that
   * finds the outcome taken ({@link pending}), or that opens after the transaction ended ({@link finishedFor}), sends
   * the same `done`. Readable only with the proof {@link getOwned} asks for. The claim stays until the login would have
   * expired: a scan that still finds the transaction (on the node that started it) is refused `ERR_IDP_LOGIN_FINISHED`.
   */
  async finish(transaction: LoginTransaction, redirect: string): Promise<void> {
    const { txn } = transaction;
    this.#handedOver.delete(txn);
    this.#started.delete(txn);
    const ended = TRANSACTION_KEYS.map((k) => `${k}:${txn}`);
    const write = keepFinished(this.#o.oneShot, `done:${txn}`, transaction, redirect, ended);
    await this.#watch.record(txn, 'outcome', write);
  }

  /**
   * The redirect of a login that finished moments ago ({@link finish}), for the browser holding `browserKey`
   * on interaction `uid` only; `undefined` for any other browser, or when there is none.
   */
  async finishedFor(txn: string, browserKey: string, uid: string): Promise<string | undefined> {
    assertTxn(txn);
    return finishedRedirectFor(this.#o.oneShot, `done:${txn}`, browserKey, uid);
  }

  /**
   * Calls `onChange` with what changed when this node records a scan, an outcome or a refusal of `txn`, so the
   * event stream of a browser on this node answers at once, without reading the store to learn what happened; and,
   * with a change feed, when another node announces one (then the store holds it: an outcome recorded elsewhere is
   * never handed over in memory). Without a feed, or for a notice lost, the stream's polling of the store is what
   * finds it. Returns the unsubscribe function.
   */
  watch(txn: string, onChange: (change: LoginChange) => void): () => void {
    return this.#watch.watch(txn, onChange, () => {
      // The last stream went without taking an outcome handed to it: into the store, for the browser's next stream.
      const left = this.#handedOver.get(txn);
      if (left === undefined) return;
      this.#handedOver.delete(txn);
      this.#store(left.transaction, left.outcome).catch(() => {});
    });
  }

  /** Keeps a transaction this node started; drops the expired ones (all have the same lifetime: oldest first). */
  #remember(transaction: LoginTransaction): void {
    const now = this.#o.now();
    for (const [txn, t] of this.#started) {
      if (t.expiresAt > now && this.#started.size < MAX_STARTED) break;
      this.#started.delete(txn);
    }
    this.#started.set(transaction.txn, transaction);
  }

  /** Writes the outcome for any node to take, once: @throws `ERR_IDP_LOGIN_FINISHED` when one waits already. */
  async #store(transaction: LoginTransaction, outcome: LoginOutcome): Promise<void> {
    const key = `result:${transaction.txn}`;
    if (!(await this.#o.oneShot.putIfAbsent(key, JSON.stringify(outcome), this.#remaining(transaction))))
      throw new IdpLoginFinishedError();
  }

  #remaining(transaction: LoginTransaction): number {
    return Math.max(1000, transaction.expiresAt - this.#o.now());
  }
}

/** A transaction's own keys, deleted when it ends (its claim, `claimed:`, stays until the login would expire). */
const TRANSACTION_KEYS = ['login', 'challenge', 'result', 'failure'] as const;

/** Where the claim of the token post that holds a login is kept. */
function claimKey(transaction: LoginTransaction): string {
  return `claimed:${transaction.txn}`;
}

/** Where a hand-over waits: under the hash of its code, so the store never holds a code that would finish it. */
function handoverKey(code: string): string {
  return `handover:${createHash('sha256').update(code, 'utf8').digest('base64url')}`;
}
