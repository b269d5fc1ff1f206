/**
 * The test JPKI's record of what it issued: one JSON file, rewritten atomically (temp file, fsync, rename, fsync of
 * the directory) so a crash leaves either the old or the new state, never a torn file.
 *
 * Several processes may share a directory (a `ca ocsp` server next to `ca revoke`). Every change is a transaction:
 * under the directory's lock file, re-read `store.json`, apply the change to that state, write it, unlock. So no
 * process writes back an older copy over another's change. Readers see other processes' changes through
 * `refresh()`, which compares the file's content, not its mtime (two writes within one clock tick, or an inode
 * reused by the next rename, would fool a stat check).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestJpkiDamagedError } from './errors.ts';
import { withFileLock, writeFileAtomic } from './lib/fs.ts';
import type { CaKind } from './profiles.ts';

/** RFC 5280 §5.3.1 CRLReason names (removeFromCRL, a delta-CRL device, is not offered). */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn'
  | 'aACompromise';

/** CRLReason codes (RFC 5280 §5.3.1). */
export const REASON_CODES: Readonly<Record<RevocationReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

/** One issued certificate. */
export interface CertificateRecord {
  /** Canonical lowercase hex. Unique across both CAs, so a serial alone names a certificate here. */
  readonly serial: string;
  readonly kind: CaKind;
  /** RFC 4514-style subject, for people reading the file. */
  readonly subject: string;
  /** ISO 8601. */
  readonly notBefore: string;
  readonly notAfter: string;
  status: 'good' | 'revoked';
  revokedAt?: string;
  reason?: RevocationReason;
  /** The card (issuance) this certificate belongs to. */
  readonly cardId: string;
}

/** One issuance: the holder data the certificates were made from, kept so `renew` can re-issue. All fake. */
export interface CardRecord {
  readonly id: string;
  readonly profile: 'card' | 'android';
  readonly holder: {
    readonly name: string;
    readonly address: string;
    /** YYYY-MM-DD. */
    readonly birthDate: string;
    readonly sex: '1' | '2' | '9';
    /** A fake, check-digit-valid test number (`fakeMyNumber`). */
    readonly myNumber: string;
  };
  readonly prefecture: string;
  readonly city: string;
  /** The opaque CN of the auth certificate; kept across renewals. */
  readonly authId: string;
  readonly authSerial: string;
  readonly signSerial: string;
  readonly issuedAt: string;
  readonly cardExpires?: string;
}

/** A renewal link: `predecessor` was replaced by `successor` (spec §9 "linking"). */
export interface LinkRecord {
  readonly kind: CaKind;
  readonly predecessor: string;
  readonly successor: string;
  /** ISO 8601. */
  readonly at: string;
}

/** The whole file. */
export interface StoreData {
  readonly version: 1;
  readonly config: {
    /** Base URL of the local responder, e.g. `http://127.0.0.1:8790`, written into AIA extensions. */
    readonly baseUrl: string;
    /** 9-character issuing-office code in signing-certificate CNs (spec §8.3). */
    readonly officeCode: string;
  };
  sequence: number;
  crlNumber: Record<CaKind, number>;
  certificates: CertificateRecord[];
  cards: CardRecord[];
  links: LinkRecord[];
}

/** The file name inside a test JPKI directory. */
export const STORE_FILE = 'store.json';

/** The lock file every change of the directory is made under (see {@link withStoreLock}). */
export const LOCK_FILE = 'store.json.lock';

/** How long a change waits for another process's by default. Bulk issuance holds the lock for seconds. */
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

/** A state of the store: the committed one, or the draft a change is making. */
export interface StoreState {
  readonly data: StoreData;
  /** The certificate with this canonical serial, if issued here. */
  get(serial: string): CertificateRecord | undefined;
  /** Adds a certificate record. */
  add(record: CertificateRecord): void;
}

/**
 * Runs `fn` holding the lock of the test JPKI in `dir` (`store.json.lock`).
 *
 * @throws TestJpkiLockedError `ERR_TESTJPKI_LOCKED` when another live process holds it past `timeoutMs`.
 */
export function withStoreLock<T>(dir: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  return withFileLock(join(dir, LOCK_FILE), timeoutMs, fn);
}

/** The store over `store.json`: the committed state to read, and {@link Store.update} to change it. */
export class Store {
  readonly path: string;
  readonly #dir: string;
  readonly #lockTimeoutMs: number;
  #state: State;
  #hash: string;
  // Changes and refreshes of this object, one at a time, in order: a refresh never swaps in a state older than
  // a change made before it.
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, state: State, hash: string, lockTimeoutMs: number) {
    this.#dir = dir;
    this.path = join(dir, STORE_FILE);
    this.#state = state;
    this.#hash = hash;
    this.#lockTimeoutMs = lockTimeoutMs;
  }

  /** Writes a new `dir/store.json` holding `data`. The caller holds the directory lock ({@link withStoreLock}). */
  static async create(dir: string, data: StoreData, options: { lockTimeoutMs: number }): Promise<Store> {
    const text = serialize(data);
    await writeFileAtomic(join(dir, STORE_FILE), text, 0o600);
    return new Store(dir, new State(structuredClone(data)), sha256(text), options.lockTimeoutMs);
  }

  /**
   * Loads `dir/store.json`.
   *
   * @throws the fs error (`ENOENT`) when it is absent.
   * @throws TestJpkiDamagedError `ERR_TESTJPKI_DAMAGED` when it is not a test JPKI store (torn, hand-edited).
   */
  static async load(dir: string, options: { lockTimeoutMs: number }): Promise<Store> {
    const path = join(dir, STORE_FILE);
    const bytes = await readFile(path);
    return new Store(dir, new State(parse(path, bytes)), sha256(bytes), options.lockTimeoutMs);
  }

  /** The committed state. Read it; change it only through {@link update}. */
  get data(): StoreData {
    return this.#state.data;
  }

  /** The certificate with this canonical serial, if issued here. */
  get(serial: string): CertificateRecord | undefined {
    return this.#state.get(serial);
  }

  /** Re-reads the file when its content changed since we last read or wrote it (another process changed it). */
  refresh(): Promise<void> {
    return this.#enqueue(() => this.#reload());
  }

  /**
   * Changes the store as one transaction: under the directory lock, re-reads the file, runs `fn` on a draft of
   * that state and writes the draft (when it changed). When `fn` throws, nothing is written and the committed
   * state stays as it was.
   *
   * @throws TestJpkiLockedError `ERR_TESTJPKI_LOCKED`, TestJpkiDamagedError `ERR_TESTJPKI_DAMAGED`, what `fn` throws.
   */
  update<T>(fn: (draft: StoreState) => T | Promise<T>): Promise<T> {
    return this.#enqueue(() =>
      withStoreLock(this.#dir, this.#lockTimeoutMs, async () => {
        await this.#reload();
        const draft = new State(structuredClone(this.#state.data));
        const result = await fn(draft);
        const text = serialize(draft.data);
        const hash = sha256(text);
        if (hash !== this.#hash) await writeFileAtomic(this.path, text, 0o600);
        this.#state = draft;
        this.#hash = hash;
        return result;
      }),
    );
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #reload(): Promise<void> {
    const bytes = await readFile(this.path);
    const hash = sha256(bytes);
    if (hash === this.#hash) return;
    this.#state = new State(parse(this.path, bytes));
    this.#hash = hash;
  }
}

class State implements StoreState {
  readonly data: StoreData;
  readonly #bySerial: Map<string, CertificateRecord>;

  constructor(data: StoreData) {
    this.data = data;
    this.#bySerial = new Map(data.certificates.map((c) => [c.serial, c]));
  }

  get(serial: string): CertificateRecord | undefined {
    return this.#bySerial.get(serial);
  }

  add(record: CertificateRecord): void {
    this.data.certificates.push(record);
    this.#bySerial.set(record.serial, record);
  }
}

function serialize(data: StoreData): string {
  return JSON.stringify(data, null, 2) + '\n';
}

function sha256(bytes: string | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function parse(path: string, bytes: Uint8Array): StoreData {
  let data: StoreData;
  try {
    data = JSON.parse(Buffer.from(bytes).toString('utf8')) as StoreData;
  } catch (e) {
    throw new TestJpkiDamagedError(path, 'not valid JSON (cut short or edited)', { cause: e });
  }
  if (typeof data !== 'object' || data === null) throw new TestJpkiDamagedError(path, 'not a test JPKI store');
  if (data.version !== 1) throw new TestJpkiDamagedError(path, `unsupported store version ${String(data.version)}`);
  const ok =
    typeof data.config === 'object' &&
    data.config !== null &&
    typeof data.config.baseUrl === 'string' &&
    typeof data.sequence === 'number' &&
    typeof data.crlNumber === 'object' &&
    data.crlNumber !== null &&
    Array.isArray(data.certificates) &&
    Array.isArray(data.cards) &&
    Array.isArray(data.links);
  if (!ok) throw new TestJpkiDamagedError(path, 'not a test JPKI store');
  return data;
}
