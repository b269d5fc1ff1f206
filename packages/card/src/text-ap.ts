/**
 * The 券面事項入力補助AP (kenhojo, "text AP") client: the basic-4 information (name, address, birth date, sex) as
 * text, behind the 4-digit text-AP PIN (spec §6).
 *
 * The My Number in EF 0001 is deliberately not read here: see `@mynagate/card/my-number-reader`.
 */
import { readTlv, readTlvHeader, readTlvs } from './ber.ts';
import { CardMalformedError, CardNotJpkiError } from './errors.ts';
import { MAX_TRIES, TEXT_AP_AID, TEXT_EF } from './layout.ts';
import * as iso from './lib/iso.ts';
import { concatBytes } from './lib/bytes.ts';
import { pinBytes } from './pin-format.ts';
import { SW } from './status.ts';
import type { Transport } from './transport.ts';

/** The first read of EF 0002: 7 bytes, its longest BER header (`FF 20 84` + 4 length bytes), as myna (spec §11.6). */
const HEAD = 7;

/** The basic-4 information (基本4情報) as the card stores it in text AP EF 0002 (spec §6.2). */
export interface Basic4 {
  /** 氏名, UTF-8 as stored. */
  readonly name: string;
  /** 住所, from the prefecture. */
  readonly address: string;
  /** 生年月日, `YYYYMMDD`, Western calendar. */
  readonly birthDate: string;
  /** 性別, ISO/IEC 5218: '1' male, '2' female, '9' not applicable, '0' unknown. */
  readonly sex: '0' | '1' | '2' | '9';
}

/**
 * Talks to the text AP. The AP is selected on first use; selecting it again clears the verified PIN.
 *
 * @example
 * ```ts
 * const text = new TextApClient(transport);
 * await text.verifyPin(pin);
 * const { name, address, birthDate, sex } = await text.readBasic4();
 * ```
 */
export class TextApClient {
  readonly #transport: Transport;
  #selected = false;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /**
   * SELECTs the text AP (`00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08`). Clears the verified PIN.
   *
   * @throws CardNotJpkiError (`ERR_CARD_NOT_JPKI`) when the card has no text AP.
   */
  async selectTextAp(): Promise<void> {
    this.#selected = false;
    const sw = await iso.selectDf(this.#transport, TEXT_AP_AID);
    if (sw !== SW.OK) throw new CardNotJpkiError(sw, 'text AP');
    this.#selected = true;
  }

  /** Tries left on the text-AP PIN (EF 0011), by an empty VERIFY that spends no try. 0 means blocked. */
  async triesLeft(): Promise<number> {
    await this.#select(TEXT_EF.pin);
    return iso.triesLeft(this.#transport, MAX_TRIES.text);
  }

  /**
   * VERIFYs the 4-digit text-AP PIN; the format is checked first so a typo spends no try.
   *
   * @throws `ERR_CARD_PIN_FORMAT`, `ERR_CARD_PIN_INCORRECT` (with `retriesLeft`), `ERR_CARD_PIN_BLOCKED`.
   */
  async verifyPin(pin: string): Promise<void> {
    const bytes = pinBytes('text', pin);
    await this.#select(TEXT_EF.pin);
    await iso.verify(this.#transport, bytes);
  }

  /**
   * Reads EF 0002: 7 bytes first for the BER header, then the rest (as myna does, spec §11.6), then
   * {@link parseBasic4}.
   *
   * @throws CardSecurityStatusError (`ERR_CARD_SECURITY_STATUS`) before `verifyPin`; `ERR_CARD_MALFORMED`.
   */
  async readBasic4(): Promise<Basic4> {
    await this.#select(TEXT_EF.basic4);
    const head = await iso.exchange(this.#transport, { cla: 0, ins: 0xb0, p1: 0, p2: 0, le: HEAD });
    // The parse below trusts the header, so neither may exceed what was asked: at most 7 bytes here, and an EF
    // within READ BINARY's 15-bit offsets (spec §4.2), not whatever the card claims.
    if (head.length > HEAD) throw new CardMalformedError(`READ BINARY returned ${head.length} bytes for Le ${HEAD}`);
    const { headerLength, length } = readTlvHeader(head);
    const total = headerLength + length;
    if (total > 0x8000) throw new CardMalformedError('basic-4 EF larger than the 15-bit READ BINARY offset');
    if (head.length >= total) return parseBasic4(head.subarray(0, total));
    const rest = await iso.readBinary(this.#transport, head.length, total - head.length, {
      chunk: 256,
      extended: false,
    });
    return parseBasic4(concatBytes([head, rest]));
  }

  async #select(ef: number): Promise<void> {
    if (!this.#selected) await this.selectTextAp();
    await iso.selectEf(this.#transport, ef);
  }
}

/**
 * Parses the basic-4 EF: `FF 20 len { DF21 header, DF22 name, DF23 address, DF24 YYYYMMDD, DF25 sex }` (spec §6.2),
 * leniently (non-minimal tags and lengths are accepted, see `ber.ts`).
 *
 * @throws CardMalformedError (`ERR_CARD_MALFORMED`) when a field is missing or has the wrong form.
 */
export function parseBasic4(bytes: Uint8Array): Basic4 {
  const outer = readTlv(bytes);
  if (outer.tag !== 0xff20) throw new CardMalformedError('basic-4 EF does not start with tag FF 20');
  const fields = new Map(readTlvs(outer.value).map((t) => [t.tag, t.value]));
  const text = (tag: number, what: string) => {
    const value = fields.get(tag);
    if (!value) throw new CardMalformedError(`basic-4 EF has no ${what}`);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(value);
    } catch (cause) {
      throw new CardMalformedError(`basic-4 ${what} is not UTF-8`, { cause });
    }
  };
  const name = text(0xdf22, 'name');
  const address = text(0xdf23, 'address');
  const birthDate = text(0xdf24, 'birth date');
  const sex = text(0xdf25, 'sex');
  if (!/^[0-9]{8}$/.test(birthDate)) throw new CardMalformedError('basic-4 birth date is not YYYYMMDD');
  if (!isSex(sex)) throw new CardMalformedError('basic-4 sex is not an ISO/IEC 5218 code');
  return { name, address, birthDate, sex };
}

function isSex(s: string): s is Basic4['sex'] {
  return s === '0' || s === '1' || s === '2' || s === '9';
}
