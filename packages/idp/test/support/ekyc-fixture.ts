/**
 * The eKYC, claims and consent test fixture, on top of the OP fixture's test JPKI, OCSP responder and TLS: an IdP
 * whose verifier asks each certificate's own responder (auth or sign), whose records are the SQLite store's, with
 * a refresh-token relying party, an injected clock, and the steps after the card login: the consent screen and the
 * card signature of the eKYC statement through the companion API.
 */
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as client from 'openid-client';
import { createVerifier, ocspSource, platformLinks, statementDigestInfo } from '@mynagate/pki';
import { writeCardFile } from '@mynagate/card/virtual';
import { oneShotChallengeStore } from '../../src/challenge-store.ts';
import { platformCardPair, type SigningCardPair } from '../../src/config.ts';
import { openVirtualCard } from '../../src/dev/virtual-card.ts';
import { signStatementWithCard, type SigningCard, type StatementSignature } from '../../src/ekyc/card-sign.ts';
import { generateSigningKey } from '../../src/keys.ts';
import { startServer, type ServerConfig } from '../../src/server.ts';
import { providerStores } from '../../src/stores.ts';
import { openStores } from '../../src/store/open.ts';
import { Agent, EventStream, tlsFetch } from './op-agent.ts';
import {
  completeLogin,
  PASSWORD,
  PIN,
  RP_JWT,
  RP_SECRET,
  type OpFixture,
  type StartedLogin,
  type TestCard,
  type TestIdp,
} from './op-fixture.ts';

export { PASSWORD, PIN, RP_JWT, RP_SECRET };

/** Options of {@link startEkycIdp}. */
export interface EkycStartOptions {
  readonly now?: () => number;
  readonly dev?: ServerConfig['dev'];
  /**
   * Over the fixture's default, `{ signingCardPair: testCardPair(f) }` (eKYC bound to the login card, as in
   * production). `{ signingCardPair: undefined }` starts the provider's own default (no eKYC), `'unchecked'` the
   * opt-out.
   */
  readonly ekyc?: ServerConfig['ekyc'];
  /**
   * How old a scanned QR code may be, in seconds (the provider's default: 3). A test whose code is scanned by another
   * process (the CLI's companion or bridge) raises it: that process can be slower than a phone on a loaded machine.
   */
  readonly qrMaxAgeSeconds?: number;
  /** Behind a trusted proxy: the last `X-Forwarded-For` entry is the client (the network check's tests set it). */
  readonly trustProxy?: boolean;
}

/**
 * The J-LIS pairing of a card's two certificates as a platform provider answers it, from `f`'s test JPKI (its links
 * API beside the OCSP responder): what binds eKYC to the login card (config.ts `EkycConfig.signingCardPair`).
 */
export function testCardPair(f: Pick<OpFixture, 'ocsp'>): SigningCardPair {
  return platformCardPair(platformLinks({ baseUrl: f.ocsp.url }));
}

/**
 * Starts an IdP on SQLite for `f`: RP_JWT may use refresh tokens; the verifier checks auth certificates against
 * `/ocsp/auth` and signing certificates against `/ocsp/sign` (by the path of the certificate's own AIA URL); eKYC is
 * bound to the login card by the test JPKI's pairing ({@link testCardPair}) unless `options.ekyc` says otherwise.
 */
export async function startEkycIdp(f: OpFixture, options: EkycStartOptions = {}): Promise<TestIdp> {
  const storeConfig = { kind: 'sqlite', path: join(f.dir, `ekyc-${randomBytes(6).toString('hex')}.db`) } as const;
  const stores = await openStores(storeConfig);
  const provider = providerStores(stores);
  const pairwiseSecret = randomBytes(32);
  const shared = { jwks: { keys: [generateSigningKey()] }, cookieKeys: [randomBytes(32).toString('base64url')] };
  const rpPublic = { ...createPublicKey(f.rpKey).export({ format: 'jwk' }), kid: 'rp-1', alg: 'ES256', use: 'sig' };
  const verifier = createVerifier({
    challenges: oneShotChallengeStore(provider.oneShot),
    anchors: { auth: [f.jpki.caCertificate('auth')], sign: [f.jpki.caCertificate('sign')] },
    revocation: ocspSource({ url: (cert) => `${f.ocsp.url}${new URL(cert.ocspUrls[0]!).pathname}` }),
  });
  const server = await startServer({
    tls: f.tls,
    name: 'MynaGate Test',
    clients: [
      {
        client_id: RP_JWT.clientId,
        client_name: RP_JWT.name,
        redirect_uris: [RP_JWT.redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [rpPublic] },
      },
      {
        client_id: RP_SECRET.clientId,
        client_name: RP_SECRET.name,
        client_secret: RP_SECRET.secret,
        redirect_uris: [RP_SECRET.redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: shared.jwks,
    cookieKeys: shared.cookieKeys,
    pairwiseSecret,
    verifier,
    stores: provider,
    records: stores.records,
    ...(options.now ? { now: options.now } : {}),
    ...(options.dev ? { dev: options.dev } : {}),
    ekyc: { signingCardPair: testCardPair(f), ...options.ekyc },
    ...(options.qrMaxAgeSeconds !== undefined ? { qrMaxAgeSeconds: options.qrMaxAgeSeconds } : {}),
    ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}),
    // The signing page's stream reads the store once a minute here: what it shows comes from being told (the
    // transactions' watch), or not in time for the tests.
    eventPollMs: 60_000,
  });
  const fetch = tlsFetch(f.tls.cert);
  const discover = (clientId: string, metadata: Partial<client.ClientMetadata>, auth: client.ClientAuth) =>
    client.discovery(new URL(server.issuer), clientId, metadata, auth, {
      [client.customFetch]: fetch as client.CustomFetch,
    });
  const key = (await f.rpKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])) as never;
  const jwtRp = await discover(
    RP_JWT.clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.PrivateKeyJwt({ key, kid: 'rp-1' }),
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
    strangerRp: jwtRp,
    fetch,
    agent: () => new Agent(f.tls.cert),
    async close() {
      await server.close();
      await stores.close();
    },
  };
}

/** A card with a chosen birth date and address (the OP fixture's cards are all born 1990-01-02 in 東京都). */
export async function issueCard(
  f: OpFixture,
  options: { readonly birthDate?: string; readonly address?: string; readonly name?: string } = {},
): Promise<TestCard> {
  const issued = await f.jpki.issueCard({
    name: options.name ?? '試験　花子',
    address: options.address ?? '東京都千代田区千代田1-1',
    birthDate: options.birthDate ?? '1990-01-02',
    sex: '2',
    pin: PIN,
    password: PASSWORD,
  });
  const file = join(f.dir, `ekyc-card-${randomBytes(6).toString('hex')}.json`);
  await writeCardFile(file, issued.spec, { scryptCost: 1 << 10 });
  return { file, issued, fingerprint: createHash('sha256').update(issued.spec.authCert).digest('hex') };
}

/** An authorization request with `acr_values`, `claims`, `scope`, `purpose`, … as given. */
export function authorizeExtra(claims: unknown, extra: Record<string, string> = {}): Record<string, string> {
  return {
    acr_values: 'urn:mynagate:acr:card-sign',
    ...(claims === undefined ? {} : { claims: JSON.stringify(claims) }),
    ...extra,
  };
}

/** The page an agent is on after a step: its URL and HTML (or the RP callback URL). */
export interface Step {
  readonly url: URL;
  readonly page: string;
}

/** Continues after `completeLogin` (which stops at the first page): returns where the browser landed. */
export async function loginThenStop(idp: TestIdp, login: StartedLogin, card: TestCard): Promise<Step> {
  const url = await completeLogin(idp, login, card);
  if (url.origin !== new URL(idp.server.url).origin) return { url, page: '' };
  const res = await login.agent.fetch(url);
  return { url, page: await res.text() };
}

/** Submits the consent screen at `step` (keeping the optional items listed in `keep`, default all). */
export async function consent(
  agent: Agent,
  step: Step,
  options: { readonly keep?: readonly string[]; readonly decision?: 'accept' | 'deny' } = {},
): Promise<Step> {
  const uid = /\/interaction\/([^/]+)$/.exec(step.url.pathname)?.[1];
  if (uid === undefined || !step.page.includes('consent-form')) throw new Error(`not a consent page: ${step.url}`);
  const optional = [...step.page.matchAll(/name="item" value="([^"]+)"/g)].map((m) => m[1]!);
  const form = new URLSearchParams({ decision: options.decision ?? 'accept' });
  for (const item of optional) if (options.keep === undefined || options.keep.includes(item)) form.append('item', item);
  const { url, response } = await agent.follow(new URL(`/interaction/${uid}/consent`, step.url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  return { url, page: url.origin === step.url.origin ? await response.text() : '' };
}

/** What the companion sees on scanning a signing QR link. */
export interface SignViewJson {
  readonly txn: string;
  readonly intent: string;
  readonly clientName: string;
  readonly statement: {
    readonly purpose: string;
    readonly text: { readonly ja: string; readonly en: string };
    /** What the signature post names (`nonce`): the same in `canonical`. */
    readonly nonce: string;
  };
  readonly canonical: string;
}

/** The signing page at `step`: its uid, QR link, and its event stream (opened by the owning browser). */
export async function openSignPage(
  agent: Agent,
  step: Step,
): Promise<{ uid: string; link: string; events: EventStream }> {
  const uid = /\/interaction\/([^/]+)$/.exec(step.url.pathname)?.[1];
  const link = /data-link="([^"]+)"/.exec(step.page)?.[1]?.replaceAll('&amp;', '&');
  if (uid === undefined || link === undefined || !link.includes('/companion/sign/')) {
    throw new Error(`not a signing page: ${step.url}\n${step.page.slice(0, 400)}`);
  }
  const events = new EventStream(await agent.fetch(new URL(`/interaction/${uid}/sign-events`, step.url)));
  return { uid, link, events };
}

/**
 * The card side: sign `canonical` with the signing key (or, to test the refusal, with the auth key). The answer names
 * the statement by the nonce in `canonical`, as a companion's post does.
 */
export async function cardSignature(
  card: TestCard,
  canonical: string,
  options: { readonly password?: string; readonly useAuthKey?: boolean } = {},
): Promise<StatementSignature> {
  const opened = await openVirtualCard(card.file);
  try {
    if (options.useAuthKey) {
      // The wrong certificate kind: the auth key and certificate (RFC 8017 DigestInfo over the same statement).
      const jpki = opened.card as unknown as {
        verify(k: 'auth', p: string): Promise<void>;
        readCertificate(k: 'auth'): Promise<Uint8Array>;
        sign(k: 'auth', d: Uint8Array): Promise<Uint8Array>;
      };
      await jpki.verify('auth', PIN);
      const certificate = await jpki.readCertificate('auth');
      const signature = await jpki.sign('auth', statementDigestInfo(new TextEncoder().encode(canonical)));
      return {
        signature: Buffer.from(signature).toString('base64'),
        certificate: Buffer.from(certificate).toString('base64'),
        nonce: (JSON.parse(canonical) as { nonce: string }).nonce,
      };
    }
    return await signStatementWithCard(opened.card as unknown as SigningCard, canonical, options.password ?? PASSWORD);
  } finally {
    await opened.close();
  }
}

/** Posts a signature to the companion API. */
export async function postSignature(
  idp: TestIdp,
  txn: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await idp.fetch(new URL(`/companion/sign/${txn}/signature`, idp.server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The whole signing step: scan, sign with the card, post, wait for `done`, follow back. Returns the next step. */
export async function signStep(idp: TestIdp, agent: Agent, step: Step, card: TestCard): Promise<Step> {
  const sign = await openSignPage(agent, step);
  const scanned = await idp.fetch(sign.link);
  if (scanned.status !== 200) throw new Error(`sign scan: ${await scanned.text()}`);
  const view = (await scanned.json()) as SignViewJson;
  const posted = await postSignature(idp, view.txn, await cardSignature(card, view.canonical));
  if (posted.status !== 200) throw new Error(`signature: ${JSON.stringify(posted.body)}`);
  const done = (await sign.events.next('done')) as { redirect: string } | undefined;
  await sign.events.close();
  if (done === undefined) throw new Error('no done event after signing');
  const { url, response } = await agent.follow(done.redirect);
  return { url, page: url.origin === step.url.origin ? await response.text() : '' };
}

/** Login → consent (if shown) → signature (if asked) → the RP callback URL. */
export async function fullFlow(
  idp: TestIdp,
  login: StartedLogin,
  card: TestCard,
  options: { readonly keep?: readonly string[] } = {},
): Promise<URL> {
  let step = await loginThenStop(idp, login, card);
  if (step.page.includes('consent-form')) step = await consent(login.agent, step, options);
  if (step.page.includes('/companion/sign/')) step = await signStep(idp, login.agent, step, card);
  if (step.url.origin === new URL(idp.server.url).origin) {
    throw new Error(`flow stopped at ${step.url}: ${step.page.replace(/[^]*<main>/, '').slice(0, 500)}`);
  }
  return step.url;
}

/**
 * `prompt=none` for `openid` in `agent`'s browser session at the JWT client: the code's `sub`, or the error the
 * service gets at its redirect URI.
 */
export async function silentLogin(
  idp: TestIdp,
  agent: Agent,
): Promise<{ readonly sub?: string; readonly error?: string | null }> {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(idp.jwtRp, {
    redirect_uri: RP_JWT.redirectUri,
    scope: 'openid',
    prompt: 'none',
    state,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  });
  const { url: back } = await agent.follow(url);
  if (back.origin + back.pathname !== RP_JWT.redirectUri) throw new Error(`prompt=none ended at ${back.href}`);
  if (!back.searchParams.has('code')) return { error: back.searchParams.get('error') };
  const tokens = await client.authorizationCodeGrant(idp.jwtRp, back, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
  });
  return { sub: tokens.claims()!.sub };
}
