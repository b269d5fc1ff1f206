/**
 * Reading the 12-digit Individual Number (個人番号, "My Number") from the text AP.
 *
 * **Warning.** The My Number Act (番号利用法, Art. 19 and 20) forbids collecting, storing or passing on a My Number
 * outside tax, social security and disaster-response work. MynaGate never needs it: identity comes from the JPKI
 * certificates. This entry point exists for tools that run on the cardholder's own machine. **No server code may
 * import it**; it is deliberately not exported from `@mynagate/card`.
 *
 * @module
 */
import { readTlv } from './ber.ts';
import { CardMalformedError } from './errors.ts';
import { TEXT_EF } from './layout.ts';
import * as iso from './lib/iso.ts';
import { isValidMyNumber } from './my-number.ts';
import { TextApClient } from './text-ap.ts';
import type { Transport } from './transport.ts';

/**
 * Reads the My Number: SELECT text AP, VERIFY the text-AP PIN, SELECT EF 0001, `00 B0 00 00 11` (spec §6.1, §11.6).
 *
 * **Only for tax, social-security or disaster-response work (My Number Act); never import this from server code.**
 *
 * @example const myNumber = await readMyNumber(transport, textApPin)
 * @throws `ERR_CARD_PIN_FORMAT`, `ERR_CARD_PIN_INCORRECT`, `ERR_CARD_PIN_BLOCKED`, `ERR_CARD_NOT_JPKI`,
 *   `ERR_CARD_MALFORMED` (bad layout or check digit).
 */
export async function readMyNumber(transport: Transport, pin: string): Promise<string> {
  const text = new TextApClient(transport);
  await text.selectTextAp();
  await text.verifyPin(pin);
  await iso.selectEf(transport, TEXT_EF.myNumber);
  return parseMyNumberEf(await iso.exchange(transport, { cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 0x11 }));
}

/**
 * Parses EF 0001: `FF 10 0C` + 12 ASCII digits + `FF FF` (spec §6.1). The tag is a non-minimal long form, so this
 * uses the lenient reader.
 *
 * @throws CardMalformedError (`ERR_CARD_MALFORMED`) unless it holds 12 digits with a valid check digit.
 */
export function parseMyNumberEf(bytes: Uint8Array): string {
  const tlv = readTlv(bytes);
  const value = new TextDecoder().decode(tlv.value);
  if (tlv.tag !== 0xff10 || !isValidMyNumber(value)) throw new CardMalformedError('My Number EF');
  return value;
}
