/**
 * `mynagate bridge` as people meet it: in a real browser (Chromium through playwright-core) the PIN form posts and
 * comes back to the login page, which finishes the login (a browser sends the bridge's own Origin only if the page's
 * referrer policy lets it, and CSP form-action also governs the redirect back); and what goes wrong is said in
 * Japanese and English with the way back to the login page: a locked PIN (423) gives the municipal-office guidance,
 * a wrong signing password is named as the signing password, not the PIN, and one form takes two wrong tries.
 *
 * Chromium at /usr/bin/chromium (skipped with the reason when absent, unless MYNAGATE_REQUIRE_SYSTEM=1); the card is
 * a virtual card file (`--file`).
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { chromium, type Browser } from 'playwright-core';
import {
  authorizeExtra,
  consent,
  issueCard,
  loginThenStop,
  openSignPage,
  startEkycIdp,
} from '../../../packages/idp/test/support/ekyc-fixture.ts';
import {
  PIN,
  RP_JWT,
  startLogin,
  type OpFixture,
  type StartedLogin,
  type TestIdp,
} from '../../../packages/idp/test/support/op-fixture.ts';
import { CHROMIUM_LAUNCH, skipBrowser } from '../../../packages/idp/test/support/chromium.ts';
import { startBridge, startCompanionProvider, type Bridge } from './companion-support.ts';

let f: OpFixture;
let idp: TestIdp;
let env: Record<string, string>;

before(async () => {
  ({ f, idp, env } = await startCompanionProvider());
});
after(() => f?.close());

/** The bridge's hand-over URL for a companion link, returning to `back`. */
function handover(bridge: Bridge, link: string, back: string): URL {
  const url = new URL('/login', bridge.origin);
  url.searchParams.set('link', link);
  url.searchParams.set('return', back);
  return url;
}

/** The login page's bridge link, pointed at this test's bridge. */
function bridgeLink(login: StartedLogin, bridge: Bridge): URL {
  const href = /id="bridge"[^>]*href="([^"]+)"/.exec(login.page)?.[1]?.replaceAll('&amp;', '&');
  assert.ok(href, 'the login page offers the card reader of this computer');
  const url = new URL(href);
  url.port = String(bridge.port);
  return url;
}

/** Posts the bridge's form as a browser on the bridge's page does. */
async function submit(bridge: Bridge, page: string, secret: string): Promise<Response> {
  const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(action && csrf, `a PIN form: ${page}`);
  return fetch(new URL(action, bridge.origin), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: bridge.origin },
    body: new URLSearchParams({ csrf, pin: secret }).toString(),
  });
}

describe('mynagate bridge in Chromium', { skip: skipBrowser }, () => {
  let browser: Browser;
  let bridge: Bridge;
  before(async () => {
    bridge = await startBridge(['--file', (await f.newCard('試験　窓口')).file], env);
    browser = await chromium.launch(CHROMIUM_LAUNCH);
  });
  after(async () => {
    await browser?.close();
    await bridge?.stop();
  });

  it('takes the PIN from its form and sends the browser back to the login page, which finishes the login', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'ja-JP' });
    await context.route('https://bank.example/**', (route) => route.abort());
    const page = await context.newPage();
    const state = client.randomState();
    await page.goto(
      client.buildAuthorizationUrl(idp.jwtRp, {
        redirect_uri: RP_JWT.redirectUri,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state,
        acr_values: 'urn:mynagate:acr:card-auth',
      }).href,
    );
    await page.locator('#qr svg').waitFor();
    const uid = new URL(page.url()).pathname.split('/').at(-1)!;
    // The person clicks "use this computer's card reader" (pointed at this test's bridge port).
    await page.locator('#bridge').evaluate((a, port) => {
      const url = new URL((a as unknown as { href: string }).href);
      url.port = String(port);
      (a as unknown as { href: string }).href = url.href;
    }, bridge.port);
    await page.locator('#bridge').click();
    await page.locator('input[name="pin"]').waitFor();
    assert.equal(new URL(page.url()).origin, bridge.origin);
    assert.equal(await page.locator('#client-name').textContent(), RP_JWT.name);

    const back = page.waitForRequest(
      (r) => /\?resume&code=[A-Za-z0-9_-]{43}$/.test(r.url()) && r.url().includes(`/interaction/${uid}?`),
      {
        timeout: 10_000,
      },
    );
    const callback = page.waitForRequest((r) => r.url().startsWith('https://bank.example/cb'), { timeout: 15_000 });
    await page.locator('input[name="pin"]').fill(PIN);
    await page.locator('button[type="submit"]').click();
    await back;
    const done = new URL((await callback).url());
    assert.ok(done.searchParams.get('code'), 'the login finished with a code');
    assert.equal(done.searchParams.get('state'), state);
    assert.doesNotMatch(bridge.proc.stderr(), /ERR_BRIDGE_CSRF/);
    await context.close();
  });
});

describe('mynagate bridge: what a person is told', () => {
  it('a wrong PIN names the auth PIN and its tries left, in both languages', async () => {
    const bridge = await startBridge(['--file', (await f.newCard('試験　誤入')).file], env);
    try {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      await login.events.close();
      const shown = await fetch(bridgeLink(login, bridge));
      const page = await shown.text();
      assert.equal(shown.status, 200, page);
      const res = await submit(bridge, page, '0000');
      const wrong = await res.text();
      assert.equal(res.status, 400);
      assert.match(wrong, /利用者証明用電子証明書の暗証番号（数字4桁）が違います。あと2回/);
      assert.match(
        wrong,
        /lang="en">The PIN \(4 digits\) of the user authentication certificate is incorrect\. 2 tries/,
      );
    } finally {
      await bridge.stop();
    }
  });

  it('a locked PIN: 423 with the Japanese guidance (municipal office) and a link back to the login page', async () => {
    // Locked elsewhere (the bridge itself never spends the last try).
    const card = await f.newCard('試験　施錠');
    const file = JSON.parse(await readFile(card.file, 'utf8')) as { pins: { auth: { triesLeft: number } } };
    file.pins.auth.triesLeft = 0;
    await writeFile(card.file, JSON.stringify(file));
    const bridge = await startBridge(['--file', card.file], env);
    try {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      await login.events.close();
      const shown = await fetch(bridgeLink(login, bridge));
      let page = await shown.text();
      assert.equal(shown.status, 200, page);
      const res = await submit(bridge, page, '0000');
      page = await res.text();
      assert.equal(res.status, 423, page);
      assert.match(page, /暗証番号がロックされています。お住まいの市区町村の窓口で初期化してください/);
      assert.match(page, /lang="en">The PIN is locked\. Reset it at your municipal office/);
      assert.match(page, /<code>ERR_CARD_PIN_BLOCKED<\/code>/);
      const back = /<a id="back" href="([^"]+)"/.exec(page)?.[1]?.replaceAll('&amp;', '&');
      assert.equal(back, new URL(`/interaction/${login.uid}?resume`, login.pageUrl).href);
      assert.doesNotMatch(page, /PIN blocked \(SW/, 'not the card’s raw English');
    } finally {
      await bridge.stop();
    }
  });

  it('a wrong signing password is named as the signing password (署名用電子証明書のパスワード), not the PIN', async () => {
    // The bridge, another process, scans the signing page's QR code: 30 s as for the other provider here
    // (startCompanionProvider), not 3 s, which a loaded machine can spend before the bridge's request arrives (the
    // scan then fails with ERR_IDP_QR_STALE when the bridge's fetch is delayed by 4 s).
    const ekycIdp = await startEkycIdp(f, { qrMaxAgeSeconds: 30 });
    const card = await issueCard(f);
    const bridge = await startBridge(['--file', card.file], env);
    try {
      const login = await startLogin(ekycIdp, ekycIdp.jwtRp, RP_JWT.redirectUri, {
        extra: authorizeExtra({
          id_token: { verified_claims: { verification: { trust_framework: null }, claims: { name: null } } },
        }),
      });
      const signPage = await consent(login.agent, await loginThenStop(ekycIdp, login, card));
      const { link, events } = await openSignPage(login.agent, signPage);
      await events.close();
      const shown = await fetch(handover(bridge, link, signPage.url.href));
      const page = await shown.text();
      assert.equal(shown.status, 200, page);
      assert.match(page, /id="statement"/);
      const res = await submit(bridge, page, 'WRONG999');
      const text = await res.text();
      assert.equal(res.status, 400);
      assert.match(text, /署名用電子証明書のパスワード（英数字6〜16文字）が違います。あと4回/);
      assert.match(text, /signing certificate is incorrect\. 4 tries left/);
      assert.doesNotMatch(text, /暗証番号が違います/);
      // A form takes two wrong tries: the second answers without the form, a third post is refused unspent.
      const second = await submit(bridge, page, 'WRONG998');
      const secondText = await second.text();
      assert.equal(second.status, 400);
      assert.match(secondText, /あと3回/);
      assert.doesNotMatch(secondText, /name="pin"/);
      const third = await submit(bridge, page, 'WRONG997');
      assert.equal(third.status, 404);
      assert.match(await third.text(), /<code>ERR_BRIDGE_NOT_FOUND<\/code>/);
      const left = JSON.parse(await readFile(card.file, 'utf8')) as { pins: { sign: { triesLeft: number } } };
      assert.equal(left.pins.sign.triesLeft, 3);
    } finally {
      await bridge.stop();
      await ekycIdp.close();
    }
  });
});
