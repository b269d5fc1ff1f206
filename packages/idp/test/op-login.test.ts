/**
 * A whole card login over real HTTPS, with openid-client 6 as the relying party: authorize with PKCE S256 →
 * login page with the animated QR → the companion scans and posts a token signed by a virtual card (JpkiClient over
 * VirtualTransport), checked by the real verifier against the test JPKI's OCSP responder → code → tokens → an ES256
 * ID token with a pairwise `sub`, the card `acr` and RFC 8176 `amr`. On SQLite.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { pairwiseSubject } from '../src/pairwise.ts';
import {
  cardToken,
  completeLogin,
  createOpFixture,
  postToken,
  scan,
  type CompanionViewJson,
  RP_JWT,
  RP_SECRET,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let alice: TestCard;
let bob: TestCard;

before(async () => {
  f = await createOpFixture();
  [alice, bob] = await Promise.all([f.newCard(), f.newCard()]);
  idp = await f.start({ store: 'sqlite' });
});
after(() => f.close());

/** Checks an ES256 JWS against the provider's published JWKS (a real signature check, not a decode). */
async function verifyIdToken(
  jwt: string,
): Promise<{ header: Record<string, unknown>; payload: Record<string, unknown> }> {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  const jwks = (await (await idp.fetch(new URL('/jwks', idp.server.url))).json()) as {
    keys: Record<string, unknown>[];
  };
  const jwk = jwks.keys.find((k) => k['kid'] === header['kid']);
  assert.ok(jwk, 'the signing key is published');
  const ok = verify(
    'sha256',
    Buffer.from(`${h}.${p}`),
    { key: createPublicKey({ key: jwk as never, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
    Buffer.from(s, 'base64url'),
  );
  assert.equal(ok, true, 'ID token signature verifies');
  return { header, payload: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown> };
}

describe('card login end to end (openid-client RP, SQLite)', () => {
  it('logs in with a virtual card and returns an ES256 ID token with pairwise sub, card acr and amr hwk/pin/sc', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    assert.match(login.page, /テスト銀行/, 'the login page names the relying party');
    const callback = await completeLogin(idp, login, alice);
    assert.equal(callback.origin + callback.pathname, RP_JWT.redirectUri);
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, callback, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const claims = tokens.claims();
    assert.ok(claims);
    assert.equal(claims.acr, 'urn:mynagate:acr:card-auth');
    assert.deepEqual(claims['amr'], ['hwk', 'pin', 'sc']);
    const { header } = await verifyIdToken(tokens.id_token!);
    assert.equal(header['alg'], 'ES256');

    const credential = await idp.stores.records.findCredentialByFingerprint(alice.fingerprint);
    assert.ok(credential, 'the card was registered as a credential');
    assert.equal(claims.sub, pairwiseSubject(idp.pairwiseSecret, 'bank.example', credential.personId));
    assert.notEqual(claims.sub, credential.personId, 'the internal person id never leaves the server');
  });

  it('gives the same person the same sub on a second login and another sub to another sector', async () => {
    const first = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const tokens1 = await client.authorizationCodeGrant(idp.jwtRp, await completeLogin(idp, first, bob), {
      pkceCodeVerifier: first.codeVerifier,
      expectedState: first.state,
    });
    const again = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: { prompt: 'login' } });
    const tokens2 = await client.authorizationCodeGrant(idp.jwtRp, await completeLogin(idp, again, bob), {
      pkceCodeVerifier: again.codeVerifier,
      expectedState: again.state,
    });
    assert.equal(tokens1.claims()!.sub, tokens2.claims()!.sub);

    const shop = await startLogin(idp, idp.secretRp, RP_SECRET.redirectUri);
    const tokens3 = await client.authorizationCodeGrant(idp.secretRp, await completeLogin(idp, shop, bob), {
      pkceCodeVerifier: shop.codeVerifier,
      expectedState: shop.state,
    });
    assert.notEqual(tokens3.claims()!.sub, tokens1.claims()!.sub, 'pairwise: another sector, another sub');
    const credential = await idp.stores.records.findCredentialByFingerprint(bob.fingerprint);
    assert.equal(tokens3.claims()!.sub, pairwiseSubject(idp.pairwiseSecret, 'shop.example', credential!.personId));
  });

  it('keeps one person per card: two logins with the same card do not create two people', async () => {
    const credential = await idp.stores.records.findCredentialByFingerprint(bob.fingerprint);
    const all = await idp.stores.records.listCredentials(credential!.personId);
    assert.equal(all.length, 1);
  });

  it('reuses the session without the card unless prompt=login or max_age demands a fresh card login', async () => {
    const agent = idp.agent();
    const first = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { agent });
    await completeLogin(idp, first, alice);

    const sso = client.buildAuthorizationUrl(idp.jwtRp, {
      redirect_uri: RP_JWT.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const quiet = await agent.follow(sso);
    assert.equal(quiet.url.origin, 'https://bank.example', 'an existing card session answers without a new login');
    assert.ok(quiet.url.searchParams.get('code'));

    for (const extra of [{ prompt: 'login' }, { max_age: '0' }]) {
      const fresh = new URL(sso);
      for (const [k, v] of Object.entries(extra)) fresh.searchParams.set(k, v);
      const res = await agent.follow(fresh);
      assert.match(res.url.pathname, /^\/interaction\//, `${JSON.stringify(extra)} forces the card login page`);
      await res.response.body?.cancel();
    }
  });

  it("links the page's card-reader button to the bridge's port: 24727, or the configured bridgePort", async () => {
    const bridgeOf = (page: string) => /id="bridge"[^>]* href="([^"]+)"/.exec(page)?.[1]?.replaceAll('&amp;', '&');
    const shown = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    await shown.events.close();
    const href = new URL(bridgeOf(shown.page)!);
    assert.equal(href.origin, 'http://127.0.0.1:24727');
    assert.equal(href.searchParams.get('link'), shown.link, 'the bridge gets the QR link');
    const other = await f.start({ store: 'sqlite', bridgePort: 30123 });
    try {
      const moved = await startLogin(other, other.jwtRp, RP_JWT.redirectUri);
      await moved.events.close();
      assert.equal(new URL(bridgeOf(moved.page)!).origin, 'http://127.0.0.1:30123');
    } finally {
      await other.close();
    }
  });

  it('a grant deleted after the login finished (before the RP redeems the code) yields no tokens: invalid_grant', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    assert.equal((await postToken(idp, view.txn, await cardToken(alice, view.origin, view.challenge))).status, 200);
    const done = (await login.events.next('done', 10_000)) as { redirect: string };
    await login.events.close();
    // The interaction carries the grant the login saved; revoking the consent deletes it.
    const interaction = await idp.stores.adapter('Interaction').find(login.uid);
    const grantId = (interaction?.['result'] as { consent: { grantId: string } }).consent.grantId;
    await idp.stores.adapter('Grant').destroy(grantId);
    const { url: callback } = await login.agent.follow(done.redirect);
    await assert.rejects(
      client.authorizationCodeGrant(idp.jwtRp, callback, {
        pkceCodeVerifier: login.codeVerifier,
        expectedState: login.state,
      }),
      (e: client.ResponseBodyError) => e.error === 'invalid_grant',
    );
  });

  it('ends the session by RP-initiated logout', async () => {
    const agent = idp.agent();
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { agent });
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, await completeLogin(idp, login, alice), {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const end = client.buildEndSessionUrl(idp.jwtRp, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: 'https://bank.example/bye',
    });
    const confirm = await agent.follow(end);
    assert.equal(confirm.response.status, 200);
    const page = await confirm.response.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1];
    const action = /action="([^"]+)"/.exec(page)?.[1];
    assert.ok(xsrf && action, 'the logout confirmation form is shown');
    const done = await agent.follow(new URL(action, idp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    });
    assert.equal(done.url.href, 'https://bank.example/bye');

    const sso = client.buildAuthorizationUrl(idp.jwtRp, {
      redirect_uri: RP_JWT.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const after = await agent.follow(sso);
    assert.match(after.url.pathname, /^\/interaction\//, 'after logout the card is needed again');
    await after.response.body?.cancel();
  });
});
