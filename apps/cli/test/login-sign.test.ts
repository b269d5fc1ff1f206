/**
 * `mynagate login` on an eKYC signing link (`/companion/sign/<txn>`), against a provider started in-process over TLS
 * (the eKYC fixture): card login, consent, then the CLI shows the service, the origin and the statement text, reads
 * the signing password from stdin, signs DigestInfo(SHA-256(canonical)) with the virtual card's signing key and posts
 * it; the browser's signing page completes and the ID token carries `verified_claims`. On another network than the
 * signing page's browser, it shows the signing caution after the statement and before the password.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import {
  authorizeExtra,
  consent,
  issueCard,
  loginThenStop,
  openSignPage,
  PASSWORD,
  RP_JWT,
  startEkycIdp,
  type Step,
} from '../../../packages/idp/test/support/ekyc-fixture.ts';
import {
  createOpFixture,
  startLogin,
  type OpFixture,
  type StartedLogin,
  type TestCard,
  type TestIdp,
} from '../../../packages/idp/test/support/op-fixture.ts';
import { SIGN_NETWORK_CAUTION } from '../src/companion.ts';
import { runCli } from './serve-support.ts';

const VERIFIED = {
  verified_claims: {
    verification: { trust_framework: null, evidence: [{ type: { value: 'electronic_signature' } }] },
    claims: { name: null, birthdate: null },
  },
};
const PURPOSE = '口座開設の本人確認 / Account opening';

let f: OpFixture;
let idp: TestIdp;
/** The same behind a trusted proxy: a browser's X-Forwarded-For names its network, and the CLI's none is unknown. */
let proxied: TestIdp;
let card: TestCard;
let env: Record<string, string>;
/** The provider's clock (epoch ms) while it stands still, else `undefined`: it runs. See {@link runLogin}. */
let stopped: number | undefined;

before(async () => {
  f = await createOpFixture();
  card = await issueCard(f, { name: '試験　署名' });
  const start = (trustProxy: boolean) =>
    startEkycIdp(f, {
      ekyc: { purposes: { [RP_JWT.clientId]: PURPOSE } },
      now: () => stopped ?? Date.now(),
      trustProxy,
      // Its test scans one link twice, from two CLI processes: the code must outlive the first one.
      ...(trustProxy ? { qrMaxAgeSeconds: 30 } : {}),
    });
  [idp, proxied] = await Promise.all([start(false), start(true)]);
  const ca = join(f.dir, 'tls-ca.pem');
  await writeFile(ca, f.tls.cert);
  env = { NODE_EXTRA_CA_CERTS: ca };
});
after(async () => {
  await Promise.all([idp?.close(), proxied?.close()]);
  await f?.close();
});

/** The stderr lines that are not node-oidc-provider's runtime notice. */
const lines = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('oidc-provider WARNING'));

/**
 * `mynagate login <link> --file <card> --pin-stdin` with `input`, the provider's clock standing still meanwhile. A QR
 * code is accepted for 3 s (qrMaxAgeSeconds: a phone scans at once), and starting a Node process for the CLI can take
 * longer than that on a loaded machine: the scan then fails with ERR_IDP_QR_STALE (both tests do when the CLI's start
 * is delayed by 4 s). The code's age is not what these tests check (packages/idp/test/op-units and op-companion do),
 * so the provider's time does not pass while the CLI runs.
 */
async function runLogin(link: string, input?: string) {
  stopped = Date.now();
  try {
    // Without `input`, no --pin-stdin: with no terminal the CLI stops where it would ask for the password.
    const stdin = input === undefined ? [] : ['--pin-stdin'];
    return await runCli(['login', link, '--file', card.file, ...stdin], input === undefined ? { env } : { input, env });
  } finally {
    stopped = undefined;
  }
}

/** Card login and consent at `on`, up to the signing page. */
async function toSigningPage(on: TestIdp = idp): Promise<{ login: StartedLogin; step: Step }> {
  const login = await startLogin(on, on.jwtRp, RP_JWT.redirectUri, {
    extra: authorizeExtra({ id_token: VERIFIED }, { scope: 'openid' }),
  });
  let step = await loginThenStop(on, login, card);
  if (step.page.includes('consent-form')) step = await consent(login.agent, step);
  assert.match(step.page, /\/companion\/sign\//, 'the signing page');
  return { login, step };
}

describe('mynagate login on an eKYC signing link', () => {
  it('shows the statement, signs it with the signing key and the ID token carries verified_claims', async () => {
    const { login, step } = await toSigningPage();
    const sign = await openSignPage(login.agent, step);
    // The freshest QR link (the provider accepts a code for a few seconds only: runLogin stops its clock).
    const { link } = (await sign.events.next('qr')) as { link: string };
    const r = await runLogin(link, `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, 'ok');
    assert.match(r.stderr, /サービス \/ Service:\s+テスト銀行 \(https:\/\/bank\.example\)/);
    assert.match(r.stderr, new RegExp(`Signed for:\\s+${idp.server.issuer.replaceAll('.', '\\.')}`));
    assert.match(r.stderr, /Intent:\s+本人確認の署名/);
    assert.ok(r.stderr.includes(`Purpose:    ${PURPOSE}`), r.stderr);
    assert.match(r.stderr, /^私は、テスト銀行（https:\/\/bank\.example）が次の目的で私の本人確認をすることに同意し/m);
    assert.match(r.stderr, /^I agree that テスト銀行 \(https:\/\/bank\.example\) verifies my identity/m);
    assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), 'the password is never echoed');
    // The CLI and the signing page's browser on one network (127.0.0.1): no caution.
    assert.equal(r.stderr.includes(SIGN_NETWORK_CAUTION.ja), false, r.stderr);
    assert.equal(r.stderr.includes(SIGN_NETWORK_CAUTION.en), false, r.stderr);
    assert.doesNotMatch(r.stderr, /Caution/);

    const done = (await sign.events.next('done', 10_000)) as { redirect: string } | undefined;
    await sign.events.close();
    assert.ok(done, 'the signing page got the outcome');
    const { url } = await login.agent.follow(done.redirect);
    assert.equal(url.origin + url.pathname, RP_JWT.redirectUri);
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, url, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const claims = tokens.claims()!;
    assert.equal(claims.acr, 'urn:mynagate:acr:card-sign');
    const vc = claims['verified_claims'] as { verification: Record<string, unknown>; claims: Record<string, unknown> };
    assert.equal(vc.verification['trust_framework'], 'jp_aml');
    assert.equal(vc.claims['name'], '試験　署名');
  });

  it('fails with one line ERR_CARD_PIN_INCORRECT and the tries left on a wrong signing password; nothing is posted', async () => {
    const { login, step } = await toSigningPage();
    const sign = await openSignPage(login.agent, step);
    const { link } = (await sign.events.next('qr')) as { link: string };
    const r = await runLogin(link, 'WRONG999\n');
    assert.equal(r.code, 1);
    // The tries first, then the refusal in both languages: of the signing password, never a PIN.
    assert.deepEqual(lines(r.stderr).slice(-2), [
      '署名用電子証明書のパスワードの残り回数: 5回 / signing password: 5 tries left',
      'ERR_CARD_PIN_INCORRECT: 署名用電子証明書のパスワード（英数字6〜16文字）が違います。あと4回間違えるとロックされます。' +
        ' / The password (6-16 letters and digits) of the signing certificate is incorrect. 4 tries left before it locks.',
    ]);
    assert.doesNotMatch(r.stderr, /暗証番号|\bPIN\b/);
    assert.equal(r.stdout, '');
    assert.equal(await sign.events.next('done', 300), undefined, 'nothing was posted');
    await sign.events.close();
  });

  it('on another network than the signing page: the caution in both languages, after the statement, before the password', async () => {
    const { login, step } = await toSigningPage(proxied);
    // The browser opens the signing page from 203.0.113.7 (a new signing transaction, from there); the CLI's
    // requests carry no X-Forwarded-For, so its network is unknown: "other" (two known networks: the idp's tests).
    const res = await login.agent.fetch(step.url, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const sign = await openSignPage(login.agent, { url: step.url, page: await res.text() });
    const { link } = (await sign.events.next('qr')) as { link: string };
    const r = await runLogin(link);
    const service = r.stderr.indexOf('Service:');
    const statement = r.stderr.indexOf('I agree that テスト銀行');
    const ja = r.stderr.indexOf(`注意 / Caution: ${SIGN_NETWORK_CAUTION.ja}`);
    const en = r.stderr.indexOf(SIGN_NETWORK_CAUTION.en);
    const asked = r.stderr.indexOf('no terminal to ask for the PIN');
    assert.ok(service >= 0 && statement > service && ja > statement && en > ja, r.stderr);
    assert.ok(asked > en + SIGN_NETWORK_CAUTION.en.length, r.stderr);
    assert.notEqual(r.code, 0);
    assert.equal(await sign.events.next('done', 300), undefined, 'nothing was posted');

    // The person may still go on (a caution, not a refusal): with the password, the signature completes.
    const again = await runLogin(link, `${PASSWORD}\n`);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(again.stderr.includes(SIGN_NETWORK_CAUTION.ja), again.stderr);
    assert.ok(await sign.events.next('done', 10_000), 'the signing page got the outcome');
    await sign.events.close();
  });
});
