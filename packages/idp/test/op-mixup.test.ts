/**
 * The mix-up guard: a card login is delivered only to the browser session that started it. Two browsers log in at
 * once; a token made for one login and posted to the other is refused; another browser cannot listen to or finish
 * someone else's login, not even with the interaction cookie but without the login's own binding cookie.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
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
import { EventStream } from './support/op-agent.ts';

let f: OpFixture;
let idp: TestIdp;
let alice: TestCard;
let mallory: TestCard;

before(async () => {
  f = await createOpFixture();
  [alice, mallory] = await Promise.all([f.newCard(), f.newCard()]);
  idp = await f.start();
});
after(() => f.close());

describe('a login is finished only by the browser session that started it', () => {
  it('refuses a token signed for login A and posted to login B (ERR_PKI_TOKEN_SIGNATURE); B never completes', async () => {
    const a = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const b = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const viewA = (await scan(idp, a.link)).body as unknown as CompanionViewJson;
    const viewB = (await scan(idp, b.link)).body as unknown as CompanionViewJson;
    assert.notEqual(viewA.txn, viewB.txn);
    assert.notEqual(viewA.challenge, viewB.challenge);

    // As made for A, it names A's challenge: refused before anything is checked, and B is left as it was.
    const tokenForA = await cardToken(mallory, viewA.origin, viewA.challenge);
    const asMade = await postToken(idp, viewB.txn, tokenForA);
    assert.equal(asMade.status, 409);
    assert.equal(asMade.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    assert.equal(await b.events.next('failed', 600), undefined, "B's page is not told");

    // Named B's challenge (Mallory scanned B too), the signature over A's gives it away.
    const relabelled = { ...tokenForA, challenge: viewB.challenge };
    const toB = await postToken(idp, viewB.txn, relabelled);
    assert.equal(toB.status, 400);
    assert.equal(toB.body['error'], 'ERR_PKI_TOKEN_SIGNATURE');
    assert.equal(((await b.events.next('failed')) as { error: string }).error, 'ERR_PKI_TOKEN_SIGNATURE');

    // B's challenge was burnt by the attempt: the same token cannot be retried against B either.
    assert.equal((await postToken(idp, viewB.txn, relabelled)).body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    assert.equal(await b.events.next('done', 600), undefined, 'B is not logged in');
    await Promise.all([a.events.close(), b.events.close()]);
  });

  it('delivers a login to its own session only, while another session logging in at the same time stays waiting', async () => {
    const a = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const b = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const viewA = (await scan(idp, a.link)).body as unknown as CompanionViewJson;
    assert.equal((await postToken(idp, viewA.txn, await cardToken(alice, viewA.origin, viewA.challenge))).status, 200);
    const done = (await a.events.next('done')) as { redirect: string };
    assert.ok(done.redirect.startsWith(`${idp.server.issuer}/auth/`));
    assert.equal(await b.events.next('done', 600), undefined, 'the other session gets nothing');

    const { url } = await a.agent.follow(done.redirect);
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, url, {
      pkceCodeVerifier: a.codeVerifier,
      expectedState: a.state,
    });
    assert.equal(tokens.claims()!.acr, 'urn:mynagate:acr:card-auth');
    await Promise.all([a.events.close(), b.events.close()]);
  });

  it("refuses another browser's request for a login's events (ERR_IDP_INTERACTION_NOT_FOUND, 400)", async () => {
    const a = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const res = await idp.agent().fetch(new URL(`/interaction/${a.uid}/events`, idp.server.url));
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_IDP_INTERACTION_NOT_FOUND');
    await a.events.close();
  });

  it('refuses the events without the login binding cookie, even with the interaction cookie (ERR_IDP_SESSION_MISMATCH, 403)', async () => {
    const a = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    await a.events.close();
    a.agent.forget('__Host-mynagate_login');
    const res = await a.agent.fetch(new URL(`/interaction/${a.uid}/events`, idp.server.url));
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_IDP_SESSION_MISMATCH');
  });

  it('binds a login to its page load: a reload starts a new login and the old QR code stops working for it', async () => {
    const agent = idp.agent();
    const first = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { agent });
    await first.events.close();
    const reload = await agent.fetch(first.pageUrl);
    const page = await reload.text();
    const link = /data-link="([^"]+)"/.exec(page)![1]!.replaceAll('&amp;', '&');
    assert.notEqual(new URL(link).pathname, new URL(first.link).pathname, 'a new login transaction');
    // The old transaction still answers a scan, but its outcome can only be taken with the old binding cookie,
    // which this browser no longer holds: the login it finishes is delivered to nobody.
    const oldView = (await scan(idp, first.link)).body as unknown as CompanionViewJson;
    assert.equal(
      (await postToken(idp, oldView.txn, await cardToken(alice, oldView.origin, oldView.challenge))).status,
      200,
    );
    const events = new EventStream(await agent.fetch(new URL(`/interaction/${first.uid}/events`, idp.server.url)));
    assert.equal(await events.next('done', 600), undefined);
    await events.close();
  });
});
