/**
 * Consent: the screen lists exactly what the service asks for in Japanese and English, marking what is optional;
 * the consent is stored per person and service with the text shown and the time; declined optional items are never
 * released. `/me` (after a card login) shows the person's own history from the audit and withdraws consent, which
 * revokes the grant: the service's next refresh and UserInfo calls fail, and deletes the verified identity (here
 * with `ekyc.keepCertificate`, so the signing certificate kept with it goes too: the audit never had it).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { identityStore } from '../src/ekyc/identity-store.ts';
import { providerStores } from '../src/stores.ts';
import { EventStream } from './support/op-agent.ts';
import {
  completeLogin,
  createOpFixture,
  startLogin,
  type OpFixture,
  type StartedLogin,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';
import {
  authorizeExtra,
  consent,
  issueCard,
  loginThenStop,
  RP_JWT,
  signStep,
  startEkycIdp,
  type Step,
} from './support/ekyc-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let card: TestCard;
let login: StartedLogin;
let consentStep: Step;
let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
const startedAt = Date.now();

const CLAIMS = {
  id_token: {
    verified_claims: { verification: { trust_framework: null }, claims: { name: { essential: true } } },
    age_over_20: { essential: true },
  },
  userinfo: { birthdate: null, address: { purpose: '商品の配送のため' } },
};

before(async () => {
  f = await createOpFixture();
  card = await issueCard(f, { name: '同意　三郎' });
  idp = await startEkycIdp(f, { ekyc: { keepCertificate: true } });
  login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
    extra: authorizeExtra(CLAIMS, { scope: 'openid offline_access', prompt: 'consent', purpose: '会員登録 / Sign-up' }),
  });
  consentStep = await loginThenStop(idp, login, card);
});
after(async () => {
  await idp?.close();
  await f.close();
});

describe('consent screen', () => {
  it('lists exactly what the service asks for, in Japanese and English, marking required and optional items', () => {
    const page = consentStep.page;
    assert.match(page, /consent-form/);
    const keys = [...page.matchAll(/data-key="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(keys, [
      'scope:openid',
      'verified_claims',
      'age_over_20',
      'birthdate',
      'address',
      'scope:offline_access',
    ]);
    const optional = [...page.matchAll(/name="item" value="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(optional, ['birthdate', 'address', 'scope:offline_access'], 'essential items cannot be unticked');
    assert.match(page, /20歳以上かどうか（はい／いいえだけ。生年月日は伝えません）［必須］/);
    assert.match(page, /Whether you are 20 or older \(yes or no only; not your date of birth\) \[required\]/);
    assert.match(page, /生年月日［任意］/);
    assert.match(page, /Your date of birth \[optional\]/);
    assert.match(page, /商品の配送のため/, 'the per-claim purpose is shown');
    assert.match(page, /会員登録 \/ Sign-up/, 'the request purpose is shown');
  });

  it('stores the consent per person and service with the text shown and the time, without declined items', async () => {
    const signPage = await consent(login.agent, consentStep, { keep: ['address', 'scope:offline_access'] });
    const { url: callback } = await signStep(idp, login.agent, signPage, card);
    tokens = await client.authorizationCodeGrant(idp.jwtRp, callback, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const person = (await idp.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
    const [record] = await idp.stores.records.listConsents(person);
    assert.ok(record);
    assert.equal(record.clientId, RP_JWT.clientId);
    assert.deepEqual([...record.claims].sort(), ['address', 'age_over_20', 'verified_claims']);
    assert.deepEqual([...record.scopes], ['openid', 'offline_access']);
    assert.match(record.textShown, /テスト銀行（https:\/\/bank\.example）に次の情報を提供します/);
    assert.match(
      record.textShown,
      /生年月日［任意］ \/ Your date of birth \[optional\]/,
      'the text shown lists even declined items',
    );
    assert.ok(record.grantedAt.getTime() >= startedAt - 1000 && record.grantedAt.getTime() <= Date.now() + 1000);
    assert.equal(record.withdrawnAt, null);
  });

  it('releases what was consented and never a declined optional item', async () => {
    const userinfo = await client.fetchUserInfo(idp.jwtRp, tokens.access_token, tokens.claims()!.sub);
    assert.deepEqual(userinfo['address'], { formatted: '東京都千代田区千代田1-1' });
    assert.equal(userinfo['birthdate'], undefined, 'birthdate was declined');
    assert.equal(tokens.claims()!['age_over_20'], true);
    assert.ok(tokens.refresh_token, 'offline_access was consented');
  });

  it('releases a claim declined once when the person ticks it on a later consent screen', async () => {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(idp.jwtRp, {
      redirect_uri: RP_JWT.redirectUri,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      ...authorizeExtra(CLAIMS, { scope: 'openid offline_access', prompt: 'consent', purpose: '会員登録 / Sign-up' }),
    });
    const { url: at, response } = await login.agent.follow(url);
    let step: Step = { url: at, page: await response.text() };
    assert.match(step.page, /consent-form/, 'prompt=consent shows the screen again');
    step = await consent(login.agent, step, { keep: ['birthdate', 'address', 'scope:offline_access'] });
    if (step.page.includes('/companion/sign/')) step = await signStep(idp, login.agent, step, card);
    const again = await client.authorizationCodeGrant(idp.jwtRp, step.url, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
    });
    const userinfo = await client.fetchUserInfo(idp.jwtRp, again.access_token, again.claims()!.sub);
    assert.match(String(userinfo['birthdate']), /^\d{4}-\d\d-\d\d$/, 'declined before, agreed to now');
  });
});

describe('/me: own history and withdrawal', () => {
  it('asks for a card login when there is no session', async () => {
    const res = await idp.agent().fetch(new URL('/me', idp.server.url));
    assert.equal(res.status, 200);
    const page = await res.text();
    assert.match(page, /href="\/me\/login"/);
    assert.doesNotMatch(page, /id="history"/);
  });

  it('shows which service received what and when, after a card login through /me/login', async () => {
    const agent = idp.agent();
    const started = await agent.follow(new URL('/me/login', idp.server.url));
    assert.match(started.url.pathname, /^\/interaction\//, '/me/login leads to the card login page');
    const page = await started.response.text();
    const uid = started.url.pathname.split('/')[2]!;
    const me: StartedLogin = {
      agent,
      uid,
      pageUrl: started.url,
      page,
      link: /data-link="([^"]+)"/.exec(page)![1]!.replaceAll('&amp;', '&'),
      codeVerifier: '',
      state: '',
      events: new EventStream(await agent.fetch(new URL(`/interaction/${uid}/events`, started.url))),
    };
    const landed = await completeLogin(idp, me, card);
    assert.equal(landed.pathname, '/me');
    const html = await (await agent.fetch(landed)).text();
    assert.match(html, /id="consents"/);
    assert.match(html, /data-client="bank-rp">\s*<strong>テスト銀行<\/strong>/);
    assert.match(
      html,
      /data-type="claims.released">\s*<td>\d{4}-\d\d-\d\d \d\d:\d\d JST<\/td>\s*<td>テスト銀行<\/td>\s*<td>提供 \/ Provided \(ID token\): 確認済みの本人情報/,
    );
    assert.match(html, /data-type="ekyc.signature"/);
    assert.match(html, /data-type="consent.granted"/);
    assert.doesNotMatch(html, /千代田/, 'the history names what was provided, never the values');
  });

  it('withdraws the consent: the grant is revoked, refresh and UserInfo fail afterwards', async () => {
    const person = (await idp.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
    const signed = (await idp.stores.records.listAudit(person)).find((e) => e.type === 'ekyc.signature')!;
    const grantId = String(signed.data['grantId']);
    const identities = identityStore(providerStores(idp.stores).adapter);
    const kept = await identities.get(grantId);
    const cert = card.issued.spec.signCert;
    assert.equal(kept?.certificate, Buffer.from(cert).toString('base64'), 'kept with the identity (configured)');
    assert.equal(signed.data['certificate'], undefined, 'never in the audit');
    assert.equal(signed.data['certificateSha256'], createHash('sha256').update(cert).digest('hex'));
    assert.equal(JSON.stringify(tokens.claims()).includes(kept!.certificate!.slice(0, 64)), false, 'never released');
    const me = await login.agent.fetch(new URL('/me', idp.server.url));
    const html = await me.text();
    const csrf = /name="csrf"\s+value="([^"]+)"/.exec(html)?.[1];
    assert.ok(csrf, 'a withdrawal form for the consent');
    const done = await login.agent.fetch(new URL('/me/withdraw', idp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: RP_JWT.clientId, csrf }).toString(),
    });
    assert.equal(done.status, 303);
    assert.equal(await identities.get(grantId), undefined, 'the identity and its certificate are deleted');

    await assert.rejects(client.refreshTokenGrant(idp.jwtRp, tokens.refresh_token!), { error: 'invalid_grant' });
    await assert.rejects(client.fetchUserInfo(idp.jwtRp, tokens.access_token, tokens.claims()!.sub), (e: any) => {
      assert.equal(e.status ?? e.cause?.status, 401);
      return true;
    });
    const [record] = await idp.stores.records.listConsents(person);
    assert.ok(record?.withdrawnAt instanceof Date, 'the consent record is marked withdrawn');
    const after = await (await login.agent.fetch(new URL('/me', idp.server.url))).text();
    assert.match(after, /id="no-consents"/);
    assert.match(after, /data-type="consent.withdrawn"/);
  });

  it('refuses a withdrawal without the page’s CSRF token (ERR_IDP_SESSION_MISMATCH)', async () => {
    const res = await login.agent.fetch(new URL('/me/withdraw', idp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: RP_JWT.clientId, csrf: 'forged' }).toString(),
    });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /ERR_IDP_SESSION_MISMATCH/);
  });

  it('ends with access_denied when the person does not agree', async () => {
    const other = await issueCard(f, { name: '拒否　四郎' });
    const denied = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ userinfo: { name: null } }),
    });
    const step = await loginThenStop(idp, denied, other);
    const back = await consent(denied.agent, step, { decision: 'deny' });
    assert.equal(back.url.origin, 'https://bank.example');
    assert.equal(back.url.searchParams.get('error'), 'access_denied');
  });
});
