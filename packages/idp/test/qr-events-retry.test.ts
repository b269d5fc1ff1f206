/**
 * A refused card answer on an animated-QR page (qr-events.ts): the page says 「もう一度QRコードを読み取ってください」
 * only when scanning again can help (a wrong PIN, a stale code), never after a refusal that ends the same way however
 * often the person scans (a revoked or expired certificate, the wrong kind of certificate, a locked PIN, a signature
 * by another card). The stream marks each `failed` event with `retry`; the page's script reads it. Once a companion
 * scanned, the page hides its code and follows no new frame until such a refusal, a click on 「QRコードをもう一度表示」, or
 * the challenge's lifetime (`reshowIn`) with no answer: a scan that nothing follows does not leave the person stuck.
 */
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import { MynaGateError } from '@mynagate/errors';
import { messageFor, type ErrorBody } from '../src/http-errors.ts';
import { QR_PAGE_SCRIPT, retryable, streamQrEvents, type QrEventSource } from '../src/interactions/qr-events.ts';

/** A refusal body as the provider reports it, for `code`. */
function refusal(code: string, retriesLeft?: number): ErrorBody {
  const body = messageFor(
    Object.assign(new MynaGateError(code, code), retriesLeft === undefined ? {} : { retriesLeft }),
  );
  assert.equal(body.error, code, `the provider words ${code}`);
  return body;
}

/** The data of the first `failed` event a stream sends for a transaction that reports `failure` once. */
async function failedEvent(failure: ErrorBody): Promise<Record<string, unknown>> {
  let reported = false;
  const source: QrEventSource<never> = {
    expiresAt: Date.now() + 300_000,
    now: Date.now,
    currentLink: () => ({ t: 0, link: 'https://idp.example/companion/x?t=0&c=y' }),
    async look() {
      if (reported) return { scanned: true };
      reported = true;
      return { scanned: true, failure };
    },
    refused: () => ({ error: 'ERR_IDP_INTERNAL', message: { ja: '', en: '' } }),
  };
  const server = createServer((_req, res) => void streamQrEvents(res, source, 0, 20));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/' }, resolve).on('error', reject),
    );
    let text = '';
    for await (const chunk of res.setEncoding('utf8')) {
      text += chunk;
      const m = /event: failed\ndata: (.*)\n\n/.exec(text);
      if (m !== null) {
        res.destroy();
        return JSON.parse(m[1]!) as Record<string, unknown>;
      }
    }
    throw new Error(`no failed event: ${text}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The QR box of {@link qrPage}: what it shows, and whether it is hidden. */
interface QrBox {
  readonly innerHTML?: string;
  readonly dataset: Record<string, string>;
  readonly style: Record<string, string>;
}

/** The button the script adds after the QR box, with its click. */
interface AgainButton {
  readonly id?: string;
  readonly textContent: string;
  readonly style: Record<string, string>;
  click(): void;
}

/** A timer the script set: its delay, whether it was cleared, and its callback. */
interface Timer {
  readonly ms: number;
  cleared: boolean;
  readonly run: () => void;
}

/**
 * Runs the page's script on a minimal page; returns a function that fires an event and reads the status line, with
 * the page's QR box.
 */
function qrPage(reshowIn?: number): ((event: string, data: unknown) => string) & {
  readonly qr: QrBox;
  readonly again: AgainButton;
  readonly timers: Timer[];
} {
  interface Fake {
    id?: string;
    className: string;
    textContent: string;
    lang?: string;
    hidden?: boolean;
    dataset: Record<string, string>;
    style: Record<string, string>;
    children: Fake[];
    appendChild(child: Fake): void;
    replaceChildren(): void;
    addEventListener(name: string, listener: () => void): void;
    after(sibling: Fake): void;
    click(): void;
  }
  let after: Fake | undefined;
  const element = (id?: string): Fake => ({
    ...(id === undefined ? {} : { id }),
    className: '',
    textContent: '',
    dataset: {},
    style: {},
    children: [],
    appendChild(child) {
      this.children.push(child);
    },
    replaceChildren() {
      this.children = [];
    },
    addEventListener(name, listener) {
      if (name === 'click') this.click = listener;
    },
    after(sibling) {
      after = sibling;
    },
    click() {},
  });
  const timers: Timer[] = [];
  const elements = new Map(['qr', 'status', 'cancel'].map((id) => [id, element(id)]));
  const status = elements.get('status')!;
  const listeners = new Map<string, (e: { data: string }) => void>();
  runInNewContext(
    `const cfg = ${JSON.stringify({
      events: '/events',
      texts: { scanned: ['s', 's'], expiring: ['w', 'w'], expired: ['x', 'x'], done: ['d', 'd'] },
      expiresIn: 300_000,
      closesIn: 360_000,
      ...(reshowIn === undefined ? {} : { reshowIn }),
    })};\n${QR_PAGE_SCRIPT}`,
    {
      document: {
        getElementById: (id: string) => elements.get(id) ?? null,
        createElement: () => element(),
        querySelectorAll: (selector: string) => {
          assert.equal(selector, '#status .en');
          return status.children.filter((c) => c.className === 'en');
        },
      },
      EventSource: class {
        addEventListener(name: string, listener: (e: { data: string }) => void) {
          listeners.set(name, listener);
        }
        close() {}
      },
      performance: { now: () => 0 },
      setTimeout: (run: () => void, ms: number) => timers.push({ ms, cleared: false, run }),
      clearTimeout: (id: number | undefined) => {
        if (id !== undefined) timers[id - 1]!.cleared = true;
      },
      location: { assign() {}, pathname: '/interaction/x' },
      URL,
    },
  );
  const fire = (event: string, data: unknown) => {
    listeners.get(event)!({ data: JSON.stringify(data) });
    return [status.textContent, ...status.children.map((c) => `[${c.lang ?? ''}]${c.textContent}`)].join(' | ');
  };
  return Object.assign(fire, { qr: elements.get('qr')! as QrBox, again: after! as AgainButton, timers });
}

describe('a refused card answer on a QR page', () => {
  it('is not followed by "scan again" for a revoked certificate (ERR_PKI_CERT_REVOKED)', async () => {
    const data = await failedEvent(refusal('ERR_PKI_CERT_REVOKED'));
    assert.equal(data['error'], 'ERR_PKI_CERT_REVOKED');
    assert.equal(data['retry'], false);
    const shown = qrPage()('failed', data);
    assert.match(shown, /失効しています/);
    assert.doesNotMatch(shown, /もう一度/);
    assert.doesNotMatch(shown, /Scan the QR code again/);
  });

  it('is followed by "scan again" for a wrong PIN (ERR_CARD_PIN_INCORRECT), in both languages, English marked', async () => {
    const data = await failedEvent(refusal('ERR_CARD_PIN_INCORRECT', 2));
    assert.equal(data['retry'], true);
    const shown = qrPage()('failed', data);
    assert.match(shown, /あと2回.*もう一度QRコードを読み取ってください。/);
    assert.match(shown, /\[en\].*Scan the QR code again\./);
  });

  it('hides the code once a companion scanned, and follows no new frame until a refusal shows it again', async () => {
    const page = qrPage();
    const frame = (t: number) => ({
      t,
      link: `https://idp.example/companion/x?t=${t}&c=c${t}`,
      svg: `<svg>${t}</svg>`,
    });
    page('qr', frame(1));
    assert.equal(page.qr.innerHTML, '<svg>1</svg>');
    assert.equal(page.qr.dataset['link'], frame(1).link);
    assert.match(page('scanned', {}), /^s/);
    assert.equal(page.qr.style['display'], 'none');
    // Someone who sees the screen gets no fresh frame to scan while the person enters the PIN.
    page('qr', frame(2));
    assert.equal(page.qr.innerHTML, '<svg>1</svg>');
    assert.equal(page.qr.dataset['link'], frame(1).link);
    page('failed', await failedEvent(refusal('ERR_CARD_PIN_INCORRECT', 2)));
    assert.equal(page.qr.style['display'], '');
    page('qr', frame(3));
    assert.equal(page.qr.innerHTML, '<svg>3</svg>');
    assert.equal(page.qr.dataset['link'], frame(3).link);
  });

  for (const how of ['a click on the button', 'the challenge lifetime passing'] as const) {
    it(`shows the code again after a scan that nothing follows, on ${how}; a scan then hides it again`, () => {
      const page = qrPage(180_000);
      const frame = (t: number) => ({
        t,
        link: `https://idp.example/companion/x?t=${t}&c=c${t}`,
        svg: `<svg>${t}</svg>`,
      });
      assert.equal(page.again.id, 'qr-again');
      assert.equal(page.again.textContent, 'QRコードをもう一度表示 / Show the QR code again');
      assert.equal(page.again.style['display'], 'none', 'no button before a scan');
      page('qr', frame(1));
      const before = page.timers.length;
      page('scanned', {});
      assert.equal(page.qr.style['display'], 'none');
      assert.equal(page.again.style['display'], '', 'the button at once');
      page('qr', frame(2));
      const timer = page.timers.slice(before).find((t) => t.ms === 180_000);
      assert.ok(timer, 'a re-show after reshowIn');
      let shown: string;
      if (how === 'a click on the button') {
        page.again.click();
        shown = page('qr', frame(3));
        assert.match(shown, /QRコードを読み取ってください。/);
        assert.equal(timer.cleared, true);
      } else {
        timer.run();
        shown = page('qr', frame(3));
        assert.match(
          shown,
          /もう一度QRコードを読み取ってください。.*\[en\]The scan did not finish\. Scan the QR code again\./,
        );
      }
      assert.equal(page.qr.style['display'], '');
      assert.equal(page.again.style['display'], 'none');
      assert.equal(page.qr.innerHTML, '<svg>3</svg>');
      page('scanned', {});
      assert.equal(page.qr.style['display'], 'none');
      assert.equal(page.again.style['display'], '');
    });
  }

  it('shows the newest frame at once when the code comes back; an answer cancels the re-show', async () => {
    const page = qrPage();
    page('qr', { t: 1, link: 'https://idp.example/companion/x?t=1&c=c1', svg: '<svg>1</svg>' });
    const before = page.timers.length;
    page('scanned', {});
    const timer = page.timers.slice(before).find((t) => t.ms === 180_000);
    assert.ok(timer, 'without reshowIn (an older page), the default of three minutes');
    page('qr', { t: 2, link: 'https://idp.example/companion/x?t=2&c=c2', svg: '<svg>2</svg>' });
    page('failed', await failedEvent(refusal('ERR_CARD_PIN_INCORRECT', 2)));
    assert.equal(page.qr.innerHTML, '<svg>2</svg>');
    assert.equal(timer.cleared, true);
    assert.equal(page.again.style['display'], 'none');
  });

  it('decides per code: only refusals that scanning again can change are retryable', () => {
    for (const code of ['ERR_CARD_PIN_INCORRECT', 'ERR_CARD_NO_CARD', 'ERR_IDP_QR_STALE', 'ERR_PKI_CHALLENGE_EXPIRED'])
      assert.equal(retryable(code), true, code);
    for (const code of [
      'ERR_PKI_CERT_REVOKED',
      'ERR_PKI_CERT_EXPIRED',
      'ERR_PKI_WRONG_CERT_KIND',
      'ERR_IDP_SIGN_CARD_MISMATCH',
      'ERR_CARD_PIN_BLOCKED',
      'ERR_SOMETHING_NEW',
    ])
      assert.equal(retryable(code), false, code);
  });
});
