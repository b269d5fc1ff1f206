/**
 * `@mynagate/idp`: the OpenID Provider with My Number Card login.
 */
export { ACR_CARD_AUTH, ACR_CARD_SIGN, ACR_VALUES, AMR_CARD } from './acr.ts';
export { checkQrCode, companionLink, qrCode, qrTime, type QrCheck } from './animated-qr.ts';
export { submitCardToken, type CardLoginDeps } from './card-login.ts';
export { oneShotChallengeStore } from './challenge-store.ts';
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
export { messageFor, toHttpError, type BilingualMessage, type ErrorBody, type HttpError } from './http-errors.ts';
export { assertJwks, generateSigningKey, publicJwks, rotateKeys, type PrivateJwk, type PrivateJwks } from './keys.ts';
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
export { startServer, type IdpServer, type ServerConfig } from './server.ts';
export { providerStores } from './stores.ts';
