import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeTlv, readTlv, readTlvHeader, readTlvs } from '../src/ber.ts';
import { hex, toHex } from './support/apdu.ts';

describe('lenient BER TLV reader (spec §6.1-6.2)', () => {
  test('reads the non-minimal long-form tag FF 10 as private, constructed, number 16', () => {
    const tlv = readTlv(hex('FF 10 0C 31 32 33 34 35 36 37 38 39 30 31 38 FF FF'));
    assert.deepEqual(
      [tlv.tag, tlv.tagClass, tlv.constructed, tlv.tagNumber, tlv.headerLength, tlv.length, tlv.end],
      [0xff10, 3, true, 16, 3, 12, 15],
    );
    assert.equal(new TextDecoder().decode(tlv.value), '123456789018');
  });

  test('accepts non-minimal long-form lengths 81 05 and 82 00 05 as 5', () => {
    for (const form of ['DF 22 81 05', 'DF 22 82 00 05', 'DF 22 05']) {
      const tlv = readTlv(hex(`${form} 41 42 43 44 45`));
      assert.equal(tlv.length, 5, form);
      assert.equal(toHex(tlv.value), '41 42 43 44 45');
    }
  });

  test('reads multi-byte tag numbers (1F 81 00 = 128)', () => {
    assert.equal(readTlv(hex('1F 81 00 01 AA')).tagNumber, 128);
  });

  test('the header alone sizes a partial read (FF 20 81 98 → 4-byte header, 152-byte value)', () => {
    const h = readTlvHeader(hex('FF 20 81 98 DF 21 08'));
    assert.deepEqual([h.tag, h.headerLength, h.length], [0xff20, 4, 0x98]);
  });

  test('reads a sequence of children and ignores trailing FF/00 padding', () => {
    const tlvs = readTlvs(hex('DF 24 02 31 39 DF 25 01 31 FF FF 00'));
    assert.deepEqual(
      tlvs.map((t) => t.tag),
      [0xdf24, 0xdf25],
    );
  });

  test('padding is only what trails the last TLV: 00 00 before it is an empty TLV, FF inside a value is kept', () => {
    assert.deepEqual(
      readTlvs(hex('00 00 DF 25 01 31 00 FF')).map((t) => [t.tag, t.length]),
      [
        [0, 0],
        [0xdf25, 1],
      ],
    );
    assert.equal(toHex(readTlvs(hex('DF 25 02 31 FF FF'))[0]!.value), '31 FF');
    assert.deepEqual(readTlvs(hex('FF 00 FF')), []);
  });

  test('reads 64 KiB of empty 00 00 TLVs before one field in linear time (each element once, no rescan)', () => {
    // Rescanning the rest of the buffer for padding before every element took 8-13 s here; a linear read takes tens
    // of milliseconds. The bound is loose on purpose.
    const bytes = new Uint8Array(0x10000);
    bytes.set([0xdf, 0x25, 0x01, 0x31], bytes.length - 4);
    const start = performance.now();
    const tlvs = readTlvs(bytes);
    const ms = performance.now() - start;
    assert.equal(tlvs.length, 0x7fff);
    assert.equal(tlvs.at(-1)!.tag, 0xdf25);
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  });

  test('rejects what it cannot delimit with ERR_CARD_MALFORMED: indefinite length, 5-byte length, truncation', () => {
    for (const bad of ['30 80 00 00', '30 85 00 00 00 00 01 00', 'DF 22 05 41 42', 'DF', 'DF 22 82 01']) {
      assert.throws(() => readTlv(hex(bad)), { code: 'ERR_CARD_MALFORMED' }, bad);
    }
  });

  test('encodes with the shortest length form: 7F, 81 80, 82 01 00', () => {
    assert.equal(toHex(encodeTlv([0xdf, 0x23], new Uint8Array(0x7f)).subarray(0, 3)), 'DF 23 7F');
    assert.equal(toHex(encodeTlv([0xdf, 0x23], new Uint8Array(0x80)).subarray(0, 4)), 'DF 23 81 80');
    assert.equal(toHex(encodeTlv([0xdf, 0x23], new Uint8Array(0x100)).subarray(0, 5)), 'DF 23 82 01 00');
  });
});
