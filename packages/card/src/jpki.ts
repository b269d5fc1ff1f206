/**
 * The JPKI-AP client: certificates, PIN state and signatures of a My Number Card over any {@link Transport}.
 */
import { CardMalformedError, CardNotJpkiError } from './errors.ts';
import { JPKI_AID, JPKI_EF, MAX_TRIES, TOKENS } from './layout.ts';
import * as iso from './lib/iso.ts';
import { pinBytes } from './pin-format.ts';
import { SW } from './status.ts';
import type { Transport } from './transport.ts';

/** The two JPKI key pairs: user authentication (4-digit PIN, 3 tries) and signature (password, 5 tries). */
export type JpkiKey = 'auth' | 'sign';

/** The four certificates of the JPKI-AP (spec §3.1). */
export type JpkiCertificate = 'auth' | 'authCa' | 'sign' | 'signCa';

/** What the token EF says the JPKI-AP is (spec §3.3). */
export interface JpkiToken {
  /** `card`: My Number Card; `android`: smartphone certificate; `juki`: old 住基カード; `unknown`: anything else. */
  readonly kind: 'card' | 'android' | 'juki' | 'unknown';
  /** The token string with trailing spaces and NULs trimmed, e.g. `JPKIAPICCTOKEN2`. */
  readonly raw: string;
}

/** Options of {@link JpkiClient}. */
export interface JpkiClientOptions {
  /** Bytes per READ BINARY, 1..256. Default 256 (`Le=00`), which every reader takes (spec §1.3). */
  readonly chunkSize?: number;
  /**
   * Read a whole certificate with one extended-length READ BINARY when the transport supports it. Default false:
   * many CCID readers take only short APDUs (spec §1.3).
   */
  readonly extended?: boolean;
}

const CERT_EF: Record<JpkiCertificate, number> = {
  auth: JPKI_EF.authCert,
  authCa: JPKI_EF.authCaCert,
  sign: JPKI_EF.signCert,
  signCa: JPKI_EF.signCaCert,
};
const PIN_EF: Record<JpkiKey, number> = { auth: JPKI_EF.authPin, sign: JPKI_EF.signPin };
const KEY_EF: Record<JpkiKey, number> = { auth: JPKI_EF.authKey, sign: JPKI_EF.signKey };

/**
 * Talks to the JPKI-AP. The AP is selected on first use; {@link selectJpki} selects it again, which logs out
 * (clears verified PINs, spec §4.8). After using another AP on the same transport, call `selectJpki()`.
 *
 * @example
 * ```ts
 * const jpki = new JpkiClient(transport);
 * const cert = await jpki.readCertificate('auth');
 * await jpki.verify('auth', pin);
 * const signature = await jpki.sign('auth', digestInfo('sha256', hash));
 * ```
 */
export class JpkiClient {
  readonly #transport: Transport;
  readonly #read: iso.ReadOptions;
  #selected = false;

  /** @throws TypeError when `chunkSize` is not 1..256. */
  constructor(transport: Transport, options: JpkiClientOptions = {}) {
    const chunk = options.chunkSize ?? 256;
    if (!Number.isInteger(chunk) || chunk < 1 || chunk > 256) throw new TypeError('chunkSize must be 1..256');
    this.#transport = transport;
    this.#read = { chunk, extended: options.extended === true && transport.extendedLength };
  }

  /**
   * SELECTs the JPKI-AP (`00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01`, spec §0). This clears verified PINs.
   *
   * @throws CardNotJpkiError (`ERR_CARD_NOT_JPKI`) when the card has no JPKI-AP.
   */
  async selectJpki(): Promise<void> {
    this.#selected = false;
    const sw = await iso.selectDf(this.#transport, JPKI_AID);
    if (sw !== SW.OK) throw new CardNotJpkiError(sw);
    this.#selected = true;
  }

  /**
   * Reads the token EF `0006` (spec §3.3) to tell a My Number Card from a smartphone or 住基 token.
   *
   * @throws `ERR_CARD_NOT_JPKI`, `ERR_CARD_MALFORMED` (not ASCII), or the error of the card's status word.
   */
  async readToken(): Promise<JpkiToken> {
    await this.#select(JPKI_EF.token);
    // One read of 32 bytes, as myna does; the card may answer fewer (spec §3.3).
    const data = await iso.exchange(this.#transport, { cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 32 });
    if (data.some((b) => b > 0x7e || (b < 0x20 && b !== 0))) throw new CardMalformedError('token EF is not ASCII');
    const raw = new TextDecoder().decode(data).replace(/[ \0]+$/, '');
    return { kind: TOKENS[raw as keyof typeof TOKENS] ?? 'unknown', raw };
  }

  /**
   * Reads a certificate (DER). The first READ BINARY takes the 4-byte header `30 82 LL LL` for the size (spec §3.2,
   * as OpenSC does), then the rest in chunks, or in one extended read when enabled.
   *
   * @throws CardSecurityStatusError (`ERR_CARD_SECURITY_STATUS`) for `sign` before `verify('sign', …)` (spec §0.5),
   *   and for `auth` on a smartphone token before `verify('auth', …)`; `ERR_CARD_MALFORMED` when the header is not
   *   `30 82`.
   */
  async readCertificate(which: JpkiCertificate): Promise<Uint8Array> {
    const ef = CERT_EF[which];
    if (ef === undefined) throw new TypeError(`unknown certificate ${String(which)}`);
    await this.#select(ef);
    const header = await iso.readBinary(this.#transport, 0, 4, { ...this.#read, extended: false });
    if (header[0] !== 0x30 || header[1] !== 0x82) throw new CardMalformedError('certificate does not start 30 82');
    const size = ((header[2]! << 8) | header[3]!) + 4;
    const rest = await iso.readBinary(this.#transport, 4, size - 4, this.#read);
    const cert = new Uint8Array(size);
    cert.set(header);
    cert.set(rest, 4);
    return cert;
  }

  /**
   * Tries left for a PIN, by an empty VERIFY that never spends a try (spec §4.3). 0 means blocked.
   */
  async triesLeft(key: JpkiKey): Promise<number> {
    await this.#select(PIN_EF[checkKey(key)]);
    return iso.triesLeft(this.#transport, MAX_TRIES[key]);
  }

  /**
   * VERIFYs the auth PIN (4 digits) or the sign password (6–16 A–Z0–9, uppercased here). The format is checked before
   * anything is sent, so a typo spends no try. Verification lasts until `selectJpki()` or a card reset.
   *
   * @throws CardPinFormatError (`ERR_CARD_PIN_FORMAT`), CardPinIncorrectError (`ERR_CARD_PIN_INCORRECT`, with
   *   `retriesLeft`), CardPinBlockedError (`ERR_CARD_PIN_BLOCKED`).
   */
  async verify(key: JpkiKey, pin: string): Promise<void> {
    const bytes = pinBytes(checkKey(key), pin);
    await this.#select(PIN_EF[key]);
    await iso.verify(this.#transport, bytes);
  }

  /**
   * Signs with a card key: `80 2A 00 80 Lc data 00` after SELECTing the key EF (spec §4.5). The card applies PKCS#1
   * v1.5 type-1 padding, so `data` is normally a DER DigestInfo ({@link digestInfo}). Returns the 256-byte signature.
   *
   * @throws CardSecurityStatusError (`ERR_CARD_SECURITY_STATUS`) when the key's PIN is not verified;
   *   `ERR_CARD_MALFORMED` when the signature is not 256 bytes.
   * @throws TypeError when `data` is empty or longer than 245 bytes (PKCS#1 v1.5 limit for RSA-2048).
   */
  async sign(key: JpkiKey, data: Uint8Array): Promise<Uint8Array> {
    if (data.length < 1 || data.length > 245) throw new TypeError('data to sign must be 1..245 bytes');
    await this.#select(KEY_EF[checkKey(key)]);
    const signature = await iso.exchange(this.#transport, { cla: 0x80, ins: 0x2a, p1: 0x00, p2: 0x80, data, le: 256 });
    if (signature.length !== 256) throw new CardMalformedError(`signature of ${signature.length} bytes`);
    return signature;
  }

  /**
   * Changes a PIN: VERIFY `current`, then CHANGE REFERENCE DATA `00 24 01 80 Lc next` (spec §4.4). Both values are
   * format-checked before anything is sent. The PIN stays verified afterwards.
   *
   * @throws `ERR_CARD_PIN_FORMAT`, `ERR_CARD_PIN_INCORRECT`, `ERR_CARD_PIN_BLOCKED`, or the card's refusal.
   */
  async changePin(key: JpkiKey, current: string, next: string): Promise<void> {
    const nextBytes = pinBytes(checkKey(key), next);
    await this.verify(key, current);
    await iso.changeReferenceData(this.#transport, nextBytes);
  }

  async #select(ef: number): Promise<void> {
    if (!this.#selected) await this.selectJpki();
    await iso.selectEf(this.#transport, ef);
  }
}

function checkKey(key: JpkiKey): JpkiKey {
  if (key !== 'auth' && key !== 'sign') throw new TypeError(`unknown key ${String(key)}`);
  return key;
}
