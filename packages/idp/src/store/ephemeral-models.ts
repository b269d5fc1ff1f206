/**
 * Which node-oidc-provider models are ephemeral: minutes-long, written and read once or twice per login, or replay
 * markers. Losing one costs a retried login, never an account. At scale they live in Redis (open.ts); on SQLite in
 * the separate, not-fsynced-per-commit ephemeral file (sqlite.ts).
 */

/**
 * The ephemeral models. Everything else (`Session`, `Grant`, `RefreshToken`, `Client`, `RegistrationAccessToken`,
 * `InitialAccessToken`) is durable: kept in PostgreSQL, or in the fsynced SQLite file, so a Redis restart or a power
 * loss does not log everyone out or break refresh tokens.
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
]);
