/**
 * `mynagate bridge`: card login on the same computer. The login page's "use this computer's card reader" button
 * navigates the browser to `http://127.0.0.1:<port>/login?link=<companion link>&return=<login page>`; the bridge
 * opens the link itself (as a companion does), shows a small local page with the service and the origin it
 * verified and a PIN form, has the card in the PC/SC reader sign, posts the answer to the provider as a same-device
 * hand-over and sends the browser back to the login page with the one-time code the provider answered
 * (`?resume&code=…`): the login finishes only for a browser that brings the code and started the login, so a page
 * that sends the person here with the link of a login its own browser started gets nothing. The PIN goes only to
 * this process.
 *
 * Guards: it listens on 127.0.0.1 only and answers only requests whose Host is `127.0.0.1:<port>` (a DNS-rebinding
 * page has another Host); every form carries a per-transaction random token and a cross-site Origin is refused
 * (CSRF); the origin shown and signed for is the one the provider reported for the link and equal to the link's
 * own, and the return URL must be on that origin too (ERR_BRIDGE_ORIGIN), never what a page claims.
 *
 * The card's PIN is a local resource any local program can reach through this port: before each VERIFY the tries
 * left are read (an empty VERIFY spends none) and the bridge never spends the last one (ERR_BRIDGE_LAST_TRY), and a
 * form takes at most two wrong tries (it is shown again once).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';
import { CardPinBlockedError, SW } from '@mynagate/card';
import { isMynaGateError } from '@mynagate/errors';
import { isLoopbackHost } from '@mynagate/pki';
import { optional, port } from '../args.ts';
import {
  cardAnswer,
  companionLink,
  CompanionRemoteError,
  displayText,
  isSignView,
  openCard,
  post,
  reportCardFailure,
  scan,
  triesLeft,
  type CompanionView,
} from '../companion.ts';
import { BridgeError, codeOf, idpWording, UNKNOWN_WORDING, wordingOf, type Wording } from '../bridge-wording.ts';
import type { Parsed } from '../main.ts';
import { promptHidden } from '../secret.ts';
import { errorLine, UsageError } from '../output.ts';
import { listening } from '../system-error.ts';

/**
 * The default port: `BRIDGE_PORT` of `@mynagate/idp`, which the provider's login page links to unless configured
 * otherwise (`bridgePort`). Written here, not imported, so the bridge starts without loading the provider.
 */
const DEFAULT_BRIDGE_PORT = 24727;
/** How long a shown form stays usable. */
const PENDING_TTL_MS = 5 * 60_000;
/** At most this many forms are open at once (each GET of /login opens one). */
const MAX_PENDING = 16;
/** Wrong tries one form takes: the form is shown again once after a wrong PIN, never a second time. */
const MAX_WRONG_PER_FORM = 2;

/** One login handed over by a page: what the provider answered for the link, and the form's CSRF token. */
interface Pending {
  readonly id: string;
  readonly csrf: string;
  readonly link: URL;
  readonly back: URL;
  readonly view: CompanionView;
  readonly expiresAt: number;
  /** Wrong PINs posted from this form so far (at most {@link MAX_WRONG_PER_FORM}). */
  wrong: number;
}

/**
 * `mynagate bridge [--port 24727] [--reader NAME | --file CARD] [--pin-stdin] [--provider ORIGIN …]`: serves until
 * interrupted.
 */
export async function bridge(a: Parsed): Promise<void> {
  const listenPort = port(a, 'port', DEFAULT_BRIDGE_PORT);
  const file = optional(a, 'file');
  const reader = optional(a, 'reader');
  if (file !== undefined && reader !== undefined) throw new UsageError('give --file or --reader, not both');
  const pinStdin = a.values['pin-stdin'] === true;
  const lines = pinStdin ? stdinLines() : undefined;
  const providers = providerOrigins((a.values['provider'] as unknown as string[] | undefined) ?? []);

  const pending = new Map<string, Pending>();
  let card: Promise<unknown> = Promise.resolve();
  /** One card operation at a time: the reader is shared by every form. */
  const withCard = <T>(run: () => Promise<T>): Promise<T> => {
    const next = card.then(run, run);
    card = next.catch(() => undefined);
    return next;
  };

  let self = '';
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => fail(res, e));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // DNS rebinding: a page of evil.example resolved to 127.0.0.1 still sends Host: evil.example.
    if (req.headers.host !== self.slice('http://'.length)) {
      throw new BridgeError('ERR_BRIDGE_HOST', `requests must be addressed to ${self}`, 403);
    }
    const url = new URL(req.url ?? '/', self);
    const now = Date.now();
    for (const [id, p] of pending) if (p.expiresAt <= now) pending.delete(id);

    if (url.pathname === '/login' && (req.method === 'GET' || req.method === 'HEAD')) {
      // The hand-over is the login page sending the person here (a top-level navigation). Any page can make a
      // browser request this URL from an <img> or a fetch, which made the bridge fetch links it chose and pushed the
      // person's pending forms out: a browser names such requests (Fetch Metadata), and they are refused.
      const dest = req.headers['sec-fetch-dest'];
      if (dest !== undefined && dest !== 'document') {
        throw new BridgeError('ERR_BRIDGE_REQUEST', 'the hand-over must be a page the browser opens', 403);
      }
      const { link, back } = handover(url);
      // Any web page can send the person here with a link to its own server, which would name a bank as the
      // service and take the PIN, a signature, or the signing certificate (the basic-4): only the providers the
      // person named, or without --provider one on this computer (development), get a form; nothing is fetched.
      if (providers === undefined ? !isLoopbackHost(link.hostname) : !providers.has(link.origin)) {
        throw new BridgeError(
          'ERR_BRIDGE_PROVIDER',
          `${link.origin} is not a login server this bridge was started for (--provider ORIGIN)`,
          403,
        );
      }
      const view = await scan(link).catch((e: unknown) => {
        if ((e as { code?: unknown }).code === 'ERR_CLI_COMPANION_ORIGIN') {
          throw new BridgeError('ERR_BRIDGE_ORIGIN', (e as Error).message, 400);
        }
        throw e;
      });
      // The bridge is on the computer of the browser that hands over, so the provider sees the two on one network. A
      // signature's result goes to the browser that opened the signing page, not back through this one: a signing
      // link whose page was opened on another network is one a page relayed here from its own browser, to have this
      // person sign a statement that gives that browser their verified identity. Refused before the form. (A login's
      // result comes back to this browser only, through the hand-over code: relaying one gains nothing.)
      if (isSignView(view) && view.network !== 'same') {
        throw new BridgeError(
          'ERR_BRIDGE_OTHER_NETWORK',
          'the signing page was opened on another network than this computer; refusing to sign',
          403,
        );
      }
      if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value!);
      const p: Pending = {
        id: randomBytes(16).toString('base64url'),
        csrf: randomBytes(32).toString('base64url'),
        link,
        back,
        view,
        expiresAt: now + PENDING_TTL_MS,
        wrong: 0,
      };
      pending.set(p.id, p);
      // The tries left, on the form before any PIN is typed (an empty VERIFY spends none); none or one left is told
      // there too, as the post would refuse it. A card that cannot be read now is told at the post, where it counts.
      const left = await withCard(async () => {
        const transport = await openCard({ file, reader });
        try {
          return await triesLeft(transport, view);
        } finally {
          await transport.close();
        }
      }).catch(() => undefined);
      const refusal = left === 0 ? new CardPinBlockedError(SW.AUTH_BLOCKED) : left === 1 ? lastTry() : undefined;
      const problem = refusal === undefined ? undefined : await wordingOf(refusal, view);
      sendHtml(res, 200, formPage(p, pinStdin, problem, left), { back: p.back });
      return;
    }
    const m = /^\/login\/([A-Za-z0-9_-]{22})$/.exec(url.pathname);
    if (m !== null && req.method === 'POST') {
      // A cross-site form post carries its own Origin; ours is this bridge's.
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== self) {
        throw new BridgeError('ERR_BRIDGE_CSRF', 'the form was not posted from this bridge', 403);
      }
      const form = await readForm(req);
      const p = pending.get(m[1]!);
      if (p === undefined) throw new BridgeError('ERR_BRIDGE_NOT_FOUND', 'no such login here (expired?)', 404);
      if (!sameSecret(form.get('csrf') ?? '', p.csrf)) {
        throw new BridgeError('ERR_BRIDGE_CSRF', 'the form token is missing or wrong', 403);
      }
      let body: unknown;
      try {
        // One form at a time at the card, its PIN line included: the tries read stay true up to its VERIFY, and the
        // terminal asks for one PIN at a time.
        body = await withCard(async () => {
          const transport = await openCard({ file, reader });
          try {
            checkTriesLeft(await triesLeft(transport, p.view));
            if (p.wrong >= MAX_WRONG_PER_FORM) {
              throw new BridgeError('ERR_BRIDGE_NOT_FOUND', 'this form took its wrong tries; start again', 404);
            }
            const secret = lines !== undefined ? await lines.next(pinPrompt(p.view)) : (form.get('pin') ?? '');
            return await cardAnswer(transport, p.view, secret);
          } finally {
            await transport.close();
          }
        });
      } catch (e) {
        // A wrong or malformed PIN: show the form again with the tries left, once; the login stays open. A wrong PIN
        // that leaves one try is told as the last try, which the bridge will not spend.
        if (isMynaGateError(e) && (e.code === 'ERR_CARD_PIN_INCORRECT' || e.code === 'ERR_CARD_PIN_FORMAT')) {
          process.stderr.write(`${e.code}: ${e.message}\n`);
          const left = (e as { retriesLeft?: unknown }).retriesLeft;
          if (e.code === 'ERR_CARD_PIN_INCORRECT') p.wrong += 1;
          if (typeof left === 'number' && left <= 1) throw new Refused(lastTry(), p);
          if (p.wrong >= MAX_WRONG_PER_FORM) throw new Refused(e, p);
          const shown = typeof left === 'number' ? left : undefined;
          sendHtml(res, 400, formPage(p, pinStdin, await wordingOf(e, p.view), shown), { back: p.back });
          return;
        }
        await reportCardFailure(p.link, p.view, e);
        throw new Refused(e, p);
      }
      pending.delete(p.id);
      const back = await post(p.link, p.view, body, { handover: !isSignView(p.view) }).then(
        (answer) => (isSignView(p.view) ? p.back : withCode(p.back, answer)),
        (e: unknown) => Promise.reject(new Refused(e, p)),
      );
      process.stderr.write(
        `ok: ${displayText(p.view.clientName)} (${displayText(p.view.clientOrigin)}) via ${displayText(p.view.origin)}\n`,
      );
      // The code in `location` is for this browser only: no referrer carries it on.
      res.writeHead(303, {
        location: back.href,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
        'content-length': 0,
      });
      res.end();
      return;
    }
    throw new BridgeError('ERR_BRIDGE_NOT_FOUND', `no such page: ${req.method} ${url.pathname}`, 404);
  }

  await listening(
    '127.0.0.1',
    listenPort,
    () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listenPort, '127.0.0.1', () => resolve());
      }),
  );
  self = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  // Listening for the signals before saying so: a stop sent on that line is always a clean one.
  const signalled = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write(`mynagate bridge: listening on ${self}\n`);
  // The wording is loaded now, in the background, so the first error page does not wait for it.
  void idpWording().catch(() => undefined);
  await signalled;
  lines?.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * The origins of `--provider`, each `https://host[:port]` (plain http only on this computer: localhost, 127.0.0.1 or
 * [::1], the one loopback rule of `isLoopbackHost`); `undefined` when none was given.
 *
 * @throws UsageError for anything else.
 */
function providerOrigins(values: readonly string[]): ReadonlySet<string> | undefined {
  if (values.length === 0) return undefined;
  const origins = new Set<string>();
  for (const value of values) {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (url === undefined || url.origin !== value.replace(/\/$/, '') || !/^https?:$/.test(url.protocol)) {
      throw new UsageError(`--provider ${value} is not an origin (https://host[:port])`);
    }
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      throw new UsageError(
        `--provider ${value}: plain http only for a server on this computer (localhost, 127.0.0.1 or [::1])`,
      );
    }
    origins.add(url.origin);
  }
  return origins;
}

/**
 * The link and return URL of `/login?link&return`: a companion link, and a return URL on the same origin (the
 * login page that handed over its own transaction).
 *
 * @throws BridgeError `ERR_BRIDGE_REQUEST` (missing or malformed), `ERR_BRIDGE_ORIGIN` (origins differ).
 */
function handover(url: URL): { link: URL; back: URL } {
  const linkText = url.searchParams.get('link');
  const backText = url.searchParams.get('return');
  if (linkText === null || backText === null) {
    throw new BridgeError('ERR_BRIDGE_REQUEST', 'link and return are required', 400);
  }
  let link: URL;
  let back: URL;
  try {
    link = companionLink(linkText);
    back = new URL(backText);
  } catch (e) {
    throw new BridgeError('ERR_BRIDGE_REQUEST', (e as Error).message, 400);
  }
  if (back.origin !== link.origin) {
    throw new BridgeError(
      'ERR_BRIDGE_ORIGIN',
      `the return address ${back.origin} is not on the link's origin ${link.origin}; refusing`,
      400,
    );
  }
  // A login's way back carries its one-time code: only to the login page's own `?resume` address, never to another
  // page of that origin that a link could name.
  if (
    !link.pathname.startsWith('/companion/sign/') &&
    !(/^\/interaction\/[^/]+$/.test(back.pathname) && back.search === '?resume')
  ) {
    throw new BridgeError(
      'ERR_BRIDGE_REQUEST',
      'the return address is not a login page (/interaction/<id>?resume)',
      400,
    );
  }
  return { link, back };
}

/**
 * The login page's address with the provider's one-time hand-over code (`?resume&code=…`).
 *
 * @throws CompanionRemoteError `ERR_CLI_COMPANION_RESPONSE` when the answer carries no code.
 */
function withCode(back: URL, answer: unknown): URL {
  const code = (answer as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(code)) {
    throw new CompanionRemoteError('ERR_CLI_COMPANION_RESPONSE', "the server's answer lacks the hand-over code", 200);
  }
  return new URL(`${back.search}&code=${code}`, back);
}

/**
 * Refuses a VERIFY that could lock the card: none when the PIN is locked already (the card's own refusal, as a
 * VERIFY would have given it), and none with one try left, which the person spends where they type the PIN
 * knowingly (JPKI spec §4.3, ISO 7816-4 VERIFY without data: the card answers the counter, 63Cx, and spends none).
 *
 * @throws CardPinBlockedError (`ERR_CARD_PIN_BLOCKED`), BridgeError (`ERR_BRIDGE_LAST_TRY`).
 */
function checkTriesLeft(left: number): void {
  if (left === 0) throw new CardPinBlockedError(SW.AUTH_BLOCKED);
  if (left <= 1) throw lastTry();
}

function lastTry(): BridgeError {
  return new BridgeError('ERR_BRIDGE_LAST_TRY', 'one try left before the card locks the PIN; not spent here', 409);
}

/**
 * The local page: who asks, for which origin (the verified one), the tries left when known (`left`), and the PIN or
 * password field.
 */
function formPage(p: Pending, pinStdin: boolean, problem?: Wording, left?: number): string {
  const sign = isSignView(p.view);
  const what = sign
    ? '署名用電子証明書のパスワード（英字と数字を1文字以上ずつ含む6〜16文字）/ Signing password (6-16 letters and digits, at least one of each)'
    : '利用者証明用暗証番号（数字4桁）/ Auth PIN (4 digits)';
  const tries =
    left === undefined
      ? ''
      : `<p>${sign ? 'パスワードの残り回数 / Password tries left' : '暗証番号の残り回数 / PIN tries left'}: <strong id="tries-left">${left}</strong></p>\n`;
  const field = pinStdin
    ? '<p>暗証番号はターミナルで入力します（サービス名を確かめてから）。<span class="en" lang="en">Type the PIN in the terminal running mynagate bridge, once it names this service.</span></p>'
    : `<label>${esc(what)}<br><input type="password" name="pin" autocomplete="off" autofocus required></label>`;
  const statement = sign
    ? `<blockquote id="statement">${esc(displayText(p.view.statement.text.ja))}<br><span lang="en">${esc(displayText(p.view.statement.text.en))}</span></blockquote>`
    : '';
  return htmlPage(`<h1>カードリーダーで${sign ? '署名' : 'ログイン'}<span class="en" lang="en">${sign ? 'Sign' : 'Log in'} with this computer's card reader</span></h1>
<p>サービス / Service: <strong id="client-name">${esc(displayText(p.view.clientName))}</strong> (<span id="client-origin">${esc(displayText(p.view.clientOrigin))}</span>)</p>
<p>署名先 / Signed for: <strong id="origin">${esc(displayText(p.view.origin))}</strong></p>
${statement}${tries}${problem === undefined ? '' : problemHtml(problem)}
<form method="post" action="/login/${p.id}">
<input type="hidden" name="csrf" value="${p.csrf}">
${field}
<button type="submit">${sign ? '署名する / Sign' : 'ログイン / Log in'}</button>
</form>
${backLink(p.back)}`);
}

/** A refusal while a form was open: its login page is known (and verified), so the error page links back to it. */
class Refused extends Error {
  readonly pending: Pending;
  constructor(cause: unknown, pending: Pending) {
    super('refused', { cause });
    this.pending = pending;
  }
}

function problemHtml(w: Wording): string {
  return `<p id="error" class="error">${esc(w.ja)}<span class="en" lang="en">${esc(w.en)}</span><small>エラーコード / Error code: <code>${esc(w.code)}</code></small></p>`;
}

/** The way back to the login page (verified: on the origin the provider reported), where other ways are offered. */
function backLink(back: URL | undefined): string {
  return back === undefined
    ? ''
    : `<p><a id="back" href="${esc(back.href)}">ログイン画面に戻る<span class="en" lang="en">Back to the login page (a phone, or cancel)</span></a></p>`;
}

function htmlPage(body: string): string {
  return `<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>MynaGate bridge</title>
<style>body{font-family:sans-serif;max-width:36em;margin:2em auto;line-height:1.6}.en{display:block;color:#57606a}.error{color:#a00}small{display:block}</style></head><body>
${body}</body></html>`;
}

/**
 * A page or error page: nothing loads from elsewhere, nothing frames it, no referrer leaves it. A page with the PIN
 * form (`back`: the login page it returns to) says `same-origin`, so that a browser's post of the form carries this
 * bridge's Origin (with `no-referrer` Chromium sends `Origin: null`, which the CSRF check must refuse), and allows the
 * form to end at the login page: CSP form-action applies to the redirect after the post too.
 */
function sendHtml(res: ServerResponse, status: number, doc: string, form?: { readonly back: URL }): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'${form === undefined ? '' : ` ${form.back.origin}`}; frame-ancestors 'none'; base-uri 'none'`,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': form === undefined ? 'no-referrer' : 'same-origin',
    'content-length': Buffer.byteLength(doc),
  });
  res.end(doc);
}

/** An error as a page in both languages, with the way back when the login page is known (and the line on stderr). */
function fail(res: ServerResponse, thrown: unknown): void {
  const pending = thrown instanceof Refused ? thrown.pending : undefined;
  const e = thrown instanceof Refused ? thrown.cause : thrown;
  process.stderr.write(`${errorLine(e)}\n`);
  if (res.headersSent) return void res.end();
  wordingOf(e, pending?.view)
    .catch((): Wording => ({ code: codeOf(e), status: 502, ...UNKNOWN_WORDING }))
    .then((w) => {
      if (res.headersSent) return void res.end();
      sendHtml(
        res,
        w.status,
        htmlPage(`<h1>${esc(w.ja)}<span class="en" lang="en">${esc(w.en)}</span></h1>
<p id="error">エラーコード / Error code: <code>${esc(w.code)}</code></p>
${backLink(pending?.back)}`),
      );
    });
}

/** An `application/x-www-form-urlencoded` body of at most 4 KiB. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  if (!/^application\/x-www-form-urlencoded(\s*;|$)/i.test(req.headers['content-type'] ?? '')) {
    throw new BridgeError('ERR_BRIDGE_REQUEST', 'expected a form post', 400);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 4096) throw new BridgeError('ERR_BRIDGE_REQUEST', 'form too large', 400);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * What the terminal says before it takes a PIN line: which login or signature the line will answer (any local
 * program can open a form here; the person must see whose it is before typing).
 */
function pinPrompt(view: CompanionView): string {
  const what = isSignView(view) ? '署名用パスワード / signing password' : '暗証番号 / PIN';
  return `${what}: ${displayText(view.clientName)} (${displayText(view.clientOrigin)}) via ${displayText(view.origin)}: `;
}

/**
 * `--pin-stdin`: one line of stdin per form submitted, each announced on stderr by {@link pinPrompt}. On a terminal
 * the line is read with echo off, so the PIN is never shown or kept in the scrollback; from a pipe, line by line.
 */
function stdinLines(): { next(prompt: string): Promise<string>; close(): void } {
  if (process.stdin.isTTY) {
    return { next: (prompt) => promptHidden(prompt), close: () => {} };
  }
  const rl = createInterface({ input: process.stdin, terminal: false });
  const iterator = rl[Symbol.asyncIterator]();
  return {
    async next(prompt) {
      process.stderr.write(`${prompt}\n`);
      const r = await iterator.next();
      if (r.done) throw new BridgeError('ERR_BRIDGE_REQUEST', 'stdin has no more PIN lines', 400);
      return r.value;
    },
    close: () => rl.close(),
  };
}
