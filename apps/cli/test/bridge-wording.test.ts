/**
 * The words of `mynagate bridge` pages: every code the bridge can meet on a page is told in its own words (or the
 * provider's), never the general "could not be completed". The codes are enumerated from the registries (every card
 * code, every bridge code, every provider code the provider answers by its code: `isAnsweredByCode`) and the
 * companion's failures, so a new code without words fails here unless it is listed below as one the bridge never
 * shows. A code the provider has no words for (`ERR_IDP_INTERNAL`, a code newer than this bridge) gets the general
 * words and writes nothing to stderr: the bridge's own line `CODE: message` is all it logs, never a stack trace.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { CARD_ERROR_CODES, CardPinIncorrectError } from '@mynagate/card';
import { CardNoReaderError } from '@mynagate/card/pcsc';
import { MynaGateError } from '@mynagate/errors';
import { IDP_ERROR_CODES, isAnsweredByCode } from '@mynagate/idp';
import { BridgeError, companionError, UNKNOWN_WORDING, wordingOf, WordedError } from '../src/bridge-wording.ts';
import { CompanionRemoteError, LastTryError, type CompanionView } from '../src/companion.ts';
import { CLI_ERROR_CODES } from '../src/errors.ts';
import { UsageError } from '../src/output.ts';
import { startBridge } from './companion-support.ts';
import { freePort } from './serve-support.ts';

/**
 * Card codes the bridge never shows: a transport used after close (a bug), and a wait for a card (the bridge never
 * waits for one).
 */
const NEVER_ON_A_PAGE: ReadonlySet<string> = new Set(['ERR_CARD_TRANSPORT_CLOSED', 'ERR_CARD_TIMEOUT']);

/** The companion's failures to talk to the provider (companion.ts), and a bad link (a usage error). */
const COMPANION_CODES = [
  'ERR_CLI_UNREACHABLE',
  'ERR_CLI_CONNECT',
  'ERR_CLI_HTTP',
  'ERR_CLI_COMPANION_RESPONSE',
  'ERR_CLI_COMPANION_ORIGIN',
  'ERR_CLI_USAGE',
] as const;

/** Every code the bridge can show, with an error carrying it as the bridge meets it. */
function codesOnPages(): Map<string, unknown> {
  const errors = new Map<string, unknown>();
  for (const code of Object.keys(CARD_ERROR_CODES)) {
    if (!NEVER_ON_A_PAGE.has(code)) errors.set(code, new MynaGateError(code, 'x'));
  }
  errors.set('ERR_CARD_PIN_INCORRECT', new CardPinIncorrectError(2));
  for (const code of Object.keys(CLI_ERROR_CODES).filter((c) => c.startsWith('ERR_BRIDGE_'))) {
    errors.set(code, new BridgeError(code, 'x', 400));
  }
  for (const code of COMPANION_CODES) {
    errors.set(code, code === 'ERR_CLI_USAGE' ? new UsageError('x') : new MynaGateError(code, 'x'));
  }
  // The provider's refusals reach the bridge as the companion's answer, with their code.
  for (const code of Object.keys(IDP_ERROR_CODES)) {
    const e = new MynaGateError(code, 'x');
    if (isAnsweredByCode(e)) errors.set(code, e);
  }
  return errors;
}

/** What `run` writes to stderr, through `process.stderr` or `console.error`. */
async function stderrOf(run: () => Promise<unknown>): Promise<string> {
  let written = '';
  const write = process.stderr.write;
  const error = console.error;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  console.error = (...args: unknown[]) => void (written += `${args.map(String).join(' ')}\n`);
  try {
    await run();
  } finally {
    process.stderr.write = write;
    console.error = error;
  }
  return written;
}

const LOGIN = { intent: 'login' } as CompanionView;
const SIGN = { intent: 'sign' } as CompanionView;

describe('bridge pages: words for every code a person can act on', () => {
  it('no such code gets the general "could not be completed", for a login or a signature', async () => {
    const codes = codesOnPages();
    assert.ok(codes.has('ERR_CARD_NO_READER') && codes.has('ERR_CARD_IN_USE') && codes.has('ERR_BRIDGE_LAST_TRY'));
    assert.ok(codes.has('ERR_IDP_HANDOVER_MISMATCH') && codes.has('ERR_IDP_CLIENT_LOGIN_ONLY'), 'provider codes');
    assert.ok(!codes.has('ERR_IDP_INTERNAL'), 'the provider answers ERR_IDP_INTERNAL with no words of its own');
    const general: string[] = [];
    for (const [code, e] of codes)
      for (const view of [LOGIN, SIGN]) {
        const w = await wordingOf(e, view);
        const shown = code === 'ERR_CLI_USAGE' ? 'ERR_CLI_USAGE' : code;
        assert.equal(w.code, shown);
        assert.ok(w.status >= 400 && w.status < 600, `${code}: ${w.status}`);
        assert.ok(w.ja !== '' && w.en !== '', code);
        if (w.ja === UNKNOWN_WORDING.ja || w.en === UNKNOWN_WORDING.en) general.push(`${code} (${view.intent})`);
      }
    assert.deepEqual(general, []);
  });

  it('anything else gets the general words (502); the codes left out are card codes', async () => {
    for (const code of NEVER_ON_A_PAGE) assert.ok(code in CARD_ERROR_CODES, `${code} is not a card code any more`);
    assert.deepEqual(await wordingOf(new Error('boom'), LOGIN), {
      code: 'ERR_INTERNAL',
      status: 502,
      ...UNKNOWN_WORDING,
    });
  });

  it('a provider code without words (ERR_IDP_INTERNAL, a newer one): the general words, nothing on stderr', async () => {
    for (const code of ['ERR_IDP_INTERNAL', 'ERR_IDP_NEWER_THAN_THIS_BRIDGE', 'ERR_STORE_NEWER_THAN_THIS_BRIDGE'])
      for (const view of [LOGIN, SIGN]) {
        let w: unknown;
        const written = await stderrOf(async () => (w = await wordingOf(new MynaGateError(code, 'x'), view)));
        assert.deepEqual(w, { code, status: 502, ...UNKNOWN_WORDING });
        assert.equal(written, '', `${code} (${view.intent})`);
      }
  });

  it('the card reader of this computer: what to do, in both languages, and a 4xx/503 status', async () => {
    assert.deepEqual(await wordingOf(new CardNoReaderError('No Such Reader 99'), LOGIN), {
      code: 'ERR_CARD_NO_READER',
      status: 409,
      ja: 'カードリーダーが見つかりません。カードリーダーをこのパソコンに接続し、マイナンバーカードを置いてから、もう一度お試しください。',
      en: 'No card reader was found. Connect the card reader to this computer, place your My Number Card on it, then try again.',
    });
    const unavailable = await wordingOf(new MynaGateError('ERR_CARD_PCSC_UNAVAILABLE', 'x'), LOGIN);
    assert.equal(unavailable.status, 503);
    assert.match(unavailable.en, /pcscd/);
    // A bridge refusal keeps the status it was thrown with.
    assert.equal((await wordingOf(new BridgeError('ERR_BRIDGE_REQUEST', 'x', 403))).status, 403);
  });

  it('a system error is named by the CLI code of its kind (ERR_CLI_CONNECT), not the raw ECONNREFUSED', async () => {
    const port = await freePort();
    const refused = await new Promise((resolve) => connect(port, '127.0.0.1').once('error', resolve));
    const w = await wordingOf(refused, LOGIN);
    assert.equal(w.code, 'ERR_CLI_CONNECT');
    assert.match(w.en, /could not be reached/);
  });
});

describe('a bridge error page for a provider code without words', () => {
  it("shows the code with the general words; stderr has the bridge's one line, no stack trace", async () => {
    // A provider on this computer whose companion link fails inside it: 500 ERR_IDP_INTERNAL, as the provider answers.
    const provider = createServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'ERR_IDP_INTERNAL', message: { ja: 'x', en: 'Something went wrong' } }));
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
    const bridge = await startBridge([], {});
    try {
      const url = new URL('/login', bridge.origin);
      url.searchParams.set('link', `${origin}/companion/x?t=0&c=y`);
      url.searchParams.set('return', `${origin}/interaction/x?resume`);
      const res = await fetch(url);
      const page = await res.text();
      assert.equal(res.status, 502);
      assert.match(page, /<code>ERR_IDP_INTERNAL<\/code>/);
      assert.ok(page.includes(UNKNOWN_WORDING.en), page);
      // The provider's wording was loaded (at start, in the background) and asked: still nothing but the one line.
      const lines = bridge.proc
        .stderr()
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('oidc-provider'));
      assert.deepEqual(lines, ['ERR_IDP_INTERNAL: Something went wrong']);
      assert.doesNotMatch(bridge.proc.stderr(), /^\s+at /m);
    } finally {
      await bridge.stop();
      provider.close();
    }
  });
});

describe('the terminal commands (login, card sign): companionError', () => {
  it('a card refusal gets its words in both languages under its own code; a signature names the password', async () => {
    const auth = await companionError(new CardPinIncorrectError(2), 'auth');
    assert.ok(auth instanceof WordedError);
    assert.equal(auth.code, 'ERR_CARD_PIN_INCORRECT');
    assert.match(
      auth.message,
      /^利用者証明用電子証明書の暗証番号（数字4桁）が違います。あと2回.* \/ The PIN \(4 digits\)/,
    );
    const sign = (await companionError(new CardPinIncorrectError(2), 'sign')) as WordedError;
    assert.match(sign.message, /^署名用電子証明書のパスワード.* \/ The password .*2 tries left/);
    assert.doesNotMatch(sign.message, /PIN|暗証番号/);
    const last = (await companionError(new LastTryError('sign'), 'sign')) as WordedError;
    assert.equal(last.code, 'ERR_CLI_LAST_TRY');
    assert.doesNotMatch(last.message, /PIN|暗証番号/);
  });

  it("names --file, not the bridge, for a bad card file; keeps the provider's own words; one line always", async () => {
    const file = (await companionError(new MynaGateError('ERR_CARD_FILE_INVALID', 'x'), 'auth')) as WordedError;
    assert.match(file.message, /--file/);
    assert.doesNotMatch(file.message, /bridge/);
    const remote = new CompanionRemoteError('ERR_PKI_CERT_REVOKED', 'revoked', 403, {
      ja: '失効\n（試験）',
      en: 'Revoked',
    });
    assert.equal(((await companionError(remote, 'auth')) as WordedError).message, '失効\ufffd（試験） / Revoked');
  });

  it('leaves everything else as it was, with its detail: usage, files, the talk with the server, unknown codes', async () => {
    for (const e of [
      new UsageError('give --file or --reader, not both'),
      Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open', path: '/x' }),
      new CompanionRemoteError('ERR_CLI_COMPANION_RESPONSE', 'a login link answered without intent login', 200),
      new CompanionRemoteError('ERR_X', 'only English', 400),
      new MynaGateError('ERR_IDP_INTERNAL', 'x'),
    ])
      assert.equal(await companionError(e, 'auth'), e);
  });
});
