/**
 * The purpose of use is part of the consent (APPI): a grant records what its claims were consented for (the purpose
 * the signed statement gives, and each claim's own purposes), and the same claims asked for another purpose get the
 * consent screen again (`consent_required` with `prompt=none`), whose record then shows the new purpose on `/me`.
 * The same purposes never ask again. A grant from before purposes were recorded asks once more. The consent screen
 * shows the purpose the statement will give, also when the request names none; each item shows its own purposes,
 * verified claims included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { normalizeClaimsParameter, requestedClaims } from '../src/claims/request.ts';
import { consentItems } from '../src/consent/items.ts';
import { providerStores } from '../src/stores.ts';
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
  type Step,
} from './support/ekyc-fixture.ts';
import type { Agent } from './support/op-agent.ts';

let f: OpFixture;
let idp: TestIdp;
let card: TestCard;

before(async () => {
  f = await createOpFixture();
  card = await issueCard(f, { name: '目的　五郎' });
  idp = await startEkycIdp(f);
});
after(async () => {
  await idp?.close();
  await f?.close();
});

const AGE_ONLY = { id_token: { age_over_20: { essential: true } } };
const ALCOHOL = '酒類の購入 / Buying alcohol';
const SIGN_UP = '会員登録の年齢確認 / Age check for sign-up';
const AGE_P = '酒類の販売で年齢を確かめるため';
const AGE_P2 = '年齢制限のある会員登録のため';
const perClaim = (purpose: string) => ({ id_token: { age_over_20: { essential: true, purpose } } });

/** The authorization request URL of RP_JWT for `claims` and `extra` (e.g. `purpose`, `prompt`). */
async function authorization(claims: unknown, extra: Record<string, string> = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(idp.jwtRp, {
    redirect_uri: RP_JWT.redirectUri,
    scope: 'openid',
    state,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...authorizeExtra(claims, extra),
  });
  return { url, codeVerifier, state };
}

/** A request in the browser of `agent` through to the tokens: which pages it showed, and the consent screen. */
async function again(agent: Agent, claims: unknown, extra: Record<string, string> = {}) {
  const { url, codeVerifier, state } = await authorization(claims, extra);
  const { url: at, response } = await agent.follow(url);
  const origin = new URL(idp.server.url).origin;
  let step: Step = { url: at, page: at.origin === origin ? await response.text() : '' };
  const pages: string[] = [];
  let consentPage: string | undefined;
  if (step.page.includes('consent-form')) {
    pages.push('consent');
    consentPage = step.page;
    step = await consent(agent, step);
  }
  if (step.page.includes('/companion/sign/')) {
    pages.push('sign');
    step = await signStep(idp, agent, step, card);
  }
  assert.notEqual(step.url.origin, origin, `stopped at ${step.url}`);
  const tokens = await client.authorizationCodeGrant(idp.jwtRp, step.url, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
  });
  assert.equal(tokens.claims()!['age_over_20'], true);
  return { pages, consentPage };
}

/** A silent request (`prompt=none`): the error it ends with, or `undefined` for a code. */
async function silently(agent: Agent, claims: unknown, extra: Record<string, string> = {}) {
  const { url } = await authorization(claims, { ...extra, prompt: 'none' });
  const { url: landed } = await agent.follow(url);
  assert.equal(landed.origin + landed.pathname, RP_JWT.redirectUri);
  return landed.searchParams.get('error') ?? undefined;
}

/** A first flow (card login, consent, signature) of `claims` for `purpose`: its browser and grant. */
async function consentedOnce(claims: unknown, purpose: string) {
  const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: authorizeExtra(claims, { purpose }) });
  await client.authorizationCodeGrant(idp.jwtRp, await fullFlow(idp, login, card), {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  const person = (await idp.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
  const granted = (await idp.stores.records.listAudit(person)).filter((e) => e.type === 'consent.granted').at(-1)!;
  return { agent: login.agent, person, grantId: String(granted.data['grantId']) };
}

const purposeShown = (page: string | undefined) =>
  /<strong id="consent-purpose">([^<]*)<\/strong>/.exec(page ?? '')?.[1];

describe('consent is asked again for another purpose (end to end)', () => {
  it('asks again when the same claims are asked for a new purpose, and /me shows the consent with it', async () => {
    const { agent, person } = await consentedOnce(AGE_ONLY, ALCOHOL);
    const same = await again(agent, AGE_ONLY, { purpose: ALCOHOL });
    assert.deepEqual(same.pages, [], 'the same purpose: no consent screen (nor a signature)');

    const before = (await idp.stores.records.listConsents(person)).length;
    const changed = await again(agent, AGE_ONLY, { purpose: SIGN_UP });
    assert.deepEqual(changed.pages, ['consent', 'sign'], 'the claims are granted, but not for a sign-up');
    assert.equal(purposeShown(changed.consentPage), SIGN_UP);
    const consents = await idp.stores.records.listConsents(person);
    assert.equal(consents.length, before + 1, 'a new consent record');
    assert.match(consents.at(-1)!.textShown, /目的 \/ Purpose: 会員登録の年齢確認 \/ Age check for sign-up/);
    const audit = (await idp.stores.records.listAudit(person)).filter((e) => e.type === 'consent.granted');
    assert.equal(audit.at(-1)!.data['purpose'], SIGN_UP);

    const me = await (await agent.fetch(new URL('/me', idp.server.url))).text();
    const records = /<ul id="consent-records">([^]*?)<\/ul>/.exec(me)?.[1] ?? '';
    assert.ok(records.includes(`目的 / Purpose: ${SIGN_UP}`), 'the person sees the purpose they agreed to');

    const now = await again(agent, AGE_ONLY, { purpose: SIGN_UP });
    assert.deepEqual(now.pages, [], 'consented and signed for the sign-up: not asked again');
    assert.equal(await silently(agent, AGE_ONLY, { purpose: '第三の目的 / A third purpose' }), 'consent_required');
  });

  it('asks again when a per-claim purpose changes (consent_required with prompt=none), never for the same ones', async () => {
    const { agent } = await consentedOnce(perClaim(AGE_P), ALCOHOL);
    assert.equal(await silently(agent, perClaim(AGE_P), { purpose: ALCOHOL }), undefined, 'the same: a code');
    assert.equal(await silently(agent, perClaim(AGE_P2), { purpose: ALCOHOL }), 'consent_required');
    assert.equal(await silently(agent, AGE_ONLY, { purpose: ALCOHOL }), 'consent_required', 'without it');
    const changed = await again(agent, perClaim(AGE_P2), { purpose: ALCOHOL });
    assert.deepEqual(changed.pages, ['consent', 'sign']);
    assert.match(changed.consentPage!, new RegExp(`<small class="purpose">目的 / Purpose: ${AGE_P2}</small>`));
    assert.equal(await silently(agent, perClaim(AGE_P2), { purpose: ALCOHOL }), undefined);
  });

  it('asks a grant from before purposes were recorded once more, then records the purpose', async () => {
    const { agent, grantId } = await consentedOnce(AGE_ONLY, ALCOHOL);
    // As granted before this change: the claims, without what they were consented for.
    const grants = providerStores(idp.stores).adapter!('Grant');
    const payload = (await grants.find(grantId)) as { openid: { claims: string[] } } & Record<string, unknown>;
    const recorded = payload.openid.claims.filter((c) => c.startsWith('purpose:'));
    assert.ok(recorded.length > 0, 'the consent recorded its purpose in the grant');
    payload.openid.claims = payload.openid.claims.filter((c) => !c.startsWith('purpose:'));
    await grants.upsert(grantId, payload as never, 3600);

    const first = await again(agent, AGE_ONLY, { purpose: ALCOHOL });
    assert.deepEqual(first.pages, ['consent'], 'asked once (the signature for the purpose still serves)');
    const second = await again(agent, AGE_ONLY, { purpose: ALCOHOL });
    assert.deepEqual(second.pages, []);
  });

  it('shows on the consent screen the purpose the statement will give, also when the request names none', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: authorizeExtra(AGE_ONLY) });
    const step = await loginThenStop(idp, login, card);
    assert.equal(purposeShown(step.page), '年齢の確認 / Age check');
    const signPage = await consent(login.agent, step);
    assert.match(signPage.page, /<dd id="purpose">年齢の確認 \/ Age check<\/dd>/);
  });
});

describe('consentItems: per-claim purposes (unit)', () => {
  const items = (claims: Record<string, unknown>) =>
    consentItems(requestedClaims(JSON.stringify(normalizeClaimsParameter(claims))), '');
  const verified = (claims: Record<string, unknown>) => ({
    verified_claims: { verification: { trust_framework: null }, claims },
  });

  it("gives the verified claims item its claims' purposes, by claim, shown by the claims they are for", () => {
    const [, item] = items({
      id_token: verified({ name: { purpose: '口座名義の確認のため' }, address: { purpose: '口座名義の確認のため' } }),
      userinfo: verified({ name: { purpose: '配送先の宛名に使うため' }, birthdate: null }),
    });
    assert.equal(item!.key, 'verified_claims');
    assert.deepEqual(item!.claimPurposes, {
      'verified_claims.name': ['口座名義の確認のため', '配送先の宛名に使うため'],
      'verified_claims.address': ['口座名義の確認のため'],
    });
    assert.equal(item!.purpose, '氏名: 口座名義の確認のため；配送先の宛名に使うため ／ 住所: 口座名義の確認のため');
    // The RP SDK gives every verified claim the request's purpose: shown once for them all.
    const [, same] = items({
      id_token: verified({ name: { purpose: '口座開設のため' }, address: { purpose: '口座開設のため' } }),
    });
    assert.equal(same!.purpose, '氏名・住所: 口座開設のため');
    const [, none] = items({ id_token: verified({ name: null }) });
    assert.deepEqual(none!.claimPurposes, {});
    assert.equal(none!.purpose, undefined);
  });

  it('keeps every distinct purpose of a claim asked for the ID token and UserInfo, sorted, whatever the order', () => {
    const one = items({
      id_token: { age_over_20: { purpose: 'ろ番目の目的' } },
      userinfo: { age_over_20: { purpose: 'い番目の目的' } },
    });
    const other = items({
      userinfo: { age_over_20: { purpose: 'ろ番目の目的' } },
      id_token: { age_over_20: { purpose: 'い番目の目的' } },
    });
    assert.deepEqual(one[1]!.claimPurposes, { age_over_20: ['い番目の目的', 'ろ番目の目的'] });
    assert.deepEqual(other[1]!.claimPurposes, one[1]!.claimPurposes);
    assert.equal(one[1]!.purpose, 'い番目の目的；ろ番目の目的');
    const [, prefecture] = items({
      id_token: { residence_prefecture: { value: '東京都', purpose: '配送地域の確認' } },
    });
    assert.deepEqual(prefecture!.claimPurposes, { residence_in_prefecture: ['配送地域の確認'] });
  });
});
