/**
 * ISO 7816-4 §5.1 APDUs: command encoding (host side), command parsing (card side) and the response split.
 */
import { CardMalformedError, CardWrongLengthError } from './errors.ts';

/** A command APDU before encoding. `data` gives Nc (0..65535 bytes), `le` gives Ne (1..65536; absent = no Le field). */
export interface CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data?: Uint8Array;
  /** Maximum response length Ne. 256 is sent as `00` (short), 65536 as `00 00` (extended). */
  readonly le?: number;
}

/** A command APDU as the card parsed it: `data` is empty for cases 1 and 2, `le` is undefined for cases 1 and 3. */
export interface ParsedCommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data: Uint8Array;
  readonly le: number | undefined;
  /** Whether the command used the extended-length form. */
  readonly extended: boolean;
}

/** A response APDU split into its body and status word (SW1 ‖ SW2 as one number, e.g. `0x9000`). */
export interface ResponseApdu {
  readonly data: Uint8Array;
  readonly sw: number;
}

const isByte = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xff;

/**
 * Encodes a command APDU (ISO 7816-4 §5.1, cases 1–4). The short form is used unless Nc > 255, Ne > 256 or
 * `extended` is set; the extended form puts a `00` marker, then 2-byte Lc and/or 2-byte Le.
 *
 * @example encodeCommandApdu({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 256 }) // 00 B0 00 00 00
 * @throws TypeError when a header byte, Nc or Ne is out of range.
 */
export function encodeCommandApdu(command: CommandApdu, options: { extended?: boolean } = {}): Uint8Array {
  const { cla, ins, p1, p2, le } = command;
  const data = command.data ?? new Uint8Array(0);
  if (![cla, ins, p1, p2].every(isByte)) throw new TypeError('CLA, INS, P1 and P2 must be bytes');
  if (data.length > 0xffff) throw new TypeError('command data longer than 65535 bytes');
  if (le !== undefined && !(Number.isInteger(le) && le >= 1 && le <= 0x10000)) {
    throw new TypeError('le must be 1..65536');
  }
  const extended = options.extended === true || data.length > 0xff || (le ?? 0) > 0x100;
  const out = [cla, ins, p1, p2];
  if (!extended) {
    if (data.length > 0) out.push(data.length, ...data);
    if (le !== undefined) out.push(le & 0xff); // 256 → 00
  } else if (data.length > 0 || le !== undefined) {
    out.push(0);
    if (data.length > 0) out.push(data.length >> 8, data.length & 0xff, ...data);
    if (le !== undefined) out.push((le >> 8) & 0xff, le & 0xff); // 65536 → 00 00
  }
  return Uint8Array.from(out);
}

/**
 * Parses a command APDU the way a card does (ISO 7816-4 §5.1): a 5th byte of `00` followed by more bytes marks the
 * extended form; Le `00` is 256 (short) and `00 00` is 65536 (extended).
 *
 * @throws CardWrongLengthError (`ERR_CARD_WRONG_LENGTH`) when the bytes match no case; a card answers 6700.
 */
export function parseCommandApdu(bytes: Uint8Array): ParsedCommandApdu {
  const n = bytes.length;
  if (n < 4) throw new CardWrongLengthError('command shorter than 4 bytes');
  const [cla, ins, p1, p2] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  // Copies into plain Uint8Arrays: a Buffer's slice() is a view of the caller's bytes.
  const body = (from: number, to: number) => new Uint8Array(bytes.subarray(from, to));
  const make = (data: Uint8Array, le: number | undefined, extended: boolean): ParsedCommandApdu => {
    return { cla, ins, p1, p2, data, le, extended };
  };
  if (n === 4) return make(new Uint8Array(0), undefined, false); // case 1
  const b4 = bytes[4]!;
  if (n === 5) return make(new Uint8Array(0), b4 || 0x100, false); // case 2S
  if (b4 !== 0) {
    if (n === 5 + b4) return make(body(5, n), undefined, false); // case 3S
    if (n === 6 + b4) return make(body(5, 5 + b4), bytes[n - 1]! || 0x100, false); // case 4S
    throw new CardWrongLengthError('Lc does not match the command length');
  }
  if (n < 7) throw new CardWrongLengthError('truncated extended length');
  const word = (i: number) => (bytes[i]! << 8) | bytes[i + 1]!;
  if (n === 7) return make(new Uint8Array(0), word(5) || 0x10000, true); // case 2E
  const lc = word(5);
  if (lc !== 0 && n === 7 + lc) return make(body(7, n), undefined, true); // case 3E
  if (lc !== 0 && n === 9 + lc) return make(body(7, 7 + lc), word(n - 2) || 0x10000, true); // case 4E
  throw new CardWrongLengthError('extended Lc does not match the command length');
}

/**
 * Splits a response APDU into data and status word.
 *
 * @throws CardMalformedError (`ERR_CARD_MALFORMED`) when it is shorter than the 2-byte status word.
 */
export function splitResponseApdu(response: Uint8Array): ResponseApdu {
  const n = response.length;
  if (n < 2) throw new CardMalformedError(`response of ${n} bytes has no status word`);
  return { data: new Uint8Array(response.subarray(0, n - 2)), sw: (response[n - 2]! << 8) | response[n - 1]! };
}

/** Builds a response APDU: `data ‖ SW1 SW2` (card side). */
export function responseApdu(sw: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(data.length + 2);
  out.set(data);
  out[data.length] = sw >> 8;
  out[data.length + 1] = sw & 0xff;
  return out;
}
