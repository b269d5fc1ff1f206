/**
 * The exact bytes of the text AP's My Number and basic-4 EFs (spec §6.1, §6.2), as the virtual card serves them.
 */
import { encodeTlv } from '../ber.ts';
import { concatBytes } from '../lib/bytes.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

/** EF 0001: `FF 10 0C` + 12 ASCII digits + `FF FF`, 17 bytes (spec §6.1). The non-minimal tag is on purpose. */
export function encodeMyNumberEf(myNumber: string): Uint8Array {
  if (!/^[0-9]{12}$/.test(myNumber)) throw new TypeError('myNumber must be 12 digits');
  return concatBytes([Uint8Array.of(0xff, 0x10, 0x0c), utf8(myNumber), Uint8Array.of(0xff, 0xff)]);
}

/**
 * EF 0002: `FF 20 len { DF21 08 offsets, DF22 name, DF23 address, DF24 08 YYYYMMDD, DF25 01 sex }` (spec §6.2).
 * The outer length takes `81 xx` or `82 xx xx` when the address is long. DF21 holds the 4 big-endian 16-bit offsets
 * of the DF22..DF25 TLVs from the start of the EF (the layout AokiApp reads, spec §6.2 [S]).
 */
export function encodeBasic4Ef(text: { name: string; address: string; birthDate: string; sex: string }): Uint8Array {
  const fields = [
    encodeTlv([0xdf, 0x22], utf8(text.name)),
    encodeTlv([0xdf, 0x23], utf8(text.address)),
    encodeTlv([0xdf, 0x24], utf8(text.birthDate)),
    encodeTlv([0xdf, 0x25], utf8(text.sex)),
  ];
  const header = 2 + 1 + 8; // DF 21 08 + 8 bytes
  const innerLength = header + fields.reduce((n, f) => n + f.length, 0);
  const outerHeader = encodeTlv([0xff, 0x20], new Uint8Array(innerLength)).length - innerLength;
  const offsets = new Uint8Array(8);
  let at = outerHeader + header;
  fields.forEach((f, i) => {
    offsets[2 * i] = at >> 8;
    offsets[2 * i + 1] = at & 0xff;
    at += f.length;
  });
  return encodeTlv([0xff, 0x20], concatBytes([encodeTlv([0xdf, 0x21], offsets), ...fields]));
}
