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

describe('card login on PostgreSQL + Redis', { skip }, () => {
  before(async () => {
    f = await createOpFixture();
    card = await f.newCard();
    idp = await f.start({ store: 'postgres' });
    nodeB = await f.start({ nodeOf: idp });
  });
  after(() => f?.close());

  it('logs in end to end across two nodes (page on A, token posted to B) with a pairwise sub, the card acr and amr', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await (await idp.fetch(login.link)).json()) as CompanionViewJson;
    assert.equal(view.origin, nodeB.server.issuer, 'both nodes are one issuer');
    const posted = await nodeB.fetch(new URL(`/companion/${view.txn}/token`, nodeB.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await cardToken(card, view.origin, view.challenge)),
    });
    assert.equal(posted.status, 200);
    const done = (await login.events.next('done')) as { redirect: string };
    await login.events.close();
    const { url } = await login.agent.follow(done.redirect);
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
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await (await idp.fetch(login.link)).json()) as CompanionViewJson;
    await idp.fetch(new URL(`/companion/${view.txn}/token`, idp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await cardToken(card, view.origin, view.challenge)),
    });
    const done = (await login.events.next('done')) as { redirect: string };
    await login.events.close();
    const { url } = await login.agent.follow(done.redirect);
    const checks = { pkceCodeVerifier: login.codeVerifier, expectedState: login.state };
    await client.authorizationCodeGrant(idp.jwtRp, url, checks);
    await assert.rejects(client.authorizationCodeGrant(idp.jwtRp, url, checks), { error: 'invalid_grant' });
  });
});
