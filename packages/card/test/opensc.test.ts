/**
 * OpenSC as an independent client of the virtual card: its `jpki` driver, `pkcs15-tool`, `pkcs11-tool` with
 * `opensc-pkcs11.so`, through pcscd and the vpcd reader, exactly as it would reach a real My Number Card
 * (spec §11.1–§11.4). openssl checks what OpenSC produced against the card file's certificates.
 *
 * Each OpenSC command takes one to three seconds (it probes the card with every driver before `jpki`), so the
 * commands are few and each checks as much as it can.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CardFile } from '../src/virtual/card-file.ts';
import { makeCardFile, TEST_PINS } from './support/fixture.ts';
import { insertCardFile, type InsertedCard } from './support/pcscd.ts';
import { systemPath, systemSkipReason } from './support/system.ts';

const skip = await systemSkipReason([
  'pcscd',
  'vpcd',
  'pkcs15-tool',
  'pkcs11-tool',
  'opensc-tool',
  'opensc-pkcs11',
  'openssl',
]);

const AUTH_TOKEN = 'JPKI (User Authentication PIN)';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a tool; a non-zero exit is a result to assert on, not an exception. */
function run(tool: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** The blank-line separated blocks of `pkcs15-tool` output whose first line starts with `head`. */
function sections(output: string, head: string): string[] {
  return output
    .split(/\n\s*\n/)
    .map((s) => s.trim())
    .filter((s) => s.startsWith(head));
}

const field = (section: string, name: string) =>
  new RegExp(`^\\s*${name}\\s*:\\s*(.*)$`, 'm').exec(section)?.[1]?.trim();

const pemToDer = (pem: string) =>
  new Uint8Array(
    Buffer.from(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)![1]!, 'base64'),
  );

/** A fresh card file in a fresh directory, inserted into vpcd slot 0 for the suite and removed after it. */
function cardInReader() {
  const state = {} as { dir: string; cardFile: string; file: CardFile; card: InsertedCard };
  before(async () => {
    state.dir = await mkdtemp(join(tmpdir(), 'mynagate-opensc-'));
    state.cardFile = await makeCardFile(state.dir);
    state.file = JSON.parse(await readFile(state.cardFile, 'utf8')) as CardFile;
    state.card = await insertCardFile(state.cardFile);
  });
  after(async () => {
    await state.card?.remove();
    await rm(state.dir, { recursive: true, force: true });
  });
  return state;
}

describe('OpenSC reads and signs with the virtual card through pcscd', { skip }, () => {
  const s = cardInReader();
  const pkcs15 = (...args: string[]) =>
    run(systemPath('pkcs15-tool'), ['--no-cache', '--reader', s.card.reader, ...args], s.dir);
  const cert = (which: 'auth' | 'sign') => new Uint8Array(Buffer.from(s.file.certificates[which], 'base64'));
  let signature: Buffer | undefined;

  test('OpenSC: opensc-tool -a reads the JPKI contact ATR and opensc-tool -n matches the card to the "jpki" driver', async () => {
    const atr = await run(systemPath('opensc-tool'), ['--reader', s.card.reader, '-a'], s.dir);
    assert.equal(atr.code, 0, atr.stderr);
    assert.match(atr.stdout, /^3b:e0:00:ff:81:31:fe:45:14$/m);
    const name = await run(systemPath('opensc-tool'), ['--reader', s.card.reader, '-n'], s.dir);
    assert.equal(name.code, 0, name.stderr);
    assert.match(name.stdout, /^jpki$/m);
  });

  test('OpenSC: pkcs15-tool -D lists the four certificates, both keys, the auth PIN with 3 tries and the sign password with 5', async () => {
    const dump = await pkcs15('-D');
    assert.equal(dump.code, 0, dump.stderr);
    const pins = sections(dump.stdout, 'PIN [');
    const authPin = pins.find((p) => p.startsWith('PIN [User Authentication PIN]'));
    const signPin = pins.find((p) => p.startsWith('PIN [Digital Signature PIN]'));
    assert.ok(authPin && signPin, 'both PINs listed');
    assert.equal(field(authPin, 'Tries left'), '3');
    assert.equal(field(signPin, 'Tries left'), '5');
    assert.match(field(authPin, 'Length') ?? '', /min_len:4, max_len:4/);
    assert.match(field(signPin, 'Length') ?? '', /min_len:6, max_len:16/);
    const certs = sections(dump.stdout, 'X.509 Certificate [').map((c) => [
      c.split('\n')[0],
      field(c, 'Path'),
      field(c, 'ID'),
    ]);
    assert.deepEqual(certs, [
      ['X.509 Certificate [User Authentication Certificate]', '000a', '01'],
      ['X.509 Certificate [Digital Signature Certificate]', '0001', '02'],
      ['X.509 Certificate [User Authentication Certificate CA]', '000b', '03'],
      ['X.509 Certificate [Digital Signature Certificate CA]', '0002', '04'],
    ]);
    assert.deepEqual(
      sections(dump.stdout, 'Private RSA Key [').map((k) => [
        k.split('\n')[0],
        field(k, 'ModLength'),
        field(k, 'Auth ID'),
      ]),
      [
        ['Private RSA Key [User Authentication Key]', '2048', '01'],
        ['Private RSA Key [Digital Signature Key]', '2048', '02'],
      ],
    );
  });

  test('OpenSC: pkcs15-tool --read-certificate 01 reads the auth certificate, equal to the one in the card file', async () => {
    const read = await pkcs15('--read-certificate', '01');
    assert.equal(read.code, 0, read.stderr);
    assert.deepEqual(pemToDer(read.stdout), cert('auth'));
  });

  test('OpenSC: pkcs15-tool --read-certificate 02 without the sign password fails (the card answers 6982, spec §11.3)', async () => {
    const read = await pkcs15('--read-certificate', '02');
    assert.notEqual(read.code, 0);
    assert.doesNotMatch(read.stdout, /BEGIN CERTIFICATE/);
    assert.match(read.stderr, /Certificate read failed/);
  });

  test("OpenSC: pkcs15-tool --read-certificate 02 --verify-pin --auth-id 02 --pin <password> reads the sign certificate, equal to the card file's", async () => {
    const read = await pkcs15('--read-certificate', '02', '--verify-pin', '--auth-id', '02', '--pin', TEST_PINS.sign);
    assert.equal(read.code, 0, read.stderr);
    assert.deepEqual(pemToDer(read.stdout), cert('sign'));
  });

  test('OpenSC: pkcs11-tool --login --pin 1234 --sign --mechanism SHA256-RSA-PKCS --id 01 signs with the auth key', async () => {
    await writeFile(join(s.dir, 'data'), 'MynaGate: signed through OpenSC PKCS#11\n');
    const sign = await run(
      systemPath('pkcs11-tool'),
      [
        '--module',
        systemPath('opensc-pkcs11'),
        '--token-label',
        AUTH_TOKEN,
        '--login',
        '--pin',
        TEST_PINS.auth,
        '--sign',
        '--mechanism',
        'SHA256-RSA-PKCS',
        '--id',
        '01',
        '-i',
        'data',
        '-o',
        'sig',
      ],
      s.dir,
    );
    assert.equal(sign.code, 0, sign.stderr);
    signature = await readFile(join(s.dir, 'sig'));
    assert.equal(signature.length, 256);
  });

  test('openssl: dgst -sha256 -verify with the card\'s auth certificate key says "Verified OK" for that signature, and rejects altered data', async () => {
    assert.ok(signature, 'the pkcs11-tool signing test ran first');
    const openssl = systemPath('openssl');
    await writeFile(
      join(s.dir, 'auth.pub'),
      new X509Certificate(cert('auth')).publicKey.export({ type: 'spki', format: 'pem' }),
    );
    const ok = await run(openssl, ['dgst', '-sha256', '-verify', 'auth.pub', '-signature', 'sig', 'data'], s.dir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Verified OK/);
    await writeFile(join(s.dir, 'altered'), 'MynaGate: signed through OpenSC PKCS#11?\n');
    const altered = await run(
      openssl,
      ['dgst', '-sha256', '-verify', 'auth.pub', '-signature', 'sig', 'altered'],
      s.dir,
    );
    assert.notEqual(altered.code, 0);
    assert.match(altered.stdout + altered.stderr, /Verification failure/);
  });
});

describe('OpenSC counts wrong PINs down and the lock is kept in the card file', { skip }, () => {
  const s = cardInReader();
  const login = (pin: string) =>
    run(
      systemPath('pkcs11-tool'),
      ['--module', systemPath('opensc-pkcs11'), '--token-label', AUTH_TOKEN, '--login', '--pin', pin, '--list-objects'],
      s.dir,
    );
  const triesLeft = async () => {
    const list = await run(systemPath('pkcs15-tool'), ['--no-cache', '--reader', s.card.reader, '--list-pins'], s.dir);
    assert.equal(list.code, 0, list.stderr);
    const pins = sections(list.stdout, 'PIN [');
    const tries = (name: string) => field(pins.find((p) => p.startsWith(`PIN [${name}]`)) ?? '', 'Tries left');
    return { auth: tries('User Authentication PIN'), sign: tries('Digital Signature PIN') };
  };

  test('OpenSC: a wrong PIN at pkcs11-tool --login fails with CKR_PIN_INCORRECT and pkcs15-tool --list-pins then shows 2 tries left', async () => {
    const wrong = await login('0000');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /C_Login failed: rv = CKR_PIN_INCORRECT/);
    assert.deepEqual(await triesLeft(), { auth: '2', sign: '5' });
  });

  test('OpenSC: two more wrong PINs block the auth PIN: 0 tries left, pkcs11-tool -L flags "user PIN locked", the sign password keeps 5', async () => {
    for (let i = 0; i < 2; i++) assert.notEqual((await login('0000')).code, 0);
    assert.deepEqual(await triesLeft(), { auth: '0', sign: '5' });
    const slots = await run(systemPath('pkcs11-tool'), ['--module', systemPath('opensc-pkcs11'), '-L'], s.dir);
    const authSlot = slots.stdout.slice(slots.stdout.indexOf(`token label        : ${AUTH_TOKEN}`));
    assert.match(field(authSlot, 'token flags') ?? '', /user PIN locked/);
  });

  test('OpenSC: the blocked auth PIN refuses the correct PIN (C_Login fails)', async () => {
    const right = await login(TEST_PINS.auth);
    assert.notEqual(right.code, 0);
    assert.match(right.stderr, /C_Login failed/);
  });

  test('OpenSC: the lock survives taking the card out and inserting the same card file again', async () => {
    await s.card.remove();
    s.card = await insertCardFile(s.cardFile);
    assert.deepEqual(await triesLeft(), { auth: '0', sign: '5' });
    assert.match((await login(TEST_PINS.auth)).stderr, /C_Login failed/);
  });
});
