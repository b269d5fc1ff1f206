/**
 * The OpenID Provider test fixture: a test JPKI with its OCSP responder on HTTP, the real verifier of
 * `@mynagate/pki`, virtual card files driven through `JpkiClient` + `VirtualTransport`, the IdP over real TLS on
 * SQLite (or PostgreSQL + Redis), and two relying parties (private_key_jwt and client_secret_basic) using
 * openid-client 6.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import * as client from 'openid-client';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createVerifier, ocspSource, platformLinks, type ChallengeStore } from '@mynagate/pki';
import { oneShotChallengeStore } from '../../src/challenge-store.ts';
import { platformCardPair, type SigningCardPair } from '../../src/config.ts';
import { serveTestJpki, TestJpki, type IssuedCard, type TestJpkiServer } from '@mynagate/pki/testing';
import { writeCardFile } from '@mynagate/card/virtual';
import { openVirtualCard } from '../../src/dev/virtual-card.ts';
import { generateSigningKey } from '../../src/keys.ts';
import { pairwiseSubject } from '../../src/pairwise.ts';
import { signLoginToken, type LoginToken } from '../../src/login-token.ts';
import { startServer, type IdpServer, type ServerConfig } from '../../src/server.ts';
import { providerStores } from '../../src/stores.ts';
import { openStores, type StoreConfig } from '../../src/store/open.ts';
import type { Stores } from '../../src/store/types.ts';
import { Agent, EventStream, tlsFetch } from './op-agent.ts';
import { loopbackTls } from './op-tls.ts';

/** The clear PIN of every fixture card (fake cards only). */
export const PIN = '1234';
export const PASSWORD = 'TEST2025';

/** The relying party registered with private_key_jwt. */
export const RP_JWT = Object.freeze({
  clientId: 'bank-rp',
  redirectUri: 'https://bank.example/cb',
  name: 'テスト銀行',
});
/** The relying party registered with client_secret_basic. */
export const RP_SECRET = Object.freeze({
  clientId: 'shop-rp',
  redirectUri: 'https://shop.example/cb',
  name: 'Test Shop',
  secret: randomBytes(32).toString('base64url'),
});

/** A card file with what the tests check against. */
export interface TestCard {
  readonly file: string;
  readonly issued: IssuedCard;
  /** SHA-256 hex of the auth certificate: the credential key. */
  readonly fingerprint: string;
}

/** The shared part: JPKI, OCSP, TLS; each IdP node gets its own verifier. */
export interface OpFixture {
  readonly dir: string;
  readonly jpki: TestJpki;
  readonly ocsp: TestJpkiServer;
  readonly tls: { readonly key: string; readonly cert: string };
  /** The RP's private_key_jwt key (ES256) and an unregistered one. */
  readonly rpKey: KeyObject;
  readonly strangerKey: KeyObject;
  newCard(name?: string): Promise<TestCard>;
  start(options?: StartOptions): Promise<TestIdp>;
  close(): Promise<void>;
}

/** Options of {@link OpFixture.start}. */
export interface StartOptions {
  readonly store?: 'sqlite' | 'postgres';
  readonly now?: () => number;
  readonly dev?: ServerConfig['dev'];
  readonly qrMaxAgeSeconds?: number;
  readonly eventPollMs?: number;
  readonly linkCertificate?: ServerConfig['linkCertificate'];
  readonly renewalLinks?: ServerConfig['renewalLinks'];
  readonly bridgePort?: number;
  readonly limits?: ServerConfig['limits'];
  readonly trustProxy?: ServerConfig['trustProxy'];
  /** Start a second node of `node`'s deployment: same stores, issuer, keys and secrets, another port. */
  readonly nodeOf?: TestIdp;
  /** More clients, registered after {@link RP_JWT} and {@link RP_SECRET}. */
  readonly clients?: ServerConfig['clients'];
  /**
   * Over the default `{ signingCardPair }` of the test JPKI's links (eKYC bound to the login card, as in production).
   * `{ signingCardPair: undefined }` starts the provider's own default: no eKYC.
   */
  readonly ekyc?: ServerConfig['ekyc'];
}

/** A running IdP with its stores and RP configurations. */
export interface TestIdp {
  readonly server: IdpServer;
  /** What a second node of the same deployment needs. */
  readonly shared: { readonly jwks: ServerConfig['jwks']; readonly cookieKeys: readonly string[] };
  readonly stores: Stores;
  /** How {@link stores} were opened (a second node opens its own from it). */
  readonly storeConfig: StoreConfig;
  readonly pairwiseSecret: Uint8Array;
  /** openid-client configuration of {@link RP_JWT} (private_key_jwt) and {@link RP_SECRET}. */
  readonly jwtRp: client.Configuration;
  readonly secretRp: client.Configuration;
  /** An RP configuration of {@link RP_JWT} that signs its assertion with an unregistered key. */
  readonly strangerRp: client.Configuration;
  readonly fetch: typeof fetch;
  agent(): Agent;
  close(): Promise<void>;
}

/**
 * Builds the shared fixture (one per test file: about 1 s for the RSA keys of the JPKI and first cards). `now`
 * drives the verifier's and the OCSP responder's clocks (give the IdP the same one).
 */
export async function createOpFixture(options: { readonly now?: () => number } = {}): Promise<OpFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'mynagate-op-'));
  const jpki = await TestJpki.init(join(dir, 'jpki'), { ocspPort: 8790 });
  const ocsp = await serveTestJpki(jpki, { port: 0, ...(options.now ? { now: () => new Date(options.now!()) } : {}) });
  const verifierFor = (challenges?: ChallengeStore) =>
    createVerifier({
      ...(challenges ? { challenges } : {}),
      anchors: { auth: [jpki.caCertificate('auth')], sign: [jpki.caCertificate('sign')] },
      // Login verifies only auth certificates, so every OCSP question goes to the auth responder.
      revocation: ocspSource({ url: `${ocsp.url}/ocsp/auth` }),
      ...(options.now ? { now: () => new Date(options.now!()) } : {}),
    });
  const tls = await loopbackTls();
  const rpKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const strangerKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  let n = 0;
  const idps: TestIdp[] = [];

  return {
    dir,
    jpki,
    ocsp,
    tls,
    rpKey,
    strangerKey,
    async newCard(name = `試験　太郎${++n}`) {
      const issued = await jpki.issueCard({
        name,
        address: '東京都千代田区千代田1-1',
        birthDate: '1990-01-02',
        sex: '1',
        pin: PIN,
        password: PASSWORD,
      });
      const file = join(dir, `card-${randomBytes(6).toString('hex')}.json`);
      await writeCardFile(file, issued.spec, { scryptCost: 1 << 10 });
      const fingerprint = createHash('sha256').update(issued.spec.authCert).digest('hex');
      return { file, issued, fingerprint };
    },
    async start(options = {}) {
      const cardPair = platformCardPair(platformLinks({ baseUrl: ocsp.url }));
      const idp = await startIdp({ dir, verifierFor, tls, rpKey, strangerKey, cardPair }, options);
      idps.push(idp);
      return idp;
    },
    async close() {
      for (const idp of idps) await idp.close();
      await ocsp.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startIdp(
  f: Pick<OpFixture, 'dir' | 'tls' | 'rpKey' | 'strangerKey'> & {
    readonly verifierFor: (challenges?: ChallengeStore) => ReturnType<typeof createVerifier>;
    /** The test JPKI's pairing of a card's two certificates (its platform links API). */
    readonly cardPair: SigningCardPair;
  },
  options: StartOptions,
): Promise<TestIdp> {
  const schema = `mg_op_${randomBytes(6).toString('hex')}`;
  // A second node of a PostgreSQL + Redis deployment opens its own connections (and has its own memory), as a
  // node in another process would; a SQLite deployment is one process, so its "nodes" share the stores.
  const storeConfig: StoreConfig =
    options.nodeOf?.storeConfig ??
    (options.store === 'postgres'
      ? {
          kind: 'postgres',
          url: PG_URL,
          schema,
          redisUrl: REDIS_URL,
          redisPrefix: `mg-op-${randomBytes(6).toString('hex')}:`,
        }
      : { kind: 'sqlite', path: join(f.dir, `idp-${randomBytes(6).toString('hex')}.db`) });
  const ownStores = options.nodeOf === undefined || storeConfig.kind === 'postgres';
  const stores = ownStores ? await openStores(storeConfig) : options.nodeOf!.stores;
  const pairwiseSecret = options.nodeOf?.pairwiseSecret ?? randomBytes(32);
  const shared = options.nodeOf?.shared ?? {
    jwks: { keys: [generateSigningKey()] },
    cookieKeys: [randomBytes(32).toString('base64url')],
  };
  const rpPublic = { ...createPublicKey(f.rpKey).export({ format: 'jwk' }), kid: 'rp-1', alg: 'ES256', use: 'sig' };
  const server = await startServer({
    tls: f.tls,
    name: 'MynaGate Test',
    clients: [
      {
        client_id: RP_JWT.clientId,
        client_name: RP_JWT.name,
        redirect_uris: [RP_JWT.redirectUri],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [rpPublic] },
        post_logout_redirect_uris: ['https://bank.example/bye'],
      },
      {
        client_id: RP_SECRET.clientId,
        client_name: RP_SECRET.name,
        client_secret: RP_SECRET.secret,
        redirect_uris: [RP_SECRET.redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      ...(options.clients ?? []),
    ],
    ...(options.nodeOf ? { issuer: options.nodeOf.server.issuer } : {}),
    jwks: shared.jwks,
    cookieKeys: shared.cookieKeys,
    pairwiseSecret,
    // Each node has its own verifier; challenges live in the shared one-shot store, as with real nodes.
    verifier: f.verifierFor(oneShotChallengeStore(providerStores(stores).oneShot)),
    stores: providerStores(stores),
    ...(options.now ? { now: options.now } : {}),
    ...(options.dev ? { dev: options.dev } : {}),
    ...(options.qrMaxAgeSeconds ? { qrMaxAgeSeconds: options.qrMaxAgeSeconds } : {}),
    ...(options.eventPollMs ? { eventPollMs: options.eventPollMs } : {}),
    ...(options.linkCertificate ? { linkCertificate: options.linkCertificate } : {}),
    ...(options.renewalLinks ? { renewalLinks: options.renewalLinks } : {}),
    ...(options.bridgePort ? { bridgePort: options.bridgePort } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.trustProxy ? { trustProxy: options.trustProxy } : {}),
    ekyc: { signingCardPair: f.cardPair, ...options.ekyc },
  });
  const fetch = tlsFetch(f.tls.cert);
  const discover = (clientId: string, metadata: Partial<client.ClientMetadata>, auth: client.ClientAuth) =>
    client.discovery(new URL(server.issuer), clientId, metadata, auth, {
      [client.customFetch]: fetch as client.CustomFetch,
    });
  const jwtRp = await discover(
    RP_JWT.clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.PrivateKeyJwt({ key: await toCryptoKey(f.rpKey), kid: 'rp-1' }),
  );
  const strangerRp = await discover(
    RP_JWT.clientId,
    {},
    client.PrivateKeyJwt({ key: await toCryptoKey(f.strangerKey), kid: 'rp-1' }),
  );
  const secretRp = await discover(RP_SECRET.clientId, {}, client.ClientSecretBasic(RP_SECRET.secret));
  return {
    server,
    shared,
    stores,
    storeConfig,
    pairwiseSecret,
    jwtRp,
    secretRp,
    strangerRp,
    fetch,
    agent: () => new Agent(f.tls.cert),
    async close() {
      await server.close();
      if (ownStores) await stores.close();
      if (options.nodeOf !== undefined) return;
      if (options.store === 'postgres') {
        const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
        await dropPostgresRedis(schema, (storeConfig as { redisPrefix: string }).redisPrefix);
      }
    },
  };
}

/**
 * Drops what a PostgreSQL + Redis store left behind: its schema and its Redis keys (a run leaves from a few to
 * hundreds of thousands, sessions for a day). Both, whichever fails; rejects with the first failure.
 */
export async function dropPostgresRedis(schema: string, redisPrefix: string): Promise<void> {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const dropKeys = async () => {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  };
  const done = await Promise.allSettled([
    admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => admin.end()),
    dropKeys().finally(() => redis.disconnect()),
  ]);
  for (const d of done) if (d.status === 'rejected') throw d.reason;
}

async function toCryptoKey(key: KeyObject): Promise<client.CryptoKey> {
  return key.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']) as unknown as client.CryptoKey;
}

/** PostgreSQL and Redis of the scale tests (same variables as the store tests). */
export const PG_URL = process.env['MYNAGATE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['MYNAGATE_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Whether a TCP service answers (for skipping with a visible reason). */
export function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port), timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

/**
 * `false` when PostgreSQL and Redis answer, else the reason to skip a test that needs them, as `node:test` takes it
 * (never with MYNAGATE_REQUIRE_SYSTEM=1: then the test runs and fails).
 */
export async function postgresRedisSkip(): Promise<string | false> {
  const missing = [
    ...((await reachable(PG_URL)) ? [] : [`PostgreSQL at ${new URL(PG_URL).host}`]),
    ...((await reachable(REDIS_URL)) ? [] : [`Redis at ${new URL(REDIS_URL).host}`]),
  ];
  return missing.length > 0 && process.env['MYNAGATE_REQUIRE_SYSTEM'] !== '1'
    ? `not reachable: ${missing.join(', ')}`
    : false;
}

/** The card side of a login, as a companion does it: open the virtual card, VERIFY the PIN, sign. */
export async function cardToken(card: TestCard, origin: string, challenge: string, pin = PIN): Promise<LoginToken> {
  const opened = await openVirtualCard(card.file);
  try {
    return await signLoginToken(opened.card, { origin, challenge, pin, appVersion: 'mynagate-test/0.1.0' });
  } finally {
    await opened.close();
  }
}

/** An authorization request in progress: the browser is on the login page. */
export interface StartedLogin {
  readonly agent: Agent;
  readonly uid: string;
  readonly pageUrl: URL;
  readonly page: string;
  /** The QR link shown when the page loaded. */
  readonly link: string;
  readonly codeVerifier: string;
  readonly state: string;
  readonly events: EventStream;
}

/** Opens an authorization request in `agent` up to the login page and subscribes to its events. */
export async function startLogin(
  idp: TestIdp,
  rp: client.Configuration,
  redirectUri: string,
  options: { readonly agent?: Agent; readonly extra?: Record<string, string> } = {},
): Promise<StartedLogin> {
  const agent = options.agent ?? idp.agent();
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    acr_values: 'urn:mynagate:acr:card-auth',
    ...options.extra,
  });
  const { url: pageUrl, response } = await agent.follow(url);
  if (response.status !== 200)
    throw new Error(
      `login page: HTTP ${response.status} at ${pageUrl.href}: ${(await response.text()).replace(/[^]*<main>/, '').slice(0, 600)}`,
    );
  const page = await response.text();
  const link = /data-link="([^"]+)"/.exec(page)?.[1]?.replaceAll('&amp;', '&');
  if (link === undefined) throw new Error('no QR link on the login page');
  const uid = /^\/interaction\/([^/]+)$/.exec(pageUrl.pathname)?.[1];
  if (uid === undefined) throw new Error(`not a login page: ${pageUrl.href}`);
  const events = new EventStream(await agent.fetch(new URL(`/interaction/${uid}/events`, pageUrl)));
  return { agent, uid, pageUrl, page, link, codeVerifier, state, events };
}

/** What the companion got from scanning. */
export interface CompanionViewJson {
  readonly txn: string;
  readonly clientName: string;
  readonly clientOrigin: string;
  readonly origin: string;
  readonly intent: string;
  readonly challenge: string;
}

/** The companion scans `link` (another device: no cookies). */
export async function scan(idp: TestIdp, link: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await idp.fetch(link);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The companion posts a token. */
export async function postToken(
  idp: TestIdp,
  txn: string,
  token: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await idp.fetch(new URL(`/companion/${txn}/token`, idp.server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(token),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * A whole card login: scan, sign with the card, post, wait for `done`, follow the redirect back to the RP.
 * Returns the RP callback URL (with `code`).
 */
export async function completeLogin(idp: TestIdp, login: StartedLogin, card: TestCard): Promise<URL> {
  const scanned = await scan(idp, login.link);
  if (scanned.status !== 200) throw new Error(`scan: ${JSON.stringify(scanned.body)}`);
  const view = scanned.body as unknown as CompanionViewJson;
  const posted = await postToken(idp, view.txn, await cardToken(card, view.origin, view.challenge));
  if (posted.status !== 200) throw new Error(`token: ${JSON.stringify(posted.body)}`);
  return followDone(login);
}

/**
 * The browser side after the companion posted: waits for `done` on `events` (default: the login page's stream),
 * closes the stream and follows the redirect back to the RP. Returns the RP callback URL (with `code`).
 */
export async function followDone(login: StartedLogin, events = login.events, timeoutMs = 10_000): Promise<URL> {
  const done = (await events.next('done', timeoutMs)) as { redirect: string } | undefined;
  await events.close();
  if (done === undefined) throw new Error('no done event');
  const { url } = await login.agent.follow(done.redirect);
  return url;
}

/** {@link followDone}, then the code redeemed at `rp`: the ID token claims. */
export async function redeemLogin(
  rp: client.Configuration,
  login: StartedLogin,
  events = login.events,
): Promise<client.IDToken> {
  const tokens = await client.authorizationCodeGrant(rp, await followDone(login, events), {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  return tokens.claims()!;
}

/** The pairwise `sub` the RP at `redirectUri` must see for `card`'s person (the card must have logged in). */
export async function expectedSub(idp: TestIdp, card: TestCard, redirectUri: string): Promise<string> {
  const credential = await idp.stores.records.findCredentialByFingerprint(card.fingerprint);
  if (credential === undefined) throw new Error('the card has no person');
  return pairwiseSubject(idp.pairwiseSecret, new URL(redirectUri).host, credential.personId);
}
