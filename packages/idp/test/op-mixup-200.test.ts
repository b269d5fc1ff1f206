/**
 * The mix-up test at scale: 200 people log in at the same moment with 200 distinct virtual cards. Every browser
 * session starts its login concurrently, every companion scans concurrently, every card signs, and the tokens are
 * posted concurrently in shuffled order. Each ID token must carry the pairwise `sub` of the person created for the
 * card that signed *that* login (card fingerprint → person → expected sub): a single result delivered to the wrong
 * session fails the test (the 2023 incident in Japan printed one person's certificate for another under load).
 *
 * Runs on SQLite, and on PostgreSQL + Redis (skipped with the reason when unreachable, unless
 * MYNAGATE_REQUIRE_SYSTEM=1). Card keys come from a cached key pool, so repeated runs skip RSA generation.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { createVerifier, ocspSource } from '@mynagate/pki';
import { createKeyPool, serveTestJpki, TestJpki, type TestJpkiServer } from '@mynagate/pki/testing';
import { writeCardFile } from '@mynagate/card/virtual';
import { oneShotChallengeStore } from '../src/challenge-store.ts';
import { openVirtualCard } from '../src/dev/virtual-card.ts';
import { generateSigningKey } from '../src/keys.ts';
import { signLoginToken, type LoginToken } from '../src/login-token.ts';
import { pairwiseSubject } from '../src/pairwise.ts';
import { startServer, type IdpServer } from '../src/server.ts';
import { openStores } from '../src/store/open.ts';
import type { Stores } from '../src/store/types.ts';
import { providerStores } from '../src/stores.ts';
import { EventStream } from './support/op-agent.ts';
import { dropPostgresRedis, PG_URL, postgresRedisSkip, REDIS_URL } from './support/op-fixture.ts';

const PEOPLE = 200;
const PIN = '1234';
const RP = Object.freeze({
  clientId: 'mixup-rp',
  secret: randomBytes(32).toString('base64url'),
  redirectUri: 'https://rp.example/cb',
});

const skipPostgres = await postgresRedisSkip();

interface Card {
  readonly file: string;
  /** SHA-256 of the auth certificate: the credential key. */
  readonly fingerprint: string;
}

let dir: string;
let jpki: TestJpki;
let ocsp: TestJpkiServer;
let cards: Card[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mynagate-mixup-'));
  const keys = await createKeyPool(400, { cacheFile: join(tmpdir(), 'mynagate-keypool-400.json') });
  jpki = await TestJpki.init(join(dir, 'jpki'), { keys });
  const issued = await jpki.issueCards(
    Array.from({ length: PEOPLE }, (_, i) => ({
      name: `試験　${String(i + 1).padStart(3, '0')}`,
      address: '東京都千代田区千代田1-1',
      birthDate: '1990-01-02',
      sex: '1' as const,
      pin: PIN,
      password: 'TEST2025',
    })),
  );
  cards = await Promise.all(
    issued.map(async (c, i) => {
      const file = join(dir, `card-${i}.json`);
      await writeCardFile(file, c.spec, { scryptCost: 1 << 10 });
      return { file, fingerprint: createHash('sha256').update(c.spec.authCert).digest('hex') };
    }),
  );
  ocsp = await serveTestJpki(jpki, { port: 0 });
});
after(async () => {
  await ocsp?.close();
  await rm(dir, { recursive: true, force: true });
});

/** One provider on `stores`, plain HTTP on loopback, with an openid-client RP. */
async function startProvider(
  stores: Stores,
): Promise<{ idp: IdpServer; rp: client.Configuration; secret: Uint8Array }> {
  const ports = providerStores(stores);
  const pairwiseSecret = randomBytes(32);
  const idp = await startServer({
    clients: [
      {
        client_id: RP.clientId,
        client_name: 'Mix-up RP',
        client_secret: RP.secret,
        redirect_uris: [RP.redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [generateSigningKey()] },
    cookieKeys: [randomBytes(32).toString('base64url')],
    pairwiseSecret,
    verifier: createVerifier({
      anchors: { auth: [jpki.caCertificate('auth')], sign: [jpki.caCertificate('sign')] },
      // The responder shares this process with 200 logins at once: allow it more than the 5 s production default (a loaded CI machine).
      revocation: ocspSource({ url: `${ocsp.url}/ocsp/auth`, timeoutMs: 60_000 }),
      challenges: oneShotChallengeStore(ports.oneShot),
      allowLoopbackHttp: true,
    }),
    stores: ports,
    // Every page loads before the first scan: the QR code's age is not what this test is about.
    qrMaxAgeSeconds: 120,
  });
  const rp = await client.discovery(new URL(idp.issuer), RP.clientId, {}, client.ClientSecretBasic(RP.secret), {
    execute: [client.allowInsecureRequests],
  });
  return { idp, rp, secret: pairwiseSecret };
}

/** A browser: cookies per name (one host), redirects followed by hand within the provider's origin. */
class Browser {
  readonly #cookies = new Map<string, string>();

  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#cookies.size > 0) headers.set('cookie', [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
    return res;
  }

  /** Follows same-origin redirects; returns the first page, or the redirect leaving the origin. */
  async follow(url: string | URL): Promise<{ url: URL; response: Response }> {
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

interface Login {
  readonly browser: Browser;
  readonly uid: string;
  readonly link: string;
  readonly codeVerifier: string;
  readonly state: string;
  readonly nonce: string;
  readonly events: EventStream;
}

async function startLogin(idp: IdpServer, rp: client.Configuration): Promise<Login> {
  const browser = new Browser();
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: RP.redirectUri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    acr_values: 'urn:mynagate:acr:card-auth',
  });
  const { url: pageUrl, response } = await browser.follow(url);
  const page = await response.text();
  assert.equal(response.status, 200, page.slice(0, 300));
  const link = /data-link="([^"]+)"/.exec(page)?.[1]?.replaceAll('&amp;', '&');
  const uid = /^\/interaction\/([^/]+)$/.exec(pageUrl.pathname)?.[1];
  assert.ok(link && uid, 'a login page with a QR link');
  const events = new EventStream(await browser.fetch(new URL(`/interaction/${uid}/events`, idp.url)));
  return { browser, uid, link, codeVerifier, state, nonce, events };
}

async function sign(card: Card, origin: string, challenge: string): Promise<LoginToken> {
  const opened = await openVirtualCard(card.file);
  try {
    return await signLoginToken(opened.card, { origin, challenge, pin: PIN, appVersion: 'mynagate-mixup/0.1.0' });
  } finally {
    await opened.close();
  }
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomBytes(4).readUInt32BE() % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The whole run; asserts zero mix-ups. */
async function mixup(stores: Stores, log: (msg: string) => void): Promise<void> {
  const t0 = performance.now();
  const lap = (what: string) => log(`${what}: ${Math.round(performance.now() - t0)} ms`);
  const { idp, rp, secret } = await startProvider(stores);
  try {
    // 1. Every browser opens its login page at once.
    const logins = await Promise.all(cards.map(() => startLogin(idp, rp)));
    assert.equal(new Set(logins.map((l) => l.uid)).size, PEOPLE);
    lap('login pages');

    // 2. Every companion scans its own QR code at once; card i belongs to login i.
    const views = await Promise.all(
      logins.map(async (l) => {
        const res = await fetch(l.link, { headers: { accept: 'application/json' } });
        assert.equal(res.status, 200);
        return (await res.json()) as { txn: string; origin: string; challenge: string };
      }),
    );
    assert.equal(new Set(views.map((v) => v.challenge)).size, PEOPLE, 'a distinct challenge per login');
    lap('scanned');
    const tokens = await Promise.all(views.map((v, i) => sign(cards[i]!, v.origin, v.challenge)));
    lap('signed');

    // 3. All tokens posted at once, in shuffled order.
    const posted = await Promise.all(
      shuffled(views.map((_, i) => i)).map(async (i) => {
        const res = await fetch(new URL(`/companion/${views[i]!.txn}/token`, idp.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(tokens[i]),
        });
        return { i, status: res.status, body: await res.text() };
      }),
    );
    for (const p of posted) assert.equal(p.status, 200, `login ${p.i}: ${p.body}`);
    lap('tokens posted');

    // 4. Each browser session finishes its login and redeems its code.
    const subs = await Promise.all(
      logins.map(async (l) => {
        const done = (await l.events.next('done', 60_000)) as { redirect: string } | undefined;
        await l.events.close();
        assert.ok(done, 'the session got its outcome');
        assert.ok(done.redirect.startsWith(`${idp.issuer}/auth/${l.uid}`), 'the outcome resumes this session');
        const { url } = await l.browser.follow(done.redirect);
        const result = await client.authorizationCodeGrant(rp, url, {
          pkceCodeVerifier: l.codeVerifier,
          expectedState: l.state,
          expectedNonce: l.nonce,
        });
        return result.claims()!.sub;
      }),
    );

    lap('codes redeemed');
    // 5. Card i's person, and only that person, is in login i's ID token.
    const sector = new URL(RP.redirectUri).host;
    let mixups = 0;
    for (const [i, card] of cards.entries()) {
      const credential = await stores.records.findCredentialByFingerprint(card.fingerprint);
      assert.ok(credential, `card ${i} has a person`);
      if (subs[i] !== pairwiseSubject(secret, sector, credential.personId)) mixups++;
    }
    assert.equal(mixups, 0, `${mixups} of ${PEOPLE} logins delivered another person`);
    assert.equal(new Set(subs).size, PEOPLE, 'one person per card');
  } finally {
    await idp.close();
  }
}

describe(`${PEOPLE} concurrent card logins with ${PEOPLE} cards, tokens posted in shuffled order`, () => {
  it('delivers every login to its own session with its own card’s pairwise sub on SQLite (zero mix-ups)', async (t) => {
    const stores = await openStores({ kind: 'sqlite', path: join(dir, 'idp.db') });
    try {
      await mixup(stores, (m) => t.diagnostic(m));
    } finally {
      await stores.close();
    }
  });

  it(
    'delivers every login to its own session with its own card’s pairwise sub on PostgreSQL + Redis (zero mix-ups)',
    { skip: skipPostgres },
    async (t) => {
      const schema = `mg_mixup_${randomBytes(6).toString('hex')}`;
      const redisPrefix = `mg-mixup-${randomBytes(6).toString('hex')}:`;
      const stores = await openStores({ kind: 'postgres', url: PG_URL, schema, redisUrl: REDIS_URL, redisPrefix });
      try {
        await mixup(stores, (m) => t.diagnostic(m));
      } finally {
        await stores.close();
        await dropPostgresRedis(schema, redisPrefix);
      }
    },
  );
});
