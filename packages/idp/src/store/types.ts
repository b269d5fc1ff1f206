/**
 * The storage seams of the OpenID Provider: what the provider asks of a store, independent of SQLite, PostgreSQL
 * or Redis. `openStores()` (open.ts) returns one of each; the same contract test runs on every implementation.
 */

/**
 * A stored node-oidc-provider model, as the provider hands it to `upsert` and expects it back from `find`.
 * `consumed` is set by the store (epoch seconds) once `consume` ran.
 */
export interface AdapterPayload {
  [key: string]: unknown;
  grantId?: string;
  userCode?: string;
  uid?: string;
  consumed?: unknown;
}

/**
 * node-oidc-provider's adapter contract for one model (`AccessToken`, `Session`, `Interaction`, …).
 * `expiresIn` is in seconds; `undefined` means no expiry. An expired entry is never returned.
 */
export interface Adapter {
  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
  /**
   * {@link upsert}, only if the entry exists (not deleted, not expired), in one atomic step; resolves whether it
   * wrote. Optional: the Redis adapter has it, where it spares a read before a write (a caller without it reads,
   * then writes).
   */
  upsertExisting?(id: string, payload: AdapterPayload, expiresIn?: number): Promise<boolean>;
  find(id: string): Promise<AdapterPayload | undefined>;
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
  findByUid(uid: string): Promise<AdapterPayload | undefined>;
  /**
   * Marks the entry consumed. Atomic: of two concurrent calls exactly one succeeds; the other rejects with
   * `ERR_STORE_ALREADY_CONSUMED`, so a code or refresh token is never redeemed twice (RFC 6749 §4.1.2).
   */
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  /** Deletes every entry of this model that carries `grantId`. */
  revokeByGrantId(grantId: string): Promise<void>;
}

/** The value of node-oidc-provider's `adapter` option: called once per model name. */
export type OidcAdapterFactory = (name: string) => Adapter;

/** What a one-shot store gives back: strings and objects as put, numbers for counters made by `incr`. */
export type OneShotValue = string | number | object;

/** The most keys {@link OneShotStore.getMany} reads, or {@link OneShotStore.putDeleting} deletes, at once. */
export const ONE_SHOT_MANY_MAX = 16;

/**
 * Short-lived state with atomic take-and-delete: challenges, QR secrets, interaction and login transactions,
 * replay markers, rate-limit counters. Keys are the caller's namespace (prefix them: `challenge:…`).
 */
export interface OneShotStore {
  /** Stores `value` under `key` for `ttlSeconds`, replacing any previous value. */
  put(key: string, value: string | object, ttlSeconds: number): Promise<void>;
  /**
   * Returns the value and deletes it in one atomic step: of any number of concurrent takers exactly one gets it,
   * which is what delivers a result only to the session that started it.
   */
  take<T extends OneShotValue = OneShotValue>(key: string): Promise<T | undefined>;
  /**
   * {@link take}, and, when there was a value, stores `'1'` under `markKey` for `markTtlSeconds` in the same atomic
   * step (one round trip), so that a later taker can tell "taken already" from "never there".
   */
  takeMarking<T extends OneShotValue = OneShotValue>(
    key: string,
    markKey: string,
    markTtlSeconds: number,
  ): Promise<T | undefined>;
  /** Reads without deleting. */
  get<T extends OneShotValue = OneShotValue>(key: string): Promise<T | undefined>;
  /**
   * Reads several keys without deleting, in one step (one statement, one command): the values in the order of
   * `keys`, `undefined` where none is live. At most {@link ONE_SHOT_MANY_MAX} keys.
   */
  getMany(keys: readonly string[]): Promise<(OneShotValue | undefined)[]>;
  /** Deletes; resolves `true` if a live value was there. */
  delete(key: string): Promise<boolean>;
  /**
   * Deletes `key` only while it holds the string `value` (as put), in one atomic step; resolves whether it did.
   * Compare-and-delete: of any number of concurrent callers naming the live value, exactly one deletes it, and a
   * caller naming another value changes nothing (a login's challenge is consumed only by a post that presents it).
   */
  deleteIf(key: string, value: string): Promise<boolean>;
  /**
   * Stores `value` (default `'1'`) only if `key` is absent or expired; resolves `true` for the first caller.
   * Replay detection: `if (!(await putIfAbsent('jti:' + jti, ttl))) reject()`.
   */
  putIfAbsent(key: string, ttlSeconds: number, value?: string | object): Promise<boolean>;
  /**
   * Stores the string `value` under `key` for `ttlSeconds` if the key is absent (or expired) or holds that same value
   * (as put), in one atomic step; resolves whether it did. A write-once holder extends its own claim (a login's
   * `claimed:`, see login-transaction.ts `keepClaim`); a value another caller put stays, with its lifetime.
   */
  renew(key: string, ttlSeconds: number, value: string): Promise<boolean>;
  /**
   * Stores the string `value` under `key` for `ttlSeconds` unless `unlessKey` holds a live value, in one atomic step;
   * resolves whether it wrote and, when it did, what `key` held before. A login's scan issues its challenge this way:
   * none once a token post claimed the login (`claimed:`), and the one it replaced is forgotten (login-transaction.ts).
   */
  putUnless(
    key: string,
    ttlSeconds: number,
    value: string,
    unlessKey: string,
  ): Promise<{ readonly written: boolean; readonly previous: OneShotValue | undefined }>;
  /**
   * Stores `value` under `key` for `ttlSeconds` (replacing any value) and deletes `deleteKeys`, in one atomic step: a
   * reader finds the keys as they were or as they are after, never between. A finished login keeps its redirect and
   * ends its transaction this way, so that a stream that opens meanwhile finds one or the other (events.ts). At most
   * {@link ONE_SHOT_MANY_MAX} keys to delete, none of them `key`.
   */
  putDeleting(key: string, ttlSeconds: number, value: string | object, deleteKeys: readonly string[]): Promise<void>;
  /** Adds one to a counter and returns it; the window of `ttlSeconds` starts with the first increment. */
  incr(key: string, ttlSeconds: number): Promise<number>;
}

/** The only credential kind a person logs in with: the JPKI user-authentication certificate (spec §2). */
export type CredentialKind = 'jpki-auth';

/** A person: an internal random id, never derived from the card. Services see pairwise HMACs of it, not this. */
export interface Person {
  readonly id: string;
  readonly createdAt: Date;
}

/** A certificate to register. `fingerprint` is the SHA-256 of the certificate DER, 64 lowercase hex digits. */
export interface NewCredential {
  readonly kind: CredentialKind;
  readonly fingerprint: string;
  /**
   * SHA-256 of the issuing CA's certificate, lowercase hex (a serial is unique only under its CA, and J-LIS's CA
   * generations share one name).
   */
  readonly issuer: string;
  /** Serial number, lowercase hex without leading zeros. */
  readonly serial: string;
  readonly notAfter: Date;
  /** The certificate DER, only if configured to keep it; omitted, the column stays NULL. */
  readonly certificate?: Uint8Array;
}

/** A registered certificate of a person. */
export interface Credential {
  readonly personId: string;
  readonly kind: CredentialKind;
  readonly fingerprint: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notAfter: Date;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  readonly certificate: Uint8Array | null;
}

/** A consent to give: what the person saw and agreed to share with one service. */
export interface NewConsent {
  readonly personId: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly claims: readonly string[];
  /** The exact text shown on the consent screen, kept as evidence. */
  readonly textShown: string;
}

/** A recorded consent; `withdrawnAt` is set once the person withdrew it. */
export interface Consent extends NewConsent {
  readonly id: string;
  readonly grantedAt: Date;
  readonly withdrawnAt: Date | null;
}

/** An audit event to append. `data` must be JSON (no personal data beyond what the event needs). */
export interface AuditEvent {
  readonly type: string;
  readonly personId?: string | null;
  readonly clientId?: string | null;
  readonly data?: Record<string, unknown>;
}

/** Options of {@link RecordStore.appendAudit}. */
export interface AuditOptions {
  readonly touchCredential?: string;
}

/** An appended audit row: `hash = SHA-256(prevHash ‖ canonical row)`, the first row chains from 64 zeros. */
export interface AuditRecord {
  readonly seq: number;
  readonly at: Date;
  readonly type: string;
  readonly personId: string | null;
  readonly clientId: string | null;
  readonly data: Record<string, unknown>;
  readonly prevHash: string;
  readonly hash: string;
}

/** Outcome of `createPersonWithCredential`: `created` is false when the card was already registered. */
export interface Registration {
  readonly person: Person;
  readonly credential: Credential;
  readonly created: boolean;
}

/**
 * Durable records: people, their certificates and certificate links, consents, and the audit log.
 * Pairwise subjects are not stored: they are HMACs the provider computes from the person id.
 */
export interface RecordStore {
  findPerson(personId: string): Promise<Person | undefined>;
  findCredentialByFingerprint(fingerprint: string): Promise<Credential | undefined>;
  /** The credential of the certificate `serial` (canonical lower-case hex) of the CA `issuer` (certificate SHA-256 hex), if registered. */
  findCredentialBySerial(issuer: string, serial: string): Promise<Credential | undefined>;
  listCredentials(personId: string): Promise<Credential[]>;
  /**
   * One card = one person: registers the certificate with a new person, or, if the fingerprint is already
   * registered (also by a concurrent call), returns the existing person with `created: false`.
   */
  createPersonWithCredential(credential: NewCredential): Promise<Registration>;
  /** Adds a certificate to an existing person. Throws `ERR_STORE_NOT_FOUND`, `ERR_STORE_CONFLICT`. */
  addCredential(personId: string, credential: NewCredential): Promise<Credential>;
  /**
   * Records that `newCredential` replaces the certificate `oldFingerprint` (renewal, reissue) and registers it with
   * the same person, so the person's `sub` survives. Throws `ERR_STORE_NOT_FOUND`, `ERR_STORE_CONFLICT`.
   */
  linkCredential(oldFingerprint: string, newCredential: NewCredential): Promise<Credential>;
  /** Sets `lastUsedAt` to now. Throws `ERR_STORE_NOT_FOUND`. */
  touchCredential(fingerprint: string): Promise<void>;
  /**
   * Credentials whose issuer is `name` (a CA's name, as credentials registered before issuers were CA fingerprints
   * kept it) get `fingerprint` (that CA's certificate SHA-256, lowercase hex) instead; resolves how many. Only for a
   * name no other trusted CA has (`upgradeCredentialIssuers`). Throws TypeError on a malformed fingerprint.
   */
  relabelCredentialIssuer(name: string, fingerprint: string): Promise<number>;
  recordConsent(consent: NewConsent): Promise<Consent>;
  /** Withdraws every active consent of the person for the client; resolves the number withdrawn. */
  withdrawConsent(personId: string, clientId: string): Promise<number>;
  /** All consents of the person, withdrawn ones included, oldest first. */
  listConsents(personId: string): Promise<Consent[]>;
  /**
   * Appends to the hash-chained audit. `touchCredential`: a credential whose `lastUsedAt` becomes the row's time in
   * the same commit (a login's record and its credential's last use); a fingerprint with no credential is ignored.
   */
  appendAudit(event: AuditEvent, options?: AuditOptions): Promise<AuditRecord>;
  /** The person's own history, oldest first. */
  listAudit(personId: string): Promise<AuditRecord[]>;
  /** The hash of audit row `seq`, or `undefined` when there is no such row (what an anchor of the chain is checked by). */
  auditHashAt(seq: number): Promise<string | undefined>;
  /**
   * The last audit row's `seq` and `hash` (what an anchor names), once it is durable; `undefined` while the audit is
   * empty. One row is read: the chain is not checked (see {@link verifyAuditChain}).
   */
  auditHead(): Promise<{ readonly seq: number; readonly hash: string } | undefined>;
  /** Recomputes the whole chain. Throws `ERR_STORE_AUDIT_CHAIN` with the first bad `seq`. */
  verifyAuditChain(): Promise<{ count: number; head: string }>;
  close(): Promise<void>;
}

/**
 * Word between the nodes of one deployment that something changed: a node that records a change under a key tells
 * the others, so one waiting for it (a login page's event stream) looks at once instead of at its next poll.
 * Best effort: a notice can be lost (a node reconnecting), so a waiter still polls, less often.
 */
export interface ChangeFeed {
  /** Tells every other node that `key` changed. Resolves once sent; rejects like the store it goes through. */
  publish(key: string): Promise<void>;
  /** Calls `onKey` for every key another node publishes, until the returned function is called. */
  subscribe(onKey: (key: string) => void): () => void;
}

/** The stores the provider runs on, as `openStores()` returns them. */
export interface Stores {
  readonly adapter: OidcAdapterFactory;
  readonly oneShot: OneShotStore;
  readonly records: RecordStore;
  /** Present when several nodes may share the stores (PostgreSQL + Redis); a single process needs none. */
  readonly changes?: ChangeFeed;
  /** Closes every connection; idempotent. */
  close(): Promise<void>;
}
