/**
 * Cookie prefixes (RFC 6265bis §4.1.3): on an https issuer every cookie the provider sets is `__Host-` (Secure,
 * Path=/, no Domain), node-oidc-provider's resume cookie, which it scopes to `/auth/<uid>`, excepted: that one is
 * `__Secure-`, and it is read only when it names the browser's own `__Host-` interaction, on whatever path the
 * provider's router takes for the resume. A cookie of the same name without the prefix, or with `__Secure-`, which a
 * sibling subdomain can plant, is not read. On an http loopback issuer (development) the names stay plain, and the
 * login still works.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { createVerifier, ocspSource } from '@mynagate/pki';
import { oneShotChallengeStore } from '../src/challenge-store.ts';
import { generateSigningKey } from '../src/keys.ts';
import { startServer, type IdpServer } from '../src/server.ts';
import { openStores } from '../src/store/open.ts';
import type { Stores } from '../src/store/types.ts';
import { providerStores } from '../src/stores.ts';
import { authorizeExtra, fullFlow, issueCard, startEkycIdp } from './support/ekyc-fixture.ts';
import { Agent, EventStream } from './support/op-agent.ts';
import {
  cardToken,
  completeLogin,
  createOpFixture,
  postToken,
  RP_JWT,
  scan,
  startLogin,
  type CompanionViewJson,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

interface SetCookie {
  readonly name: string;
  readonly value: string;
  /** Attribute names in lower case → value ('' for a flag). */
  readonly attributes: ReadonlyMap<string, string>;
  readonly line: string;
}

function parseSetCookie(line: string): SetCookie {
  const [pair = '', ...rest] = line.split(';');
  const eq = pair.indexOf('=');
  const attributes = new Map<string, string>();
  for (const a of rest) {
    const i = a.indexOf('=');
    attributes.set((i === -1 ? a : a.slice(0, i)).trim().toLowerCase(), i === -1 ? '' : a.slice(i + 1).trim());
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes, line };
}

/** A test browser that keeps every Set-Cookie line it was sent. */
class RecordingAgent extends Agent {
  readonly setCookies: SetCookie[] = [];

  override async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const res = await super.fetch(url, init);
    for (const line of res.headers.getSetCookie()) this.setCookies.push(parseSetCookie(line));
    return res;
  }

  /** The value last set for `name` (and `path`, if given), not a deletion. */
  value(name: string, path?: string): string {
    const found = this.setCookies.findLast(
      (c) => c.name === name && c.value !== '' && (path === undefined || c.attributes.get('path') === path),
    );
    assert.ok(found, `a ${name} cookie was set`);
    return found.value;
  }
}

const HTTPS_NAMES = [
  '__Host-_interaction',
  '__Host-_interaction.sig',
  '__Secure-_interaction_resume',
  '__Secure-_interaction_resume.sig',
  '__Host-_session',
  '__Host-_session.sig',
  '__Host-mynagate_login',
];

/** Every Set-Cookie line of an https issuer: prefixed, Secure, HttpOnly, and `__Host-` ones at `/` with no Domain. */
function assertPrefixed(cookies: readonly SetCookie[]): void {
  for (const c of cookies) {
    assert.ok(c.attributes.has('secure'), `Secure: ${c.line}`);
    assert.ok(c.attributes.has('httponly'), `HttpOnly: ${c.line}`);
    assert.equal(c.attributes.has('domain'), false, `no Domain: ${c.line}`);
    if (c.name.startsWith('__Host-')) {
      assert.equal(c.attributes.get('path'), '/', `__Host- at Path=/: ${c.line}`);
    } else {
      // The one cookie node-oidc-provider scopes to a path of its own.
      assert.match(c.name, /^__Secure-_interaction_resume(?:\.sig)?$/, `only __Host- and the resume cookie: ${c.line}`);
      assert.match(c.attributes.get('path') ?? '', /^\/auth\/[A-Za-z0-9_-]+$/, c.line);
    }
  }
}

/** A raw request (no cookie jar) with exactly the cookies given. */
function withCookies(
  idp: TestIdp,
  url: string | URL,
  cookies: Record<string, string>,
  method = 'GET',
): Promise<Response> {
  const header = Object.entries(cookies)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ');
  return idp.fetch(new URL(url, idp.server.url), { method, headers: { cookie: header } });
}

/** The `__Host-_session` cookies an answer sets (a resume that logged the browser in sets one). */
function sessionsSet(res: Response): string[] {
  return res.headers.getSetCookie().filter((line) => line.startsWith('__Host-_session='));
}

async function errorOf(res: Response): Promise<string | undefined> {
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').includes('json')) return (JSON.parse(text) as { error?: string }).error;
  return /<code id="error">([^<]+)<\/code>/.exec(text)?.[1];
}

let f: OpFixture;
let idp: TestIdp;
let alice: TestCard;

before(async () => {
  f = await createOpFixture();
  alice = await f.newCard();
  idp = await f.start({ store: 'sqlite' });
});
after(async () => {
  await idp?.close();
  await f?.close();
});

describe('cookie prefixes on an https issuer', () => {
  it('a card login sets only __Host- cookies (Secure, HttpOnly, Path=/, no Domain) and the __Secure- resume cookie', async () => {
    const agent = new RecordingAgent(f.tls.cert);
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { agent });
    const callback = await completeLogin(idp, login, alice);
    assert.equal(callback.origin, 'https://bank.example');
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, callback, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    assert.equal(tokens.claims()!.acr, 'urn:mynagate:acr:card-auth');
    assertPrefixed(agent.setCookies);
    assert.deepEqual([...new Set(agent.setCookies.map((c) => c.name))].sort(), [...HTTPS_NAMES].sort());
  });

  it('the eKYC signing page sets __Host-mynagate_sign too, and nothing unprefixed', async () => {
    const ekyc = await startEkycIdp(f);
    try {
      const agent = new RecordingAgent(f.tls.cert);
      const card = await issueCard(f);
      const login = await startLogin(ekyc, ekyc.jwtRp, RP_JWT.redirectUri, {
        agent,
        extra: authorizeExtra(
          { id_token: { verified_claims: { verification: { trust_framework: null }, claims: { name: null } } } },
          { purpose: '本人確認 / Identity check' },
        ),
      });
      const callback = await fullFlow(ekyc, login, card);
      assert.equal(callback.origin, 'https://bank.example');
      assertPrefixed(agent.setCookies);
      assert.ok(agent.setCookies.some((c) => c.name === '__Host-mynagate_sign'));
    } finally {
      await ekyc.close();
    }
  });

  it('reads the interaction and binding cookies only under their __Host- names, not as a sibling could plant them', async () => {
    const agent = new RecordingAgent(f.tls.cert);
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { agent });
    await login.events.close();
    const interaction = agent.value('__Host-_interaction');
    const signature = agent.value('__Host-_interaction.sig');
    const binding = agent.value('__Host-mynagate_login');
    const page = `/interaction/${login.uid}`;

    // The genuine cookies open the page; the same values under a name a sibling subdomain can set do not.
    const own = await withCookies(idp, page, {
      '__Host-_interaction': interaction,
      '__Host-_interaction.sig': signature,
    });
    assert.equal(own.status, 200);
    await own.body?.cancel();
    for (const prefix of ['', '__Secure-']) {
      const planted = await withCookies(idp, page, {
        [`${prefix}_interaction`]: interaction,
        [`${prefix}_interaction.sig`]: signature,
      });
      assert.equal(planted.status, 400, `${prefix}_interaction`);
      assert.equal(await errorOf(planted), 'ERR_IDP_INTERACTION_NOT_FOUND');
    }

    // The login's event stream: the binding only as __Host-mynagate_login.
    const events = `${page}/events`;
    const genuine = { '__Host-_interaction': interaction, '__Host-_interaction.sig': signature };
    const stream = await withCookies(idp, events, { ...genuine, '__Host-mynagate_login': binding });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    await stream.body?.cancel();
    for (const name of ['mynagate_login', '__Secure-mynagate_login']) {
      const planted = await withCookies(idp, events, { ...genuine, [name]: binding });
      assert.equal(planted.status, 403, name);
      assert.equal(await errorOf(planted), 'ERR_IDP_SESSION_MISMATCH');
    }
  });

  it('reads the session cookie only as __Host-_session: an unprefixed one does not log the browser in', async () => {
    const agent = new RecordingAgent(f.tls.cert);
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { agent });
    await completeLogin(idp, login, alice);
    const session = agent.value('__Host-_session');
    const signature = agent.value('__Host-_session.sig');
    const sso = client.buildAuthorizationUrl(idp.jwtRp, {
      redirect_uri: RP_JWT.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const own = await withCookies(idp, sso, { '__Host-_session': session, '__Host-_session.sig': signature });
    assert.equal(own.status, 303);
    assert.equal(new URL(own.headers.get('location')!).origin, 'https://bank.example', 'the session answers');
    for (const prefix of ['', '__Secure-']) {
      const planted = await withCookies(idp, sso, {
        [`${prefix}_session`]: session,
        [`${prefix}_session.sig`]: signature,
      });
      assert.equal(planted.status, 303);
      assert.match(
        new URL(planted.headers.get('location')!, idp.server.url).pathname,
        /^\/interaction\//,
        `${prefix}_session is no session: the card login is asked for`,
      );
    }
  });

  it('resumes a finished login only in the browser whose __Host- interaction cookie names it, not with a planted resume cookie', async () => {
    const { attacker, redirect, planted } = await plantedResume();
    for (const cookies of planted) {
      const res = await withCookies(idp, redirect, cookies);
      assert.equal(res.status, 400, res.headers.get('location') ?? '');
      assert.equal(await errorOf(res), 'ERR_IDP_INTERACTION_NOT_FOUND');
    }
    // The browser that started the login resumes it.
    const { url } = await attacker.follow(redirect);
    assert.equal(url.origin, 'https://bank.example');
    assert.ok(url.searchParams.get('code'));
  });

  // node-oidc-provider's router takes its resume route in any case, with a trailing slash, and for HEAD; and the
  // resume finishes the interaction its cookie names, whatever uid the path holds.
  for (const { method, what, path } of [
    { method: 'GET', what: 'the resume path itself', path: (uid: string) => `/auth/${uid}` },
    { method: 'GET', what: 'a trailing slash', path: (uid: string) => `/auth/${uid}/` },
    { method: 'GET', what: 'upper case', path: (uid: string) => `/AUTH/${uid}` },
    { method: 'GET', what: 'another uid', path: () => '/Auth/anything' },
    { method: 'HEAD', what: 'HEAD in mixed case', path: (uid: string) => `/Auth/${uid}` },
  ]) {
    it(`a planted resume cookie resumes nothing by ${what} (${method} ${path('<uid>')})`, async () => {
      const { attacker, uid, redirect, planted } = await plantedResume();
      for (const cookies of planted) {
        const res = await withCookies(idp, path(uid), cookies, method);
        assert.equal(res.status, 400, `no code: ${res.headers.get('location')}`);
        assert.equal(res.headers.get('location'), null);
        assert.deepEqual(sessionsSet(res), [], 'not logged in as them');
        // A HEAD answer has no body to name the code: its GET twin above says it.
        if (method === 'GET') assert.equal(await errorOf(res), 'ERR_IDP_INTERACTION_NOT_FOUND');
        else assert.equal(await res.text(), '');
      }
      // Nothing was resumed: the browser that started the login still can, and gets the one code.
      const { url, response } = await attacker.follow(redirect);
      assert.equal(url.origin, 'https://bank.example');
      assert.ok(url.searchParams.get('code'));
      assert.equal(sessionsSet(response).length, 1);
    });
  }
});

/**
 * Someone finishes a login with their own card and stops before the resume, then plants its resume cookie in another
 * browser (a sibling subdomain can: `__Secure-`, Domain, any path), once alone and once in a browser with a login
 * page of its own open (its `__Host-` interaction cookie). Returns the resume URL and both cookie sets.
 */
async function plantedResume(): Promise<{
  readonly attacker: RecordingAgent;
  readonly uid: string;
  readonly redirect: string;
  readonly planted: readonly Record<string, string>[];
}> {
  const attacker = new RecordingAgent(f.tls.cert);
  const theirs = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { agent: attacker });
  const view = (await scan(idp, theirs.link)).body as unknown as CompanionViewJson;
  assert.equal((await postToken(idp, view.txn, await cardToken(alice, view.origin, view.challenge))).status, 200);
  const done = (await theirs.events.next('done', 10_000)) as { redirect: string };
  await theirs.events.close();
  const resumePath = `/auth/${theirs.uid}`;
  assert.equal(new URL(done.redirect).pathname, resumePath);
  const resume = {
    '__Secure-_interaction_resume': attacker.value('__Secure-_interaction_resume', resumePath),
    '__Secure-_interaction_resume.sig': attacker.value('__Secure-_interaction_resume.sig', resumePath),
  };
  const victim = new RecordingAgent(f.tls.cert);
  const own = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, { agent: victim });
  await own.events.close();
  const planted = [
    resume,
    {
      ...resume,
      '__Host-_interaction': victim.value('__Host-_interaction'),
      '__Host-_interaction.sig': victim.value('__Host-_interaction.sig'),
    },
  ];
  return { attacker, uid: theirs.uid, redirect: done.redirect, planted };
}

/** A plain-http test browser (fetch without redirects), keeping cookies per name and path and every Set-Cookie. */
class HttpBrowser {
  readonly setCookies: SetCookie[] = [];
  readonly #jar = new Map<string, { readonly name: string; readonly value: string; readonly path: string }>();

  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const cookie = [...this.#jar.values()]
      .filter((c) => c.path === '/' || u.pathname === c.path || u.pathname.startsWith(`${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const headers = new Headers(init.headers);
    if (cookie !== '') headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const c = parseSetCookie(line);
      this.setCookies.push(c);
      const path = c.attributes.get('path') ?? '/';
      const expires = c.attributes.get('expires');
      if (c.value === '' || (expires !== undefined && Date.parse(expires) <= Date.now()))
        this.#jar.delete(`${c.name};${path}`);
      else this.#jar.set(`${c.name};${path}`, { name: c.name, value: c.value, path });
    }
    return res;
  }

  async follow(url: string | URL): Promise<{ readonly url: URL; readonly response: Response }> {
    let current = new URL(url);
    for (let hops = 0; hops < 10; hops++) {
      const res = await this.fetch(current);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || location === null) return { url: current, response: res };
      await res.body?.cancel();
      const next = new URL(location, current);
      if (next.origin !== current.origin) return { url: next, response: res };
      current = next;
    }
    throw new Error('too many redirects');
  }
}

describe('cookie names on an http loopback issuer (development)', () => {
  let stores: Stores;
  let server: IdpServer;
  const secret = randomBytes(32).toString('base64url');

  before(async () => {
    stores = await openStores({ kind: 'sqlite', path: join(f.dir, `http-${randomBytes(6).toString('hex')}.db`) });
    const ports = providerStores(stores);
    server = await startServer({
      clients: [
        {
          client_id: 'dev-rp',
          client_secret: secret,
          redirect_uris: ['https://bank.example/cb'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      jwks: { keys: [generateSigningKey()] },
      cookieKeys: [randomBytes(32).toString('base64url')],
      pairwiseSecret: randomBytes(32),
      verifier: createVerifier({
        anchors: { auth: [f.jpki.caCertificate('auth')], sign: [f.jpki.caCertificate('sign')] },
        revocation: ocspSource({ url: `${f.ocsp.url}/ocsp/auth` }),
        challenges: oneShotChallengeStore(ports.oneShot),
        allowLoopbackHttp: true,
      }),
      stores: ports,
    });
  });
  after(async () => {
    await server?.close();
    await stores?.close();
  });

  it('keeps plain names without Secure (browsers refuse prefixed ones there), at Path=/, and logs in', async () => {
    assert.match(server.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    const rp = await client.discovery(new URL(server.issuer), 'dev-rp', {}, client.ClientSecretBasic(secret), {
      execute: [client.allowInsecureRequests],
    });
    const browser = new HttpBrowser();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const { url: pageUrl, response } = await browser.follow(
      client.buildAuthorizationUrl(rp, {
        redirect_uri: 'https://bank.example/cb',
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        acr_values: 'urn:mynagate:acr:card-auth',
      }),
    );
    assert.equal(response.status, 200);
    const link = /data-link="([^"]+)"/.exec(await response.text())![1]!.replaceAll('&amp;', '&');
    const events = new EventStream(await browser.fetch(new URL(`${pageUrl.pathname}/events`, pageUrl)));
    const view = (await (await fetch(link)).json()) as CompanionViewJson;
    const posted = await fetch(new URL(`/companion/${view.txn}/token`, server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await cardToken(alice, view.origin, view.challenge)),
    });
    assert.equal(posted.status, 200, await posted.text());
    const done = (await events.next('done', 10_000)) as { redirect: string } | undefined;
    await events.close();
    assert.ok(done, 'the login finished');
    // The resume cookie alone, as another app on this loopback host could plant it (cookies know no port): resumes
    // nothing, here too.
    const resume = (name: string): string => browser.setCookies.findLast((c) => c.name === name)!.value;
    const planted = await fetch(new URL('/Auth/anything', server.url), {
      headers: {
        cookie: `_interaction_resume=${resume('_interaction_resume')}; _interaction_resume.sig=${resume('_interaction_resume.sig')}`,
      },
      redirect: 'manual',
    });
    assert.equal(planted.status, 400, `no code: ${planted.headers.get('location')}`);
    assert.equal(await errorOf(planted), 'ERR_IDP_INTERACTION_NOT_FOUND');
    const { url: callback } = await browser.follow(done.redirect);
    assert.equal(callback.origin, 'https://bank.example');
    const tokens = await client.authorizationCodeGrant(rp, callback, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
    });
    assert.equal(tokens.claims()!.acr, 'urn:mynagate:acr:card-auth');

    assert.deepEqual(
      [...new Set(browser.setCookies.map((c) => c.name))].sort(),
      HTTPS_NAMES.map((n) => n.replace(/^__(?:Host|Secure)-/, '')).sort(),
    );
    for (const c of browser.setCookies) {
      assert.equal(c.attributes.has('secure'), false, c.line);
      assert.equal(c.attributes.has('domain'), false, c.line);
      const path = c.attributes.get('path');
      if (c.name.startsWith('_interaction_resume')) assert.match(path ?? '', /^\/auth\//, c.line);
      else assert.equal(path, '/', c.line);
    }
  });
});
