/**
 * The demo shop is a relying party of its own in the development stack: when the shop asks, MynaGate's login page,
 * consent page and signing page name the shop (not the bank), the request carries the shop's client_id, and the
 * shop gets its own pairwise `sub` for the card the bank knows by another. Driven in Chromium (playwright-core)
 * with the virtual phone, as a person would.
 *
 * Needs Chromium at /usr/bin/chromium; skips with the reason otherwise, unless MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startDevStack, type DevStack } from '../src/index.ts';
import {
  agreeOnConsentPage,
  cardLoginOnPhone,
  CHROMIUM_LAUNCH,
  signStatementOnPhone,
  skipBrowser,
  type PrintedCard,
} from './support/browser-stories.ts';

const BANK = 'デモ銀行 / Demo Bank';
const SHOP = 'デモ酒店 / Demo Liquor Shop';

describe('mynagate serve --dev: the shop is a client of its own', { skip: skipBrowser }, () => {
  let dir: string;
  let browser: Browser;
  let stack: DevStack;
  let card: PrintedCard;
  let bankSub: string | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-shop-client-'));
    browser = await chromium.launch(CHROMIUM_LAUNCH);
    stack = await startDevStack({ dataDir: dir, port: 0, demoPort: 0, scryptCost: 1 << 10 });
    card = { index: 0, ...stack.data.cards[0]! };
  });
  after(async () => {
    await stack?.close();
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the bank signs up the card under its pairwise sub, and MynaGate names the bank', async () => {
    const context = await browser.newContext({ locale: 'ja-JP' });
    try {
      const page = await context.newPage();
      await page.goto(`${stack.demo.url}/`);
      await page.locator('#signup').click();
      await page.locator('#client-name').waitFor();
      assert.equal(await page.locator('#client-name').textContent(), BANK);
      await cardLoginOnPhone(context, page, card);
      await page.waitForURL(`${stack.demo.url}/account`, { timeout: 15_000 });
      bankSub = (await page.locator('#sub').textContent()) ?? '';
      assert.match(bankSub, /^[A-Za-z0-9_-]{43}$/);
    } finally {
      await context.close();
    }
  });

  it('the shop asks as itself: its client_id, its name on the login, consent and signing pages, its own sub', async () => {
    assert.ok(bankSub, 'the bank sign-up ran');
    const context = await browser.newContext({ locale: 'ja-JP' });
    try {
      const page = await context.newPage();
      await page.goto(`${stack.demo.url}/shop`);
      assert.ok(page.url().startsWith(`${stack.demo.shop.url}/`), `the shop is on its own origin, not ${page.url()}`);
      const [auth] = await Promise.all([
        context.waitForEvent('request', (r) => r.url().startsWith(`${stack.idp.issuer}/auth`)),
        page.locator('#buy').click(),
      ]);
      const params = new URL(auth.url()).searchParams;
      assert.equal(params.get('client_id'), 'mynagate-demo-shop');
      assert.equal(params.get('redirect_uri'), `${stack.demo.shop.url}/callback`);

      await page.locator('#client-name').waitFor();
      assert.equal(await page.locator('#client-name').textContent(), SHOP, 'the login page names the shop');
      await cardLoginOnPhone(context, page, card);

      await page.locator('#consent-form').waitFor({ timeout: 15_000 });
      const heading = (await page.locator('h1').textContent()) ?? '';
      assert.match(heading, /デモ酒店/, 'the consent page names the shop');
      assert.doesNotMatch(await page.locator('main').innerText(), /デモ銀行|Demo Bank/, 'and never the bank');
      await agreeOnConsentPage(page);

      await page.locator('#client-name').waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('#client-name').textContent(), SHOP, 'the signing page names the shop');
      await signStatementOnPhone(context, page, card);

      await page.locator('#purchase-result').waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('#age-over-20').textContent(), 'はい / yes');
      const shopSub = (await page.locator('#sub').textContent()) ?? '';
      assert.match(shopSub, /^[A-Za-z0-9_-]{43}$/);
      assert.notEqual(shopSub, bankSub, 'the same card has another pairwise sub at the shop than at the bank');
    } finally {
      await context.close();
    }
  });
});
