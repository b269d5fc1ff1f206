/**
 * A native app registered through the library API (not `serve --config`): `application_type: "native"` with a
 * private-use URI scheme redirect (RFC 8252 §7.1), its backend holding the key (private_key_jwt). It gets card login,
 * end to end over real HTTPS: the login page and the companion name it as the app (never the origin "null"), the code
 * comes back to its scheme (read from the Location header: no HTTP client follows it), and its `sub` is pairwise for
 * its scheme. Its eKYC requests (the card-signature ACR, verified, basic-4 or derived claims; authorization or PAR)
 * are refused before any interaction with OAuth `invalid_request` and `ERR_IDP_CLIENT_LOGIN_ONLY`, so nothing is ever
 * signed; so are a library-registered web client's whose redirect no statement can name (http off loopback). An https
 * client's eKYC still reaches the card login (the eKYC tests cover the rest of its flow).
 *
 * A desktop app registered with a loopback IP redirect without a port (RFC 8252 §7.3, `http://127.0.0.1/cb`) logs in
 * with a request on the port it opened at login time: node-oidc-provider takes any port of a native client's loopback
 * redirect. Its `sub` is pairwise for the app, not for the host 127.0.0.1 every desktop app shares; beside this https
 * provider it gets card login only. A web client's loopback redirect keeps its port.
 *
 * A public native app (`token_endpoint_auth_method: "none"`, RFC 8252 §8.5: an app cannot keep a secret) redeems its
 * code with no client authentication, its PKCE verifier alone binding the code to the app instance: without the
 * verifier the code is refused. With `offline_access` consented its refresh tokens rotate on every use, a used one sent
 * again revoking the grant (RFC 9700 §4.14.2), and it revokes its own tokens. A confidential client cannot downgrade to
 * no client authentication.
 *
 * A public client gets card login only, whatever its redirects: a public native app registered with claimed https
 * redirects ("universal links", "app links"), which a statement could name, logs in with the card, and its eKYC
 * requests (authorization or PAR) are refused exactly as a private-use app's, `invalid_request` with
 * `ERR_IDP_CLIENT_LOGIN_ONLY`, saying it is public: the identity would go to whoever completes the PKCE flow on a
 * device. The same app registered as a confidential client (its server holding the key) still gets eKYC.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { pairwiseSubject } from '../src/pairwise.ts';
import { consent, loginThenStop } from './support/ekyc-fixture.ts';
import {
  completeLogin,
  createOpFixture,
  RP_JWT,
  RP_SECRET,
  scan,
  startLogin,
  type CompanionViewJson,
  type OpFixture,
  type StartedLogin,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

const APP = Object.freeze({
  clientId: 'bank-app',
  name: 'テスト銀行アプリ',
  redirectUri: 'jp.example.bank:/oauth2redirect',
  label: 'アプリ / app: jp.example.bank',
});
/** A web client registered through the library with an http redirect off the loopback host (serve refuses it). */
const PLAIN_HTTP = Object.freeze({
  clientId: 'plain-http',
  redirectUri: 'http://plain.example/cb',
  secret: 'a-client-secret-of-at-least-32-chars!',
});
/** A desktop app: a loopback IP redirect registered without a port, the port chosen at login time (RFC 8252 §7.3). */
const DESKTOP = Object.freeze({
  clientId: 'desk-app',
  registered: 'http://127.0.0.1/cb',
  requested: 'http://127.0.0.1:53211/cb',
});
/** A web client registered through the library with a loopback http redirect on port 7000. */
const WEB_LOOPBACK = Object.freeze({
  clientId: 'web-loopback',
  redirectUri: 'http://127.0.0.1:7000/cb',
  secret: 'another-client-secret-of-32-chars!!',
});
/** An app registered with its own scheme and, beside it, the bank app's: it must not get the bank app's `sub`s. */
const TWO_SCHEMES = Object.freeze({
  clientId: 'two-schemes',
  redirectUri: 'jp.evil:/cb',
  also: APP.redirectUri,
});
/** A public native app: no secret, no key; PKCE binds each code to the app instance (RFC 8252 §8.5). */
const PUBLIC_APP = Object.freeze({
  clientId: 'pub-app',
  name: '公開アプリ / Public app',
  redirectUri: 'jp.example.pubapp:/oauth2redirect',
});
/** A public native app with claimed https redirects ("universal links"): a statement could name them. */
const PUBLIC_LINKS = Object.freeze({
  clientId: 'pub-links',
  name: '公開リンクアプリ / Public links app',
  redirectUri: 'https://links.example/app/cb',
});
/** The same kind of app registered as a confidential client: its server holds the key (private_key_jwt). */
const LINKS_APP = Object.freeze({ clientId: 'links-app', redirectUri: 'https://links.example/backend-app/cb' });
const CODE = 'ERR_IDP_CLIENT_LOGIN_ONLY';
/** The `error_description` of a refusal of eKYC to a client whose redirect no statement can name. */
const REDIRECT_REFUSAL = `${CODE}: eKYC is not offered to this client (card login only): a signed statement cannot name its redirect URI`;
/** The `error_description` of a refusal of eKYC to a public client. */
const PUBLIC_REFUSAL = `${CODE}: eKYC is not offered to this client (card login only): it is a public client, with no client authentication at the token endpoint; identity data goes to a confidential client only`;

let f: OpFixture;
let idp: TestIdp;
let alice: TestCard;
let appRp: client.Configuration;
let plainRp: client.Configuration;
let desktopRp: client.Configuration;
let webLoopbackRp: client.Configuration;
let twoSchemesRp: client.Configuration;
let publicRp: client.Configuration;
let publicLinksRp: client.Configuration;
let linksAppRp: client.Configuration;
/** {@link RP_SECRET} (client_secret_basic) sending no client authentication, as a public client does. */
let secretAsPublicRp: client.Configuration;

before(async () => {
  f = await createOpFixture();
  alice = await f.newCard();
  const appKey = { ...createPublicKey(f.rpKey).export({ format: 'jwk' }), kid: 'rp-1', alg: 'ES256', use: 'sig' };
  idp = await f.start({
    store: 'sqlite',
    clients: [
      {
        client_id: APP.clientId,
        client_name: APP.name,
        application_type: 'native',
        redirect_uris: [APP.redirectUri],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [appKey] },
      },
      {
        client_id: PLAIN_HTTP.clientId,
        client_secret: PLAIN_HTTP.secret,
        redirect_uris: [PLAIN_HTTP.redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: DESKTOP.clientId,
        application_type: 'native',
        redirect_uris: [DESKTOP.registered],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [appKey] },
      },
      {
        client_id: TWO_SCHEMES.clientId,
        application_type: 'native',
        redirect_uris: [TWO_SCHEMES.redirectUri, TWO_SCHEMES.also],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [appKey] },
      },
      {
        client_id: WEB_LOOPBACK.clientId,
        client_secret: WEB_LOOPBACK.secret,
        redirect_uris: [WEB_LOOPBACK.redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: PUBLIC_APP.clientId,
        client_name: PUBLIC_APP.name,
        application_type: 'native',
        redirect_uris: [PUBLIC_APP.redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
      },
      {
        client_id: PUBLIC_LINKS.clientId,
        client_name: PUBLIC_LINKS.name,
        application_type: 'native',
        redirect_uris: [PUBLIC_LINKS.redirectUri],
        token_endpoint_auth_method: 'none',
      },
      {
        client_id: LINKS_APP.clientId,
        application_type: 'native',
        redirect_uris: [LINKS_APP.redirectUri],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [appKey] },
      },
    ],
  });
  const options = { [client.customFetch]: idp.fetch as client.CustomFetch };
  const key = (await f.rpKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])) as never;
  appRp = await client.discovery(
    new URL(idp.server.issuer),
    APP.clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.PrivateKeyJwt({ key, kid: 'rp-1' }),
    options,
  );
  plainRp = await client.discovery(
    new URL(idp.server.issuer),
    PLAIN_HTTP.clientId,
    {},
    client.ClientSecretBasic(PLAIN_HTTP.secret),
    options,
  );
  desktopRp = await client.discovery(
    new URL(idp.server.issuer),
    DESKTOP.clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.PrivateKeyJwt({ key, kid: 'rp-1' }),
    options,
  );
  twoSchemesRp = await client.discovery(
    new URL(idp.server.issuer),
    TWO_SCHEMES.clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.PrivateKeyJwt({ key, kid: 'rp-1' }),
    options,
  );
  webLoopbackRp = await client.discovery(
    new URL(idp.server.issuer),
    WEB_LOOPBACK.clientId,
    {},
    client.ClientSecretBasic(WEB_LOOPBACK.secret),
    options,
  );
  publicRp = await client.discovery(
    new URL(idp.server.issuer),
    PUBLIC_APP.clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.None(),
    options,
  );
  publicLinksRp = await client.discovery(
    new URL(idp.server.issuer),
    PUBLIC_LINKS.clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.None(),
    options,
  );
  linksAppRp = await client.discovery(
    new URL(idp.server.issuer),
    LINKS_APP.clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.PrivateKeyJwt({ key, kid: 'rp-1' }),
    options,
  );
  secretAsPublicRp = await client.discovery(new URL(idp.server.issuer), RP_SECRET.clientId, {}, client.None(), options);
});
after(() => f.close());

/** An authorization request of `rp` back to `redirectUri`, with `extra` parameters. */
async function authorizationUrl(
  rp: client.Configuration,
  redirectUri: string,
  extra: Record<string, string>,
): Promise<{ url: URL; state: string }> {
  const state = client.randomState();
  const challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    ...extra,
  });
  return { url, state };
}

/** The authorization response at `callback` of `login`: state and issuer (RFC 9207) checked, a code present. */
function assertCodeFor(login: StartedLogin, callback: URL): void {
  assert.equal(callback.searchParams.get('state'), login.state);
  assert.equal(callback.searchParams.get('iss'), idp.server.issuer);
  assert.ok(callback.searchParams.get('code'));
}

/** The code at `callback` redeemed by `rp`: the ID token's claims, and the person id of alice's card. */
async function redeem(
  rp: client.Configuration,
  login: StartedLogin,
  callback: URL,
): Promise<{ readonly claims: client.IDToken; readonly personId: string }> {
  const tokens = await client.authorizationCodeGrant(rp, callback, {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  const credential = await idp.stores.records.findCredentialByFingerprint(alice.fingerprint);
  assert.ok(credential);
  return { claims: tokens.claims()!, personId: credential.personId };
}

/**
 * Asks `rp` for eKYC (`extra`) at `redirectUri` and checks the refusal: before any interaction (no login page, no
 * signing page, nothing for a card to sign), a 303 back to that redirect URI with `invalid_request`, `description`,
 * the request's state and the issuer (RFC 9207).
 */
async function assertRefusedAtRedirect(
  rp: client.Configuration,
  redirectUri: string,
  extra: Record<string, string>,
  description: string,
): Promise<void> {
  const { url, state } = await authorizationUrl(rp, redirectUri, extra);
  const res = await idp.agent().fetch(url);
  await res.body?.cancel();
  assert.equal(res.status, 303);
  const back = new URL(res.headers.get('location')!);
  // A private-use scheme's URL has no origin ("null"): its scheme and path are the redirect URI.
  const at = back.origin === 'null' ? `${back.protocol}${back.pathname}` : `${back.origin}${back.pathname}`;
  assert.equal(at, redirectUri, 'the refusal goes back to the app');
  assert.equal(back.searchParams.get('error'), 'invalid_request');
  assert.equal(back.searchParams.get('error_description'), description);
  assert.equal(back.searchParams.get('state'), state);
  assert.equal(back.searchParams.get('iss'), idp.server.issuer);
  assert.deepEqual(
    res.headers.getSetCookie().filter((c) => /interaction/.test(c)),
    [],
  );
}

/** The eKYC requests of this provider: each asks the person to sign a statement naming the service. */
const EKYC_REQUESTS: readonly (readonly [string, Record<string, string>])[] = [
  ['the card-signature ACR', { acr_values: 'urn:mynagate:acr:card-sign' }],
  [
    'verified_claims',
    {
      acr_values: 'urn:mynagate:acr:card-auth',
      claims: JSON.stringify({
        id_token: { verified_claims: { verification: { trust_framework: null }, claims: { given_name: null } } },
      }),
    },
  ],
  ['a basic-4 claim in userinfo', { claims: JSON.stringify({ userinfo: { birthdate: null } }) }],
  ['a derived claim', { claims: JSON.stringify({ id_token: { age_over_20: { essential: true } } }) }],
];

describe('a native app (private-use scheme redirect) registered through the library', () => {
  it('logs in with the card: named as the app, the code returned to its scheme, a pairwise sub of its own', async () => {
    const login = await startLogin(idp, appRp, APP.redirectUri);
    assert.equal(/id="client-name">([^<]*)</.exec(login.page)?.[1], APP.name);
    assert.equal(/id="client-origin">([^<]*)</.exec(login.page)?.[1], 'アプリ / app: jp.example.bank');
    assert.doesNotMatch(login.page, /\(<span id="client-origin">null</);

    const scanned = await scan(idp, login.link);
    assert.equal(scanned.status, 200);
    const view = scanned.body as unknown as CompanionViewJson;
    assert.equal(view.clientName, APP.name);
    assert.equal(view.clientOrigin, APP.label, 'the companion names the app too');

    // The code goes to the app's scheme: the browser stops there (Agent.follow returns the Location).
    const callback = await completeLogin(idp, login, alice);
    assert.equal(callback.protocol, 'jp.example.bank:');
    assert.equal(`${callback.protocol}${callback.pathname}`, APP.redirectUri);
    assertCodeFor(login, callback);

    const { claims, personId } = await redeem(appRp, login, callback);
    assert.equal(claims.acr, 'urn:mynagate:acr:card-auth');
    // The sector of a private-use redirect is its scheme with the colon: never a host, so never a web service's.
    assert.equal(claims.sub, pairwiseSubject(idp.pairwiseSecret, 'jp.example.bank:', personId));
    assert.notEqual(claims.sub, pairwiseSubject(idp.pairwiseSecret, 'bank.example', personId));
  });

  it('an app registered with another app’s scheme beside its own gets subs of its own, not that app’s', async () => {
    const login = await startLogin(idp, twoSchemesRp, TWO_SCHEMES.redirectUri);
    const callback = await completeLogin(idp, login, alice);
    assert.equal(callback.protocol, 'jp.evil:');
    const { claims, personId } = await redeem(twoSchemesRp, login, callback);
    // Its sector is every scheme it holds, sorted: never the first one's alone (node-oidc-provider asks no
    // sector_identifier_uri of it, as a private-use URI has no host).
    assert.equal(claims.sub, pairwiseSubject(idp.pairwiseSecret, 'jp.evil: jp.example.bank:', personId));
    assert.notEqual(claims.sub, pairwiseSubject(idp.pairwiseSecret, 'jp.example.bank:', personId));
    assert.notEqual(claims.sub, pairwiseSubject(idp.pairwiseSecret, 'jp.evil:', personId));
  });

  for (const [name, extra] of EKYC_REQUESTS) {
    it(`refuses its eKYC (${name}) at the authorization endpoint, before any interaction: ${CODE}`, async () => {
      await assertRefusedAtRedirect(appRp, APP.redirectUri, extra, REDIRECT_REFUSAL);
    });
  }

  it(`refuses its eKYC pushed by PAR (RFC 9126) with invalid_request ${CODE}`, async () => {
    const codeChallenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
    await assert.rejects(
      client.buildAuthorizationUrlWithPAR(appRp, {
        redirect_uri: APP.redirectUri,
        scope: 'openid',
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        acr_values: 'urn:mynagate:acr:card-sign',
      }),
      (e: { error?: string; error_description?: string }) =>
        e.error === 'invalid_request' && e.error_description?.startsWith(`${CODE}: `) === true,
    );
  });

  it(`refuses eKYC to a web client whose redirect no statement can name (http off loopback): ${CODE}`, async () => {
    const { url } = await authorizationUrl(plainRp, PLAIN_HTTP.redirectUri, {
      acr_values: 'urn:mynagate:acr:card-sign',
    });
    const res = await idp.agent().fetch(url);
    await res.body?.cancel();
    assert.equal(res.status, 303);
    const back = new URL(res.headers.get('location')!);
    assert.equal(back.origin, 'http://plain.example');
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description') ?? '', new RegExp(`^${CODE}: `));
  });

  it("still takes an https client's eKYC to the card login", async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: { acr_values: 'urn:mynagate:acr:card-sign' },
    });
    assert.equal(/id="client-origin">([^<]*)</.exec(login.page)?.[1], 'https://bank.example');
    await login.events.close();
  });
});

describe('a desktop app (loopback IP redirect, RFC 8252 §7.3) beside an https provider', () => {
  it('logs in on the port it opened at login time: the code comes back there, with a sub of its own', async () => {
    const login = await startLogin(idp, desktopRp, DESKTOP.requested);
    assert.equal(/id="client-origin">([^<]*)</.exec(login.page)?.[1], 'http://127.0.0.1:53211');

    // The browser stops at the app's loopback port (another origin: Agent.follow returns the Location).
    const callback = await completeLogin(idp, login, alice);
    assert.equal(`${callback.origin}${callback.pathname}`, DESKTOP.requested);
    assertCodeFor(login, callback);

    const { claims, personId } = await redeem(desktopRp, login, callback);
    assert.equal(claims.acr, 'urn:mynagate:acr:card-auth');
    // 127.0.0.1 is every desktop app's host: the sector is the app's own, never that host.
    assert.equal(claims.sub, pairwiseSubject(idp.pairwiseSecret, 'loopback app desk-app', personId));
    assert.notEqual(claims.sub, pairwiseSubject(idp.pairwiseSecret, '127.0.0.1', personId));
  });

  for (const [name, extra] of EKYC_REQUESTS) {
    it(`refuses its eKYC (${name}) before any interaction, back to the port of the request: ${CODE}`, async () => {
      await assertRefusedAtRedirect(desktopRp, DESKTOP.requested, extra, REDIRECT_REFUSAL);
    });
  }

  it('a web client cannot use another port of its loopback redirect: invalid_redirect_uri, nothing sent there', async () => {
    const { url } = await authorizationUrl(webLoopbackRp, 'http://127.0.0.1:53211/cb', {});
    const res = await idp.agent().fetch(url);
    const page = await res.text();
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
    assert.match(page, /invalid_redirect_uri/);
    // Its own port still starts a login.
    const login = await startLogin(idp, webLoopbackRp, WEB_LOOPBACK.redirectUri);
    await login.events.close();
  });
});

describe('a public native app (token_endpoint_auth_method none, RFC 8252 §8.5)', () => {
  it('logs in with the card and redeems its code with no client authentication, only its PKCE verifier', async () => {
    const login = await startLogin(idp, publicRp, PUBLIC_APP.redirectUri);
    assert.equal(/id="client-origin">([^<]*)</.exec(login.page)?.[1], 'アプリ / app: jp.example.pubapp');
    const callback = await completeLogin(idp, login, alice);
    assert.equal(`${callback.protocol}${callback.pathname}`, PUBLIC_APP.redirectUri);
    assertCodeFor(login, callback);

    const { claims, personId } = await redeem(publicRp, login, callback);
    assert.equal(claims.aud, PUBLIC_APP.clientId);
    assert.equal(claims.acr, 'urn:mynagate:acr:card-auth');
    assert.equal(claims.sub, pairwiseSubject(idp.pairwiseSecret, 'jp.example.pubapp:', personId));
  });

  it('a code sent without its PKCE verifier, or with another, is refused (invalid_grant); the app’s own redeems it', async () => {
    const login = await startLogin(idp, publicRp, PUBLIC_APP.redirectUri);
    const callback = await completeLogin(idp, login, alice);
    // Whoever caught the code on its way to the app's scheme has no verifier: nothing else stands for the app.
    await assert.rejects(client.authorizationCodeGrant(publicRp, callback, { expectedState: login.state }), {
      error: 'invalid_grant',
    });
    await assert.rejects(
      client.authorizationCodeGrant(publicRp, callback, {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: login.state,
      }),
      { error: 'invalid_grant' },
    );
    const { claims } = await redeem(publicRp, login, callback);
    assert.equal(claims.aud, PUBLIC_APP.clientId);
  });

  it('with offline_access consented, its refresh token rotates on every use; a used one sent again revokes the grant', async () => {
    const login = await startLogin(idp, publicRp, PUBLIC_APP.redirectUri, {
      extra: { scope: 'openid offline_access', prompt: 'consent' },
    });
    const back = await consent(login.agent, await loginThenStop(idp, login, alice));
    assert.equal(`${back.url.protocol}${back.url.pathname}`, PUBLIC_APP.redirectUri);
    const tokens = await client.authorizationCodeGrant(publicRp, back.url, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    assert.ok(tokens.refresh_token, 'offline_access was consented');

    const refreshed = await client.refreshTokenGrant(publicRp, tokens.refresh_token);
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'rotated on use');
    // RFC 9700 §4.14.2: a public client's refresh token is rotated, and a used one sent again is a stolen copy.
    await assert.rejects(client.refreshTokenGrant(publicRp, tokens.refresh_token), { error: 'invalid_grant' });
    await assert.rejects(client.refreshTokenGrant(publicRp, refreshed.refresh_token), { error: 'invalid_grant' });
  });

  it('revokes its own access token with no client authentication', async () => {
    const login = await startLogin(idp, publicRp, PUBLIC_APP.redirectUri);
    const callback = await completeLogin(idp, login, alice);
    const tokens = await client.authorizationCodeGrant(publicRp, callback, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const sub = tokens.claims()!.sub;
    assert.equal((await client.fetchUserInfo(publicRp, tokens.access_token, sub)).sub, sub);
    await client.tokenRevocation(publicRp, tokens.access_token);
    await assert.rejects(
      client.fetchUserInfo(publicRp, tokens.access_token, sub),
      (e: { status?: number; cause?: { status?: number } }) => (e.status ?? e.cause?.status) === 401,
    );
  });

  it("revokes no other client's token: a public client's try revokes nothing (200), a confidential one's is invalid_request", async () => {
    const redeemFor = async (rp: client.Configuration, redirectUri: string) => {
      const login = await startLogin(idp, rp, redirectUri);
      const callback = await completeLogin(idp, login, alice);
      const tokens = await client.authorizationCodeGrant(rp, callback, {
        pkceCodeVerifier: login.codeVerifier,
        expectedState: login.state,
      });
      return { rp, token: tokens.access_token, sub: tokens.claims()!.sub };
    };
    const webToken = await redeemFor(idp.secretRp, RP_SECRET.redirectUri);
    const appToken = await redeemFor(publicRp, PUBLIC_APP.redirectUri);
    // RFC 7009 §2.2: 200 whether or not anything was revoked; the web service's token still works.
    await client.tokenRevocation(publicRp, webToken.token);
    assert.equal((await client.fetchUserInfo(webToken.rp, webToken.token, webToken.sub)).sub, webToken.sub);
    await assert.rejects(client.tokenRevocation(idp.secretRp, appToken.token), {
      error: 'invalid_request',
      error_description: 'client is not authorized to revoke the presented token',
    });
    assert.equal((await client.fetchUserInfo(appToken.rp, appToken.token, appToken.sub)).sub, appToken.sub);
  });

  it('a confidential client cannot downgrade to no client authentication (invalid_client); its secret still redeems the code', async () => {
    const login = await startLogin(idp, idp.secretRp, RP_SECRET.redirectUri);
    const callback = await completeLogin(idp, login, alice);
    assert.equal(`${callback.origin}${callback.pathname}`, RP_SECRET.redirectUri);
    const checks = { pkceCodeVerifier: login.codeVerifier, expectedState: login.state };
    await assert.rejects(client.authorizationCodeGrant(secretAsPublicRp, callback, checks), {
      error: 'invalid_client',
    });
    const tokens = await client.authorizationCodeGrant(idp.secretRp, callback, checks);
    assert.equal(tokens.claims()!.aud, RP_SECRET.clientId);
  });
});

describe('a public native app with claimed https redirects (universal links): card login only', () => {
  it('logs in with the card: the code comes back to its https redirect, redeemed with its PKCE verifier alone', async () => {
    const login = await startLogin(idp, publicLinksRp, PUBLIC_LINKS.redirectUri);
    assert.equal(/id="client-origin">([^<]*)</.exec(login.page)?.[1], 'https://links.example');
    const callback = await completeLogin(idp, login, alice);
    assert.equal(`${callback.origin}${callback.pathname}`, PUBLIC_LINKS.redirectUri);
    assertCodeFor(login, callback);
    const { claims, personId } = await redeem(publicLinksRp, login, callback);
    assert.equal(claims.aud, PUBLIC_LINKS.clientId);
    assert.equal(claims.acr, 'urn:mynagate:acr:card-auth');
    assert.equal(claims.sub, pairwiseSubject(idp.pairwiseSecret, 'links.example', personId));
  });

  for (const [name, extra] of EKYC_REQUESTS) {
    it(`refuses its eKYC (${name}) before any interaction, as a login-only client's: ${CODE}`, async () => {
      await assertRefusedAtRedirect(publicLinksRp, PUBLIC_LINKS.redirectUri, extra, PUBLIC_REFUSAL);
    });
  }

  it(`refuses its eKYC pushed by PAR (RFC 9126) with invalid_request ${CODE}`, async () => {
    const codeChallenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
    await assert.rejects(
      client.buildAuthorizationUrlWithPAR(publicLinksRp, {
        redirect_uri: PUBLIC_LINKS.redirectUri,
        scope: 'openid',
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        claims: JSON.stringify({ userinfo: { birthdate: null } }),
      }),
      (e: { error?: string; error_description?: string }) =>
        e.error === 'invalid_request' && e.error_description === PUBLIC_REFUSAL,
    );
  });

  it('a public app with a private-use redirect is refused as public, the first reason', async () => {
    const { url } = await authorizationUrl(publicRp, PUBLIC_APP.redirectUri, {
      acr_values: 'urn:mynagate:acr:card-sign',
    });
    const res = await idp.agent().fetch(url);
    await res.body?.cancel();
    const back = new URL(res.headers.get('location')!);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.equal(back.searchParams.get('error_description'), PUBLIC_REFUSAL);
  });

  it('the same app registered as a confidential client (its server holds the key) still gets eKYC', async () => {
    const login = await startLogin(idp, linksAppRp, LINKS_APP.redirectUri, {
      extra: { acr_values: 'urn:mynagate:acr:card-sign' },
    });
    assert.equal(/id="client-origin">([^<]*)</.exec(login.page)?.[1], 'https://links.example');
    await login.events.close();
  });
});
