/**
 * The demo's results survive a reload: the bank and the shop never show a result at `/callback?code=…` (a reload
 * there would redeem nothing and say nothing was in progress) but answer 303 to a result page that reads the
 * session (`/done`, `/account`), and a transfer made without the card is answered the same way, so a reload never
 * posts it again. A person who says no at MynaGate (cancels the login, declines the consent) is told what that meant
 * for the story, in both languages: no account, no transfer, no purchase. Driven in Chromium (playwright-core)
 * against the development stack, with the virtual phone.
 *
 * Needs Chromium at /usr/bin/chromium; skips with the reason otherwise, unless MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startDevStack, type DevStack } from '../src/index.ts';
import {
  agreeOnConsentPage,
  cardLoginOnPhone,
  CHROMIUM_LAUNCH,
  signStatementOnPhone,
  skipBrowser,
  type PrintedCard,
} from './support/browser-stories.ts';

describe('demo result pages: 303 after the callback, and what a "no" meant', { skip: skipBrowser }, () => {
  let dir: string;
  let browser: Browser;
  let stack: DevStack;
  let card: PrintedCard;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-demo-results-'));
    browser = await chromium.launch(CHROMIUM_LAUNCH);
    stack = await startDevStack({ dataDir: dir, port: 0, demoPort: 0, scryptCost: 1 << 10 });
    card = { index: 0, ...stack.data.cards[0]! };
  });
  after(async () => {
    await stack?.close();
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `fn` with a page of a new browser context (its own cookies), closing the context after. */
  async function inBrowser(fn: (context: BrowserContext, page: Page) => Promise<void>): Promise<void> {
    const context = await browser.newContext({ locale: 'ja-JP' });
    try {
      await fn(context, await context.newPage());
    } finally {
      await context.close();
    }
  }

  /** Every URL the top frame of `page` loaded, in order (the callback among them, had it been shown). */
  function documents(page: Page): string[] {
    const seen: string[] = [];
    page.on('framenavigated', (frame) => void (frame === page.mainFrame() && seen.push(frame.url())));
    return seen;
  }

  /** Signs up with the card at the bank: the browser is on `/account`. */
  async function signUp(context: BrowserContext, page: Page): Promise<void> {
    await page.goto(`${stack.demo.url}/`);
    await page.locator('#signup').click();
    await cardLoginOnPhone(context, page, card);
    await page.waitForURL(`${stack.demo.url}/account`, { timeout: 15_000 });
  }

  /** Fills and posts the transfer form of `/account`. */
  async function transfer(page: Page, amount: string): Promise<void> {
    await page.goto(`${stack.demo.url}/account`);
    await page.locator('#payee').fill('佐藤　花子');
    await page.locator('#amount').fill(amount);
    await page.locator('#transfer').click();
  }

  /** The text of `#error`: what the page says went wrong. */
  const errorText = async (page: Page) => (await page.locator('#error').textContent()) ?? '';

  it('a transfer without the card ends at /done, and a reload shows it again without transferring twice', async () => {
    await inBrowser(async (context, page) => {
      await signUp(context, page);
      await transfer(page, '50000');
      await page.locator('#transfer-result').waitFor();
      assert.equal(page.url(), `${stack.demo.url}/done`);
      // The first transfer of this card's account (the tests run in order).
      assert.equal(await page.locator('#balance').textContent(), '¥950,000');
      const reloaded = await page.reload();
      assert.equal(reloaded?.status(), 200);
      assert.match((await page.locator('#transfer-result').textContent()) ?? '', /¥50,000/);
      assert.equal(await page.locator('#balance').textContent(), '¥950,000', 'the reload made no second transfer');
    });
  });

  it('a stepped-up transfer is shown at /done, not at /callback, and a reload shows the same result', async () => {
    await inBrowser(async (context, page) => {
      await signUp(context, page);
      const seen = documents(page);
      await transfer(page, '150,000');
      await cardLoginOnPhone(context, page, card);
      await page.locator('#transfer-result').waitFor({ timeout: 15_000 });
      assert.equal(page.url(), `${stack.demo.url}/done`);
      assert.equal(seen.filter((u) => u.startsWith(`${stack.demo.url}/callback`)).length, 0, seen.join('\n'));
      assert.match((await page.locator('#fresh').textContent()) ?? '', /はい/);
      const balance = await page.locator('#balance').textContent();
      await page.reload();
      assert.match((await page.locator('#transfer-result').textContent()) ?? '', /¥150,000/);
      assert.equal(await page.locator('#balance').textContent(), balance);
      assert.equal(await page.locator('#error').count(), 0, 'no "nothing in progress" after a reload');
    });
  });

  it('a step-up cancelled at MynaGate says the transfer was not made, in both languages, also after a reload', async () => {
    await inBrowser(async (context, page) => {
      await signUp(context, page);
      const before = await page.locator('#balance').textContent();
      await transfer(page, '200000');
      await page.locator('#cancel button').click();
      await page.locator('#error').waitFor({ timeout: 15_000 });
      assert.equal(page.url(), `${stack.demo.url}/done`);
      for (const text of [await errorText(page), await (await page.reload(), errorText(page))]) {
        assert.match(text, /カードでの確認に同意されなかったため、振込はできませんでした。/);
        assert.match(text, /You did not agree to the card check, so the transfer was not made\./);
        assert.doesNotMatch(text, /cancelled|sign-up/);
      }
      await page.goto(`${stack.demo.url}/account`);
      assert.equal(await page.locator('#balance').textContent(), before, 'nothing was transferred');
    });
  });

  it('a sign-up cancelled at MynaGate says no account was opened', async () => {
    await inBrowser(async (_context, page) => {
      await page.goto(`${stack.demo.url}/`);
      await page.locator('#signup').click();
      await page.locator('#cancel button').click();
      await page.locator('#error').waitFor({ timeout: 15_000 });
      assert.equal(page.url(), `${stack.demo.url}/done`);
      const text = await errorText(page);
      assert.match(text, /口座の開設・ログインはできませんでした/);
      assert.match(text, /so no account was opened and you are not logged in/);
    });
  });

  it('the shop: consent declined says the purchase was not made, in both languages, also after a reload', async () => {
    await inBrowser(async (context, page) => {
      await page.goto(`${stack.demo.shop.url}/`);
      await page.locator('#buy').click();
      await cardLoginOnPhone(context, page, card);
      await page.locator('#consent-form').waitFor({ timeout: 15_000 });
      await page.locator('#consent-form button[value="deny"]').click();
      await page.locator('#error').waitFor({ timeout: 15_000 });
      assert.equal(page.url(), `${stack.demo.shop.url}/done`);
      for (const text of [await errorText(page), await (await page.reload(), errorText(page))]) {
        assert.match(text, /年齢確認に同意されなかったため購入できませんでした。/);
        assert.match(text, /You did not agree to the age check, so the purchase was not made\./);
        assert.doesNotMatch(text, /card login was cancelled/);
      }
    });
  });

  it('the shop: a purchase is shown at /done, and a reload shows the same answer and pairwise id', async () => {
    await inBrowser(async (context, page) => {
      const callbacks: string[] = [];
      context.on(
        'request',
        (r) => void (r.url().startsWith(`${stack.demo.shop.url}/callback`) && callbacks.push(r.url())),
      );
      await page.goto(`${stack.demo.shop.url}/`);
      await page.locator('#buy').click();
      await cardLoginOnPhone(context, page, card);
      await agreeOnConsentPage(page);
      await signStatementOnPhone(context, page, card);
      await page.locator('#purchase-result').waitFor({ timeout: 15_000 });
      assert.equal(page.url(), `${stack.demo.shop.url}/done`);
      const sub = await page.locator('#sub').textContent();
      await page.reload();
      assert.match((await page.locator('#purchase-result').textContent()) ?? '', /お買い上げありがとうございます/);
      assert.equal(await page.locator('#age-over-20').textContent(), 'はい / yes');
      assert.equal(await page.locator('#sub').textContent(), sub);
      // Back to the callback (the back button, a bookmark): its code is spent, the result is shown again.
      assert.equal(callbacks.length, 1, callbacks.join('\n'));
      await page.goto(callbacks[0]!);
      assert.equal(page.url(), `${stack.demo.shop.url}/done`);
      assert.equal(await page.locator('#sub').textContent(), sub);
    });
  });
});
