/**
 * `mynagate ca …` and `card issue` against crashes and mistakes: a process killed between two writes, an output that
 * exists, a reader next to a writer. A crash is the process dying (exit 137) at a chosen rename
 * (`support/crash-at-rename.mjs`), as a kill -9 or a full disk would stop it.
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readCardFile } from '@mynagate/card/virtual';
import { parseCertificate } from '@mynagate/pki';
import { TestJpki } from '@mynagate/pki/testing';

const BIN = join(import.meta.dirname, '..', 'bin', 'mynagate.js');
const CRASH = join(import.meta.dirname, 'support', 'crash-at-rename.mjs');
let dir: string;

/** Runs the CLI in `dir`; with `crashAt`, the process dies at the rename to a name ending so. */
function cli(args: string[], crashAt?: string) {
  const r = spawnSync(process.execPath, [...(crashAt ? ['--import', CRASH] : []), BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    // `card issue --pin-stdin` reads the PIN and password here; other commands do not read stdin.
    input: '1234\nABC123\n',
    env: { ...process.env, CRASH_AT_RENAME: crashAt ?? '' },
  });
  let json: any;
  try {
    json = JSON.parse(r.stdout);
  } catch {}
  return { status: r.status, json, stderr: r.stderr };
}

/** Asserts a failure: the exit status and exactly one line on stderr starting with `code:`. */
function assertFails(r: ReturnType<typeof cli>, code: string, status = 1) {
  assert.equal(r.status, status, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^${code}: `));
}

const ISSUE = [
  '--name',
  '試験 七郎',
  '--address',
  '東京都千代田区千代田1-1',
  '--birthdate',
  '1990-01-02',
  '--sex',
  '1',
  '--pin-stdin',
];

function issue(jpki: string, out: string) {
  return cli(['card', 'issue', '--dir', jpki, ...ISSUE, '--out', out]);
}

const read = (name: string) => readFileSync(join(dir, name));
const authSerialOf = (card: string) =>
  parseCertificate(Buffer.from(readCardFile(join(dir, card)).certificates.auth, 'base64')).serialNumber;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mynagate-ca-files-'));
  assert.equal(cli(['ca', 'init', '--dir', 'jpki']).status, 0);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('ca renew survives a crash at any point', () => {
  test('killed after the renewal was recorded, before the card got its keys: the retry puts them on the card', async () => {
    assert.equal(issue('jpki', 'a.card').status, 0);
    const old = authSerialOf('a.card');
    const crashed = cli(['ca', 'renew', '--dir', 'jpki', '--card', 'a.card'], 'a.card');
    assert.equal(crashed.status, 137, crashed.stderr);
    assert.equal(authSerialOf('a.card'), old); // the card still holds the old certificates

    const retry = cli(['ca', 'renew', '--dir', 'jpki', '--card', 'a.card']);
    assert.equal(retry.status, 0, retry.stderr);
    const jpki = await TestJpki.open(join(dir, 'jpki'));
    const successor = jpki.linksOf(old).successor?.serial;
    assert.equal(authSerialOf('a.card'), successor); // the keys of the one recorded renewal, not a second one
    assert.equal(retry.json.authSerial, successor);
    assert.equal(retry.json.recovered, true);
    assert.equal(jpki.linksOf(successor!).successor, undefined);
    assert.equal(jpki.status(successor!).status, 'good');
    assert.ok(!existsSync(join(dir, 'a.card.renewal')));
    // The card works with its new key: card info reads the renewed certificate.
    assert.equal(cli(['card', 'info', '--file', 'a.card']).status, 0);
  });

  test('killed before the renewal was recorded: nothing recorded, the retry renews', async () => {
    assert.equal(issue('jpki', 'b.card').status, 0);
    const old = authSerialOf('b.card');
    const crashed = cli(['ca', 'renew', '--dir', 'jpki', '--card', 'b.card'], 'b.card.renewal');
    assert.equal(crashed.status, 137, crashed.stderr);
    assert.equal((await TestJpki.open(join(dir, 'jpki'))).linksOf(old).successor, undefined);
    assert.equal(authSerialOf('b.card'), old);

    const retry = cli(['ca', 'renew', '--dir', 'jpki', '--card', 'b.card']);
    assert.equal(retry.status, 0, retry.stderr);
    assert.equal(retry.json.recovered, undefined);
    const jpki = await TestJpki.open(join(dir, 'jpki'));
    assert.equal(authSerialOf('b.card'), jpki.linksOf(old).successor?.serial);
  });

  test('a finished renewal is not repeated: a second ca renew renews the successor', () => {
    assert.equal(issue('jpki', 'c.card').status, 0);
    const first = cli(['ca', 'renew', '--dir', 'jpki', '--card', 'c.card']);
    assert.equal(first.status, 0, first.stderr);
    const second = cli(['ca', 'renew', '--dir', 'jpki', '--card', 'c.card']);
    assert.equal(second.status, 0, second.stderr);
    assert.notEqual(second.json.authSerial, first.json.authSerial);
  });
});

describe('ca init killed before it finished', () => {
  test('leaves no test JPKI: using it is ERR_TESTJPKI_INCOMPLETE, ca init again makes one', () => {
    const crashed = cli(['ca', 'init', '--dir', 'cut'], 'sign-ca.pem');
    assert.equal(crashed.status, 137, crashed.stderr);
    assert.ok(existsSync(join(dir, 'cut', 'auth-ca.key')));
    assertFails(cli(['ca', 'crl', '--dir', 'cut', '--out', 'cut.crl']), 'ERR_TESTJPKI_INCOMPLETE');
    assert.equal(cli(['ca', 'init', '--dir', 'cut']).status, 0);
    assert.equal(cli(['ca', 'crl', '--dir', 'cut', '--out', 'cut.crl']).status, 0);
    assert.deepEqual(readdirSync(join(dir, 'cut')).sort(), [
      'auth-ca.key',
      'auth-ca.pem',
      'sign-ca.key',
      'sign-ca.pem',
      'store.json',
    ]);
  });
});

describe('damaged files are named', () => {
  test('a torn store.json is ERR_TESTJPKI_DAMAGED naming it, not ERR_INTERNAL', () => {
    assert.equal(cli(['ca', 'init', '--dir', 'torn']).status, 0);
    const store = join(dir, 'torn', 'store.json');
    const text = readFileSync(store, 'utf8');
    writeFileSync(store, text.slice(0, 30));
    const r = cli(['ca', 'crl', '--dir', 'torn', '--out', 'torn.crl']);
    assertFails(r, 'ERR_TESTJPKI_DAMAGED');
    assert.ok(r.stderr.includes(join('torn', 'store.json')), r.stderr);
  });

  test('an empty CA key is ERR_TESTJPKI_DAMAGED naming it', () => {
    assert.equal(cli(['ca', 'init', '--dir', 'nokey']).status, 0);
    writeFileSync(join(dir, 'nokey', 'auth-ca.key'), '');
    const r = cli(['ca', 'revoke', '--dir', 'nokey', '--serial', '12345678']);
    assertFails(r, 'ERR_TESTJPKI_DAMAGED');
    assert.ok(r.stderr.includes(join('nokey', 'auth-ca.key')), r.stderr);
  });
});

describe('ca revoke', () => {
  test('a serial that is not hex is ERR_CLI_USAGE (exit 2)', () => {
    assertFails(cli(['ca', 'revoke', '--dir', 'jpki', '--serial', 'zz']), 'ERR_CLI_USAGE', 2);
    assertFails(cli(['ca', 'revoke', '--dir', 'jpki', '--serial', '0x']), 'ERR_CLI_USAGE', 2);
    assertFails(cli(['ca', 'revoke', '--dir', 'jpki', '--serial', '::']), 'ERR_CLI_USAGE', 2);
    // Hex in any of the accepted spellings reaches the test JPKI.
    assertFails(cli(['ca', 'revoke', '--dir', 'jpki', '--serial', '0x12:34:56:78']), 'ERR_TESTJPKI_UNKNOWN_SERIAL');
  });
});

describe('card issue --out', () => {
  test('an existing file is refused (ERR_CLI_FILE naming it): neither it nor the store changes', () => {
    assert.equal(issue('jpki', 'mine.card').status, 0);
    const card = read('mine.card');
    const store = read('jpki/store.json');
    const r = issue('jpki', 'mine.card');
    assertFails(r, 'ERR_CLI_FILE');
    assert.match(r.stderr, /mine\.card/);
    assert.deepEqual(read('mine.card'), card);
    assert.deepEqual(read('jpki/store.json'), store);
  });

  test('a card that cannot be written is not recorded: the store is unchanged', () => {
    const store = read('jpki/store.json');
    assertFails(issue('jpki', join('no-such-folder', 'x.card')), 'ERR_CLI_FILE');
    assert.deepEqual(read('jpki/store.json'), store);
  });

  test('killed while writing the card: nothing recorded, no card file, a retry issues one', () => {
    const store = read('jpki/store.json');
    // The card file is written under a temporary name first; die at its (inner) rename.
    const crashed = cli(['card', 'issue', '--dir', 'jpki', ...ISSUE, '--out', 'k.card'], '.tmp');
    assert.equal(crashed.status, 137, crashed.stderr);
    assert.deepEqual(read('jpki/store.json'), store);
    assert.ok(!existsSync(join(dir, 'k.card')));
    assert.equal(issue('jpki', 'k.card').status, 0);
    assert.equal(readCardFile(join(dir, 'k.card')).test, true);
  });
});

describe('ca crl --out', () => {
  test('replaces the file by rename: a reader of the old CRL keeps reading all of it, no temporary file stays', () => {
    assert.equal(cli(['ca', 'crl', '--dir', 'jpki', '--kind', 'auth', '--out', 'auth.crl']).status, 0);
    const old = read('auth.crl');
    const oldIno = statSync(join(dir, 'auth.crl')).ino;
    const fd = openSync(join(dir, 'auth.crl'), 'r'); // a reader in the middle of the old CRL
    try {
      assert.equal(cli(['ca', 'crl', '--dir', 'jpki', '--kind', 'auth', '--out', 'auth.crl']).status, 0);
      const seen = Buffer.alloc(old.length + 16);
      const n = readSync(fd, seen, 0, seen.length, 0);
      assert.ok(seen.subarray(0, n).equals(old), 'the reader of the old CRL saw the file change under it');
    } finally {
      closeSync(fd);
    }
    assert.notEqual(statSync(join(dir, 'auth.crl')).ino, oldIno);
    assert.notDeepEqual(read('auth.crl'), old); // a new CRL number
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('auth.crl.')),
      [],
    );
  });
});
