import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as index from '../src/index.ts';
import { parseMyNumberEf, readMyNumber } from '../src/my-number-reader.ts';
import { parseBasic4, TextApClient } from '../src/text-ap.ts';
import { VirtualCard } from '../src/virtual/card.ts';
import { encodeBasic4Ef, encodeMyNumberEf } from '../src/virtual/text-files.ts';
import { VirtualTransport } from '../src/virtual/transport.ts';
import { fakeCard, hex, recording, toHex } from './support/apdu.ts';
import { makeCardFile, TEST_PINS, TEST_TEXT, testCardSpec } from './support/fixture.ts';

describe('text AP byte layouts (spec §6.1, §6.2)', () => {
  test('EF 0001 is exactly FF 10 0C + 12 ASCII digits + FF FF (17 bytes)', () => {
    assert.equal(toHex(encodeMyNumberEf('123456789018')), 'FF 10 0C 31 32 33 34 35 36 37 38 39 30 31 38 FF FF');
  });

  test('EF 0002 is exactly FF 20 len { DF21 offsets, DF22 name, DF23 address, DF24 YYYYMMDD, DF25 sex }', () => {
    const ef = encodeBasic4Ef({ name: '山田', address: '東京都', birthDate: '19900102', sex: '1' });
    assert.equal(
      toHex(ef),
      'FF 20 2F DF 21 08 00 0E 00 17 00 23 00 2E ' +
        'DF 22 06 E5 B1 B1 E7 94 B0 DF 23 09 E6 9D B1 E4 BA AC E9 83 BD ' +
        'DF 24 08 31 39 39 30 30 31 30 32 DF 25 01 31',
    );
  });

  test('a long address makes the outer length FF 20 81 xx, and DF21 offsets follow the longer header', () => {
    const ef = encodeBasic4Ef({ name: 'N', address: 'X'.repeat(120), birthDate: '19900102', sex: '9' });
    assert.equal(toHex(ef.subarray(0, 9)), 'FF 20 81 99 DF 21 08 00 0F');
    assert.equal(ef.length, 4 + 0x99);
    assert.equal(toHex(ef.subarray(0x0f, 0x11)), 'DF 22');
  });

  test('an address over 255 bytes uses FF 20 82 xx xx and still parses back', () => {
    const text = { name: '試験　太郎', address: '東'.repeat(100), birthDate: '20000229', sex: '0' } as const;
    const ef = encodeBasic4Ef(text);
    assert.equal(toHex(ef.subarray(0, 3)), 'FF 20 82');
    assert.deepEqual(parseBasic4(ef), text);
  });
});

describe('lenient basic-4 and My Number parsing', () => {
  test('parses a basic-4 EF with non-minimal lengths (82 00 xx, 81 xx) and no DF21 header', () => {
    const ef = hex('FF 20 82 00 18 DF 22 81 01 41 DF 23 01 42 DF 24 08 32 30 30 30 30 31 30 31 DF 25 01 32');
    assert.deepEqual(parseBasic4(ef), { name: 'A', address: 'B', birthDate: '20000101', sex: '2' });
  });

  test('a basic-4 EF with a bad birth date, a bad sex code, invalid UTF-8 or a wrong outer tag is ERR_CARD_MALFORMED', () => {
    const make = (dob: string, sex: string, tag = 'FF 20') =>
      hex(`${tag} 17 DF 22 01 41 DF 23 01 42 DF 24 ${dob} DF 25 01 ${sex}`);
    assert.doesNotThrow(() => parseBasic4(make('08 32 30 30 30 30 31 30 31', '31')));
    assert.throws(() => parseBasic4(make('08 32 30 30 30 30 31 30 41', '31')), { code: 'ERR_CARD_MALFORMED' });
    assert.throws(() => parseBasic4(make('08 32 30 30 30 30 31 30 31', '33')), { code: 'ERR_CARD_MALFORMED' });
    assert.throws(() => parseBasic4(make('08 32 30 30 30 30 31 30 31', '31', 'FF 21')), { code: 'ERR_CARD_MALFORMED' });
    const badUtf8 = hex('FF 20 17 DF 22 01 FF DF 23 01 42 DF 24 08 32 30 30 30 30 31 30 31 DF 25 01 31');
    assert.throws(() => parseBasic4(badUtf8), { code: 'ERR_CARD_MALFORMED' });
  });

  test('the My Number EF parses to its 12 digits; a bad check digit is ERR_CARD_MALFORMED', () => {
    assert.equal(parseMyNumberEf(encodeMyNumberEf('123456789018')), '123456789018');
    assert.throws(() => parseMyNumberEf(encodeMyNumberEf('123456789017')), { code: 'ERR_CARD_MALFORMED' });
  });
});

describe('readBasic4 against a hostile card', () => {
  test('READ BINARY Le 7 answered 61 00 and 256-byte GET RESPONSEs is ERR_CARD_MALFORMED after one GET RESPONSE', async () => {
    // The chain would hand over 64 KiB, all of it a basic-4 EF whose FF 20 header declares exactly that length and
    // whose value is 00 00 … (empty TLVs) up to a DF25: parsed as the "7-byte" head, it blocked the event loop.
    const total = 257 * 256;
    const ef = new Uint8Array(total);
    ef.set([0xff, 0x20, 0x83, 0x01, 0x00, 0xfa]);
    ef.set([0xdf, 0x25, 0x01, 0x31], total - 4);
    let at = 0;
    const card = fakeCard((c) => {
      if (!c.startsWith('00 C0')) return c.startsWith('00 B0') ? '61 00' : '90 00';
      const chunk = ef.subarray(at, (at += 256));
      return `${toHex(chunk)} ${at < total ? '61 00' : '90 00'}`;
    });
    await assert.rejects(new TextApClient(card).readBasic4(), { code: 'ERR_CARD_MALFORMED' });
    assert.deepEqual(card.sent.slice(-2), ['00 B0 00 00 07', '00 C0 00 00 00']);
  });

  test('a header declaring more than the 15-bit offsets allow is ERR_CARD_MALFORMED before any further read', async () => {
    const card = fakeCard((c) => (c.startsWith('00 B0') ? 'FF 20 84 00 01 00 00 90 00' : '90 00'));
    await assert.rejects(new TextApClient(card).readBasic4(), { code: 'ERR_CARD_MALFORMED' });
    assert.equal(card.sent.filter((c) => c.startsWith('00 B0')).length, 1);
  });
});

describe('readMyNumber (separate entry point)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-text-'));
    await testCardSpec();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('is not exported from the package index', () => {
    assert.equal('readMyNumber' in index, false);
    assert.equal('parseMyNumberEf' in index, false);
  });

  test('reads the fake My Number with the exact myna sequence (spec §11.6): SELECT AP, SELECT 0011, VERIFY, SELECT 0001, 00 B0 00 00 11', async () => {
    const transport = recording(new VirtualTransport(VirtualCard.open(await makeCardFile(dir))));
    assert.equal(await readMyNumber(transport, TEST_PINS.text), TEST_TEXT.myNumber);
    assert.deepEqual(transport.sent, [
      '00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08',
      '00 A4 02 0C 02 00 11',
      '00 20 00 80 04 35 36 37 38',
      '00 A4 02 0C 02 00 01',
      '00 B0 00 00 11',
    ]);
  });

  test('a wrong text PIN rejects with ERR_CARD_PIN_INCORRECT and a malformed one is refused before any APDU', async () => {
    const transport = recording(new VirtualTransport(VirtualCard.open(await makeCardFile(dir))));
    await assert.rejects(readMyNumber(transport, '0000'), { code: 'ERR_CARD_PIN_INCORRECT', retriesLeft: 2 });
    const sentBefore = transport.sent.length;
    await assert.rejects(readMyNumber(transport, '12345'), { code: 'ERR_CARD_PIN_FORMAT' });
    assert.equal(transport.sent.length, sentBefore + 1, 'only the SELECT of the AP went out');
  });
});
