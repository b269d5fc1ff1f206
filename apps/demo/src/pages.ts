/**
 * The demo service's pages: plain HTML, no script, Japanese first with English beside it. Every interpolated value
 * is escaped by the `html` tag.
 */
import type { DemoAccount } from './accounts.ts';

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
small { color: #57606a; }
`;

/** A whole page. */
export function page(title: string, body: Html): string {
  return `<!doctype html><html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title><style>${STYLE}</style></head><body>
<header><strong>デモ銀行</strong><span>Demo Bank</span></header>
<main>${body.text}</main>
<footer><small>MynaGate のデモサービスです。実在しないテスト用カードだけで動きます。/ A MynaGate demo service; it works with fake test cards only.</small></footer>
</body></html>`;
}

/** The landing page: what the service asks for and the one button. */
export function landingPage(): string {
  return page(
    'デモ銀行 / Demo Bank',
    html`<h1>口座を開設する<span class="en">Open an account</span></h1>
      <p>
        口座の開設にはマイナンバーカードが必要です。カード1枚につき1口座です。
        <span class="en">Opening an account requires your My Number Card: one card, one account.</span>
      </p>
      <p>
        当行が受け取るのは、当行専用の利用者ID（ペアワイズ識別子）だけです。氏名、住所、個人番号は受け取りません。
        <span class="en"
          >We receive only an identifier made for this bank (a pairwise subject): no name, no address, no Individual
          Number.</span
        >
      </p>
      <p>
        <a id="signup" class="button" href="/signup"
          >マイナンバーカードで登録<span class="en">Sign up with My Number Card</span></a
        >
      </p>`,
  );
}

/** The account page after a card login. */
export function accountPage(account: DemoAccount, created: boolean, acr: string): string {
  const greeting = created
    ? html`<p class="notice" id="greeting">口座を開設しました。<span class="en">Your account is open.</span></p>`
    : html`<p class="notice" id="greeting">
        おかえりなさい。このカードの口座はすでにあります。<span class="en"
          >Welcome back: this card already has an account.</span
        >
      </p>`;
  return page(
    `${account.number} / Demo Bank`,
    html`<h1>あなたの口座<span class="en">Your account</span></h1>
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
      </dl>
      <form method="post" action="/logout">
        <button class="secondary" type="submit">ログアウト / Log out</button>
      </form>`,
  );
}

/** A failure, in both languages, with a way back. */
export function errorPage(ja: string, en: string): string {
  return page(
    'エラー / Error',
    html`<h1>うまくいきませんでした<span class="en">Something went wrong</span></h1>
      <p class="notice error" id="error">${ja}<span class="en">${en}</span></p>
      <p>
        <a class="button" href="/">最初に戻る<span class="en">Start again</span></a>
      </p>`,
  );
}
