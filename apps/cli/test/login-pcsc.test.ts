/**
 * `mynagate login URL`, the companion on a PC, against a provider started in-process over TLS (the OpenID Provider
 * fixture): an openid-client relying party starts the login, the CLI opens the QR link, shows the service, reads the
 * PIN from stdin, has the card sign and posts the token; the browser session then finishes the login and the ID
 * token's `sub` is the pairwise subject of the card's person. The card is a virtual card file (`--file`) or the same
 * card served through pcscd + vpcd (`--reader`).
 *
 * The PC/SC case needs pcscd with the vpcd driver; it skips with the reason otherwise, unless MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { insertCardFile } from '../../../packages/card/test/support/pcscd.ts';
import { requireSystem } from '../../../packages/card/test/support/system.ts';
import {
  expectedSub,
  redeemLogin,
  PIN,
  RP_JWT,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from '../../../packages/idp/test/support/op-fixture.ts';
import { startCompanionProvider, startRelay } from './companion-support.ts';
import { runCli } from './serve-support.ts';

let f: OpFixture;
let idp: TestIdp;
let env: Record<string, string>;

before(async () => {
  ({ f, idp, env } = await startCompanionProvider());
});
after(() => f?.close());

/** The stderr lines that are not node-oidc-provider's runtime notice. */
const lines = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('oidc-provider WARNING'));

/** What a wrong PIN ends with, the card's 3 tries then down to 2: the code, then the words in both languages. */
const WRONG_PIN_2_LEFT =
  'ERR_CARD_PIN_INCORRECT: 利用者証明用電子証明書の暗証番号（数字4桁）が違います。あと2回間違えるとロックされます。' +
  ' / The PIN (4 digits) of the user authentication certificate is incorrect. 2 tries left before it locks.';

describe('mynagate login with a virtual card file (--file)', () => {
  let card: TestCard;
  before(async () => {
    card = await f.newCard('試験　一郎');
  });

  it('shows the service, signs with the card and completes the login of the browser that shows the QR code', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const r = await runCli(['login', login.link, '--file', card.file, '--pin-stdin'], { input: `${PIN}\n`, env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, 'ok');
    assert.match(r.stderr, /サービス \/ Service:\s+テスト銀行 \(https:\/\/bank\.example\)/);
    assert.match(r.stderr, new RegExp(`Signed for:\\s+${idp.server.issuer.replaceAll('.', '\\.')}`));
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(`\\b${PIN}\\b`), 'the PIN is never echoed');
    const claims = await redeemLogin(idp.jwtRp, login);
    assert.equal(claims.acr, 'urn:mynagate:acr:card-auth');
    assert.equal(claims.sub, await expectedSub(idp, card, RP_JWT.redirectUri));
  });

  it('fails with one line ERR_CARD_PIN_INCORRECT and the tries left on a wrong PIN; the login stays open', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const r = await runCli(['login', login.link, '--file', card.file, '--pin-stdin'], { input: '0000\n', env });
    assert.equal(r.code, 1);
    assert.deepEqual(lines(r.stderr).slice(-1), [WRONG_PIN_2_LEFT]);
    assert.equal(r.stdout, '');
    assert.equal(await login.events.next('done', 300), undefined, 'nothing was posted');
    await login.events.close();
  });

  it('a locked PIN: ERR_CARD_PIN_BLOCKED, and the browser page is told so (not left waiting for a PIN)', async () => {
    const locked = await f.newCard('試験　施錠');
    // Two wrong PINs leave the last try, which --pin-stdin never spends (ERR_CLI_LAST_TRY, companion-tries.test.ts):
    // the third is typed elsewhere (a phone), as the card file's counter then says.
    for (let i = 0; i < 2; i++) {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      await runCli(['login', login.link, '--file', locked.file, '--pin-stdin'], { input: '0000\n', env });
      await login.events.close();
    }
    const spec = JSON.parse(await readFile(locked.file, 'utf8')) as { pins: { auth: { triesLeft: number } } };
    assert.equal(spec.pins.auth.triesLeft, 1);
    spec.pins.auth.triesLeft = 0;
    await writeFile(locked.file, JSON.stringify(spec));
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const r = await runCli(['login', login.link, '--file', locked.file, '--pin-stdin'], { input: `${PIN}\n`, env });
    assert.equal(r.code, 1);
    assert.match(
      lines(r.stderr).at(-1)!,
      /^ERR_CARD_PIN_BLOCKED: 暗証番号がロックされています。.* \/ The PIN is locked\./,
    );
    const failed = (await login.events.next('failed')) as { error: string; message: { ja: string } };
    assert.equal(failed.error, 'ERR_CARD_PIN_BLOCKED');
    assert.match(failed.message.ja, /市区町村の窓口/);
    await login.events.close();
  });

  it("passes on the provider's refusal as its code: a revoked card gives ERR_PKI_CERT_REVOKED", async () => {
    const revoked = await f.newCard('試験　失効');
    await f.jpki.revoke(revoked.issued.authSerial, 'keyCompromise');
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const r = await runCli(['login', login.link, '--file', revoked.file, '--pin-stdin'], { input: `${PIN}\n`, env });
    assert.equal(r.code, 1);
    assert.match(
      lines(r.stderr).at(-1)!,
      /^ERR_PKI_CERT_REVOKED: この利用者証明用電子証明書は失効しています。.* \/ This /,
    );
    await login.events.close();
  });

  it('refuses to sign for another origin than the link it opened (ERR_CLI_COMPANION_ORIGIN), before asking for the PIN', async () => {
    // A phishing page's QR code: its server relays the real provider's origin and challenge.
    const relay = await startRelay(idp);
    try {
      const r = await runCli(['login', `${relay.origin}/companion/x?t=0&c=y`, '--file', card.file], { env });
      assert.equal(r.code, 1);
      assert.match(lines(r.stderr).at(-1)!, /^ERR_CLI_COMPANION_ORIGIN: /);
      assert.doesNotMatch(r.stderr, /PIN/);
    } finally {
      relay.close();
    }
  });

  it('stops reading an endless answer at 256 KiB: ERR_CLI_COMPANION_RESPONSE, no PIN asked', async () => {
    // A QR code is untrusted input: its server may answer without end. 8 MiB stands for that (read whole, it would be
    // a JSON error, not an exhausted companion).
    let written = 0;
    const flood = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && written < 8 * 1024 * 1024 && res.write(chunk)) written += chunk.length;
        if (written >= 8 * 1024 * 1024) res.end();
        else if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((resolve) => flood.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(flood.address() as AddressInfo).port}`;
      const r = await runCli(['login', `${origin}/companion/x?t=0&c=y`, '--file', card.file], { env });
      assert.equal(r.code, 1);
      assert.match(lines(r.stderr).at(-1)!, /^ERR_CLI_COMPANION_RESPONSE: response body larger than 262144 bytes/);
      assert.doesNotMatch(r.stderr, /PIN/);
      assert.ok(written < 8 * 1024 * 1024, `the server wrote ${written} bytes`);
    } finally {
      flood.closeAllConnections();
      flood.close();
    }
  });

  it("prints a server's text without its control characters: no ESC, C1 or bidi control reaches the terminal", async () => {
    // A server's name that moves the cursor up and rewrites the "Signed for" line, one that conceals what follows
    // (SGR 8) and reverses it (U+202E), and an error message with its own escape sequences.
    const evil = createServer((req, res) => {
      const origin = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
      if (req.method === 'POST') {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'ERR_X', message: { en: '\x1b[2K\rok \u009b1A\u2066done' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          txn: 'x',
          clientName: '三井住友銀行\x1b[8m\u202e',
          clientOrigin: 'https://www.smbc.co.jp\u200f',
          origin,
          intent: 'login',
          challenge: 'A'.repeat(43),
        }),
      );
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
      const r = await runCli(['login', `${origin}/companion/x?t=0&c=y`, '--file', card.file, '--pin-stdin'], {
        input: `${PIN}\n`,
        env,
      });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /サービス \/ Service:\s+三井住友銀行\ufffd\[8m\ufffd \(https:\/\/www\.smbc\.co\.jp\ufffd\)/,
      );
      assert.equal(lines(r.stderr).at(-1), 'ERR_X: \ufffd[2K\ufffdok \ufffd1A\ufffddone');
      assert.doesNotMatch(
        r.stderr + r.stdout,
        /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/,
      );
    } finally {
      evil.close();
    }
  });

  it('refuses a login link answered with another intent than login (ERR_CLI_COMPANION_RESPONSE), before any PIN', async () => {
    const odd = createServer((_req, res) => {
      const origin = `http://127.0.0.1:${(odd.address() as AddressInfo).port}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          txn: 'x',
          clientName: 'n',
          clientOrigin: 'https://n.example',
          origin,
          intent: 'x',
          challenge: 'A'.repeat(43),
        }),
      );
    });
    await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(odd.address() as AddressInfo).port}`;
      const r = await runCli(['login', `${origin}/companion/x?t=0&c=y`, '--file', card.file], { env });
      assert.equal(r.code, 1);
      assert.match(lines(r.stderr).at(-1)!, /^ERR_CLI_COMPANION_RESPONSE: a login link answered without intent login$/);
      assert.doesNotMatch(r.stderr, /PIN/);
    } finally {
      odd.close();
    }
  });

  it('refuses a plain-http link to another computer before any request or PIN (ERR_CLI_USAGE, exit 2)', async () => {
    // A signature would carry the signing certificate (name, address, birth date, sex) in the clear.
    for (const link of ['http://mynagate.example/companion/sign/x?t=0&c=y', 'http://10.0.0.1/companion/x?t=0&c=y']) {
      const r = await runCli(['login', link, '--file', card.file, '--pin-stdin'], { input: `${PIN}\n`, env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(lines(r.stderr)[0]!, /^ERR_CLI_USAGE: the link must be https/);
    }
  });

  it('refuses a link that is not a companion link (ERR_CLI_USAGE, exit 2)', async () => {
    const r = await runCli(['login', `${idp.server.issuer}/interaction/x`, '--file', card.file], { env });
    assert.equal(r.code, 2);
    assert.match(lines(r.stderr)[0]!, /^ERR_CLI_USAGE: not a MynaGate companion link/);
  });
});

describe('mynagate login with the card in a PC/SC reader (pcscd + vpcd)', () => {
  it('completes a login with --reader and --pin-stdin; the sub is the card person’s pairwise sub', async (t) => {
    if (!(await requireSystem(t, ['pcscd', 'vpcd']))) return;
    const card = await f.newCard('試験　読取');
    const inserted = await insertCardFile(card.file);
    try {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      const r = await runCli(['login', login.link, '--reader', inserted.reader, '--pin-stdin'], {
        input: `${PIN}\n`,
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).status, 'ok');
      const claims = await redeemLogin(idp.jwtRp, login);
      assert.equal(claims.sub, await expectedSub(idp, card, RP_JWT.redirectUri));
    } finally {
      await inserted.remove();
    }
  });

  it('reports a wrong PIN through the reader as ERR_CARD_PIN_INCORRECT with the tries left', async (t) => {
    if (!(await requireSystem(t, ['pcscd', 'vpcd']))) return;
    const card = await f.newCard('試験　誤入');
    const inserted = await insertCardFile(card.file);
    try {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      const r = await runCli(['login', login.link, '--reader', inserted.reader, '--pin-stdin'], {
        input: '9999\n',
        env,
      });
      assert.equal(r.code, 1);
      assert.deepEqual(lines(r.stderr).slice(-1), [WRONG_PIN_2_LEFT]);
      await login.events.close();
    } finally {
      await inserted.remove();
    }
  });
});
