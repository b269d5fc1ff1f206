/**
 * eKYC bound to the login card (`ekyc.signingCardPair`): with the J-LIS pairing of a card's two certificates (here
 * the test JPKI's platform links API, `platformLinks(...).links(serial).pair`), a statement counts only when
 * signed on a card the person logged in with. Signed on another person's card it is refused with
 * ERR_IDP_SIGN_CARD_MISMATCH and nothing of that identity is kept; a pairing source that cannot answer fails the
 * signature with ERR_PKI_LINKS_UNAVAILABLE (503).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { platformLinks } from '@mynagate/pki';
import { platformCardPair, type SigningCardPair } from '../src/config.ts';
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
  startEkycIdp,
  type SignViewJson,
} from './support/ekyc-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let alice: TestCard;
let bob: TestCard;
/** What the IdP asks for a signing certificate's pair; a test may swap the source. */
let pairing: SigningCardPair;

const NAME = { id_token: { verified_claims: { verification: { trust_framework: null }, claims: { name: null } } } };

before(async () => {
  f = await createOpFixture();
  [alice, bob] = await Promise.all([issueCard(f, { name: '試験　花子' }), issueCard(f, { name: '見本　一郎' })]);
  const links = platformLinks({ baseUrl: f.ocsp.url });
  pairing = platformCardPair(links);
  idp = await startEkycIdp(f, { ekyc: { signingCardPair: (signing) => pairing(signing) } });
});
after(async () => {
  await idp?.close();
  await f.close();
});

/** Alice logs in with her card, consents, and the signing page's statement is signed on `card`. */
async function signAs(card: TestCard) {
  const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: authorizeExtra(NAME) });
  let step = await loginThenStop(idp, login, alice);
  if (step.page.includes('consent-form')) step = await consent(login.agent, step);
  const sign = await openSignPage(login.agent, step);
  const view = (await (await idp.fetch(sign.link)).json()) as SignViewJson;
  const posted = await postSignature(idp, view.txn, await cardSignature(card, view.canonical));
  return { ...posted, sign };
}

/** Alice signs on her own card while the IdP asks `source` for the pairing (the usual one again afterwards). */
async function aliceSignsWith(source: SigningCardPair) {
  const saved = pairing;
  pairing = source;
  try {
    const { status, body, sign } = await signAs(alice);
    await sign.events.close();
    return { status, body };
  } finally {
    pairing = saved;
  }
}

async function aliceSignatures(): Promise<number> {
  const person = (await idp.stores.records.findCredentialByFingerprint(alice.fingerprint))!.personId;
  return (await idp.stores.records.listAudit(person)).filter((e) => e.type === 'ekyc.signature').length;
}

describe('eKYC bound to the login card', () => {
  it('accepts a statement signed on the card the person logged in with', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: authorizeExtra(NAME) });
    const callback = await fullFlow(idp, login, alice);
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, callback, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const vc = tokens.claims()!['verified_claims'] as { claims: { name: string } };
    assert.equal(vc.claims.name, '試験　花子');
  });

  it("refuses a statement signed on another person's card with ERR_IDP_SIGN_CARD_MISMATCH, keeping nothing of it", async () => {
    const before = await aliceSignatures();
    const { status, body, sign } = await signAs(bob);
    assert.equal(status, 403);
    assert.equal(body['error'], 'ERR_IDP_SIGN_CARD_MISMATCH');
    assert.match((body['message'] as { ja: string }).ja, /ログインしたカードとは別のカード/);
    const failed = (await sign.events.next('failed')) as { error: string; message: { en: string } };
    assert.equal(failed.error, 'ERR_IDP_SIGN_CARD_MISMATCH');
    assert.match(failed.message.en, /different card/);
    await sign.events.close();
    assert.equal(await aliceSignatures(), before, 'no ekyc.signature recorded for the refused card');
  });

  it("refuses a pairing with the login card's serial under another CA generation (ERR_IDP_SIGN_CARD_MISMATCH)", async () => {
    // J-LIS's CA generations share one name and each numbers its own serials: the same serial under another CA is
    // another card.
    const otherGeneration = 'cd'.repeat(32);
    const { status, body } = await aliceSignsWith(async () => ({
      issuer: otherGeneration,
      serial: alice.issued.authSerial,
    }));
    assert.equal(status, 403);
    assert.equal(body['error'], 'ERR_IDP_SIGN_CARD_MISMATCH');
  });

  it('refuses when the pairing is unknown (ERR_IDP_SIGN_CARD_MISMATCH: fails closed)', async () => {
    const { body } = await aliceSignsWith(async () => undefined);
    assert.equal(body['error'], 'ERR_IDP_SIGN_CARD_MISMATCH');
  });

  it('fails the signature when the pairing source cannot answer (ERR_PKI_LINKS_UNAVAILABLE, 503)', async () => {
    const { status, body } = await aliceSignsWith(
      platformCardPair(platformLinks({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 })),
    );
    assert.equal(status, 503);
    assert.equal(body['error'], 'ERR_PKI_LINKS_UNAVAILABLE');
  });
});
