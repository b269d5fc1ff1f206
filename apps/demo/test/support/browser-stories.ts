/**
 * Drives the demo's three stories in Chromium (playwright-core) against `mynagate serve --dev`: the card login on
 * the virtual phone (PIN), the consent screen, and the eKYC signature on the phone (signing password). Shared by
 * `apps/cli/test/demo-stories.test.ts` and `apps/cli/test/privacy-scan.test.ts`.
 */
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

export { CHROMIUM, CHROMIUM_LAUNCH, skipBrowser } from '../../../../packages/idp/test/support/chromium.ts';

/** A dev card as `mynagate serve --dev` prints it. */
export interface PrintedCard {
  readonly index: number;
  readonly name: string;
  readonly pin: string;
  readonly password: string;
  readonly file: string;
}

/** Reads the test cards from serve's start-up banner (`<name>  PIN <pin>  password <pw>  <file>`). */
export function printedCards(stdout: string): PrintedCard[] {
  const cards: PrintedCard[] = [];
  // Names hold a full-width space (U+3000, which \s matches) and are padded with more of them.
  for (const m of stdout.matchAll(/^ {4}(.+?)\s+PIN (\d{4})\s+password (\S+)\s+(\S+\.json)$/gm)) {
    cards.push({ index: cards.length, name: m[1]!.trim(), pin: m[2]!, password: m[3]!, file: m[4]! });
  }
  return cards;
}

/** Screenshots of one step, when a directory is given. */
async function shot(page: Page, dir: string | undefined, name: string): Promise<void> {
  if (dir !== undefined) await page.screenshot({ path: join(dir, `${name}.png`) });
}

/**
 * On MynaGate's card login page: opens the virtual phone, picks `card`, types its PIN, signs. Returns once the
 * phone says done (the login page then moves on by itself).
 */
export async function cardLoginOnPhone(
  context: BrowserContext,
  page: Page,
  card: PrintedCard,
  shots?: { dir: string; prefix: string },
): Promise<void> {
  await page.locator('#qr svg').waitFor();
  await shot(page, shots?.dir, `${shots?.prefix}-login-page`);
  const [phone] = await Promise.all([context.waitForEvent('page'), page.locator('#dev-phone').click()]);
  try {
    await phone
      .locator('#sign-form')
      .waitFor({ state: 'visible', timeout: 10_000 })
      .catch(async (e: unknown) => {
        throw new Error(`the phone showed no PIN form: ${await phone.locator('#status').textContent()}`, { cause: e });
      });
    await phone.locator(`#sign-form input[name="card"][value="${card.index}"]`).check();
    await phone.locator('#pin').fill(card.pin);
    await shot(phone, shots?.dir, `${shots?.prefix}-phone-pin`);
    await phone.locator('#sign').click();
    await phone.locator('#status.done').waitFor();
  } finally {
    await phone.close();
  }
}

/** On MynaGate's consent page: agrees to everything listed; returns the listed items' keys. */
export async function agreeOnConsentPage(page: Page, shots?: { dir: string; prefix: string }): Promise<string[]> {
  await page.locator('#consent-form').waitFor();
  await shot(page, shots?.dir, `${shots?.prefix}-consent`);
  const items = await page
    .locator('#items li[data-key]')
    .evaluateAll((lis) => lis.map((li) => li.getAttribute('data-key') ?? ''));
  await page.locator('#consent-form button[value="accept"]').click();
  return items;
}

/**
 * On MynaGate's eKYC page: opens the virtual phone, reads the statement, types the signing password, signs.
 */
export async function signStatementOnPhone(
  context: BrowserContext,
  page: Page,
  card: PrintedCard,
  shots?: { dir: string; prefix: string },
): Promise<void> {
  await page.locator('#qr svg').waitFor();
  await shot(page, shots?.dir, `${shots?.prefix}-ekyc-page`);
  const [phone] = await Promise.all([context.waitForEvent('page'), page.locator('#dev-phone').click()]);
  try {
    await phone
      .locator('#statement-form')
      .waitFor({ state: 'visible', timeout: 10_000 })
      .catch(async (e: unknown) => {
        // Say what the phone said (an error message of the provider), not only that the form never showed.
        throw new Error(`the phone showed no statement: ${await phone.locator('#status').textContent()}`, { cause: e });
      });
    await phone.locator(`#statement-form input[name="card"][value="${card.index}"]`).check();
    await phone.locator('#password').fill(card.password);
    await shot(phone, shots?.dir, `${shots?.prefix}-phone-statement`);
    await phone.locator('#sign-statement').click();
    await phone.locator('#status.done').waitFor();
  } finally {
    await phone.close();
  }
}

/** Every response body a browser context sees (for the privacy scan), with its URL. */
export function recordResponses(context: BrowserContext): { url: string; body: Buffer }[] {
  const seen: { url: string; body: Buffer }[] = [];
  context.on('response', (r) => {
    // Redirects have no body to read; anything else is kept, whatever its type.
    if (r.status() >= 300 && r.status() < 400) return;
    r.body().then(
      (body) => seen.push({ url: r.url(), body }),
      () => {},
    );
  });
  return seen;
}
