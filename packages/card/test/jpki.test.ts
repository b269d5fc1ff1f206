/**
 * JpkiClient and TextApClient beyond the contract: exact APDUs, read strategies, host-side PIN format checks, and
 * how odd card answers are handled (fake cards speak the answers real readers have been seen to give).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { JpkiClient } from '../src/jpki.ts';
import { TextApClient } from '../src/text-ap.ts';
import { VirtualCard } from '../src/virtual/card.ts';
import { VirtualTransport } from '../src/virtual/transport.ts';
import { fakeCard, recording, toHex } from './support/apdu.ts';
import { makeCardFile, TEST_PINS, testCardSpec } from './support/fixture.ts';

const SELECT_JPKI = '00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01';
const ascii = (s: string) => toHex(new TextEncoder().encode(s));

let dir: string;
let authCert: Uint8Array;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mynagate-jpki-'));
  authCert = (await testCardSpec()).authCert;
});
after(() => rm(dir, { recursive: true, force: true }));

async function virtual(overrides = {}) {
  return recording(new VirtualTransport(VirtualCard.open(await makeCardFile(dir, overrides))));
}

describe('PIN format is checked before any APDU is sent (spec §5)', () => {
  const bad: ['auth' | 'sign', string][] = [
    ['auth', '123'],
    ['auth', '12345'],
    ['auth', '12a4'],
    ['auth', '１２３４'],
    ['sign', 'ABCDEF'],
    ['sign', '123456'],
    ['sign', 'AB12'],
    ['sign', 'ABCDEFGH123456789'],
    ['sign', 'ABC-123'],
    // Letters that String#toUpperCase maps into A-Z: not what anyone typed on the card's keypad rules.
    ['sign', 'abc1ß'],
    ['sign', 'ıaaaa1'],
    ['sign', 'ſtest1'],
    ['sign', 'ﬀ1234'],
  ];
  for (const [key, pin] of bad) {
    test(`${key} ${JSON.stringify(pin)} → ERR_CARD_PIN_FORMAT, nothing sent`, async () => {
      const transport = await virtual();
      await assert.rejects(new JpkiClient(transport).verify(key, pin), { code: 'ERR_CARD_PIN_FORMAT', pin: key });
      assert.deepEqual(transport.sent, []);
    });
  }

  test('changePin checks the new value before sending the VERIFY of the current one', async () => {
    const transport = await virtual();
    await assert.rejects(new JpkiClient(transport).changePin('sign', TEST_PINS.sign, 'nodigits'), {
      code: 'ERR_CARD_PIN_FORMAT',
    });
    assert.deepEqual(transport.sent, []);
  });

  test('the text-AP PIN must be 4 digits, checked before sending', async () => {
    const transport = await virtual();
    await assert.rejects(new TextApClient(transport).verifyPin('123'), { code: 'ERR_CARD_PIN_FORMAT', pin: 'text' });
    assert.deepEqual(transport.sent, []);
  });

  test('the sign password is sent uppercased, as ASCII with no padding', async () => {
    const transport = await virtual();
    await new JpkiClient(transport).verify('sign', 'test2025');
    assert.equal(transport.sent.at(-1), `00 20 00 80 08 ${ascii('TEST2025')}`);
  });
});

describe('JpkiClient APDUs and read strategies', () => {
  test('reads a certificate like OpenSC: 00 B0 00 00 04, then 256-byte chunks (Le 00) and the exact remainder', async () => {
    const transport = await virtual();
    assert.deepEqual(await new JpkiClient(transport).readCertificate('auth'), authCert);
    const rest = authCert.length - 4;
    const chunks = Array.from({ length: Math.ceil(rest / 256) }, (_, i) => {
      const off = 4 + 256 * i;
      const le = Math.min(256, rest - 256 * i) & 0xff;
      return `00 B0 ${toHex(Uint8Array.of(off >> 8, off & 0xff, le))}`;
    });
    assert.deepEqual(transport.sent, [SELECT_JPKI, '00 A4 02 0C 02 00 0A', '00 B0 00 00 04', ...chunks]);
  });

  test('extended: true on an extended-length transport reads the rest in one extended READ BINARY (TRACE form)', async () => {
    const transport = await virtual();
    assert.deepEqual(await new JpkiClient(transport, { extended: true }).readCertificate('auth'), authCert);
    const rest = authCert.length - 4;
    assert.deepEqual(transport.sent.slice(2), [
      '00 B0 00 00 04',
      `00 B0 00 04 00 ${toHex(Uint8Array.of(rest >> 8, rest & 0xff))}`,
    ]);
  });

  test('extended: true falls back to short chunks when the transport has no extended length', async () => {
    const inner = await virtual();
    const transport = { ...inner, extendedLength: false, transmit: inner.transmit, close: inner.close };
    assert.deepEqual(await new JpkiClient(transport, { extended: true }).readCertificate('auth'), authCert);
    assert.ok(
      inner.sent.slice(3).every((c) => c.split(' ').length === 5),
      'only short READ BINARY',
    );
  });

  test('chunkSize sets Le; out-of-range chunk sizes are a TypeError', async () => {
    const transport = await virtual();
    assert.deepEqual(
      await new JpkiClient(transport, { chunkSize: 100 }).readCertificate('authCa'),
      (await testCardSpec()).authCaCert,
    );
    assert.equal(transport.sent[3], '00 B0 00 04 64');
    assert.throws(() => new JpkiClient(transport, { chunkSize: 257 }), TypeError);
    assert.throws(() => new JpkiClient(transport, { chunkSize: 0 }), TypeError);
  });

  test('sign sends 80 2A 00 80 Lc data 00 after SELECT of the key EF; empty or > 245-byte data is a TypeError', async () => {
    const transport = await virtual();
    const jpki = new JpkiClient(transport);
    await jpki.verify('auth', TEST_PINS.auth);
    await jpki.sign('auth', Uint8Array.of(1, 2, 3));
    assert.deepEqual(transport.sent.slice(-2), ['00 A4 02 0C 02 00 17', '80 2A 00 80 03 01 02 03 00']);
    await assert.rejects(jpki.sign('auth', new Uint8Array(0)), TypeError);
    await assert.rejects(jpki.sign('auth', new Uint8Array(246)), TypeError);
  });

  test('triesLeft sends only SELECT and an empty VERIFY 00 20 00 80', async () => {
    const transport = await virtual();
    assert.equal(await new JpkiClient(transport).triesLeft('sign'), 5);
    assert.deepEqual(transport.sent, [SELECT_JPKI, '00 A4 02 0C 02 00 1B', '00 20 00 80']);
  });

  test('readToken of the android profile is { kind: android, raw: JPKIAPGPSETOKEN }; its auth certificate needs the PIN', async () => {
    const jpki = new JpkiClient(await virtual({ profile: 'android' }));
    assert.deepEqual(await jpki.readToken(), { kind: 'android', raw: 'JPKIAPGPSETOKEN' });
    await assert.rejects(jpki.readCertificate('auth'), { code: 'ERR_CARD_SECURITY_STATUS' });
    await jpki.verify('auth', TEST_PINS.auth);
    assert.deepEqual(await jpki.readCertificate('auth'), authCert);
  });
});

describe('JpkiClient against odd card answers', () => {
  const token = (s: string) => `${ascii(s.padEnd(32, ' '))} 90 00`;
  const tokenCard = (raw: string) => fakeCard((c) => (c.startsWith('00 B0') ? raw : '90 00'));

  test('token strings: JPKIAPICCTOKEN is a 住基 card, anything else unknown (NULs and spaces trimmed)', async () => {
    assert.deepEqual(await new JpkiClient(tokenCard(token('JPKIAPICCTOKEN'))).readToken(), {
      kind: 'juki',
      raw: 'JPKIAPICCTOKEN',
    });
    assert.deepEqual(await new JpkiClient(tokenCard(`${ascii('OTHER')} 00 00 20 90 00`)).readToken(), {
      kind: 'unknown',
      raw: 'OTHER',
    });
  });

  test('a binary token is ERR_CARD_MALFORMED', async () => {
    await assert.rejects(new JpkiClient(tokenCard('FF FE 90 00')).readToken(), { code: 'ERR_CARD_MALFORMED' });
  });

  test('a card without the JPKI AP is ERR_CARD_NOT_JPKI carrying the SW, also when the AP is selected implicitly', async () => {
    const card = fakeCard(() => '6A 82');
    await assert.rejects(new JpkiClient(card).selectJpki(), { code: 'ERR_CARD_NOT_JPKI', sw: 0x6a82 });
    await assert.rejects(new JpkiClient(card).readCertificate('auth'), { code: 'ERR_CARD_NOT_JPKI' });
  });

  test('a certificate EF not starting 30 82 is ERR_CARD_MALFORMED', async () => {
    const card = fakeCard((c) => (c.startsWith('00 B0') ? '30 81 F0 00 90 00' : '90 00'));
    await assert.rejects(new JpkiClient(card).readCertificate('authCa'), { code: 'ERR_CARD_MALFORMED' });
  });

  test('an empty READ BINARY answer inside the file is ERR_CARD_MALFORMED, not an endless loop (myna-go bug)', async () => {
    const card = fakeCard((c) => (c === '00 B0 00 00 04' ? '30 82 01 00 90 00' : '90 00'));
    await assert.rejects(new JpkiClient(card).readCertificate('authCa'), { code: 'ERR_CARD_MALFORMED' });
  });

  test('a response without a status word is ERR_CARD_MALFORMED; a 255-byte signature too', async () => {
    await assert.rejects(new JpkiClient(fakeCard(() => '90')).selectJpki(), { code: 'ERR_CARD_MALFORMED' });
    const card = fakeCard((c) => (c.startsWith('80 2A') ? `${'00 '.repeat(255)}90 00` : '90 00'));
    await assert.rejects(new JpkiClient(card).sign('auth', Uint8Array.of(1)), { code: 'ERR_CARD_MALFORMED' });
  });

  test('6Cxx is retried with the Le the card asks for, 61xx is followed with GET RESPONSE (ISO 7816-4 §5.3.4)', async () => {
    const card = fakeCard((c) => {
      if (c === '00 B0 00 00 20') return '6C 0F';
      if (c === '00 B0 00 00 0F') return `${ascii('JPKIAPICCTOKEN2')} 90 00`;
      if (c.startsWith('80 2A')) return '61 00';
      if (c === '00 C0 00 00 00') return `${'AB '.repeat(256)}90 00`;
      return '90 00';
    });
    const jpki = new JpkiClient(card);
    assert.deepEqual(await jpki.readToken(), { kind: 'card', raw: 'JPKIAPICCTOKEN2' });
    assert.equal((await jpki.sign('auth', Uint8Array.of(1))).length, 256);
  });

  test('triesLeft reads 6983/6984 as 0 and a 9000 as the maximum', async () => {
    for (const [sw, tries] of [
      ['69 84', 0],
      ['69 83', 0],
      ['90 00', 3],
      ['63 C1', 1],
    ] as const) {
      const card = fakeCard((c) => (c === '00 20 00 80' ? sw : '90 00'));
      assert.equal(await new JpkiClient(card).triesLeft('auth'), tries, sw);
    }
  });
});

describe('a card file is one card (spec §4.3: one counter)', () => {
  test('a PIN blocked through one holder of the file is blocked for another that opened it earlier', async () => {
    const path = await makeCardFile(dir);
    const early = new JpkiClient(new VirtualTransport(VirtualCard.open(path)));
    const other = new JpkiClient(new VirtualTransport(VirtualCard.open(path)));
    for (const left of [2, 1, 0]) {
      await assert.rejects(other.verify('auth', '0000'), {
        code: left === 0 ? 'ERR_CARD_PIN_BLOCKED' : 'ERR_CARD_PIN_INCORRECT',
      });
    }
    assert.equal(await early.triesLeft('auth'), 0);
    await assert.rejects(early.verify('auth', TEST_PINS.auth), { code: 'ERR_CARD_PIN_BLOCKED' });
    assert.equal(await new JpkiClient(new VirtualTransport(VirtualCard.open(path))).triesLeft('auth'), 0);
  });
});
