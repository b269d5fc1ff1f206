/**
 * `mynagate bridge`, card login on the same computer, as a real process against a provider started in-process over
 * TLS (the OpenID Provider fixture) with an openid-client relying party. The browser side is plain HTTP: the
 * fixture's cookie agent on the provider, `fetch` on the bridge. The login page's "use this computer's card reader"
 * link hands the QR link to the bridge, the bridge shows the service and the origin it verified, takes the PIN from
 * its local form, has the card sign, posts the token as a same-device hand-over and sends the browser back to the login
 * page with the provider's one-time code (`?resume&code=…`), whose event stream then finishes the login: the ID
 * token's `sub` is the card person's pairwise subject. A browser that did not start the login gets nothing of it.
 *
 * The card is served through pcscd + vpcd (`--reader`; skipped with the reason when pcscd or vpcd is missing unless
 * MYNAGATE_REQUIRE_SYSTEM=1) and, for the guards, as a virtual card file (`--file`).
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { insertCardFile } from '../../../packages/card/test/support/pcscd.ts';
import { requireSystem } from '../../../packages/card/test/support/system.ts';
import { EventStream } from '../../../packages/idp/test/support/op-agent.ts';
import {
  authorizeExtra,
  consent,
  issueCard,
  loginThenStop,
  openSignPage,
  startEkycIdp,
} from '../../../packages/idp/test/support/ekyc-fixture.ts';
import {
  expectedSub,
  redeemLogin,
  PIN,
  RP_JWT,
  startLogin,
  type OpFixture,
  type StartedLogin,
  type TestCard,
  type TestIdp,
} from '../../../packages/idp/test/support/op-fixture.ts';
import { startBridge, startCompanionProvider, startRelay, type Bridge } from './companion-support.ts';
import { freePort, runCli } from './serve-support.ts';

let f: OpFixture;
let idp: TestIdp;
let env: Record<string, string>;

before(async () => {
  ({ f, idp, env } = await startCompanionProvider());
});
after(() => f?.close());

/** The login page's bridge link, pointed at this test's bridge port. */
function bridgeLink(login: StartedLogin, bridge: Bridge): URL {
  const href = /id="bridge"[^>]*href="([^"]+)"/.exec(login.page)?.[1]?.replaceAll('&amp;', '&');
  assert.ok(href, 'the login page offers the card reader of this computer');
  const url = new URL(href);
  assert.equal(url.origin, 'http://127.0.0.1:24727', 'the default bridge port');
  url.port = String(bridge.port);
  return url;
}

/** The bridge's form: its action and CSRF token. */
function formOf(page: string): { action: string; csrf: string } {
  const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(action && csrf, `a PIN form: ${page}`);
  return { action, csrf };
}

/** Posts the bridge form as the browser does (same-origin: Origin is the bridge's). */
function submit(bridge: Bridge, action: string, fields: Record<string, string>): Promise<Response> {
  return fetch(new URL(action, bridge.origin), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: bridge.origin },
    body: new URLSearchParams(fields).toString(),
  });
}

/**
 * The whole same-device login: the browser leaves the login page for the bridge (its event stream closes), the
 * person types `pin` into the bridge's form; on success the browser comes back and the login completes.
 * Returns the ID token claims, or the bridge's answer to the wrong PIN.
 */
async function bridgeLogin(
  bridge: Bridge,
  pins: readonly string[],
): Promise<{ claims: client.IDToken; wrong: string[] }> {
  const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
  await login.events.close();
  const shown = await fetch(bridgeLink(login, bridge));
  const page = await shown.text();
  assert.equal(shown.status, 200, page);
  assert.match(page, /id="client-name">テスト銀行</);
  assert.match(page, /id="client-origin">https:\/\/bank\.example</);
  assert.ok(page.includes(`id="origin">${new URL(idp.server.issuer).origin}<`), 'the origin the provider reported');
  const { action, csrf } = formOf(page);
  const wrong: string[] = [];
  let posted: Response | undefined;
  for (const pin of pins) {
    posted = await submit(bridge, action, { csrf, pin });
    if (posted.status === 303) break;
    wrong.push(await posted.text());
  }
  assert.equal(posted?.status, 303, 'the bridge sends the browser back');
  const back = new URL(posted.headers.get('location')!);
  assert.equal(back.origin + back.pathname, new URL(`/interaction/${login.uid}`, login.pageUrl).href);
  assert.match(back.search, /^\?resume&code=[A-Za-z0-9_-]{43}$/, 'with the one-time code of the hand-over');
  // The login page again, on the same transaction: its event stream takes the outcome the bridge posted.
  const { response } = await login.agent.follow(back);
  assert.equal(response.status, 200);
  await response.text();
  const events = new EventStream(await login.agent.fetch(new URL(`/interaction/${login.uid}/events`, back)));
  return { claims: await redeemLogin(idp.jwtRp, login, events), wrong };
}

describe('mynagate bridge with the card in a PC/SC reader (pcscd + vpcd)', () => {
  it('completes a same-device login from the login page through the local PIN form; sub is the card person’s', async (t) => {
    if (!(await requireSystem(t, ['pcscd', 'vpcd']))) return;
    const card = await f.newCard('試験　橋渡');
    const inserted = await insertCardFile(card.file);
    const bridge = await startBridge(['--reader', inserted.reader], env);
    try {
      const { claims, wrong } = await bridgeLogin(bridge, ['9999', PIN]);
      assert.equal(claims.acr, 'urn:mynagate:acr:card-auth');
      assert.equal(claims.sub, await expectedSub(idp, card, RP_JWT.redirectUri));
      // The wrong PIN first: the form comes back with the tries left and the login stays open.
      assert.equal(wrong.length, 1);
      assert.match(
        wrong[0]!,
        /利用者証明用電子証明書の暗証番号（数字4桁）が違います。あと2回間違えるとロックされます。/,
      );
      assert.match(wrong[0]!, /2 tries left before it locks\..*<code>ERR_CARD_PIN_INCORRECT<\/code>/);
      assert.match(bridge.proc.stderr(), /^ERR_CARD_PIN_INCORRECT: PIN incorrect, 2 tries left$/m);
      assert.doesNotMatch(bridge.proc.stdout() + bridge.proc.stderr(), new RegExp(`\\b${PIN}\\b`), 'no PIN in output');
    } finally {
      await bridge.stop();
      await inserted.remove();
    }
  });
});

describe('mynagate bridge: the card reader of this computer is missing', () => {
  it('--reader naming no reader: the page says to connect the reader (ERR_CARD_NO_READER, 409), with the way back', async (t) => {
    if (!(await requireSystem(t, ['pcscd']))) return;
    const reader = 'MynaGate Test No Such Reader 99';
    const bridge = await startBridge(['--reader', reader], env);
    try {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      await login.events.close();
      const shown = await fetch(bridgeLink(login, bridge));
      const { action, csrf } = formOf(await shown.text());
      const res = await submit(bridge, action, { csrf, pin: PIN });
      const page = await res.text();
      assert.equal(res.status, 409, page);
      assert.match(page, /<code>ERR_CARD_NO_READER<\/code>/);
      assert.ok(
        page.includes(
          'カードリーダーが見つかりません。カードリーダーをこのパソコンに接続し、マイナンバーカードを置いてから、もう一度お試しください。',
        ),
        page,
      );
      assert.ok(
        page.includes(
          'No card reader was found. Connect the card reader to this computer, place your My Number Card on it, then try again.',
        ),
        page,
      );
      assert.doesNotMatch(page, /could not be completed/);
      assert.match(page, /id="back" href="[^"]*\/interaction\/[^"]+\?resume"/, 'the way back to the login page');
      assert.match(bridge.proc.stderr(), new RegExp(`^ERR_CARD_NO_READER: no reader named "${reader}"$`, 'm'));
    } finally {
      await bridge.stop();
    }
  });
});

describe('mynagate bridge with a virtual card file (--file): the login and its guards', () => {
  let card: TestCard;
  let bridge: Bridge;
  before(async () => {
    card = await f.newCard('試験　二郎');
    bridge = await startBridge(['--file', card.file], env);
  });
  after(() => bridge?.stop());

  it('completes a same-device login with the virtual card; sub is the card person’s', async () => {
    const { claims, wrong } = await bridgeLogin(bridge, [PIN]);
    assert.deepEqual(wrong, []);
    assert.equal(claims.sub, await expectedSub(idp, card, RP_JWT.redirectUri));
  });

  it('shows the tries left on a wrong PIN and keeps the form usable (ERR_CARD_PIN_INCORRECT)', async () => {
    const { claims, wrong } = await bridgeLogin(bridge, ['0000', PIN]);
    assert.equal(wrong.length, 1);
    assert.match(wrong[0]!, /2 tries left.*<code>ERR_CARD_PIN_INCORRECT<\/code>/);
    assert.equal(claims.sub, await expectedSub(idp, card, RP_JWT.redirectUri));
  });

  it('refuses a return URL on another origin than the link (ERR_BRIDGE_ORIGIN), before any PIN form', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    await login.events.close();
    const url = bridgeLink(login, bridge);
    url.searchParams.set('return', 'https://evil.example/interaction/x?resume');
    const res = await fetch(url);
    const page = await res.text();
    assert.equal(res.status, 400);
    assert.match(page, /<code>ERR_BRIDGE_ORIGIN<\/code>/);
    assert.doesNotMatch(page, /name="pin"/);
  });

  it('refuses a login server on another computer unless started for it (ERR_BRIDGE_PROVIDER), fetching nothing', async () => {
    // Any page can send the person's browser here with a link to its own server, which names a bank as the service.
    const url = new URL('/login', bridge.origin);
    url.searchParams.set('link', 'https://phish.example/companion/x?t=0&c=y');
    url.searchParams.set('return', 'https://phish.example/interaction/x?resume');
    const res = await fetch(url);
    const page = await res.text();
    assert.equal(res.status, 403);
    assert.match(page, /<code>ERR_BRIDGE_PROVIDER<\/code>/);
    assert.match(page, /心当たりのないページ/);
    assert.doesNotMatch(page, /name="pin"/);
  });

  it('--provider: only the login servers named get a form, even one on this computer', async () => {
    const named = await startBridge(['--file', card.file, '--provider', 'https://id.example.jp'], env);
    try {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      await login.events.close();
      const res = await fetch(bridgeLink(login, named));
      assert.equal(res.status, 403);
      assert.match(await res.text(), /<code>ERR_BRIDGE_PROVIDER<\/code>/);
    } finally {
      await named.stop();
    }
    const ours = await startBridge(['--file', card.file, '--provider', new URL(idp.server.issuer).origin], env);
    try {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      await login.events.close();
      const res = await fetch(bridgeLink(login, ours));
      assert.equal(res.status, 200);
      assert.match(await res.text(), /name="pin"/);
    } finally {
      await ours.stop();
    }
  });

  it('refuses a --provider that is not an origin (ERR_CLI_USAGE, exit 2)', async () => {
    for (const value of ['id.example.jp', 'https://id.example.jp/login', 'http://id.example.jp']) {
      const r = await runCli(['bridge', '--port', String(await freePort()), '--provider', value], { env });
      assert.equal(r.code, 2, value);
      assert.match(r.stderr, /^ERR_CLI_USAGE: --provider /m);
    }
  });

  it('one loopback rule (isLoopbackHost): plain http --provider only for localhost, 127.0.0.1 or [::1], not 127.0.0.2', async () => {
    const r = await runCli(['bridge', '--port', String(await freePort()), '--provider', 'http://127.0.0.2:8080'], {
      env,
    });
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'ERR_CLI_USAGE: --provider http://127.0.0.2:8080: plain http only for a server on this computer (localhost, 127.0.0.1 or [::1]) (see mynagate --help)\n',
    );
    const loopback = ['http://localhost:8080', 'http://127.0.0.1:8080', 'http://[::1]:8080'];
    const started = await startBridge(['--file', card.file, ...loopback.flatMap((o) => ['--provider', o])], env);
    await started.stop();
    // Without --provider, a link to 127.0.0.2 is not "a server on this computer" either: nothing is fetched.
    const url = new URL('/login', bridge.origin);
    url.searchParams.set('link', 'https://127.0.0.2:8443/companion/x?t=0&c=y');
    url.searchParams.set('return', 'https://127.0.0.2:8443/interaction/x?resume');
    const res = await fetch(url);
    assert.equal(res.status, 403);
    assert.match(await res.text(), /<code>ERR_BRIDGE_PROVIDER<\/code>/);
  });

  it('refuses a link whose server reports another origin than its own (ERR_BRIDGE_ORIGIN)', async () => {
    // A phishing server relays the real provider's origin and challenge.
    const relay = await startRelay(idp);
    try {
      const url = new URL('/login', bridge.origin);
      url.searchParams.set('link', `${relay.origin}/companion/x?t=0&c=y`);
      url.searchParams.set('return', `${relay.origin}/interaction/x?resume`);
      const res = await fetch(url);
      assert.equal(res.status, 400);
      assert.match(await res.text(), /<code>ERR_BRIDGE_ORIGIN<\/code>/);
    } finally {
      relay.close();
    }
  });

  it('answers 403 ERR_BRIDGE_HOST to a request whose Host is not 127.0.0.1:<port> (DNS rebinding)', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: bridge.port,
          path: '/login?link=x&return=y',
          headers: { host: `evil.example:${bridge.port}` },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 403);
    assert.match(body, /<code>ERR_BRIDGE_HOST<\/code>/);
  });

  it('refuses a hand-over the browser did not open as a page (an <img> or fetch of another site): 403 ERR_BRIDGE_REQUEST', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    for (const dest of ['image', 'empty', 'iframe']) {
      const res = await fetch(bridgeLink(login, bridge), { headers: { 'sec-fetch-dest': dest } });
      assert.equal(res.status, 403, dest);
      assert.match(await res.text(), /<code>ERR_BRIDGE_REQUEST<\/code>/, dest);
    }
    const opened = await fetch(bridgeLink(login, bridge), { headers: { 'sec-fetch-dest': 'document' } });
    assert.equal(opened.status, 200);
    formOf(await opened.text());
    await login.events.close();
  });

  it('answers 403 ERR_BRIDGE_CSRF to a form without its token or posted from another origin; the card is not used', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const page = await (await fetch(bridgeLink(login, bridge))).text();
    const { action, csrf } = formOf(page);
    const missing = await submit(bridge, action, { pin: PIN });
    assert.equal(missing.status, 403);
    assert.match(await missing.text(), /<code>ERR_BRIDGE_CSRF<\/code>/);
    const wrongToken = await submit(bridge, action, {
      csrf: csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')),
      pin: PIN,
    });
    assert.equal(wrongToken.status, 403);
    const crossSite = await fetch(new URL(action, bridge.origin), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ csrf, pin: PIN }).toString(),
    });
    assert.equal(crossSite.status, 403);
    assert.match(await crossSite.text(), /<code>ERR_BRIDGE_CSRF<\/code>/);
    assert.equal(await login.events.next('done', 300), undefined, 'nothing was posted');
    await login.events.close();
  });
});

/** The tries left of the auth PIN of a virtual card file. */
async function authTriesLeft(card: TestCard): Promise<number> {
  return (JSON.parse(await readFile(card.file, 'utf8')) as { pins: { auth: { triesLeft: number } } }).pins.auth
    .triesLeft;
}

describe('mynagate bridge: a login link handed over by another browser', () => {
  it('finishes nothing: the browser that owns the login gets no done, the browser back from the bridge is refused', async () => {
    const card = await f.newCard('試験　乗取');
    const bridge = await startBridge(['--file', card.file], env);
    try {
      // A page's own browser starts a login and keeps its event stream open; it sends the person's browser (no
      // cookies of the provider) to that login's bridge link, and the person types their PIN.
      const attacker = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      const shown = await fetch(bridgeLink(attacker, bridge));
      const { action, csrf } = formOf(await shown.text());
      const posted = await submit(bridge, action, { csrf, pin: PIN });
      assert.equal(posted.status, 303);
      const back = new URL(posted.headers.get('location')!);
      assert.match(back.search, /^\?resume&code=/);
      assert.equal(await attacker.events.next('done', 1500), undefined, 'the owning browser is not logged in');
      // The person's browser comes back with the code but owns nothing there.
      const person = idp.agent();
      const refused = await person.fetch(back);
      assert.equal(refused.status, 403);
      assert.match(await refused.text(), /<code id="error">ERR_IDP_HANDOVER_MISMATCH<\/code>/);
      const told = (await attacker.events.next('failed', 1500)) as { error: string } | undefined;
      assert.equal(told?.error, 'ERR_IDP_HANDOVER_MISMATCH', 'the owning page is told');
      // The owning browser's own way back (no code) finishes nothing either.
      const own = await attacker.agent.fetch(new URL(`/interaction/${attacker.uid}?resume`, attacker.pageUrl));
      assert.equal(own.status, 200);
      await own.text();
      assert.equal(await attacker.events.next('done', 500), undefined);
      await attacker.events.close();
    } finally {
      await bridge.stop();
    }
  });
});

describe('mynagate bridge: the card is never locked through it', () => {
  it('three wrong PINs: the form comes back once, then ERR_BRIDGE_LAST_TRY (409); one try is left, even for the right PIN', async () => {
    const card = await f.newCard('試験　三回');
    const bridge = await startBridge(['--file', card.file], env);
    try {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      await login.events.close();
      const first = await (await fetch(bridgeLink(login, bridge))).text();
      // The tries left are on the form before any PIN is typed (reading them spends none).
      assert.match(first, /暗証番号の残り回数 \/ PIN tries left: <strong id="tries-left">3<\/strong>/);
      assert.equal(await authTriesLeft(card), 3);
      const { action, csrf } = formOf(first);
      const answers: { status: number; code: string | undefined; form: boolean; left: string | undefined }[] = [];
      for (const pin of ['0000', '0001', '0002']) {
        const res = await submit(bridge, action, { csrf, pin });
        const text = await res.text();
        answers.push({
          status: res.status,
          code: /<code>([^<]+)<\/code>/.exec(text)?.[1],
          form: /name="pin"/.test(text),
          left: /<strong id="tries-left">(\d+)<\/strong>/.exec(text)?.[1],
        });
      }
      assert.deepEqual(answers, [
        { status: 400, code: 'ERR_CARD_PIN_INCORRECT', form: true, left: '2' },
        { status: 409, code: 'ERR_BRIDGE_LAST_TRY', form: false, left: undefined },
        { status: 409, code: 'ERR_BRIDGE_LAST_TRY', form: false, left: undefined },
      ]);
      assert.equal(await authTriesLeft(card), 1);
      // A new form, and the right PIN: the last try is still not spent here.
      const again = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      await again.events.close();
      const page = await (await fetch(bridgeLink(again, bridge))).text();
      // The form says so before anything is typed.
      assert.match(page, /<strong id="tries-left">1<\/strong>/);
      assert.match(page, /<code>ERR_BRIDGE_LAST_TRY<\/code>/);
      const next = formOf(page);
      const res = await submit(bridge, next.action, { csrf: next.csrf, pin: PIN });
      const text = await res.text();
      assert.equal(res.status, 409);
      assert.match(text, /<code>ERR_BRIDGE_LAST_TRY<\/code>/);
      assert.match(text, /暗証番号設定依頼書/);
      assert.match(text, /lang="en">One more wrong try would lock the PIN/);
      assert.equal(await authTriesLeft(card), 1);
    } finally {
      await bridge.stop();
    }
  });
});

describe('mynagate bridge --pin-stdin', () => {
  it('names the service and the origin on stderr before it takes each PIN line', async () => {
    const card = await f.newCard('試験　標準');
    const bridge = await startBridge(['--file', card.file, '--pin-stdin'], env);
    try {
      const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
      await login.events.close();
      const page = await (await fetch(bridgeLink(login, bridge))).text();
      const { action, csrf } = formOf(page);
      const posted = submit(bridge, action, { csrf });
      // Any local program can open a form here: the PIN is typed only once the terminal names whose login it is.
      const origin = new URL(idp.server.issuer).origin;
      const prompt = `暗証番号 / PIN: テスト銀行 (https://bank.example) via ${origin}: `;
      for (let waited = 0; !bridge.proc.stderr().includes(prompt); waited += 20) {
        assert.ok(waited < 10_000, `no prompt naming the login on stderr: ${bridge.proc.stderr()}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      bridge.proc.child.stdin.write(`${PIN}\n`);
      assert.equal((await posted).status, 303);
    } finally {
      await bridge.stop();
    }
  });
});

describe('mynagate bridge: a signing link opened on another network', () => {
  it('refuses it before any form (ERR_BRIDGE_OTHER_NETWORK, 403); one opened beside the bridge gets its form', async () => {
    // Behind a trusted proxy the provider reads the client's network from X-Forwarded-For: the signing page is opened
    // from 203.0.113.7, and the bridge, on this computer, sends none (unknown counts as another network).
    const proxied = await startEkycIdp(f, { trustProxy: true, qrMaxAgeSeconds: 30 });
    const plain = await startEkycIdp(f, { qrMaxAgeSeconds: 30 });
    const card = await issueCard(f);
    const bridge = await startBridge(['--file', card.file], env);
    const signingLink = async (on: TestIdp, headers: Record<string, string>) => {
      const login = await startLogin(on, on.jwtRp, RP_JWT.redirectUri, {
        extra: authorizeExtra({
          id_token: { verified_claims: { verification: { trust_framework: null }, claims: { name: null } } },
        }),
      });
      const step = await loginThenStop(on, login, card);
      const signPage = await consent(login.agent, step);
      // The signing page as the browser opens it, from where `headers` say.
      const page = await (await login.agent.fetch(signPage.url, { headers })).text();
      const link = /data-link="([^"]+)"/.exec(page)?.[1]?.replaceAll('&amp;', '&');
      assert.ok(link !== undefined && link.includes('/companion/sign/'), 'the signing page');
      const { events } = await openSignPage(login.agent, signPage);
      await events.close();
      return { link, back: signPage.url.href };
    };
    const handover = (link: string, back: string) => {
      const url = new URL('/login', bridge.origin);
      url.searchParams.set('link', link);
      url.searchParams.set('return', back);
      return fetch(url);
    };
    try {
      const relayed = await signingLink(proxied, { 'x-forwarded-for': '203.0.113.7' });
      const refused = await handover(relayed.link, relayed.back);
      const text = await refused.text();
      assert.equal(refused.status, 403, text);
      assert.match(text, /<code>ERR_BRIDGE_OTHER_NETWORK<\/code>/);
      assert.match(text, /別のネットワーク/);
      assert.doesNotMatch(text, /name="pin"|id="statement"/, 'no form and no statement');
      const beside = await signingLink(plain, {});
      const shown = await handover(beside.link, beside.back);
      const form = await shown.text();
      assert.equal(shown.status, 200, form);
      assert.match(form, /id="statement"/);
      assert.match(form, /name="pin"/);
    } finally {
      await bridge.stop();
      await Promise.all([proxied.close(), plain.close()]);
    }
  });
});
