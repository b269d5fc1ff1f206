/**
 * One login, one person, over HTTP on two nodes of one deployment, on SQLite and on PostgreSQL + Redis (skipped
 * with a visible reason when those are unreachable, unless MYNAGATE_REQUIRE_SYSTEM=1):
 *
 * - once a card's token was accepted, a second card (someone who sees the screen scanning a fresh frame while the
 *   page's event stream reconnects) is refused `ERR_IDP_LOGIN_FINISHED` at its scan, on either node, and the
 *   browser logs in as the first card's person;
 * - a token post that does not name the outstanding challenge (whoever knows only the login's id, which every QR frame
 *   and proxy log carries) is refused and changes nothing: the companion's challenge stays, the page hears nothing;
 * - of two streams of the browser (a reconnect before the server saw the old connection go), the one that did not
 *   take the outcome sends the same `done`, on either node, and so does one that opens after the end;
 * - a rescan forgets the verifier's record of the challenge it replaced.
 *
 * The units behind it: login-once.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as client from 'openid-client';
import {
  cardToken,
  createOpFixture,
  expectedSub,
  postgresRedisSkip,
  postToken,
  redeemLogin,
  RP_JWT,
  scan,
  startLogin,
  type CompanionViewJson,
  type OpFixture,
  type StartedLogin,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';
import { EventStream } from './support/op-agent.ts';

const pgSkip = await postgresRedisSkip();

for (const store of ['sqlite', 'postgres'] as const) {
  describe(`one login, one person (${store})`, { skip: store === 'postgres' ? pgSkip : false }, () => {
    let f: OpFixture;
    let idp: TestIdp;
    let nodeB: TestIdp;
    let alice: TestCard;
    let mallory: TestCard;

    before(async () => {
      f = await createOpFixture();
      [alice, mallory] = await Promise.all([f.newCard('alice'), f.newCard('mallory')]);
      // Frames stay fresh for 30 s: a test may scan the page's first frame late.
      idp = await f.start({ store, qrMaxAgeSeconds: 30 });
      nodeB = await f.start({ nodeOf: idp, qrMaxAgeSeconds: 30 });
    });
    after(() => f?.close());

    /** The page's QR link as scanned on `on`. */
    const linkOn = (on: TestIdp, link: string) => {
      const url = new URL(link);
      return new URL(url.pathname + url.search, on.server.url).href;
    };
    /** Another event stream of the login's browser, on `on` (a reconnect, another tab). */
    const streamOn = async (on: TestIdp, login: StartedLogin) =>
      new EventStream(await login.agent.fetch(new URL(`/interaction/${login.uid}/events`, on.server.url)));
    const view = (body: Record<string, unknown>) => body as unknown as CompanionViewJson;

    it('a second card cannot replace a login a card answered: its scan is ERR_IDP_LOGIN_FINISHED on either node', async () => {
      const a = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      // The page's event stream is away (an EventSource reconnecting) when Alice's token comes.
      await a.events.close();
      await sleep(300);
      const scanned = await scan(idp, a.link);
      assert.equal(scanned.status, 200);
      const v = view(scanned.body);
      const aliceToken = await cardToken(alice, v.origin, v.challenge);
      assert.equal((await postToken(idp, v.txn, aliceToken)).status, 200);
      // Mallory, who sees the screen, scans a fresh frame of the page, on each node.
      for (const on of [idp, nodeB]) {
        const second = await scan(on, linkOn(on, a.link));
        assert.equal(second.status, 409, JSON.stringify(second.body));
        assert.equal(second.body['error'], 'ERR_IDP_LOGIN_FINISHED');
      }
      // Alice's companion posting again (a retry) is refused as well, with the page left alone.
      const again = await postToken(nodeB, v.txn, aliceToken);
      assert.equal(again.status, 409);
      assert.equal(again.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
      // The browser's stream comes back: it logs in as Alice.
      const claims = await redeemLogin(idp.jwtRp, a, await streamOn(nodeB, a));
      assert.equal(claims.sub, await expectedSub(idp, alice, RP_JWT.redirectUri));
      assert.equal(await idp.stores.records.findCredentialByFingerprint(mallory.fingerprint), undefined);
    });

    it("whoever knows only the login's id neither uses up the companion's challenge nor reaches the page", async () => {
      const a = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      const v = view((await scan(idp, a.link)).body);
      // A token of Mallory's own card, for a challenge of his choosing (he has not got the companion's).
      const junk = await cardToken(mallory, v.origin, 'not-the-challenge');
      for (const on of [idp, nodeB]) {
        const refused = await postToken(on, v.txn, junk);
        assert.equal(refused.status, 409);
        assert.equal(refused.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
      }
      // Naming none: a token as Web eID makes it.
      const { challenge: _, ...bare } = junk;
      const malformed = await postToken(idp, v.txn, bare);
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body['error'], 'ERR_IDP_TOKEN_MALFORMED');
      assert.equal(await a.events.next('failed', 1000), undefined, 'the page shows no error');
      // The companion that scanned finishes the login.
      const posted = await postToken(nodeB, v.txn, await cardToken(alice, v.origin, v.challenge));
      assert.equal(posted.status, 200, JSON.stringify(posted.body));
      const claims = await redeemLogin(idp.jwtRp, a);
      assert.equal(claims.sub, await expectedSub(idp, alice, RP_JWT.redirectUri));
    });

    for (const [name, newerOn] of [
      ['on the same node', () => idp],
      ['on the other node', () => nodeB],
    ] as const) {
      it(`the newer of two streams of the browser gets the same done when the older took the outcome (${name})`, async () => {
        const a = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
        // A reconnect before the server saw the old connection go: the old stream (on the page's node) still
        // watches, and takes the outcome the companion posts there.
        const newer = await streamOn(newerOn(), a);
        await sleep(300);
        const v = view((await scan(idp, a.link)).body);
        assert.equal((await postToken(idp, v.txn, await cardToken(alice, v.origin, v.challenge))).status, 200);
        const [older, live] = (await Promise.all([a.events.next('done', 8000), newer.next('done', 8000)])) as (
          { redirect: string } | undefined
        )[];
        assert.ok(older, 'the older stream finished the login');
        assert.deepEqual(live, older, 'the newer one sends the same done, not ERR_IDP_LOGIN_NOT_FOUND');
        // And a stream opened after the end (the reconnect came late) hears it at once, on either node.
        for (const on of [idp, nodeB]) {
          const late = await streamOn(on, a);
          assert.deepEqual(await late.next('done', 3000), older);
          await late.close();
        }
        // The live page follows it and logs in as Alice.
        const { url } = await a.agent.follow(live!.redirect);
        const tokens = await client.authorizationCodeGrant(idp.jwtRp, url, {
          pkceCodeVerifier: a.codeVerifier,
          expectedState: a.state,
        });
        assert.equal(tokens.claims()!.sub, await expectedSub(idp, alice, RP_JWT.redirectUri));
        await Promise.all([a.events.close(), newer.close()]);
      });
    }

    it("a rescan forgets the verifier's record of the challenge it replaced; a token for that one is refused", async () => {
      const a = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      const first = view((await scan(idp, a.link)).body);
      assert.notEqual(await idp.stores.oneShot.get(`pki-challenge:${first.challenge}`), undefined);
      const second = view((await scan(nodeB, linkOn(nodeB, a.link))).body);
      assert.notEqual(second.challenge, first.challenge);
      assert.equal(await idp.stores.oneShot.get(`pki-challenge:${first.challenge}`), undefined);
      assert.notEqual(await idp.stores.oneShot.get(`pki-challenge:${second.challenge}`), undefined);
      const stale = await postToken(idp, first.txn, await cardToken(alice, first.origin, first.challenge));
      assert.equal(stale.status, 409);
      assert.equal(stale.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
      const posted = await postToken(idp, second.txn, await cardToken(alice, second.origin, second.challenge));
      assert.equal(posted.status, 200);
      const claims = await redeemLogin(idp.jwtRp, a);
      assert.equal(claims.sub, await expectedSub(idp, alice, RP_JWT.redirectUri));
    });
  });
}
