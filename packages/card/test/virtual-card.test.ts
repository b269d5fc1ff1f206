/**
 * The virtual card at the APDU level: the client sequences of spec §11 byte for byte, the status words of spec §4,
 * the security model of spec §4.8, and the card file (persistence, permissions, validation).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, randomUUID, sign as rsaSign } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { digestInfo } from '../src/digest-info.ts';
import { VirtualCard, type VirtualCardOptions } from '../src/virtual/card.ts';
import {
  readCardFile,
  saveCardFile,
  withCardFileLock,
  writeCardFile,
  type CardFile,
} from '../src/virtual/card-file.ts';
import type { VirtualCardSpec } from '../src/virtual/spec.ts';
import { VirtualTransport } from '../src/virtual/transport.ts';
import { hex, toHex } from './support/apdu.ts';
import { makeCardFile, TEST_PINS, TEST_TEXT, testCardSpec } from './support/fixture.ts';

const JPKI = '00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01';
const TEXT_AP = '00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08';
const VISUAL_AP = '00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 02';
const ascii = (s: string) => toHex(new TextEncoder().encode(s));
const verifyApdu = (pin: string, p2 = '80') => `00 20 00 ${p2} ${toHex(Uint8Array.of(pin.length))} ${ascii(pin)}`;
const HASH = createHash('sha256').update('spec §11.4').digest();

let dir: string;
let spec: VirtualCardSpec;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mynagate-vcard-'));
  spec = await testCardSpec();
});
after(() => rm(dir, { recursive: true, force: true }));

/** A fresh card from a fresh card file, and `send(hex) → hex response`. */
async function freshCard(options: VirtualCardOptions = {}, overrides: Partial<VirtualCardSpec> = {}) {
  const path = await makeCardFile(dir, overrides);
  const card = VirtualCard.open(path, options);
  card.powerOn();
  const send = (command: string) => toHex(card.process(hex(command)));
  /** Sends each command and asserts its whole response. */
  const expect = (pairs: [string, string][]) => {
    for (const [command, response] of pairs) assert.equal(send(command), response, command);
  };
  return { card, path, send, expect };
}

/** P1 P2 of a 15-bit offset, as hex. */
const at = (off: number) => toHex(Uint8Array.of(off >> 8, off & 0xff));

/** Reads an EF the way OpenSC does (spec §4.2): 4-byte header, then 256-byte chunks from offset 0. */
function readLikeOpenSc(send: (c: string) => string): Uint8Array {
  const head = hex(send('00 B0 00 00 04'));
  assert.equal(toHex(head.subarray(4)), '90 00');
  const size = ((head[2]! << 8) | head[3]!) + 4;
  const parts: number[] = [];
  for (let off = 0; off < size; off += 256) {
    const le = Math.min(256, size - off) & 0xff;
    const r = hex(send(`00 B0 ${at(off)} ${toHex(Uint8Array.of(le))}`));
    assert.equal(toHex(r.subarray(-2)), '90 00');
    parts.push(...r.subarray(0, -2));
  }
  return Uint8Array.from(parts);
}

describe('virtual card: client sequences of spec §11, byte for byte', () => {
  test('§11.1 OpenSC --list-pins: foreign probes get 6A82, then 63C3 and 63C5 from empty VERIFYs', async () => {
    const { expect } = await freshCard();
    expect([
      ['00 A4 04 00 07 A0 00 00 01 51 00 00', '6A 82'], // coolkey-style, P2=00
      ['00 A4 04 00 06 A0 00 00 00 01 01 00', '6A 82'], // muscle-style, with Le
      ['00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 00', '6A 82'], // PIV
      ['00 A4 04 0C 06 D2 76 00 01 24 01', '6A 82'], // openpgp
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      ['00 20 00 80', '63 C3'],
      ['00 A4 02 0C 02 00 1B', '90 00'],
      ['00 20 00 80', '63 C5'],
    ]);
  });

  test('§11.2 OpenSC reads the auth certificate: 00 B0 00 00 04 gives 30 82 LL LL, then 256-byte chunks', async () => {
    const { send, expect } = await freshCard();
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 0A', '90 00'],
    ]);
    assert.deepEqual(readLikeOpenSc(send), spec.authCert);
  });

  test('§11.3 OpenSC reads the sign certificate: 6982 without the password, the certificate after VERIFY', async () => {
    const { send, expect } = await freshCard();
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 01', '90 00'],
      ['00 B0 00 00 04', '69 82'],
      ['00 A4 02 0C 02 00 1B', '90 00'],
      [verifyApdu(TEST_PINS.sign), '90 00'],
      ['00 A4 02 0C 02 00 01', '90 00'],
    ]);
    assert.deepEqual(readLikeOpenSc(send), spec.signCert);
  });

  test('§11.4 PKCS#11 sign with the auth key: 80 2A 00 80 33 <DigestInfo> 00 gives the PKCS#1 v1.5 signature, logout by re-SELECT', async () => {
    const { send, expect } = await freshCard();
    const di = toHex(digestInfo('sha256', HASH));
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      [verifyApdu(TEST_PINS.auth), '90 00'],
      ['00 A4 02 0C 02 00 17', '90 00'],
    ]);
    const expected = rsaSign(
      'sha256',
      Buffer.from('spec §11.4'),
      createPrivateKey({ key: Buffer.from(spec.authKey), format: 'der', type: 'pkcs8' }),
    );
    assert.equal(send(`80 2A 00 80 33 ${di} 00`), `${toHex(expected)} 90 00`);
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 17', '90 00'],
      [`80 2A 00 80 33 ${di} 00`, '69 82'],
    ]);
  });

  test('§11.5 myna: token read 00 B0 00 00 20, sign certificate read from offset 7, signing with 001A', async () => {
    const { send, expect } = await freshCard();
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 06', '90 00'],
      ['00 B0 00 00 20', `${ascii('JPKIAPICCTOKEN2')} ${Array(17).fill('20').join(' ')} 90 00`],
      ['00 A4 02 0C 02 00 1B', '90 00'],
      [verifyApdu(TEST_PINS.sign.toUpperCase()), '90 00'],
      ['00 A4 02 0C 02 00 01', '90 00'],
    ]);
    const head = hex(send('00 B0 00 00 07')).subarray(0, -2);
    const size = ((head[2]! << 8) | head[3]!) + 4;
    const parts = [...head];
    while (parts.length < size) {
      const le = Math.min(256, size - parts.length);
      const off = parts.length;
      parts.push(...hex(send(`00 B0 ${at(off)} ${toHex(Uint8Array.of(le & 0xff))}`)).subarray(0, -2));
    }
    assert.deepEqual(Uint8Array.from(parts), spec.signCert);
    expect([['00 A4 02 0C 02 00 1A', '90 00']]);
    assert.match(send(`80 2A 00 80 33 ${toHex(digestInfo('sha256', HASH))} 00`), /^(.. ){256}90 00$/);
  });

  test('§11.5 myna pin status: every PIN EF of kenhojo (0011/0014/0015), kenkaku (0013/0012) and JPKI answers 63Cx', async () => {
    const { expect } = await freshCard();
    expect([
      [TEXT_AP, '90 00'],
      ['00 A4 02 0C 02 00 11', '90 00'],
      ['00 20 00 80', '63 C3'],
      ['00 A4 02 0C 02 00 14', '90 00'],
      ['00 20 00 80', '63 C3'],
      ['00 A4 02 0C 02 00 15', '90 00'],
      ['00 20 00 80', '63 C3'],
      [VISUAL_AP, '90 00'],
      ['00 A4 02 0C 02 00 13', '90 00'],
      ['00 20 00 80', '63 C3'],
      ['00 A4 02 0C 02 00 12', '90 00'],
      ['00 20 00 80', '63 C3'],
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      ['00 20 00 80', '63 C3'],
      ['00 A4 02 0C 02 00 1B', '90 00'],
      ['00 20 00 80', '63 C5'],
    ]);
  });

  test('§11.6 myna text mynumber: VERIFY 0011, SELECT 0001, 00 B0 00 00 11 gives FF 10 0C + digits + FF FF', async () => {
    const { expect } = await freshCard();
    expect([
      [TEXT_AP, '90 00'],
      ['00 A4 02 0C 02 00 11', '90 00'],
      [verifyApdu(TEST_PINS.text), '90 00'],
      ['00 A4 02 0C 02 00 01', '90 00'],
      ['00 B0 00 00 11', `FF 10 0C ${ascii(TEST_TEXT.myNumber)} FF FF 90 00`],
      ['00 B0 00 00 00', `FF 10 0C ${ascii(TEST_TEXT.myNumber)} FF FF 90 00`], // TRACE: Le=00 on the 17-byte EF
    ]);
  });
});

describe('virtual card: PIN state (spec §4.3, §4.4, §4.8)', () => {
  test('empty VERIFY answers 63C3 even right after a correct VERIFY (never 9000)', async () => {
    const { expect } = await freshCard();
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      [verifyApdu(TEST_PINS.auth), '90 00'],
      ['00 20 00 80', '63 C3'],
    ]);
  });

  test('wrong PINs count down 63C2, 63C1, 63C0; a blocked PIN answers empty VERIFY 63C0 and VERIFY 6984 by default', async () => {
    const { expect } = await freshCard();
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      [verifyApdu('0000'), '63 C2'],
      [verifyApdu('0000'), '63 C1'],
      [verifyApdu('0000'), '63 C0'],
      ['00 20 00 80', '63 C0'],
      [verifyApdu(TEST_PINS.auth), '69 84'],
    ]);
  });

  test('blockedSw: 0x6983 makes VERIFY on a blocked PIN answer 6983; other values are a TypeError', async () => {
    const { expect } = await freshCard({ blockedSw: 0x6983 });
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 18', '90 00'],
    ]);
    for (let i = 0; i < 3; i++) expect([[verifyApdu('0000'), `63 C${2 - i}`]]);
    expect([[verifyApdu(TEST_PINS.auth), '69 83']]);
    assert.throws(() => VirtualCard.open('unused', { blockedSw: 0x6300 as 0x6983 }), TypeError);
  });

  test('a correct VERIFY resets the counter to the maximum', async () => {
    const { expect } = await freshCard();
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 1B', '90 00'],
      [verifyApdu('WRONG1'), '63 C4'],
      [verifyApdu('WRONG1'), '63 C3'],
      [verifyApdu(TEST_PINS.sign), '90 00'],
      ['00 20 00 80', '63 C5'],
    ]);
  });

  test('verification survives SELECT EF but not re-SELECT of the AP, selecting another AP, or a reset', async () => {
    const { card, expect } = await freshCard();
    const login = (): [string, string][] => [
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 1B', '90 00'],
      [verifyApdu(TEST_PINS.sign), '90 00'],
      ['00 A4 02 0C 02 00 01', '90 00'],
      ['00 B0 00 00 04', `30 82 ${toHex(spec.signCert.subarray(2, 4))} 90 00`],
    ];
    const readSign: [string, string][] = [
      ['00 A4 02 0C 02 00 01', '90 00'],
      ['00 B0 00 00 04', '69 82'],
    ];
    expect([...login(), [JPKI, '90 00'], ...readSign]);
    expect([...login(), [TEXT_AP, '90 00'], [JPKI, '90 00'], ...readSign]);
    expect(login());
    card.reset();
    expect([[JPKI, '90 00'], ...readSign]);
    expect(login());
    card.powerOff();
    card.powerOn();
    expect([['00 A4 02 0C 02 00 01', '6A 82'], [JPKI, '90 00'], ...readSign]);
  });

  test('CHANGE REFERENCE DATA 00 24 01 80: 6982 before VERIFY or for a malformed value, 9000 after VERIFY; 照合番号A cannot change', async () => {
    const { expect } = await freshCard();
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      [`00 24 01 80 04 ${ascii('4321')}`, '69 82'],
      [verifyApdu(TEST_PINS.auth), '90 00'],
      [`00 24 01 80 04 ${ascii('12AB')}`, '69 82'],
      [`00 24 01 80 05 ${ascii('12345')}`, '69 82'],
      [`00 24 01 80 04 ${ascii('4321')}`, '90 00'],
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      [verifyApdu(TEST_PINS.auth), '63 C2'],
      [verifyApdu('4321'), '90 00'],
      [TEXT_AP, '90 00'],
      ['00 A4 02 0C 02 00 14', '90 00'],
      [verifyApdu(TEST_TEXT.myNumber), '90 00'],
      [`00 24 01 80 0C ${ascii('123456789018')}`, '69 86'],
    ]);
  });

  test('VERIFY by SFI (P2 = 80|SFI, AokiApp): PIN A (the My Number) opens EF 0001 but not the basic-4 EF 0002', async () => {
    const { expect } = await freshCard();
    expect([
      [TEXT_AP, '90 00'],
      [verifyApdu(TEST_TEXT.myNumber, '94'), '90 00'],
      ['00 A4 02 0C 02 00 01', '90 00'],
      ['00 B0 00 00 11', `FF 10 0C ${ascii(TEST_TEXT.myNumber)} FF FF 90 00`],
      ['00 A4 02 0C 02 00 02', '90 00'],
      ['00 B0 00 00 07', '69 82'],
      [verifyApdu(TEST_PINS.textB, '95'), '90 00'],
      ['00 B0 00 00 03', 'FF 20 81 90 00'],
    ]);
  });
});

describe('virtual card: commands and status words (spec §4.1, §4.2, §4.5, §4.7)', () => {
  test('unknown INS 6D00, unknown CLA 6E00, ISO CLA on 2A and proprietary CLA on A4 6E00, bad length 6700', async () => {
    const { expect } = await freshCard();
    expect([
      ['00 CA 01 00 00', '6D 00'],
      ['A0 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01', '6E 00'],
      ['0C A4 02 0C 02 00 18', '6E 00'],
      ['80 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01', '6E 00'],
      ['00 2A 9E 9A 01 00 00', '6E 00'],
      ['00 A4 04 0C 0B D3 92 F0', '67 00'],
      ['00 A4', '67 00'],
    ]);
  });

  test('SELECT: unknown AIDs 6A82 for any P2 and with Le, an EF before any AP 6A82, an unknown FID 6A82, FCI-requesting SELECT 9000', async () => {
    const { expect } = await freshCard();
    expect([
      ['00 A4 02 0C 02 00 0A', '6A 82'],
      ['00 A4 04 04 05 A0 00 00 00 03', '6A 82'],
      ['00 A4 04 00 05 A0 00 00 00 03 00', '6A 82'],
      ['00 A4 04 00 00', '6A 82'],
      ['00 A4 04 00 0A D3 92 F0 00 26 01 00 00 00 01 00', '90 00'],
      ['00 A4 02 0C 02 00 99', '6A 82'],
      ['00 A4 08 0C 02 3F 00', '6A 82'],
    ]);
  });

  test('READ BINARY: partial at end of file with 9000, 6B00 from the end on, 6986 with no EF, 6981 on key and PIN EFs, 6700 without Le', async () => {
    const { expect } = await freshCard();
    const size = spec.authCaCert.length;
    expect([
      [JPKI, '90 00'],
      ['00 B0 00 00 04', '69 86'],
      ['00 A4 02 0C 02 00 0B', '90 00'],
      [`00 B0 ${at(size - 3)} 00`, `${toHex(spec.authCaCert.subarray(size - 3))} 90 00`],
      [`00 B0 ${at(size)} 01`, '6B 00'],
      [`00 B0 ${at(size + 100)} 01`, '6B 00'],
      ['00 B0 00 00', '67 00'],
      ['00 A4 02 0C 02 00 17', '90 00'],
      ['00 B0 00 00 04', '69 81'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      ['00 B0 00 00 04', '69 81'],
    ]);
  });

  test('extended READ BINARY returns a whole certificate at once (TRACE: 00 B0 00 04 00 LL LL), and Le 00 00 00 reads to the end', async () => {
    const { send, expect } = await freshCard();
    const cert = spec.authCert;
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 0A', '90 00'],
    ]);
    assert.equal(send(`00 B0 00 04 00 ${at(cert.length - 4)}`), `${toHex(cert.subarray(4))} 90 00`);
    assert.equal(send('00 B0 00 00 00 00 00'), `${toHex(cert)} 90 00`);
  });

  test('READ BINARY by SFI (P1 = 80|SFI) with extended Le reads the basic-4 EF without a SELECT (AokiApp)', async () => {
    const { send, expect } = await freshCard();
    expect([
      [TEXT_AP, '90 00'],
      [verifyApdu(TEST_PINS.text, '91'), '90 00'],
    ]);
    const response = hex(send('00 B0 82 00 00 00 00'));
    assert.equal(toHex(response.subarray(-2)), '90 00');
    const basic4 = response.subarray(0, -2);
    assert.equal(toHex(basic4.subarray(0, 3)), 'FF 20 81');
    assert.equal(basic4.length, 4 + basic4[3]!);
  });

  test('COMPUTE DIGITAL SIGNATURE: 6986 when the current EF is not a key, 6700 for 0 or 246 bytes, 6A86 for other P1/P2, 6982 with the wrong PIN', async () => {
    const { send, expect } = await freshCard();
    const data = (n: number) => toHex(new Uint8Array(n).fill(0x41));
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      [verifyApdu(TEST_PINS.auth), '90 00'],
      ['80 2A 00 80 01 41 00', '69 86'],
      ['00 A4 02 0C 02 00 1A', '90 00'],
      ['80 2A 00 80 01 41 00', '69 82'],
      ['00 A4 02 0C 02 00 17', '90 00'],
      ['80 2A 00 80 00', '67 00'],
      [`80 2A 00 80 F6 ${data(246)} 00`, '67 00'],
      ['80 2A 00 00 01 41 00', '6A 86'],
    ]);
    assert.match(send(`80 2A 00 80 F5 ${data(245)} 00`), /^(.. ){256}90 00$/);
    assert.match(send('80 2A 00 80 01 41'), /^(.. ){256}90 00$/, 'case 3 (no Le) is accepted too');
  });

  test('default ATR is the contact ATR 3B E0 00 FF 81 31 FE 45 14; the atr option replaces it', async () => {
    assert.equal(toHex((await freshCard()).card.atr), '3B E0 00 FF 81 31 FE 45 14');
    const atr = hex('3B DA 13 FF 81 31 FB 46 80 12 39 2F 31 C1 73 C6 01 C0 3B');
    assert.deepEqual((await freshCard({ atr })).card.atr, atr);
  });

  test('android profile: token JPKIAPGPSETOKEN, and the auth certificate needs the auth PIN', async () => {
    const { expect } = await freshCard({}, { profile: 'android' });
    expect([
      [JPKI, '90 00'],
      ['00 A4 02 0C 02 00 06', '90 00'],
      ['00 B0 00 00 0F', `${ascii('JPKIAPGPSETOKEN')} 90 00`],
      ['00 A4 02 0C 02 00 0A', '90 00'],
      ['00 B0 00 00 04', '69 82'],
      ['00 A4 02 0C 02 00 18', '90 00'],
      [verifyApdu(TEST_PINS.auth), '90 00'],
      ['00 A4 02 0C 02 00 0A', '90 00'],
      ['00 B0 00 00 02', '30 82 90 00'],
    ]);
  });
});

/**
 * Runs `body` in a new Node process (ESM, `-e`) after `prelude` has patched `fs`, whose named exports the card code
 * then sees. In scope: `args` (after `path`, the card file), `open()` (the card at `path`, JPKI-AP and auth PIN EF
 * selected), `send(card, hex)` (prints the answer, as hex), `VirtualCard` and `withCardFileLock`. Resolves
 * with the printed lines and the signal that ended the process (SIGKILL for a simulated power cut).
 */
function inChild(prelude: string, body: string, path: string, ...args: string[]) {
  const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const script = `
    import fs from 'node:fs';
    import { syncBuiltinESMExports } from 'node:module';
    const [path, ...args] = process.argv.slice(1);
    ${prelude}
    syncBuiltinESMExports();
    const { VirtualCard } = await import(${url('../src/virtual/index.ts')});
    const { withCardFileLock } = await import(${url('../src/virtual/card-file.ts')});
    const send = (card, h) => {
      const r = Buffer.from(card.process(Buffer.from(h.replaceAll(' ', ''), 'hex'))).toString('hex').toUpperCase();
      console.log(r.match(/../g).join(' '));
    };
    const open = () => {
      const card = VirtualCard.open(path);
      send(card, ${JSON.stringify(JPKI)});
      send(card, '00 A4 02 0C 02 00 18');
      return card;
    };
    ${body}`;
  return new Promise<{ lines: string[]; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, path, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child
      .on('error', reject)
      .on('exit', (_code, signal) => resolve({ lines: out.split('\n').filter(Boolean), signal }));
  });
}

/** A full disk: every write to a file fails with ENOSPC (creating the lock and the empty temporary file still work). */
const ENOSPC = `
  const write = fs.writeSync;
  fs.writeSync = (fd, ...rest) => {
    if (fd > 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return write(fd, ...rest);
  };`;

/** A power cut (kill -9) at the start of write number args[0] to a file: the counter write it begins never lands. */
const CUT = `
  const write = fs.writeSync;
  let writes = 0;
  fs.writeSync = (fd, ...rest) => {
    if (fd > 2 && ++writes === Number(args[0])) process.kill(process.pid, 'SIGKILL');
    return write(fd, ...rest);
  };`;

const SELECTED = ['90 00', '90 00'];

describe('virtual card: the try is spent before the PIN is compared (spec §4.3)', () => {
  test('while the counter cannot be saved (ENOSPC), VERIFY answers 6581 to wrong and right PINs alike and compares nothing', async () => {
    // Comparing first and saving after answered 6581 to a wrong PIN and 9000 to the right one (no save needed at a
    // full counter); the counter read back from the file before each check undid the try kept in memory.
    const path = await makeCardFile(dir);
    const wrong = verifyApdu('0000');
    const body = `const card = open(); for (const c of args) send(card, c);`;
    const { lines } = await inChild(ENOSPC, body, path, wrong, wrong, wrong, verifyApdu(TEST_PINS.auth));
    assert.deepEqual(lines, [...SELECTED, '65 81', '65 81', '65 81', '65 81']);
    assert.equal(readCardFile(path).pins.auth.triesLeft, 3);
    const { send } = reopen(path);
    assert.equal(send(wrong), '63 C2', 'the first PIN compared is the first try counted');
  });

  test('when the reset after a right PIN cannot be saved: 6581, the PIN stays unverified, and the try stays spent', async () => {
    const path = await makeCardFile(dir);
    let saves = 0;
    let failAt = 2; // the save after the comparison
    const persist = (file: CardFile) => {
      if (++saves === failAt) throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
      saveCardFile(path, file);
    };
    const card = new VirtualCard(
      readCardFile(path),
      {},
      persist,
      () => readCardFile(path),
      (fn) => withCardFileLock(path, fn),
    );
    const r = (c: string) => toHex(card.process(hex(c)));
    assert.equal(r(JPKI), '90 00');
    assert.equal(r('00 A4 02 0C 02 00 1B'), '90 00');
    assert.equal(r(verifyApdu(TEST_PINS.sign)), '65 81');
    assert.equal(readCardFile(path).pins.sign.triesLeft, 4);
    assert.equal(r('00 20 00 80'), '63 C4');
    assert.equal(r('00 A4 02 0C 02 00 01'), '90 00');
    assert.equal(r('00 B0 00 00 04'), '69 82', 'not verified');
    failAt = 0;
    assert.equal(r('00 A4 02 0C 02 00 1B'), '90 00');
    assert.equal(r(verifyApdu(TEST_PINS.sign)), '90 00');
    assert.equal(readCardFile(path).pins.sign.triesLeft, 5);
  });

  test('a power cut at the counter write ends right and wrong PINs alike before any answer; the counter is unchanged', async () => {
    // Comparing first made the cut an oracle: a wrong PIN died writing its try, the right one answered 9000 unwritten.
    for (const pin of ['0000', TEST_PINS.auth]) {
      const path = await makeCardFile(dir);
      const { lines, signal } = await inChild(CUT, `send(open(), args[1]);`, path, '1', verifyApdu(pin));
      assert.deepEqual([lines, signal], [SELECTED, 'SIGKILL'], pin);
      assert.equal(readCardFile(path).pins.auth.triesLeft, 3, pin);
    }
  });

  test('a power cut at the reset after a right PIN leaves the try spent: 63C2 on the next empty VERIFY', async () => {
    const path = await makeCardFile(dir);
    const { lines, signal } = await inChild(CUT, `send(open(), args[1]);`, path, '2', verifyApdu(TEST_PINS.auth));
    assert.deepEqual([lines, signal], [SELECTED, 'SIGKILL']);
    assert.equal(readCardFile(path).pins.auth.triesLeft, 2);
    const { send } = reopen(path);
    assert.equal(send('00 20 00 80'), '63 C2');
  });

  test('the lock of a process killed during a check is broken at once: the next VERIFY answers 63C2, not 6581 after a 5 s wait', async () => {
    // The lock file it left stood for 10 s, and each check waited 5 s for it and answered 6581.
    const path = await makeCardFile(dir);
    const { signal } = await inChild(CUT, `send(open(), args[1]);`, path, '1', verifyApdu('0000'));
    assert.equal(signal, 'SIGKILL');
    const { send } = reopen(path);
    const started = Date.now();
    assert.equal(send(verifyApdu('0000')), '63 C2');
    assert.ok(Date.now() - started < 2_000, 'no wait for the dead holder');
  });

  test('a live holder on this host keeps its lock past 10 s (a stalled check); one on another host is broken after 10 s', async () => {
    // The age rule once ran first: a live holder stalled past 10 s (a slow disk, Ctrl+Z) lost its lock to a second
    // process, and both counted from one counter value.
    const path = await makeCardFile(dir);
    const lock = `${path}.lock.d`;
    const long = new Date(Date.now() - 60_000);
    const live = `${process.pid}.${randomUUID()}.${encodeURIComponent(hostname())}`;
    await mkdir(lock);
    await writeFile(join(lock, live), '');
    await utimes(join(lock, live), long, long);
    assert.throws(() => withCardFileLock(path, () => 'taken', 200), /the card file is locked by another process/);
    assert.deepEqual(await readdir(lock), [live]);
    await rm(lock, { recursive: true });

    const elsewhere = `${process.pid}.${randomUUID()}.${encodeURIComponent('another-host.example')}`;
    await mkdir(lock);
    await writeFile(join(lock, elsewhere), '');
    await utimes(join(lock, elsewhere), long, long);
    assert.equal(
      withCardFileLock(path, () => 'taken', 200),
      'taken',
    );
  });

  test('a breaker that judged a dead holder’s lock acts after it was broken and taken again: the new lock stays', async () => {
    // stat-then-unlink on one lock file could delete the lock another process had just taken. Here the child judges a
    // dead holder's lock; right after its judgement another holder (this live process) takes the lock over.
    const path = await makeCardFile(dir);
    const host = encodeURIComponent(hostname());
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const stale = `${dead}.${randomUUID()}.${host}`;
    const fresh = `${process.pid}.${randomUUID()}.${host}`;
    await mkdir(`${path}.lock.d`);
    await writeFile(join(`${path}.lock.d`, stale), '');
    const takeOver = `
      const { join } = await import('node:path');
      const [stale, fresh] = args;
      const lock = path + '.lock.d';
      const stat = fs.statSync;
      let judged = false;
      fs.statSync = (p, ...rest) => {
        const s = stat(p, ...rest);
        if (!judged && p === join(lock, stale)) {
          judged = true;
          fs.unlinkSync(join(lock, stale));
          fs.rmdirSync(lock);
          fs.mkdirSync(path + '.other');
          fs.writeFileSync(join(path + '.other', fresh), '');
          fs.renameSync(path + '.other', lock);
        }
        return s;
      };`;
    const body = `
      try {
        withCardFileLock(path, () => console.log('taken'), 300);
      } catch (e) {
        console.log('waited');
      }`;
    const { lines } = await inChild(takeOver, body, path, stale, fresh);
    assert.deepEqual(lines, ['waited']);
    assert.deepEqual(await readdir(`${path}.lock.d`), [fresh]);
  });
});

/** The card at `path` opened again, JPKI-AP and auth PIN EF selected. */
function reopen(path: string) {
  const card = VirtualCard.open(path);
  const send = (c: string) => toHex(card.process(hex(c)));
  send(JPKI);
  send('00 A4 02 0C 02 00 18');
  return { card, send };
}

describe('virtual card file (persistence, permissions, validation)', () => {
  const blockAuth = (send: (c: string) => string) => {
    send(JPKI);
    send('00 A4 02 0C 02 00 18');
    for (let i = 0; i < 3; i++) send(verifyApdu('0000'));
  };

  test('a blocked PIN stays blocked when the same card file is opened again', async () => {
    const { path, send } = await freshCard();
    blockAuth(send);
    const again = VirtualCard.open(path);
    const r = (c: string) => toHex(again.process(hex(c)));
    r(JPKI);
    r('00 A4 02 0C 02 00 18');
    assert.equal(r('00 20 00 80'), '63 C0');
    assert.equal(r(verifyApdu(TEST_PINS.auth)), '69 84');
  });

  test('processes sharing the card file count every wrong try: three at once block the PIN (63 C2, 63 C1, 63 C0)', async () => {
    // Each check reads the counter, compares (scrypt) and writes it back; without one lock over the three steps, each
    // process counted its try from the same value and the card kept two tries after three wrong PINs.
    const path = await makeCardFile(dir);
    const module = new URL('../src/virtual/index.ts', import.meta.url).href;
    const startAt = Date.now() + 1500;
    const script = `
      import { VirtualCard } from ${JSON.stringify(module)};
      const card = VirtualCard.open(process.argv[1]);
      const send = (h) => Buffer.from(card.process(Buffer.from(h.replaceAll(' ', ''), 'hex'))).toString('hex');
      send(${JSON.stringify(JPKI)});
      send('00 A4 02 0C 02 00 18');
      await new Promise((r) => setTimeout(r, ${startAt} - Date.now()));
      process.stdout.write(send(${JSON.stringify(verifyApdu('0000'))}));`;
    const answers = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script, path], {
              stdio: ['ignore', 'pipe', 'inherit'],
            });
            let out = '';
            child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
            child.on('error', reject).on('exit', () => resolve(out));
          }),
      ),
    );
    assert.deepEqual(answers.sort(), ['63c0', '63c1', '63c2']);
    assert.equal(readCardFile(path).pins.auth.triesLeft, 0);
  });

  test('each wrong try is on disk before the answer is returned', async () => {
    const { path, send } = await freshCard();
    send(JPKI);
    send('00 A4 02 0C 02 00 1B');
    assert.equal(send(verifyApdu('WRONG1')), '63 C4');
    assert.equal(readCardFile(path).pins.sign.triesLeft, 4);
  });

  test('the card file is mode 0600, marked as a test card, and holds PIN hashes, never the PINs', async () => {
    const { path, send } = await freshCard();
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    blockAuth(send);
    assert.equal((await stat(path)).mode & 0o777, 0o600, 'still 0600 after a counter update');
    const text = await readFile(path, 'utf8');
    const file = JSON.parse(text) as CardFile;
    assert.equal(file.format, 'mynagate-virtual-jpki-card/1');
    assert.equal(file.test, true);
    for (const pin of Object.values(file.pins))
      assert.deepEqual(Object.keys(pin).sort(), ['hash', 'maxTries', 'salt', 'triesLeft']);
    for (const clear of [TEST_PINS.sign, TEST_PINS.textB, `"${TEST_PINS.auth}"`, `"${TEST_PINS.text}"`]) {
      assert.equal(text.includes(clear), false, 'a PIN in clear');
    }
  });

  test('a failed write answers 6581 and keeps the decremented counter in memory', async () => {
    const file = readCardFile(await makeCardFile(dir));
    const card = new VirtualCard(file, {}, () => {
      throw new Error('disk full');
    });
    const r = (c: string) => toHex(card.process(hex(c)));
    r(JPKI);
    r('00 A4 02 0C 02 00 18');
    assert.equal(r(verifyApdu('0000')), '65 81');
    assert.equal(r('00 20 00 80'), '63 C2');
    assert.equal(
      r(verifyApdu(TEST_PINS.auth)),
      '65 81',
      'a correct PIN is not accepted while the reset cannot be saved',
    );
  });

  test('a missing, non-JSON, unmarked or out-of-range card file is ERR_CARD_FILE_INVALID', async () => {
    const good = JSON.parse(await readFile(await makeCardFile(dir), 'utf8')) as Record<string, unknown>;
    const bad = (mutate: (f: Record<string, any>) => void) => async () => {
      const copy = structuredClone(good);
      mutate(copy);
      const path = join(dir, 'bad.json');
      await writeFile(path, JSON.stringify(copy));
      return path;
    };
    const cases: [string, () => Promise<string>][] = [
      ['missing', async () => join(dir, 'nope.json')],
      ['not JSON', () => writeFile(join(dir, 'x.json'), '{').then(() => join(dir, 'x.json'))],
      ['test: false', bad((f) => void (f.test = false))],
      ['other format', bad((f) => void (f.format = 'something/1'))],
      ['triesLeft over max', bad((f) => void (f.pins.auth.triesLeft = 4))],
      ['key not PKCS#8', bad((f) => void (f.keys.auth = 'AAAA'))],
      ['certificate not 30 82', bad((f) => void (f.certificates.sign = 'MAA='))],
      ['invalid My Number', bad((f) => void (f.text.myNumber = '123456789017'))],
      ['huge scrypt N', bad((f) => void (f.scrypt.N = 1 << 30))],
    ];
    for (const [label, make] of cases) {
      const path = await make();
      assert.throws(() => VirtualCard.open(path), { code: 'ERR_CARD_FILE_INVALID' }, label);
    }
  });

  test('writeCardFile refuses a spec with a malformed PIN or an invalid My Number (TypeError)', async () => {
    const path = join(dir, 'refused.json');
    await assert.rejects(writeCardFile(path, { ...spec, signPassword: 'ONLYLETTERS' }), TypeError);
    await assert.rejects(writeCardFile(path, { ...spec, authPin: '12345' }), TypeError);
    await assert.rejects(writeCardFile(path, { ...spec, text: { ...spec.text, myNumber: '123456789017' } }), TypeError);
  });

  test('VirtualTransport: extended length, the card ATR, and ERR_CARD_TRANSPORT_CLOSED after close', async () => {
    const transport = new VirtualTransport(VirtualCard.open(await makeCardFile(dir)));
    assert.equal(transport.extendedLength, true);
    assert.equal(toHex(transport.atr), '3B E0 00 FF 81 31 FE 45 14');
    assert.equal(toHex(await transport.transmit(hex(JPKI))), '90 00');
    await transport.close();
    await transport.close();
    await assert.rejects(transport.transmit(hex(JPKI)), { code: 'ERR_CARD_TRANSPORT_CLOSED' });
  });
});
