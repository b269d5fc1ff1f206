/**
 * What the provider needs from storage, and nothing more. `stores.ts` fits the storage package's stores
 * (`store/open.ts`) to these; tests may pass their own.
 */
import type { CertRef } from '@mynagate/pki';
import type { Adapter } from 'oidc-provider';
import type { ChangeFeed } from './store/types.ts';

/** Short-lived state with atomic take-and-delete (challenges, QR secrets, login results). */
export interface OneShotPort {
  put(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | undefined>;
  /** Reads several keys in one step: their values in order, `undefined` where none is live. */
  getMany(keys: readonly string[]): Promise<(string | undefined)[]>;
  /** Puts `value` and deletes `deleteKeys` in one atomic step (none of them `key`). */
  putDeleting(key: string, value: string, ttlMs: number, deleteKeys: readonly string[]): Promise<void>;
  /** Returns the value and deletes it in one atomic step: two takers never both get it. */
  take(key: string): Promise<string | undefined>;
  /** {@link take}, and when there was a value, puts `'1'` under `markKey` in the same atomic step. */
  takeMarking(key: string, markKey: string, markTtlMs: number): Promise<string | undefined>;
  /** Puts `value` only if `key` holds none (absent or expired), atomically; resolves whether it did (write once). */
  putIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Puts `value` if `key` holds none or holds `value` already, atomically; resolves whether it did (a claim kept). */
  renew(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Puts `value` unless `unlessKey` holds one, atomically; resolves whether it did and what `key` held before. */
  putUnless(
    key: string,
    value: string,
    ttlMs: number,
    unlessKey: string,
  ): Promise<{ readonly written: boolean; readonly previous: string | undefined }>;
  /** Deletes `key` only while it holds `value`, atomically; resolves whether it did (compare-and-delete). */
  deleteIf(key: string, value: string): Promise<boolean>;
  delete(key: string): Promise<void>;
}

/** Every method of {@link OneShotPort}: the provider checks a port given to it has them all. */
export const ONE_SHOT_METHODS: readonly (keyof OneShotPort)[] = Object.freeze([
  'put',
  'get',
  'getMany',
  'putDeleting',
  'take',
  'takeMarking',
  'putIfAbsent',
  'renew',
  'putUnless',
  'deleteIf',
  'delete',
]);

/** A credential as the login needs it. */
export interface CredentialInput {
  /** SHA-256 hex of the authentication certificate. */
  readonly fingerprint: string;
  readonly serial: string;
  /**
   * SHA-256 hex of the issuing CA's certificate: a serial is unique only under its CA, and J-LIS's CA generations
   * share one name (`@mynagate/pki` `CertRef`).
   */
  readonly issuer: string;
  readonly notAfter: Date;
}

/** People and their card credentials. */
export interface PeoplePort {
  /** The person holding the credential with this certificate fingerprint. */
  findPersonByCredential(fingerprint: string): Promise<string | undefined>;
  /** Creates a person with this first credential, atomically; returns the existing person if another request won. */
  createPersonWithCredential(credential: CredentialInput, now: Date): Promise<string>;
  /** Registers a renewed credential with the person of `oldFingerprint`; returns that person. */
  linkCredential(oldFingerprint: string, credential: CredentialInput, now: Date): Promise<string>;
  /** The fingerprint of the registered credential of this CA (certificate SHA-256 hex) and serial, if any. */
  credentialBySerial(issuer: string, serial: string): Promise<string | undefined>;
  /** The person's authentication certificates (CA and serial): every card they have logged in with. */
  credentialRefs(personId: string): Promise<readonly CertRef[]>;
  /**
   * Whether the person exists and may log in. May answer from memory for a person seen to exist moments ago
   * (`stores.ts` `PERSON_SEEN_MS`).
   */
  personExists(personId: string): Promise<boolean>;
  /** Forgets what {@link personExists} remembers of this person (call it on every node when deleting one). */
  forgetPerson?(personId: string): void;
  /**
   * Appends an audit event (hash-chained by the store). Fields never carry personal data beyond ids. `credential`:
   * the fingerprint of the credential the event is a login with, whose last use is noted in the same commit. `data`:
   * the record's data (a card login's: the id its grant will have, card-login.ts).
   */
  audit(event: {
    readonly type: string;
    readonly personId?: string;
    readonly clientId?: string;
    readonly credential?: string;
    readonly data?: Readonly<Record<string, unknown>>;
    readonly at: Date;
  }): Promise<void>;
}

/** The storage a provider runs on. */
export interface ProviderStores {
  /** node-oidc-provider's adapter factory; `undefined` = its in-memory adapter (development only). */
  readonly adapter: ((name: string) => Adapter) | undefined;
  readonly oneShot: OneShotPort;
  readonly people: PeoplePort;
  /**
   * Word between the nodes sharing these stores that a key changed (see the store's `ChangeFeed`); absent for a
   * single process. With it, a login page's event stream learns of a companion's scan or token posted to another
   * node at once, and reads the store only every {@link IdpConfig.eventPollMs} as a safety net.
   */
  readonly changes?: ChangeFeedPort;
}

/** The stores' change feed, as the provider uses it (the same contract: `store/types.ts`). */
export type ChangeFeedPort = ChangeFeed;
