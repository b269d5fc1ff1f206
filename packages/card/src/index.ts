/**
 * `@mynagate/card`: talk to a My Number Card over any {@link Transport}.
 *
 * The My Number itself is not readable through this entry; see `@mynagate/card/my-number-reader`. The PC/SC
 * transport is `@mynagate/card/pcsc`, the virtual card `@mynagate/card/virtual`.
 */
export { encodeCommandApdu, parseCommandApdu, responseApdu, splitResponseApdu } from './apdu.ts';
export type { CommandApdu, ParsedCommandApdu, ResponseApdu } from './apdu.ts';
export { readTlv, readTlvHeader, readTlvs, encodeTlv, type Tlv } from './ber.ts';
export { digestInfo, type DigestAlgorithm } from './digest-info.ts';
export * from './errors.ts';
export { JpkiClient } from './jpki.ts';
export type { JpkiCertificate, JpkiClientOptions, JpkiKey, JpkiToken } from './jpki.ts';
export { JPKI_AID, JPKI_EF, MAX_TRIES, TEXT_AP_AID, TEXT_EF, VISUAL_AP_AID, VISUAL_EF } from './layout.ts';
export { fakeMyNumber, isValidMyNumber, myNumberCheckDigit } from './my-number.ts';
export { isValidPinFormat, pinBytes } from './pin-format.ts';
export { SW, statusError } from './status.ts';
export { TextApClient, parseBasic4, type Basic4 } from './text-ap.ts';
export type { Transport } from './transport.ts';
