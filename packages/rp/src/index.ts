/**
 * `@mynagate/rp`: the relying-party SDK of MynaGate. One client per provider; one call per kind of card login;
 * typed results checked against what was asked; `ERR_RP_*` errors. Middleware for Express (`@mynagate/rp/express`)
 * and Fastify (`@mynagate/rp/fastify`).
 */
export { ACR_CARD_AUTH, ACR_CARD_SIGN, acrMeets } from './acr.ts';
export { ageCheckClaims, readAgeOver, type AgeCheck } from './age.ts';
export {
  createMynaGateClient,
  type AgeCheckOptions,
  type AgeCheckResult,
  type AuthorizationRequest,
  type CardLoginOptions,
  type CardLoginResult,
  type CompletionResult,
  type IdentityProofingOptions,
  type IdentityProofingResult,
  type LogoutOptions,
  type MynaGateClient,
  type RequestOptions,
  type StepUpOptions,
} from './client.ts';
export * from './errors.ts';
export { OpenidClientFailure } from './openid-errors.ts';
export type { MynaGateClientOptions, PrivateJwk } from './options.ts';
export {
  memorySessionStore,
  type MemorySessionStoreOptions,
  type MynaGateSession,
  type PendingLogin,
  type SessionLogin,
  type SessionStore,
} from './session.ts';
export {
  AGE_THRESHOLDS,
  IDENTITY_CLAIMS,
  type AgeCheckTransaction,
  type AgeThreshold,
  type CardLoginTransaction,
  type IdentityClaimName,
  type IdentityProofingTransaction,
  type Transaction,
} from './transaction.ts';
export {
  identityProofingClaims,
  readVerifiedIdentity,
  TRUST_FRAMEWORK_JP_AML,
  type ClaimsRequest,
  type ElectronicSignatureEvidence,
  type VerifiedAddress,
  type VerifiedIdentity,
  type VerifiedIdentityClaims,
} from './verified-claims.ts';
