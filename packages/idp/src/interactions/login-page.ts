/**
 * `GET /interaction/:uid`: the card login page. It starts a login transaction bound to this browser, shows the
 * animated QR code and listens on `/interaction/:uid/events` for the outcome. `POST /interaction/:uid/abort` cancels
 * (the relying party gets `access_denied`).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isMynaGateError } from '@mynagate/errors';
import { clientOriginLabel } from '../client-origin.ts';
import { loginIsConsent } from '../consent/login-grant.ts';
import { formAction } from '../http-errors.ts';
import { html, page, raw, scriptJson, type Raw } from '../lib/html.ts';
import type { LoginTransaction } from '../login-transaction.ts';
import { readBinding, setBinding } from './browser-binding.ts';
import { interactionFor, type InteractionContext } from './context.ts';
import { QR_PAGE_SCRIPT, type QrPageTexts } from './qr-events.ts';
import { qrSvg } from './qr-svg.ts';
import type { Handler } from './router.ts';

const LOGIN_TEXTS: QrPageTexts = {
  scanned: [
    'スマートフォンで暗証番号を入力し、カードをかざしてください。',
    'Enter your PIN on the phone and hold your card to it.',
  ],
  expiring: [
    'あと1分ほどでこのQRコードは使えなくなります。間に合わないときは「QRコードを再表示」を押してください。',
    'This QR code stops working in about a minute. If you need more time, press “Show a new QR code”.',
  ],
  expired: [
    'ログインの受付時間が過ぎたため、QRコードを消しました。QRコードを再表示するか、サービスの画面からやり直してください。',
    'This login has expired and its QR code was removed. Show a new QR code, or start again from the service.',
  ],
  done: ['ログインしました。サービスに戻ります…', 'Logged in. Returning to the service…'],
};

/** The login page handler. */
export function loginPage(context: InteractionContext): Handler {
  return async (req, res, params, url) => {
    const uid = params['uid']!;
    // Back from `mynagate bridge` with the code of the login it handed over: taken first, so that a browser which did
    // not start the login is told so and the code is used up. (One without even the interaction's cookie is refused
    // before this page, where the router loads the interaction: server.ts byPrompt.)
    const handedOver = await handedOverLogin(context, req, uid, url);
    const details = await interactionFor(context, req, res, uid);
    const clientId = String(details.params['client_id']);
    const client = await context.provider().Client.find(clientId);
    const clientName = client?.clientName ?? clientId;
    // Its origin, or the app a native client's private-use redirect names (never "null").
    const clientOrigin = clientOriginLabel(details.params['redirect_uri']);
    // Back from `mynagate bridge` (`?resume`): this browser's open transaction goes on, so the outcome the bridge
    // handed over reaches its event stream; a new transaction would orphan it.
    const resumed =
      handedOver ?? (url.searchParams.has('resume') ? await ownedTransaction(context, req, uid) : undefined);
    const transaction =
      resumed ??
      (await startTransaction(context, res, {
        uid,
        clientId,
        clientName,
        clientOrigin,
        // The browser's network, as a keyed tag (never its address), for the companion's scan to compare.
        network: context.networkOf(req),
        // Whether the login will save a grant as the consent: its token post then names that grant (card-login.ts).
        standsAsConsent: loginIsConsent(details.params),
      }));
    const { t, link } = context.transactions.currentLink(transaction);
    const bridgeReturn = new URL(`/interaction/${encodeURIComponent(uid)}?resume`, context.config.origin).href;
    const svg = await qrSvg(link);
    const nonce = randomBytes(16).toString('base64');
    const dev = context.config.dev !== false;
    const back = serviceReturn(details.params, context.config.issuer);
    const body = html`<h1>マイナンバーカードでログイン<span class="en" lang="en">Log in with your My Number Card</span></h1>
<p><strong id="client-name">${clientName}</strong> (<span id="client-origin">${clientOrigin}</span>) へのログインです。
<span class="en" lang="en">You are logging in to ${clientName}.</span></p>
<ol>
<li>スマートフォンのMynaGateアプリでQRコードを読み取ってください。<span class="en" lang="en">Scan the QR code with the MynaGate app on your phone.</span></li>
<li>アプリに表示されたサービス名を確かめ、利用者証明用電子証明書の暗証番号（数字4桁）を入力してカードをかざしてください。<span class="en" lang="en">Check the service name shown in the app, enter the PIN of your user authentication certificate (4 digits) and hold your card to the phone.</span></li>
</ol>
${noScriptNotice(uid)}
<div class="qr" id="qr" role="img" aria-label="${QR_LABEL}" data-link="${link}">${raw(svg)}</div>
<p>QRコードは1秒ごとに変わります。写真やスクリーンショットでは使えません。<span class="en" lang="en">The QR code changes every second; a photo or screenshot will not work.</span></p>
<div class="status" id="status" role="status" aria-live="polite">QRコードの読み取りを待っています…<span class="en" lang="en">Waiting for the QR code to be scanned…</span></div>
${qrExpiryActions(back)}
<p id="qr-ways">${dev ? html`<a id="dev-phone" class="button secondary" target="_blank" rel="opener" href="/dev/phone#${encodeURIComponent(link)}">仮想スマートフォンで開く（開発用）/ Open the virtual phone (development)</a> ` : ''}
<a id="bridge" class="button secondary" data-return="${bridgeReturn}" href="${bridgeHref(context.config.bridgePort, link, bridgeReturn)}">このパソコンのカードリーダーを使う / Use this computer's card reader</a>
<form id="cancel" method="post" action="/interaction/${uid}/abort" style="display:inline"><button class="secondary" type="submit">キャンセル / Cancel</button></form></p>`;
    const doc = page({
      title: 'マイナンバーカードでログイン / Log in with My Number Card',
      body,
      nonce,
      // `t`: the code already on the page, so the stream does not send it again.
      script: html`const cfg =
      ${scriptJson({
        events: `/interaction/${uid}/events?t=${t}`,
        texts: LOGIN_TEXTS,
        ...qrDeadlines(context, transaction.expiresAt, details),
      })};
      ${raw(QR_PAGE_SCRIPT)}`,
    });
    // Cancel answers with a redirect to the service (through /auth/:uid): form-action must allow its origin.
    sendPage(res, doc, nonce, [String(details.params['redirect_uri'])]);
  };
}

/** The QR code's accessible name: what it is for, and the way without a phone. */
const QR_LABEL =
  'ログイン用のQRコード。スマートフォンのMynaGateアプリで読み取ります。スマートフォンを使えないときは「このパソコンのカードリーダーを使う」を選んでください。 / ' +
  "Login QR code for the MynaGate app on your phone. Without a phone, choose “Use this computer's card reader”.";

/** Without script the QR code never changes (a stale one is refused) and the login never finishes: say so. */
export function noScriptNotice(uid: string): Raw {
  return html`<noscript
    ><p class="status error" id="noscript">
      このページはJavaScriptを使います。QRコードは1秒ごとに変わり、ログインの完了もJavaScriptで知らせるため、JavaScriptが無効だと表示中のQRコードはすぐに使えなくなります。JavaScriptを有効にしてから<a
        href="/interaction/${uid}"
        >ページを再読み込み</a
      >してください。<span class="en" lang="en"
        >This page needs JavaScript: the QR code changes every second and the page learns the outcome by script, so
        without it the code shown soon stops working. Turn JavaScript on, then
        <a href="/interaction/${uid}">reload the page</a>.</span
      >
    </p></noscript
  >`;
}

/**
 * Where "back to the service" goes once the page can no longer cancel through the provider (the interaction may be
 * gone): the client's redirect_uri with `error=access_denied`, the request's `state` and `iss` (RFC 6749 §4.1.2.1,
 * RFC 9207), computed from the interaction's validated parameters. Only for the query response mode (the default of
 * the code flow): for another mode there is no plain link to give, and the page says to start again at the service.
 */
export function serviceReturn(params: Record<string, unknown>, issuer: string): string | undefined {
  const mode = params['response_mode'];
  if (mode !== undefined && mode !== 'query') return undefined;
  let url: URL;
  try {
    url = new URL(String(params['redirect_uri']));
  } catch {
    return undefined;
  }
  url.searchParams.set('error', 'access_denied');
  url.searchParams.set('error_description', 'End-User did not finish the card login in time');
  if (typeof params['state'] === 'string') url.searchParams.set('state', params['state']);
  url.searchParams.set('iss', issuer);
  return url.href;
}

/**
 * The buttons a QR page shows when its code is about to expire or has expired ({@link QR_PAGE_SCRIPT} reveals them):
 * a new code (reload) while the interaction lives, and the way back to the service.
 */
export function qrExpiryActions(back: string | undefined): Raw {
  return html`<p id="qr-expiry" hidden>
    <button type="button" id="qr-reload">QRコードを再表示 / Show a new QR code</button>
    ${back === undefined ? '' : html`<a id="back-to-service" class="button secondary" href="${back}">サービスに戻る / Back to the service</a>`}
  </p>`;
}

/**
 * When the page's code stops working, in ms from now: `expiresIn` (the transaction's end: the stream then sends
 * `expired`) and `closesIn` (the interaction's end: after it, reloading or cancelling no longer works); and
 * `reshowIn`, in ms from a scan, when the page shows the code again if nothing followed the scan (the challenge's
 * lifetime: the companion's challenge has expired by then, see {@link QR_PAGE_SCRIPT}).
 */
export function qrDeadlines(
  context: InteractionContext,
  expiresAt: number,
  details: { readonly exp?: unknown },
): { expiresIn: number; closesIn: number; reshowIn: number } {
  // node-oidc-provider stamps the interaction's `exp` (epoch seconds) by the wall clock, the transaction by `now`.
  const closesIn = typeof details.exp === 'number' ? details.exp * 1000 - Date.now() : expiresAt - context.config.now();
  const reshowIn = context.config.challengeTtlSeconds * 1000;
  return { expiresIn: Math.min(expiresAt - context.config.now(), closesIn), closesIn, reshowIn };
}

/** Starts a login transaction and binds it to this browser (cookie). */
async function startTransaction(
  context: InteractionContext,
  res: ServerResponse,
  input: {
    uid: string;
    clientId: string;
    clientName: string;
    clientOrigin: string;
    network: string | undefined;
    standsAsConsent: boolean;
  },
): Promise<LoginTransaction> {
  const { transaction, browserKey } = await context.transactions.start(input);
  setBinding(res, {
    txn: transaction.txn,
    key: browserKey,
    secure: context.config.secure,
    maxAgeSeconds: context.config.loginTtlSeconds,
  });
  return transaction;
}

/** This browser's still-open transaction of interaction `uid`, if its binding cookie proves it owns one. */
async function ownedTransaction(
  context: InteractionContext,
  req: IncomingMessage,
  uid: string,
): Promise<LoginTransaction | undefined> {
  const binding = readBinding(req, context.config.secure);
  if (binding === undefined) return undefined;
  return context.transactions.getOwned(binding.txn, binding.key, uid).catch(() => undefined);
}

/**
 * The login `mynagate bridge` handed over, when this request is its way back (`?resume&code=…`): it goes to this
 * browser's event stream only if this browser owns the transaction (its binding cookie). The bridge of the person
 * whose card signed may have been sent another browser's login link by a web page: that browser, which owns the
 * login, never gets the code, and the person's browser, which has the code, does not own it.
 *
 * A code already used by the owner (a reload) gives the owner's open transaction again.
 *
 * @throws `ERR_IDP_LOGIN_NOT_FOUND` (code unknown, used or expired, for a browser that owns no open transaction
 *   here), `ERR_IDP_HANDOVER_MISMATCH` (not the owner).
 */
async function handedOverLogin(
  context: InteractionContext,
  req: IncomingMessage,
  uid: string,
  url: URL,
): Promise<LoginTransaction | undefined> {
  const code = url.searchParams.get('code');
  if (code === null || !url.searchParams.has('resume')) return undefined;
  try {
    return await context.transactions.takeHandover(code, readBinding(req, context.config.secure)?.key, uid);
  } catch (e) {
    // A code already taken (this page reloaded, a tab restored, a retry after a 503): the owner's open transaction
    // goes on, where the outcome already waits; any other browser is refused as before.
    if (!isMynaGateError(e, 'ERR_IDP_LOGIN_NOT_FOUND')) throw e;
    const owned = await ownedTransaction(context, req, uid);
    if (owned === undefined) throw e;
    return owned;
  }
}

/** `mynagate bridge`'s entry: it opens `link` itself and sends the browser back to `back` afterwards. */
function bridgeHref(port: number, link: string, back: string): string {
  return `http://127.0.0.1:${port}/login?link=${encodeURIComponent(link)}&return=${encodeURIComponent(back)}`;
}

/** `POST /interaction/:uid/abort`: the person cancelled; the relying party receives `access_denied`. */
export function abortLogin(context: InteractionContext): Handler {
  return async (req, res, params) => {
    await interactionFor(context, req, res, params['uid']!);
    await context
      .provider()
      .interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User cancelled the card login' },
        { mergeWithLastSubmission: false },
      );
  };
}

/**
 * Sends a page with a CSP that allows only this page's script (by nonce) and its own origin. `redirects`: where a
 * form of the page may end (the client's redirect_uri), added to form-action (see {@link formAction}).
 */
export function sendPage(res: ServerResponse, doc: string, nonce: string, redirects: readonly string[] = []): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; ${formAction(redirects)}; frame-ancestors 'none'; base-uri 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-length': Buffer.byteLength(doc),
  });
  res.end(doc);
}
