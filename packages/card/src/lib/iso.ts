/**
 * ISO 7816-4 commands over a Transport, shared by the JPKI and text-AP clients. Private to the package.
 */
import { encodeCommandApdu, splitResponseApdu, type CommandApdu, type ResponseApdu } from '../apdu.ts';
import { CardMalformedError } from '../errors.ts';
import { concatBytes } from './bytes.ts';
import { SW, statusError } from '../status.ts';
import type { Transport } from '../transport.ts';

/** The most response data one command may gather over a GET RESPONSE chain: one extended Le (ISO 7816-4 §5.1). */
const MAX_RESPONSE = 0x10000;

/**
 * Sends one command and returns the raw response. Follows 61xx with GET RESPONSE and retries 6Cxx with the Le the
 * card asked for (ISO 7816-4 §5.3.4), which T=0 and some contactless readers need; the T=1 contact card never
 * sends them.
 *
 * Only a command that has an Le is sent again on 6Cxx: "wrong Le" is about that field, and repeating a command
 * without one (a VERIFY, Case 3) would be a second try on the PIN counter, not a corrected read.
 *
 * The card may return at most Ne bytes (ISO 7816-4 §5.1): more in one answer than its command's Le, or more over the
 * whole chain than the command's Le (65536 bytes when it has none), is malformed. Unchecked, a card answering
 * `61 00` to a 7-byte read could hand over megabytes through 256 GET RESPONSEs.
 *
 * @throws CardMalformedError (`ERR_CARD_MALFORMED`) for a response longer than asked or an endless chain.
 */
export async function transmit(transport: Transport, command: CommandApdu, extended = false): Promise<ResponseApdu> {
  const send = async (c: CommandApdu, ext: boolean): Promise<ResponseApdu> => {
    const r = splitResponseApdu(await transport.transmit(encodeCommandApdu(c, { extended: ext })));
    // `le` is Ne as a number (a short `00` is already 256, an extended `00 00` 65536); no Le field means Ne = 0,
    // where only the chain's cap applies.
    if (c.le !== undefined && r.data.length > c.le)
      throw new CardMalformedError(`${r.data.length} bytes of response data for Le ${c.le}`);
    return r;
  };
  let sent = command;
  let response = await send(command, extended);
  if (response.sw >> 8 === 0x6c && command.le !== undefined) {
    sent = { ...command, le: response.sw & 0xff || 0x100 };
    response = await send(sent, false);
  }
  const limit = sent.le ?? MAX_RESPONSE;
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let rounds = 0; ; rounds++) {
    total += response.data.length;
    if (total > limit) throw new CardMalformedError(`response data longer than ${limit} bytes`);
    parts.push(response.data);
    if (response.sw >> 8 !== 0x61) break;
    if (rounds >= 256) throw new CardMalformedError('endless GET RESPONSE chain');
    const le = response.sw & 0xff || 0x100;
    response = await send({ cla: 0, ins: 0xc0, p1: 0, p2: 0, le }, false);
  }
  return parts.length === 1 ? response : { data: concatBytes(parts), sw: response.sw };
}

/** Sends one command and returns its data, or throws the error of its status word (`statusError`). */
export async function exchange(transport: Transport, command: CommandApdu, extended = false): Promise<Uint8Array> {
  const { data, sw } = await transmit(transport, command, extended);
  if (sw !== SW.OK) throw statusError(sw);
  return data;
}

/** SELECT by DF name, no FCI (`00 A4 04 0C Lc AID`, spec §4.1). Resolves with the status word. */
export async function selectDf(transport: Transport, aid: readonly number[]): Promise<number> {
  return (await transmit(transport, { cla: 0, ins: 0xa4, p1: 0x04, p2: 0x0c, data: Uint8Array.from(aid) })).sw;
}

/** SELECT EF by FID under the current DF (`00 A4 02 0C 02 FID`, spec §4.1). */
export async function selectEf(transport: Transport, fid: number): Promise<void> {
  await exchange(transport, { cla: 0, ins: 0xa4, p1: 0x02, p2: 0x0c, data: Uint8Array.of(fid >> 8, fid & 0xff) });
}

/** VERIFY the current PIN EF (`00 20 00 80 Lc PIN`, spec §4.3). Throws `ERR_CARD_PIN_INCORRECT`/`_BLOCKED`. */
export async function verify(transport: Transport, pin: Uint8Array): Promise<void> {
  await exchange(transport, { cla: 0, ins: 0x20, p1: 0x00, p2: 0x80, data: pin });
}

/**
 * Tries left on the current PIN EF via an empty VERIFY (`00 20 00 80`), which never spends a try (spec §4.3).
 * The card answers 63Cx; 6983/6984 mean blocked (0). A 9000 (not sent by the JPKI card) is read as "verified, so
 * the counter is at its maximum".
 */
export async function triesLeft(transport: Transport, maxTries: number): Promise<number> {
  const { sw } = await transmit(transport, { cla: 0, ins: 0x20, p1: 0x00, p2: 0x80 });
  if ((sw & 0xfff0) === SW.COUNTER) return sw & 0x0f;
  if (sw === SW.AUTH_BLOCKED || sw === SW.REF_DATA_NOT_USABLE) return 0;
  if (sw === SW.OK) return maxTries;
  throw statusError(sw);
}

/** CHANGE REFERENCE DATA of the current PIN EF, new value only (`00 24 01 80 Lc PIN`, spec §4.4). */
export async function changeReferenceData(transport: Transport, next: Uint8Array): Promise<void> {
  await exchange(transport, { cla: 0, ins: 0x24, p1: 0x01, p2: 0x80, data: next });
}

/** How to read an EF: `chunk` bytes per READ BINARY (≤ 256), or one extended read when `extended` is allowed. */
export interface ReadOptions {
  readonly chunk: number;
  readonly extended: boolean;
}

/**
 * Reads `length` bytes of the current EF from `offset` with READ BINARY (`00 B0 off_hi off_lo Le`, spec §4.2).
 * A card may return fewer bytes than asked; reading continues from there, and an empty answer is malformed (it would
 * loop forever, the bug of myna-go noted in spec §4.2).
 */
export async function readBinary(
  transport: Transport,
  offset: number,
  length: number,
  options: ReadOptions,
): Promise<Uint8Array> {
  if (offset + length > 0x8000) throw new CardMalformedError('EF larger than the 15-bit READ BINARY offset');
  const parts: Uint8Array[] = [];
  let at = offset;
  const end = offset + length;
  while (at < end) {
    const le = options.extended ? Math.min(end - at, 0x10000) : Math.min(end - at, options.chunk);
    const data = await exchange(transport, { cla: 0, ins: 0xb0, p1: at >> 8, p2: at & 0xff, le }, options.extended);
    if (data.length === 0) throw new CardMalformedError(`empty READ BINARY at offset ${at}`);
    if (data.length > le) throw new CardMalformedError(`READ BINARY returned ${data.length} bytes for Le ${le}`);
    parts.push(data);
    at += data.length;
  }
  return concatBytes(parts);
}
