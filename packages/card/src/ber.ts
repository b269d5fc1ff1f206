/**
 * A lenient BER TLV reader (ISO/IEC 8825-1 §8.1) for the text AP's files, plus the small encoder the virtual card
 * uses to write them.
 *
 * The card writes non-minimal forms that strict DER parsers reject: the tag `FF 10` is private, constructed, number
 * 16 in long form although 16 fits in one byte (spec §6.1), and lengths may be long form when short would do. This
 * reader accepts both; it rejects only what it cannot delimit (indefinite or > 4-byte lengths, truncation).
 */
import { CardMalformedError } from './errors.ts';

/** One TLV. `tag` is the raw tag bytes as a number (`0xff10`, `0xdf21`), which is how the spec names tags. */
export interface Tlv {
  readonly tag: number;
  /** ASN.1 class: 0 universal, 1 application, 2 context-specific, 3 private. */
  readonly tagClass: number;
  readonly constructed: boolean;
  /** The tag number, whatever form encoded it (`FF 10` and `F0` both give 16). */
  readonly tagNumber: number;
  /** Bytes of tag and length. */
  readonly headerLength: number;
  readonly length: number;
  readonly value: Uint8Array;
  /** Offset just past this TLV in the buffer it was read from. */
  readonly end: number;
}

/** Tag and length of the TLV at `offset`, without requiring its value to be present (to size a partial read). */
export function readTlvHeader(bytes: Uint8Array, offset = 0): Omit<Tlv, 'value' | 'end'> {
  let i = offset;
  const next = () => {
    if (i >= bytes.length) throw new CardMalformedError('truncated TLV header');
    return bytes[i++]!;
  };
  const first = next();
  let tag = first;
  let tagNumber = first & 0x1f;
  if (tagNumber === 0x1f) {
    tagNumber = 0;
    let b: number;
    do {
      if (i - offset > 4) throw new CardMalformedError('tag longer than 4 bytes');
      b = next();
      tag = tag * 0x100 + b;
      tagNumber = tagNumber * 0x80 + (b & 0x7f);
    } while (b & 0x80);
  }
  let length = next();
  if (length === 0x80) throw new CardMalformedError('indefinite length');
  if (length > 0x80) {
    const count = length & 0x7f;
    if (count > 4) throw new CardMalformedError('length field longer than 4 bytes');
    length = 0;
    for (let k = 0; k < count; k++) length = length * 0x100 + next();
  }
  return {
    tag,
    tagClass: first >> 6,
    constructed: (first & 0x20) !== 0,
    tagNumber,
    headerLength: i - offset,
    length,
  };
}

/**
 * The TLV at `offset`.
 *
 * @throws CardMalformedError (`ERR_CARD_MALFORMED`) when it cannot be delimited or runs past the buffer.
 */
export function readTlv(bytes: Uint8Array, offset = 0): Tlv {
  const header = readTlvHeader(bytes, offset);
  const start = offset + header.headerLength;
  const end = start + header.length;
  if (end > bytes.length) throw new CardMalformedError('TLV value runs past the data');
  return { ...header, value: bytes.subarray(start, end), end };
}

/** Every TLV in `bytes`, in order (the children of a constructed value). Trailing `00`/`FF` padding is ignored. */
export function readTlvs(bytes: Uint8Array): Tlv[] {
  // Where the padding starts, found once from the back: rescanning the rest of the buffer before each element made
  // a value of many empty `00 00` TLVs quadratic.
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x00 || bytes[end - 1] === 0xff)) end--;
  const out: Tlv[] = [];
  let offset = 0;
  while (offset < end) {
    const tlv = readTlv(bytes, offset);
    out.push(tlv);
    offset = tlv.end;
  }
  return out;
}

/** Encodes a TLV with the given raw tag bytes and the shortest length form (`81 xx` from 128, `82 xx xx` from 256). */
export function encodeTlv(tag: readonly number[], value: Uint8Array): Uint8Array {
  const n = value.length;
  if (n > 0xffff) throw new TypeError('TLV value longer than 65535 bytes');
  const length = n < 0x80 ? [n] : n <= 0xff ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  const out = new Uint8Array(tag.length + length.length + n);
  out.set([...tag, ...length]);
  out.set(value, tag.length + length.length);
  return out;
}
