/**
 * The virtual My Number Card: a JPKI-AP, a text AP and the PIN EFs of the visual AP, answering APDUs byte for byte
 * as spec §0, §3, §4 and §6 describe, so that OpenSC's `jpki` driver and `myna` work against it unchanged.
 */
import { constants, createPrivateKey, privateEncrypt, type KeyObject } from 'node:crypto';
import { parseCommandApdu, responseApdu, type ParsedCommandApdu } from '../apdu.ts';
import { JPKI_AID, JPKI_EF, TEXT_AP_AID, TEXT_EF, VISUAL_AP_AID, VISUAL_EF } from '../layout.ts';
import { isValidPinFormat } from '../pin-format.ts';
import { SW } from '../status.ts';
import {
  cardFileFromSpec,
  readCardFile,
  saveCardFile,
  withCardFileLock,
  type CardFile,
  type PinId,
  type WriteCardFileOptions,
} from './card-file.ts';
import { hashPinSync, pinMatches } from './pin-hash.ts';
import type { ApduProcessor, VirtualCardSpec } from './spec.ts';
import { encodeBasic4Ef, encodeMyNumberEf } from './text-files.ts';

/** The contact ATR in OpenSC's `jpki` table (spec §1.1): T=1, no historical bytes. */
export const JPKI_CONTACT_ATR: Uint8Array = Uint8Array.of(0x3b, 0xe0, 0x00, 0xff, 0x81, 0x31, 0xfe, 0x45, 0x14);

/** Options of {@link VirtualCard}. */
export interface VirtualCardOptions {
  /**
   * The status word for VERIFY with data on a blocked PIN: 0x6984 (default, as myna-go expects) or 0x6983 (the ISO
   * "authentication method blocked"). The real card's choice is unconfirmed (spec §4.3, §12.1).
   */
  readonly blockedSw?: 0x6983 | 0x6984;
  /** The answer-to-reset. Default {@link JPKI_CONTACT_ATR}. Another ATR makes OpenSC probe by SELECT (spec §1.2). */
  readonly atr?: Uint8Array;
}

/** A data EF, readable when `readWith` is empty or one of its PINs is verified. */
interface DataEf {
  readonly kind: 'data';
  readonly content: Uint8Array;
  readonly readWith: readonly PinId[];
}
interface PinEf {
  readonly kind: 'pin';
  readonly pin: PinId;
  /** Which format CHANGE REFERENCE DATA accepts; absent = the value cannot be changed (照合番号A/B). */
  readonly format?: 'auth' | 'sign' | 'text';
}
interface KeyEf {
  readonly kind: 'key';
  readonly key: KeyObject;
  readonly useWith: PinId;
}
type Ef = DataEf | PinEf | KeyEf;
interface Df {
  readonly aid: readonly number[];
  readonly efs: ReadonlyMap<number, Ef>;
}

/** "Memory failure" (ISO 7816-4 §5.6): the PIN counter could not be saved, so the command did not happen. */
const SW_MEMORY_FAILURE = 0x6581;
/** "No precise diagnosis": an unexpected fault inside the simulator. */
const SW_UNKNOWN = 0x6f00;

const sw = (word: number) => responseApdu(word);

/**
 * A virtual My Number Card. Create it from a card file ({@link VirtualCard.open}, PIN counters persisted) or from a
 * spec in memory ({@link VirtualCard.fromSpec}); drive it through `VirtualTransport` or the vpcd bridge.
 *
 * Security model (spec §4.8): SELECT of any AP (even the current one) clears every verified PIN; SELECT EF keeps
 * them; power off, power on and reset clear them; counters reset only on a correct VERIFY.
 *
 * @example
 * ```ts
 * const card = VirtualCard.open(path);
 * card.process(Uint8Array.of(0x00, 0xa4, 0x04, 0x0c, 0x0a, ...JPKI_AID)); // 90 00
 * ```
 */
export class VirtualCard implements ApduProcessor {
  readonly atr: Uint8Array;
  readonly #file: CardFile;
  readonly #persist: ((file: CardFile) => void) | undefined;
  readonly #reload: (() => CardFile) | undefined;
  readonly #exclusive: (<T>(fn: () => T) => T) | undefined;
  readonly #blockedSw: number;
  readonly #dfs: readonly Df[];
  #df: Df | undefined;
  #ef: Ef | undefined;
  readonly #verified = new Set<PinId>();

  /**
   * A card over validated card-file content (see `parseCardFile`). `persist` is called with the updated content
   * after every PIN counter or value change, before the answer; if it throws, the card answers 6581. `reload`, when
   * given, reads the stored content again before every PIN check or change: the PIN state is the stored one, which
   * other processes holding the same card file change too (a real card has one counter, spec §4.3); if it throws,
   * the card answers 6581. `exclusive`, when given, runs each PIN check or change (reload, persist, compare) as one
   * step among the processes sharing the stored content; if it throws, the card answers 6581.
   *
   * @throws TypeError for a bad option.
   */
  constructor(
    file: CardFile,
    options: VirtualCardOptions = {},
    persist?: (file: CardFile) => void,
    reload?: () => CardFile,
    exclusive?: <T>(fn: () => T) => T,
  ) {
    this.atr = Uint8Array.from(options.atr ?? JPKI_CONTACT_ATR);
    this.#blockedSw = checkBlockedSw(options);
    this.#file = structuredClone(file);
    this.#persist = persist;
    this.#reload = reload;
    this.#exclusive = exclusive;
    this.#dfs = buildDfs(this.#file);
  }

  /**
   * Opens the card stored at `path`; PIN counters and values are read from it before each check and written back
   * durably before each answer, so processes sharing the file share one card.
   *
   * @throws CardFileInvalidError (`ERR_CARD_FILE_INVALID`) when the file is missing, unreadable or not a test card.
   * @throws TypeError for a bad option.
   */
  static open(path: string, options: VirtualCardOptions = {}): VirtualCard {
    checkBlockedSw(options);
    return new VirtualCard(
      readCardFile(path),
      options,
      (file) => saveCardFile(path, file),
      () => readCardFile(path),
      (fn) => withCardFileLock(path, fn),
    );
  }

  /** A card held only in memory (counters are lost when it is dropped). For benchmarks and quick tests. */
  static async fromSpec(
    spec: VirtualCardSpec,
    options: VirtualCardOptions & WriteCardFileOptions = {},
  ): Promise<VirtualCard> {
    return new VirtualCard(await cardFileFromSpec(spec, options), options);
  }

  powerOn(): void {
    this.#clear();
  }

  powerOff(): void {
    this.#clear();
  }

  reset(): void {
    this.#clear();
  }

  /** Processes one command APDU. Never throws: every failure is a status word. */
  process(command: Uint8Array): Uint8Array {
    try {
      return this.#dispatch(parseCommandApdu(command));
    } catch (e) {
      return sw((e as { code?: string }).code === 'ERR_CARD_WRONG_LENGTH' ? SW.WRONG_LENGTH : SW_UNKNOWN);
    }
  }

  #dispatch(c: ParsedCommandApdu): Uint8Array {
    if (c.cla !== 0x00 && c.cla !== 0x80) return sw(SW.CLA_NOT_SUPPORTED);
    const iso = c.cla === 0x00;
    switch (c.ins) {
      case 0xa4:
        return iso ? this.#select(c) : sw(SW.CLA_NOT_SUPPORTED);
      case 0xb0:
        return iso ? this.#readBinary(c) : sw(SW.CLA_NOT_SUPPORTED);
      case 0x20:
        return iso ? this.#verify(c) : sw(SW.CLA_NOT_SUPPORTED);
      case 0x24:
        return iso ? this.#changeReferenceData(c) : sw(SW.CLA_NOT_SUPPORTED);
      case 0x2a:
        return iso ? sw(SW.CLA_NOT_SUPPORTED) : this.#sign(c);
      default:
        return sw(SW.INS_NOT_SUPPORTED);
    }
  }

  /** SELECT (spec §4.1): by DF name (P1=04) or by FID under the current DF (P1=02, also 00). */
  #select(c: ParsedCommandApdu): Uint8Array {
    if (c.p1 === 0x04) {
      // Unknown AIDs answer 6A82 whatever P2 and Le: OpenSC's other drivers probe with them (spec §1.2, §0.8).
      const df = this.#dfs.find((d) => sameBytes(d.aid, c.data));
      if (!df) return sw(SW.FILE_NOT_FOUND);
      if (c.p2 !== 0x0c && c.p2 !== 0x00) return sw(SW.WRONG_P1P2);
      this.#clear(); // re-SELECT of an AP logs out (spec §0.7, §4.8)
      this.#df = df;
      return sw(SW.OK);
    }
    if (c.p1 !== 0x02 && c.p1 !== 0x00) return sw(SW.FILE_NOT_FOUND); // this card knows no paths
    if (c.data.length !== 2) return sw(c.data.length === 0 ? SW.FILE_NOT_FOUND : SW.WRONG_LENGTH);
    const ef = this.#df?.efs.get((c.data[0]! << 8) | c.data[1]!);
    if (!ef) return sw(SW.FILE_NOT_FOUND);
    if (c.p2 !== 0x0c && c.p2 !== 0x00) return sw(SW.WRONG_P1P2);
    this.#ef = ef;
    return sw(SW.OK);
  }

  /** READ BINARY (spec §4.2): 15-bit offset, or the SFI form P1 = 0x80|SFI with an 8-bit offset in P2. */
  #readBinary(c: ParsedCommandApdu): Uint8Array {
    if (c.data.length > 0 || c.le === undefined) return sw(SW.WRONG_LENGTH);
    let offset = (c.p1 << 8) | c.p2;
    if (c.p1 & 0x80) {
      if (c.p1 & 0x60) return sw(SW.WRONG_P1P2);
      const ef = this.#df?.efs.get(c.p1 & 0x1f);
      if (!ef) return sw(SW.FILE_NOT_FOUND);
      this.#ef = ef; // ISO 7816-4 §7.2.2: a READ BINARY by SFI makes the EF current
      offset = c.p2;
    }
    const ef = this.#ef;
    if (!ef) return sw(SW.NOT_ALLOWED);
    if (ef.kind !== 'data') return sw(SW.INCOMPATIBLE_FILE); // keys and PINs are never readable (spec §4.2)
    if (ef.readWith.length > 0 && !ef.readWith.some((p) => this.#verified.has(p))) return sw(SW.SECURITY_STATUS);
    if (offset >= ef.content.length) return sw(SW.OFFSET_OUT_OF_RANGE);
    // Fewer bytes than Le at the end of the file, with 9000, as the real card does (spec §4.2, TRACE).
    return responseApdu(SW.OK, ef.content.subarray(offset, offset + c.le));
  }

  /** VERIFY (spec §4.3): empty = counter query, always 63Cx; with data = check, count down, or blockedSw. */
  #verify(c: ParsedCommandApdu): Uint8Array {
    if (c.p1 !== 0x00) return sw(SW.WRONG_P1P2);
    const ef = this.#pinEf(c.p2);
    if (typeof ef === 'number') return sw(ef);
    // Whatever follows, only a VERIFY that answers 9000 leaves the PIN verified (spec §4.8: failure → verified=false).
    if (c.data.length > 0) this.#verified.delete(ef.pin);
    return this.#oneStep(() => this.#verifyPin(c, ef));
  }

  /**
   * The PIN check in the order a card's counter works: the try is spent and saved durably before the comparison, and
   * given back (the counter reset to its maximum) only after a match. So no comparison is ever left uncounted:
   *
   * - When spending the try cannot be saved (a full disk, a read-only file), the answer is 6581 without comparing:
   *   right and wrong PINs get the same answer. Comparing first and saving after told them apart (6581 against a
   *   9000 that needed no save) and, with the counter read back from the file before each check, gave unlimited
   *   guesses.
   * - A crash or power cut anywhere in the step leaves at worst one try spent, never a compared PIN uncounted, and it
   *   cannot be timed to the comparison's result: before the comparison both outcomes write the same thing.
   * - When the reset cannot be saved after a match, the answer is 6581, the PIN stays unverified and the try stays
   *   spent (in memory as in the file). That tells a right PIN from a wrong one (63Cx), but only for a try already
   *   counted, as 9000 would: no more than any VERIFY reveals. 9000 instead would report a check whose reset never
   *   happened, and a holder on a failing disk would count down to a blocked card with the right PIN and no error.
   *
   * Right and wrong PINs both do one save before the comparison; only a match does a second one, after the try is
   * paid for, when the time it takes can no longer buy a free guess.
   */
  #verifyPin(c: ParsedCommandApdu, ef: PinEf): Uint8Array {
    if (!this.#reloadPins()) return sw(SW_MEMORY_FAILURE);
    const pin = this.#file.pins[ef.pin];
    if (c.data.length === 0) return sw(SW.COUNTER | pin.triesLeft); // never 9000, even when verified (spec §0.4)
    if (pin.triesLeft === 0) return sw(this.#blockedSw);
    if (!this.#setTries(ef.pin, pin.triesLeft - 1)) return sw(SW_MEMORY_FAILURE);
    if (!pinMatches(c.data, pin, this.#file.scrypt)) return sw(SW.COUNTER | pin.triesLeft); // 63C0 blocks it
    if (!this.#setTries(ef.pin, pin.maxTries)) return sw(SW_MEMORY_FAILURE);
    this.#verified.add(ef.pin);
    return sw(SW.OK);
  }

  /** CHANGE REFERENCE DATA `00 24 01 80` (spec §4.4): the PIN must be verified and the new value well-formed. */
  #changeReferenceData(c: ParsedCommandApdu): Uint8Array {
    if (c.p1 !== 0x01) return sw(SW.WRONG_P1P2);
    const ef = this.#pinEf(c.p2);
    if (typeof ef === 'number') return sw(ef);
    if (c.data.length === 0) return sw(SW.WRONG_LENGTH);
    const format = ef.format;
    if (!format) return sw(SW.NOT_ALLOWED);
    return this.#oneStep(() => this.#changePin(c, ef, format));
  }

  #changePin(c: ParsedCommandApdu, ef: PinEf, format: NonNullable<PinEf['format']>): Uint8Array {
    if (!this.#reloadPins()) return sw(SW_MEMORY_FAILURE);
    const pin = this.#file.pins[ef.pin];
    if (pin.triesLeft === 0) return sw(this.#blockedSw);
    if (!this.#verified.has(ef.pin)) return sw(SW.SECURITY_STATUS);
    if (!isValidPinFormat(format, new TextDecoder().decode(c.data))) return sw(SW.SECURITY_STATUS); // spec §4.4 [U]
    const before = { salt: pin.salt, hash: pin.hash };
    Object.assign(pin, hashPinSync(c.data, this.#file.scrypt));
    if (!this.#save()) {
      Object.assign(pin, before);
      return sw(SW_MEMORY_FAILURE);
    }
    return sw(SW.OK);
  }

  /** COMPUTE DIGITAL SIGNATURE `80 2A 00 80` (spec §4.5): PKCS#1 v1.5 type-1 padding + RSA private operation. */
  #sign(c: ParsedCommandApdu): Uint8Array {
    if (c.p1 !== 0x00 || c.p2 !== 0x80) return sw(SW.WRONG_P1P2);
    const ef = this.#ef;
    if (!ef || ef.kind !== 'key') return sw(SW.NOT_ALLOWED);
    if (!this.#verified.has(ef.useWith)) return sw(SW.SECURITY_STATUS);
    if (c.data.length < 1 || c.data.length > 245) return sw(SW.WRONG_LENGTH); // 2048-bit PKCS#1 v1.5 limit
    // privateEncrypt with RSA_PKCS1_PADDING is exactly EMSA-PKCS1-v1_5 type-1 padding + RSASP1 (RFC 8017 §8.2.1).
    const signature = privateEncrypt({ key: ef.key, padding: constants.RSA_PKCS1_PADDING }, c.data);
    return responseApdu(SW.OK, signature);
  }

  /** A PIN check or change as one step among the processes sharing the card file; 6581 when it cannot be. */
  #oneStep(step: () => Uint8Array): Uint8Array {
    if (this.#exclusive === undefined) return step();
    try {
      return this.#exclusive(step);
    } catch {
      return sw(SW_MEMORY_FAILURE);
    }
  }

  /** The PIN EF a VERIFY/CHANGE addresses: P2=80 the current EF, P2=80|SFI a PIN EF of the current DF (AOKI). */
  #pinEf(p2: number): PinEf | number {
    if ((p2 & 0xe0) !== 0x80) return SW.WRONG_P1P2;
    const ef = p2 === 0x80 ? this.#ef : this.#df?.efs.get(p2 & 0x1f);
    return ef?.kind === 'pin' ? ef : SW.NOT_ALLOWED;
  }

  /**
   * Sets a counter and persists it; false when the write failed. A failed write must not unblock anything: a reset
   * is undone (the file still holds the spent try), a decrement is kept in memory (the card answers 6581 without
   * comparing, and a card without `reload` keeps counting down).
   */
  #setTries(id: PinId, tries: number): boolean {
    const pin = this.#file.pins[id];
    if (pin.triesLeft === tries) return true;
    const before = pin.triesLeft;
    pin.triesLeft = tries;
    if (this.#save()) return true;
    if (tries > before) pin.triesLeft = before;
    return false;
  }

  /** The stored PIN counters and values, as other holders of the card file left them; false when unreadable. */
  #reloadPins(): boolean {
    if (this.#reload === undefined) return true;
    try {
      const { pins } = this.#reload();
      for (const id of Object.keys(this.#file.pins) as PinId[]) Object.assign(this.#file.pins[id], pins[id]);
      return true;
    } catch {
      return false;
    }
  }

  #save(): boolean {
    try {
      this.#persist?.(this.#file);
      return true;
    } catch {
      return false;
    }
  }

  #clear(): void {
    this.#df = undefined;
    this.#ef = undefined;
    this.#verified.clear();
  }
}

function checkBlockedSw(options: VirtualCardOptions): number {
  const blockedSw = options.blockedSw ?? SW.REF_DATA_NOT_USABLE;
  if (blockedSw !== SW.REF_DATA_NOT_USABLE && blockedSw !== SW.AUTH_BLOCKED) {
    throw new TypeError('blockedSw must be 0x6984 or 0x6983');
  }
  return blockedSw;
}

function buildDfs(file: CardFile): Df[] {
  const der = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
  const key = (b64: string) => createPrivateKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'pkcs8' });
  const data = (content: Uint8Array, ...readWith: PinId[]): DataEf => ({ kind: 'data', content, readWith });
  const pin = (id: PinId, format?: PinEf['format']): PinEf => ({ kind: 'pin', pin: id, format });
  const token = file.profile === 'card' ? 'JPKIAPICCTOKEN2' : 'JPKIAPGPSETOKEN';
  const jpki = new Map<number, Ef>([
    [JPKI_EF.token, data(new TextEncoder().encode(token.padEnd(32, ' ')))],
    // The smartphone token guards its auth certificate with the auth PIN (spec §3.1, §10.1).
    [
      JPKI_EF.authCert,
      file.profile === 'android' ? data(der(file.certificates.auth), 'auth') : data(der(file.certificates.auth)),
    ],
    [JPKI_EF.authCaCert, data(der(file.certificates.authCa))],
    [JPKI_EF.signCert, data(der(file.certificates.sign), 'sign')],
    [JPKI_EF.signCaCert, data(der(file.certificates.signCa))],
    [JPKI_EF.authKey, { kind: 'key', key: key(file.keys.auth), useWith: 'auth' }],
    [JPKI_EF.signKey, { kind: 'key', key: key(file.keys.sign), useWith: 'sign' }],
    [JPKI_EF.authPin, pin('auth', 'auth')],
    [JPKI_EF.signPin, pin('sign', 'sign')],
  ]);
  const text = new Map<number, Ef>([
    [TEXT_EF.myNumber, data(encodeMyNumberEf(file.text.myNumber), 'text', 'textA')],
    [TEXT_EF.basic4, data(encodeBasic4Ef(file.text), 'text', 'textB')],
    [TEXT_EF.pin, pin('text', 'text')],
    [TEXT_EF.pinA, pin('textA')],
    [TEXT_EF.pinB, pin('textB')],
  ]);
  // The visual AP is served only as far as `myna pin status` walks it: its two PIN EFs (spec §11.5).
  const visual = new Map<number, Ef>([
    [VISUAL_EF.pinA, pin('visualA')],
    [VISUAL_EF.pinB, pin('visualB')],
  ]);
  return [
    { aid: JPKI_AID, efs: jpki },
    { aid: TEXT_AP_AID, efs: text },
    { aid: VISUAL_AP_AID, efs: visual },
  ];
}

function sameBytes(a: readonly number[], b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
