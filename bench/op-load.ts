/**
 * The load generator of `bench/op.ts`, run as its own process so its CPU is not the provider's event loop: complete
 * logins (authorize → login page → event stream → companion scan → card signature → token post → `done` → code →
 * tokens) as many browsers and companions at once (the card's signature computed with its key, or by emulating the
 * card: see {@link LoadConfig.companion}), or trivial logins (authorize → an interaction that finishes at
 * once → code → tokens) for the baseline. Prints one JSON line: completed logins, errors, rate and latencies.
 *
 * Usage: `node bench/op-load.ts '<json LoadConfig>'`.
 */
import { constants, createHash, createPrivateKey, privateEncrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import * as client from 'openid-client';
import { JpkiClient } from '../packages/card/src/index.ts';
import { VirtualCard, VirtualTransport } from '../packages/card/src/virtual/index.ts';
import { signLoginToken, type LoginCard } from '../packages/idp/src/login-token.ts';
import { EventStream } from '../packages/idp/test/support/event-stream.ts';

/** What the parent asks for. */
export interface LoadConfig {
  readonly mode: 'card' | 'trivial';
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
  /**
   * How companions sign (card mode): `key`: with each card's authentication key straight from `keys` (a JSON file
   * of `{ key, cert }`, base64 PKCS#8 and DER), which is what the card computes, without emulating the card on this
   * machine; `virtual-card`: through `JpkiClient` and the virtual cards in `cards` (PIN check with scrypt, APDUs).
   */
  readonly companion: 'key' | 'virtual-card';
  readonly keys: string;
  /** Card files (card mode); each is used by one login at a time. */
  readonly cards: readonly string[];
  readonly pin: string;
  /** `closed`: `concurrency` logins in flight all the time; `open`: starts at `rate` per second. */
  readonly load:
    { readonly kind: 'closed'; readonly concurrency: number } | { readonly kind: 'open'; readonly rate: number };
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** What the load generator prints. */
export interface LoadResult {
  readonly completed: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Every login finished, warm-up and tail included (what the provider's CPU time is divided by). */
  readonly finished: number;
  /** This process's CPU time (user + system), ms: the browsers' and companions' share of the machine. */
  readonly loadCpuMs: number;
  /** Where the time of a measured login went, by step: p50 and p99 of each step's duration, ms. */
  readonly phases: Readonly<Record<string, { readonly p50Ms: number; readonly p99Ms: number }>>;
}

const config = JSON.parse(process.argv[2] ?? '') as LoadConfig;
/** A card as `signLoginToken` uses it, plus the JPKI application selection a real card needs first. */
type Card = LoginCard & { selectJpki(): Promise<unknown> };
/** The card's computation (spec §4: RSA PKCS#1 v1.5 over the DigestInfo it is given), done with its key. */
function keyCard(entry: { key: string; cert: string }): Card {
  const key = createPrivateKey({ key: Buffer.from(entry.key, 'base64'), format: 'der', type: 'pkcs8' });
  const cert = Buffer.from(entry.cert, 'base64');
  return {
    selectJpki: async () => {},
    // The PIN is checked by the card itself (spec §5), not by anything on the provider's machine.
    verify: async () => {},
    readCertificate: async () => cert,
    sign: async (_which, data) => privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, data),
  };
}
const freeCards: Card[] =
  config.mode !== 'card'
    ? []
    : config.companion === 'key'
      ? (JSON.parse(readFileSync(config.keys, 'utf8')) as { key: string; cert: string }[]).map(keyCard)
      : config.cards.map((file) => new JpkiClient(new VirtualTransport(VirtualCard.open(file))));
const waitingForCard: ((card: Card) => void)[] = [];
const takeCard = (): Promise<Card> =>
  freeCards.length > 0 ? Promise.resolve(freeCards.pop()!) : new Promise((resolve) => waitingForCard.push(resolve));
const giveCard = (card: Card): void => {
  const next = waitingForCard.shift();
  if (next) next(card);
  else freeCards.push(card);
};

/** An HTTP answer, its body read whole (or, for a stream, not at all). */
interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * HTTP/1.1 on `node:http` with kept-alive connections: the browsers' and companions' requests cost this process
 * a fraction of what `fetch` (undici and WHATWG streams) costs, so on a machine whose cores the provider shares
 * with the load generator, more of the machine is left to the provider.
 */
/**
 * An idle kept-alive socket is dropped after 4 s, before the provider closes it at its `keepAliveTimeoutMs` (5 s): a
 * request sent on a socket the server is closing at that moment fails with "socket hang up", which a browser retries
 * by itself on a fresh connection and Node's agent does not. (Node's agent destroys only free sockets on timeout.)
 */
const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, timeout: 4000 });

function send(
  url: URL,
  init: { readonly method?: string; readonly headers?: OutgoingHttpHeaders; readonly body?: string } = {},
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent }, resolve);
    req.once('error', reject);
    req.end(init.body);
  });
}

async function exchange(
  url: URL,
  init?: { readonly method?: string; readonly headers?: OutgoingHttpHeaders; readonly body?: string },
): Promise<Answer> {
  const res = await send(url, init);
  res.setEncoding('utf8');
  let body = '';
  for await (const chunk of res) body += chunk as string;
  return { status: res.statusCode ?? 0, headers: res.headers, body };
}

/** openid-client's transport (discovery, token request) over the same connections. */
const customFetch: client.CustomFetch = async (url, options) => {
  const body = options.body;
  const text =
    body === undefined || body === null
      ? undefined
      : typeof body === 'string'
        ? body
        : body instanceof URLSearchParams
          ? body.toString()
          : Buffer.from(body as ArrayBuffer).toString('utf8');
  const answer = await exchange(new URL(url), { method: options.method, headers: options.headers, body: text });
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  return new Response(answer.body === '' && answer.status === 204 ? null : answer.body, {
    status: answer.status,
    headers,
  });
};

/** One browser's cookies (one host), and requests without automatic redirects. */
function browser() {
  const cookies = new Map<string, string>();
  const headersFor = (extra?: OutgoingHttpHeaders): OutgoingHttpHeaders =>
    cookies.size === 0 ? { ...extra } : { ...extra, cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  const keep = (headers: IncomingHttpHeaders) => {
    for (const line of headers['set-cookie'] ?? []) {
      const pair = line.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  };
  const follow = async (url: string | URL): Promise<{ url: URL; response: Answer }> => {
    let current = new URL(url);
    for (let hops = 0; hops < 10; hops++) {
      const res = await exchange(current, { headers: headersFor() });
      keep(res.headers);
      const location = res.headers.location;
      if (res.status < 300 || res.status >= 400 || location === undefined) return { url: current, response: res };
      const next = new URL(location, current);
      if (next.origin !== current.origin) return { url: next, response: res };
      current = next;
    }
    throw new Error('too many redirects');
  };
  /** Opens the page's event stream (the answer's body is read by {@link EventStream}). */
  const events = async (url: URL): Promise<EventStream> => {
    const res = await send(url, { headers: headersFor({ accept: 'text/event-stream' }) });
    keep(res.headers);
    if (res.statusCode !== 200) throw new Error(`event stream HTTP ${res.statusCode}`);
    return new EventStream(res);
  };
  return { follow, events };
}

const rp = await client.discovery(
  new URL(config.issuer),
  config.clientId,
  {},
  client.ClientSecretBasic(config.clientSecret),
  { execute: [client.allowInsecureRequests], [client.customFetch]: customFetch },
);

/** The steps of one login, with the time each took (ms), in order. */
type Steps = [string, number][];

async function login(steps: Steps): Promise<void> {
  let last = performance.now();
  const step = (name: string) => {
    const t = performance.now();
    steps.push([name, t - last]);
    last = t;
  };
  const b = browser();
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: config.redirectUri,
    scope: 'openid',
    // S256 (RFC 7636 §4.2) with node:crypto: openid-client's helper hashes through WebCrypto, a hop to the thread
    // pool and back that is the relying party's, not the provider's, and on a busy machine only adds noise.
    code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    ...(config.mode === 'card' ? { acr_values: 'urn:mynagate:acr:card-auth' } : {}),
  });
  let { url: at, response } = await b.follow(url);
  if (config.mode === 'card') {
    const page = response.body;
    step('authorize+page');
    if (response.status !== 200) throw new Error(`login page HTTP ${response.status}`);
    const link = /data-link="([^"]+)"/.exec(page)?.[1]?.replaceAll('&amp;', '&');
    if (link === undefined) throw new Error('no QR link');
    // The stream URL the page's script opens (it names the QR code already on the page).
    const eventsPath = /"events":("[^"]+")/.exec(page)?.[1];
    if (eventsPath === undefined) throw new Error('no event stream URL');
    const events = await b.events(new URL(JSON.parse(eventsPath) as string, at));
    step('events');
    try {
      const scanned = await exchange(new URL(link), { headers: { accept: 'application/json' } });
      if (scanned.status !== 200) throw new Error(`scan HTTP ${scanned.status}: ${scanned.body}`);
      const view = JSON.parse(scanned.body) as { txn: string; origin: string; challenge: string };
      step('scan');
      const card = await takeCard();
      let token;
      try {
        await card.selectJpki();
        token = await signLoginToken(card, { origin: view.origin, challenge: view.challenge, pin: config.pin });
      } finally {
        giveCard(card);
      }
      step('card');
      const posted = await exchange(new URL(`/companion/${view.txn}/token`, config.issuer), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(token),
      });
      if (posted.status !== 200) throw new Error(`token HTTP ${posted.status}: ${posted.body}`);
      step('token post');
      const done = (await events.next('done', 30_000)) as { redirect: string } | undefined;
      if (done === undefined) throw new Error('no done event');
      step('done event');
      ({ url: at, response } = await b.follow(done.redirect));
      if (!at.href.startsWith(config.redirectUri))
        throw new Error(`resume ended at ${at.pathname} with HTTP ${response.status}: ${response.body.slice(0, 200)}`);
    } finally {
      await events.close();
    }
  }
  step(config.mode === 'card' ? 'resume' : 'authorize');
  const tokens = await client.authorizationCodeGrant(rp, at, { pkceCodeVerifier: codeVerifier, expectedState: state });
  if (typeof tokens.claims()?.sub !== 'string') throw new Error('no sub');
  step('code→tokens');
}

const latencies: number[] = [];
const stepTimes = new Map<string, number[]>();
let errors = 0;
let firstError: string | undefined;
const start = performance.now();
const measureFrom = start + config.warmupMs;
const end = measureFrom + config.durationMs;

let finished = 0;
async function timed(): Promise<void> {
  const t = performance.now();
  const steps: Steps = [];
  try {
    await login(steps);
    finished++;
    if (t >= measureFrom && t < end) {
      latencies.push(performance.now() - t);
      for (const [name, ms] of steps) {
        let list = stepTimes.get(name);
        if (list === undefined) stepTimes.set(name, (list = []));
        list.push(ms);
      }
    }
  } catch (e) {
    if (t >= measureFrom && t < end) errors++;
    // The cause too: openid-client's 'invalid response encountered' says nothing of what was invalid.
    const cause = (e as { cause?: { message?: unknown } }).cause?.message;
    firstError ??= `${(e as Error).message}${typeof cause === 'string' ? `: ${cause}` : ''}`;
  }
}

const load = config.load;
if (load.kind === 'closed') {
  await Promise.all(
    Array.from({ length: load.concurrency }, async () => {
      while (performance.now() < end) await timed();
    }),
  );
} else {
  // Open loop: starts on a fixed schedule whatever the provider does, so queueing shows in the latencies.
  const inflight: Promise<void>[] = [];
  const interval = 1000 / load.rate;
  for (let next = start; next < end; next += interval) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(timed());
  }
  await Promise.all(inflight);
}

const quantile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
latencies.sort((a, b) => a - b);
const q = (p: number) => quantile(latencies, p);
const phases: Record<string, { p50Ms: number; p99Ms: number }> = {};
for (const [name, list] of stepTimes) {
  list.sort((a, b) => a - b);
  phases[name] = { p50Ms: quantile(list, 0.5), p99Ms: quantile(list, 0.99) };
}
const result: LoadResult = {
  completed: latencies.length,
  errors,
  ...(firstError !== undefined ? { firstError } : {}),
  perSecond: (latencies.length * 1000) / config.durationMs,
  p50Ms: q(0.5),
  p99Ms: q(0.99),
  finished,
  loadCpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
  phases,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
