/**
 * The cap on a login's event streams (`StreamCap`, transaction-watch.ts; 4 per login and node): one more is refused
 * with ERR_IDP_TOO_MANY_STREAMS (429) before its first byte, a slot comes back whichever way a stream ends (the
 * browser goes, `done`, `expired`, the server ends it), and nothing is kept for a transaction without streams. Once
 * one stream finishes the login, the others of that login end too.
 */
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendError } from '../src/http-errors.ts';
import { STREAMS_PER_LOGIN } from '../src/interactions/events.ts';
import { streamQrEvents, type QrEventSource } from '../src/interactions/qr-events.ts';
import { StreamCap } from '../src/transaction-watch.ts';
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

const POLL_MS = 20;

/** Waits until `check` holds (or fails after `ms`). */
async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

/** What the client of a stream saw: its status, the events and whether the server ended it. */
interface Seen {
  readonly status: number;
  readonly events: string[];
  ended: boolean;
}

describe('StreamCap over real streams (node:http)', () => {
  let server: Server;
  let cap: StreamCap;
  /** The source each new stream gets. */
  let source: () => QrEventSource<never>;
  /** What a handler waits before holding its slot (the store reads of the real handler). */
  let setupMs = 0;
  const held: ServerResponse[] = [];

  const endless = (): QrEventSource<never> => ({
    expiresAt: Date.now() + 300_000,
    now: Date.now,
    currentLink: () => ({ t: 0, link: 'https://idp.example/companion/x?t=0&c=y' }),
    async look() {
      return { scanned: false };
    },
    refused: () => ({ error: 'ERR_IDP_INTERNAL', message: { ja: '', en: '' } }),
  });

  before(async () => {
    // As loginEvents does: the slot first (a refusal is a plain HTTP answer), then the stream. `/a` and `/b` are two
    // transactions.
    server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      if (setupMs > 0) await sleep(setupMs);
      try {
        cap.hold(req.url!.slice(1), res);
      } catch (e) {
        sendError(res, e);
        return;
      }
      held.push(res);
      await streamQrEvents(res, source(), -1, POLL_MS);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Opens a stream of transaction `txn`; `seen` fills as events come. */
  function open(txn: string): Promise<{ seen: Seen; leave: () => void; body: () => string }> {
    return new Promise((resolve, reject) => {
      let text = '';
      const request = get(
        { host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: `/${txn}`, agent: false },
        (res) => {
          const seen: Seen = { status: res.statusCode ?? 0, events: [], ended: false };
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
            seen.events.push(...[...chunk.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]!));
          });
          res.on('end', () => (seen.ended = true));
          res.on('close', () => (seen.ended = true));
          resolve({ seen, leave: () => request.destroy(), body: () => text });
        },
      );
      request.on('error', (e) => (isAbort(e) ? undefined : reject(e)));
    });
  }

  const fresh = (): void => {
    cap = new StreamCap(STREAMS_PER_LOGIN);
    source = endless;
    setupMs = 0;
    held.length = 0;
  };

  it('allows 4 streams of one transaction, refuses the 5th with ERR_IDP_TOO_MANY_STREAMS (429), not another one', async () => {
    fresh();
    assert.equal(STREAMS_PER_LOGIN, 4);
    const streams = await Promise.all(Array.from({ length: 4 }, () => open('a')));
    for (const s of streams) assert.equal(s.seen.status, 200);
    assert.equal(cap.count('a'), 4);
    const fifth = await open('a');
    assert.equal(fifth.seen.status, 429);
    await until(() => fifth.seen.ended, 'the refusal ends');
    assert.equal(JSON.parse(fifth.body()).error, 'ERR_IDP_TOO_MANY_STREAMS');
    assert.equal(cap.count('a'), 4, 'a refusal holds no slot');
    const other = await open('b');
    assert.equal(other.seen.status, 200, 'another transaction has slots of its own');
    for (const s of [...streams, other]) s.leave();
    await until(() => cap.size === 0, 'every slot back');
  });

  it('gives a slot back when the browser goes: a new stream is then allowed', async () => {
    fresh();
    const streams = await Promise.all(Array.from({ length: 4 }, () => open('a')));
    streams[0]!.leave();
    await until(() => cap.count('a') === 3, 'the slot back');
    const again = await open('a');
    assert.equal(again.seen.status, 200);
    for (const s of [...streams, again]) s.leave();
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('gives the slot back when the stream ends itself with done', async () => {
    fresh();
    source = () => ({ ...endless(), look: async () => ({ scanned: true, redirect: 'https://idp.example/auth/u' }) });
    const s = await open('a');
    await until(() => s.seen.ended, 'the stream ends');
    assert.deepEqual(s.seen.events, ['done']);
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('gives the slot back when the transaction expires', async () => {
    fresh();
    source = () => ({ ...endless(), expiresAt: Date.now() + 150 });
    const s = await open('a');
    assert.equal(cap.count('a'), 1);
    await until(() => s.seen.ended, 'the stream ends');
    assert.ok(s.seen.events.includes('expired'));
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('gives the slots back when the server ends the streams (IdpServer.close)', async () => {
    fresh();
    const streams = await Promise.all(Array.from({ length: 4 }, () => open('a')));
    assert.equal(cap.count('a'), 4);
    for (const res of held) res.end();
    await until(() => streams.every((s) => s.seen.ended), 'the streams end');
    await until(() => cap.size === 0, 'nothing kept for the transaction');
  });

  it('does not count a browser that left before its stream started (its close came and went)', async () => {
    fresh();
    setupMs = 100;
    const request = get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/a', agent: false });
    request.on('error', () => {});
    await sleep(10);
    request.destroy();
    await sleep(200);
    assert.equal(cap.size, 0);
  });

  it('refuses a cap below 1 (TypeError)', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new StreamCap(bad), TypeError);
  });
});

function isAbort(e: unknown): boolean {
  return (e as { code?: string }).code === 'ECONNRESET';
}

describe('event streams of a login on the IdP (https)', () => {
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

  it('refuses a 5th stream of one login with ERR_IDP_TOO_MANY_STREAMS (429); once one closes, a new one opens', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const url = new URL(`/interaction/${login.uid}/events`, idp.server.url);
    const more = await Promise.all(Array.from({ length: 3 }, () => login.agent.fetch(url)));
    for (const res of more) assert.equal(res.status, 200);
    const fifth = await login.agent.fetch(url);
    assert.equal(fifth.status, 429);
    assert.equal(((await fifth.json()) as { error: string }).error, 'ERR_IDP_TOO_MANY_STREAMS');

    // A page reloaded: the old stream goes; the server sees it go, and the new one is allowed.
    await login.events.close();
    const deadline = performance.now() + 3000;
    let next = await login.agent.fetch(url);
    while (next.status === 429 && performance.now() < deadline) {
      await next.body?.cancel();
      await sleep(20);
      next = await login.agent.fetch(url);
    }
    assert.equal(next.status, 200);
    const sixth = await login.agent.fetch(url);
    assert.equal(sixth.status, 429, 'still at most 4');
    assert.equal(((await sixth.json()) as { error: string }).error, 'ERR_IDP_TOO_MANY_STREAMS');
    for (const res of [...more, next]) await res.body?.cancel();
  });

  it('ends every stream of a login once one of them finished it: done for one, ERR_IDP_LOGIN_NOT_FOUND for the rest', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    await login.events.close();
    const url = new URL(`/interaction/${login.uid}/events`, idp.server.url);
    const streams: Response[] = [];
    // The first stream's slot comes back once the server sees it close.
    for (let tries = 0; streams.length < 4 && tries < 300; tries++) {
      const res = await login.agent.fetch(url);
      if (res.status === 200) streams.push(res);
      else {
        assert.equal(res.status, 429);
        await res.body?.cancel();
        await sleep(10);
      }
    }
    assert.equal(streams.length, 4);
    const seen = Promise.all(streams.map((res) => collect(res, 5000)));
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    assert.equal((await postToken(idp, view.txn, await cardToken(alice, view.origin, view.challenge))).status, 200);
    const all = await seen;
    for (const s of all) assert.equal(s.ended, true, 'the server ended the stream');
    const last = all.map((s) => s.events.at(-1));
    assert.equal(last.filter((e) => e?.name === 'done').length, 1, JSON.stringify(last));
    const refused = last.filter((e) => e?.name === 'refused');
    assert.equal(refused.length, 3, JSON.stringify(last));
    for (const e of refused) assert.equal((e!.data as { error: string }).error, 'ERR_IDP_LOGIN_NOT_FOUND');
    // And the login is over: a new stream is refused for that, not for a slot held.
    const after = await login.agent.fetch(url);
    assert.equal(after.status, 404);
    assert.equal(((await after.json()) as { error: string }).error, 'ERR_IDP_LOGIN_NOT_FOUND');
  });
});
