/**
 * What `mynagate bridge` pages say of a refusal or failure: the stable code, an HTTP status and words in Japanese and
 * English that tell the person what to do. Every code the bridge can meet on its pages and a person can act on has its
 * own words here or in the provider's table (card PINs, certificates, the provider's own refusals); anything else gets
 * a general "could not be completed" (bridge-wording.test.ts keeps the list of codes and the words in step).
 *
 * The same words end `mynagate login` and `card sign` on the terminal ({@link companionError}): one line, the code
 * first, for a refusal of the card or of the provider.
 */
import { isMynaGateError, MynaGateError } from '@mynagate/errors';
import { CompanionRemoteError, type CompanionView, type SecretKind } from './companion.ts';
import { UsageError } from './output.ts';
import { describeSystemError } from './system-error.ts';

/** A refused bridge request: an HTTP status and a stable code. */
export class BridgeError extends MynaGateError {
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(code, message);
    this.status = status;
  }
}

/** What a person is told of a refusal: the stable code, the status and the message in both languages. */
export interface Wording {
  readonly code: string;
  readonly status: number;
  readonly ja: string;
  readonly en: string;
}

/** Words and the usual status of a code (a {@link BridgeError} brings its own status). */
interface Entry {
  readonly status: number;
  readonly ja: string;
  readonly en: string;
}

/** The card answered what a JPKI card does not: often a card that moved on the reader mid-way. */
const CARD_UNEXPECTED: Entry = {
  status: 502,
  ja: 'カードから想定外の応答がありました。カードをカードリーダーに置き直して、もう一度お試しください。',
  en: 'The card gave an unexpected answer. Place the card on the reader again and try again.',
};

const UNREACHABLE: Entry = {
  status: 502,
  ja: 'MynaGateに接続できませんでした。ネットワークを確かめて、ログイン画面からやり直してください。',
  en: 'MynaGate could not be reached. Check the network and start again from the login page.',
};

/**
 * The bridge's own words: its guards, the companion's failures to talk to the provider, and the card reader of this
 * computer (the provider's table speaks of a phone or a reader in general; here the reader is the one on the desk).
 * Before the provider's words.
 */
const BRIDGE_WORDING: Readonly<Record<string, Entry>> = Object.freeze({
  ERR_BRIDGE_HOST: {
    status: 403,
    ja: 'この要求は受け付けられません。ログイン画面の「このパソコンのカードリーダーを使う」から開いてください。',
    en: "This request is refused. Open the bridge from the login page's “Use this computer's card reader”.",
  },
  ERR_BRIDGE_REQUEST: {
    status: 400,
    ja: 'この要求は受け付けられません。ログイン画面の「このパソコンのカードリーダーを使う」から開き直してください。',
    en: "This request is refused. Open the bridge again from the login page's “Use this computer's card reader”.",
  },
  ERR_BRIDGE_ORIGIN: {
    status: 400,
    ja: 'ログイン画面のアドレスを確かめられないため中止しました。サービスの画面からやり直してください。',
    en: 'Stopped: the address of the login page could not be confirmed. Start again from the service.',
  },
  ERR_BRIDGE_PROVIDER: {
    status: 403,
    ja: 'このログインサーバーは、このパソコンのカードリーダーでは使えません（起動時に指定したサーバーだけが使えます）。心当たりのないページから開いた場合は、暗証番号を入力せずに閉じてください。',
    en: 'This login server cannot use this computer’s card reader (only the servers it was started for can). If a page you do not trust opened this, close it without typing any PIN.',
  },
  ERR_BRIDGE_CSRF: {
    status: 403,
    ja: 'このフォームは受け付けられません。ログイン画面からやり直してください。',
    en: 'This form is refused. Start again from the login page.',
  },
  ERR_BRIDGE_OTHER_NETWORK: {
    status: 403,
    ja: 'この本人確認（署名）は、このパソコンとは別のネットワークで始まったため、このパソコンのカードリーダーでは署名しません。ご自身がいまこのパソコンで始めた本人確認ではない可能性があります。パスワードは入力せず、このページを閉じてください。ご自身で始めた場合は、サービスの画面のQRコードをスマートフォンで読み取ってください。',
    en: 'This identity check (signature) was started on another network than this computer, so this computer’s card reader will not sign it: it may not be one you started here. Do not enter your password; close this page. If you did start it, scan the QR code on the service’s page with your phone.',
  },
  ERR_BRIDGE_NOT_FOUND: {
    status: 404,
    ja: 'この受付は見つからないか、期限切れです。ログイン画面からやり直してください。',
    en: 'This request was not found or has expired. Start again from the login page.',
  },
  ERR_BRIDGE_LAST_TRY: {
    status: 409,
    ja: 'あと1回間違えると暗証番号（パスワード）がロックされるため、このパソコンのカードリーダーでは入力を受け付けません。暗証番号を届いた通知書（暗証番号設定依頼書の控えなど）で確かめるか、スマートフォンのMynaGateアプリや公的個人認証サービスの利用者クライアントソフト（JPKI利用者ソフト）で入力してください。正しく入力すると回数は元に戻ります。',
    en: 'One more wrong try would lock the PIN (or password), so this computer’s card reader will not take it. Check the PIN against the letter you received (your PIN setting form), or type it in the MynaGate app on your phone or in the official JPKI user software. A correct entry restores the tries.',
  },
  // The companion's talk with the provider (companion.ts).
  ERR_CLI_UNREACHABLE: UNREACHABLE,
  ERR_CLI_CONNECT: UNREACHABLE,
  ERR_CLI_HTTP: {
    status: 502,
    ja: 'ログインサーバーがエラーを返しました。しばらく待ってから、ログイン画面からやり直してください。',
    en: 'The login server answered with an error. Wait a moment, then start again from the login page.',
  },
  ERR_CLI_COMPANION_RESPONSE: {
    status: 502,
    ja: 'ログインサーバーの応答が想定と違うため中止しました。ログイン画面からやり直してください。繰り返す場合は、サービスの設定の問題かもしれません。',
    en: 'Stopped: the login server’s answer was not what was expected. Start again from the login page; if it happens again, the service may be misconfigured.',
  },
  ERR_CLI_COMPANION_ORIGIN: {
    status: 400,
    ja: 'ログインサーバーが別のサイトのための署名を求めたため中止しました。何も署名していません。心当たりのないページから開いた場合は閉じてください。',
    en: 'Stopped: the login server asked for a signature for another site. Nothing was signed. If a page you do not trust opened this, close it.',
  },
  // The card reader of this computer (PC/SC, @mynagate/card/pcsc) and the card in it.
  ERR_CARD_PCSC_UNAVAILABLE: {
    status: 503,
    ja: 'カードリーダーのサービス（PC/SC）が動いていません。このパソコンのスマートカードサービス（Linuxでは pcscd）を起動してから、もう一度お試しください。',
    en: 'The card reader service (PC/SC) is not running. Start the smart card service of this computer (pcscd on Linux), then try again.',
  },
  ERR_CARD_NO_READER: {
    status: 409,
    ja: 'カードリーダーが見つかりません。カードリーダーをこのパソコンに接続し、マイナンバーカードを置いてから、もう一度お試しください。',
    en: 'No card reader was found. Connect the card reader to this computer, place your My Number Card on it, then try again.',
  },
  ERR_CARD_NO_CARD: {
    status: 409,
    ja: 'カードリーダーにマイナンバーカードがありません。カードをカードリーダーに置いて（差し込んで）から、もう一度お試しください。',
    en: 'There is no My Number Card on the card reader. Place (or insert) the card, then try again.',
  },
  ERR_CARD_IN_USE: {
    status: 409,
    ja: '別のアプリがカードを使用中です。カードを使っている他のアプリ（公的個人認証サービスの利用者クライアントソフトなど）を閉じてから、もう一度お試しください。',
    en: 'Another program is using the card. Close the other program that uses it (such as the JPKI user software), then try again.',
  },
  ERR_CARD_REMOVED: {
    status: 409,
    ja: '途中でカードがカードリーダーから離れました。カードを置いたままにして、もう一度お試しください。',
    en: 'The card left the reader before the step finished. Keep the card on the reader and try again.',
  },
  ERR_CARD_RESET: {
    status: 409,
    ja: '別のアプリがカードをリセットしたため中断しました。カードを使う他のアプリを閉じて、もう一度お試しください。',
    en: 'Another program reset the card, so the step stopped. Close other programs that use the card and try again.',
  },
  ERR_CARD_PCSC_FAILURE: {
    status: 502,
    ja: 'カードと通信できませんでした。カードをカードリーダーに置き直して、もう一度お試しください。',
    en: 'The card could not be read. Place the card on the reader again and try again.',
  },
  ERR_CARD_SECURITY_STATUS: CARD_UNEXPECTED,
  ERR_CARD_FILE_NOT_FOUND: CARD_UNEXPECTED,
  ERR_CARD_WRONG_LENGTH: CARD_UNEXPECTED,
  ERR_CARD_WRONG_PARAMETERS: CARD_UNEXPECTED,
  ERR_CARD_INS_NOT_SUPPORTED: CARD_UNEXPECTED,
  ERR_CARD_CLA_NOT_SUPPORTED: CARD_UNEXPECTED,
  ERR_CARD_STATUS: CARD_UNEXPECTED,
  ERR_CARD_MALFORMED: CARD_UNEXPECTED,
  ERR_CARD_FILE_INVALID: {
    status: 500,
    ja: '仮想カードのファイルを読めません。mynagate bridge の --file に指定したファイルを確かめてください。',
    en: 'The virtual card file cannot be read. Check the file given to mynagate bridge --file.',
  },
});

/** The words for anything without its own: nothing the person can do but try again. */
export const UNKNOWN_WORDING = Object.freeze({
  ja: 'カードリーダーでの処理を完了できませんでした。ログイン画面に戻って、もう一度お試しください。',
  en: 'The card reader step could not be completed. Go back to the login page and try again.',
});

/**
 * The provider's wording of card and certificate codes, loaded once, and only its wording (`@mynagate/idp/messages`,
 * not the provider itself: a tenth of the load time).
 */
let idpModule: Promise<typeof import('@mynagate/idp/messages')> | undefined;

/** Starts loading the provider's wording, so that the first error page does not wait for it. */
export const idpWording = () => (idpModule ??= import('@mynagate/idp/messages'));

/**
 * The code of `e` as the CLI names it: its own stable code, a system error's kind (`ERR_CLI_CONNECT`, `ERR_CLI_FILE`:
 * system-error.ts), else `ERR_INTERNAL`.
 */
export function codeOf(e: unknown): string {
  if (isMynaGateError(e)) return e.code;
  const system = describeSystemError(e);
  if (system !== undefined) return system.code;
  const code = (e as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : 'ERR_INTERNAL';
}

/**
 * The status and the words for `e`: the bridge's own for its guards, the companion's failures and the card reader;
 * the provider's for card PIN, certificate and provider codes (a signature names the signing password, a login the
 * auth PIN); else a general message (502: the step failed beyond the card). Card-side refusals are 4xx.
 *
 * @example
 * ```ts
 * const w = await wordingOf(new CardNoReaderError()); // { code: 'ERR_CARD_NO_READER', status: 409, ja, en }
 * ```
 */
export async function wordingOf(e: unknown, view?: Pick<CompanionView, 'intent'>): Promise<Wording> {
  const code = codeOf(e);
  const own = BRIDGE_WORDING[code];
  if (own !== undefined) {
    const status = e instanceof BridgeError ? e.status : own.status;
    return { code, status, ja: own.ja, en: own.en };
  }
  if (e instanceof UsageError) return { code, ...BRIDGE_WORDING['ERR_BRIDGE_REQUEST']! };
  if (isMynaGateError(e) && /^ERR_(CARD|PKI|IDP|STORE)_/.test(code)) {
    const { isAnsweredByCode, toHttpError, signErrorBody } = await idpWording();
    // Asked first: toHttpError writes the stack of a code it has no words for (ERR_IDP_INTERNAL), which here is the
    // provider's internals, not the bridge's; the bridge's own line (`CODE: message`) is all it logs of it.
    const known = isAnsweredByCode(e) ? toHttpError(e) : undefined;
    if (known !== undefined && known.body.error === code) {
      const { message } = view?.intent === 'sign' ? signErrorBody(e) : known.body;
      // The provider's 401 asks for HTTP authentication; here the person only typed a PIN into a form.
      const status = known.status === 401 ? 400 : known.status >= 500 ? 502 : known.status;
      return { code, status, ja: message.ja, en: message.en };
    }
  }
  return { code, status: 502, ...UNKNOWN_WORDING };
}

/**
 * The words of the terminal commands (`login`, `card sign`) where the bridge's would name the bridge, and for their
 * own refusal: the last try left unspent. `sign`: the signing password, else the auth PIN.
 */
const TERMINAL_WORDING: Readonly<Record<string, (kind: SecretKind) => { readonly ja: string; readonly en: string }>> =
  Object.freeze({
    ERR_CLI_LAST_TRY: (kind) =>
      kind === 'sign'
        ? {
            ja: 'あと1回間違えると署名用電子証明書のパスワードがロックされるため、確認なしには送りません（何も送っていません）。パスワードを確かめてから、端末で --pin-stdin を付けずに実行し、確認に y と答えてください。正しく入力すると回数は元に戻ります。ロックされた場合は、お住まいの市区町村の窓口で初期化が必要です。',
            en: 'One more wrong try would lock the signing password, so it is not sent without a confirmation (nothing was sent). Check the password, then run the command on a terminal without --pin-stdin and answer y. A correct entry restores the tries; a locked password must be reset at your municipal office.',
          }
        : {
            ja: 'あと1回間違えると暗証番号がロックされるため、確認なしには送りません（何も送っていません）。暗証番号を届いた通知書（暗証番号設定依頼書の控えなど）で確かめてから、端末で --pin-stdin を付けずに実行し、確認に y と答えてください。正しく入力すると回数は元に戻ります。ロックされた場合は、お住まいの市区町村の窓口で初期化が必要です。',
            en: 'One more wrong try would lock the PIN, so it is not sent without a confirmation (nothing was sent). Check the PIN against the letter you received (your PIN setting form), then run the command on a terminal without --pin-stdin and answer y. A correct entry restores the tries; a locked PIN must be reset at your municipal office.',
          },
    ERR_CARD_FILE_INVALID: () => ({
      ja: '仮想カードのファイルを読めません。--file に指定したファイルを確かめてください。',
      en: 'The virtual card file cannot be read. Check the file given to --file.',
    }),
  });

/** A refusal as the terminal commands print it: its stable code, and its words in Japanese, then English. */
export class WordedError extends MynaGateError {
  constructor(code: string, words: { readonly ja: string; readonly en: string }, cause: unknown) {
    super(code, `${words.ja} / ${words.en}`, { cause });
  }
}

/**
 * `e` as `mynagate login` and `card sign` end with it (the CLI prints `CODE: message` on one line): a refusal of the
 * card, of the provider (its own words when it sent both languages) or the unspent last try gets its words in
 * Japanese and English, with what to do next, under its own code ({@link WordedError}); anything else (a usage
 * error, a file, the companion's talk with the server) is returned unchanged, with its detail. `kind` names the
 * secret asked for, so that the words for a signature speak of the signing password, never a PIN.
 *
 * @example
 * ```ts
 * await companionError(new CardPinBlockedError(0x6983), 'auth');
 * // WordedError ERR_CARD_PIN_BLOCKED: '暗証番号がロックされています。お住まいの市区町村の窓口で… / The PIN is locked. …'
 * ```
 */
export async function companionError(e: unknown, kind: SecretKind): Promise<unknown> {
  if (e instanceof UsageError || !isMynaGateError(e)) return e;
  const code = e.code;
  const remote = e instanceof CompanionRemoteError ? e.words : undefined;
  if (remote !== undefined) return new WordedError(code, remote, e);
  const own = TERMINAL_WORDING[code];
  if (own !== undefined) return new WordedError(code, own(kind), e);
  if (!/^ERR_(CARD|PKI|IDP|STORE)_/.test(code)) return e;
  const w = await wordingOf(e, { intent: kind === 'sign' ? 'sign' : 'login' });
  return w.ja === UNKNOWN_WORDING.ja ? e : new WordedError(code, w, e);
}
