/**
 * Bad input to the test JPKI through the CLI gets a stable code, never ERR_INTERNAL: holder data, PIN and password
 * that break the test JPKI's rules are ERR_TESTJPKI_INVALID_INPUT (exit 1) naming the field; an option of the wrong
 * shape is ERR_CLI_USAGE (exit 2). One valid `card issue`, then one field changed per case. No message carries the
 * PIN or password, and nothing is issued.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

const BIN = join(import.meta.dirname, '..', 'bin', 'mynagate.js');
const VALID = {
  name: '試験　入力',
  address: '東京都千代田区千代田1-1',
  birthdate: '1990-01-02',
  sex: '1',
} as const;
const PIN = '4821';
const PASSWORD = 'PASS42';
let dir: string;
let count = 0;

/** Runs the CLI in `dir` with `input` on stdin, without the argv escape hatch. */
function cli(args: string[], input = '') {
  const { MYNAGATE_INSECURE_ARGV_PIN: _drop, ...env } = process.env;
  // The timeout ends a command that should have failed but runs on (a server).
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input, encoding: 'utf8', env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `card issue` of VALID with `change` applied (`undefined` drops an option) into a fresh file. */
function issue(change: Partial<Record<string, string | undefined>>, secrets = `${PIN}\n${PASSWORD}\n`) {
  const out = `card-${++count}.card`;
  const options = { ...VALID, ...change };
  const args = Object.entries(options).flatMap(([k, v]) => (v === undefined ? [] : [`--${k}`, v]));
  return { out, ...cli(['card', 'issue', '--dir', 'jpki', ...args, '--pin-stdin', '--out', out], secrets) };
}

const store = () => readFileSync(join(dir, 'jpki', 'store.json'));

/**
 * Asserts one failure line `code: <field> …` and `status`, that none of `secrets` shows, and that nothing was issued.
 */
function assertRefused(
  r: ReturnType<typeof issue>,
  code: string,
  status: number,
  field: RegExp,
  storeBefore: Buffer,
  secrets: readonly string[] = [PIN, PASSWORD],
) {
  assert.equal(r.status, status, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^${code}: ${field.source}`));
  for (const s of secrets) assert.ok(!r.stderr.includes(s) && !r.stdout.includes(s), `${s} shown: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.ok(!existsSync(join(dir, r.out)), 'no card file');
  assert.deepEqual(store(), storeBefore, 'nothing recorded');
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mynagate-card-input-'));
  assert.equal(cli(['ca', 'init', '--dir', 'jpki']).status, 0);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the valid card issues (the cases below each change one field of it)', () => {
  const r = issue({});
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(existsSync(join(dir, r.out)));
});

describe('holder data the test JPKI refuses: ERR_TESTJPKI_INVALID_INPUT (exit 1) naming the field', () => {
  const cases: [string, Partial<Record<string, string>>, RegExp][] = [
    ['a blank name', { name: ' 　 ' }, /name is empty/],
    ['a name over 100 characters', { name: '試'.repeat(101) }, /name is longer than 100 characters/],
    ['a blank address', { address: '　' }, /address is empty/],
    ['an address over 200 characters', { address: `東京都${'千'.repeat(198)}` }, /address is longer than 200/],
    ['an address without a prefecture', { address: 'Somewhere 1-2-3' }, /address must start with a prefecture/],
    ['a birth date that does not exist', { birthdate: '1990-02-30' }, /birthDate is not a calendar date/],
    ['a birth date after the issue date', { birthdate: '2999-01-01' }, /birthDate is after the issue date/],
  ];
  for (const [what, change, message] of cases) {
    test(what, () => {
      const before = store();
      assertRefused(issue(change), 'ERR_TESTJPKI_INVALID_INPUT', 1, message, before);
    });
  }

  test('is refused before the PIN is asked for (no terminal here: asking would fail otherwise)', () => {
    const before = store();
    const out = `card-${++count}.card`;
    const args = Object.entries({ ...VALID, birthdate: '1990-02-30' }).flatMap(([k, v]) => [`--${k}`, v]);
    const r = { out, ...cli(['card', 'issue', '--dir', 'jpki', ...args, '--out', out]) };
    assertRefused(r, 'ERR_TESTJPKI_INVALID_INPUT', 1, /birthDate is not a calendar date/, before);
  });
});

describe('a PIN or password the test JPKI refuses: ERR_TESTJPKI_INVALID_INPUT (exit 1), the value never shown', () => {
  const cases: [string, string, string, RegExp][] = [
    ['a 3-digit PIN', '973', PASSWORD, /pin \(the auth PIN\) must be 4 digits/],
    ['a PIN with a letter', '97a3', PASSWORD, /pin \(the auth PIN\) must be 4 digits/],
    ['a 5-digit PIN', '97315', PASSWORD, /pin \(the auth PIN\) must be 4 digits/],
    ['a password of 5', PIN, 'QX7ZW', /password \(the signing password\) must be 6–16 of A–Z and 0–9/],
    ['a password of 17', PIN, 'QX7ZW9QX7ZW9QX7ZW', /password \(the signing password\) must be 6–16/],
    ['a password without a digit', PIN, 'QXZWVY', /password \(the signing password\) must be 6–16/],
    ['a password without a letter', PIN, '739153', /password \(the signing password\) must be 6–16/],
    ['a password with a sign', PIN, 'QX7-ZW9', /password \(the signing password\) must be 6–16/],
  ];
  for (const [what, pin, password, message] of cases) {
    test(`${what} (--pin-stdin)`, () => {
      const before = store();
      const r = issue({}, `${pin}\n${password}\n`);
      assertRefused(r, 'ERR_TESTJPKI_INVALID_INPUT', 1, message, before, [pin, password]);
    });
  }

  test('a bad PIN from --pin-file the same way', () => {
    const before = store();
    writeFileSync(join(dir, 'bad-pin.txt'), '973\nPASS42\n', { mode: 0o600 });
    const out = `card-${++count}.card`;
    const args = Object.entries(VALID).flatMap(([k, v]) => [`--${k}`, v]);
    const r = { out, ...cli(['card', 'issue', '--dir', 'jpki', ...args, '--pin-file', 'bad-pin.txt', '--out', out]) };
    assertRefused(r, 'ERR_TESTJPKI_INVALID_INPUT', 1, /pin \(the auth PIN\) must be 4 digits/, before, ['973']);
  });
});

describe('options of the wrong shape: ERR_CLI_USAGE (exit 2) naming the option', () => {
  const cases: [string, Partial<Record<string, string | undefined>>, RegExp][] = [
    ['an empty name', { name: '' }, /--name is required/],
    ['no address', { address: undefined }, /--address is required/],
    ['a birth date not YYYY-MM-DD', { birthdate: '1990-1-2' }, /--birthdate must be YYYY-MM-DD/],
    ['a sex other than 1, 2, 9', { sex: '3' }, /--sex must be one of 1\|2\|9/],
    ['an unknown profile', { profile: 'tablet' }, /--profile must be one of card\|android/],
  ];
  for (const [what, change, message] of cases) {
    test(what, () => {
      const before = store();
      assertRefused(issue(change), 'ERR_CLI_USAGE', 2, message, before);
    });
  }
});

describe('the other test JPKI commands', () => {
  test('ca init --ocsp-port 0 (a port certificates would name) is ERR_CLI_USAGE; nothing is created', () => {
    const r = cli(['ca', 'init', '--dir', 'jpki-port0', '--ocsp-port', '0']);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, 'ERR_CLI_USAGE: --ocsp-port must be a port number (1–65535) (see mynagate --help)\n');
    assert.ok(!existsSync(join(dir, 'jpki-port0')));
  });

  test('ca renew of a card file whose certificate is not DER is ERR_TESTJPKI_INVALID_INPUT naming it', () => {
    const made = issue({});
    assert.equal(made.status, 0, made.stderr);
    const card = JSON.parse(readFileSync(join(dir, made.out), 'utf8'));
    // Starts like a certificate (30 82, what the card file reader checks) and ends before its length says.
    card.certificates.sign = Buffer.from([0x30, 0x82, 0x01, 0x00, 0x02]).toString('base64');
    writeFileSync(join(dir, 'damaged.card'), JSON.stringify(card), { mode: 0o600 });
    const before = store();
    const r = cli(['ca', 'renew', '--dir', 'jpki', '--card', 'damaged.card']);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, 'ERR_TESTJPKI_INVALID_INPUT: signCert is not a DER certificate\n');
    assert.deepEqual(store(), before);
  });

  test('ca ocsp --host "" (every interface) is ERR_CLI_USAGE', () => {
    const r = cli(['ca', 'ocsp', '--dir', 'jpki', '--port', '0', '--host', '']);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, 'ERR_CLI_USAGE: --host must name an address, e.g. 127.0.0.1 (see mynagate --help)\n');
  });
});
