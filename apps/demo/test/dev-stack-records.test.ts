/**
 * The development stack keeps what the README promises across a restart: a consent given on MynaGate's consent
 * screen is in the data directory's SQLite file (consent records and the audit history), not in memory. The consent
 * is given in Chromium (playwright-core), as a person would at the demo shop.
 *
 * Needs Chromium at /usr/bin/chromium; skips with the reason otherwise, unless MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { chromium, type Browser } from 'playwright-core';
import { startDevStack } from '../src/index.ts';
import { agreeOnConsentPage, cardLoginOnPhone, CHROMIUM_LAUNCH, skipBrowser } from './support/browser-stories.ts';

describe('mynagate serve --dev: consent records', { skip: skipBrowser }, () => {
  let dir: string;
  let browser: Browser;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-devstack-'));
    browser = await chromium.launch(CHROMIUM_LAUNCH);
  });
  after(async () => {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a consent given at the demo shop in the SQLite file of the data directory (it survives a restart)', async () => {
    const stack = await startDevStack({ dataDir: dir, port: 0, demoPort: 0, scryptCost: 1 << 10 });
    let idpDatabase: string;
    try {
      idpDatabase = stack.data.idpDatabase;
      const context = await browser.newContext({ locale: 'ja-JP' });
      const page = await context.newPage();
      await page.goto(`${stack.demo.url}/shop`);
      await page.locator('#buy').click();
      const card = { index: 0, ...stack.data.cards[0]! };
      await cardLoginOnPhone(context, page, card);
      await agreeOnConsentPage(page);
      // The consent is recorded before the next step (the signature) is shown.
      await page.locator('#purpose').waitFor({ timeout: 15_000 });
      await context.close();
    } finally {
      await stack.close();
    }

    // Read as a restarted stack would find it: the file alone, nothing of the stopped process.
    const db = new DatabaseSync(idpDatabase, { readOnly: true });
    try {
      const consents = db.prepare('SELECT client_id FROM consents').all();
      assert.equal(consents.length, 1, 'the consent is in the SQLite file');
      const granted = db.prepare("SELECT COUNT(*) AS n FROM audit WHERE type = 'consent.granted'").get();
      assert.equal(granted?.['n'], 1, 'and so is its audit record');
    } finally {
      db.close();
    }
  });
});
