/**
 * The in-process transport: a {@link Transport} straight onto an {@link ApduProcessor}, no pcscd involved.
 */
import { CardTransportClosedError } from '../errors.ts';
import type { Transport } from '../transport.ts';
import type { ApduProcessor } from './spec.ts';

/**
 * Drives a virtual card in the same process. Powers the card on when created and off when closed. Extended-length
 * APDUs pass through (the virtual card accepts them).
 *
 * @example
 * ```ts
 * const transport = new VirtualTransport(VirtualCard.open(path));
 * const cert = await new JpkiClient(transport).readCertificate('auth');
 * ```
 */
export class VirtualTransport implements Transport {
  readonly atr: Uint8Array;
  readonly extendedLength = true;
  readonly #card: ApduProcessor;
  #closed = false;

  constructor(card: ApduProcessor) {
    this.#card = card;
    card.powerOn();
    this.atr = Uint8Array.from(card.atr);
  }

  /** @throws CardTransportClosedError (`ERR_CARD_TRANSPORT_CLOSED`) after `close()`. */
  async transmit(command: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) throw new CardTransportClosedError();
    return this.#card.process(Uint8Array.from(command));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#card.powerOff();
  }
}
