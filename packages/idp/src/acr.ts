/**
 * Authentication context classes and methods the provider speaks. The ACRs are our own URNs, not NIST levels: a
 * card and PIN over a cross-device QR is strong but not phishing-proof, so a bare `aal3` would overclaim
 * (japan-anchors §4.5).
 */

/** Login with the user-authentication certificate (利用者証明用電子証明書) and its 4-digit PIN. */
export const ACR_CARD_AUTH = 'urn:mynagate:acr:card-auth';

/**
 * A signature with the signing certificate (署名用電子証明書): identity proofing (犯収法 施行規則 6条1項1号ワ). Declared and
 * advertised now; the interaction that produces it comes with the card-signature issue.
 */
export const ACR_CARD_SIGN = 'urn:mynagate:acr:card-sign';

/** The ACRs advertised in discovery (`acr_values_supported`), strongest last. */
export const ACR_VALUES: readonly string[] = Object.freeze([ACR_CARD_AUTH, ACR_CARD_SIGN]);

/**
 * `amr` of a card login (RFC 8176 §2): `hwk` proof of a hardware-held key, `pin` the card PIN, `sc` a smart card.
 */
export const AMR_CARD: readonly string[] = Object.freeze(['hwk', 'pin', 'sc']);
