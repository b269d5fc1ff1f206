/**
 * The eKYC signing page's event streams are capped as the login page's are (`StreamCap`, STREAMS_PER_LOGIN = 4 per
 * transaction and node): the owning browser's 5th stream is refused with ERR_IDP_TOO_MANY_STREAMS (429) before its
 * first byte, and a slot comes back once a stream closes.
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

const errorOf = async (res: Response): Promise<string> => ((await res.json()) as { error: string }).error;

describe('event streams of a signing page', () => {
  it('refuses a 5th stream of one signing transaction with ERR_IDP_TOO_MANY_STREAMS (429); once one closes, a new one opens', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: { age_over_20: { essential: true } } }),
    });
    let step = await loginThenStop(idp, login, card);
    if (step.page.includes('consent-form')) step = await consent(login.agent, step);
    const sign = await openSignPage(login.agent, step);
    const url = new URL(`/interaction/${sign.uid}/sign-events`, step.url);
    assert.equal(STREAMS_PER_LOGIN, 4);
    const more = await Promise.all(Array.from({ length: 3 }, () => login.agent.fetch(url)));
    for (const res of more) assert.equal(res.status, 200);
    const fifth = await login.agent.fetch(url);
    assert.equal(fifth.status, 429);
    assert.equal(await errorOf(fifth), 'ERR_IDP_TOO_MANY_STREAMS');

    // The page's stream goes (a reload, a reconnect): once the server sees it close, a new one is allowed.
    await sign.events.close();
    const deadline = performance.now() + 3000;
    let next = await login.agent.fetch(url);
    while (next.status === 429 && performance.now() < deadline) {
      await next.body?.cancel();
      await sleep(20);
      next = await login.agent.fetch(url);
    }
    assert.equal(next.status, 200);
    assert.match(next.headers.get('content-type') ?? '', /^text\/event-stream/);
    const sixth = await login.agent.fetch(url);
    assert.equal(sixth.status, 429, 'still at most 4');
    assert.equal(await errorOf(sixth), 'ERR_IDP_TOO_MANY_STREAMS');
    for (const res of [...more, next]) await res.body?.cancel();
  });
});
