/**
 * Which node-oidc-provider models are ephemeral: login state (the SSO session, interactions), minutes-long codes and
 * tokens, and replay markers. Losing one costs a login, never an account. At scale they live in Redis (open.ts); on
 * SQLite in the separate, not-fsynced-per-commit ephemeral file (sqlite.ts).
 */

/**
 * The ephemeral models. `Session` is among them: it is the provider's login session (a day at most), saved on every
 * login; keeping it off the fsynced path takes a disk flush out of every login's critical path, and a Redis restart
 * or a power loss then means people tap their card again, as after a logout (relying parties keep their own
 * sessions; refresh tokens bound to the session end with it, offline ones do not). Everything else (`Grant`,
 * `RefreshToken`, `Client`, `RegistrationAccessToken`, `InitialAccessToken`) is durable: kept in PostgreSQL, or in
 * the fsynced SQLite file, so consents given and offline refresh tokens survive.
 */
export const EPHEMERAL_MODELS: ReadonlySet<string> = new Set([
  'AccessToken',
  'AuthorizationCode',
  'BackchannelAuthenticationRequest',
  'ClientCredentials',
  'DeviceCode',
  'Interaction',
  'PreAuthorizedCode',
  'PushedAuthorizationRequest',
  'ReplayDetection',
  'Session',
]);
