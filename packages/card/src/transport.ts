/**
 * How the JPKI client reaches a card: one command APDU in, one response APDU (data ‖ SW1 SW2) out.
 *
 * Implementations: {@link VirtualTransport} (the in-process virtual card) and {@link PcscTransport} (a reader
 * through pcscd). A transport does not interpret status words; the client does.
 */
export interface Transport {
  /** Sends one command APDU and resolves with the full response APDU, status word included. */
  transmit(command: Uint8Array): Promise<Uint8Array>;
  /** The card's answer-to-reset, as the reader reported it. */
  readonly atr: Uint8Array;
  /** Whether the transport accepts extended-length APDUs (ISO 7816-4 §5.1). PC/SC readers often do not. */
  readonly extendedLength: boolean;
  /** Releases the card; further calls reject with `ERR_CARD_TRANSPORT_CLOSED`. Idempotent. */
  close(): Promise<void>;
}
