/**
 * Which card a login was made with, for as long as a token of that login may still be refreshed: the authentication
 * certificate (its DER carries no personal data, spec §8.2), under the person and the login's time. A refresh token
 * names both (its `accountId` and `authTime`, the session's login time, kept through rotation), so the token endpoint
 * can ask the verifier again whether that certificate still stands (refresh-check.ts), whichever consent or browser
 * the grant came from.
 *
 * Two places, so that a card login costs no durable write. Refresh tokens exist only for a grant with
 * `offline_access`, which only the consent screen grants (consent/page.ts; a card login standing as the consent never
 * does: consent/login-grant.ts `loginIsConsent`). So:
 *
 * - the card login *holds* its card in the one-shot store (Redis beside PostgreSQL, the SQLite ephemeral file, or
 *   memory) for the login session's lifetime, {@link LOGIN_SESSION_SECONDS} (card-login.ts, before the login can
 *   finish);
 * - a consent that grants `offline_access` *keeps* the held card of the session's login durably, through
 *   node-oidc-provider's adapter as the model `LoginCredential`, for the refresh chain ({@link keepLoginCredential});
 * - a card signature, which becomes the session's login with its own time, carries the session's card over to that
 *   time, held, and kept too when the grant it signs for gets refresh tokens ({@link carryLoginCredential},
 *   ekyc/pages.ts).
 *
 * Fail closed: a held card that is gone when the consent grants `offline_access` (a Redis restart, a session older than
 * its day) is not kept. The consent goes on, and the refresh tokens of that login are refused at their first use
 * (`invalid_grant`, refresh-check.ts): the service sends the person to log in with the card again.
 */
import type { Adapter, default as Provider } from 'oidc-provider';
import { memoryLoginCredentials } from './memory-stores.ts';
import type { OneShotPort } from './ports.ts';
import { REFRESH_CHAIN_SECONDS } from './refresh-policy.ts';

/** The model name in the adapter (the durable copy). */
export const LOGIN_CREDENTIAL_MODEL = 'LoginCredential';

/**
 * How long a login session lasts, seconds (provider.ts `TTL.Session`), and so how long its card is held: a consent
 * can grant `offline_access` to the session's login while the session lasts.
 */
export const LOGIN_SESSION_SECONDS = 24 * 3600;

/**
 * How long a login's credential is kept durably, seconds: a code can be issued while the login's session lasts
 * ({@link LOGIN_SESSION_SECONDS}), and the refresh tokens of that code for {@link REFRESH_CHAIN_SECONDS} after it; a
 * day more of margin.
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

/** Login credentials by person and login time: held for the session, kept for the refresh chain. */
export interface LoginCredentials {
  /** Holds `login` in the one-shot store for {@link LOGIN_SESSION_SECONDS}, replacing one of the same person and time. */
  hold(login: LoginCredential): Promise<void>;
  /** The held credential of the person's login at `loginTs`, if still held. */
  held(accountId: string, loginTs: number): Promise<LoginCredential | undefined>;
  /** Keeps `login` durably for `ttlSeconds`, replacing one of the same person and time. */
  put(login: LoginCredential, ttlSeconds: number): Promise<void>;
  /** The durably kept credential of the person's login at `loginTs` (what the refresh check reads). */
  get(accountId: string, loginTs: number): Promise<LoginCredential | undefined>;
}

/**
 * A login credential store: held in `oneShot`, kept over node-oidc-provider's adapter factory, or in memory when
 * `adapter` is `undefined`.
 *
 * @example
 * ```ts
 * const logins = loginCredentialStore(stores.adapter, stores.oneShot);
 * await logins.hold({ accountId, loginTs, fingerprint, certificate });
 * ```
 */
export function loginCredentialStore(
  adapter: ((name: string) => Adapter) | undefined,
  oneShot: Pick<OneShotPort, 'put' | 'get'>,
  now: () => number = Date.now,
): LoginCredentials {
  const held: Pick<LoginCredentials, 'hold' | 'held'> = {
    hold: (login) =>
      oneShot.put(heldKey(login.accountId, login.loginTs), JSON.stringify(login), LOGIN_SESSION_SECONDS * 1000),
    held: async (accountId, loginTs) => {
      const json = await oneShot.get(heldKey(accountId, loginTs));
      return json === undefined ? undefined : named(JSON.parse(json) as LoginCredential, accountId, loginTs);
    },
  };
  if (adapter === undefined) return { ...held, ...memoryLoginCredentials({ now }) };
  const model = adapter(LOGIN_CREDENTIAL_MODEL);
  return {
    ...held,
    put: async (login, ttlSeconds) => {
      await model.upsert(
        loginCredentialId(login.accountId, login.loginTs),
        { ...login } as unknown as Record<string, unknown>,
        ttlSeconds,
      );
    },
    get: async (accountId, loginTs) =>
      named(
        (await model.find(loginCredentialId(accountId, loginTs))) as unknown as LoginCredential | undefined,
        accountId,
        loginTs,
      ),
  };
}

/**
 * Keeps the held card of the session's current login durably, for the refresh tokens of a grant that gets
 * `offline_access` now (the consent screen's). Resolves whether the login's card is kept: `false` when the session or
 * its held card is gone (fail closed: nothing is kept, and a refresh of that login is refused, see the top of this
 * file). A card kept already (an earlier consent of this session) is not written again.
 *
 * @example await keepLoginCredential(logins, provider, details.session, accountId)
 * @throws the store's errors (the consent then fails).
 */
export async function keepLoginCredential(
  logins: LoginCredentials,
  provider: Pick<Provider, 'Session'>,
  session: { readonly uid?: string | undefined } | undefined,
  accountId: string,
): Promise<boolean> {
  const loginTs = await sessionLoginTs(provider, session, accountId);
  if (loginTs === undefined) return false;
  const login = await logins.held(accountId, loginTs);
  if (login === undefined) return (await logins.get(accountId, loginTs)) !== undefined;
  await logins.put(login, LOGIN_CREDENTIAL_TTL_SECONDS);
  return true;
}

/**
 * Records the card of the session's current login under `loginTs` as well: a card signature becomes the session's
 * login with its own time (`auth_time`), which the codes and refresh tokens issued after it name. Held always (a
 * consent later in the session keeps it from there); kept durably too when `refreshable` (the grant signed for gets
 * refresh tokens from this authorization). Does nothing when the session or its login's card is not known (a refresh
 * of that login is then refused).
 *
 * @example await carryLoginCredential(logins, provider, details.session, outcome.accountId, outcome.ts, refreshable)
 * @throws the store's errors.
 */
export async function carryLoginCredential(
  logins: LoginCredentials,
  provider: Pick<Provider, 'Session'>,
  session: { readonly uid?: string | undefined } | undefined,
  accountId: string,
  loginTs: number,
  refreshable: boolean,
): Promise<void> {
  const currentTs = await sessionLoginTs(provider, session, accountId);
  if (currentTs === undefined || currentTs === loginTs) return;
  const previous =
    (await logins.held(accountId, currentTs)) ?? (refreshable ? await logins.get(accountId, currentTs) : undefined);
  if (previous === undefined) return;
  const carried = { ...previous, loginTs };
  await Promise.all([
    logins.hold(carried),
    refreshable ? logins.put(carried, LOGIN_CREDENTIAL_TTL_SECONDS) : undefined,
  ]);
}

/** The login time of the session `session` names, when it is this person's. */
async function sessionLoginTs(
  provider: Pick<Provider, 'Session'>,
  session: { readonly uid?: string | undefined } | undefined,
  accountId: string,
): Promise<number | undefined> {
  if (session?.uid === undefined) return undefined;
  const current = await provider.Session.findByUid(session.uid);
  return current?.accountId === accountId && typeof current.loginTs === 'number' ? current.loginTs : undefined;
}

/** Only what names this very login (an entry is never taken for another person's). */
function named(found: LoginCredential | undefined, accountId: string, loginTs: number): LoginCredential | undefined {
  return found?.accountId === accountId && found.loginTs === loginTs ? found : undefined;
}

/** The adapter id of a login: the person and the login time. */
function loginCredentialId(accountId: string, loginTs: number): string {
  return `${accountId}:${loginTs}`;
}

/** The one-shot key of a held login. */
function heldKey(accountId: string, loginTs: number): string {
  return `login-card:${accountId}:${loginTs}`;
}
