/**
 * What the provider advertises (OpenID Connect Discovery 1.0, RFC 8414) and serves at its JWKS endpoint, key
 * rotation included, and PAR (RFC 9126) leading to the card login page.
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
  type TestIdp,
} from './support/op-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let meta: Record<string, unknown>;

before(async () => {
  f = await createOpFixture();
  idp = await f.start();
  meta = (await (await idp.fetch(new URL('/.well-known/openid-configuration', idp.server.url))).json()) as Record<
    string,
    unknown
  >;
});
after(() => f.close());

describe('discovery', () => {
  it('names the https issuer it serves', () => {
    assert.equal(meta['issuer'], idp.server.issuer);
    assert.match(String(meta['issuer']), /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('advertises PKCE with S256 only', () => {
    assert.deepEqual(meta['code_challenge_methods_supported'], ['S256']);
  });

  it('advertises pairwise subjects only (by default)', () => {
    assert.deepEqual(meta['subject_types_supported'], ['pairwise']);
  });

  it('advertises ES256 as the only ID token signing algorithm', () => {
    assert.deepEqual(meta['id_token_signing_alg_values_supported'], ['ES256']);
  });

  it('advertises PAR', () => {
    assert.equal(meta['pushed_authorization_request_endpoint'], `${idp.server.issuer}/request`);
    assert.notEqual(meta['require_pushed_authorization_requests'], true, 'PAR is offered, not required');
  });

  it('advertises private_key_jwt, client_secret_basic, client_secret_post and none (native apps only), nothing else', () => {
    assert.deepEqual([...(meta['token_endpoint_auth_methods_supported'] as string[])].sort(), [
      'client_secret_basic',
      'client_secret_post',
      'none',
      'private_key_jwt',
    ]);
  });

  it('advertises the card ACRs and the claims acr, amr, auth_time', () => {
    assert.deepEqual(meta['acr_values_supported'], ['urn:mynagate:acr:card-auth', 'urn:mynagate:acr:card-sign']);
    for (const claim of ['sub', 'acr', 'amr', 'auth_time']) {
      assert.ok((meta['claims_supported'] as string[]).includes(claim), claim);
    }
  });

  it('advertises the code flow only and RP-initiated logout', () => {
    assert.deepEqual(meta['response_types_supported'], ['code']);
    assert.equal(meta['end_session_endpoint'], `${idp.server.issuer}/session/end`);
  });
});

describe('JWKS and key rotation', () => {
  it('publishes only public keys', async () => {
    const jwks = (await (await idp.fetch(String(meta['jwks_uri']))).json()) as { keys: Record<string, unknown>[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!['kty'], 'EC');
    assert.equal(jwks.keys[0]!['crv'], 'P-256');
    assert.equal(jwks.keys[0]!['d'], undefined);
  });

  it('signs with the new key after rotateKeys() and keeps the old key published', async () => {
    const before = (await (await idp.fetch(String(meta['jwks_uri']))).json()) as { keys: { kid: string }[] };
    const rotated = idp.server.rotateKeys({ keep: 1 });
    assert.equal(rotated.keys.length, 2);
    const after = (await (await idp.fetch(String(meta['jwks_uri']))).json()) as { keys: { kid: string }[] };
    assert.deepEqual(
      after.keys.map((k) => k.kid),
      [rotated.keys[0]!.kid, before.keys[0]!.kid],
    );

    const card = await f.newCard();
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, await completeLogin(idp, login, card), {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { kid: string };
    assert.equal(header.kid, rotated.keys[0]!.kid);
  });
});

describe('pushed authorization requests', () => {
  it('accepts a PAR from a private_key_jwt client and leads the browser to the card login page', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = await client.buildAuthorizationUrlWithPAR(idp.jwtRp, {
      redirect_uri: RP_JWT.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    assert.ok(url.searchParams.get('request_uri')?.startsWith('urn:ietf:params:oauth:request_uri:'));
    const { url: page, response } = await idp.agent().follow(url);
    assert.equal(response.status, 200);
    assert.match(page.pathname, /^\/interaction\//);
    await response.body?.cancel();
  });
});
