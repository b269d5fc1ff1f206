/**
 * The same card login on the scale stores: PostgreSQL (records, sessions, grants) and Redis (one-shot state: login
 * transactions, challenges, outcomes; short-lived models), with two IdP nodes sharing them. The login page and its
 * event stream are served by node A while the companion posts its token to node B: the outcome still reaches the
 * browser session on A. Skips with a visible reason when PostgreSQL or Redis is unreachable, unless
 * MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import {
  cardToken,
  createOpFixture,
  PG_URL,
  postgresRedisSkip,
  REDIS_URL,
  RP_JWT,
  RP_SECRET,
  startLogin,
  type CompanionViewJson,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

const skip = await postgresRedisSkip();

let f: OpFixture;
let idp: TestIdp;
let nodeB: TestIdp;
let card: TestCard;

/**
 * A card login on node A up to its `done` event: the page on A, the scan on `scanOn`, the token posted to `postTo`.
 * Returns the login, what the companion saw and the resume URL.
 */
async function untilDone(postTo: TestIdp, rp = idp.jwtRp, redirectUri: string = RP_JWT.redirectUri, scanOn = idp) {
  const login = await startLogin(idp, rp, redirectUri);
  const link = new URL(login.link);
  const view = (await (
    await scanOn.fetch(new URL(link.pathname + link.search, scanOn.server.url))
  ).json()) as CompanionViewJson;
  // The browser hears of the scan (on node B: through the change feed) before the token comes.
  assert.ok(await login.events.next('scanned'));
  const posted = await postTo.fetch(new URL(`/companion/${view.txn}/token`, postTo.server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(await cardToken(card, view.origin, view.challenge)),
  });
  assert.equal(posted.status, 200);
  const done = (await login.events.next('done')) as { redirect: string };
  await login.events.close();
  return { login, view, resume: done.redirect };
}

describe('card login on PostgreSQL + Redis', { skip }, () => {
  before(async () => {
    f = await createOpFixture();
    card = await f.newCard();
    // The streams read the store only once a minute here: what reaches a browser from the other node comes through
    // the change feed (Redis pub/sub), or not in time for the test.
    idp = await f.start({ store: 'postgres', eventPollMs: 60_000 });
    nodeB = await f.start({ nodeOf: idp, eventPollMs: 60_000 });
  });
  after(() => f?.close());

  it('logs in end to end across two nodes (page on A, scan and token on B) with a pairwise sub, the card acr and amr', async () => {
    const { login, view, resume } = await untilDone(nodeB, undefined, undefined, nodeB);
    assert.equal(view.origin, nodeB.server.issuer, 'both nodes are one issuer');
    const { url } = await login.agent.follow(resume);
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, url, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const claims = tokens.claims()!;
    assert.equal(claims.acr, 'urn:mynagate:acr:card-auth');
    assert.deepEqual(claims['amr'], ['hwk', 'pin', 'sc']);
    const credential = await idp.stores.records.findCredentialByFingerprint(card.fingerprint);
    assert.ok(credential);
    assert.notEqual(claims.sub, credential.personId);
  });

  it('refuses a replayed code on the shared store (invalid_grant)', async () => {
    const { login, resume } = await untilDone(idp);
    const { url } = await login.agent.follow(resume);
    const checks = { pkceCodeVerifier: login.codeVerifier, expectedState: login.state };
    await client.authorizationCodeGrant(idp.jwtRp, url, checks);
    await assert.rejects(client.authorizationCodeGrant(idp.jwtRp, url, checks), { error: 'invalid_grant' });
  });

  it('a resume whose interaction another node destroyed meanwhile is refused, though this node had just written it', async () => {
    const { login, resume } = await untilDone(idp);
    // Node A wrote the finished interaction and would answer its resume from memory; node B takes it first.
    await nodeB.stores.adapter('Interaction').destroy(login.uid);
    const { url, response } = await login.agent.follow(resume);
    assert.equal(response.status, 400, url.href);
    const page = await response.text();
    // node-oidc-provider's SessionNotFound, shown as the interaction pages show an interaction that is gone.
    assert.match(page, /<code id="error">ERR_IDP_INTERACTION_NOT_FOUND<\/code\s*>/);
    assert.doesNotMatch(page, /interaction session not found/, 'the library text is not shown');
  });

  it('a code redeemed on another node and replayed to the node that issued it is invalid_grant, and its tokens are revoked', async () => {
    const { login, resume } = await untilDone(idp, idp.secretRp, RP_SECRET.redirectUri);
    // Node A wrote the code on resume (and would answer its redemption from memory).
    const { url } = await login.agent.follow(resume);
    const tokenPath = new URL(idp.secretRp.serverMetadata().token_endpoint!).pathname;
    const redeem = (on: TestIdp) =>
      on.fetch(new URL(tokenPath, on.server.url), {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${RP_SECRET.clientId}:${RP_SECRET.secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: url.searchParams.get('code')!,
          redirect_uri: RP_SECRET.redirectUri,
          code_verifier: login.codeVerifier,
        }),
      });
    const first = await redeem(nodeB);
    assert.equal(first.status, 200);
    const { access_token: accessToken } = (await first.json()) as { access_token: string };
    const userinfo = () =>
      nodeB.fetch(new URL('/userinfo', nodeB.server.url), { headers: { authorization: `Bearer ${accessToken}` } });
    assert.equal((await userinfo()).status, 200);
    const replay = await redeem(idp);
    assert.equal(replay.status, 400);
    assert.equal(((await replay.json()) as { error: string }).error, 'invalid_grant');
    assert.equal((await userinfo()).status, 401, 'the access token of the replayed code is revoked');
  });

  it('a card login whose interaction another node deleted meanwhile is refused on the stream, and the interaction stays gone', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await (await idp.fetch(login.link)).json()) as CompanionViewJson;
    await nodeB.stores.adapter('Interaction').destroy(login.uid);
    const posted = await idp.fetch(new URL(`/companion/${view.txn}/token`, idp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await cardToken(card, view.origin, view.challenge)),
    });
    assert.equal(posted.status, 200);
    const refused = (await login.events.next('refused')) as { error: string } | undefined;
    await login.events.close();
    assert.equal(refused?.error, 'ERR_IDP_INTERACTION_NOT_FOUND');
    assert.equal(await nodeB.stores.adapter('Interaction').find(login.uid), undefined);
  });
});
