/**
 * `mynagate card issue` takes the new card's auth PIN and signing password without putting them on the command line,
 * where `ps` shows them to every user and shell history keeps them: two lines on stdin (`--pin-stdin`: PIN, then
 * password), the same two lines in a file only its owner may access (`--pin-file`), or a prompt without echo.
 * `--pin`/`--password` are refused unless a test sets MYNAGATE_INSECURE_ARGV_PIN=1. Each issued card is opened as a
 * card reader would and must accept exactly the PIN and password it was given.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { JpkiClient } from '@mynagate/card';
import { VirtualCard, VirtualTransport } from '@mynagate/card/virtual';

const BIN = join(import.meta.dirname, '..', 'bin', 'mynagate.js');
const HOLDER = [
  '--dir',
  'jpki',
  '--name',
  '試験 八郎',
  '--address',
  '東京都千代田区千代田1-1',
  '--birthdate',
  '1990-01-02',
  '--sex',
  '1',
];
let dir: string;

/** Runs the CLI in `dir` with `input` on stdin and the environment without the argv escape hatch unless given. */
function cli(args: string[], input = '', env: Record<string, string> = {}) {
  const { MYNAGATE_INSECURE_ARGV_PIN: _drop, ...base } = process.env;
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    input,
    encoding: 'utf8',
    env: { ...base, ...env },
  });
  let json: any;
  try {
    json = JSON.parse(r.stdout);
  } catch {}
  return { status: r.status, json, stdout: r.stdout, stderr: r.stderr };
}

/** Asserts a failure: the exit status and exactly one line on stderr starting with `code:`. */
function assertFails(r: ReturnType<typeof cli>, code: string, status: number) {
  assert.equal(r.status, status, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^${code}: `));
}

/** Whether the card in `file` accepts `pin` for its auth key and `password` for its signing key, as a reader sees. */
async function assertCardAccepts(file: string, pin: string, password: string): Promise<void> {
  const transport = new VirtualTransport(await VirtualCard.open(join(dir, file)));
  try {
    const jpki = new JpkiClient(transport);
    await jpki.selectJpki();
    await jpki.verify('auth', pin);
    await jpki.verify('sign', password);
    // And only those: a PIN it was not given is wrong (the right one above reset the counter).
    await assert.rejects(jpki.verify('auth', pin === '1111' ? '2222' : '1111'), { code: 'ERR_CARD_PIN_INCORRECT' });
  } finally {
    await transport.close();
  }
}

const store = () => readFileSync(join(dir, 'jpki', 'store.json'));

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mynagate-card-issue-'));
  assert.equal(cli(['ca', 'init', '--dir', 'jpki']).status, 0);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('card issue --pin-stdin', () => {
  test('reads the auth PIN, then the signing password, one per line; the card accepts them', async () => {
    const r = cli(['card', 'issue', ...HOLDER, '--pin-stdin', '--out', 'stdin.card'], '4821\nPASS42\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json.card, 'stdin.card');
    assert.equal(r.stderr, '');
    assert.ok(!r.stdout.includes('4821') && !r.stdout.includes('PASS42'));
    await assertCardAccepts('stdin.card', '4821', 'PASS42');
  });

  test('a last line without its newline counts; CR LF line ends are taken off', async () => {
    assert.equal(cli(['card', 'issue', ...HOLDER, '--pin-stdin', '--out', 'crlf.card'], '5931\r\nKEY777').status, 0);
    await assertCardAccepts('crlf.card', '5931', 'KEY777');
  });

  test('one line only is ERR_CLI_USAGE (exit 2) naming the order, and nothing is issued', () => {
    const before = store();
    const r = cli(['card', 'issue', ...HOLDER, '--pin-stdin', '--out', 'short.card'], '4821\n');
    assertFails(r, 'ERR_CLI_USAGE', 2);
    assert.match(r.stderr, /auth PIN \(4 digits\), then the signing password/);
    assert.ok(!r.stderr.includes('4821'));
    assert.ok(!existsSync(join(dir, 'short.card')));
    assert.deepEqual(store(), before);
  });
});

describe('card issue --pin-file', () => {
  test('reads the same two lines from a file only its owner may access (0600); the card accepts them', async () => {
    writeFileSync(join(dir, 'secrets.txt'), '7305\nFILE99\n', { mode: 0o600 });
    chmodSync(join(dir, 'secrets.txt'), 0o600);
    const r = cli(['card', 'issue', ...HOLDER, '--pin-file', 'secrets.txt', '--out', 'file.card']);
    assert.equal(r.status, 0, r.stderr);
    await assertCardAccepts('file.card', '7305', 'FILE99');
  });

  for (const mode of [0o640, 0o604, 0o620, 0o644]) {
    test(`a file with mode ${mode.toString(8)} is refused unread with ERR_CLI_PIN_FILE; nothing is issued`, () => {
      const name = `open-${mode.toString(8)}.txt`;
      writeFileSync(join(dir, name), '7305\nFILE99\n');
      chmodSync(join(dir, name), mode);
      const before = store();
      const r = cli(['card', 'issue', ...HOLDER, '--pin-file', name, '--out', `${name}.card`]);
      assertFails(r, 'ERR_CLI_PIN_FILE', 1);
      assert.match(r.stderr, new RegExp(`${name.replace('.', '\\.')} is open to group or others .*chmod 600`));
      assert.ok(!r.stderr.includes('7305') && !r.stderr.includes('FILE99'));
      assert.ok(!existsSync(join(dir, `${name}.card`)));
      assert.deepEqual(store(), before);
    });
  }

  test('a missing file is ERR_CLI_FILE naming it', () => {
    const r = cli(['card', 'issue', ...HOLDER, '--pin-file', 'nowhere.txt', '--out', 'x.card']);
    assertFails(r, 'ERR_CLI_FILE', 1);
    assert.match(r.stderr, /nowhere\.txt/);
  });
});

describe('card issue --pin / --password on the command line', () => {
  const argv = ['card', 'issue', ...HOLDER, '--pin', '6142', '--password', 'ARGV55'];

  test('are refused with ERR_CLI_USAGE (exit 2) pointing to --pin-stdin and --pin-file; nothing is issued', () => {
    const before = store();
    for (const args of [
      [...argv, '--out', 'argv.card'],
      ['card', 'issue', ...HOLDER, '--pin', '6142', '--out', 'argv.card'],
    ]) {
      const r = cli(args, '', { MYNAGATE_INSECURE_ARGV_PIN: '0' });
      assertFails(r, 'ERR_CLI_USAGE', 2);
      assert.match(r.stderr, /shown to every user by ps .* --pin-stdin.* --pin-file/);
      assert.ok(!r.stderr.includes('6142') && !r.stderr.includes('ARGV55'));
    }
    assert.ok(!existsSync(join(dir, 'argv.card')));
    assert.deepEqual(store(), before);
  });

  test('are taken with a warning on stderr when a test sets MYNAGATE_INSECURE_ARGV_PIN=1', async () => {
    const r = cli([...argv, '--out', 'argv-ok.card'], '', { MYNAGATE_INSECURE_ARGV_PIN: '1' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^warning: MYNAGATE_INSECURE_ARGV_PIN=1 .*ps and shell history/);
    assert.ok(!r.stderr.includes('6142'));
    await assertCardAccepts('argv-ok.card', '6142', 'ARGV55');
  });

  test('two sources at once are ERR_CLI_USAGE', () => {
    writeFileSync(join(dir, 'two.txt'), '7305\nFILE99\n', { mode: 0o600 });
    for (const r of [
      cli(['card', 'issue', ...HOLDER, '--pin-stdin', '--pin-file', 'two.txt', '--out', 'two.card'], '1\n2\n'),
      cli([...argv, '--pin-stdin', '--out', 'two.card'], '1\n2\n', { MYNAGATE_INSECURE_ARGV_PIN: '1' }),
    ]) {
      assertFails(r, 'ERR_CLI_USAGE', 2);
      assert.match(r.stderr, /give the PIN and password one way/);
    }
  });
});

describe('card issue without a source', () => {
  test('and without a terminal is ERR_CLI_USAGE: nothing to ask', () => {
    const r = cli(['card', 'issue', ...HOLDER, '--out', 'none.card']);
    assertFails(r, 'ERR_CLI_USAGE', 2);
    assert.match(r.stderr, /no terminal to ask for the PIN/);
    assert.ok(!existsSync(join(dir, 'none.card')));
  });

  const noScript =
    spawnSync('script', ['--version']).error !== undefined && process.env['MYNAGATE_REQUIRE_SYSTEM'] !== '1'
      ? 'script (util-linux) not found: no pseudo-terminal to type into'
      : false;

  test(
    'on a terminal asks for the PIN, then the password, without echo; the card accepts them',
    { skip: noScript },
    async () => {
      const child = spawn(
        'script',
        [
          '-qec',
          [process.execPath, BIN, 'card', 'issue', ...HOLDER, '--out', 'tty.card'].map(quote).join(' '),
          '/dev/null',
        ],
        { cwd: dir, stdio: 'pipe' },
      );
      let screen = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      try {
        for (const [prompt, typed] of [
          ['auth PIN to set (4 digits): ', '3970\r'],
          ['signing password to set', 'TTY123\r'],
        ] as const) {
          for (let waited = 0; !screen.includes(prompt); waited += 20) {
            assert.ok(waited < 15_000, `no prompt ${JSON.stringify(prompt)}: ${JSON.stringify(screen)}`);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          child.stdin.write(typed);
        }
        assert.equal(await exited, 0, screen);
      } finally {
        clearTimeout(timer);
        child.kill('SIGKILL');
      }
      assert.ok(!screen.includes('3970') && !screen.includes('TTY123'), screen);
      await assertCardAccepts('tty.card', '3970', 'TTY123');
    },
  );
});

/** One word for `sh -c`. */
function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
