/**
 * `@mynagate/card/virtual`: the virtual My Number Card, its card file and its in-process transport.
 */
export { JPKI_CONTACT_ATR, VirtualCard, type VirtualCardOptions } from './card.ts';
export {
  CARD_FILE_FORMAT,
  readCardFile,
  renewCardFile,
  writeCardFile,
  type CardFile,
  type RenewedKeys,
  type WriteCardFileOptions,
} from './card-file.ts';
export type { ApduProcessor, VirtualCardSpec } from './spec.ts';
export { VirtualTransport } from './transport.ts';
export { attachToVpcd, VPCD_PORT, type VpcdAttachment, type VpcdEvent, type VpcdOptions } from './vpcd.ts';
