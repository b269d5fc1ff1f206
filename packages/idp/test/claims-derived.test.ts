/**
 * Derived claims answer the question asked and nothing more: `age_over_18` / `age_over_20` worked out from the
 * verified birth date in Japan time (民法 §143; a 29 February birthday counts from 1 March in a common year) when the
 * signature is verified, and kept as that answer: moving the clock past the 20th birthday between UserInfo calls does
 * not flip it (a daily recomputation would tell a service holding a refresh token the birthday). Residence in a
 * prefecture without the address. End to end with an injected clock; the rule itself as units.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { ageClaim, prefectureOf, residesIn } from '../src/claims/derived.ts';
import { normalizeClaimsParameter } from '../src/claims/request.ts';
import { releaseClaims } from '../src/claims/release.ts';
import type { VerifiedFacts } from '../src/claims/verified-claims.ts';
import { createOpFixture, startLogin, type OpFixture, type TestCard, type TestIdp } from './support/op-fixture.ts';
import { authorizeExtra, fullFlow, issueCard, RP_JWT, startEkycIdp } from './support/ekyc-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let card: TestCard;
let clock: number | undefined;

/** Someone whose 20th birthday (Japan time) is two days from now: 19 whenever the signature is verified. */
const TWENTIETH = new Date(Date.now() + 9 * 3600_000 + 2 * 86400_000).toISOString().slice(0, 10);
const BIRTH_DATE = `${Number(TWENTIETH.slice(0, 4)) - 20}${TWENTIETH.slice(4)}`;

before(async () => {
  f = await createOpFixture();
  card = await issueCard(f, { birthDate: BIRTH_DATE, address: '大阪府大阪市北区中之島1-3-20' });
  idp = await startEkycIdp(f, { now: () => clock ?? Date.now() });
});
after(async () => {
  await idp?.close();
  await f.close();
});

describe('derived claims end to end', () => {
  let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
  const userinfo = async (at: string) => {
    clock = Date.parse(at);
    try {
      return (await client.fetchUserInfo(idp.jwtRp, tokens.access_token, tokens.claims()!.sub)) as Record<
        string,
        unknown
      >;
    } finally {
      clock = undefined;
    }
  };

  before(async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({
        id_token: { residence_prefecture: null },
        userinfo: { age_over_18: null, age_over_20: null, residence_prefecture: { value: '大阪府' } },
      }),
    });
    const callback = await fullFlow(idp, login, card);
    tokens = await client.authorizationCodeGrant(idp.jwtRp, callback, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
  });

  it('answers age_over_20 false and age_over_18 true for a person of 19 at verification', async () => {
    const answer = await userinfo(new Date().toISOString());
    assert.equal(answer['age_over_20'], false);
    assert.equal(answer['age_over_18'], true);
  });

  it('keeps the answer of the verification past the 20th birthday (00:00:00 JST), never revealing the birthday by a flip', async () => {
    assert.equal((await userinfo(`${TWENTIETH}T00:00:00+09:00`))['age_over_20'], false);
    assert.equal((await userinfo(`${TWENTIETH}T23:59:59+09:00`))['age_over_20'], false);
  });

  it('never reveals the birth date or the address with derived claims', async () => {
    const answer = await userinfo(new Date().toISOString());
    assert.deepEqual(Object.keys(answer).sort(), ['age_over_18', 'age_over_20', 'residence_in_prefecture', 'sub']);
    assert.equal(JSON.stringify(answer).includes(BIRTH_DATE.slice(0, 4)), false);
    assert.equal(JSON.stringify(answer).includes('北区'), false);
  });

  it('answers residence_prefecture asked with a value as the boolean residence_in_prefecture, and asked with null as the prefecture name only', async () => {
    const answer = await userinfo(new Date().toISOString());
    assert.equal(answer['residence_in_prefecture'], true);
    assert.equal(
      answer['residence_prefecture'],
      undefined,
      'the prefecture itself is not released for a yes/no question',
    );
    assert.equal(tokens.claims()!['residence_prefecture'], '大阪府');
    assert.equal(tokens.claims()!['address'], undefined);
  });

  it('answers a residence question split across the ID token and UserInfo once, for all the prefectures asked', async () => {
    // One consent line and one statement item ("東京都・大阪府に住んでいるかどうか"): two answers, one per target's own
    // prefecture, would say which of the two it is.
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({
        id_token: { residence_prefecture: { value: '東京都' } },
        userinfo: { residence_prefecture: { value: '大阪府' } },
      }),
    });
    const callback = await fullFlow(idp, login, await issueCard(f, { address: '大阪府大阪市北区中之島1-3-20' }));
    const split = await client.authorizationCodeGrant(idp.jwtRp, callback, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const answer = await client.fetchUserInfo(idp.jwtRp, split.access_token, split.claims()!.sub);
    assert.equal(split.claims()!['residence_in_prefecture'], true);
    assert.equal(answer['residence_in_prefecture'], true);
  });
});

describe('derived claims rules (unit)', () => {
  const jst = (s: string) => new Date(`${s}+09:00`);

  it('turns 20 at 00:00 JST on the birthday, not at UTC midnight', () => {
    assert.equal(ageClaim('age_over_20', '2006-04-02', jst('2026-04-01T23:59:59')), false);
    assert.equal(ageClaim('age_over_20', '2006-04-02', jst('2026-04-02T00:00:00')), true);
    assert.equal(ageClaim('age_over_20', '2006-04-02', new Date('2026-04-01T15:00:00Z')), true, '15:00Z is 00:00 JST');
  });

  it('counts a 29 February birthday from 1 March in a common year and from 29 February in a leap year', () => {
    // 18th birthday in 2022 (common year): reached at 00:00 JST on 1 March.
    assert.equal(ageClaim('age_over_18', '2004-02-29', jst('2022-02-28T23:59:59')), false);
    assert.equal(ageClaim('age_over_18', '2004-02-29', jst('2022-03-01T00:00:00')), true);
    // 20th birthday in 2024 (leap year): reached at 00:00 JST on 29 February.
    assert.equal(ageClaim('age_over_20', '2004-02-29', jst('2024-02-28T23:59:59')), false);
    assert.equal(ageClaim('age_over_20', '2004-02-29', jst('2024-02-29T00:00:00')), true);
  });

  it('answers only age_over_18 and age_over_20', () => {
    assert.equal(ageClaim('age_over_19', '2000-01-01', new Date()), undefined);
    assert.equal(ageClaim('birthdate', '2000-01-01', new Date()), undefined);
  });

  it('finds the prefecture at the start of the address, and answers residence questions by prefecture only', () => {
    assert.equal(prefectureOf('東京都千代田区千代田1-1'), '東京都');
    assert.equal(prefectureOf('京都府京都市上京区'), '京都府');
    assert.equal(prefectureOf('神奈川県横浜市'), '神奈川県');
    assert.equal(prefectureOf('千代田区千代田1-1'), undefined);
    assert.equal(residesIn('京都府京都市上京区', ['東京都']), false);
    assert.equal(residesIn('京都府京都市上京区', ['東京都', '京都府']), true);
  });

  it('rewrites residence_prefecture with value(s) into the residence_in_prefecture question, idempotently', () => {
    const once = normalizeClaimsParameter({ userinfo: { residence_prefecture: { value: '東京都', essential: true } } });
    assert.deepEqual(once, { userinfo: { residence_in_prefecture: { values: ['東京都'], essential: true } } });
    assert.deepEqual(normalizeClaimsParameter(once), once);
  });

  it('asks a residence question split across targets about the union of their prefectures in both, idempotently', () => {
    const once = normalizeClaimsParameter({
      id_token: { residence_prefecture: { value: '東京都', essential: true } },
      userinfo: { residence_prefecture: { values: ['神奈川県', '東京都'], purpose: '配送地域の確認' } },
    });
    assert.deepEqual(once, {
      id_token: { residence_in_prefecture: { values: ['東京都', '神奈川県'], essential: true } },
      userinfo: { residence_in_prefecture: { values: ['東京都', '神奈川県'], purpose: '配送地域の確認' } },
    });
    assert.deepEqual(normalizeClaimsParameter(once), once);
    const facts = {
      identity: { name: 'x' },
      derived: { prefecture: '神奈川県' },
      evidence: { issuer: 'x', serialNumber: '1', signedAt: '' },
      verifiedAt: '',
      verificationProcess: 'p',
    } as unknown as VerifiedFacts;
    const answers = (['id_token', 'userinfo'] as const).map(
      (t) => releaseClaims(once[t] as Record<string, unknown>, facts, new Date())['residence_in_prefecture'],
    );
    assert.deepEqual(answers, [true, true], 'one answer, not one per prefecture');
  });

  it('releases nothing without a verified identity, plain claims only as requested, and ages as verified', () => {
    const facts: VerifiedFacts = {
      identity: {
        name: '試験　太郎',
        nameSubstitutes: '00000',
        address: '東京都千代田区千代田1-1',
        addressSubstitutes: '000000000000',
        birthDate: '1990-01-02',
        birthEra: 4,
        sex: 'male',
      },
      evidence: { issuer: 'CN=x', serialNumber: '01', signedAt: '2026-01-01T00:00:00Z' },
      verifiedAt: '2026-01-01T00:00:00.000Z',
      verificationProcess: 'vp',
      derived: { ages: { age_over_20: true } },
    };
    assert.deepEqual(releaseClaims({ age_over_20: null, name: null }, undefined, new Date()), {});
    assert.deepEqual(releaseClaims({ gender: null, age_over_20: null }, facts, new Date()), {
      gender: 'male',
      age_over_20: true,
    });
    // An age not worked out at verification is not computed later from a birth date at hand.
    assert.deepEqual(releaseClaims({ age_over_18: null }, facts, new Date()), {});
  });
});
