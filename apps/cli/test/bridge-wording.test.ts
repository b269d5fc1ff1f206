/**
 * The words of `mynagate bridge` pages: every code the bridge can meet on a page is told in its own words (or the
 * provider's), never the general "could not be completed". The codes are enumerated from the registries (every card
 * code, every bridge code) and the companion's failures, so a new code without words fails here unless it is listed
 * below as one the bridge never shows.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { CARD_ERROR_CODES, CardPinIncorrectError } from '@mynagate/card';
import { CardNoReaderError } from '@mynagate/card/pcsc';
import { MynaGateError } from '@mynagate/errors';
import { BridgeError, UNKNOWN_WORDING, wordingOf } from '../src/bridge-wording.ts';
import type { CompanionView } from '../src/companion.ts';
import { CLI_ERROR_CODES } from '../src/errors.ts';
import { UsageError } from '../src/output.ts';
import { freePort } from './serve-support.ts';

/**
 * Card codes the bridge never shows: a transport used after close (a bug, whose stack the provider's wording logs),
 * and a wait for a card (the bridge never waits for one).
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
  return errors;
}

const LOGIN = { intent: 'login' } as CompanionView;
const SIGN = { intent: 'sign' } as CompanionView;

describe('bridge pages: words for every code a person can act on', () => {
  it('no such code gets the general "could not be completed", for a login or a signature', async () => {
    const codes = codesOnPages();
    assert.ok(codes.has('ERR_CARD_NO_READER') && codes.has('ERR_CARD_IN_USE') && codes.has('ERR_BRIDGE_LAST_TRY'));
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
