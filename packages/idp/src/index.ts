/**
 * `@mynagate/idp`: the OpenID Provider with My Number Card login.
 */
export { ACR_CARD_AUTH, ACR_CARD_SIGN, ACR_VALUES, AMR_CARD } from './acr.ts';
export { checkQrCode, companionLink, qrCode, qrTime, type QrCheck } from './animated-qr.ts';
export { submitCardToken, type CardLoginDeps } from './card-login.ts';
export { oneShotChallengeStore } from './challenge-store.ts';
export {
  clientOriginLabel,
  CONFIDENTIAL_AUTH_METHODS,
  DEFAULT_AUTH_METHOD,
  ekycClient,
  loginOnlyBecause,
  loginOnlyReason,
  offersEkyc,
  privateUseScheme,
  statementOrigin,
  statementOriginRule,
  type EkycClient,
  type LoginOnlyReason,
} from './client-origin.ts';
export {
  resolveConfig,
  type DevCard,
  type DevConfig,
  type IdpConfig,
  type LinkCertificate,
  type OpenedCard,
  type ResolvedConfig,
} from './config.ts';
export * from './errors.ts';
export {
  isAnsweredByCode,
  messageFor,
  toHttpError,
  type BilingualMessage,
  type ErrorBody,
  type HttpError,
} from './http-errors.ts';
export { assertJwks, generateSigningKey, publicJwks, rotateKeys, type PrivateJwk, type PrivateJwks } from './keys.ts';
export {
  assertAnchorHeld,
  AUDIT_ANCHOR_TYPE,
  signAuditAnchor,
  startAuditAnchoring,
  verifyAuditAnchor,
  type AuditAnchor,
  type AuditAnchoring,
  type AuditAnchoringOptions,
} from './audit-anchor.ts';
export { upgradeCredentialIssuers, type IssuerUpgrade } from './credential-issuers.ts';
export {
  loginSignedData,
  parseLoginToken,
  signLoginToken,
  type LoginCard,
  type LoginToken,
  type IssuedChallenge,
  type LoginTokenContext,
  type LoginVerifier,
  type VerifiedLogin,
} from './login-token.ts';
export { createMemoryStores } from './memory-stores.ts';
export { pairwiseSubject } from './pairwise.ts';
export type { CredentialInput, OneShotPort, PeoplePort, ProviderStores } from './ports.ts';
export { buildProvider, createProvider } from './provider.ts';
export { DEFAULT_SERVER_LIMITS, startServer, type IdpServer, type ServerConfig, type ServerLimits } from './server.ts';
export { proxyTrust, type TrustProxy } from './network-tag.ts';
export { providerStores } from './stores.ts';
export { openStores, type StoreConfig } from './store/open.ts';
export type { Stores } from './store/types.ts';
export { IDENTITY_CLAIM_NAMES, SIGNATURE_TYPE, TRUST_FRAMEWORK, VERIFIED_CLAIM_NAMES } from './claims/names.ts';
export { ageClaim, prefectureOf, PREFECTURES, residesIn } from './claims/derived.ts';
export { normalizeClaimsParameter, requestedClaims, verifiedClaimsRequests } from './claims/request.ts';
export { releaseClaims } from './claims/release.ts';
export { identityClaims, verifiedClaimsAnswer, type VerifiedFacts } from './claims/verified-claims.ts';
export { consentItems, consentText, type ConsentItem } from './consent/items.ts';
export { memoryConsentRecords, type ConsentRecords } from './consent/records.ts';
export { ME_CLIENT_ID } from './consent/me.ts';
export { withdrawConsent } from './consent/withdraw.ts';
export {
  signStatementWithCard,
  submitStatementSignature,
  type SigningCard,
  type StatementSignature,
  type StatementVerifier,
} from './ekyc/card-sign.ts';
export { identityStore, type IdentityStore, type VerifiedIdentity } from './ekyc/identity-store.ts';
export { buildStatement, DEFAULT_PURPOSE, defaultPurpose } from './ekyc/statement.ts';
export type { SignView } from './ekyc/sign-transaction.ts';
export { signErrorBody } from './ekyc/messages.ts';
export { BRIDGE_PORT, ekycMode, platformCardPair } from './config.ts';
export type { EkycConfig, EkycMode, SigningCardPair } from './config.ts';
