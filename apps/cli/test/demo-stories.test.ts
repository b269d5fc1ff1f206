/**
 * The demo's three stories in Chromium against `mynagate serve --dev` as a real process (fresh data directory, free
 * ports), with the virtual phone playing the card:
 *
 * 1. sign-up requires the card, and the same card again finds the same account;
 * 2. a transfer up to ¥100,000 goes through on the session; above it, the browser is sent through a new card login
 *    (the phone asks for the PIN again) and only then is the transfer made;
 * 3. an age-restricted purchase asks only `age_over_20`: card login, consent, the eKYC signature (the signing
 *    password on the phone), and the shop shows the one boolean it received, never the birth date.
 *
 * Screenshots go to `test-output/demo/`. Needs Chromium at /usr/bin/chromium; skips with the reason otherwise,
 * unless MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import {
  agreeOnConsentPage,
  cardLoginOnPhone,
  CHROMIUM_LAUNCH,
  printedCards,
  signStatementOnPhone,
  skipBrowser,
  type PrintedCard,
} from '../../demo/test/support/browser-stories.ts';
import { freePort, startCli, type CliProcess } from './serve-support.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const OUT = join(ROOT, 'test-output', 'demo');

describe('demo stories in Chromium against mynagate serve --dev', { skip: skipBrowser }, () => {
  let dir: string;
  let browser: Browser;
  let server: CliProcess | undefined;
  let demoUrl: string;
  let idpUrl: string;
  let card: PrintedCard;
  let bank: BrowserContext;
  let page: Page;
  let account: string | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-demo-stories-'));
    const ports = { idp: await freePort(), demo: await freePort() };
    browser = await chromium.launch(CHROMIUM_LAUNCH);
    await mkdir(OUT, { recursive: true });
    server = startCli([
      'serve',
      '--dev',
      '--data',
      join(dir, 'data'),
      '--port',
      String(ports.idp),
      '--demo-port',
      String(ports.demo),
      '--ocsp-port',
      '0',
    ]);
    demoUrl = (await server.waitFor(/Open the demo:\s+(\S+)/))[1]!.replace(/\/$/, '');
    idpUrl = (await server.waitFor(/MynaGate \(OpenID Provider\):\s+(\S+)/))[1]!;
    await server.waitFor(/Ctrl-C to stop/);
    card = printedCards(server.stdout())[0]!;
    assert.equal(card.name, '山田　太郎');
    bank = await browser.newContext({ locale: 'ja-JP', viewport: { width: 820, height: 1000 } });
    page = await bank.newPage();
  });
  after(async () => {
    server?.child.kill('SIGKILL');
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('1. signs up only with the card: the bank sends the browser to the card login and opens an account for the pairwise sub', async () => {
    await page.goto(`${demoUrl}/`);
    await page.screenshot({ path: join(OUT, '1-landing.png') });
    await page.locator('#signup').click();
    assert.ok(page.url().startsWith(`${idpUrl}/`), `sign-up goes to MynaGate, not ${page.url()}`);
    await cardLoginOnPhone(bank, page, card, { dir: OUT, prefix: '1-signup' });
    await page.waitForURL(`${demoUrl}/account`, { timeout: 15_000 });
    await page.screenshot({ path: join(OUT, '1-account.png') });
    account = (await page.locator('#account-number').textContent()) ?? '';
    assert.match(account, /^DEMO-\d{6}$/);
    assert.match((await page.locator('#greeting').textContent()) ?? '', /口座を開設しました/);
    assert.equal(await page.locator('#balance').textContent(), '¥1,000,000');
  });

  it('1. gives the same card the same account when it signs up again in another browser', async () => {
    assert.ok(account, 'the first sign-up ran');
    const other = await browser.newContext({ locale: 'ja-JP' });
    try {
      const p = await other.newPage();
      await p.goto(`${demoUrl}/`);
      await p.locator('#signup').click();
      await cardLoginOnPhone(other, p, card);
      await p.waitForURL(`${demoUrl}/account`, { timeout: 15_000 });
      assert.equal(await p.locator('#account-number').textContent(), account);
      assert.match((await p.locator('#greeting').textContent()) ?? '', /おかえりなさい/);
    } finally {
      await other.close();
    }
  });

  it('2. makes a transfer of ¥50,000 (under the ¥100,000 threshold) on the existing session, without the card', async () => {
    assert.ok(account, 'the sign-up ran');
    await page.goto(`${demoUrl}/account`);
    const toProvider: string[] = [];
    const watch = (r: { url(): string }) => void (r.url().startsWith(idpUrl) && toProvider.push(r.url()));
    bank.on('request', watch);
    try {
      await page.locator('#payee').fill('佐藤　花子');
      await page.locator('#amount').fill('50000');
      await page.locator('#transfer').click();
      await page.locator('#transfer-result').waitFor();
    } finally {
      bank.off('request', watch);
    }
    await page.screenshot({ path: join(OUT, '2-transfer-small-done.png') });
    assert.deepEqual(toProvider, [], 'no request went to MynaGate');
    assert.match((await page.locator('#fresh').textContent()) ?? '', /いいえ/);
    assert.equal(await page.locator('#balance').textContent(), '¥950,000');
  });

  it('2. sends a transfer of ¥150,000 (over the threshold) through a new card login on the phone, then makes it', async () => {
    assert.ok(account, 'the sign-up ran');
    await page.goto(`${demoUrl}/account`);
    await page.locator('#payee').fill('鈴木　一郎');
    await page.locator('#amount').fill('150,000');
    const [auth] = await Promise.all([
      bank.waitForEvent('request', (r) => r.url().startsWith(`${idpUrl}/auth`)),
      page.locator('#transfer').click(),
    ]);
    const params = new URL(auth.url()).searchParams;
    assert.equal(params.get('prompt'), 'login', 'a step-up demands a new login');
    assert.equal(params.get('max_age'), '60');
    // The login page and the phone are shown again, PIN and all.
    await cardLoginOnPhone(bank, page, card, { dir: OUT, prefix: '2-step-up' });
    await page.locator('#transfer-result').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(OUT, '2-transfer-large-done.png') });
    assert.equal(page.url(), `${demoUrl}/done`, 'the callback answers 303 to the result page');
    assert.match((await page.locator('#fresh').textContent()) ?? '', /はい/);
    assert.match((await page.locator('#transfer-result').textContent()) ?? '', /¥150,000/);
    assert.equal(await page.locator('#balance').textContent(), '¥800,000');
  });

  it('3. sells alcohol to a person over 20 after a card check that asks only age_over_20, and shows only the boolean', async (t) => {
    const shop = await browser.newContext({ locale: 'ja-JP', viewport: { width: 820, height: 1000 } });
    try {
      const p = await shop.newPage();
      await p.goto(`${demoUrl}/shop`);
      await p.screenshot({ path: join(OUT, '3-shop.png') });
      const [auth] = await Promise.all([
        shop.waitForEvent('request', (r) => r.url().startsWith(`${idpUrl}/auth`)),
        p.locator('#buy').click(),
      ]);
      assert.deepEqual(JSON.parse(new URL(auth.url()).searchParams.get('claims')!), {
        id_token: { age_over_20: { essential: true } },
        userinfo: { age_over_20: { essential: true } },
      });
      await cardLoginOnPhone(shop, p, card, { dir: OUT, prefix: '3-age' });
      const items = await agreeOnConsentPage(p, { dir: OUT, prefix: '3-age' });
      // The pairwise identifier (scope openid) and the one question; nothing else is asked or consented.
      assert.deepEqual(
        items.filter((k) => !k.startsWith('scope:')),
        ['age_over_20'],
      );
      // The statement says why: the shop's age check, never the AML Act's identity verification it is not.
      const purpose = (await p.locator('#purpose').textContent({ timeout: 15_000 })) ?? '';
      assert.match(purpose, /酒類の販売のための年齢確認/);
      assert.doesNotMatch(purpose, /犯罪収益/);
      await signStatementOnPhone(shop, p, card, { dir: OUT, prefix: '3-age' });
      await p.locator('#purchase-result').waitFor({ timeout: 15_000 });
      await p.screenshot({ path: join(OUT, '3-purchase-done.png') });
      assert.match((await p.locator('#purchase-result').textContent()) ?? '', /お買い上げありがとうございます/);
      assert.equal(await p.locator('#age-over-20').textContent(), 'はい / yes');
      const received = ((await p.locator('#received-claims').textContent()) ?? '').split(', ');
      assert.ok(received.includes('age_over_20'), received.join());
      for (const c of ['birthdate', 'name', 'address', 'gender', 'verified_claims']) {
        assert.equal(received.includes(c), false, `the shop received ${c}`);
      }
      const text = (await p.content()).replaceAll(/<style>[^]*?<\/style>/g, '');
      assert.doesNotMatch(text, /1985|山田/, 'neither the birth year nor the name is on the page');
    } finally {
      await shop.close();
    }
  });

  it('stops cleanly on Ctrl-C after the stories', async () => {
    const s = server!;
    s.child.kill('SIGINT');
    assert.equal(await s.exited, 0, s.stderr());
    server = undefined;
  });
});
