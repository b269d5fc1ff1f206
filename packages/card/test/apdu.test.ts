import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeCommandApdu, parseCommandApdu, responseApdu, splitResponseApdu } from '../src/apdu.ts';
import { hex, toHex } from './support/apdu.ts';

const data = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);
const head = { cla: 0x00, ins: 0xb0, p1: 0x01, p2: 0x02 };

describe('command APDU encoding (ISO 7816-4 §5.1)', () => {
  test('case 1: header only', () => {
    assert.equal(toHex(encodeCommandApdu({ cla: 0, ins: 0x20, p1: 0, p2: 0x80 })), '00 20 00 80');
  });

  test('case 2 short: Le 1..255 as one byte, Le 256 as 00', () => {
    assert.equal(toHex(encodeCommandApdu({ ...head, le: 4 })), '00 B0 01 02 04');
    assert.equal(toHex(encodeCommandApdu({ ...head, le: 256 })), '00 B0 01 02 00');
  });

  test('case 3 short: Lc and data, no Le (SELECT EF 0018)', () => {
    const select = { cla: 0, ins: 0xa4, p1: 2, p2: 0x0c, data: hex('00 18') };
    assert.equal(toHex(encodeCommandApdu(select)), '00 A4 02 0C 02 00 18');
  });

  test('case 4 short: Lc, data, Le 256 as 00 (COMPUTE DIGITAL SIGNATURE form)', () => {
    const sign = { cla: 0x80, ins: 0x2a, p1: 0, p2: 0x80, data: data(3), le: 256 };
    assert.equal(toHex(encodeCommandApdu(sign)), '80 2A 00 80 03 00 01 02 00');
  });

  test('case 2 extended: 00 marker and a 2-byte Le; 65536 is 00 00; Le > 256 forces extended', () => {
    assert.equal(toHex(encodeCommandApdu({ ...head, le: 0x061f })), '00 B0 01 02 00 06 1F');
    assert.equal(toHex(encodeCommandApdu({ ...head, le: 65536 })), '00 B0 01 02 00 00 00');
    assert.equal(toHex(encodeCommandApdu({ ...head, le: 4 }, { extended: true })), '00 B0 01 02 00 00 04');
  });

  test('case 3 extended: 00 marker and 2-byte Lc; Nc > 255 forces extended', () => {
    const out = encodeCommandApdu({ ...head, data: data(300) });
    assert.equal(toHex(out.subarray(0, 7)), '00 B0 01 02 00 01 2C');
    assert.equal(out.length, 7 + 300);
  });

  test('case 4 extended: 2-byte Lc, data, 2-byte Le (256 as 01 00)', () => {
    assert.equal(
      toHex(encodeCommandApdu({ ...head, data: data(2), le: 256 }, { extended: true })),
      '00 B0 01 02 00 00 02 00 01 01 00',
    );
  });

  test('rejects non-byte header fields, Le 0 or > 65536, and data over 65535 bytes with TypeError', () => {
    assert.throws(() => encodeCommandApdu({ ...head, cla: 256 }), TypeError);
    assert.throws(() => encodeCommandApdu({ ...head, le: 0 }), TypeError);
    assert.throws(() => encodeCommandApdu({ ...head, le: 65537 }), TypeError);
    assert.throws(() => encodeCommandApdu({ ...head, data: new Uint8Array(65536) }), TypeError);
  });
});

describe('command APDU parsing (card side)', () => {
  test('every case round-trips through encode and parse, short and extended', () => {
    const cases = [
      {},
      { le: 1 },
      { le: 256 },
      { data: data(1) },
      { data: data(255), le: 256 },
      { le: 257 },
      { le: 65536 },
      { data: data(256) },
      { data: data(1000), le: 65536 },
    ];
    for (const c of cases) {
      const parsed = parseCommandApdu(encodeCommandApdu({ ...head, ...c }));
      assert.deepEqual(parsed.data, c.data ?? new Uint8Array(0));
      assert.equal(parsed.le, c.le);
      assert.equal(parsed.extended, (c.data?.length ?? 0) > 255 || (c.le ?? 0) > 256);
      assert.deepEqual([parsed.cla, parsed.ins, parsed.p1, parsed.p2], [0x00, 0xb0, 0x01, 0x02]);
    }
  });

  test('short Le 00 means 256, extended Le 00 00 means 65536', () => {
    assert.equal(parseCommandApdu(hex('00 B0 00 00 00')).le, 256);
    assert.equal(parseCommandApdu(hex('00 B0 00 00 00 00 00')).le, 65536);
    assert.equal(parseCommandApdu(hex('00 B0 00 04 00 06 1F')).le, 0x061f);
  });

  test('lengths matching no case are ERR_CARD_WRONG_LENGTH', () => {
    for (const bad of [
      '00 A4 04',
      '00 A4 02 0C 03 00 18',
      '00 A4 02 0C 02 00',
      '00 B0 00 00 00 06',
      '00 A4 00 00 00 00 02 01',
    ]) {
      assert.throws(() => parseCommandApdu(hex(bad)), { code: 'ERR_CARD_WRONG_LENGTH' }, bad);
    }
  });

  test('parsed data is a copy, not a view of the caller’s buffer', () => {
    const raw = hex('00 A4 02 0C 02 00 18');
    const parsed = parseCommandApdu(raw);
    raw[5] = 0xff;
    assert.equal(toHex(parsed.data), '00 18');
  });
});

describe('response APDU', () => {
  test('splits data and status word', () => {
    assert.deepEqual(splitResponseApdu(hex('30 82 06 1F 90 00')), { data: hex('30 82 06 1F'), sw: 0x9000 });
    assert.deepEqual(splitResponseApdu(hex('63 C3')), { data: new Uint8Array(0), sw: 0x63c3 });
  });

  test('a response shorter than 2 bytes is ERR_CARD_MALFORMED', () => {
    assert.throws(() => splitResponseApdu(hex('90')), { code: 'ERR_CARD_MALFORMED' });
  });

  test('responseApdu appends SW1 SW2', () => {
    assert.equal(toHex(responseApdu(0x9000, hex('01 02'))), '01 02 90 00');
  });
});
