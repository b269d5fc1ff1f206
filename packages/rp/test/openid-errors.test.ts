/**
 * openid-client's failures as `ERR_RP_*` codes, by the step that failed: a pushed authorization request the
 * provider refuses is `ERR_RP_PAR`, a userinfo request that fails or answers for another person is
 * `ERR_RP_USERINFO`, whatever openid-client's error and message; and what the error keeps of openid-client's (its
 * code and the claim's name, never the ID token's claims, a token or a userinfo answer). Against a scripted provider
 * on http loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { createMynaGateClient, type MynaGateClient } from '../src/index.ts';
import { OpenidClientFailure, toRpError } from '../src/openid-errors.ts';
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

describe("the cause: never openid-client's detail (the ID token's claims, tokens, answers)", () => {
  const NAME = '山田 太郎';
  const BIRTHDATE = '1980-01-02';
  const OTHER = 'someone-else-sub';
  const verifiedClaims = {
    verification: { trust_framework: 'jp_aml' },
    claims: { name: NAME, birthdate: BIRTHDATE },
  };

  /** An identity proofing completed against `token` (the token endpoint's body, given the transaction's nonce). */
  async function proofingWith(token: (nonce: string) => Record<string, unknown>) {
    const { transaction } = await client.identityProofing({ claims: ['name', 'birthdate'], purpose: '本人確認のため' });
    op.token = () => ({ body: token(transaction.nonce) });
    const error = await client
      .complete(transaction, `?code=c&state=${transaction.state}&iss=${encodeURIComponent(op.issuer)}`)
      .then(
        () => assert.fail('complete must throw'),
        (e: unknown) => e as Error & { code: string; cause: Record<string, unknown> },
      );
    return { error, nonce: transaction.nonce };
  }

  /** An ID token of the proofing with verified_claims, issued at `iat`. */
  const idToken = (nonce: string, iat: number, extra: Record<string, unknown> = {}) =>
    signJwt(
      op.key,
      { alg: 'ES256', kid: KID },
      {
        ...validClaims(op.issuer, 'shop', nonce, iat),
        acr: 'urn:mynagate:acr:card-sign',
        amr: ['hwk', 'pwd', 'sc'],
        verified_claims: verifiedClaims,
        ...extra,
      },
    );

  /** Everything a log of the error would show: util.inspect to any depth, and its JSON. */
  function assertNothingPersonal(error: Error, secrets: readonly string[]) {
    const printed = `${inspect(error, { depth: Infinity, showHidden: true })}\n${JSON.stringify(error)}\n${error.stack}`;
    for (const secret of secrets) assert.equal(printed.includes(secret), false, `the error shows ${secret}`);
  }

  it('an expired ID token with verified claims: ERR_RP_ID_TOKEN, whose cause keeps the code and the claim name only', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { error, nonce } = await proofingWith((n) => ({
      access_token: 'at',
      token_type: 'Bearer',
      id_token: idToken(n, now - 400), // exp 300 s after iat: passed
    }));
    assert.equal(error.code, 'ERR_RP_ID_TOKEN');
    assert.equal(error.message, 'invalid ID token: exp check failed');
    assertNothingPersonal(error, [NAME, BIRTHDATE, nonce, 'verified_claims', 'fake-sub-0001']);
    assert.equal(error.cause.name, 'OpenidClientFailure');
    assert.equal(error.cause.type, 'ClientError');
    assert.equal(error.cause.code, 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED');
    assert.equal(error.cause.claim, 'exp');
    assert.equal((error.cause as unknown as Error).cause, undefined, 'no detail under it');
  });

  it("an ID token for another audience: ERR_RP_ID_TOKEN ('aud' named, no claim value)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const { error, nonce } = await proofingWith((n) => ({
      access_token: 'at',
      token_type: 'Bearer',
      id_token: idToken(n, now, { aud: 'another-client' }),
    }));
    assert.equal(error.code, 'ERR_RP_ID_TOKEN');
    assertNothingPersonal(error, [NAME, BIRTHDATE, nonce, 'another-client']);
    assert.equal(error.cause.code, 'OAUTH_JWT_CLAIM_COMPARISON_FAILED');
    assert.equal(error.cause.claim, 'aud');
  });

  it('a token response refused (token_type mac) with an ID token in it: ERR_RP_TOKEN, no token in the cause', async () => {
    const now = Math.floor(Date.now() / 1000);
    let jwt = '';
    const { error } = await proofingWith((n) => ({
      access_token: 'secret-access-token',
      token_type: 'mac',
      id_token: (jwt = idToken(n, now)),
    }));
    assert.equal(error.code, 'ERR_RP_TOKEN');
    assertNothingPersonal(error, [jwt.split('.')[1]!, 'secret-access-token']);
  });

  it("userinfo answering for another person with verified claims: ERR_RP_USERINFO, none of the answer's claims", async () => {
    const now = Math.floor(Date.now() / 1000);
    op.userinfo = () => ({ body: { sub: OTHER, verified_claims: verifiedClaims } });
    const { error } = await proofingWith((n) => ({
      access_token: 'at',
      token_type: 'Bearer',
      id_token: idToken(n, now, { verified_claims: undefined }), // not in the ID token: userinfo is asked
    }));
    op.userinfo = () => ({ body: {} });
    assert.equal(error.code, 'ERR_RP_USERINFO');
    assertNothingPersonal(error, [NAME, BIRTHDATE, OTHER]);
  });
});

describe('the keys step (jwks_uri)', () => {
  it("an answer that is not a JWKS is ERR_RP_ID_TOKEN whose cause is an OpenidClientFailure, not openid-client's error", async () => {
    const { ClientError } = await import('openid-client');
    // openid-client's constructor takes the code among its options; its typings do not say so.
    const e = new ClientError('unexpected HTTP response status code', {
      code: 'OAUTH_RESPONSE_IS_NOT_CONFORM',
      cause: { body: 'the answer' },
    } as ErrorOptions);
    const rp = toRpError(e, 'keys');
    assert.equal((rp as { code?: string }).code, 'ERR_RP_ID_TOKEN');
    assert.ok(rp.cause instanceof OpenidClientFailure);
    assert.equal(inspect(rp, { depth: Infinity }).includes('the answer'), false);
  });
});
