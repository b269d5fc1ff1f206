/**
 * Verified claims (OpenID Connect for Identity Assurance 1.0) requested through the `claims` parameter: the object
 * and the array form, the rule that unmet `verification` constraints omit the whole element without an error, an
 * unknown trust framework, malformed requests refused with `invalid_request`, and the OIDC4IA discovery metadata.
 * End to end with openid-client 6 as the RP; the filter rules also as unit checks (fast, exhaustive).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { normalizeClaimsParameter, verifiedClaimsRequests, isArrayForm } from '../src/claims/request.ts';
import { verifiedClaimsAnswer, type VerifiedFacts } from '../src/claims/verified-claims.ts';
import { createOpFixture, startLogin, type OpFixture, type TestCard, type TestIdp } from './support/op-fixture.ts';
import { authorizeExtra, fullFlow, issueCard, RP_JWT, startEkycIdp } from './support/ekyc-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let card: TestCard;

before(async () => {
  f = await createOpFixture();
  card = await issueCard(f, { name: '試験　次郎' });
  idp = await startEkycIdp(f);
});
after(async () => {
  await idp?.close();
  await f.close();
});

const element = (trustFramework: unknown, claims: Record<string, unknown>) => ({
  verification: {
    trust_framework: trustFramework,
    evidence: [{ type: { value: 'electronic_signature' }, serial_number: null }],
  },
  claims,
});

async function flow(claims: unknown): Promise<{ id: Record<string, unknown>; userinfo: Record<string, unknown> }> {
  const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: authorizeExtra(claims) });
  const callback = await fullFlow(idp, login, card);
  const tokens = await client.authorizationCodeGrant(idp.jwtRp, callback, {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  const id = tokens.claims()! as Record<string, unknown>;
  const userinfo = (await client.fetchUserInfo(idp.jwtRp, tokens.access_token, String(id['sub']))) as Record<
    string,
    unknown
  >;
  return { id, userinfo };
}

describe('verified_claims through the claims parameter', () => {
  it('answers the array form with the elements it can fulfil, and omits the object whose trust_framework value (eidas) is unmet, without an error', async () => {
    const { id, userinfo } = await flow({
      id_token: {
        verified_claims: [
          element(null, { name: null }),
          element({ value: 'eidas' }, { birthdate: null }),
          element({ values: ['de_aml', 'jp_aml'] }, { birthdate: { essential: true } }),
        ],
      },
      userinfo: { verified_claims: element({ value: 'eidas' }, { name: null }), age_over_20: null },
    });
    const answer = id['verified_claims'] as Array<Record<string, any>>;
    assert.ok(Array.isArray(answer), 'the array form is answered with an array');
    assert.equal(answer.length, 2, 'the eidas element is left out');
    assert.deepEqual(answer[0]!['claims'], { name: '試験　次郎' });
    assert.deepEqual(answer[1]!['claims'], { birthdate: '1990-01-02' });
    for (const a of answer) {
      assert.equal(a['verification'].trust_framework, 'jp_aml');
      assert.deepEqual(Object.keys(a['verification'].evidence[0]).sort(), [
        'issuer',
        'serial_number',
        'signature_type',
        'type',
      ]);
      assert.equal(a['verification'].time, undefined, 'time only when requested');
    }
    assert.equal('verified_claims' in userinfo, false, 'the unmet object is omitted from UserInfo');
    assert.equal(userinfo['age_over_20'], true, 'the rest of the answer stands');
  });

  it('omits verified_claims asking for an unknown trust framework, without an error', async () => {
    const { id, userinfo } = await flow({
      id_token: {
        verified_claims: element({ value: 'urn:example:unknown-framework' }, { name: null }),
        age_over_18: null,
      },
      userinfo: { verified_claims: element({ values: ['xx_unknown'] }, { family_name: null }) },
    });
    assert.equal('verified_claims' in id, false);
    assert.equal(id['age_over_18'], true);
    assert.equal('verified_claims' in userinfo, false);
  });

  it('refuses a verified_claims element without verification.trust_framework with invalid_request', async () => {
    const url = client.buildAuthorizationUrl(idp.jwtRp, {
      redirect_uri: RP_JWT.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      claims: JSON.stringify({ id_token: { verified_claims: { verification: {}, claims: { name: null } } } }),
    });
    const res = await idp.agent().fetch(url);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.origin, 'https://bank.example');
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.match(location.searchParams.get('error_description')!, /trust_framework/);
  });

  it('refuses a purpose shorter than 3 characters with invalid_request (OIDC4IA §5.5.1)', async () => {
    const url = client.buildAuthorizationUrl(idp.jwtRp, {
      redirect_uri: RP_JWT.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      claims: JSON.stringify({ userinfo: { age_over_20: { purpose: 'ok' } } }),
    });
    const res = await idp.agent().fetch(url);
    assert.equal(new URL(res.headers.get('location')!).searchParams.get('error'), 'invalid_request');
  });

  it('refuses a purpose with a control or bidi-control character with invalid_request (it is shown and signed)', async () => {
    const refused = async (params: Record<string, string>) => {
      const url = client.buildAuthorizationUrl(idp.jwtRp, {
        redirect_uri: RP_JWT.redirectUri,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        ...params,
      });
      const location = new URL((await idp.agent().fetch(url)).headers.get('location')!);
      assert.equal(location.searchParams.get('error'), 'invalid_request', JSON.stringify(params));
      assert.match(location.searchParams.get('error_description')!, /control/);
    };
    const claims = (purpose: string) => JSON.stringify({ userinfo: { age_over_20: { purpose } } });
    await refused({ claims: claims('酒類の購入\u202eのため') });
    await refused({ claims: claims('年齢確認\nと住所') });
    await refused({ claims: claims('lone \ud800 surrogate') });
    await refused({ purpose: '口座開設\u2066の本人確認' });
    await refused({ purpose: 'sign\u0000up' });
  });
});

describe('discovery advertises OpenID Connect for Identity Assurance', () => {
  it('advertises verified_claims_supported, jp_aml, electronic_signature, the claims in verified_claims and the claims parameter', async () => {
    const meta = (await (
      await idp.fetch(new URL('/.well-known/openid-configuration', idp.server.url))
    ).json()) as Record<string, unknown>;
    assert.equal(meta['verified_claims_supported'], true);
    assert.deepEqual(meta['trust_frameworks_supported'], ['jp_aml']);
    assert.deepEqual(meta['evidence_supported'], ['electronic_signature']);
    assert.deepEqual(meta['claims_in_verified_claims_supported'], [
      'name',
      'given_name',
      'family_name',
      'address',
      'birthdate',
      'gender',
    ]);
    assert.equal(meta['claims_parameter_supported'], true);
    for (const c of ['verified_claims', 'age_over_18', 'age_over_20', 'residence_in_prefecture']) {
      assert.ok((meta['claims_supported'] as string[]).includes(c), c);
    }
    assert.equal(meta['userinfo_endpoint'], `${idp.server.issuer}/userinfo`, '/me is the person’s page');
  });
});

describe('verified_claims filter rules (unit)', () => {
  const facts: VerifiedFacts = {
    identity: {
      name: '試験　次郎',
      nameSubstitutes: '00000',
      address: '大阪府大阪市北区1-1',
      addressSubstitutes: '0000000000',
      birthDate: '2000-02-29',
      birthEra: 4,
      sex: 'unknown',
    },
    evidence: { issuer: 'CN=Sign CA', serialNumber: '0a1b', signedAt: '2026-01-01T00:00:00Z' },
    verifiedAt: '2026-01-01T00:00:01.000Z',
    verificationProcess: 'vp-1',
  };
  const answer = (request: unknown, now = new Date('2026-01-02T00:00:00Z')) => {
    const member = (
      normalizeClaimsParameter({ id_token: { verified_claims: request } })['id_token'] as Record<string, unknown>
    )['verified_claims'];
    return verifiedClaimsAnswer(verifiedClaimsRequests(member), facts, now, isArrayForm(member)) as any;
  };

  it('keeps the element when verification.time is within max_age and omits it when older', () => {
    const req = (maxAge: number) => ({
      verification: { trust_framework: null, time: { max_age: maxAge } },
      claims: { name: null },
    });
    assert.equal(answer(req(86_400)).verification.time, '2026-01-01T00:00:01.000Z');
    assert.equal(answer(req(3600)), undefined);
  });

  it('omits the element for an evidence filter of another type (document)', () => {
    assert.equal(
      answer({
        verification: { trust_framework: null, evidence: [{ type: { value: 'document' } }] },
        claims: { name: null },
      }),
      undefined,
    );
  });

  it('omits the element when a constraint names verification data we do not have (assurance_level value)', () => {
    assert.equal(
      answer({ verification: { trust_framework: null, assurance_level: { value: 'high' } }, claims: { name: null } }),
      undefined,
    );
  });

  it('omits only the claim whose value constraint is unmet, and the element when no claim is left', () => {
    const a = answer({
      verification: { trust_framework: null },
      claims: { name: null, birthdate: { value: '1999-01-01' } },
    });
    assert.deepEqual(a.claims, { name: '試験　次郎' });
    assert.equal(
      answer({ verification: { trust_framework: null }, claims: { birthdate: { value: '1999-01-01' } } }),
      undefined,
    );
  });

  it('gives created_at only when the evidence filter asks for it, and never gender when the certificate says unknown', () => {
    const a = answer({
      verification: {
        trust_framework: null,
        evidence: [{ type: { value: 'electronic_signature' }, created_at: null }],
      },
      claims: { gender: null, name: null },
    });
    assert.equal(a.verification.evidence[0].created_at, '2026-01-01T00:00:00Z');
    assert.equal(a.verification.evidence[0].serial_number, '0a1b');
    assert.deepEqual(a.claims, { name: '試験　次郎' });
  });

  it('refuses evidence filters using values for type, and empty claims, as invalid_request', () => {
    assert.throws(
      () =>
        normalizeClaimsParameter({
          id_token: {
            verified_claims: {
              verification: { trust_framework: null, evidence: [{ type: { values: ['electronic_signature'] } }] },
              claims: { name: null },
            },
          },
        }),
      { error: 'invalid_request' },
    );
    assert.throws(
      () =>
        normalizeClaimsParameter({
          id_token: { verified_claims: { verification: { trust_framework: null }, claims: {} } },
        }),
      { error: 'invalid_request' },
    );
  });
});
