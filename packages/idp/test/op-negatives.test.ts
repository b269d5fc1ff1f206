/**
 * The provider's refusals, each from one valid request with one thing changed, asserting the exact OAuth error
 * (RFC 6749 §4.1.2.1, §5.2; RFC 7636 §4.6; RFC 7523 §3): unregistered redirect_uri, missing or plain PKCE, wrong
 * code_verifier, replayed code, a private_key_jwt assertion signed with an unregistered key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import {
  completeLogin,
  createOpFixture,
  RP_JWT,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let card: TestCard;

before(async () => {
  f = await createOpFixture();
  card = await f.newCard();
  idp = await f.start();
});
after(() => f.close());

/** A valid authorization URL of the private_key_jwt RP with `change` applied. */
async function authorizeUrl(change: (params: URLSearchParams) => void = () => {}): Promise<URL> {
  const url = client.buildAuthorizationUrl(idp.jwtRp, {
    redirect_uri: RP_JWT.redirectUri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  change(url.searchParams);
  return url;
}

/** A logged-in callback (code in hand) and its verifier. */
async function codeInHand(): Promise<{ callback: URL; codeVerifier: string; state: string }> {
  const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
  return { callback: await completeLogin(idp, login, card), codeVerifier: login.codeVerifier, state: login.state };
}

describe('authorization endpoint refusals', () => {
  it('refuses an unregistered redirect_uri on its own page (400 invalid_redirect_uri), never redirecting there', async () => {
    const url = await authorizeUrl((p) => p.set('redirect_uri', 'https://evil.example/cb'));
    const { url: at, response } = await idp.agent().follow(url);
    assert.equal(response.status, 400);
    assert.equal(at.origin, idp.server.url, 'no redirect to the unregistered URI');
    assert.match(await response.text(), /<code id="error">invalid_redirect_uri<\/code\s*>/);
  });

  it('refuses a request without PKCE (invalid_request to the registered redirect_uri)', async () => {
    const url = await authorizeUrl((p) => {
      p.delete('code_challenge');
      p.delete('code_challenge_method');
    });
    const { url: back } = await idp.agent().follow(url);
    assert.equal(back.origin + back.pathname, RP_JWT.redirectUri);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description') ?? '', /PKCE/);
  });

  it('refuses code_challenge_method=plain (only S256)', async () => {
    const url = await authorizeUrl((p) => p.set('code_challenge_method', 'plain'));
    const { url: back } = await idp.agent().follow(url);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
  });
});

describe('token endpoint refusals', () => {
  it('refuses a wrong code_verifier (invalid_grant)', async () => {
    const { callback, state } = await codeInHand();
    await assert.rejects(
      client.authorizationCodeGrant(idp.jwtRp, callback, {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: state,
      }),
      { name: 'ResponseBodyError', error: 'invalid_grant', status: 400 },
    );
  });

  it('refuses a replayed authorization code (invalid_grant)', async () => {
    const { callback, codeVerifier, state } = await codeInHand();
    await client.authorizationCodeGrant(idp.jwtRp, callback, { pkceCodeVerifier: codeVerifier, expectedState: state });
    await assert.rejects(
      client.authorizationCodeGrant(idp.jwtRp, callback, { pkceCodeVerifier: codeVerifier, expectedState: state }),
      { name: 'ResponseBodyError', error: 'invalid_grant', status: 400 },
    );
  });

  it('refuses a private_key_jwt assertion signed with an unregistered key (401 invalid_client)', async () => {
    const { callback, codeVerifier, state } = await codeInHand();
    await assert.rejects(
      client.authorizationCodeGrant(idp.strangerRp, callback, { pkceCodeVerifier: codeVerifier, expectedState: state }),
      { name: 'ResponseBodyError', error: 'invalid_client', status: 401 },
    );
  });
});

describe("the provider's own pages", () => {
  it('forbid framing, sniffing and scripts: the error page of an unknown client, the logout pages', async () => {
    // The logout confirmation is shown to a browser with a session (without one, node-oidc-provider posts on).
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    await completeLogin(idp, login, card);
    const pages: [string, Promise<Response>, number][] = [
      ['error', idp.fetch(await authorizeUrl((p) => p.set('client_id', 'nope')), { redirect: 'manual' }), 400],
      ['logout', login.agent.fetch(new URL('/session/end', idp.server.url)), 200],
      ['logged out', idp.fetch(new URL('/session/end/success', idp.server.url), { redirect: 'manual' }), 200],
    ];
    for (const [name, fetched, status] of pages) {
      const res = await fetched;
      assert.equal(res.status, status, name);
      assert.match(await res.text(), /<html/, name);
      assert.match(
        res.headers.get('content-security-policy') ?? '',
        /default-src 'none'.*frame-ancestors 'none'/,
        name,
      );
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', name);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', name);
    }
  });
});
