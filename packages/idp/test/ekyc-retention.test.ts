/**
 * What a verified identity keeps of the signing certificate's basic-4: only what the signed (and consented) claims
 * release. An `age_over_20` check keeps the answer worked out at verification time, not the name, address, sex or
 * birth date; `verified_claims` keeps the fields of the claims signed; a residence question keeps the prefecture.
 * And how long: without a refresh token, no longer than the tokens of that authorization (code + access token);
 * with one, `ekyc.identityTtlSeconds`.
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { Basic4Identity } from '@mynagate/pki';
import { retainForRelease } from '../src/claims/retention.ts';
import { identityStore } from '../src/ekyc/identity-store.ts';
import { providerStores } from '../src/stores.ts';
import { createOpFixture, startLogin, type OpFixture, type TestCard, type TestIdp } from './support/op-fixture.ts';
import { authorizeExtra, fullFlow, issueCard, RP_JWT, startEkycIdp } from './support/ekyc-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let keeping: TestIdp;
let card: TestCard;

/** The provider's code and access token lifetimes (provider.ts `TTL`): an identity without refresh outlives neither. */
const TOKENS_SECONDS = 60 + 600;
const PERSONAL = ['試験', '花子', '千代田', '1990-01-02', 'female'];

before(async () => {
  f = await createOpFixture();
  card = await issueCard(f, { name: '試験　花子', address: '東京都千代田区千代田1-1', birthDate: '1990-01-02' });
  [idp, keeping] = await Promise.all([startEkycIdp(f), startEkycIdp(f, { ekyc: { keepCertificate: true } })]);
});
after(async () => {
  await Promise.all([idp?.close(), keeping?.close()]);
  await f?.close();
});

/** A full flow for `claims`; the tokens, and the stored identity with its row's remaining lifetime (seconds). */
async function flow(on: TestIdp, claims: unknown, extra: Record<string, string> = {}) {
  const login = await startLogin(on, on.jwtRp, RP_JWT.redirectUri, { extra: authorizeExtra(claims, extra) });
  const tokens = await client.authorizationCodeGrant(on.jwtRp, await fullFlow(on, login, card), {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  const person = (await on.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
  const signature = (await on.stores.records.listAudit(person)).filter((e) => e.type === 'ekyc.signature').at(-1)!;
  const grantId = String(signature.data['grantId']);
  const stored = (await identityStore(providerStores(on.stores).adapter).get(grantId))!;
  assert.ok(stored, 'the identity is kept with the grant');
  const db = new DatabaseSync((on.storeConfig as { readonly path: string }).path, { readOnly: true });
  try {
    const row = db
      .prepare("SELECT payload, expires_at FROM oidc WHERE model = 'VerifiedIdentity' AND id = ?")
      .get(grantId) as { payload: string; expires_at: number };
    return { tokens, stored, payload: row.payload, ttlSeconds: (Number(row.expires_at) - Date.now()) / 1000 };
  } finally {
    db.close();
  }
}

describe('what an eKYC keeps (end to end)', () => {
  it('keeps only the age_over_20 answer for an age check: no name, address, sex or birth date, for no longer than its tokens', async () => {
    const { tokens, stored, payload, ttlSeconds } = await flow(idp, {
      id_token: { age_over_20: { essential: true } },
      userinfo: { age_over_20: { essential: true } },
    });
    assert.equal(tokens.claims()!['age_over_20'], true);
    assert.equal(tokens.refresh_token, undefined, 'scope openid: no refresh token');
    assert.deepEqual(stored.identity, {}, 'none of the basic-4');
    assert.deepEqual(stored.derived, { ages: { age_over_20: true } });
    assert.deepEqual(stored.signed, {
      claims: ['age_over_20'],
      details: [],
      purpose: '年齢の確認 / Age check',
      claimPurposes: {},
      client: { id: RP_JWT.clientId, name: RP_JWT.name, origin: new URL(RP_JWT.redirectUri).origin },
    });
    for (const p of PERSONAL) assert.equal(payload.includes(p), false, `the stored row holds ${p}`);
    assert.ok(ttlSeconds > 0 && ttlSeconds <= TOKENS_SECONDS, `kept ${ttlSeconds}s, tokens live ${TOKENS_SECONDS}s`);
    // What the RP SDK's age check reads still answers.
    const userinfo = await client.fetchUserInfo(idp.jwtRp, tokens.access_token, tokens.claims()!.sub);
    assert.equal(userinfo['age_over_20'], true);
  });

  it('keeps only the fields of the verified claims signed, and the prefecture (not the address) for a residence question', async () => {
    const { tokens, stored } = await flow(idp, {
      id_token: {
        verified_claims: { verification: { trust_framework: null }, claims: { given_name: null, birthdate: null } },
        residence_prefecture: { value: '東京都' },
      },
    });
    const claims = tokens.claims()!;
    assert.deepEqual((claims['verified_claims'] as Record<string, any>)['claims'], {
      given_name: '花子',
      birthdate: '1990-01-02',
    });
    assert.equal(claims['residence_in_prefecture'], true);
    assert.deepEqual(Object.keys(stored.identity).sort(), ['birthDate', 'birthEra', 'name', 'nameSubstitutes']);
    assert.deepEqual(stored.derived, { prefecture: '東京都' });
  });

  it('keeps the identity for ekyc.identityTtlSeconds when the grant has a refresh token, which then still answers', async () => {
    const { tokens, ttlSeconds } = await flow(
      idp,
      { id_token: { age_over_20: null } },
      { scope: 'openid offline_access', prompt: 'consent' },
    );
    assert.ok(tokens.refresh_token);
    assert.ok(ttlSeconds > 14 * 24 * 3600 - 60, `kept ${ttlSeconds}s`);
    const refreshed = await client.refreshTokenGrant(idp.jwtRp, tokens.refresh_token!);
    assert.equal(refreshed.claims()!['age_over_20'], true);
  });

  it('still keeps the signing certificate with ekyc.keepCertificate, beside an identity cut to the answer', async () => {
    const { stored } = await flow(keeping, { id_token: { age_over_20: null } });
    assert.equal(stored.certificate, Buffer.from(card.issued.spec.signCert).toString('base64'));
    assert.deepEqual(stored.identity, {});
  });
});

describe('retainForRelease (unit)', () => {
  const identity: Basic4Identity = {
    name: '試験　花子',
    nameSubstitutes: '00000',
    address: 'どこか1-1',
    addressSubstitutes: '00000',
    birthDate: '2006-04-02',
    birthEra: 4,
    sex: 'female',
  };

  it('answers age_over_NN as it stands at verification time, in Japan time', () => {
    const before = retainForRelease(
      identity,
      { claims: ['age_over_20', 'age_over_18'], details: [] },
      new Date('2026-04-01T14:59:59Z'),
    );
    assert.deepEqual(before, { identity: {}, derived: { ages: { age_over_20: false, age_over_18: true } } });
    const on = retainForRelease(identity, { claims: ['age_over_20'], details: [] }, new Date('2026-04-01T15:00:00Z'));
    assert.deepEqual(on.derived.ages, { age_over_20: true });
  });

  it('keeps a verified claim only when its detail was signed, and null for an address in no known prefecture', () => {
    const none = retainForRelease(identity, { claims: ['verified_claims'], details: [] }, new Date());
    assert.deepEqual(none.identity, {});
    const gender = retainForRelease(
      identity,
      { claims: ['verified_claims', 'residence_prefecture'], details: ['verified_claims.gender'] },
      new Date(),
    );
    assert.deepEqual(gender, { identity: { sex: 'female' }, derived: { prefecture: null } });
  });

  it('keeps nothing when nothing was signed', () => {
    assert.deepEqual(retainForRelease(identity, { claims: [], details: [] }, new Date()), {
      identity: {},
      derived: {},
    });
  });
});
