/**
 * eKYC fails closed without a signing card pairing (config.ts `EkycConfig.signingCardPair`). The reviewer's attack:
 * Mallory logs in to a bank with his own card and relays the signing QR code to a victim, who signs; without the
 * pairing any valid signing certificate was taken, and the bank got the victim's verified identity under Mallory's
 * `sub` with the card-signature ACR.
 *
 * - By default (no pairing) the provider offers no eKYC: a request that needs an identity (the card-signature ACR, a
 *   verified, basic-4 or derived claim) is refused at the authorization and PAR endpoints with OAuth
 *   `invalid_request` `ERR_IDP_EKYC_UNPAIRED: …`; card login alone still works. A node of the same deployment started
 *   without the pairing refuses the signing page and a posted signature of an interaction begun elsewhere too.
 * - With the pairing (the test JPKI's links, as a platform provider's), Alice logs in and Bob's card signs:
 *   `ERR_IDP_SIGN_CARD_MISMATCH`, nothing of Bob's identity kept.
 * - `'unchecked'`, the explicit opt-out, keeps the old behaviour: the signing certificate alone decides.
 * - Consent withdrawn while the phone signs: the identity is not stored under the dead grant, and the signing page
 *   ends with `ERR_IDP_INTERACTION_NOT_FOUND`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { withdrawConsent } from '../src/consent/withdraw.ts';
import { identityStore } from '../src/ekyc/identity-store.ts';
import { providerStores } from '../src/stores.ts';
import {
  completeLogin,
  createOpFixture,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';
import {
  authorizeExtra,
  cardSignature,
  consent,
  issueCard,
  loginThenStop,
  openSignPage,
  postSignature,
  RP_JWT,
  startEkycIdp,
  type SignViewJson,
  type Step,
} from './support/ekyc-fixture.ts';

const UNPAIRED =
  "ERR_IDP_EKYC_UNPAIRED: eKYC needs the signing card paired with the login card (ekyc.signingCardPair, e.g. a platform provider's links); none is configured";

const NAME = { id_token: { verified_claims: { verification: { trust_framework: null }, claims: { name: null } } } };

let f: OpFixture;
/** The provider's own default: no `signingCardPair`. */
let unpaired: TestIdp;
/** Paired by the test JPKI's links (the fixture's default). */
let paired: TestIdp;
/** A node paired by the fixture's default, and one of its deployment (same stores, issuer, keys) without the pairing. */
let pairedNode: TestIdp;
let unpairedNode: TestIdp;
let unchecked: TestIdp;
let alice: TestCard;
let bob: TestCard;

before(async () => {
  f = await createOpFixture();
  [alice, bob] = await Promise.all([
    issueCard(f, { name: '試験　花子', address: '東京都千代田区千代田1-1' }),
    issueCard(f, { name: '見本　一郎', address: '大阪府大阪市北区1-1' }),
  ]);
  [unpaired, paired, pairedNode] = await Promise.all([
    startEkycIdp(f, { ekyc: { signingCardPair: undefined } }),
    startEkycIdp(f),
    f.start(),
  ]);
  unpairedNode = await f.start({ nodeOf: pairedNode, ekyc: { signingCardPair: undefined } });
});
after(async () => {
  await Promise.all([unpaired, paired, unchecked].map((idp) => idp?.close()));
  await f?.close();
});

/** An authorization request at `idp`'s JWT client with `extra`; the answer's Location (not followed). */
async function authorize(idp: TestIdp, extra: Record<string, string>): Promise<URL> {
  const url = client.buildAuthorizationUrl(idp.jwtRp, {
    redirect_uri: RP_JWT.redirectUri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    state: client.randomState(),
    ...extra,
  });
  const res = await idp.agent().fetch(url);
  await res.body?.cancel();
  const location = res.headers.get('location');
  assert.ok(location, `a redirect (HTTP ${res.status})`);
  return new URL(location, url);
}

/** `card` logs in as Alice would at `idp` asking for `claims`, consents, and reaches the signing page. */
async function upToSigning(
  idp: TestIdp,
  card: TestCard,
  claims: unknown = NAME,
): Promise<Step & { login: Awaited<ReturnType<typeof startLogin>> }> {
  const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: authorizeExtra(claims) });
  let step = await loginThenStop(idp, login, card);
  if (step.page.includes('consent-form')) step = await consent(login.agent, step);
  await login.events.close();
  return { ...step, login };
}

/** The number of `ekyc.signature` audit entries of `card`'s person at `idp`. */
async function signatures(idp: TestIdp, card: TestCard): Promise<number> {
  const person = (await idp.stores.records.findCredentialByFingerprint(card.fingerprint))?.personId;
  if (person === undefined) return 0;
  return (await idp.stores.records.listAudit(person)).filter((e) => e.type === 'ekyc.signature').length;
}

describe('without a signing card pairing (the default): no eKYC', () => {
  const requests: [string, Record<string, string>][] = [
    ['the card-signature ACR', authorizeExtra(undefined)],
    ['verified_claims', { claims: JSON.stringify(NAME) }],
    ['a basic-4 claim', { claims: JSON.stringify({ userinfo: { birthdate: null } }) }],
    ['a derived claim (age_over_20)', { claims: JSON.stringify({ id_token: { age_over_20: null } }) }],
    ['a residence question', { claims: JSON.stringify({ id_token: { residence_prefecture: { value: '東京都' } } }) }],
  ];
  for (const [name, extra] of requests) {
    it(`refuses ${name} at the authorization endpoint: invalid_request ERR_IDP_EKYC_UNPAIRED`, async () => {
      const back = await authorize(unpaired, extra);
      assert.equal(back.origin + back.pathname, RP_JWT.redirectUri, 'back at the service, before any interaction');
      assert.equal(back.searchParams.get('error'), 'invalid_request');
      assert.equal(back.searchParams.get('error_description'), UNPAIRED);
    });
  }

  it('refuses it pushed by PAR (RFC 9126) the same way', async () => {
    await assert.rejects(
      client.buildAuthorizationUrlWithPAR(unpaired.jwtRp, {
        redirect_uri: RP_JWT.redirectUri,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        claims: JSON.stringify(NAME),
      }),
      (e: { error?: string; error_description?: string }) =>
        e.error === 'invalid_request' && e.error_description === UNPAIRED,
    );
  });

  it('still logs a card in (card login is not eKYC)', async () => {
    const login = await startLogin(unpaired, unpaired.jwtRp, RP_JWT.redirectUri);
    const callback = await completeLogin(unpaired, login, alice);
    const tokens = await client.authorizationCodeGrant(unpaired.jwtRp, callback, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    assert.equal(tokens.claims()!.acr, 'urn:mynagate:acr:card-auth');
  });

  it('a node without the pairing refuses the signing page and a signature of an interaction begun on a paired node', async () => {
    const step = await upToSigning(pairedNode, alice);
    const sign = await openSignPage(step.login.agent, step);
    const before = await signatures(pairedNode, alice);
    // The same interaction's page, on the node without the pairing: refused before a statement or a transaction.
    const page = await step.login.agent.fetch(new URL(step.url.pathname, unpairedNode.server.url));
    assert.equal(page.status, 403);
    assert.match(await page.text(), /ERR_IDP_EKYC_UNPAIRED/);
    // The phone scans the paired node's page and posts Alice's own signature to the node without the pairing.
    const view = (await (await pairedNode.fetch(sign.link)).json()) as SignViewJson;
    const posted = await postSignature(unpairedNode, view.txn, await cardSignature(alice, view.canonical));
    assert.equal(posted.status, 403);
    assert.equal(posted.body['error'], 'ERR_IDP_EKYC_UNPAIRED');
    const failed = (await sign.events.next('failed')) as { error: string };
    assert.equal(failed.error, 'ERR_IDP_EKYC_UNPAIRED');
    await sign.events.close();
    assert.equal(await signatures(pairedNode, alice), before, 'nothing verified, nothing kept');
  });
});

describe('with the pairing (a platform provider’s links)', () => {
  it("Alice logs in and Bob's card signs: refused with ERR_IDP_SIGN_CARD_MISMATCH, nothing of Bob's identity kept", async () => {
    const step = await upToSigning(paired, alice);
    const sign = await openSignPage(step.login.agent, step);
    const before = await signatures(paired, alice);
    const view = (await (await paired.fetch(sign.link)).json()) as SignViewJson;
    const posted = await postSignature(paired, view.txn, await cardSignature(bob, view.canonical));
    assert.equal(posted.status, 403);
    assert.equal(posted.body['error'], 'ERR_IDP_SIGN_CARD_MISMATCH');
    const failed = (await sign.events.next('failed')) as { error: string };
    assert.equal(failed.error, 'ERR_IDP_SIGN_CARD_MISMATCH');
    await sign.events.close();
    assert.equal(await signatures(paired, alice), before);
  });
});

describe("'unchecked' (the explicit opt-out): the signing certificate alone decides", () => {
  before(async () => {
    unchecked = await startEkycIdp(f, { ekyc: { signingCardPair: 'unchecked' } });
  });

  it("takes Bob's signature for Alice's login: the ID token carries Bob's name (why it is dangerous)", async () => {
    const step = await upToSigning(unchecked, alice);
    const sign = await openSignPage(step.login.agent, step);
    const view = (await (await unchecked.fetch(sign.link)).json()) as SignViewJson;
    const posted = await postSignature(unchecked, view.txn, await cardSignature(bob, view.canonical));
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    const done = (await sign.events.next('done')) as { redirect: string };
    await sign.events.close();
    const { url } = await step.login.agent.follow(done.redirect);
    const tokens = await client.authorizationCodeGrant(unchecked.jwtRp, url, {
      pkceCodeVerifier: step.login.codeVerifier,
      expectedState: step.login.state,
    });
    const claims = tokens.claims()!;
    assert.equal(claims['acr'], 'urn:mynagate:acr:card-sign');
    assert.equal((claims['verified_claims'] as { claims: { name: string } }).claims.name, '見本　一郎');
  });
});

describe('consent withdrawn while the phone signs', () => {
  it('keeps no identity under the dead grant, and the signing page ends with ERR_IDP_INTERACTION_NOT_FOUND', async () => {
    const card = await issueCard(f, { name: '撤回　花子' });
    const step = await upToSigning(paired, card);
    const sign = await openSignPage(step.login.agent, step);
    const view = (await (await paired.fetch(sign.link)).json()) as SignViewJson;
    const person = (await paired.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
    const grantIds = (await paired.stores.records.listAudit(person))
      .map((e) => e.data['grantId'])
      .filter((g): g is string => typeof g === 'string');
    assert.ok(grantIds.length > 0, 'the audit names the grant');
    // Withdrawn from another browser (the person's own page) while the phone asks for the password.
    const identities = identityStore(providerStores(paired.stores).adapter);
    const withdrawn = await withdrawConsent(
      { provider: paired.server.provider, records: paired.stores.records, identities },
      person,
      RP_JWT.clientId,
    );
    assert.ok(withdrawn.grants >= 1);
    const posted = await postSignature(paired, view.txn, await cardSignature(card, view.canonical));
    assert.equal(posted.status, 200, 'the signature itself is good');
    const refused = (await sign.events.next('refused')) as { error: string } | undefined;
    await sign.events.close();
    assert.equal(refused?.error, 'ERR_IDP_INTERACTION_NOT_FOUND');
    for (const grantId of new Set(grantIds)) assert.equal(await identities.get(grantId), undefined, grantId);
  });
});

describe('discovery without a pairing', () => {
  it('offers only the card-login ACR, no OIDC4IA metadata and no identity claim; a paired provider offers them', async () => {
    const metaOf = async (idp: TestIdp) =>
      (await (await idp.agent().fetch(`${idp.server.issuer}/.well-known/openid-configuration`)).json()) as Record<
        string,
        unknown
      >;
    const [off, on] = await Promise.all([metaOf(unpaired), metaOf(paired)]);
    assert.deepEqual(off['acr_values_supported'], ['urn:mynagate:acr:card-auth']);
    assert.equal(off['verified_claims_supported'], undefined);
    assert.equal(off['trust_frameworks_supported'], undefined);
    assert.deepEqual(on['acr_values_supported'], ['urn:mynagate:acr:card-auth', 'urn:mynagate:acr:card-sign']);
    assert.equal(on['verified_claims_supported'], true);
    // What a card login gives, and nothing a provider without eKYC would refuse to release.
    assert.deepEqual([...(off['claims_supported'] as string[])].sort(), [
      'acr',
      'amr',
      'auth_time',
      'iss',
      'sid',
      'sub',
    ]);
    for (const claim of ['sub', 'acr', 'verified_claims', 'family_name', 'birthdate', 'age_over_20']) {
      assert.ok((on['claims_supported'] as string[]).includes(claim), claim);
    }
  });
});
