/**
 * What a consent covers is what the person was shown, claim by claim: a verified claim asked only for UserInfo is
 * on the screen and in the signed statement too, and a later request of the same claim names asking for more
 * (other verified claims, another prefecture) gets the consent screen again, or `consent_required` with
 * `prompt=none`, never more data silently. The release itself keeps to the consented details as well.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { withinConsent } from '../src/claims/release.ts';
import { ARRAY_MEMBER } from '../src/claims/request.ts';
import { createOpFixture, startLogin, type OpFixture, type TestCard, type TestIdp } from './support/op-fixture.ts';
import {
  authorizeExtra,
  consent,
  fullFlow,
  issueCard,
  loginThenStop,
  RP_JWT,
  signStep,
  startEkycIdp,
} from './support/ekyc-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let alice: TestCard;
let bob: TestCard;

const verified = (claims: Record<string, null>) => ({
  verified_claims: { verification: { trust_framework: null }, claims },
});

before(async () => {
  f = await createOpFixture();
  [alice, bob] = await Promise.all([
    issueCard(f, { name: '試験　花子' }),
    issueCard(f, { name: '見本　一郎', address: '大阪府大阪市北区梅田1-1' }),
  ]);
  idp = await startEkycIdp(f);
});
after(async () => {
  await idp?.close();
  await f.close();
});

/** A silent request (`prompt=none`) in the browser of `agent`: the error it ends with, or `undefined` for a code. */
async function silently(agent: Awaited<ReturnType<typeof startLogin>>['agent'], claims: unknown) {
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(idp.jwtRp, {
    redirect_uri: RP_JWT.redirectUri,
    scope: 'openid',
    state: client.randomState(),
    prompt: 'none',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    acr_values: 'urn:mynagate:acr:card-sign',
    claims: JSON.stringify(claims),
  });
  const { url: landed } = await agent.follow(url);
  assert.equal(landed.origin + landed.pathname, RP_JWT.redirectUri);
  return landed.searchParams.get('error') ?? undefined;
}

describe('consent covers claim by claim', () => {
  it('a verified claim asked only for UserInfo is on the consent screen and in the statement, and is what UserInfo gets', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: verified({ name: null }), userinfo: verified({ name: null, address: null }) }),
    });
    let step = await loginThenStop(idp, login, alice);
    assert.ok(step.page.includes('consent-form'));
    assert.match(step.page, /電子署名で確認した本人情報: 氏名、住所/);
    step = await consent(login.agent, step);
    assert.match(/<ul id="items">([^]*?)<\/ul>/.exec(step.page)![1]!, /氏名、住所/, 'the statement lists the address');
    step = await signStep(idp, login.agent, step, alice);
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, step.url, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const userinfo = await client.fetchUserInfo(idp.jwtRp, tokens.access_token, tokens.claims()!.sub);
    assert.deepEqual(Object.keys((userinfo['verified_claims'] as { claims: object }).claims).sort(), [
      'address',
      'name',
    ]);
  });

  it('a later silent request for more verified claims ends in consent_required, not in more data', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: verified({ given_name: null }) }),
    });
    await fullFlow(idp, login, bob);
    // The same claims again: no screen (the consent covers them).
    assert.equal(await silently(login.agent, { id_token: verified({ given_name: null }) }), undefined);
    assert.equal(
      await silently(login.agent, { id_token: verified({ given_name: null, address: null, birthdate: null }) }),
      'consent_required',
    );
  });

  it('a later silent question about another prefecture ends in consent_required (no guessing the prefecture)', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: { residence_prefecture: { value: '東京都' } } }),
    });
    await fullFlow(idp, login, bob);
    assert.equal(await silently(login.agent, { id_token: { residence_prefecture: { value: '東京都' } } }), undefined);
    assert.equal(
      await silently(login.agent, { id_token: { residence_prefecture: { value: '大阪府' } } }),
      'consent_required',
    );
  });
});

describe('withinConsent (the release keeps to the consented details)', () => {
  const element = (claims: Record<string, null>) => ({ verification: { trust_framework: null }, claims });

  it('answers only the verified claims and prefectures consented to', () => {
    const granted = [
      'verified_claims',
      'verified_claims.name',
      'residence_in_prefecture',
      'residence_in_prefecture=東京都',
    ];
    assert.deepEqual(
      withinConsent(
        {
          verified_claims: element({ name: null, address: null }),
          residence_in_prefecture: { values: ['東京都', '大阪府'] },
          age_over_20: null,
        },
        granted,
      ),
      {
        verified_claims: element({ name: null }),
        residence_in_prefecture: { values: ['東京都'] },
        age_over_20: null,
      },
    );
  });

  it('drops what has nothing consented left, and keeps the array form', () => {
    const granted = ['verified_claims', 'verified_claims.gender'];
    assert.deepEqual(withinConsent({ verified_claims: element({ address: null }) }, granted), {});
    assert.deepEqual(
      withinConsent(
        { verified_claims: { [ARRAY_MEMBER]: [element({ address: null }), element({ gender: null })] } },
        granted,
      ),
      { verified_claims: { [ARRAY_MEMBER]: [element({ gender: null })] } },
    );
    assert.deepEqual(
      withinConsent({ residence_in_prefecture: { values: ['大阪府'] } }, ['residence_in_prefecture']),
      {},
    );
  });
});
