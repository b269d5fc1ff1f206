/**
 * The cap on a login's event streams (`StreamCap`, transaction-watch.ts, through `cappedSource`, events.ts; 4 per
 * login and node), newest wins: one more is accepted and the oldest ends with a terminal `refused` event
 * ERR_IDP_TOO_MANY_STREAMS (its page closes its EventSource on it: no reconnect loop). A slot comes back whichever way
 * a stream ends (the browser goes, `done`, `expired`, the server ends it, an eviction: once only), and nothing is kept
 * for a transaction without streams. Once one stream finishes the login, the others of that login end too.
 */
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { messageFor, sendError } from '../src/http-errors.ts';
import { cappedSource, STREAMS_PER_LOGIN } from '../src/interactions/events.ts';
import { streamQrEvents, type QrEventSource } from '../src/interactions/qr-events.ts';
import { StreamCap, type TransactionChange } from '../src/transaction-watch.ts';
import {
  cardToken,
  createOpFixture,
  postToken,
  RP_JWT,
  scan,
  startLogin,
  type CompanionViewJson,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

/** Waits until `check` holds (or fails after `ms`). */
async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

/** What the client of a stream saw: its status, the events (name and data) and whether the server ended it. */
interface Seen {
  readonly status: number;
  readonly events: { readonly name: string; readonly data: unknown }[];
  ended: boolean;
}

/** The events in an SSE text. */
function parseEvents(text: string): { name: string; data: unknown }[] {
  const events: { name: string; data: unknown }[] = [];
  for (const block of text.split('\n\n')) {
    const name = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (name !== undefined) events.push({ name, data: data === undefined ? undefined : JSON.parse(data) });
  }
  return events;
}

/** Asserts that `seen` ended with the eviction: a last `refused` ERR_IDP_TOO_MANY_STREAMS with its message. */
function assertEvicted(seen: Seen, what: string): void {
  assert.equal(seen.ended, true, `${what}: the server ended it`);
  const last = seen.events.at(-1);
  assert.equal(last?.name, 'refused', `${what}: ${JSON.stringify(seen.events.map((e) => e.name))}`);
  const body = last!.data as { error: string; message: { ja: string; en: string } };
  assert.equal(body.error, 'ERR_IDP_TOO_MANY_STREAMS', what);
  assert.equal(body.message.ja, 'このログインは別のタブまたはウィンドウで続いています。', what);
  assert.equal(body.message.en, 'This login continues in another tab or window.', what);
}

describe('StreamCap over real streams (node:http)', { timeout: 30_000 }, () => {
  let server: Server;
  let cap: StreamCap;
  /** The source each new stream gets. */
  let source: () => QrEventSource<TransactionChange>;
  /** What a handler waits before holding its slot (the store reads of the real handler). */
  let setupMs = 0;
  const held: ServerResponse[] = [];
  /** The streams of the transaction counted right after each hold. */
  const counts: number[] = [];

  const endless = (): QrEventSource<TransactionChange> => ({
    expiresAt: Date.now() + 300_000,
    now: Date.now,
    currentLink: () => ({ t: 0, link: 'https://idp.example/companion/x?t=0&c=y' }),
    async look() {
      return { scanned: false };
    },
    refused: messageFor,
  });

  before(async () => {
    // As loginEvents does: the slot first, then the stream. `/a` and `/b` are two transactions. The store is looked
    // at only once and when woken (a poll a minute): an eviction must wake the stream, not wait for a poll.
    server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      if (setupMs > 0) await sleep(setupMs);
      const txn = req.url!.slice(1);
      let capped;
      try {
        capped = cappedSource(cap, txn, res, source());
      } catch (e) {
        // As the router does (nothing is thrown here since newest wins).
        sendError(res, e);
        return;
      }
      counts.push(cap.count(txn));
      held.push(res);
      await streamQrEvents(res, capped, -1, 60_000);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Opens a stream of transaction `txn`; `seen` fills as events come. */
  function open(txn: string): Promise<{ seen: Seen; leave: () => void }> {
    return new Promise((resolve, reject) => {
      let text = '';
      const request = get(
        { host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: `/${txn}`, agent: false },
        (res) => {
          const seen: Seen = { status: res.statusCode ?? 0, events: [], ended: false };
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
            seen.events.splice(0, Infinity, ...parseEvents(text));
          });
          res.on('end', () => (seen.ended = true));
          resolve({ seen, leave: () => request.destroy() });
        },
      );
      request.on('error', (e) => (isAbort(e) ? undefined : reject(e)));
    });
  }

  /** Opens `n` streams of `txn` one after the other (oldest first). */
  async function openMany(txn: string, n: number): Promise<{ seen: Seen; leave: () => void }[]> {
    const streams = [];
    for (let i = 0; i < n; i++) streams.push(await open(txn));
    return streams;
  }

  const fresh = (): void => {
    cap = new StreamCap(STREAMS_PER_LOGIN);
    source = endless;
    setupMs = 0;
    held.length = 0;
    counts.length = 0;
  };

  it('accepts a 5th stream of one transaction and ends the oldest with refused ERR_IDP_TOO_MANY_STREAMS; the other three stay open', async () => {
    fresh();
    assert.equal(STREAMS_PER_LOGIN, 4);
    const streams = await openMany('a', 4);
    for (const s of streams) assert.equal(s.seen.status, 200);
    assert.equal(cap.count('a'), 4);
    const other = await open('b');
    const fifth = await open('a');
    assert.equal(fifth.seen.status, 200, 'the newest is accepted');
    await until(() => streams[0]!.seen.ended, 'the oldest is ended by the server');
    assertEvicted(streams[0]!.seen, 'the oldest');
    assert.equal(cap.count('a'), 4);
    await sleep(100);
    for (const s of [...streams.slice(1), fifth, other]) {
      assert.equal(s.seen.ended, false, 'the others stay open');
      assert.ok(!s.seen.events.some((e) => e.name === 'refused'));
    }
    assert.equal(cap.count('b'), 1, 'another transaction is not touched');
    for (const s of [...streams, fifth, other]) s.leave();
    await until(() => cap.size === 0, 'every slot back');
  });

  it('never counts more than 4 over repeated reconnects: each one ends the oldest in turn', async () => {
    fresh();
    const streams = await openMany('a', 4);
    for (let i = 0; i < 8; i++) {
      streams.push(await open('a'));
      await until(() => streams[i]!.seen.ended, `stream ${i} evicted`);
      assertEvicted(streams[i]!.seen, `stream ${i}`);
      assert.equal(cap.count('a'), 4);
      for (const s of streams.slice(i + 1)) assert.equal(s.seen.ended, false, 'only the oldest goes');
    }
    assert.deepEqual(counts, [1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4]);
    for (const s of streams) s.leave();
    await until(() => cap.size === 0, 'every slot back');
  });

  it('keeps the count exact after evictions and closes: an evicted stream gives its slot back once', async () => {
    fresh();
    const streams = await openMany('a', 6);
    await until(() => streams[0]!.seen.ended && streams[1]!.seen.ended, 'two evicted');
    // The evicted streams' responses have closed on the server by now: their slots do not come back a second time.
    await until(() => held[0]!.closed && held[1]!.closed, 'the evicted responses closed');
    await sleep(50);
    assert.equal(cap.count('a'), 4);
    streams[3]!.leave();
    await until(() => cap.count('a') === 3, 'a slot back when a browser goes');
    const next = await open('a');
    assert.equal(cap.count('a'), 4);
    await sleep(100);
    for (const s of [streams[2]!, ...streams.slice(4), next]) assert.equal(s.seen.ended, false, 'no one evicted');
    for (const s of [...streams, next]) s.leave();
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('gives a slot back when the browser goes: a new stream then evicts no one', async () => {
    fresh();
    const streams = await openMany('a', 4);
    streams[0]!.leave();
    await until(() => cap.count('a') === 3, 'the slot back');
    const again = await open('a');
    assert.equal(again.seen.status, 200);
    await sleep(100);
    for (const s of streams.slice(1)) assert.equal(s.seen.ended, false);
    for (const s of [...streams, again]) s.leave();
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('gives the slot back when the stream ends itself with done', async () => {
    fresh();
    source = () => ({ ...endless(), look: async () => ({ scanned: true, redirect: 'https://idp.example/auth/u' }) });
    const s = await open('a');
    await until(() => s.seen.ended, 'the stream ends');
    assert.deepEqual(
      s.seen.events.map((e) => e.name),
      ['done'],
    );
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('gives the slot back when the transaction expires', async () => {
    fresh();
    source = () => ({ ...endless(), expiresAt: Date.now() + 150 });
    const s = await open('a');
    assert.equal(cap.count('a'), 1);
    await until(() => s.seen.ended, 'the stream ends');
    assert.ok(s.seen.events.some((e) => e.name === 'expired'));
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('gives the slots back when the server ends the streams (IdpServer.close)', async () => {
    fresh();
    const streams = await openMany('a', 4);
    assert.equal(cap.count('a'), 4);
    for (const res of held) res.end();
    await until(() => streams.every((s) => s.seen.ended), 'the streams end');
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('does not count a browser that left before its stream started, nor evict for it', async () => {
    fresh();
    const streams = await openMany('a', 4);
    setupMs = 100;
    const request = get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/a', agent: false });
    request.on('error', () => {});
    await sleep(10);
    request.destroy();
    await sleep(200);
    assert.equal(cap.count('a'), 4);
    for (const s of streams) assert.equal(s.seen.ended, false, 'no one evicted');
    // A stream that does start takes the oldest's place.
    setupMs = 0;
    const fifth = await open('a');
    await until(() => streams[0]!.seen.ended, 'the oldest evicted');
    for (const s of [...streams, fifth]) s.leave();
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('refuses a cap below 1 (TypeError)', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new StreamCap(bad), TypeError);
  });
});

function isAbort(e: unknown): boolean {
  return (e as { code?: string }).code === 'ECONNRESET';
}

describe('event streams of a login on the IdP (https)', { timeout: 60_000 }, () => {
  let f: OpFixture;
  let idp: TestIdp;
  let alice: TestCard;

  before(async () => {
    f = await createOpFixture();
    alice = await f.newCard();
    idp = await f.start({ store: 'sqlite' });
  });
  after(async () => {
    await idp?.close();
    await f?.close();
  });

  /** What the client saw of a fetch stream: events (name and data) until the server ended it, or `waitMs`. */
  async function collect(
    res: Response,
    waitMs: number,
  ): Promise<{ events: { name: string; data: unknown }[]; ended: boolean }> {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const events: { name: string; data: unknown }[] = [];
    let text = '';
    let ended = true;
    const timer = setTimeout(() => {
      ended = false;
      void reader.cancel().catch(() => {});
    }, waitMs);
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    } catch {
      ended = false;
    }
    clearTimeout(timer);
    for (const block of text.split('\n\n')) {
      const name = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (name !== undefined) events.push({ name, data: data === undefined ? undefined : JSON.parse(data) });
    }
    return { events, ended };
  }

  /** Reads a fetch stream in the background: what `seen` holds fills as events come. */
  function follow(res: Response): { seen: Seen; cancel: () => Promise<void> } {
    const seen: Seen = { status: res.status, events: [], ended: false };
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    let cancelled = false;
    void (async () => {
      try {
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          text += r.value;
          seen.events.splice(0, Infinity, ...parseEvents(text));
        }
        seen.ended = !cancelled;
      } catch {
        // Cancelled by the test.
      }
    })();
    return {
      seen,
      cancel: async () => {
        cancelled = true;
        await reader.cancel().catch(() => {});
      },
    };
  }

  it('accepts a 5th stream of one login and ends the oldest with refused ERR_IDP_TOO_MANY_STREAMS, reconnect after reconnect', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    // The page's own stream goes first: seen to go or not, it is older than the ones below.
    await login.events.close();
    const url = new URL(`/interaction/${login.uid}/events`, idp.server.url);
    const streams: ReturnType<typeof follow>[] = [];
    for (let i = 0; i < 4; i++) streams.push(follow(await login.agent.fetch(url)));
    for (const s of streams) assert.equal(s.seen.status, 200);
    for (let i = 0; i < 3; i++) {
      const next = follow(await login.agent.fetch(url));
      assert.equal(next.seen.status, 200, 'the newest is accepted');
      streams.push(next);
      await until(() => streams[i]!.seen.ended, `stream ${i} ended by the server`);
      assertEvicted(streams[i]!.seen, `stream ${i}`);
    }
    await sleep(300);
    for (const s of streams.slice(3)) {
      assert.equal(s.seen.ended, false, 'the four newest stay open');
      assert.ok(!s.seen.events.some((e) => e.name === 'refused'));
    }
    // The count is exact after the evictions: the oldest open stream goes (seen to go or not, it is the oldest), and
    // a new one ends no one still open; the one after ends the oldest open again, not fewer and not more.
    await streams[3]!.cancel();
    streams.push(follow(await login.agent.fetch(url)));
    await sleep(300);
    for (const s of streams.slice(4)) assert.equal(s.seen.ended, false, 'no open stream ended');
    streams.push(follow(await login.agent.fetch(url)));
    await until(() => streams[4]!.seen.ended, 'the oldest open stream ended by the server');
    assert.equal(streams[4]!.seen.events.at(-1)?.name, 'refused');
    await sleep(300);
    for (const s of streams.slice(5)) assert.equal(s.seen.ended, false, 'only the oldest');
    for (const s of streams) await s.cancel();
  });

  it('ends every stream of a login once one of them finished it: the same done for each, and for one opened after', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    await login.events.close();
    const url = new URL(`/interaction/${login.uid}/events`, idp.server.url);
    // Four streams: if the server has not seen the page's stream go yet, the fourth ends it (the oldest).
    const streams: Response[] = [];
    for (let i = 0; i < 4; i++) streams.push(await login.agent.fetch(url));
    for (const res of streams) assert.equal(res.status, 200);
    const seen = Promise.all(streams.map((res) => collect(res, 5000)));
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    assert.equal((await postToken(idp, view.txn, await cardToken(alice, view.origin, view.challenge))).status, 200);
    const all = await seen;
    for (const s of all) assert.equal(s.ended, true, 'the server ended the stream');
    // One finished the login; the others (the one that took it may be on a dead connection) send its redirect.
    const last = all.map((s) => s.events.at(-1));
    assert.deepEqual(
      last.map((e) => e?.name),
      ['done', 'done', 'done', 'done'],
      JSON.stringify(last),
    );
    const redirects = new Set(last.map((e) => (e!.data as { redirect: string }).redirect));
    assert.equal(redirects.size, 1);
    const [redirect] = redirects;
    assert.ok(redirect!.startsWith(`${idp.server.issuer}/auth/`), redirect);
    // And the login is over: a new stream of this browser (an EventSource reconnecting) hears the same at once.
    const after = await login.agent.fetch(url);
    assert.equal(after.status, 200);
    const late = await collect(after, 2000);
    assert.equal(late.ended, true);
    assert.deepEqual(late.events, [{ name: 'done', data: { redirect } }]);
  });
});
