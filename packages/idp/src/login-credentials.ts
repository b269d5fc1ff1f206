/**
 * Which card a login was made with, for as long as a token of that login may still be refreshed: the authentication
 * certificate (its DER carries no personal data, spec §8.2), under the person and the login's time. A refresh token
 * names both (its `accountId` and `authTime`, the session's login time, kept through rotation), so the token endpoint
 * can ask the verifier again whether that certificate still stands (refresh-check.ts), whichever consent or browser
 * the grant came from.
 *
 * Written by the card login itself (card-login.ts), before it can finish; a card signature, which becomes the
 * session's login with its own time, records the session's card under that time too ({@link carryLoginCredential},
 * ekyc/pages.ts).
 *
 * Stored through node-oidc-provider's adapter as the model `LoginCredential` (durable: it must outlive the session),
 * or in process memory when the provider runs on its in-memory adapter.
 */
import type { Adapter, default as Provider } from 'oidc-provider';
import { memoryLoginCredentials } from './memory-stores.ts';
import { REFRESH_CHAIN_SECONDS } from './refresh-policy.ts';

/** The model name in the adapter. */
export const LOGIN_CREDENTIAL_MODEL = 'LoginCredential';

/**
 * How long a login's credential is kept, seconds: a code can be issued while the login's session lasts (a day,
 * provider.ts `TTL.Session`), and the refresh tokens of that code for {@link REFRESH_CHAIN_SECONDS} after it; a day
 * more of margin.
 */
export const LOGIN_CREDENTIAL_TTL_SECONDS = REFRESH_CHAIN_SECONDS + 2 * 24 * 3600;

/** The card of one login. */
export interface LoginCredential {
  /** The person (account id). */
  readonly accountId: string;
  /** Epoch seconds of the login: the session's `loginTs`, a token's `authTime`. */
  readonly loginTs: number;
  /** SHA-256 hex of the authentication certificate (the credential's key in the records). */
  readonly fingerprint: string;
  /** The authentication certificate, base64 DER; absent when the verifier did not give it (refresh then fails). */
  readonly certificate?: string;
}

/** Login credentials by person and login time. */
export interface LoginCredentials {
  /** Stores `login` for `ttlSeconds`, replacing one of the same person and time. */
  put(login: LoginCredential, ttlSeconds: number): Promise<void>;
  /** The credential of the person's login at `loginTs`, if kept. */
  get(accountId: string, loginTs: number): Promise<LoginCredential | undefined>;
}

/**
 * A login credential store over node-oidc-provider's adapter factory, or in memory when `adapter` is `undefined`.
 *
 * @example
 * ```ts
 * const logins = loginCredentialStore(stores.adapter);
 * await logins.put({ accountId, loginTs, fingerprint, certificate }, LOGIN_CREDENTIAL_TTL_SECONDS);
 * ```
 */
export function loginCredentialStore(
  adapter: ((name: string) => Adapter) | undefined,
  now: () => number = Date.now,
): LoginCredentials {
  if (adapter === undefined) return memoryLoginCredentials({ now });
  const model = adapter(LOGIN_CREDENTIAL_MODEL);
  return {
    put: async (login, ttlSeconds) => {
      await model.upsert(
        loginCredentialId(login.accountId, login.loginTs),
        { ...login } as unknown as Record<string, unknown>,
        ttlSeconds,
      );
    },
    get: async (accountId, loginTs) => {
      const found = (await model.find(loginCredentialId(accountId, loginTs))) as unknown as LoginCredential | undefined;
      // Only what names this very login (an entry is never taken for another person's).
      return found?.accountId === accountId && found.loginTs === loginTs ? found : undefined;
    },
  };
}

/**
 * Records the card of the session's current login under `loginTs` as well: a card signature becomes the session's
 * login with its own time (`auth_time`), which the refresh tokens issued after it name. Does nothing when the session
 * or its login's card is not known (a refresh of that login is then refused).
 *
 * @example await carryLoginCredential(logins, provider, details.session, outcome.accountId, outcome.ts)
 * @throws the store's errors.
 */
export async function carryLoginCredential(
  logins: LoginCredentials,
  provider: Pick<Provider, 'Session'>,
  session: { readonly uid?: string | undefined } | undefined,
  accountId: string,
  loginTs: number,
): Promise<void> {
  if (session?.uid === undefined) return;
  const current = await provider.Session.findByUid(session.uid);
  if (current?.accountId !== accountId || typeof current.loginTs !== 'number' || current.loginTs === loginTs) return;
  const previous = await logins.get(accountId, current.loginTs);
  if (previous !== undefined) await logins.put({ ...previous, loginTs }, LOGIN_CREDENTIAL_TTL_SECONDS);
}

/** The adapter id of a login: the person and the login time. */
function loginCredentialId(accountId: string, loginTs: number): string {
  return `${accountId}:${loginTs}`;
}
