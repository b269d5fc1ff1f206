/**
 * The virtual phone (development mode only): a newcomer completes a whole card login in one browser. The page opens
 * the QR link as a companion would (`GET /companion/:txn?t&c`), shows the service's name, origin and intent (and,
 * when the view's `network` is not `same`, the caution a companion shows for a login started on another network,
 * {@link NETWORK_CAUTION}), and asks for the PIN; the server then drives a virtual card through `JpkiClient` (real
 * APDUs, PIN counters, card-side RSA signature) and submits the token through the same code as
 * `POST /companion/:txn/token`.
 *
 * For eKYC (a `/companion/sign/…` link) it shows the statement (and, when the view's `network` is not `same`, {@link
 * SIGN_NETWORK_CAUTION}) and asks for the signing certificate's password; the card then signs the statement it
 * showed, named by its nonce as a companion names it (`POST /dev/phone/sign-statement`, in `ekyc/pages.ts`).
 *
 * The PIN or password is a test card's, typed by the developer; it is used once and never stored or logged.
 */
import { randomBytes } from 'node:crypto';
import { SIGN_NETWORK_CAUTION } from '../ekyc/pages.ts';
import { cardLoginDeps, COMPANION_DONE, logRefusals, NETWORK_CAUTION } from '../interactions/companion.ts';
import type { InteractionContext } from '../interactions/context.ts';
import { sendPage } from '../interactions/login-page.ts';
import { readJson, sendJson, type Handler } from '../interactions/router.ts';
import { IdpBadRequestError } from '../errors.ts';
import { submitCardToken } from '../card-login.ts';
import type { DevConfig } from '../config.ts';
import { html, page, raw, scriptJson, SHOW_STATUS_SCRIPT } from '../lib/html.ts';
import { stderrLog, type EventLog } from '../lib/log.ts';
import { signLoginToken } from '../login-token.ts';
import { openVirtualCard } from './virtual-card.ts';

/** `GET /dev/phone`: the page. */
export function devPhonePage(context: InteractionContext, dev: DevConfig): Handler {
  return async (_req, res) => {
    const nonce = randomBytes(16).toString('base64');
    const body = html`<h1>仮想スマートフォン（開発用）<span class="en" lang="en">Virtual phone (development)</span></h1>
      <p>
        実在しないテスト用カードだけが使えます。<span class="en" lang="en"
          >Only fake test cards are available here.</span
        >
      </p>
      <form id="scan-form">
        <label for="link">QRコードのリンク / QR code link</label>
        <input id="link" name="link" size="40" autocomplete="off" />
        <button type="submit" class="secondary">読み取る / Scan</button>
      </form>
      <dl id="view" hidden>
        <dt>サービス / Service</dt>
        <dd id="client-name"></dd>
        <dt>接続元 / From</dt>
        <dd id="client-origin"></dd>
        <dt>署名先 / Signed for</dt>
        <dd id="origin"></dd>
        <dt>目的 / Intent</dt>
        <dd id="intent"></dd>
      </dl>
      <p id="network-caution" class="status error" role="alert" hidden>
        <strong>注意 / Caution:</strong> ${NETWORK_CAUTION.ja}<span class="en" lang="en">${NETWORK_CAUTION.en}</span>
      </p>
      <p id="sign-network-caution" class="status error" role="alert" hidden>
        <strong>注意 / Caution:</strong> ${SIGN_NETWORK_CAUTION.ja}<span class="en" lang="en"
          >${SIGN_NETWORK_CAUTION.en}</span
        >
      </p>
      <form id="sign-form" hidden>
        <fieldset>
          <legend>カード / Card</legend>
          ${dev.cards.map((c, i) => html`<label><input type="radio" name="card" value="${i}" ${i === 0 ? raw('checked') : ''} /> ${c.label}</label>`)}
        </fieldset>
        <label for="pin"
          >利用者証明用電子証明書の暗証番号（数字4桁）/ PIN of the user authentication certificate (4 digits)</label
        >
        <input id="pin" name="pin" type="password" inputmode="numeric" maxlength="4" autocomplete="off" required />
        <p><button id="sign" type="submit">カードで署名してログイン / Sign with the card and log in</button></p>
      </form>
      <form id="statement-form" hidden>
        <p id="statement-ja"></p>
        <p id="statement-en" class="en" lang="en"></p>
        <fieldset>
          <legend>カード / Card</legend>
          ${dev.cards.map((c, i) => html`<label><input type="radio" name="card" value="${i}" ${i === 0 ? raw('checked') : ''} /> ${c.label}</label>`)}
        </fieldset>
        <label for="password"
          >署名用電子証明書のパスワード（英数字6〜16文字）/ Password of the signing certificate (6-16 letters and
          digits)</label
        >
        <input id="password" name="password" type="password" maxlength="16" autocomplete="off" required />
        <p><button id="sign-statement" type="submit">この内容に署名する / Sign this statement</button></p>
      </form>
      <div class="status" id="status" role="status" aria-live="polite">
        QRコードのリンクを待っています。<span class="en" lang="en">Waiting for a QR code link.</span>
      </div>`;
    const doc = page({
      title: '仮想スマートフォン / Virtual phone',
      body,
      nonce,
      script: html`const cfg =
      ${scriptJson({ intent: { login: 'ログイン / Log in', sign: '本人確認の署名 / Identity signature' } })};
      ${raw(PHONE_SCRIPT)}`,
    });
    sendPage(res, doc, nonce);
  };
}

/**
 * `POST /dev/phone/sign`: `{ txn, origin, challenge, card, pin }` → sign with the virtual card, submit the token. A
 * refused token is written to `log` as one `login.refused` event, as `POST /companion/:txn/token` writes it (the
 * card's own refusals, e.g. a wrong PIN, are the developer's to read on the page: a companion keeps them too).
 *
 * @param log where the events go; default one JSON line on stderr (the server passes its `log`).
 */
export function devPhoneSign(context: InteractionContext, dev: DevConfig, log: EventLog = stderrLog): Handler {
  const openCard = dev.openCard ?? openVirtualCard;
  return async (req, res) => {
    const body = (await readJson(req)) as Record<string, unknown> | null;
    const txn = body?.['txn'];
    const origin = body?.['origin'];
    const challenge = body?.['challenge'];
    const index = body?.['card'];
    const pin = body?.['pin'];
    if (
      typeof txn !== 'string' ||
      typeof origin !== 'string' ||
      typeof challenge !== 'string' ||
      typeof pin !== 'string'
    ) {
      throw new IdpBadRequestError('txn, origin, challenge and pin are required');
    }
    const card = typeof index === 'number' && Number.isInteger(index) ? dev.cards[index] : undefined;
    if (card === undefined) throw new IdpBadRequestError('no such card');
    const opened = await openCard(card.file);
    let token;
    try {
      token = await signLoginToken(opened.card, { origin, challenge, pin, appVersion: 'mynagate-dev-phone/0.1.0' });
    } finally {
      await opened.close();
    }
    const signed = token;
    await logRefusals(context, log, txn, () => submitCardToken(cardLoginDeps(context), txn, signed));
    sendJson(res, 200, { status: 'ok', message: COMPANION_DONE });
  };
}

const PHONE_SCRIPT = `${SHOW_STATUS_SCRIPT}
const $ = (id) => document.getElementById(id);
let view = null;
async function scan(link) {
  let url;
  try { url = new URL(link, location.origin); } catch { return show('リンクが正しくありません。', 'The link is not valid.', 'error'); }
  if (url.origin !== location.origin || !url.pathname.startsWith('/companion/')) {
    return show('このサーバーのQRコードではありません。', 'This QR code is not from this server.', 'error');
  }
  const r = await fetch(url.pathname + url.search, { headers: { accept: 'application/json' } });
  const b = await r.json();
  if (!r.ok) return show(b.message.ja, b.message.en, 'error');
  view = b;
  $('client-name').textContent = b.clientName;
  $('client-origin').textContent = b.clientOrigin;
  $('origin').textContent = b.origin;
  $('intent').textContent = cfg.intent[b.intent] || b.intent;
  $('view').hidden = false;
  // A login or a signature started on another network (fail closed: anything but 'same'), as a relayed QR code is:
  // said before the PIN or the password.
  $('network-caution').hidden = b.intent === 'sign' || b.network === 'same';
  $('sign-network-caution').hidden = b.intent !== 'sign' || b.network === 'same';
  if (b.intent === 'sign') {
    // eKYC (ekyc/pages.ts): show the statement the card will sign, ask for the signing certificate's password.
    $('statement-ja').textContent = b.statement.text.ja;
    $('statement-en').textContent = b.statement.text.en;
    $('sign-form').hidden = true;
    $('statement-form').hidden = false;
    if (!$('sign-network-caution').hidden) {
      // No focus on the password: the caution comes first.
      return show('上の注意を読んでください。続けるときだけパスワードを入力してください。', 'Read the caution above. Enter the password only if you continue.');
    }
    $('password').focus();
    return show('文面を確かめて、署名用電子証明書のパスワードを入力してください。', 'Read the statement, then enter the signing certificate password.');
  }
  $('statement-form').hidden = true;
  $('sign-form').hidden = false;
  if (!$('network-caution').hidden) {
    // No focus on the PIN: the caution comes first.
    return show('上の注意を読んでください。続けるときだけ暗証番号を入力してください。', 'Read the caution above. Enter the PIN only if you continue.');
  }
  $('pin').focus();
  show('サービス名を確かめて、暗証番号を入力してください。', 'Check the service name, then enter the PIN.');
}
$('statement-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!view) return;
  const card = Number(new FormData($('statement-form')).get('card'));
  const password = $('password').value;
  $('password').value = '';
  $('sign-statement').disabled = true;
  show('カードと通信しています…', 'Talking to the card…');
  try {
    const r = await fetch('/dev/phone/sign-statement', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // The statement shown, by its nonce: the server signs and posts it only while it is the outstanding one.
      body: JSON.stringify({ txn: view.txn, nonce: view.statement.nonce, card, password }),
    });
    const b = await r.json();
    show(b.message.ja, b.message.en, r.ok ? 'done' : 'error');
  } finally {
    $('sign-statement').disabled = false;
  }
});
$('scan-form').addEventListener('submit', (e) => { e.preventDefault(); scan($('link').value); });
$('sign-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!view) return;
  const card = Number(new FormData($('sign-form')).get('card'));
  const pin = $('pin').value;
  $('pin').value = '';
  $('sign').disabled = true;
  show('カードと通信しています…', 'Talking to the card…');
  try {
    const r = await fetch('/dev/phone/sign', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ txn: view.txn, origin: view.origin, challenge: view.challenge, card, pin }),
    });
    const b = await r.json();
    show(b.message.ja, b.message.en, r.ok ? 'done' : 'error');
  } finally {
    $('sign').disabled = false;
  }
});
if (location.hash.length > 1) {
  const link = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, '', location.pathname);
  $('link').value = link;
  scan(link);
}
`;
