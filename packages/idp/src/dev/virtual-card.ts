/**
 * How the development phone reaches a virtual card: `VirtualCard.open(file)` behind a `VirtualTransport` and a
 * `JpkiClient`, so every login goes through the same APDUs, PIN counters and card-side signature as a real card.
 */
import { JpkiClient } from '@mynagate/card';
import { VirtualCard, VirtualTransport } from '@mynagate/card/virtual';
import type { OpenedCard } from '../config.ts';

/**
 * Opens a virtual card file (PIN counters persist in the file, so a locked test PIN stays locked).
 *
 * @throws `ERR_CARD_FILE_INVALID` when the file is missing or not a MynaGate test card.
 */
export async function openVirtualCard(file: string): Promise<OpenedCard> {
  const transport = new VirtualTransport(VirtualCard.open(file));
  return { card: new JpkiClient(transport), close: () => transport.close() };
}
