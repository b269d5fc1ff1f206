/**
 * The ISO 7816-4 exchange under the clients: a card may return at most Ne bytes (ISO 7816-4 §5.1), in one answer
 * and over a whole 61xx/GET RESPONSE chain (§5.3.4). Fake cards send what a hostile or broken card could.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JpkiClient } from '../src/jpki.ts';
import * as iso from '../src/lib/iso.ts';
import { fakeCard } from './support/apdu.ts';

const bytes = (n: number, b = 'AB') => `${`${b} `.repeat(n)}`;
const readBinary = (le: number) => ({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le });

describe('response data is bounded by Le (ISO 7816-4 §5.1)', () => {
  test('more data than Le in one answer is ERR_CARD_MALFORMED', async () => {
    const card = fakeCard(() => `${bytes(5)}90 00`);
    await assert.rejects(iso.exchange(card, readBinary(4)), { code: 'ERR_CARD_MALFORMED' });
    assert.equal((await iso.exchange(card, readBinary(5))).length, 5);
  });

  test('Le 256 is sent as 00 and allows 256 bytes, not 257; extended Le 65536 (00 00) allows 65536', async () => {
    const short = fakeCard((c) => (c === '00 B0 00 00 00' ? `${bytes(256)}90 00` : `${bytes(257)}90 00`));
    assert.equal((await iso.exchange(short, readBinary(256))).length, 256);
    const long = fakeCard(() => `${bytes(257)}90 00`);
    await assert.rejects(iso.exchange(long, readBinary(256)), { code: 'ERR_CARD_MALFORMED' });
    const extended = fakeCard((c) => (c === '00 B0 00 00 00 00 00' ? `${bytes(0x10000)}90 00` : '6D 00'), true);
    assert.equal((await iso.exchange(extended, readBinary(0x10000), true)).length, 0x10000);
  });

  test('a token longer than its Le 32 is ERR_CARD_MALFORMED', async () => {
    const card = fakeCard((c) => (c.startsWith('00 B0') ? `${bytes(33, '41')}90 00` : '90 00'));
    await assert.rejects(new JpkiClient(card).readToken(), { code: 'ERR_CARD_MALFORMED' });
  });

  test('a GET RESPONSE answer longer than the 61xx announced is ERR_CARD_MALFORMED', async () => {
    const card = fakeCard((c) => (c === '00 C0 00 00 10' ? `${bytes(17)}90 00` : '61 10'));
    await assert.rejects(iso.exchange(card, readBinary(256)), { code: 'ERR_CARD_MALFORMED' });
  });

  test('a GET RESPONSE chain longer than the command’s Le stops at the first answer past it', async () => {
    // READ BINARY Le 7 answered 61 00, then 256-byte GET RESPONSEs: each within its own Le, the chain far past 7.
    const card = fakeCard((c) => (c === '00 C0 00 00 00' ? `${bytes(256)}61 00` : '61 00'));
    await assert.rejects(iso.exchange(card, readBinary(7)), { code: 'ERR_CARD_MALFORMED' });
    assert.deepEqual(card.sent, ['00 B0 00 00 07', '00 C0 00 00 00']);
  });

  test('a command without Le gathers at most 65536 bytes', async () => {
    const card = fakeCard(() => `${bytes(0x10001)}90 00`);
    await assert.rejects(iso.transmit(card, { cla: 0, ins: 0x20, p1: 0, p2: 0x80 }), { code: 'ERR_CARD_MALFORMED' });
  });

  test('a chain within Le still concatenates: 61 00, 200 bytes and 61 38, 56 bytes for Le 256', async () => {
    const card = fakeCard((c) => {
      if (c === '00 C0 00 00 00') return `${bytes(200)}61 38`;
      if (c === '00 C0 00 00 38') return `${bytes(56)}90 00`;
      return '61 00';
    });
    assert.equal((await iso.exchange(card, readBinary(256))).length, 256);
  });
});

describe('6Cxx is answered by sending the command again only when it has an Le (ISO 7816-4 §5.3.4)', () => {
  test('a VERIFY (no Le) answered 6C00 is sent once and fails ERR_CARD_STATUS: no second try on the PIN counter', async () => {
    const card = fakeCard((c) => (c.startsWith('00 20') ? '6C 00' : '90 00'));
    await assert.rejects(iso.verify(card, new TextEncoder().encode('1234')), { code: 'ERR_CARD_STATUS', sw: 0x6c00 });
    assert.deepEqual(card.sent, ['00 20 00 80 04 31 32 33 34']);
  });

  test('JpkiClient.verify: one VERIFY on the wire when the card answers 6C00', async () => {
    const card = fakeCard((c) => (c.startsWith('00 20') ? '6C 00' : '90 00'));
    await assert.rejects(new JpkiClient(card).verify('auth', '1234'), { code: 'ERR_CARD_STATUS', sw: 0x6c00 });
    assert.equal(card.sent.filter((c) => c.startsWith('00 20')).length, 1);
  });

  test('an empty VERIFY (Case 1) answered 6C03 is not sent again either', async () => {
    const card = fakeCard(() => '6C 03');
    assert.equal((await iso.transmit(card, { cla: 0, ins: 0x20, p1: 0, p2: 0x80 })).sw, 0x6c03);
    assert.deepEqual(card.sent, ['00 20 00 80']);
  });
});
