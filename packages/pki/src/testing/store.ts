/**
 * The test JPKI's record of what it issued: one JSON file, rewritten atomically (temp file, fsync, rename, fsync of
 * the directory) so a crash leaves either the old or the new state, never a torn file.
 *
 * One process writes at a time; other processes (a server next to a CLI) see changes through `refresh()`.
 */
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
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

/** The in-memory store over `store.json`. Mutate `data`, then `await save()`. */
export class Store {
  readonly path: string;
  #data: StoreData;
  #bySerial = new Map<string, CertificateRecord>();
  #mtimeMs = 0;
  #saving: Promise<void> = Promise.resolve();
  #pending: Promise<void> | undefined;

  private constructor(path: string, data: StoreData) {
    this.path = path;
    this.#data = data;
    this.#index();
  }

  /** A new store at `dir/store.json` (not yet written). */
  static create(dir: string, data: StoreData): Store {
    return new Store(join(dir, STORE_FILE), data);
  }

  /** Loads `dir/store.json`; rejects with the fs error when absent. */
  static async load(dir: string): Promise<Store> {
    const path = join(dir, STORE_FILE);
    const s = new Store(path, await readData(path));
    s.#mtimeMs = (await stat(path)).mtimeMs;
    return s;
  }

  get data(): StoreData {
    return this.#data;
  }

  /** The certificate with this canonical serial, if issued here. */
  get(serial: string): CertificateRecord | undefined {
    return this.#bySerial.get(serial);
  }

  /** Adds a certificate record. */
  add(record: CertificateRecord): void {
    this.#data.certificates.push(record);
    this.#bySerial.set(record.serial, record);
  }

  /** Re-reads the file when another process changed it since we last read or wrote it. */
  async refresh(): Promise<void> {
    await this.#saving;
    const m = (await stat(this.path)).mtimeMs;
    if (m === this.#mtimeMs) return;
    this.#data = await readData(this.path);
    this.#mtimeMs = m;
    this.#index();
  }

  /**
   * Writes the current state atomically. Saves are serialised and each writes the state as of its turn, so saves
   * requested while one is still waiting share that one write.
   */
  save(): Promise<void> {
    if (this.#pending) return this.#pending;
    const next = this.#saving.then(() => {
      this.#pending = undefined;
      return this.#write();
    });
    this.#pending = next;
    this.#saving = next.catch(() => {});
    return next;
  }

  async #write(): Promise<void> {
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(this.#data, null, 2) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, this.path);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    // fsync the directory so the rename itself is durable.
    const dh = await open(dirname(this.path), 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    this.#mtimeMs = (await stat(this.path)).mtimeMs;
  }

  #index(): void {
    this.#bySerial = new Map(this.#data.certificates.map((c) => [c.serial, c]));
  }
}

async function readData(path: string): Promise<StoreData> {
  const data = JSON.parse(await readFile(path, 'utf8')) as StoreData;
  if (data.version !== 1) throw new TypeError(`unsupported test JPKI store version in ${path}`);
  return data;
}
