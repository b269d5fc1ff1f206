/**
 * What the provider needs from storage, and nothing more. `stores.ts` fits the storage package's stores
 * (`store/open.ts`) to these; tests may pass their own.
 */
import type { Adapter } from 'oidc-provider';

/** Short-lived state with atomic take-and-delete (challenges, QR secrets, login results). */
export interface OneShotPort {
  put(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | undefined>;
  /** Returns the value and deletes it in one atomic step: two takers never both get it. */
  take(key: string): Promise<string | undefined>;
  delete(key: string): Promise<void>;
}

/** A credential as the login needs it. */
export interface CredentialInput {
  /** SHA-256 hex of the authentication certificate. */
  readonly fingerprint: string;
  readonly serial: string;
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
  /** Notes that the credential was just used to log in. */
  credentialUsed(fingerprint: string, now: Date): Promise<void>;
  /** Whether the person exists and may log in. */
  personExists(personId: string): Promise<boolean>;
  /** Appends an audit event (hash-chained by the store). Fields never carry personal data beyond ids. */
  audit(event: {
    readonly type: string;
    readonly personId?: string;
    readonly clientId?: string;
    readonly at: Date;
  }): Promise<void>;
}

/** The storage a provider runs on. */
export interface ProviderStores {
  /** node-oidc-provider's adapter factory; `undefined` = its in-memory adapter (development only). */
  readonly adapter: ((name: string) => Adapter) | undefined;
  readonly oneShot: OneShotPort;
  readonly people: PeoplePort;
}
