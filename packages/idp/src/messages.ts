/**
 * The provider's words for its error codes, in Japanese and English, without the provider: what the CLI companion and
 * the card-reader bridge print or show for a card, certificate or provider refusal (`@mynagate/idp/messages`). It
 * loads no node-oidc-provider, store or verifier: about 80 ms here, against about 650 ms for `@mynagate/idp`, which a
 * person would otherwise wait for before the first error line.
 */
export { isAnsweredByCode, messageFor, toHttpError, type BilingualMessage, type ErrorBody } from './http-errors.ts';
export { signErrorBody } from './ekyc/messages.ts';
