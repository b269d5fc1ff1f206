/**
 * The interaction pages in a real browser (Chromium through playwright-core), where the page's CSP is enforced:
 * every way out of a page that ends at the service (login Cancel, 「同意しない」, the eKYC Cancel, the logout
 * confirmation) reaches the service's callback, although CSP form-action also applies to the redirects after the
 * post; a login page whose code is about to expire warns, and once expired removes the code and offers a new one or
 * the way back to the service; and the pages are accessible (the QR code has a name, English text is marked as
 * English, and a browser without JavaScript is told why the page cannot work).
 *
 * The service's hosts (bank.example) do not exist: requests to them are observed, then aborted.
 *
 * Needs Chromium at /usr/bin/chromium (`apt-get install chromium`); skips with the reason otherwise, unless
 * MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { authorizeExtra, issueCard, startEkycIdp } from './support/ekyc-fixture.ts';
import {
  cardToken,
  createOpFixture,
  postToken,
  RP_JWT,
  scan,
  type CompanionViewJson,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';
import { CHROMIUM_LAUNCH, skipBrowser } from './support/chromium.ts';

const VERIFIED = {
  id_token: {
    verified_claims: {
      verification: { trust_framework: null },
      claims: { name: null, birthdate: null },
    },
  },
};

let f: OpFixture;
let idp: TestIdp;
let ekycIdp: TestIdp;
let card: TestCard;
let ekycCard: TestCard;
let browser: Browser;
/** Added to the provider's clock (`now`): moves its login transactions to their expiry. */
let skew = 0;

describe('interaction pages in Chromium', { skip: skipBrowser }, () => {
  before(async () => {
    f = await createOpFixture();
    card = await f.newCard('試験　花子');
    ekycCard = await issueCard(f);
    idp = await f.start({ now: () => Date.now() + skew });
    ekycIdp = await startEkycIdp(f);
    browser = await chromium.launch(CHROMIUM_LAUNCH);
  });
  after(async () => {
    await browser?.close();
    await ekycIdp?.close();
    await f?.close();
  });

  /** A browser context whose requests to the service are aborted (its host does not exist). */
  async function newContext(options: { javaScriptEnabled?: boolean } = {}): Promise<BrowserContext> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'ja-JP', ...options });
    await context.route('https://bank.example/**', (route) => route.abort());
    return context;
  }

  /** Opens an authorization request of RP_JWT in `page`; returns its `state`. */
  async function authorize(page: Page, on: TestIdp, extra: Record<string, string> = {}): Promise<string> {
    const state = client.randomState();
    await page.goto(
      client.buildAuthorizationUrl(on.jwtRp, {
        redirect_uri: RP_JWT.redirectUri,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state,
        acr_values: 'urn:mynagate:acr:card-auth',
        ...extra,
      }).href,
    );
    return state;
  }

  /** The companion's part of a card login on the code `page` shows (the page then moves on by itself). */
  async function loginWithCard(page: Page, on: TestIdp, with_: TestCard): Promise<void> {
    await page.locator('#qr svg').waitFor();
    const link = await page.locator('#qr').getAttribute('data-link');
    assert.ok(link);
    const scanned = await scan(on, link);
    assert.equal(scanned.status, 200, JSON.stringify(scanned.body));
    const view = scanned.body as unknown as CompanionViewJson;
    const posted = await postToken(on, view.txn, await cardToken(with_, view.origin, view.challenge));
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
  }

  /** Runs `act` and returns the service callback the browser then requests. */
  async function callbackAfter(page: Page, act: () => Promise<unknown>, path = '/cb'): Promise<URL> {
    const request = page.waitForRequest((r) => r.url().startsWith(`https://bank.example${path}`), { timeout: 10_000 });
    await act();
    return new URL((await request).url());
  }

  /** English text marked as English: every `.en` element has lang="en" (those added by the page's script too). */
  async function assertEnglishMarked(page: Page): Promise<void> {
    const unmarked = await page
      .locator('.en')
      .evaluateAll((els) => els.filter((e) => e.getAttribute('lang') !== 'en').map((e) => e.outerHTML));
    assert.deepEqual(unmarked, []);
    assert.ok((await page.locator('.en').count()) > 0);
  }

  it('login Cancel reaches the service with error=access_denied (form-action allows its origin after the redirect)', async () => {
    const context = await newContext();
    const page = await context.newPage();
    const state = await authorize(page, idp);
    await page.locator('#qr svg').waitFor();
    const callback = await callbackAfter(page, () => page.locator('#cancel button').click());
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), state);
    await context.close();
  });

  it('「同意しない」 on the consent page reaches the service with error=access_denied', async () => {
    const context = await newContext();
    const page = await context.newPage();
    // The signing step's provider asks for consent to the claims (the other lets first-party openid through).
    const state = await authorize(page, ekycIdp, authorizeExtra(VERIFIED));
    await loginWithCard(page, ekycIdp, ekycCard);
    await page.locator('#consent-form').waitFor();
    await assertEnglishMarked(page);
    const callback = await callbackAfter(page, () => page.locator('#consent-form button[value="deny"]').click());
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), state);
    await context.close();
  });

  it('the eKYC signing page’s Cancel reaches the service with error=access_denied; the page is accessible', async () => {
    const context = await newContext();
    const page = await context.newPage();
    const state = await authorize(page, ekycIdp, authorizeExtra(VERIFIED));
    await loginWithCard(page, ekycIdp, ekycCard);
    await page.locator('#consent-form').waitFor();
    await page.locator('#consent-form button[value="accept"]').click();
    await page.locator('#purpose').waitFor();
    await page.locator('#qr svg').waitFor();
    assert.equal(await page.locator('#qr').getAttribute('role'), 'img');
    assert.match((await page.locator('#qr').getAttribute('aria-label')) ?? '', /QRコード/);
    assert.equal(await page.locator('noscript').count(), 1);
    await assertEnglishMarked(page);
    const callback = await callbackAfter(page, () => page.locator('#cancel button').click());
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), state);
    await context.close();
  });

  it('the logout confirmation reaches the post_logout_redirect_uri (form-action allows its origin)', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await authorize(page, idp);
    await callbackAfter(page, () => loginWithCard(page, idp, card));
    const logout = new URL('/session/end', idp.server.issuer);
    logout.searchParams.set('client_id', RP_JWT.clientId);
    logout.searchParams.set('post_logout_redirect_uri', 'https://bank.example/bye');
    logout.searchParams.set('state', 'bye-state');
    // In a tab of its own: the first one may still be on its way to the (aborted) callback.
    const tab = await context.newPage();
    await tab.goto(logout.href);
    await assertEnglishMarked(tab);
    const bye = await callbackAfter(tab, () => tab.locator('button[name="logout"]').click(), '/bye');
    assert.equal(bye.searchParams.get('state'), 'bye-state');
    await context.close();
  });

  it('hides the code at a scan; shown again by its button, the next scan hides it again, and that scan logs in', async () => {
    const context = await newContext();
    const page = await context.newPage();
    const state = await authorize(page, idp);
    await page.locator('#qr svg').waitFor();
    const qr = page.locator('#qr');
    const again = page.locator('#qr-again');
    // A scan whose companion goes nowhere (a camera app, a declined PIN): the code is hidden, the button shown.
    const first = await scan(idp, (await qr.getAttribute('data-link'))!);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    await qr.waitFor({ state: 'hidden' });
    assert.equal(await again.isVisible(), true);
    await again.click();
    await qr.waitFor({ state: 'visible' });
    // The person scans again: the code goes away again, so no one at the screen can scan a fresh frame meanwhile.
    const second = await scan(idp, (await qr.getAttribute('data-link'))!);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    await qr.waitFor({ state: 'hidden', timeout: 5_000 });
    assert.equal(await again.isVisible(), true);
    // The second scan's challenge finishes the login; the first one's no longer works.
    const v1 = first.body as unknown as CompanionViewJson;
    const v2 = second.body as unknown as CompanionViewJson;
    const stale = await postToken(idp, v1.txn, await cardToken(card, v1.origin, v1.challenge));
    assert.equal(stale.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    const callback = await callbackAfter(page, async () => {
      const posted = await postToken(idp, v2.txn, await cardToken(card, v2.origin, v2.challenge));
      assert.equal(posted.status, 200, JSON.stringify(posted.body));
    });
    assert.equal(callback.searchParams.get('state'), state);
    assert.ok(callback.searchParams.get('code'));
    await context.close();
  });

  it('warns a minute before the code expires, then removes it and offers a new code and the way back', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.clock.install();
    const state = await authorize(page, idp);
    await page.locator('#qr svg').waitFor();
    assert.equal(await page.locator('#qr-expiry').isVisible(), false, 'nothing offered at first');
    assert.match((await page.locator('#status').textContent()) ?? '', /待っています/);

    // Four minutes later (of five): the warning, with a new code on offer; the code is still there.
    await page.clock.fastForward('04:01');
    await page.locator('#status', { hasText: 'あと1分' }).waitFor();
    assert.equal(await page.locator('#qr-reload').isVisible(), true);
    assert.equal(await page.locator('#qr svg').isVisible(), true);
    await assertEnglishMarked(page);

    // The provider's transaction expires: the code, the phone and card-reader links go; the ways on are shown.
    skew += 301_000;
    await page.locator('#status.error', { hasText: '受付時間が過ぎた' }).waitFor();
    assert.equal(await page.locator('#qr').isVisible(), false);
    assert.equal(await page.locator('#qr svg').count(), 0);
    assert.equal(await page.locator('#bridge').isVisible(), false);
    assert.equal(await page.locator('#qr-reload').isVisible(), true);
    const back = new URL((await page.locator('#back-to-service').getAttribute('href'))!);
    assert.equal(back.origin + back.pathname, RP_JWT.redirectUri);
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), state);
    assert.equal(back.searchParams.get('iss'), idp.server.issuer);
    await assertEnglishMarked(page);

    // A new code, while the interaction lives.
    const before = await page.locator('#qr').getAttribute('data-link');
    await page.locator('#qr-reload').click();
    await page.locator('#qr svg').waitFor();
    assert.notEqual(await page.locator('#qr').getAttribute('data-link'), before);

    // Once the interaction is (about to be) gone, only the way back to the service is left.
    await page.clock.fastForward('06:00');
    await page.locator('#back-to-service').waitFor();
    assert.equal(await page.locator('#qr-reload').isVisible(), false);
    assert.equal(await page.locator('#cancel').isVisible(), false);
    const callback = await callbackAfter(page, () => page.locator('#back-to-service').click());
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), state);
    skew = 0;
    await context.close();
  });

  it('names the QR code (and the card-reader way) for screen readers and marks English text on the login page', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await authorize(page, idp);
    await page.locator('#qr svg').waitFor();
    assert.equal(await page.locator('#qr').getAttribute('role'), 'img');
    const label = (await page.locator('#qr').getAttribute('aria-label')) ?? '';
    assert.match(label, /QRコード/);
    assert.match(label, /カードリーダー/);
    assert.match(label, /card reader/);
    assert.equal(await page.getByRole('img', { name: /QRコード/ }).count(), 1);
    await assertEnglishMarked(page);
    await context.close();
  });

  it('tells a browser without JavaScript why the code goes stale, with a reload link', async () => {
    const context = await newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await authorize(page, idp);
    await page.locator('#qr svg').waitFor();
    const notice = page.locator('#noscript');
    await notice.waitFor();
    assert.match((await notice.textContent()) ?? '', /JavaScript/);
    const uid = new URL(page.url()).pathname.split('/').at(-1)!;
    assert.equal(await notice.locator('a').first().getAttribute('href'), `/interaction/${uid}`);
    await context.close();
  });

  it('marks English text on an error page', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(new URL('/interaction/no-such-interaction', idp.server.issuer).href);
    await assertEnglishMarked(page);
    await context.close();
  });
});
