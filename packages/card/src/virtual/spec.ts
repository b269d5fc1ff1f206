/**
 * What a virtual My Number Card is made of. The test JPKI (`@mynagate/pki/testing`) produces a spec; the card
 * package turns it into a card file (`writeCardFile`) and serves it (`VirtualCard`).
 *
 * The spec holds PINs in clear only on its way into a card file, where they are stored as salted scrypt hashes.
 */
export interface VirtualCardSpec {
  /** `card`: the plastic card (token `JPKIAPICCTOKEN2`); `android`: the smartphone certificate (`JPKIAPGPSETOKEN`). */
  readonly profile: 'card' | 'android';
  /** Auth private key, PKCS#8 DER (RSA-2048). */
  readonly authKey: Uint8Array;
  /** Sign private key, PKCS#8 DER (RSA-2048). */
  readonly signKey: Uint8Array;
  /** Certificates, DER. */
  readonly authCert: Uint8Array;
  readonly authCaCert: Uint8Array;
  readonly signCert: Uint8Array;
  readonly signCaCert: Uint8Array;
  /** 4 digits. */
  readonly authPin: string;
  /** 6–16 of A–Z0–9 with at least one letter and one digit (stored uppercased). */
  readonly signPassword: string;
  /** 4 digits; the text AP (券面事項入力補助AP) PIN. Defaults to `authPin` when omitted. */
  readonly textPin?: string;
  /**
   * 照合番号B (14 digits: era DOB YYMMDD, card expiry year, security code) for text AP EF 0015 and visual AP EF 0012
   * (spec §5). When omitted those PIN EFs still answer an empty VERIFY (63Cx) but no value verifies.
   */
  readonly textPinB?: string;
  /** Text AP data. `myNumber` is a fake, check-digit-valid test number. */
  readonly text: {
    readonly myNumber: string;
    readonly name: string;
    readonly address: string;
    /** YYYYMMDD, Western calendar. */
    readonly birthDate: string;
    /** ISO/IEC 5218: '1' male, '2' female, '9' not applicable, '0' unknown. */
    readonly sex: '0' | '1' | '2' | '9';
  };
}

/**
 * A card as seen from the contacts: what the vpcd bridge and the in-process transport drive. `VirtualCard`
 * implements it; the bridge needs nothing else.
 */
export interface ApduProcessor {
  /** Answer-to-reset (spec §1.1). */
  readonly atr: Uint8Array;
  /** Processes one command APDU and returns the response APDU (data ‖ SW1 SW2). Never throws for card-level errors. */
  process(command: Uint8Array): Uint8Array;
  /** Power on: a cold start; clears volatile security state (spec §4.8). */
  powerOn(): void;
  /** Power off: clears volatile security state. */
  powerOff(): void;
  /** Warm reset: clears volatile security state. */
  reset(): void;
}
