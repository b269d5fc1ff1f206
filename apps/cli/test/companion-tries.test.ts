/**
 * `mynagate login` and `mynagate card sign` and the card's tries: both read the tries left before they ask (an empty
 * VERIFY spends none), refuse a locked PIN or password before reading one, never spend the last try from
 * `--pin-stdin` (ERR_CLI_LAST_TRY) and spend it on a terminal only after a "y", ask again on a terminal after a wrong
 * one, and end a refusal of the card or of the provider with one line: the code, then the words in Japanese and
 * English with the next step. A signature's words speak of the signing password, never a PIN.
 *
 * Real processes against the provider fixture over TLS and virtual card files; the terminal cases run under a
 * pseudo-terminal (util-linux `script`; skipped with the reason when absent, unless MYNAGATE_REQUIRE_SYSTEM=1).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CardPinBlockedError, CardPinIncorrectError } from '@mynagate/card';
import { signErrorBody, toHttpError } from '@mynagate/idp';
import { MynaGateError } from '@mynagate/errors';
import {
  expectedSub,
  PASSWORD,
  PIN,
  redeemLogin,
  RP_JWT,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from '../../../packages/idp/test/support/op-fixture.ts';
import { secretPrompt } from '../src/companion.ts';
import { startCompanionProvider } from './companion-support.ts';
import { MAIN, runCli, startCli } from './serve-support.ts';

let f: OpFixture;
let idp: TestIdp;
let env: Record<string, string>;

before(async () => {
  ({ f, idp, env } = await startCompanionProvider());
});
after(() => f?.close());

/** The stderr lines that are not node-oidc-provider's runtime notice. */
const lines = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('oidc-provider WARNING'));

type Kind = 'auth' | 'sign';
const triesOf = async (card: TestCard, kind: Kind = 'auth'): Promise<number> =>
  (JSON.parse(await readFile(card.file, 'utf8')) as { pins: Record<Kind, { triesLeft: number }> }).pins[kind].triesLeft;
/** Sets the counter in the card file, as wrong tries elsewhere (a phone, the JPKI software) would have left it. */
async function setTries(card: TestCard, n: number, kind: Kind = 'auth'): Promise<void> {
  const json = JSON.parse(await readFile(card.file, 'utf8')) as { pins: Record<Kind, { triesLeft: number }> };
  json.pins[kind].triesLeft = n;
  await writeFile(card.file, JSON.stringify(json));
}

/** The one line the CLI ends a refusal with: the code, the Japanese, ` / `, the English. */
const line = (code: string, words: { ja: string; en: string }) => `${code}: ${words.ja} / ${words.en}`;
/** The provider's words for `e` at login (the auth PIN) and at a signature (the signing password). */
const loginWords = (e: unknown) => toHttpError(e).body.message;
const signWords = (e: unknown) => signErrorBody(e).message;

/**
 * `args` with stdin left open and nothing written to it: a command that reads the PIN would wait for ever. It must
 * exit on its own (the PIN was not read); returns its exit code and stderr.
 */
async function withoutReadingStdin(args: readonly string[]): Promise<{ code: number | string; stderr: string }> {
  const p = startCli(args, { env });
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  try {
    const code = await p.exited;
    assert.notEqual(code, 'SIGKILL', `it waited for a PIN on stdin: ${p.stderr()}`);
    return { code, stderr: p.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

describe('mynagate login --pin-stdin and the tries left', () => {
  it('3 tries and a wrong PIN: the tries are shown first, then one line in both languages with 2 tries left', async () => {
    const card = await f.newCard('試験　三回');
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const r = await runCli(['login', login.link, '--file', card.file, '--pin-stdin'], { input: '0000\n', env });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(lines(r.stderr).includes('利用者証明用暗証番号の残り回数: 3回 / auth PIN: 3 tries left'), r.stderr);
    assert.deepEqual(lines(r.stderr).slice(-1), [
      'ERR_CARD_PIN_INCORRECT: 利用者証明用電子証明書の暗証番号（数字4桁）が違います。あと2回間違えるとロックされます。' +
        ' / The PIN (4 digits) of the user authentication certificate is incorrect. 2 tries left before it locks.',
    ]);
    assert.equal(await triesOf(card), 2);
    assert.equal(r.stdout, '');
    assert.equal(await login.events.next('done', 300), undefined, 'nothing was posted');
    await login.events.close();
  });

  it('1 try left: ERR_CLI_LAST_TRY in both languages with the next step; the PIN is not sent, the try stays', async () => {
    const card = await f.newCard('試験　一回');
    await setTries(card, 1);
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    // The right PIN on stdin: not sent either, as nothing can confirm the last try from a pipe.
    const r = await runCli(['login', login.link, '--file', card.file, '--pin-stdin'], { input: `${PIN}\n`, env });
    assert.equal(r.code, 1, r.stderr);
    const last = lines(r.stderr).at(-1)!;
    assert.match(last, /^ERR_CLI_LAST_TRY: あと1回間違えると暗証番号がロックされるため、確認なしには送りません/);
    assert.match(last, / \/ One more wrong try would lock the PIN, so it is not sent without a confirmation/);
    assert.match(last, /--pin-stdin を付けずに実行し、確認に y と答えてください/);
    assert.match(last, /run the command on a terminal without --pin-stdin and answer y/);
    assert.match(last, /市区町村の窓口/);
    assert.match(last, /municipal office/);
    assert.equal(await triesOf(card), 1, 'the last try is still there');
    assert.equal(await login.events.next('done', 300), undefined, 'nothing was posted');
    await login.events.close();
    // Refused before the PIN is read: with stdin open and empty, it ends all the same.
    const again = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const open = await withoutReadingStdin(['login', again.link, '--file', card.file, '--pin-stdin']);
    assert.equal(open.code, 1);
    assert.match(lines(open.stderr).at(-1)!, /^ERR_CLI_LAST_TRY: /);
    assert.equal(await triesOf(card), 1);
    await again.events.close();
  });

  it('a locked PIN: ERR_CARD_PIN_BLOCKED before any PIN is read, naming the municipal office; the page is told', async () => {
    const card = await f.newCard('試験　施錠');
    await setTries(card, 0);
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const r = await runCli(['login', login.link, '--file', card.file, '--pin-stdin'], { input: `${PIN}\n`, env });
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(lines(r.stderr).slice(-1), [
      line('ERR_CARD_PIN_BLOCKED', loginWords(new CardPinBlockedError(0x6983))),
    ]);
    assert.match(r.stderr, /お住まいの市区町村の窓口で初期化してください/);
    assert.match(r.stderr, /Reset it at your municipal office/);
    assert.doesNotMatch(r.stderr, /残り回数/, 'no tries line: nothing is asked');
    assert.equal(await triesOf(card), 0);
    const failed = (await login.events.next('failed')) as { error: string };
    assert.equal(failed.error, 'ERR_CARD_PIN_BLOCKED', 'the browser page is told, not left waiting');
    await login.events.close();
    // Not read at all: with stdin open and empty, it ends all the same.
    const again = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const open = await withoutReadingStdin(['login', again.link, '--file', card.file, '--pin-stdin']);
    assert.equal(open.code, 1);
    assert.match(lines(open.stderr).at(-1)!, /^ERR_CARD_PIN_BLOCKED: 暗証番号がロックされています。/);
    await again.events.close();
  });
});

describe("mynagate login and the provider's refusal", () => {
  it('a revoked certificate: ERR_PKI_CERT_REVOKED with the Japanese and the English the provider sent', async () => {
    const card = await f.newCard('試験　失効');
    await f.jpki.revoke(card.issued.authSerial, 'keyCompromise');
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const r = await runCli(['login', login.link, '--file', card.file, '--pin-stdin'], { input: `${PIN}\n`, env });
    assert.equal(r.code, 1, r.stderr);
    const words = loginWords(new MynaGateError('ERR_PKI_CERT_REVOKED', 'x'));
    assert.deepEqual(lines(r.stderr).slice(-1), [line('ERR_PKI_CERT_REVOKED', words)]);
    assert.match(words.ja, /失効しています。市区町村の窓口で新しい証明書の発行を受けてください/);
    await login.events.close();
  });

  it("prints the provider's own words in both languages (not the companion's copy), without control characters", async () => {
    const card = await f.newCard('試験　文言');
    const provider = createServer((req, res) => {
      const origin = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
      res.writeHead(req.method === 'POST' ? 403 : 200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          req.method === 'POST'
            ? {
                error: 'ERR_PKI_CERT_EXPIRED',
                message: { ja: '証明書の期限切れ（試験の文言）\x1b[2K', en: 'Expired (test wording)\u202e' },
              }
            : {
                txn: 'x',
                clientName: 'テスト銀行',
                clientOrigin: 'https://bank.example',
                origin,
                intent: 'login',
                network: 'same',
                challenge: Buffer.alloc(32, 7).toString('base64'),
              },
        ),
      );
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
      const r = await runCli(['login', `${origin}/companion/x?t=0&c=y`, '--file', card.file, '--pin-stdin'], {
        input: `${PIN}\n`,
        env,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(lines(r.stderr).slice(-1), [
        'ERR_PKI_CERT_EXPIRED: 証明書の期限切れ（試験の文言）\ufffd[2K / Expired (test wording)\ufffd',
      ]);
    } finally {
      provider.close();
    }
  });
});

describe('mynagate card sign and the tries left', () => {
  const IN = join(import.meta.dirname, 'companion-tries.test.ts');
  const signArgs = (card: TestCard, key: Kind, out: string) => [
    'card',
    'sign',
    '--key',
    key,
    '--in',
    IN,
    '--out',
    join(f.dir, out),
    '--file',
    card.file,
    '--pin-stdin',
  ];

  it('a wrong signing password: one line that speaks of the password (4 tries left), never of a PIN', async () => {
    const card = await f.newCard('試験　署名誤');
    const r = await runCli(signArgs(card, 'sign', 'a.sig'), { input: 'WRONG999\n', env });
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(lines(r.stderr), [line('ERR_CARD_PIN_INCORRECT', signWords(new CardPinIncorrectError(4)))]);
    assert.match(r.stderr, /署名用電子証明書のパスワード（英数字6〜16文字）が違います。あと4回/);
    assert.doesNotMatch(r.stderr.slice('ERR_CARD_PIN_INCORRECT: '.length), /PIN|暗証番号/, 'the words, past the code');
    assert.equal(await triesOf(card, 'sign'), 4);
  });

  it('a malformed signing password spends no try and says the whole rule: at least one letter and one digit', async () => {
    const card = await f.newCard('試験　署名形');
    const r = await runCli(signArgs(card, 'sign', 'e.sig'), { input: 'ABCDEFGH\n', env });
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(lines(r.stderr), [
      'ERR_CARD_PIN_FORMAT: 署名用電子証明書のパスワードは英大文字と数字の6〜16文字で、英字と数字をそれぞれ1文字以上含みます。' +
        ' / The signing certificate password is 6 to 16 capital letters and digits, with at least one letter and one digit.',
    ]);
    assert.equal(await triesOf(card, 'sign'), 5);
    // The question says it too.
    assert.match(
      secretPrompt('sign', 5),
      /英字と数字を1文字以上ずつ含む6〜16文字、残り5回.*at least one of each; 5 tries left/,
    );
  });

  it('1 password try left: ERR_CLI_LAST_TRY naming the password; the try stays', async () => {
    const card = await f.newCard('試験　署名一');
    await setTries(card, 1, 'sign');
    const r = await runCli(signArgs(card, 'sign', 'b.sig'), { input: `${PASSWORD}\n`, env });
    assert.equal(r.code, 1, r.stderr);
    const [only, ...more] = lines(r.stderr);
    assert.deepEqual(more, [], 'one line');
    assert.match(only!, /^ERR_CLI_LAST_TRY: あと1回間違えると署名用電子証明書のパスワードがロックされるため/);
    assert.match(only!, / \/ One more wrong try would lock the signing password/);
    assert.doesNotMatch(only!, /PIN|暗証番号/);
    assert.equal(await triesOf(card, 'sign'), 1);
  });

  it('a locked password: ERR_CARD_PIN_BLOCKED before anything is read, naming the municipal office', async () => {
    const card = await f.newCard('試験　署名錠');
    await setTries(card, 0, 'sign');
    const r = await withoutReadingStdin(signArgs(card, 'sign', 'c.sig'));
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(lines(r.stderr), [line('ERR_CARD_PIN_BLOCKED', signWords(new CardPinBlockedError(0x6983)))]);
    assert.match(r.stderr, /署名用電子証明書のパスワードがロックされています。お住まいの市区町村の窓口で初期化/);
    assert.match(r.stderr, /Reset it at your municipal office/);
    assert.equal(await triesOf(card, 'sign'), 0);
  });

  it('opens the card before it asks: a missing reader is told without reading a PIN', async () => {
    const r = await withoutReadingStdin([
      'card',
      'sign',
      '--key',
      'auth',
      '--in',
      IN,
      '--out',
      join(f.dir, 'd.sig'),
      '--reader',
      'No Such Reader',
      '--pin-stdin',
    ]);
    assert.equal(r.code, 1, r.stderr);
    const [only, ...more] = lines(r.stderr);
    assert.deepEqual(more, [], 'one line');
    // No reader by that name, or no PC/SC service at all: either way in both languages, with what to do.
    assert.match(only!, /^ERR_CARD_(NO_READER|PCSC_UNAVAILABLE): \S.* \/ \S/);
  });
});

const noScript =
  spawnSync('script', ['--version']).error !== undefined && process.env['MYNAGATE_REQUIRE_SYSTEM'] !== '1'
    ? 'script (util-linux) not found: no pseudo-terminal to type into'
    : false;

/**
 * `mynagate ...args` on a pseudo-terminal, typing each answer once its prompt is on the screen after the last one.
 * Resolves with the exit code and everything the terminal showed.
 */
async function onTerminal(
  args: readonly string[],
  answers: readonly (readonly [prompt: string, typed: string])[],
): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, MAIN, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    stdio: 'pipe',
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
  });
  let screen = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    let seen = 0;
    for (const [prompt, typed] of answers) {
      for (let waited = 0; screen.indexOf(prompt, seen) === -1; waited += 20) {
        assert.ok(waited < 20_000, `no prompt ${JSON.stringify(prompt)} on the terminal: ${JSON.stringify(screen)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      seen = screen.indexOf(prompt, seen) + prompt.length;
      child.stdin.write(typed);
    }
    return { code: await exited, screen };
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
}

describe('mynagate login on a terminal', { skip: noScript }, () => {
  it('a wrong PIN is told in both languages and asked again with the tries left; the right one logs in', async () => {
    const card = await f.newCard('試験　再入');
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const { code, screen } = await onTerminal(
      ['login', login.link, '--file', card.file],
      [
        ['auth PIN (4 digits, 3 tries left): ', '0000\r'],
        ['auth PIN (4 digits, 2 tries left): ', `${PIN}\r`],
      ],
    );
    assert.equal(code, 0, screen);
    assert.ok(screen.includes('利用者証明用暗証番号（数字4桁、残り3回）/ auth PIN (4 digits, 3 tries left): '), screen);
    assert.ok(screen.includes(`ERR_CARD_PIN_INCORRECT: ${loginWords(new CardPinIncorrectError(2)).ja}`), screen);
    assert.ok(screen.includes('残り2回'), screen);
    assert.doesNotMatch(screen, new RegExp(`\\b(${PIN}|0000)\\b`), 'no PIN is echoed');
    assert.match(screen, /"status": "ok"/);
    const claims = await redeemLogin(idp.jwtRp, login);
    assert.equal(claims.sub, await expectedSub(idp, card, RP_JWT.redirectUri));
    assert.equal(await triesOf(card), 3, 'the right PIN restores the tries');
  });

  it('the last try: a caution and a y/N question; "n" (or Enter) sends nothing, "y" then the PIN logs in', async () => {
    const card = await f.newCard('試験　最後');
    await setTries(card, 1);
    const question = '続けますか / Continue? [y/N]: ';
    const first = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const no = await onTerminal(['login', first.link, '--file', card.file], [[question, '\r']]);
    assert.equal(no.code, 1, no.screen);
    assert.match(
      no.screen,
      /注意 \/ Caution: 暗証番号の残り回数はあと1回です。間違えるとロックされ、お住まいの市区町村の窓口/,
    );
    assert.match(no.screen, /One PIN try is left\. A wrong PIN locks it until your municipal office resets it\./);
    assert.match(no.screen, /ERR_CLI_LAST_TRY: あと1回間違えると暗証番号がロックされるため/);
    assert.doesNotMatch(no.screen, /auth PIN \(4 digits/, 'no PIN was asked for');
    assert.equal(await triesOf(card), 1);
    assert.equal(await first.events.next('done', 300), undefined, 'nothing was posted');
    await first.events.close();

    const second = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const yes = await onTerminal(
      ['login', second.link, '--file', card.file],
      [
        [question, 'y\r'],
        ['auth PIN (4 digits, 1 try left): ', `${PIN}\r`],
      ],
    );
    assert.equal(yes.code, 0, yes.screen);
    assert.equal(await triesOf(card), 3);
    const claims = await redeemLogin(idp.jwtRp, second);
    assert.equal(claims.sub, await expectedSub(idp, card, RP_JWT.redirectUri));
  });
});
