/**
 * PcscTransport and the reader functions through the real pcscd, with the virtual card served in a vpcd reader:
 * what a caller sees (ATR, protocol, card arrival and removal) and each PC/SC failure's error code.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { digestInfo } from '../src/digest-info.ts';
import { JpkiClient } from '../src/jpki.ts';
import { listReaders, PcscTransport, waitForCard, waitForRemoval } from '../src/pcsc.ts';
import { makeCardFile, TEST_PINS } from './support/fixture.ts';
import { insertCardFile, vpcdReaders, type InsertedCard } from './support/pcscd.ts';
import { requireSystem, systemPath, systemSkipReason } from './support/system.ts';

const run = promisify(execFile);
const JPKI_ATR = '3B E0 00 FF 81 31 FE 45 14';
const hexOf = (b: Uint8Array) =>
  Buffer.from(b)
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1 ');
const DIGEST_INFO = digestInfo('sha256', new Uint8Array(32));

const skip = await systemSkipReason(['pcscd', 'vpcd']);

describe('PC/SC transport through pcscd + vpcd', { skip }, () => {
  let dir: string;
  let cardFile: string;
  /** Slot 0 holds the card; slot 1 stays empty. */
  let reader: string;
  let emptyReader: string;
  let inserted: InsertedCard | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-pcsc-'));
    cardFile = await makeCardFile(dir);
    const readers = await vpcdReaders();
    reader = readers.get(0)!;
    emptyReader = readers.get(1)!;
    assert.ok(reader && emptyReader, 'vpcd offers two reader slots');
    inserted = await insertCardFile(cardFile);
  });
  after(async () => {
    await inserted?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  test('listReaders shows both vpcd readers, the card with its ATR in slot 0 and none in slot 1', async () => {
    const readers = await listReaders();
    const full = readers.find((r) => r.name === reader);
    const empty = readers.find((r) => r.name === emptyReader);
    assert.equal(full?.cardPresent, true);
    assert.equal(hexOf(full!.atr!), JPKI_ATR);
    assert.deepEqual(empty, { name: emptyReader, cardPresent: false, atr: null });
  });

  test('PcscTransport connects with the JPKI contact ATR, T=1 and short APDUs only, and the card answers', async () => {
    const transport = await PcscTransport.connect({ reader });
    try {
      assert.equal(hexOf(transport.atr), JPKI_ATR);
      assert.equal(transport.protocol, 'T=1');
      assert.equal(transport.extendedLength, false);
      assert.equal(transport.reader, reader);
      const jpki = new JpkiClient(transport);
      assert.equal((await jpki.readToken()).kind, 'card');
      assert.equal(await jpki.triesLeft('auth'), 3);
    } finally {
      await transport.close();
    }
  });

  test('PcscTransport with no reader named picks the reader that holds a card', async () => {
    const transport = await PcscTransport.connect();
    try {
      assert.equal(transport.reader, reader);
    } finally {
      await transport.close();
    }
  });

  test('close() resets the card: the next connection does not inherit the verified PIN (spec §4.8)', async () => {
    // Raw APDUs: JpkiClient would SELECT the AP first, and that alone clears the PIN, proving nothing here.
    const selectKeyAndSign = async (transport: PcscTransport) => {
      await transport.transmit(Uint8Array.of(0x00, 0xa4, 0x02, 0x0c, 0x02, 0x00, 0x17));
      const r = await transport.transmit(
        Uint8Array.of(0x80, 0x2a, 0x00, 0x80, DIGEST_INFO.length, ...DIGEST_INFO, 0x00),
      );
      return hexOf(r.subarray(-2));
    };
    const first = await PcscTransport.connect({ reader });
    try {
      await new JpkiClient(first).verify('auth', TEST_PINS.auth);
      assert.equal(await selectKeyAndSign(first), '90 00', 'signs while the PIN is verified');
    } finally {
      await first.close();
    }
    const second = await PcscTransport.connect({ reader });
    try {
      assert.notEqual(await selectKeyAndSign(second), '90 00');
    } finally {
      await second.close();
    }
  });

  test('after close(), transmit rejects with ERR_CARD_TRANSPORT_CLOSED, and close() again is harmless', async () => {
    const transport = await PcscTransport.connect({ reader });
    await transport.close();
    await assert.rejects(transport.transmit(Uint8Array.of(0x00, 0x20, 0x00, 0x80)), {
      code: 'ERR_CARD_TRANSPORT_CLOSED',
    });
    await transport.close();
  });

  test('an exclusive connection keeps a second one out with ERR_CARD_IN_USE', async () => {
    const first = await PcscTransport.connect({ reader, shareMode: 'exclusive' });
    try {
      await assert.rejects(PcscTransport.connect({ reader, shareMode: 'shared' }), { code: 'ERR_CARD_IN_USE' });
    } finally {
      await first.close();
    }
  });

  test('a command longer than a short APDU is a TypeError while extendedLength is off', async () => {
    const transport = await PcscTransport.connect({ reader });
    try {
      const long = new Uint8Array(4 + 3 + 300);
      await assert.rejects(transport.transmit(long), TypeError);
    } finally {
      await transport.close();
    }
  });

  test('connecting to the empty reader fails with ERR_CARD_NO_CARD naming the reader', async () => {
    await assert.rejects(PcscTransport.connect({ reader: emptyReader }), {
      code: 'ERR_CARD_NO_CARD',
      reader: emptyReader,
    });
  });

  test('connecting to a reader name pcscd does not know fails with ERR_CARD_NO_READER', async () => {
    await assert.rejects(PcscTransport.connect({ reader: 'No Such Reader 00 00' }), {
      code: 'ERR_CARD_NO_READER',
      reader: 'No Such Reader 00 00',
    });
  });

  test('an unknown shareMode is a TypeError', async () => {
    await assert.rejects(PcscTransport.connect({ reader, shareMode: 'open' as 'shared' }), TypeError);
  });

  test('waitForCard on the empty reader gives up with ERR_CARD_TIMEOUT after timeoutMs', async () => {
    const started = performance.now();
    await assert.rejects(waitForCard({ reader: emptyReader, timeoutMs: 300 }), {
      code: 'ERR_CARD_TIMEOUT',
      timeoutMs: 300,
    });
    const took = performance.now() - started;
    assert.ok(took >= 290 && took < 2000, `took ${took} ms`);
  });

  test('waitForCard rejects with the abort reason as soon as its signal aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('the user cancelled');
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(waitForCard({ reader: emptyReader, timeoutMs: 5000, signal: controller.signal }), reason);
  });

  test('waitForCard on an unknown reader fails with ERR_CARD_NO_READER', async () => {
    await assert.rejects(waitForCard({ reader: 'No Such Reader 00 00', timeoutMs: 100 }), {
      code: 'ERR_CARD_NO_READER',
    });
  });

  test('waitForCard resolves when a card arrives in the empty reader, and waitForRemoval when it leaves', async () => {
    const arrival = waitForCard({ reader: emptyReader, timeoutMs: 10_000 });
    const second = await insertCardFile(await makeCardFile(dir), { slot: 1 });
    try {
      const seen = await arrival;
      assert.equal(seen.name, emptyReader);
      assert.equal(hexOf(seen.atr!), JPKI_ATR);
    } finally {
      const removal = waitForRemoval({ reader: emptyReader, timeoutMs: 10_000 });
      await second.remove();
      await removal;
    }
    assert.equal((await listReaders()).find((r) => r.name === emptyReader)?.cardPresent, false);
  });

  test('a transport whose card is taken out fails with ERR_CARD_REMOVED', async () => {
    const other = await insertCardFile(await makeCardFile(dir), { slot: 1 });
    const transport = await PcscTransport.connect({ reader: other.reader });
    try {
      await other.remove();
      await assert.rejects(transport.transmit(Uint8Array.of(0x00, 0x20, 0x00, 0x80)), { code: 'ERR_CARD_REMOVED' });
    } finally {
      await transport.close();
    }
  });

  test('pcsc_scan shows the JPKI contact ATR 3B E0 00 FF 81 31 FE 45 14 in the vpcd reader', async (t) => {
    if (!(await requireSystem(t, ['pcsc_scan']))) return;
    const { stdout } = await run(systemPath('pcsc_scan'), ['-c'], { timeout: 10_000 });
    const section = stdout.slice(stdout.indexOf(reader));
    assert.match(section, /Card inserted/);
    assert.equal(/ATR: ([0-9A-F ]+)/.exec(section)?.[1]?.trim(), JPKI_ATR);
  });
});

test('without pcscd, listReaders and PcscTransport.connect fail with ERR_CARD_PCSC_UNAVAILABLE', { skip }, async () => {
  // pcsc-lite's client library takes the daemon's socket from PCSCLITE_CSOCK_NAME: point a child at nowhere.
  const script = [
    "import { listReaders, PcscTransport } from './src/pcsc.ts';",
    'const codes = [];',
    'for (const f of [() => listReaders(), () => PcscTransport.connect()]) await f().catch((e) => codes.push(e.code));',
    'console.log(JSON.stringify(codes));',
  ].join('\n');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '..'),
    env: { ...process.env, PCSCLITE_CSOCK_NAME: join(tmpdir(), 'mynagate-no-pcscd.comm') },
    timeout: 10_000,
  });
  assert.deepEqual(JSON.parse(stdout), ['ERR_CARD_PCSC_UNAVAILABLE', 'ERR_CARD_PCSC_UNAVAILABLE']);
});
