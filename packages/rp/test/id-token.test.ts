/**
 * The ID token as `complete` validates it, against a scripted provider on http loopback (the SDK's development
 * mode): one valid token, then one field mutated per case, each refused with its exact code. The signature is
 * checked against the provider's ES256 JWKS, `exp` with the SDK's `clockToleranceSeconds`, and `azp` even when `aud`
 * is a string; a token response that is not an acceptable one is `ERR_RP_TOKEN`, not an ID token error.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createMynaGateClient, type MynaGateClient, type MynaGateClientOptions } from '../src/index.ts';
import {
  KID,
  newEcKey,
  signJwt,
  startFakeProvider,
  unsignedJwt,
  validClaims,
  type FakeProvider,
} from './support/fake-provider.ts';

const CLIENT_ID = 'bank';
const SECRET = 's'.repeat(32);
let op: FakeProvider;
let client: MynaGateClient;

function newClient(extra: Partial<MynaGateClientOptions> = {}): MynaGateClient {
  return createMynaGateClient({
    issuer: op.issuer,
    clientId: CLIENT_ID,
    clientSecret: SECRET,
    redirectUri: 'http://127.0.0.1:9/callback',
    allowLoopbackHttp: true,
    clockToleranceSeconds: 5,
    ...extra,
  });
}

before(async () => {
  op = await startFakeProvider();
  client = newClient();
});
after(() => op?.close());

const now = () => Math.floor(Date.now() / 1000);
type Claims = Record<string, unknown>;

/** A valid token's claims for `nonce`, with `change` applied (`undefined` deletes a claim). */
function claims(nonce: string, change: Claims = {}): Claims {
  const c: Claims = { ...validClaims(op.issuer, CLIENT_ID, nonce, now()), ...change };
  for (const [k, v] of Object.entries(change)) if (v === undefined) delete c[k];
  return c;
}

/** Signed by the provider's key, as the provider would. */
const good = (c: Claims, header: Claims = {}) => signJwt(op.key, { alg: 'ES256', kid: KID, ...header }, c);

/**
 * A card login whose token endpoint answers `idToken(nonce)` (plus `response` members) and whose callback is
 * well-formed; the promise of `complete`.
 */
async function login(
  idToken: (nonce: string) => string,
  response: Claims = {},
  c: MynaGateClient = client,
  options: { readonly sub?: string } = {},
) {
  const { transaction } = await c.cardLogin(options);
  op.token = () => ({
    body: {
      token_type: 'Bearer',
      access_token: 'AT',
      expires_in: 60,
      id_token: idToken(transaction.nonce),
      ...response,
    },
  });
  return c.complete(transaction, `?code=c&state=${transaction.state}&iss=${encodeURIComponent(op.issuer)}`);
}

describe('ID token: the valid case', () => {
  it('is accepted, and its signature was checked with the JWKS read from jwks_uri (http loopback dev mode)', async () => {
    const fresh = newClient();
    op.requests.length = 0;
    const result = await login((n) => good(claims(n)), {}, fresh);
    assert.equal(result.sub, 'fake-sub-0001');
    assert.ok(op.requests.includes('/jwks'), `the JWKS was read: ${op.requests.join(' ')}`);
  });

  it('is accepted with azp naming this client, and with exp passed by less than clockToleranceSeconds', async () => {
    await login((n) => good(claims(n, { azp: CLIENT_ID })));
    await login((n) => good(claims(n, { exp: now() - 2 })));
  });
});

describe('ID token: one field changed, one code', () => {
  const ID_TOKEN_CASES: Readonly<Record<string, (nonce: string) => string>> = {
    'a signature by another key under the provider kid': (n) =>
      signJwt(newEcKey(), { alg: 'ES256', kid: KID }, claims(n)),
    'a signature part altered': (n) => `${good(claims(n)).slice(0, -4)}AAAA`,
    'an unknown kid': (n) => signJwt(newEcKey(), { alg: 'ES256', kid: 'unknown-kid' }, claims(n)),
    'alg none': (n) => unsignedJwt({ alg: 'none' }, claims(n)),
    'alg HS256 keyed with the client secret': (n) => {
      const input = unsignedJwt({ alg: 'HS256', kid: KID }, claims(n)).slice(0, -1);
      return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    },
    'alg ES384 (not the pinned ES256)': (n) => good(claims(n), { alg: 'ES384' }),
    'a crit header': (n) => good(claims(n), { crit: ['x'], x: 1 }),
    'not a JWT': () => 'not-a-jwt',
    'another iss': (n) => good(claims(n, { iss: 'https://evil.example' })),
    'another aud': (n) => good(claims(n, { aud: 'shop' })),
    'aud with another member and no azp': (n) => good(claims(n, { aud: [CLIENT_ID, 'shop'] })),
    'azp of another client with a string aud': (n) => good(claims(n, { azp: 'shop' })),
    'azp of another client with an array aud': (n) => good(claims(n, { aud: [CLIENT_ID, 'shop'], azp: 'shop' })),
    'exp passed by more than clockToleranceSeconds (inside openid-client’s default 30 s)': (n) =>
      good(claims(n, { exp: now() - 20 })),
    'exp long passed': (n) => good(claims(n, { exp: now() - 3600 })),
    'iat in the future': (n) => good(claims(n, { iat: now() + 3600 })),
    'no sub': (n) => good(claims(n, { sub: undefined })),
    'no exp': (n) => good(claims(n, { exp: undefined })),
  };
  for (const [name, idToken] of Object.entries(ID_TOKEN_CASES)) {
    it(`ERR_RP_ID_TOKEN: ${name}`, async () => {
      await assert.rejects(login(idToken), { code: 'ERR_RP_ID_TOKEN', name: 'RpIdTokenError' });
    });
  }

  it('ERR_RP_NONCE for another nonce (a replayed or injected token)', async () => {
    await assert.rejects(
      login(() => good(claims('another-nonce'))),
      { code: 'ERR_RP_NONCE' },
    );
  });

  it('ERR_RP_ID_TOKEN for no nonce: a claim the request made required is missing (a malformed token)', async () => {
    await assert.rejects(
      login((n) => good(claims(n, { nonce: undefined }))),
      {
        code: 'ERR_RP_ID_TOKEN',
        message: /nonce/,
      },
    );
  });

  it('ERR_RP_ID_TOKEN when the JWKS cannot be read to check the signature', async () => {
    const fresh = newClient(); // no JWKS cached yet
    const original = op.jwks;
    op.jwks = () => ({ status: 500, body: 'down' });
    try {
      await assert.rejects(
        login((n) => good(claims(n)), {}, fresh),
        { code: 'ERR_RP_ID_TOKEN', message: /jwks_uri/ },
      );
    } finally {
      op.jwks = original;
    }
  });
});

describe('the token response around the ID token: ERR_RP_TOKEN', () => {
  it('an unsupported token_type is ERR_RP_TOKEN, not an ID token error', async () => {
    await assert.rejects(
      login((n) => good(claims(n)), { token_type: 'mac' }),
      {
        code: 'ERR_RP_TOKEN',
        error: undefined,
        message: /token_type/,
      },
    );
  });

  it('no access_token', async () => {
    await assert.rejects(
      login((n) => good(claims(n)), { access_token: undefined }),
      {
        code: 'ERR_RP_TOKEN',
        message: /access_token/,
      },
    );
  });

  it('an OAuth error body, and a status without one', async () => {
    const { transaction } = await client.cardLogin();
    const callback = `?code=c&state=${transaction.state}&iss=${encodeURIComponent(op.issuer)}`;
    op.token = () => ({ status: 400, body: { error: 'invalid_grant' } });
    await assert.rejects(client.complete(transaction, callback), { code: 'ERR_RP_TOKEN', error: 'invalid_grant' });
    op.token = () => ({ status: 502, body: 'bad gateway' });
    await assert.rejects(client.complete(transaction, callback), { code: 'ERR_RP_TOKEN', error: undefined });
  });
});

describe('the person: a request made with sub', () => {
  it('ERR_RP_SUBJECT_MISMATCH when another person completes it; the same person passes', async () => {
    await assert.rejects(
      login((n) => good(claims(n, { sub: 'someone-else' })), {}, client, { sub: 'fake-sub-0001' }),
      {
        code: 'ERR_RP_SUBJECT_MISMATCH',
      },
    );
    const same = await login((n) => good(claims(n)), {}, client, { sub: 'fake-sub-0001' });
    assert.equal(same.sub, 'fake-sub-0001');
  });

  it('carries sub in the transaction (plain JSON), and refuses an empty one (TypeError)', async () => {
    const { transaction } = await client.stepUp({ maxAgeSeconds: 60, sub: 'fake-sub-0001' });
    assert.equal(JSON.parse(JSON.stringify(transaction)).sub, 'fake-sub-0001');
    await assert.rejects(client.stepUp({ maxAgeSeconds: 60, sub: '' }), TypeError);
  });
});

describe('the callback carries no token', () => {
  it('ERR_RP_CALLBACK_INVALID for an id_token in the authorization response', async () => {
    const { transaction } = await client.cardLogin();
    const iss = encodeURIComponent(op.issuer);
    await assert.rejects(client.complete(transaction, `?code=c&state=${transaction.state}&iss=${iss}&id_token=x.y.z`), {
      code: 'ERR_RP_CALLBACK_INVALID',
    });
  });
});
