/**
 * The demo service's pages: plain HTML, no script, Japanese first with English beside it. Every interpolated value
 * is escaped by the `html` tag. Three stories: the bank's sign-up, its transfers (large ones need a fresh card
 * login), and the liquor shop (another service, on its own origin) that learns only whether the buyer is 20 or
 * older.
 */
import type { DemoAccount } from './accounts.ts';
import { STEP_UP_THRESHOLD_YEN, type DemoTransfer } from './transfers.ts';

/** Escaped HTML text. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escape(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(escape).join('');
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** A tagged template that escapes every value except nested {@link Html}. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? escape(values[i]) : ''), ''));
}

const STYLE = `
body { font-family: system-ui, "Hiragino Sans", "Noto Sans CJK JP", sans-serif; max-width: 40rem; margin: 2rem auto;
  padding: 0 1rem; color: #1b1f24; line-height: 1.6; }
header { display: flex; align-items: baseline; gap: .75rem; border-bottom: 1px solid #d0d7de; margin-bottom: 1.5rem; }
header strong { font-size: 1.3rem; }
.en { display: block; color: #57606a; font-size: .9em; }
h1 .en { font-size: .6em; font-weight: normal; }
.button, button { display: inline-block; background: #0b5cad; color: #fff; border: 0; border-radius: .4rem;
  padding: .7rem 1.2rem; font-size: 1rem; text-decoration: none; cursor: pointer; }
.button .en { color: #dbe9f8; }
button.secondary { background: #eaeef2; color: #1b1f24; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; word-break: break-all; }
.notice { border-left: 4px solid #0b5cad; background: #f0f6fc; padding: .6rem 1rem; }
.error { border-left-color: #cf222e; background: #ffebe9; }
.ok { border-left-color: #1a7f37; background: #dafbe1; }
form.inline { display: inline; }
label { display: block; margin-top: .6rem; font-weight: 600; }
input { font-size: 1rem; padding: .4rem; }
nav { margin: 1.5rem 0; display: flex; gap: .75rem; flex-wrap: wrap; }
small { color: #57606a; }
`;

/** Which service of the demo a page belongs to (its header). */
export type Brand = 'bank' | 'shop';

const BRANDS: Record<Brand, { ja: string; en: string }> = {
  bank: { ja: 'デモ銀行', en: 'Demo Bank' },
  shop: { ja: 'デモ酒店', en: 'Demo Liquor Shop' },
};

/** A whole page. */
export function page(title: string, body: Html, brand: Brand = 'bank'): string {
  const b = BRANDS[brand];
  return `<!doctype html><html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title><style>${STYLE}</style></head><body>
<header><strong>${escape(b.ja)}</strong><span>${escape(b.en)}</span></header>
<main>${body.text}</main>
<footer><small>MynaGate のデモサービスです。実在しないテスト用カードだけで動きます。/ A MynaGate demo service; it works with fake test cards only.</small></footer>
</body></html>`;
}

const yen = (n: number) => `¥${n.toLocaleString('en-US')}`;

/** The landing page: what the bank asks for, the sign-up button, and the way to the shop. */
export function landingPage(): string {
  return page(
    'デモ銀行 / Demo Bank',
    html`<h1>口座を開設する<span class="en" lang="en">Open an account</span></h1>
      <p>
        口座の開設にはマイナンバーカードが必要です。カード1枚につき1口座です。
        <span class="en" lang="en">Opening an account requires your My Number Card: one card, one account.</span>
      </p>
      <p>
        当行が受け取るのは、当行専用の利用者ID（ペアワイズ識別子）だけです。氏名、住所、個人番号は受け取りません。
        <span class="en" lang="en"
          >We receive only an identifier made for this bank (a pairwise subject): no name, no address, no Individual
          Number.</span
        >
      </p>
      <p>
        <a id="signup" class="button" href="/signup"
          >マイナンバーカードで登録<span class="en" lang="en">Sign up with My Number Card</span></a
        >
      </p>
      <nav><a id="to-shop" href="/shop">デモ酒店へ（年齢確認のデモ）/ To the liquor shop (age check demo)</a></nav>`,
  );
}

/**
 * The account page after a card login: the account, its balance, the transfer form. `csrf`: the session's token,
 * carried by each of its forms.
 */
export function accountPage(
  account: DemoAccount,
  created: boolean,
  acr: string,
  balance: number,
  csrf: string,
): string {
  const greeting = created
    ? html`<p class="notice" id="greeting">
        口座を開設しました。<span class="en" lang="en">Your account is open.</span>
      </p>`
    : html`<p class="notice" id="greeting">
        おかえりなさい。このカードの口座はすでにあります。<span class="en" lang="en"
          >Welcome back: this card already has an account.</span
        >
      </p>`;
  return page(
    `${account.number} / Demo Bank`,
    html`<h1>あなたの口座<span class="en" lang="en">Your account</span></h1>
      ${greeting}
      <dl>
        <dt>口座番号 / Account</dt>
        <dd id="account-number">${account.number}</dd>
        <dt>利用者ID / Subject (pairwise)</dt>
        <dd id="sub">${account.sub}</dd>
        <dt>認証方式 / Authentication</dt>
        <dd id="acr">${acr}</dd>
        <dt>開設日時 / Opened</dt>
        <dd>${account.createdAt.toISOString()}</dd>
        <dt>ログイン回数 / Logins</dt>
        <dd id="logins">${account.logins}</dd>
        <dt>残高 / Balance</dt>
        <dd id="balance">${yen(balance)}</dd>
      </dl>
      <h2>振込<span class="en" lang="en">Transfer</span></h2>
      <p>
        ${yen(STEP_UP_THRESHOLD_YEN)}以下はこのままお振込みできます。それを超えるお振込みには、もう一度カードでのログインが必要です。
        <span class="en" lang="en"
          >Up to ${yen(STEP_UP_THRESHOLD_YEN)} goes through as you are; above it, the bank asks for your card
          again.</span
        >
      </p>
      <form method="post" action="/transfer" id="transfer-form">
        <input type="hidden" name="csrf" value="${csrf}" />
        <label for="payee">振込先 / Payee</label>
        <input id="payee" name="payee" maxlength="40" required />
        <label for="amount">金額（円）/ Amount (yen)</label>
        <input id="amount" name="amount" inputmode="numeric" maxlength="12" required />
        <p><button id="transfer" type="submit">振り込む / Transfer</button></p>
      </form>
      <nav>
        <a href="/shop">デモ酒店へ / To the liquor shop</a>
        <form class="inline" method="post" action="/logout">
          <input type="hidden" name="csrf" value="${csrf}" />
          <button class="secondary" type="submit">ログアウト / Log out</button>
        </form>
      </nav>`,
  );
}

/** A transfer that went through. */
export function transferDonePage(t: DemoTransfer, balance: number): string {
  return page(
    '振込完了 / Transfer done',
    html`<h1>振込が完了しました<span class="en" lang="en">Transfer done</span></h1>
      <p class="notice ok" id="transfer-result">
        ${t.payee} 様へ ${yen(t.amount)} を振り込みました。<span class="en" lang="en"
          >${yen(t.amount)} has been sent to ${t.payee}.</span
        >
      </p>
      <dl>
        <dt>カードでの再確認 / Fresh card login</dt>
        <dd id="fresh">
          ${
            t.freshCardLogin
              ? html`はい（${yen(STEP_UP_THRESHOLD_YEN)}超）<span class="en" lang="en"
                    >yes (over ${yen(STEP_UP_THRESHOLD_YEN)})</span
                  >`
              : html`いいえ（不要）<span class="en" lang="en">no (not needed)</span>`
          }
        </dd>
        <dt>残高 / Balance</dt>
        <dd id="balance">${yen(balance)}</dd>
      </dl>
      <p>
        <a class="button" id="back" href="/account">口座に戻る<span class="en" lang="en">Back to the account</span></a>
      </p>`,
  );
}

/**
 * The liquor shop: one product, one button. `bankUrl`: the bank, another service on another origin; `csrf`: the
 * session's token, carried by the form.
 */
export function shopPage(bankUrl: string, csrf: string): string {
  return page(
    'デモ酒店 / Demo Liquor Shop',
    html`<h1>純米酒 720ml ¥1,800<span class="en" lang="en">Junmai sake, 720 ml, ¥1,800</span></h1>
      <p>
        お酒の販売には20歳以上であることの確認が必要です（二十歳未満ノ者ノ飲酒ノ禁止ニ関スル法律）。
        <span class="en" lang="en">Selling alcohol requires checking that the buyer is 20 or older.</span>
      </p>
      <p>
        当店がマイナンバーカードで受け取るのは「20歳以上かどうか」（はい／いいえ）だけです。生年月日、氏名、住所は受け取りません。
        <span class="en" lang="en"
          >With your My Number Card the shop learns only whether you are 20 or older (yes / no): not your birth date,
          name or address.</span
        >
      </p>
      <form method="post" action="/buy">
        <input type="hidden" name="csrf" value="${csrf}" />
        <button id="buy" type="submit">
          カードで年齢を確認して購入<span class="en" lang="en">Check my age with the card and buy</span>
        </button>
      </form>
      <nav><a id="to-bank" href="${bankUrl}/">デモ銀行へ / To the bank</a></nav>`,
    'shop',
  );
}

/**
 * The result of the age check: the one boolean the shop received, the names of every other claim in the ID token
 * (protocol claims only), so the page itself shows that no birth date came with it, and the shop's own pairwise
 * `sub` (not the bank's for the same card).
 */
export function purchasePage(
  satisfied: boolean,
  receivedClaims: readonly string[],
  sub: string,
  bankUrl: string,
): string {
  const result = satisfied
    ? html`<p class="notice ok" id="purchase-result">
        お買い上げありがとうございます。<span class="en" lang="en">Thank you for your purchase.</span>
      </p>`
    : html`<p class="notice error" id="purchase-result">
        20歳未満の方にはお酒を販売できません。<span class="en" lang="en"
          >We cannot sell alcohol to anyone under 20.</span
        >
      </p>`;
  return page(
    '年齢確認 / Age check',
    html`<h1>年齢確認の結果<span class="en" lang="en">Age check result</span></h1>
      ${result}
      <h2>当店が受け取った情報<span class="en" lang="en">What the shop received</span></h2>
      <dl>
        <dt>20歳以上 / 20 or older</dt>
        <dd id="age-over-20">${satisfied ? 'はい / yes' : 'いいえ / no'}</dd>
        <dt>当店での利用者ID / Subject at this shop (pairwise)</dt>
        <dd id="sub">${sub}</dd>
        <dt>受け取った項目 / Claims received</dt>
        <dd id="received-claims">${receivedClaims.join(', ')}</dd>
      </dl>
      <p>
        生年月日・氏名・住所は受け取っていません。<span class="en" lang="en"
          >No birth date, name or address was received.</span
        >
      </p>
      <nav>
        <a href="/">お店に戻る / Back to the shop</a>
        <a href="${bankUrl}/">デモ銀行へ / To the bank</a>
      </nav>`,
    'shop',
  );
}

/** A failure, in both languages, with a way back to the start of `brand`'s service. */
export function errorPage(ja: string, en: string, brand: Brand = 'bank'): string {
  return page(
    'エラー / Error',
    html`<h1>うまくいきませんでした<span class="en" lang="en">Something went wrong</span></h1>
      <p class="notice error" id="error">${ja}<span class="en" lang="en">${en}</span></p>
      <p>
        <a class="button" href="/">最初に戻る<span class="en" lang="en">Start again</span></a>
      </p>`,
    brand,
  );
}
