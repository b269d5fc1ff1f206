/**
 * Identity proofing and age checks end to end against the real provider's card-signature flow (card login →
 * consent → statement signed with the signing key → ID token with `verified_claims`). Skipped, with the reason, when
 * the provider does not advertise `verified_claims_supported`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ACR_CARD_SIGN, createMynaGateClient, identityProofingClaims, type MynaGateClient } from '../src/index.ts';
import { Browser } from './support/browser.ts';
import { loginWithCard, startProvider, type TestProvider } from './support/provider.ts';

const BANK = { clientId: 'bank', redirectUri: 'https://bank.example/cb', auth: 'private_key_jwt' } as const;
const PURPOSE = '口座開設の本人確認のため';

let provider: TestProvider;
let bank: MynaGateClient;
let person: { readonly file: string; readonly signSerial: string };
let supported = false;

before(async () => {
  provider = await startProvider([BANK]);
  person = await provider.issueCard();
  const c = provider.clients[BANK.clientId]!;
  bank = createMynaGateClient({
    issuer: provider.issuer,
    clientId: c.clientId,
    privateJwk: c.privateJwk!,
    redirectUri: c.redirectUri,
    allowLoopbackHttp: true,
  });
  const discovery = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as {
    verified_claims_supported?: boolean;
  };
  supported = discovery.verified_claims_supported === true;
});
after(() => provider?.close());

const SKIP = 'the provider does not offer identity proofing yet (no verified_claims_supported in discovery)';

/** Runs the person's side in a fresh browser; returns the callback URL. */
async function run(url: URL, cardFile = person.file): Promise<URL> {
  const browser = new Browser({ stopAt: [BANK.redirectUri] });
  const end = await loginWithCard(provider, browser, await browser.follow(url), cardFile);
  assert.equal(end.url.origin + end.url.pathname, BANK.redirectUri, `back at the RP: ${end.url.href}`);
  return end.url;
}

describe('identityProofing against the provider', () => {
  it('requests acr card-sign, the exact verified_claims JSON and the purpose', async () => {
    const claims = ['name', 'address', 'birthdate', 'gender'] as const;
    const { url, transaction } = await bank.identityProofing({ claims, purpose: PURPOSE });
    assert.equal(url.searchParams.get('acr_values'), ACR_CARD_SIGN);
    assert.deepEqual(JSON.parse(url.searchParams.get('claims')!), identityProofingClaims(claims, PURPOSE));
    assert.equal(url.searchParams.get('purpose'), PURPOSE);
    assert.equal(transaction.kind, 'identity');
    assert.deepEqual(transaction.claims, claims);
  });

  it('returns a VerifiedIdentity: jp_aml, electronic_signature evidence of the signing certificate, the four claims', async (t) => {
    if (!supported) return t.skip(SKIP);
    const { url, transaction } = await bank.identityProofing({
      claims: ['name', 'address', 'birthdate', 'gender'],
      purpose: PURPOSE,
    });
    const result = await bank.complete(transaction, await run(url));
    assert.equal(result.kind, 'identity');
    assert.equal(result.acr, ACR_CARD_SIGN);
    const { identity } = result;
    assert.equal(identity.trustFramework, 'jp_aml');
    assert.equal(identity.evidence.type, 'electronic_signature');
    assert.equal(identity.evidence.serial_number, person.signSerial);
    assert.match(identity.evidence.issuer, /OU=JPKI TEST for digital signature/, 'the signing CA, not the auth CA');
    assert.ok(identity.evidence.signature_type.length > 0);
    assert.ok(identity.evidence.created_at !== undefined && !Number.isNaN(Date.parse(identity.evidence.created_at)));
    assert.ok(Math.abs(Date.parse(identity.verifiedAt) - Date.now()) < 60_000, 'verified just now');
    assert.deepEqual(identity.claims, {
      name: identity.claims.name,
      address: { formatted: '東京都千代田区千代田1-1' },
      birthdate: '1990-01-02',
      gender: 'female',
    });
    assert.match(identity.claims.name!, /^試験　花子\d+$/);
  });

  it('returns only the claims asked for', async (t) => {
    if (!supported) return t.skip(SKIP);
    const { url, transaction } = await bank.identityProofing({ claims: ['birthdate'], purpose: PURPOSE });
    const { identity } = await bank.complete(transaction, await run(url));
    assert.deepEqual(identity.claims, { birthdate: '1990-01-02' });
  });
});

describe('ageCheck against the provider', () => {
  it('answers satisfied true for a person born in 1990 and false for one born in 2010', async (t) => {
    if (!supported) return t.skip(SKIP);
    const adult = await bank.ageCheck({ over: 20 });
    assert.deepEqual(JSON.parse(adult.url.searchParams.get('claims')!), {
      id_token: { age_over_20: { essential: true } },
      userinfo: { age_over_20: { essential: true } },
    });
    const yes = await bank.complete(adult.transaction, await run(adult.url));
    assert.deepEqual(yes.age, { over: 20, satisfied: true });
    assert.equal(yes.idTokenClaims['birthdate'], undefined, 'the birth date itself is not released');

    const minor = await provider.issueCard({ birthDate: '2010-06-01' });
    const young = await bank.ageCheck({ over: 18 });
    const no = await bank.complete(young.transaction, await run(young.url, minor.file));
    assert.deepEqual(no.age, { over: 18, satisfied: false });
  });
});
