/**
 * A card signature is reused only for what it was signed for. The verified identity records the statement's
 * purpose and the service it named (client id, name, origin) beside the claims it listed; a later request of the
 * same grant for the same claims goes without a new signature only when a statement for it would name exactly that
 * purpose and service. Another purpose gets the signing step again, with a statement that says the new purpose; a
 * kept identity never serves another client; an identity kept before the purpose was recorded covers no purpose.
 * The per-claim purposes of a request (OIDC4IA §5.5.1, `claims.<target>.<claim>.purpose` and inside `verified_claims`)
 * are signed too, item by item in the consent screen's words and as the statement's `claimPurposes`, recorded with
 * the identity and in the audit, and a kept signature serves only the same ones.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ACR_CARD_SIGN } from '../src/acr.ts';
import { accountFinder } from '../src/account.ts';
import { normalizeClaimsParameter } from '../src/claims/request.ts';
import type { SignedCoverage } from '../src/claims/retention.ts';
import { identityStore, type VerifiedIdentity } from '../src/ekyc/identity-store.ts';
import { ekycPrompt, statementTerms, unsignedTerms } from '../src/ekyc/policy.ts';
import { defaultPurpose } from '../src/ekyc/statement.ts';
import { providerStores } from '../src/stores.ts';
import { createOpFixture, startLogin, type OpFixture, type TestCard, type TestIdp } from './support/op-fixture.ts';
import {
  authorizeExtra,
  cardSignature,
  consent,
  fullFlow,
  issueCard,
  loginThenStop,
  openSignPage,
  postSignature,
  RP_JWT,
  RP_SECRET,
  startEkycIdp,
  type SignViewJson,
  type Step,
} from './support/ekyc-fixture.ts';
import type { Agent } from './support/op-agent.ts';

let f: OpFixture;
let idp: TestIdp;
/** An IdP with a purpose configured for RP_JWT (`ekyc.purposes`). */
let configuredIdp: TestIdp;
let card: TestCard;

const CONFIGURED = '口座開設の本人確認 / Account opening';

before(async () => {
  f = await createOpFixture();
  card = await issueCard(f, { name: '試験　花子', address: '東京都千代田区千代田1-1', birthDate: '1990-01-02' });
  [idp, configuredIdp] = await Promise.all([
    startEkycIdp(f),
    startEkycIdp(f, { ekyc: { purposes: { [RP_JWT.clientId]: CONFIGURED } } }),
  ]);
});
after(async () => {
  await Promise.all([idp?.close(), configuredIdp?.close()]);
  await f?.close();
});

const AGE_ONLY = { id_token: { age_over_20: { essential: true } } };
const AGE_AND_TOKYO = { id_token: { age_over_20: { essential: true }, residence_prefecture: { value: '東京都' } } };
const ALCOHOL = '酒類の購入 / Buying alcohol';
const SIGN_UP = '会員登録の年齢確認 / Age check for sign-up';

/** A relying party of an IdP. */
interface Rp {
  readonly on: TestIdp;
  readonly config: client.Configuration;
  readonly redirectUri: string;
}
const jwtRp = (on: TestIdp = idp): Rp => ({ on, config: on.jwtRp, redirectUri: RP_JWT.redirectUri });
const secretRp = (): Rp => ({ on: idp, config: idp.secretRp, redirectUri: RP_SECRET.redirectUri });

/** What a signing step showed and had signed. */
interface Signed {
  /** The purpose on the signing page. */
  readonly shown: string | undefined;
  /** The signing page itself. */
  readonly page: string;
  /** The statement the companion got (and the card signed). */
  readonly view: SignViewJson;
}

/** Scans, signs with the card, posts, waits for `done` and follows back; returns what was shown and signed. */
async function signCapturing(on: TestIdp, agent: Agent, step: Step): Promise<{ next: Step; signed: Signed }> {
  const shown = /<dd id="purpose">([^<]*)<\/dd>/.exec(step.page)?.[1];
  const sign = await openSignPage(agent, step);
  const scanned = await on.fetch(sign.link);
  assert.equal(scanned.status, 200);
  const view = (await scanned.json()) as SignViewJson;
  const posted = await postSignature(on, view.txn, await cardSignature(card, view.canonical));
  assert.equal(posted.status, 200, JSON.stringify(posted.body));
  const done = (await sign.events.next('done')) as { redirect: string } | undefined;
  await sign.events.close();
  assert.ok(done, 'a done event after signing');
  const { url, response } = await agent.follow(done.redirect);
  return {
    next: { url, page: url.origin === step.url.origin ? await response.text() : '' },
    signed: { shown, page: step.page, view },
  };
}

/** A request of `claims` (and `extra`, e.g. `purpose`) in the browser of `agent`, through to the RP's tokens. */
async function again(
  agent: Agent,
  claims: unknown,
  extra: Record<string, string> = {},
  rp: Rp = jwtRp(),
): Promise<{
  pages: string[];
  signed: Signed | undefined;
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
}> {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(rp.config, {
    redirect_uri: rp.redirectUri,
    scope: 'openid',
    state,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...authorizeExtra(claims, extra),
  });
  const { url: at, response } = await agent.follow(url);
  const origin = new URL(rp.on.server.url).origin;
  let step: Step = { url: at, page: at.origin === origin ? await response.text() : '' };
  const pages: string[] = [];
  let signed: Signed | undefined;
  if (step.page.includes('consent-form')) {
    pages.push('consent');
    step = await consent(agent, step);
  }
  if (step.page.includes('/companion/sign/')) {
    pages.push('sign');
    ({ next: step, signed } = await signCapturing(rp.on, agent, step));
  }
  assert.notEqual(step.url.origin, origin, `stopped at ${step.url}`);
  const tokens = await client.authorizationCodeGrant(rp.config, step.url, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
  });
  return { pages, signed, tokens };
}

async function signatureRows(on: TestIdp = idp) {
  const person = (await on.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
  return (await on.stores.records.listAudit(person)).filter((e) => e.type === 'ekyc.signature');
}

/**
 * A first flow of `claims` for `purpose` (none: the configured or default one) with RP_JWT of `on`; the agent, and
 * the grant it signed for.
 */
async function signedOnce(claims: unknown, purpose?: string, on: TestIdp = idp) {
  const login = await startLogin(on, on.jwtRp, RP_JWT.redirectUri, {
    extra: authorizeExtra(claims, purpose === undefined ? {} : { purpose }),
  });
  const tokens = await client.authorizationCodeGrant(on.jwtRp, await fullFlow(on, login, card), {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  assert.equal(tokens.claims()!['age_over_20'], true);
  const grantId = String((await signatureRows(on)).at(-1)!.data['grantId']);
  return { agent: login.agent, grantId };
}

const identities = (on: TestIdp = idp) => identityStore(providerStores(on.stores).adapter);

describe('a signature is reused only for the purpose and the service it was signed for (end to end)', () => {
  it('records the signed purpose and service with the identity, and reuses it for the same claims and purpose without a second signature', async () => {
    const { agent, grantId } = await signedOnce(AGE_ONLY, ALCOHOL);
    const stored = (await identities().get(grantId))!;
    assert.deepEqual(stored.signed, {
      claims: ['age_over_20'],
      details: [],
      purpose: ALCOHOL,
      claimPurposes: {},
      client: { id: RP_JWT.clientId, name: RP_JWT.name, origin: new URL(RP_JWT.redirectUri).origin },
    });
    const count = (await signatureRows()).length;
    const { pages, tokens } = await again(agent, AGE_ONLY, { purpose: ALCOHOL });
    assert.deepEqual(pages, [], 'neither consent nor signature again');
    assert.equal((await signatureRows()).length, count, 'no second ekyc.signature');
    assert.equal(tokens.claims()!['age_over_20'], true);
    assert.equal(tokens.claims()!['acr'], ACR_CARD_SIGN);
  });

  it('asks for a new signature when the same claims are asked for a new purpose, with a statement that says the new purpose', async () => {
    const { agent, grantId } = await signedOnce(AGE_ONLY, ALCOHOL);
    const count = (await signatureRows()).length;
    const { pages, signed, tokens } = await again(agent, AGE_ONLY, { purpose: SIGN_UP });
    // A new purpose is consented to first (consent/purposes.ts), then signed for.
    assert.deepEqual(pages, ['consent', 'sign'], 'the signature for buying alcohol does not stand for a sign-up');
    assert.equal(signed!.shown, SIGN_UP, 'the signing page shows the new purpose');
    assert.equal(signed!.view.statement.purpose, SIGN_UP, 'the statement signed carries the new purpose');
    assert.equal(JSON.parse(signed!.view.canonical).purpose, SIGN_UP);
    assert.match(signed!.view.statement.text.en, /Purpose: 会員登録の年齢確認 \/ Age check for sign-up\./);
    const rows = await signatureRows();
    assert.equal(rows.length, count + 1, 'a second ekyc.signature');
    assert.equal(rows.at(-1)!.data['purpose'], SIGN_UP);
    assert.equal(rows.at(-1)!.data['grantId'], grantId, 'the same grant');
    assert.equal((await identities().get(grantId))!.signed?.purpose, SIGN_UP, 'the identity now covers the new one');
    assert.equal(tokens.claims()!['age_over_20'], true);

    // The identity now stands for the sign-up alone: the first purpose again signs again too (its consent stands).
    const back = await again(agent, AGE_ONLY, { purpose: ALCOHOL });
    assert.deepEqual(back.pages, ['sign']);
    assert.equal(back.signed!.view.statement.purpose, ALCOHOL);
    assert.equal((await signatureRows()).length, count + 2);
  });

  it('asks again when a request without a purpose would get another default purpose than the one signed', async () => {
    const { agent, grantId } = await signedOnce(AGE_AND_TOKYO);
    const signedFor = defaultPurpose(['age_over_20', 'residence_in_prefecture']);
    assert.equal((await identities().get(grantId))!.signed?.purpose, signedFor);
    const count = (await signatureRows()).length;
    const { pages, signed } = await again(agent, AGE_ONLY);
    assert.deepEqual(pages, ['consent', 'sign'], 'an age and residence check is not an age check');
    assert.equal(signed!.view.statement.purpose, '年齢の確認 / Age check');
    assert.equal((await signatureRows()).length, count + 1);
  });

  it("never reuses an identity signed for another client, even one put under this client's grant", async () => {
    const { agent, grantId: bankGrant } = await signedOnce(AGE_ONLY, ALCOHOL);
    const first = await again(agent, AGE_ONLY, { purpose: ALCOHOL }, secretRp());
    assert.deepEqual(first.pages, ['consent', 'sign'], 'another client: its own consent and signature');
    const shopGrant = String((await signatureRows()).at(-1)!.data['grantId']);
    assert.notEqual(shopGrant, bankGrant);
    // The bank's identity under the shop's grant: same person, same claims, same purpose; only the client differs.
    const bank = (await identities().get(bankGrant))!;
    await identities().put({ ...bank, grantId: shopGrant }, 600);
    const count = (await signatureRows()).length;
    const { pages, signed } = await again(agent, AGE_ONLY, { purpose: ALCOHOL }, secretRp());
    assert.deepEqual(pages, ['sign']);
    assert.equal(signed!.view.statement.purpose, ALCOHOL);
    assert.deepEqual(JSON.parse(signed!.view.canonical).client, {
      name: RP_SECRET.name,
      origin: new URL(RP_SECRET.redirectUri).origin,
    });
    assert.equal((await signatureRows()).length, count + 1);
    const now = (await identities().get(shopGrant))!;
    assert.equal(now.clientId, RP_SECRET.clientId);
    assert.equal(now.signed?.client?.id, RP_SECRET.clientId);
  });

  it("reuses a signature for the client's configured purpose while requests name none, and asks again for a purpose of their own", async () => {
    const { agent, grantId } = await signedOnce(AGE_ONLY, undefined, configuredIdp);
    assert.equal((await identities(configuredIdp).get(grantId))!.signed?.purpose, CONFIGURED);
    const count = (await signatureRows(configuredIdp)).length;
    const same = await again(agent, AGE_ONLY, {}, jwtRp(configuredIdp));
    assert.deepEqual(same.pages, [], 'the configured purpose was signed');
    assert.equal((await signatureRows(configuredIdp)).length, count);
    const own = await again(agent, AGE_ONLY, { purpose: ALCOHOL }, jwtRp(configuredIdp));
    assert.deepEqual(own.pages, ['consent', 'sign']);
    assert.equal(own.signed!.view.statement.purpose, ALCOHOL);
    assert.equal((await signatureRows(configuredIdp)).length, count + 1);
  });

  it('treats an identity kept before the purpose was recorded as covering no purpose (a new signature is asked)', async () => {
    const { agent, grantId } = await signedOnce(AGE_ONLY, ALCOHOL);
    const stored = (await identities().get(grantId))!;
    // As kept before this change: the claims and details signed, but neither the purpose nor the service.
    const legacy = { ...stored, signed: { claims: stored.signed!.claims, details: stored.signed!.details } };
    await identities().put(legacy, 600);
    const count = (await signatureRows()).length;
    const { pages, signed, tokens } = await again(agent, AGE_ONLY, { purpose: ALCOHOL });
    assert.deepEqual(pages, ['sign']);
    assert.equal(signed!.view.statement.purpose, ALCOHOL);
    assert.equal((await signatureRows()).length, count + 1);
    const renewed = (await identities().get(grantId))!;
    assert.equal(renewed.signed?.purpose, ALCOHOL, 'replaced by one that records it');
    assert.equal(tokens.claims()!['age_over_20'], true);

    // Without the purpose alone (the service recorded): still no purpose covered.
    const { purpose: _purpose, ...withoutPurpose } = renewed.signed!;
    await identities().put({ ...renewed, signed: withoutPurpose }, 600);
    const third = await again(agent, AGE_ONLY, { purpose: ALCOHOL });
    assert.deepEqual(third.pages, ['sign']);
    assert.equal((await signatureRows()).length, count + 2);
  });
});

const AGE_P = '酒類の販売で年齢を確かめるため';
const AGE_P2 = '年齢制限のある会員登録のため';
const NAME_P = '配送先の宛名に使うため';
/** An age question and a verified name and address, with per-claim purposes for the age and the name. */
const PER_CLAIM = (age: string = AGE_P, name: string = NAME_P) => ({
  id_token: {
    age_over_20: { essential: true, purpose: age },
    verified_claims: {
      verification: { trust_framework: null },
      claims: { name: { essential: true, purpose: name }, address: null },
    },
  },
});

/** The per-claim purposes a page (the consent screen or the signing page) shows, by item key. */
function shownPurposes(page: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [, key, body] of page.matchAll(/<li data-key="([^"]+)">([^]*?)<\/li>/g)) {
    const purpose = /<small class="purpose">目的 \/ Purpose: ([^<]*)<\/small>/.exec(body!)?.[1];
    if (purpose !== undefined) out[key!] = purpose;
  }
  return out;
}

describe('per-claim purposes are signed, and a signature serves only the same ones (end to end)', () => {
  it("signs each item's per-claim purposes in the consent screen's words, and records them with the identity and in the audit", async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra(PER_CLAIM(), { purpose: ALCOHOL }),
    });
    const consentStep = await loginThenStop(idp, login, card);
    assert.ok(consentStep.page.includes('consent-form'));
    const onConsent = shownPurposes(consentStep.page);
    // The verified claims' own purposes are shown too, by the claim they are for.
    assert.deepEqual(onConsent, { age_over_20: AGE_P, verified_claims: `氏名: ${NAME_P}` });
    const signPage = await consent(login.agent, consentStep);
    assert.deepEqual(shownPurposes(signPage.page), onConsent, 'the signing page shows them in the same words');
    const { next, signed } = await signCapturing(idp, login.agent, signPage);
    const expected = { age_over_20: [AGE_P], 'verified_claims.name': [NAME_P] };
    assert.deepEqual(JSON.parse(signed.view.canonical).claimPurposes, expected, 'signed as data');
    assert.ok(
      signed.view.statement.text.ja.includes(
        `20歳以上かどうか（はい／いいえだけ。生年月日は伝えません）（目的: ${AGE_P}）`,
      ),
      signed.view.statement.text.ja,
    );
    assert.ok(signed.view.statement.text.ja.includes(`（目的: 氏名: ${NAME_P}）`), signed.view.statement.text.ja);
    assert.ok(
      signed.view.statement.text.en.includes(`not your date of birth) (purpose: ${AGE_P})`),
      signed.view.statement.text.en,
    );
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, next.url, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    assert.equal(tokens.claims()!['age_over_20'], true);
    const row = (await signatureRows()).at(-1)!;
    assert.deepEqual(row.data['claimPurposes'], expected, 'in the audit');
    const stored = (await identities().get(String(row.data['grantId'])))!;
    assert.deepEqual(stored.signed?.claimPurposes, expected, 'in what the signature covers');
  });

  it('reuses the signature for the same per-claim purposes, and asks for a new one when one changes', async () => {
    const { agent } = await signedOnce(PER_CLAIM(), ALCOHOL);
    const count = (await signatureRows()).length;
    const same = await again(agent, PER_CLAIM(), { purpose: ALCOHOL });
    assert.deepEqual(same.pages, [], 'the same purposes: neither consent nor signature');
    assert.equal((await signatureRows()).length, count);

    const changed = await again(agent, PER_CLAIM(AGE_P2), { purpose: ALCOHOL });
    assert.deepEqual(changed.pages, ['consent', 'sign'], 'another purpose for the age: consented, then signed for');
    assert.deepEqual(JSON.parse(changed.signed!.view.canonical).claimPurposes, {
      age_over_20: [AGE_P2],
      'verified_claims.name': [NAME_P],
    });
    assert.equal((await signatureRows()).length, count + 1);

    // Back to the first: its consent stands, but the identity now covers the second purposes only.
    const back = await again(agent, PER_CLAIM(), { purpose: ALCOHOL });
    assert.deepEqual(back.pages, ['sign']);
    assert.deepEqual(JSON.parse(back.signed!.view.canonical).claimPurposes['age_over_20'], [AGE_P]);
    assert.equal((await signatureRows()).length, count + 2);
    // Without a per-claim purpose where one was signed: not the same statement either.
    const none = await again(
      agent,
      { id_token: { ...PER_CLAIM().id_token, age_over_20: { essential: true } } },
      { purpose: ALCOHOL },
    );
    assert.ok(none.pages.includes('sign'), `signed again: ${none.pages}`);
    assert.equal(JSON.parse(none.signed!.view.canonical).claimPurposes['age_over_20'], undefined);
  });

  it('signs the same purposes given in another order (ID token and UserInfo) as the same statement terms', async () => {
    const [A, B] = ['会員の年齢区分を決めるため', '酒類の注文を受けるため'];
    const first = { id_token: { age_over_20: { purpose: B } }, userinfo: { age_over_20: { purpose: A } } };
    const swapped = { userinfo: { age_over_20: { purpose: B } }, id_token: { age_over_20: { purpose: A } } };
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra(first, { purpose: ALCOHOL }),
    });
    const signPage = await consent(login.agent, await loginThenStop(idp, login, card));
    assert.deepEqual(shownPurposes(signPage.page), { age_over_20: `${A}；${B}` }, 'both, sorted');
    const { next, signed } = await signCapturing(idp, login.agent, signPage);
    assert.deepEqual(JSON.parse(signed.view.canonical).claimPurposes, { age_over_20: [A, B] });
    await client.authorizationCodeGrant(idp.jwtRp, next.url, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const count = (await signatureRows()).length;
    const { pages } = await again(login.agent, swapped, { purpose: ALCOHOL });
    assert.deepEqual(pages, [], 'the same purposes: reused');
    assert.equal((await signatureRows()).length, count);
  });

  it('reads coverage recorded before per-claim purposes were as signed without any: reused only by a request that gives none', async () => {
    const strip = async (grantId: string) => {
      const stored = (await identities().get(grantId))!;
      const { claimPurposes: _gone, ...legacy } = stored.signed!;
      await identities().put({ ...stored, signed: legacy }, 600);
    };
    const plain = await signedOnce(AGE_ONLY, ALCOHOL);
    await strip(plain.grantId);
    let count = (await signatureRows()).length;
    const reused = await again(plain.agent, AGE_ONLY, { purpose: ALCOHOL });
    assert.deepEqual(reused.pages, [], 'no per-claim purposes asked: what that statement said');
    assert.equal((await signatureRows()).length, count);

    const given = { id_token: { age_over_20: { essential: true, purpose: AGE_P } } };
    const withPurpose = await signedOnce(given, ALCOHOL);
    await strip(withPurpose.grantId);
    count = (await signatureRows()).length;
    const { pages, signed } = await again(withPurpose.agent, given, { purpose: ALCOHOL });
    assert.deepEqual(pages, ['sign'], 'fails closed: the kept signature never listed the per-claim purpose');
    assert.deepEqual(JSON.parse(signed!.view.canonical).claimPurposes, { age_over_20: [AGE_P] });
    assert.equal((await signatureRows()).length, count + 1);
    assert.deepEqual((await identities().get(withPurpose.grantId))!.signed?.claimPurposes, { age_over_20: [AGE_P] });
  });
});

describe('unsignedTerms and the ekyc prompt (unit)', () => {
  const BANK = { id: RP_JWT.clientId, name: RP_JWT.name, origin: 'https://bank.example' };
  const covered: SignedCoverage = { claims: ['age_over_20'], details: [], purpose: ALCOHOL, client: BANK };
  const params = (extra: Record<string, string> = {}) => ({
    claims: JSON.stringify(normalizeClaimsParameter(AGE_ONLY as never)),
    redirect_uri: RP_JWT.redirectUri,
    acr_values: ACR_CARD_SIGN,
    ...extra,
  });
  const terms = (extra: Record<string, string> = {}, purposes: Record<string, string> = {}) =>
    statementTerms({
      params: params(extra),
      clientId: RP_JWT.clientId,
      clientName: RP_JWT.name,
      purposes,
      claims: ['age_over_20'],
    });

  it('finds nothing unsigned for exactly the signed purpose and service', () => {
    assert.deepEqual(terms({ purpose: ALCOHOL }), {
      purpose: ALCOHOL,
      claimPurposes: { age_over_20: [] },
      client: BANK,
    });
    assert.deepEqual(unsignedTerms(covered, terms({ purpose: ALCOHOL })), []);
  });

  it('finds the purpose unsigned for another purpose, the default purpose, or a configured one', () => {
    assert.deepEqual(unsignedTerms(covered, terms({ purpose: SIGN_UP })), ['purpose']);
    assert.deepEqual(unsignedTerms(covered, terms()), ['purpose'], 'the default, 年齢の確認');
    assert.deepEqual(unsignedTerms(covered, terms({}, { [RP_JWT.clientId]: CONFIGURED })), ['purpose']);
    assert.deepEqual(unsignedTerms({ ...covered, purpose: `${ALCOHOL} ` }, terms({ purpose: ALCOHOL })), ['purpose']);
  });

  it('finds the client unsigned for another id, display name or redirect origin', () => {
    const same = terms({ purpose: ALCOHOL });
    assert.deepEqual(unsignedTerms({ ...covered, client: { ...BANK, id: 'shop-rp' } }, same), ['client']);
    assert.deepEqual(unsignedTerms({ ...covered, client: { ...BANK, name: 'Other Bank' } }, same), ['client']);
    const elsewhere = terms({ purpose: ALCOHOL, redirect_uri: 'https://other.bank.example/cb' });
    assert.deepEqual(unsignedTerms(covered, elsewhere), ['client']);
    assert.deepEqual(unsignedTerms(covered, terms({ purpose: ALCOHOL, redirect_uri: 'not a url' })), ['client']);
  });

  it('treats coverage without a purpose or a service (kept before they were recorded) as covering neither', () => {
    const legacy = { claims: ['age_over_20'], details: [] };
    assert.deepEqual(unsignedTerms(legacy, terms({ purpose: ALCOHOL })), ['purpose', 'client']);
    assert.deepEqual(unsignedTerms({ ...legacy, client: BANK }, terms({ purpose: ALCOHOL })), ['purpose']);
    assert.deepEqual(unsignedTerms(undefined, terms({ purpose: ALCOHOL })), ['purpose', 'client']);
  });

  it('finds the per-claim purposes unsigned unless each entry asked has exactly the purposes signed for it', () => {
    const given = (purpose: string) => ({
      claims: JSON.stringify(normalizeClaimsParameter({ id_token: { age_over_20: { essential: true, purpose } } })),
      purpose: ALCOHOL,
    });
    const wanted = terms(given(AGE_P));
    assert.deepEqual(wanted.claimPurposes, { age_over_20: [AGE_P] });
    const signedFor = (claimPurposes: Record<string, string[]> | undefined): SignedCoverage => ({
      ...covered,
      ...(claimPurposes === undefined ? {} : { claimPurposes }),
    });
    assert.deepEqual(unsignedTerms(signedFor({ age_over_20: [AGE_P] }), wanted), []);
    assert.deepEqual(unsignedTerms(signedFor({ age_over_20: [AGE_P2] }), wanted), ['claimPurposes']);
    assert.deepEqual(unsignedTerms(signedFor({ age_over_20: [AGE_P, AGE_P2] }), wanted), ['claimPurposes']);
    assert.deepEqual(unsignedTerms(signedFor({}), wanted), ['claimPurposes'], 'signed without one');
    assert.deepEqual(unsignedTerms(signedFor(undefined), wanted), ['claimPurposes'], 'recorded before: fails closed');
    // A request without per-claim purposes: signed without any (recorded or from before) serves it; signed with one
    // does not; entries signed but not asked for now do not matter.
    const plain = terms({ purpose: ALCOHOL });
    assert.deepEqual(unsignedTerms(signedFor(undefined), plain), []);
    assert.deepEqual(unsignedTerms(signedFor({}), plain), []);
    assert.deepEqual(unsignedTerms(signedFor({ age_over_20: [AGE_P] }), plain), ['claimPurposes']);
    assert.deepEqual(unsignedTerms(signedFor({ age_over_20: [AGE_P], 'verified_claims.name': [NAME_P] }), wanted), []);
  });

  /** Runs the prompt's check for a request of `extra` against a kept identity signed as `signed`. */
  async function prompted(
    signed: SignedCoverage | undefined,
    extra: Record<string, string>,
    purposes: Record<string, string> = {},
    clientId: string = RP_JWT.clientId,
  ): Promise<boolean> {
    const identity = {
      grantId: 'g1',
      accountId: 'p1',
      clientId: RP_JWT.clientId,
      identity: {},
      derived: { ages: { age_over_20: true } },
      evidence: { issuer: 'CN=x', serialNumber: '01', signedAt: '2026-01-01T00:00:00Z' },
      statementHash: 'h',
      verifiedAt: '2026-01-01T00:00:00.000Z',
      verificationProcess: 'vp',
      signingCertificate: {
        issuerFingerprint: 'ab'.repeat(32),
        serialNumber: '01',
        notAfter: '2031-01-01T00:00:00Z',
        ocspUrls: [],
      },
      ...(signed === undefined ? {} : { signed }),
    } satisfies VerifiedIdentity;
    const store = { get: async () => identity, put: async () => {}, delete: async () => {} };
    // The signing certificate stands (ekyc-signing-recheck.test.ts asks about one that does not).
    const prompt = ekycPrompt(store, purposes, { verifier: { signingStatus: async () => ({}) }, now: Date.now });
    const ctx = {
      oidc: {
        params: params(extra),
        grant: { jti: 'g1', getOIDCClaims: () => ['age_over_20'], getRejectedOIDCClaims: () => [] },
        session: { accountId: 'p1' },
        client: { clientId, clientName: RP_JWT.name },
        acr: ACR_CARD_SIGN,
      },
    } as unknown as KoaContextWithOIDC;
    const [check] = prompt.checks as unknown as { check(ctx: KoaContextWithOIDC): Promise<boolean> }[];
    return check!.check(ctx);
  }

  it('asks for the ekyc prompt exactly when the purpose or the service differs from the signed ones', async () => {
    assert.equal(await prompted(covered, { purpose: ALCOHOL }), false, 'same purpose and service: reused');
    assert.equal(await prompted(covered, { purpose: SIGN_UP }), true, 'a new purpose');
    assert.equal(await prompted(covered, { purpose: ALCOHOL }, {}, 'shop-rp'), true, 'another client');
    assert.equal(
      await prompted(covered, { purpose: ALCOHOL, redirect_uri: 'https://other.bank.example/cb' }),
      true,
      'another origin named',
    );
    assert.equal(await prompted({ claims: ['age_over_20'], details: [] }, { purpose: ALCOHOL }), true, 'legacy');
  });

  it('asks for the ekyc prompt when a per-claim purpose differs from the signed one', async () => {
    const claims = JSON.stringify(
      normalizeClaimsParameter({ id_token: { age_over_20: { essential: true, purpose: AGE_P } } }),
    );
    const withPurposes = { ...covered, claimPurposes: { age_over_20: [AGE_P] } };
    assert.equal(await prompted(withPurposes, { purpose: ALCOHOL, claims }), false, 'the same: reused');
    assert.equal(
      await prompted({ ...covered, claimPurposes: { age_over_20: [AGE_P2] } }, { purpose: ALCOHOL, claims }),
      true,
    );
    assert.equal(await prompted(covered, { purpose: ALCOHOL, claims }), true, 'recorded before per-claim purposes');
    assert.equal(await prompted(covered, { purpose: ALCOHOL }), false, 'none asked, none signed');
  });

  it("compares a request without a purpose with the client's configured one, or else the default", async () => {
    const configured = { ...covered, purpose: CONFIGURED };
    assert.equal(await prompted(configured, {}, { [RP_JWT.clientId]: CONFIGURED }), false);
    assert.equal(await prompted(configured, {}, { [RP_JWT.clientId]: SIGN_UP }), true, 'the configuration changed');
    assert.equal(await prompted({ ...covered, purpose: '年齢の確認 / Age check' }, {}, {}), false, 'the default');
    assert.equal(await prompted(covered, {}, {}), true, 'not the default: signed again');
  });
});

describe('the release never answers another client (were the signing step skipped), nor one now login only', () => {
  const identity: VerifiedIdentity = {
    grantId: 'g1',
    accountId: 'p1',
    clientId: RP_JWT.clientId,
    identity: {},
    derived: { ages: { age_over_20: true } },
    signed: {
      claims: ['age_over_20'],
      details: [],
      purpose: ALCOHOL,
      client: { id: RP_JWT.clientId, name: RP_JWT.name, origin: 'https://bank.example' },
    },
    evidence: { issuer: 'CN=x', serialNumber: '01', signedAt: '2026-01-01T00:00:00Z' },
    statementHash: 'h',
    verifiedAt: '2026-01-01T00:00:00.000Z',
    verificationProcess: 'vp',
  };

  /** The claims the client `clientId` (confidential, an https redirect, unless `change`d) gets, and the releases. */
  async function claimsFor(clientId: string | undefined, change: Record<string, unknown> = {}) {
    const released: unknown[] = [];
    const find = accountFinder({ personExists: async () => true } as never, {
      identities: { get: async () => identity, put: async () => {}, delete: async () => {} },
      records: { appendAudit: async (e: unknown) => void released.push(e) as never },
      now: () => Date.parse('2026-01-02T00:00:00Z'),
      origin: 'https://id.example.jp',
    });
    const client =
      clientId === undefined
        ? undefined
        : { clientId, redirectUris: [RP_JWT.redirectUri], clientAuthMethod: 'private_key_jwt', ...change };
    const ctx = {
      oidc: { grant: { jti: 'g1', getOIDCClaims: () => ['age_over_20'] }, client },
    } as unknown as KoaContextWithOIDC;
    const account = await find(ctx, 'p1');
    const claims = await account!.claims('id_token', 'openid', { age_over_20: null } as never, []);
    return { claims, released };
  }

  it('answers the client the identity was verified for', async () => {
    const { claims, released } = await claimsFor(RP_JWT.clientId);
    assert.deepEqual(claims, { sub: 'p1', age_over_20: true });
    assert.equal(released.length, 1);
  });

  it('answers another client, or none known, nothing and writes no release', async () => {
    for (const other of ['shop-rp', undefined]) {
      const { claims, released } = await claimsFor(other);
      assert.deepEqual(claims, { sub: 'p1' });
      assert.deepEqual(released, []);
    }
  });

  it('answers the same client nothing once it gets card login only (now public, or an unknown auth method)', async () => {
    for (const change of [
      { clientAuthMethod: 'none' },
      { clientAuthMethod: undefined },
      { clientAuthMethod: 'client_secret_jwt' },
      { redirectUris: ['jp.example.bank:/oauth2redirect'] },
    ]) {
      const { claims, released } = await claimsFor(RP_JWT.clientId, change);
      assert.deepEqual(claims, { sub: 'p1' }, JSON.stringify(change));
      assert.deepEqual(released, [], 'no release written');
    }
  });
});
