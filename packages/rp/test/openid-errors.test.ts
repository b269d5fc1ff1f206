/**
 * openid-client's failures as `ERR_RP_*` codes, by the step that failed: a pushed authorization request the
 * provider refuses is `ERR_RP_PAR`, a userinfo request that fails or answers for another person is
 * `ERR_RP_USERINFO`, whatever openid-client's error and message. Against a scripted provider on http loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMynaGateClient, type MynaGateClient } from '../src/index.ts';
import {
  KID,
  signJwt,
  startFakeProvider,
  validClaims,
  type Answer,
  type FakeProvider,
} from './support/fake-provider.ts';

let op: FakeProvider;
let client: MynaGateClient;

before(async () => {
  op = await startFakeProvider();
  client = createMynaGateClient({
    issuer: op.issuer,
    clientId: 'shop',
    clientSecret: 's'.repeat(32),
    redirectUri: 'http://127.0.0.1:9/callback',
    allowLoopbackHttp: true,
  });
});
after(() => op?.close());

describe('PAR (RFC 9126): ERR_RP_PAR', () => {
  let original: FakeProvider['par'];
  before(() => {
    original = op.par;
  });

  async function pushWith(answer: Answer) {
    op.par = () => answer;
    try {
      return await client.cardLogin({ usePar: true });
    } finally {
      op.par = original;
    }
  }

  it('pushes and sends only client_id and request_uri when the provider accepts', async () => {
    const { url } = await client.cardLogin({ usePar: true });
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
  });

  it('with the OAuth error when the provider refuses the request (400 invalid_request)', async () => {
    await assert.rejects(pushWith({ status: 400, body: { error: 'invalid_request', error_description: 'no' } }), {
      code: 'ERR_RP_PAR',
      name: 'RpParError',
      error: 'invalid_request',
    });
  });

  it('without one when the answer is an unexpected status (503) or has no request_uri', async () => {
    await assert.rejects(pushWith({ status: 503, body: 'maintenance' }), { code: 'ERR_RP_PAR', error: undefined });
    await assert.rejects(pushWith({ status: 201, body: { expires_in: 60 } }), { code: 'ERR_RP_PAR', error: undefined });
  });
});

describe('userinfo (OIDC Core §5.3): ERR_RP_USERINFO', () => {
  const SUB = 'fake-sub-0001';

  /** An age check whose ID token lacks age_over_20 (so userinfo is asked), userinfo answering `answer`. */
  async function ageCheckWith(answer: Answer) {
    const { transaction } = await client.ageCheck({ over: 20 });
    const now = Math.floor(Date.now() / 1000);
    op.token = () => ({
      body: {
        token_type: 'Bearer',
        access_token: 'AT',
        expires_in: 60,
        id_token: signJwt(op.key, { alg: 'ES256', kid: KID }, validClaims(op.issuer, 'shop', transaction.nonce, now)),
      },
    });
    op.userinfo = () => answer;
    return client.complete(transaction, `?code=c&state=${transaction.state}&iss=${encodeURIComponent(op.issuer)}`);
  }

  it('reads the answer from userinfo when the ID token lacks it', async () => {
    const result = await ageCheckWith({ body: { sub: SUB, age_over_20: true } });
    assert.deepEqual(result.age, { over: 20, satisfied: true });
  });

  it('when userinfo answers for another sub (§5.3.2)', async () => {
    await assert.rejects(ageCheckWith({ body: { sub: 'someone-else', age_over_20: true } }), {
      code: 'ERR_RP_USERINFO',
      name: 'RpUserinfoError',
    });
  });

  it('when userinfo fails: a 500, a Bearer challenge (401 invalid_token), a body that is not JSON', async () => {
    await assert.rejects(ageCheckWith({ status: 500, body: 'oops' }), { code: 'ERR_RP_USERINFO' });
    await assert.rejects(
      ageCheckWith({ status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' }, body: '' }),
      { code: 'ERR_RP_USERINFO' },
    );
    await assert.rejects(ageCheckWith({ status: 200, body: 'not json' }), { code: 'ERR_RP_USERINFO' });
  });
});
