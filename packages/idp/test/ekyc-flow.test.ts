/**
 * eKYC by card signature end to end, with openid-client 6 as the relying party over real HTTPS on SQLite: card login
 * (authentication certificate) → consent screen → the statement signed by the virtual card's signing key through
 * the companion API → ID token and UserInfo with `verified_claims` (trust framework `jp_aml`, evidence
 * `electronic_signature` with the signing certificate's issuer and serial) and acr `urn:mynagate:acr:card-sign`.
 * Evidence goes to the audit, never the certificate or the basic-4. Refusals: wrong signing password
 * (ERR_CARD_PIN_INCORRECT, in both languages, naming the signing password) and a statement signed with the
 * authentication certificate (ERR_PKI_WRONG_CERT_KIND).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { identityStore } from '../src/ekyc/identity-store.ts';
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
  signStep,
  startEkycIdp,
  type SignViewJson,
} from './support/ekyc-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let devIdp: TestIdp;
let alice: TestCard;
let bob: TestCard;

const VERIFIED = {
  verified_claims: {
    verification: {
      trust_framework: null,
      time: null,
      verification_process: null,
      evidence: [{ type: { value: 'electronic_signature' }, issuer: null, serial_number: null, created_at: null }],
    },
    claims: { name: null, family_name: null, given_name: null, birthdate: null, address: null, gender: null },
  },
};

before(async () => {
  f = await createOpFixture();
  [alice, bob] = await Promise.all([issueCard(f, { name: '試験　花子' }), issueCard(f, { name: '見本　一郎' })]);
  idp = await startEkycIdp(f, { ekyc: { purposes: { [RP_JWT.clientId]: '口座開設の本人確認 / Account opening' } } });
  devIdp = await startEkycIdp(f, { dev: { cards: [{ label: 'Test card (password TEST2025)', file: bob.file }] } });
});
after(async () => {
  await Promise.all([idp?.close(), devIdp?.close()]);
  await f.close();
});

const sha256Hex = (der: Uint8Array) => createHash('sha256').update(der).digest('hex');

async function tokensFor(login: Awaited<ReturnType<typeof startLogin>>, callback: URL) {
  return client.authorizationCodeGrant(idp.jwtRp, callback, {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
}

describe('eKYC by card signature', () => {
  it('signs the statement with the virtual card and returns verified_claims with issuer, serial and created_at in the ID token and UserInfo', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: VERIFIED, userinfo: VERIFIED }, { scope: 'openid' }),
    });
    const callback = await fullFlow(idp, login, alice);
    assert.equal(callback.origin + callback.pathname, RP_JWT.redirectUri);
    const tokens = await tokensFor(login, callback);
    const claims = tokens.claims()!;
    assert.equal(claims.acr, 'urn:mynagate:acr:card-sign');
    const vc = claims['verified_claims'] as Record<string, any>;
    assert.equal(vc['verification'].trust_framework, 'jp_aml');
    assert.match(vc['verification'].time, /^\d{4}-\d\d-\d\dT/);
    assert.match(vc['verification'].verification_process, /^[0-9a-f-]{36}$/);
    const [evidence] = vc['verification'].evidence;
    assert.equal(evidence.type, 'electronic_signature');
    assert.equal(evidence.signature_type, 'https://mynagate.example/jpki');
    assert.equal(evidence.serial_number, alice.issued.signSerial);
    assert.match(evidence.issuer, /JPKI TEST for digital signature/, 'the signing CA, not the auth CA');
    assert.match(evidence.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(vc['claims'], {
      name: '試験　花子',
      family_name: '試験',
      given_name: '花子',
      birthdate: '1990-01-02',
      address: { formatted: '東京都千代田区千代田1-1' },
      gender: 'female',
    });
    const userinfo = await client.fetchUserInfo(idp.jwtRp, tokens.access_token, claims.sub);
    assert.deepEqual(userinfo['verified_claims'], vc, 'UserInfo carries the same verified claims');
    assert.equal(userinfo['name'], undefined, 'plain claims only when requested');
  });

  it('records the evidence (issuer, serial, time, statement hash) in the audit, without the certificate or the basic-4', async () => {
    const person = (await idp.stores.records.findCredentialByFingerprint(alice.fingerprint))!.personId;
    const events = await idp.stores.records.listAudit(person);
    const signature = events.find((e) => e.type === 'ekyc.signature');
    assert.ok(signature, 'an ekyc.signature audit event');
    assert.equal(signature.clientId, RP_JWT.clientId);
    assert.equal(signature.data['serialNumber'], alice.issued.signSerial);
    assert.equal(signature.data['trustFramework'], 'jp_aml');
    assert.equal(signature.data['purpose'], '口座開設の本人確認 / Account opening', 'the client-configured purpose');
    assert.match(String(signature.data['statementHash']), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(signature.data['certificate'], undefined, 'never the raw certificate');
    assert.equal(
      signature.data['certificateSha256'],
      sha256Hex(alice.issued.spec.signCert),
      "the certificate's SHA-256",
    );
    const all = JSON.stringify(events);
    for (const personal of ['花子', '千代田', '1990-01-02']) assert.equal(all.includes(personal), false, personal);
    assert.ok(events.some((e) => e.type === 'claims.released' && e.data['use'] === 'id_token'));
  });

  it('shows the service, the purpose from the request and the time in the statement the companion gets', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: { age_over_20: null } }, { purpose: '酒類の購入 / Buying alcohol' }),
    });
    let step = await loginThenStop(idp, login, alice);
    step = await consent(login.agent, step);
    const sign = await openSignPage(login.agent, step);
    const view = (await (await idp.fetch(sign.link)).json()) as SignViewJson;
    assert.equal(view.intent, 'sign');
    assert.equal(view.clientName, 'テスト銀行');
    assert.equal(view.statement.purpose, '酒類の購入 / Buying alcohol');
    assert.match(view.statement.text.ja, /テスト銀行.*酒類の購入.*20歳以上かどうか.*日本時間/);
    assert.match(view.statement.text.en, /Buying alcohol/);
    assert.deepEqual(JSON.parse(view.canonical), view.statement, 'the canonical JSON is the statement');
    await sign.events.close();
  });

  it('refuses a wrong signing password with ERR_CARD_PIN_INCORRECT and a bilingual message naming the signing password (dev phone)', async () => {
    const login = await startLogin(devIdp, devIdp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: { age_over_20: null } }),
    });
    let step = await loginThenStop(devIdp, login, bob);
    step = await consent(login.agent, step);
    const sign = await openSignPage(login.agent, step);
    const view = (await (await devIdp.fetch(sign.link)).json()) as SignViewJson;
    const res = await devIdp.fetch(new URL('/dev/phone/sign-statement', devIdp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ txn: view.txn, nonce: view.statement.nonce, card: 0, password: 'WRONG2025' }),
    });
    assert.equal(res.status, 401);
    const body = (await res.json()) as { error: string; retriesLeft: number; message: { ja: string; en: string } };
    assert.equal(body.error, 'ERR_CARD_PIN_INCORRECT');
    assert.equal(body.retriesLeft, 4, 'the signing password allows 5 tries');
    assert.match(body.message.ja, /署名用電子証明書のパスワード.*あと4回/);
    assert.match(body.message.en, /signing certificate.*4 tries left/);
    // The right password then completes the step through the same page.
    const ok = await devIdp.fetch(new URL('/dev/phone/sign-statement', devIdp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ txn: view.txn, nonce: view.statement.nonce, card: 0, password: 'TEST2025' }),
    });
    assert.equal(ok.status, 200);
    assert.ok(await sign.events.next('done'));
    await sign.events.close();
  });

  it('refuses a statement signed with the authentication certificate with ERR_PKI_WRONG_CERT_KIND and tells the page', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: { age_over_20: null } }),
    });
    let step = await loginThenStop(idp, login, alice);
    if (step.page.includes('consent-form')) step = await consent(login.agent, step);
    const sign = await openSignPage(login.agent, step);
    const view = (await (await idp.fetch(sign.link)).json()) as SignViewJson;
    const { status, body } = await postSignature(
      idp,
      view.txn,
      await cardSignature(alice, view.canonical, { useAuthKey: true }),
    );
    assert.equal(status, 403);
    assert.equal(body['error'], 'ERR_PKI_WRONG_CERT_KIND');
    assert.match((body['message'] as { ja: string }).ja, /署名用電子証明書で署名してください/);
    const failed = (await sign.events.next('failed')) as { error: string; message: { ja: string; en: string } };
    assert.equal(failed.error, 'ERR_PKI_WRONG_CERT_KIND');
    assert.ok(failed.message.en.includes('signing certificate'));
    await sign.events.close();
  });

  it("a signature over the statement of a page since reloaded never becomes the person's verified identity", async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ userinfo: VERIFIED }, { scope: 'openid' }),
    });
    let step = await loginThenStop(idp, login, alice);
    if (step.page.includes('consent-form')) step = await consent(login.agent, step);
    // The first signing page is scanned, and that companion keeps its statement.
    const firstLink = /data-link="([^"]+)"/.exec(step.page)![1]!.replaceAll('&amp;', '&');
    const stale = (await (await idp.fetch(firstLink)).json()) as SignViewJson;
    // The person reloads the page (a new signing transaction) and signs there with their own card.
    const reloaded = { url: step.url, page: await (await login.agent.fetch(step.url)).text() };
    const callback = (await signStep(idp, login.agent, reloaded, alice)).url;
    const tokens = await tokensFor(login, callback);
    const person = (await idp.stores.records.findCredentialByFingerprint(alice.fingerprint))!.personId;
    const processes = async () =>
      (await idp.stores.records.listAudit(person))
        .filter((e) => e.type === 'ekyc.signature')
        .map((e) => String(e.data['verificationProcess']));
    const kept = (await processes()).at(-1);
    // Later, the first page's statement is signed on the person's own card (another's is refused: the signing card
    // must be one the person logged in with): verified, and of no one's use.
    assert.equal((await postSignature(idp, stale.txn, await cardSignature(alice, stale.canonical))).status, 200);
    const late = (await processes()).at(-1);
    assert.notEqual(late, kept, 'the late signature was verified');
    const userinfo = await client.fetchUserInfo(idp.jwtRp, tokens.access_token, tokens.claims()!.sub);
    const vc = userinfo['verified_claims'] as Record<string, any>;
    assert.equal(vc['claims'].name, '試験　花子');
    assert.equal(vc['verification'].verification_process, kept, "the reloaded page's signature, not the late one");
  });

  it('a replayed authorization code revokes the grant and its verified identity (the basic-4 goes with the grant)', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ userinfo: VERIFIED }, { scope: 'openid' }),
    });
    const callback = await fullFlow(idp, login, alice);
    await tokensFor(login, callback);
    const person = (await idp.stores.records.findCredentialByFingerprint(alice.fingerprint))!.personId;
    const signed = (await idp.stores.records.listAudit(person)).filter((e) => e.type === 'ekyc.signature').at(-1)!;
    const grantId = String(signed.data['grantId']);
    const identities = identityStore(providerStores(idp.stores).adapter);
    assert.equal((await identities.get(grantId))?.grantId, grantId);
    await assert.rejects(tokensFor(login, callback), { error: 'invalid_grant' });
    assert.equal(await identities.get(grantId), undefined);
  });

  it('refuses a second signature over the same statement with ERR_IDP_CHALLENGE_INVALID', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: { age_over_18: null } }),
    });
    let step = await loginThenStop(idp, login, alice);
    if (step.page.includes('consent-form')) step = await consent(login.agent, step);
    // No event stream: a stream would finish (and end) the transaction as soon as the first signature is verified,
    // so the second would meet no transaction at all; here it meets the used statement.
    const link = /data-link="([^"]+)"/.exec(step.page)![1]!.replaceAll('&amp;', '&');
    const view = (await (await idp.fetch(link)).json()) as SignViewJson;
    const signed = await cardSignature(alice, view.canonical);
    assert.equal((await postSignature(idp, view.txn, signed)).status, 200);
    const again = await postSignature(idp, view.txn, signed);
    assert.equal(again.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
  });
});
