/**
 * A card signature answers only what its statement listed. The verified identity records what the signed statement
 * covered (claim keys and details: which verified claims, which prefectures); a later request of the same grant that
 * asks for more (e.g. `verified_claims` after an `age_over_20` check) gets the signing step again, and the release
 * keeps to what was signed even if that step were skipped. An identity stored before coverage was recorded covers
 * nothing (a new signature is asked, and it answers nothing).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { basic4FromCertificate } from '@mynagate/pki';
import { accountFinder } from '../src/account.ts';
import { withinSignature } from '../src/claims/release.ts';
import { normalizeClaimsParameter } from '../src/claims/request.ts';
import { identityStore, type VerifiedIdentity } from '../src/ekyc/identity-store.ts';
import { signatureNeeds, unsignedNeeds } from '../src/ekyc/policy.ts';
import { providerStores } from '../src/stores.ts';
import { createOpFixture, startLogin, type OpFixture, type TestCard, type TestIdp } from './support/op-fixture.ts';
import {
  authorizeExtra,
  consent,
  fullFlow,
  issueCard,
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
  card = await issueCard(f, { name: '試験　花子', address: '東京都千代田区千代田1-1', birthDate: '1990-01-02' });
  idp = await startEkycIdp(f);
});
after(async () => {
  await idp?.close();
  await f?.close();
});

const AGE_ONLY = { id_token: { age_over_20: { essential: true } } };
const FULL = {
  id_token: {
    verified_claims: {
      verification: {
        trust_framework: null,
        verification_process: null,
        evidence: [{ type: { value: 'electronic_signature' }, created_at: null }],
      },
      claims: { name: null, address: null, birthdate: null },
    },
  },
};

/** A request of `claims` in the browser of `agent` (the session and grant of an earlier flow), through to the RP. */
async function again(
  agent: Agent,
  claims: unknown,
): Promise<{ pages: string[]; tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers }> {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(idp.jwtRp, {
    redirect_uri: RP_JWT.redirectUri,
    scope: 'openid',
    state,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...authorizeExtra(claims),
  });
  const { url: at, response } = await agent.follow(url);
  let step: Step = { url: at, page: at.origin === new URL(idp.server.url).origin ? await response.text() : '' };
  const pages: string[] = [];
  if (step.page.includes('consent-form')) {
    pages.push('consent');
    step = await consent(agent, step);
  }
  if (step.page.includes('/companion/sign/')) {
    pages.push('sign');
    step = await signStep(idp, agent, step, card);
  }
  assert.notEqual(step.url.origin, new URL(idp.server.url).origin, `stopped at ${step.url}`);
  const tokens = await client.authorizationCodeGrant(idp.jwtRp, step.url, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
  });
  return { pages, tokens };
}

async function signatureRows() {
  const person = (await idp.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
  return (await idp.stores.records.listAudit(person)).filter((e) => e.type === 'ekyc.signature');
}

describe('a signature answers only what its statement listed (end to end)', () => {
  it('asks for a new signature when the same grant later asks verified_claims after an age_over_20 signature, and answers from it', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra(AGE_ONLY, { purpose: '酒類の購入' }),
    });
    const first = await client.authorizationCodeGrant(idp.jwtRp, await fullFlow(idp, login, card), {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    assert.equal(first.claims()!['age_over_20'], true);
    const before = await signatureRows();

    const { pages, tokens } = await again(login.agent, FULL);
    assert.deepEqual(pages, ['consent', 'sign'], 'the age-only signature does not stand for verified_claims');
    const rows = await signatureRows();
    assert.equal(rows.length, before.length + 1, 'a second ekyc.signature');
    const row = rows.at(-1)!;
    assert.deepEqual(row.data['claims'], ['verified_claims']);
    assert.deepEqual(row.data['details'], [
      'verified_claims.name',
      'verified_claims.address',
      'verified_claims.birthdate',
    ]);
    assert.equal(row.data['grantId'], before.at(-1)!.data['grantId'], 'the same grant');
    const vc = tokens.claims()!['verified_claims'] as Record<string, any>;
    assert.equal(vc['verification'].verification_process, row.data['verificationProcess'], 'from the new signature');
    assert.equal(vc['verification'].evidence[0].created_at, row.data['signedAt']);
    assert.deepEqual(vc['claims'], {
      name: '試験　花子',
      address: { formatted: '東京都千代田区千代田1-1' },
      birthdate: '1990-01-02',
    });
  });

  it('goes without a new signature when the request stays within what was signed', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: authorizeExtra(FULL) });
    await fullFlow(idp, login, card);
    const count = (await signatureRows()).length;
    const narrower = structuredClone(FULL);
    narrower.id_token.verified_claims.claims = { name: null } as never;
    const { pages, tokens } = await again(login.agent, narrower);
    assert.deepEqual(pages, [], 'neither consent nor signature again');
    assert.equal((await signatureRows()).length, count);
    assert.deepEqual((tokens.claims()!['verified_claims'] as Record<string, any>)['claims'], { name: '試験　花子' });
  });

  it('treats an identity stored without a record of what was signed as covering nothing (a new signature is asked)', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { extra: authorizeExtra(AGE_ONLY) });
    await fullFlow(idp, login, card);
    const grantId = String((await signatureRows()).at(-1)!.data['grantId']);
    const identities = identityStore(providerStores(idp.stores).adapter);
    const stored = (await identities.get(grantId))!;
    // As kept before this change: the whole basic-4, no coverage.
    const { signed: _signed, derived: _derived, ...legacy } = stored;
    const full = {
      ...legacy,
      identity: basic4FromCertificate(card.issued.spec.signCert),
    } as unknown as VerifiedIdentity;
    await identities.put(full, 600);
    const count = (await signatureRows()).length;
    const { pages, tokens } = await again(login.agent, AGE_ONLY);
    assert.deepEqual(pages, ['sign']);
    assert.equal((await signatureRows()).length, count + 1);
    assert.equal(tokens.claims()!['age_over_20'], true);
  });
});

describe('unsignedNeeds (what a request needs that the signature did not cover)', () => {
  const params = (claims: unknown) => ({ claims: JSON.stringify(normalizeClaimsParameter(claims as never)) });
  const ageSigned = { claims: ['age_over_20'], details: [] };
  const fullSigned = {
    claims: ['verified_claims'],
    details: ['verified_claims.name', 'verified_claims.address', 'verified_claims.birthdate'],
  };

  it('lists each claim key and detail a request needs, without those declined', () => {
    assert.deepEqual(signatureNeeds(params(FULL)), [
      'verified_claims',
      'verified_claims.name',
      'verified_claims.address',
      'verified_claims.birthdate',
    ]);
    assert.deepEqual(signatureNeeds(params({ userinfo: { age_over_18: null, name: null } }), ['name']), [
      'age_over_18',
    ]);
  });

  it('finds verified_claims uncovered by an age_over_20 signature, and nothing uncovered within it', () => {
    assert.deepEqual(unsignedNeeds(params(FULL), [], ageSigned), signatureNeeds(params(FULL)));
    assert.deepEqual(unsignedNeeds(params(AGE_ONLY), [], ageSigned), []);
    assert.deepEqual(unsignedNeeds(params(FULL), [], fullSigned), []);
  });

  it('finds a verified claim or a prefecture beyond what was signed', () => {
    const wider = structuredClone(FULL);
    (wider.id_token.verified_claims.claims as Record<string, null>)['gender'] = null;
    assert.deepEqual(unsignedNeeds(params(wider), [], fullSigned), ['verified_claims.gender']);
    const tokyo = { claims: ['residence_in_prefecture'], details: ['residence_in_prefecture=東京都'] };
    assert.deepEqual(unsignedNeeds(params({ id_token: { residence_prefecture: { value: '東京都' } } }), [], tokyo), []);
    assert.deepEqual(
      unsignedNeeds(params({ id_token: { residence_prefecture: { values: ['東京都', '大阪府'] } } }), [], tokyo),
      ['residence_in_prefecture=大阪府'],
    );
  });

  it('covers nothing without a record of what was signed, and needs nothing for a declined claim', () => {
    assert.deepEqual(unsignedNeeds(params(AGE_ONLY), [], undefined), ['age_over_20']);
    assert.deepEqual(unsignedNeeds(params(FULL), ['verified_claims'], ageSigned), []);
  });
});

describe('the release keeps to what was signed (were the signing step skipped)', () => {
  const holder = {
    name: '試験　花子',
    nameSubstitutes: '00000',
    address: '東京都千代田区千代田1-1',
    addressSubstitutes: '0000000000000',
    birthDate: '1990-01-02',
    birthEra: 4,
    sex: 'female' as const,
  };
  const facts = {
    grantId: 'g1',
    accountId: 'p1',
    clientId: 'bank-rp',
    identity: holder,
    derived: { ages: { age_over_20: true } },
    evidence: { issuer: 'CN=x', serialNumber: '01', signedAt: '2026-01-01T00:00:00Z' },
    statementHash: 'h',
    verifiedAt: '2026-01-01T00:00:00.000Z',
    verificationProcess: 'vp',
  };
  const requested = (FULL.id_token as Record<string, unknown>)['verified_claims'];
  const granted = ['age_over_20', 'verified_claims', 'verified_claims.name', 'verified_claims.address'];

  async function claimsFor(identity: VerifiedIdentity) {
    const find = accountFinder({ personExists: async () => true } as never, {
      identities: { get: async () => identity, put: async () => {}, delete: async () => {} },
      records: { appendAudit: async () => undefined as never },
      now: () => Date.parse('2026-01-02T00:00:00Z'),
      origin: 'https://id.example.jp',
    });
    const client = {
      clientId: 'bank-rp',
      redirectUris: ['https://bank.example/cb'],
      clientAuthMethod: 'private_key_jwt',
    };
    const ctx = {
      oidc: { grant: { jti: 'g1', getOIDCClaims: () => granted }, client },
    } as unknown as KoaContextWithOIDC;
    const account = await find(ctx, 'p1');
    return account!.claims('id_token', 'openid', { verified_claims: requested, age_over_20: null } as never, []);
  }

  it('answers only the signed age_over_20 when the identity was signed for it alone', async () => {
    const signed = { ...facts, signed: { claims: ['age_over_20'], details: [] } };
    assert.deepEqual(await claimsFor(signed), { sub: 'p1', age_over_20: true });
  });

  it('answers only the verified claims the statement listed', async () => {
    const signed = { ...facts, signed: { claims: ['verified_claims'], details: ['verified_claims.name'] } };
    const out = (await claimsFor(signed)) as Record<string, any>;
    assert.deepEqual(out['verified_claims'].claims, { name: '試験　花子' });
    assert.equal(out['age_over_20'], undefined);
  });

  it('answers nothing from an identity that records no coverage', async () => {
    assert.deepEqual(await claimsFor(facts), { sub: 'p1' });
    assert.deepEqual(withinSignature({ age_over_20: null }, undefined), {});
  });
});
