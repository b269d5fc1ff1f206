/**
 * The real MynaGate provider, in process, for the SDK tests: a test JPKI with its OCSP responder, the real
 * `@mynagate/pki` verifier (loopback http origins allowed), `@mynagate/idp` on plain http loopback with in-memory
 * stores, and virtual cards signing through `JpkiClient` + `VirtualTransport` as a companion does.
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JpkiClient } from '@mynagate/card';
import { VirtualCard, VirtualTransport, writeCardFile } from '@mynagate/card/virtual';
import {
  createMemoryStores,
  generateSigningKey,
  oneShotChallengeStore,
  platformCardPair,
  signLoginToken,
  signStatementWithCard,
  startServer,
  type IdpServer,
  type ServerConfig,
} from '@mynagate/idp';
import { createVerifier, ocspSource, platformLinks } from '@mynagate/pki';
import { serveTestJpki, TestJpki, type TestJpkiServer } from '@mynagate/pki/testing';
import type { PrivateJwk } from '../../src/options.ts';
import { Browser, EventStream } from './browser.ts';

/** The PIN and signing password of every fixture card (fake cards only). */
export const PIN = '1234';
export const PASSWORD = 'TEST2025';

/** A client to register: private_key_jwt (a fresh ES256 key) or client_secret_basic. */
export interface ClientSpec {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly auth: 'private_key_jwt' | 'client_secret_basic';
}

/** A registered client with its credentials, ready for `createMynaGateClient`. */
export interface RegisteredClient {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly privateJwk?: PrivateJwk;
  readonly clientSecret?: string;
}

/** A running provider. */
export interface TestProvider {
  readonly server: IdpServer;
  readonly issuer: string;
  readonly clients: Readonly<Record<string, RegisteredClient>>;
  /** A virtual card file of a fresh test person. */
  newCard(): Promise<string>;
  /** A card with the given birth date; with its signing certificate serial (lower-case hex). */
  issueCard(options?: { readonly birthDate?: string }): Promise<{ readonly file: string; readonly signSerial: string }>;
  close(): Promise<void>;
}

/**
 * Starts the provider with `clients` registered (about a second: the JPKI's RSA keys). `now` drives the verifier,
 * the OCSP responder and the provider's own clock.
 */
export async function startProvider(clients: readonly ClientSpec[]): Promise<TestProvider> {
  const dir = await mkdtemp(join(tmpdir(), 'mynagate-rp-'));
  const jpki = await TestJpki.init(join(dir, 'jpki'), { ocspPort: 8790 });
  let ocsp: TestJpkiServer | undefined;
  try {
    ocsp = await serveTestJpki(jpki, { port: 0 });
    const o = ocsp;
    const stores = createMemoryStores();
    const registered: Record<string, RegisteredClient> = {};
    const metadata = clients.map((c): ServerConfig['clients'][number] => {
      if (c.auth === 'client_secret_basic') {
        const secret = randomBytes(32).toString('base64url');
        registered[c.clientId] = { clientId: c.clientId, redirectUri: c.redirectUri, clientSecret: secret };
        return {
          client_id: c.clientId,
          client_name: `Test RP ${c.clientId}`,
          client_secret: secret,
          redirect_uris: [c.redirectUri],
          token_endpoint_auth_method: 'client_secret_basic',
        };
      }
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const kid = `${c.clientId}-1`;
      registered[c.clientId] = {
        clientId: c.clientId,
        redirectUri: c.redirectUri,
        privateJwk: { ...privateKey.export({ format: 'jwk' }), kid },
      };
      const publicJwk = { ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
      return {
        client_id: c.clientId,
        client_name: `Test RP ${c.clientId}`,
        redirect_uris: [c.redirectUri],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [publicJwk] },
      };
    });
    const server = await startServer({
      name: 'MynaGate RP Test',
      clients: metadata,
      jwks: { keys: [generateSigningKey()] },
      cookieKeys: [randomBytes(32).toString('base64url')],
      pairwiseSecret: randomBytes(32),
      verifier: createVerifier({
        challenges: oneShotChallengeStore(stores.oneShot),
        anchors: { auth: [jpki.caCertificate('auth')], sign: [jpki.caCertificate('sign')] },
        // Each certificate's own responder path (auth or sign) on the test server.
        revocation: ocspSource({ url: (cert) => `${o.url}${new URL(cert.ocspUrls[0]!).pathname}` }),
        allowLoopbackHttp: true,
      }),
      stores,
      // eKYC bound to the login card by the test JPKI's pairing (without one the provider offers no eKYC).
      ekyc: { signingCardPair: platformCardPair(platformLinks({ baseUrl: o.url })) },
    });
    let n = 0;
    const issueCard = async (options: { readonly birthDate?: string } = {}) => {
      const issued = await jpki.issueCard({
        name: `試験　花子${++n}`,
        address: '東京都千代田区千代田1-1',
        birthDate: options.birthDate ?? '1990-01-02',
        sex: '2',
        pin: PIN,
        password: PASSWORD,
      });
      const file = join(dir, `card-${randomBytes(6).toString('hex')}.json`);
      await writeCardFile(file, issued.spec, { scryptCost: 1 << 10 });
      return { file, signSerial: issued.signSerial };
    };
    return {
      server,
      issuer: server.issuer,
      clients: registered,
      async newCard() {
        return (await issueCard()).file;
      },
      issueCard,
      async close() {
        await server.close();
        await o.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await ocsp?.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The person's side of a card login, from the provider's login page: the page's QR link is scanned by a companion
 * (no cookies), the virtual card signs the challenge with its PIN, the token is posted, the page hears `done`, and
 * the browser follows the redirect. Returns where the browser ended (the RP callback, or the RP page after it).
 */
export async function loginWithCard(
  provider: TestProvider,
  browser: Browser,
  page: { readonly url: URL; readonly response: Response },
  cardFile: string,
): Promise<{ readonly url: URL; readonly response: Response }> {
  if (page.response.status !== 200) throw new Error(`login page: HTTP ${page.response.status} at ${page.url.href}`);
  const html = await page.response.text();
  const uid = /^\/interaction\/([^/]+)$/.exec(page.url.pathname)?.[1];
  const link = /data-link="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&');
  if (uid === undefined || link === undefined) throw new Error(`not a card login page: ${page.url.href}`);
  const events = new EventStream(await browser.fetch(new URL(`/interaction/${uid}/events`, page.url)));
  try {
    const scan = await fetch(link);
    const view = (await scan.json()) as { txn: string; origin: string; challenge: string };
    if (scan.status !== 200) throw new Error(`scan: ${JSON.stringify(view)}`);
    const transport = new VirtualTransport(VirtualCard.open(cardFile));
    let token: unknown;
    try {
      token = await signLoginToken(new JpkiClient(transport), {
        origin: view.origin,
        challenge: view.challenge,
        pin: PIN,
        appVersion: 'mynagate-rp-test/0.1.0',
      });
    } finally {
      await transport.close();
    }
    const posted = await fetch(new URL(`/companion/${view.txn}/token`, provider.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(token),
    });
    if (posted.status !== 200) throw new Error(`token: ${await posted.text()}`);
    const done = (await events.next('done')) as { redirect: string } | undefined;
    if (done === undefined) throw new Error('no done event');
    return await nextSteps(provider, browser, await browser.follow(new URL(done.redirect, page.url)), cardFile);
  } finally {
    await events.close();
  }
}

/**
 * After the card login the provider may show consent and then the card-signature page (identity proofing, derived
 * claims): accept every item, sign the statement with the card's signing key, until the browser leaves the provider.
 */
async function nextSteps(
  provider: TestProvider,
  browser: Browser,
  at: { readonly url: URL; readonly response: Response },
  cardFile: string,
): Promise<{ readonly url: URL; readonly response: Response }> {
  for (let steps = 0; steps < 3; steps++) {
    if (at.url.origin !== provider.issuer || at.response.status !== 200) return at;
    const html = await at.response.text();
    const uid = /^\/interaction\/([^/]+)$/.exec(at.url.pathname)?.[1];
    if (uid === undefined) throw new Error(`stopped at ${at.url.href}`);
    if (html.includes('consent-form')) {
      const form = new URLSearchParams({ decision: 'accept' });
      for (const m of html.matchAll(/name="item" value="([^"]+)"/g)) form.append('item', m[1]!);
      at = await browser.follow(new URL(`/interaction/${uid}/consent`, at.url), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      continue;
    }
    const link = /data-link="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&');
    if (link === undefined || !link.includes('/companion/sign/')) {
      throw new Error(`unexpected provider page ${at.url.href}: ${html.replace(/[^]*<main>/, '').slice(0, 300)}`);
    }
    const events = new EventStream(await browser.fetch(new URL(`/interaction/${uid}/sign-events`, at.url)));
    try {
      const scan = await fetch(link);
      const view = (await scan.json()) as { txn: string; canonical: string };
      if (scan.status !== 200) throw new Error(`sign scan: ${JSON.stringify(view)}`);
      const transport = new VirtualTransport(VirtualCard.open(cardFile));
      let body: unknown;
      try {
        body = await signStatementWithCard(new JpkiClient(transport), view.canonical, PASSWORD);
      } finally {
        await transport.close();
      }
      const posted = await fetch(new URL(`/companion/sign/${view.txn}/signature`, provider.issuer), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (posted.status !== 200) throw new Error(`signature: ${await posted.text()}`);
      const done = (await events.next('done')) as { redirect: string } | undefined;
      if (done === undefined) throw new Error('no done event after signing');
      at = await browser.follow(new URL(done.redirect, at.url));
    } finally {
      await events.close();
    }
  }
  return at;
}

/** The person cancels on the login page (`access_denied` to the RP). */
export async function cancelLogin(
  browser: Browser,
  page: { readonly url: URL; readonly response: Response },
): Promise<{ readonly url: URL; readonly response: Response }> {
  await page.response.body?.cancel();
  return browser.follow(new URL(`${page.url.pathname}/abort`, page.url), { method: 'POST' });
}
