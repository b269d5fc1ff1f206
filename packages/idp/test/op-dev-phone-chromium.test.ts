/**
 * A newcomer's whole login in one real browser (Chromium through playwright-core): the relying party sends the
 * browser to the IdP, the login page shows the animated QR code, "Open the virtual phone" opens the development
 * phone, which shows the service and asks for the PIN; a wrong PIN shows the tries left, the right one signs with
 * the virtual card, and the login page continues to the relying party by itself. On another network than the
 * browser's, the phone cautions before the PIN, or (an eKYC signing link) before the signing password. Screenshots go
 * to `test-output/idp/` (gitignored).
 *
 * Needs Chromium at /usr/bin/chromium (`apt-get install chromium`); skips with the reason otherwise, unless
 * MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { chromium, type Browser } from 'playwright-core';
import {
  createOpFixture,
  PIN,
  RP_JWT,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';
import { CHROMIUM_LAUNCH, skipBrowser } from './support/chromium.ts';
import { authorizeExtra, consent, issueCard, loginThenStop, PASSWORD, startEkycIdp } from './support/ekyc-fixture.ts';

const OUT = join(import.meta.dirname, '..', '..', '..', 'test-output', 'idp');

let f: OpFixture;
let idp: TestIdp;
let card: TestCard;
let browser: Browser;

describe('virtual phone in Chromium (development mode)', { skip: skipBrowser }, () => {
  before(async () => {
    f = await createOpFixture();
    card = await f.newCard('試験　花子');
    idp = await f.start({
      dev: { cards: [{ label: 'テストカード 試験花子 / Test card (PIN 1234)', file: card.file }] },
    });
    browser = await chromium.launch(CHROMIUM_LAUNCH);
    await mkdir(OUT, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await f?.close();
  });

  it('completes a card login with the dev phone, showing the PIN tries left after a wrong PIN', async () => {
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      locale: 'ja-JP',
      viewport: { width: 900, height: 1000 },
    });
    // The relying party's callback host does not exist: the navigation to it is observed, then its code is redeemed
    // with openid-client (route interception does not see redirect hops).
    await context.route('https://bank.example/**', (route) => route.abort());
    const page = await context.newPage();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    await page.goto(
      client.buildAuthorizationUrl(idp.jwtRp, {
        redirect_uri: RP_JWT.redirectUri,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        acr_values: 'urn:mynagate:acr:card-auth',
      }).href,
    );
    await page.locator('#qr svg').waitFor();
    assert.equal(await page.locator('#client-name').textContent(), RP_JWT.name);
    const firstLink = await page.locator('#qr').getAttribute('data-link');
    await page.waitForFunction(
      (link) =>
        (
          globalThis as unknown as {
            document: { getElementById(id: string): { dataset: Record<string, string> } | null };
          }
        ).document.getElementById('qr')?.dataset['link'] !== link,
      firstLink,
      { timeout: 3000 },
    );
    await page.screenshot({ path: join(OUT, '1-login-page.png') });

    const [phone] = await Promise.all([context.waitForEvent('page'), page.locator('#dev-phone').click()]);
    await phone.locator('#sign-form').waitFor({ state: 'visible' });
    assert.equal(await phone.locator('#client-name').textContent(), RP_JWT.name);
    assert.equal(await phone.locator('#origin').textContent(), idp.server.issuer);
    // Phone and browser on one network (127.0.0.1): no caution.
    assert.equal(await phone.locator('#network-caution').isHidden(), true);
    await phone.screenshot({ path: join(OUT, '2-phone-service.png') });

    await phone.locator('#pin').fill('0000');
    await phone.locator('#sign').click();
    await phone.locator('#status.error').waitFor();
    assert.match((await phone.locator('#status').textContent()) ?? '', /あと2回/);
    await phone.screenshot({ path: join(OUT, '3-phone-wrong-pin.png') });

    const callback = page.waitForRequest(/^https:\/\/bank\.example\/cb/, { timeout: 10_000 });
    await phone.locator('#pin').fill(PIN);
    await phone.locator('#sign').click();
    await phone.locator('#status.done').waitFor();
    await phone.screenshot({ path: join(OUT, '4-phone-done.png') });

    const tokens = await client.authorizationCodeGrant(idp.jwtRp, new URL((await callback).url()), {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
    });
    assert.equal(tokens.claims()!.acr, 'urn:mynagate:acr:card-auth');
    await context.close();
  });

  it('cautions before the PIN when the phone scans from another network than the browser (a relayed QR code)', async () => {
    // Behind a trusted proxy the browser is 203.0.113.7 and the phone 198.51.100.7 (X-Forwarded-For): two networks.
    const proxied = await f.start({
      trustProxy: true,
      dev: { cards: [{ label: 'テストカード 試験花子 / Test card (PIN 1234)', file: card.file }] },
    });
    const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'ja-JP' });
    await context.setExtraHTTPHeaders({ 'x-forwarded-for': '203.0.113.7' });
    await context.route(/\/companion\//, (route) =>
      route.continue({ headers: { ...route.request().headers(), 'x-forwarded-for': '198.51.100.7' } }),
    );
    const page = await context.newPage();
    await page.goto(
      client.buildAuthorizationUrl(proxied.jwtRp, {
        redirect_uri: RP_JWT.redirectUri,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        acr_values: 'urn:mynagate:acr:card-auth',
      }).href,
    );
    await page.locator('#qr svg').waitFor();
    const [phone] = await Promise.all([context.waitForEvent('page'), page.locator('#dev-phone').click()]);
    await phone.locator('#sign-form').waitFor({ state: 'visible' });
    const caution = phone.locator('#network-caution');
    assert.equal(await caution.isVisible(), true);
    const text = (await caution.textContent()) ?? '';
    assert.match(text, /このログインは、この端末とは別のネットワークで始まりました。/);
    assert.match(text, /暗証番号を入力せずに中止してください。/);
    assert.match(text, /This login was started on another network than this device\./);
    assert.match(text, /stop without entering your PIN\./);
    // The caution comes before the PIN field, and the PIN field does not take the focus.
    const [cautionBox, pinBox] = [await caution.boundingBox(), await phone.locator('#pin').boundingBox()];
    assert.ok(cautionBox !== null && pinBox !== null && cautionBox.y < pinBox.y);
    const focused = await phone.evaluate(
      () =>
        (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id,
    );
    assert.notEqual(focused, 'pin');
    await phone.screenshot({ path: join(OUT, '5-phone-other-network.png') });
    await context.close();
  });

  describe('an eKYC signing link', () => {
    let ekyc: TestIdp;
    let signer: TestCard;
    before(async () => {
      signer = await issueCard(f, { name: '試験　署名' });
      // Behind a trusted proxy: the signing page's browser is 203.0.113.7 (X-Forwarded-For, below).
      ekyc = await startEkycIdp(f, {
        trustProxy: true,
        // The link is made over HTTP here and opened by Chromium, which may start slowly on a loaded machine.
        qrMaxAgeSeconds: 30,
        dev: { cards: [{ label: 'テストカード 試験署名 / Test card (password TEST2025)', file: signer.file }] },
      });
    });
    after(() => ekyc?.close());

    /** Card login and consent over HTTP from 203.0.113.7, up to the signing page; returns its QR link. */
    async function signingLink(): Promise<string> {
      const login = await startLogin(ekyc, ekyc.jwtRp, RP_JWT.redirectUri, {
        extra: authorizeExtra(
          {
            id_token: {
              verified_claims: {
                verification: { trust_framework: null, evidence: [{ type: { value: 'electronic_signature' } }] },
                claims: { name: null },
              },
            },
          },
          { scope: 'openid' },
        ),
      });
      let step = await loginThenStop(ekyc, login, signer);
      if (step.page.includes('consent-form')) step = await consent(login.agent, step);
      await login.events.close();
      const res = await login.agent.fetch(step.url, { headers: { 'x-forwarded-for': '203.0.113.7' } });
      const link = /data-link="([^"]+)"/.exec(await res.text())?.[1]?.replaceAll('&amp;', '&');
      assert.ok(link !== undefined && link.includes('/companion/sign/'), 'the signing page');
      return link;
    }

    /** The dev phone opened on `link`, its companion requests from `phoneAddress`, showing the statement. */
    async function phoneOn(link: string, phoneAddress: string) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'ja-JP' });
      await context.route(/\/companion\//, (route) =>
        route.continue({ headers: { ...route.request().headers(), 'x-forwarded-for': phoneAddress } }),
      );
      const phone = await context.newPage();
      await phone.goto(new URL(`/dev/phone#${encodeURIComponent(link)}`, ekyc.server.url).href);
      await phone.locator('#statement-form').waitFor({ state: 'visible' });
      const focused = () =>
        phone.evaluate(
          () =>
            (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement
              ?.id,
        );
      return { context, phone, focused };
    }

    it('same network as the signing page (203.0.113.x): no caution, and the password field takes the focus', async () => {
      const { context, phone, focused } = await phoneOn(await signingLink(), '203.0.113.200');
      assert.equal(await phone.locator('#sign-network-caution').isHidden(), true);
      assert.equal(await phone.locator('#network-caution').isHidden(), true);
      assert.equal(await focused(), 'password');
      await context.close();
    });

    it('another network: the signing caution before the password, which does not take the focus; signing still works', async () => {
      const { context, phone, focused } = await phoneOn(await signingLink(), '198.51.100.7');
      const caution = phone.locator('#sign-network-caution');
      assert.equal(await caution.isVisible(), true);
      // The login's caution (which speaks of a PIN) is not the one shown.
      assert.equal(await phone.locator('#network-caution').isHidden(), true);
      const text = (await caution.textContent()) ?? '';
      assert.match(text, /この本人確認（署名）は、この端末とは別のネットワークで始まりました。/);
      assert.match(text, /パスワードを入力せずに中止してください。/);
      assert.match(text, /This identity check \(signature\) was started on another network than this device\./);
      assert.match(text, /stop without entering your password\./);
      const [cautionBox, passwordBox] = [await caution.boundingBox(), await phone.locator('#password').boundingBox()];
      assert.ok(cautionBox !== null && passwordBox !== null && cautionBox.y < passwordBox.y);
      assert.notEqual(await focused(), 'password');
      assert.match((await phone.locator('#status').textContent()) ?? '', /上の注意を読んでください。/);
      await phone.screenshot({ path: join(OUT, '6-phone-sign-other-network.png') });
      // A caution, not a refusal: the person who did start it may sign.
      await phone.locator('#password').fill(PASSWORD);
      await phone.locator('#sign-statement').click();
      await phone.locator('#status.done').waitFor();
      await context.close();
    });
  });

  it('is not served when development mode is off (404)', async () => {
    const plain = await f.start();
    const res = await plain.fetch(new URL('/dev/phone', plain.server.url));
    assert.equal(res.status, 404);
    await res.body?.cancel();
  });
});
