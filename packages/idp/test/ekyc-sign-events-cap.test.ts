/**
 * The eKYC signing page's event streams are capped as the login page's are (`StreamCap`, STREAMS_PER_LOGIN = 4 per
 * transaction and node), newest wins: the owning browser's 5th stream is accepted and the oldest ends at once with a
 * terminal `refused` event ERR_IDP_TOO_MANY_STREAMS (this IdP polls the store once a minute: the eviction wakes the
 * stream, no poll does), so its page stops rather than reconnect and evict the newer one in turn.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { STREAMS_PER_LOGIN } from '../src/interactions/events.ts';
import { createOpFixture, startLogin, type OpFixture, type TestCard, type TestIdp } from './support/op-fixture.ts';
import {
  authorizeExtra,
  consent,
  issueCard,
  loginThenStop,
  openSignPage,
  RP_JWT,
  startEkycIdp,
} from './support/ekyc-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let card: TestCard;

before(async () => {
  f = await createOpFixture();
  card = await issueCard(f);
  idp = await startEkycIdp(f);
});
after(async () => {
  await idp?.close();
  await f?.close();
});

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
  readonly type: string;
  readonly events: { readonly name: string; readonly data: unknown }[];
  ended: boolean;
}

/** Reads a fetch stream in the background: what `seen` holds fills as events come. */
function follow(res: Response): { seen: Seen; cancel: () => Promise<void> } {
  const seen: Seen = { status: res.status, type: res.headers.get('content-type') ?? '', events: [], ended: false };
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

function parseEvents(text: string): { name: string; data: unknown }[] {
  const events: { name: string; data: unknown }[] = [];
  for (const block of text.split('\n\n')) {
    const name = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (name !== undefined) events.push({ name, data: data === undefined ? undefined : JSON.parse(data) });
  }
  return events;
}

describe('event streams of a signing page', { timeout: 60_000 }, () => {
  it('accepts a 5th stream of one signing transaction and ends the oldest with refused ERR_IDP_TOO_MANY_STREAMS', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: { age_over_20: { essential: true } } }),
    });
    let step = await loginThenStop(idp, login, card);
    if (step.page.includes('consent-form')) step = await consent(login.agent, step);
    const sign = await openSignPage(login.agent, step);
    const url = new URL(`/interaction/${sign.uid}/sign-events`, step.url);
    assert.equal(STREAMS_PER_LOGIN, 4);
    // The page's own stream goes first: seen to go or not, it is older than the ones below.
    await sign.events.close();
    const streams: ReturnType<typeof follow>[] = [];
    for (let i = 0; i < 4; i++) streams.push(follow(await login.agent.fetch(url)));
    for (let i = 0; i < 3; i++) {
      const next = follow(await login.agent.fetch(url));
      assert.equal(next.seen.status, 200, 'the newest is accepted');
      assert.match(next.seen.type, /^text\/event-stream/);
      streams.push(next);
      await until(() => streams[i]!.seen.ended, `stream ${i} ended by the server`);
      const last = streams[i]!.seen.events.at(-1);
      assert.equal(last?.name, 'refused', JSON.stringify(streams[i]!.seen.events.map((e) => e.name)));
      const body = last!.data as { error: string; message: { ja: string; en: string } };
      assert.equal(body.error, 'ERR_IDP_TOO_MANY_STREAMS');
      assert.equal(body.message.ja, 'このログインは別のタブまたはウィンドウで続いています。');
      assert.equal(body.message.en, 'This login continues in another tab or window.');
    }
    await sleep(300);
    for (const s of streams.slice(3)) {
      assert.equal(s.seen.status, 200);
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
});
