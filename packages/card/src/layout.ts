/**
 * Where things are on a My Number Card: application identifiers (spec §2) and file identifiers (spec §3.1, §6, §7).
 */

/** JPKI-AP (公的個人認証AP): certificates, keys and the two JPKI PINs (spec §2). */
export const JPKI_AID: readonly number[] = Object.freeze([0xd3, 0x92, 0xf0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01]);

/** 券面事項入力補助AP (kenhojo, "text AP"): My Number and basic-4 as text (spec §6). */
export const TEXT_AP_AID: readonly number[] = Object.freeze([
  0xd3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08,
]);

/** 券面事項確認AP (kenkaku, "visual AP"): card-face images (spec §7). The virtual card serves only its PIN EFs. */
export const VISUAL_AP_AID: readonly number[] = Object.freeze([
  0xd3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02,
]);

/** EFs of the JPKI-AP (spec §3.1). */
export const JPKI_EF = Object.freeze({
  token: 0x0006,
  authCert: 0x000a,
  authCaCert: 0x000b,
  signCert: 0x0001,
  signCaCert: 0x0002,
  authKey: 0x0017,
  authPin: 0x0018,
  signKey: 0x001a,
  signPin: 0x001b,
});

/** EFs of the text AP (spec §6). */
export const TEXT_EF = Object.freeze({
  myNumber: 0x0001,
  basic4: 0x0002,
  pin: 0x0011,
  /** 照合番号A: the 12-digit My Number. */
  pinA: 0x0014,
  /** 照合番号B: 14 digits (era DOB YYMMDD, card expiry year, security code). */
  pinB: 0x0015,
});

/** PIN EFs of the visual AP (spec §5, §7). */
export const VISUAL_EF = Object.freeze({ pinA: 0x0013, pinB: 0x0012 });

/** Maximum tries of each PIN (spec §5). */
export const MAX_TRIES = Object.freeze({ auth: 3, sign: 5, text: 3 });

/** The token EF strings (spec §3.3) and what they mean. */
export const TOKENS = Object.freeze({
  JPKIAPICCTOKEN2: 'card',
  JPKIAPGPSETOKEN: 'android',
  JPKIAPICCTOKEN: 'juki',
} as const);
