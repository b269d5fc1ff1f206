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
 * A card login on node A up to its `done` event: page and scan on A, the token posted to `postTo`. Returns the
 * login, what the companion saw and the resume URL.
 */
async function untilDone(postTo: TestIdp) {
  const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
  const view = (await (await idp.fetch(login.link)).json()) as CompanionViewJson;
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
    idp = await f.start({ store: 'postgres' });
    nodeB = await f.start({ nodeOf: idp });
  });
  after(() => f?.close());

  it('logs in end to end across two nodes (page on A, token posted to B) with a pairwise sub, the card acr and amr', async () => {
    const { login, view, resume } = await untilDone(nodeB);
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
    assert.match(page, /<code id="error">invalid_request<\/code\s*>/);
    assert.match(page, /interaction session not found/);
  });
});
