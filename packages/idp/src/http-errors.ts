/**
 * The one place where errors become HTTP answers (as node-oidc-provider's `shared/error_handler.js` is for its
 * endpoints). Each known code maps to a status and a short message in Japanese and English. Only the code, the
 * message and `retriesLeft` ever leave the server: never a stack, a serial, a name or any other personal data.
 */
import type { ServerResponse } from 'node:http';
import { isMynaGateError, type MynaGateError } from '@mynagate/errors';
import { html, page } from './lib/html.ts';

/** A message shown to a person, in both languages of the service. */
export interface BilingualMessage {
  readonly ja: string;
  readonly en: string;
}

/** The JSON body of every error answer of the interaction, companion and dev endpoints. */
export interface ErrorBody {
  /** The stable code, e.g. `ERR_IDP_QR_STALE`; `ERR_IDP_INTERNAL` for anything unexpected. */
  readonly error: string;
  readonly message: BilingualMessage;
  /** For `ERR_CARD_PIN_INCORRECT`: tries left before the card locks the PIN. */
  readonly retriesLeft?: number;
}

/** An error as HTTP: status, body and extra headers. */
export interface HttpError {
  readonly status: number;
  readonly body: ErrorBody;
  readonly headers: Readonly<Record<string, string>>;
}

interface Entry {
  readonly status: number;
  /** Sent as `Retry-After` (a 503's expected outage). */
  readonly retryAfterSeconds?: number;
  readonly message: BilingualMessage | ((e: { retriesLeft?: unknown }) => BilingualMessage);
}

const CERT_REJECTED: Entry = {
  status: 403,
  message: {
    ja: 'この電子証明書ではログインできません。',
    en: 'This certificate cannot be used to log in.',
  },
};

const TOKEN_REJECTED: Entry = {
  status: 400,
  message: {
    ja: 'カードの署名を確認できませんでした。最初からやり直してください。',
    en: 'The card signature could not be verified. Please start again.',
  },
};

/**
 * A refusal caused by how the service is set up, not by the person or their card: a statement the provider built but
 * cannot have signed (its client origin is not an exact https origin), a trust anchor out of its validity (the
 * service's CA certificates or clock), the provider's own origin not one a card token can be bound to. Retrying or
 * another card does not help; the operator must fix the configuration. 500: the fault is the server's.
 */
const SERVICE_MISCONFIGURED: Entry = {
  status: 500,
  message: {
    ja: 'このサービスの設定に問題があるため、手続きを完了できませんでした。お手数ですが、サービスの運営者にお問い合わせください。',
    en: 'This service is not set up correctly, so this could not be completed. Please contact the service.',
  },
};

/**
 * The certificate's status could not be established: the OCSP responder's answer or a CRL was not usable (not
 * signed by whom it should be, about another certificate, stale, …). Nothing says the card is at fault (fail closed
 * all the same); a later try may reach a good answer.
 */
const STATUS_UNKNOWN: Entry = {
  status: 503,
  message: {
    ja: '電子証明書の有効性を確認できませんでした。しばらくしてからもう一度お試しください。',
    en: 'The certificate status could not be checked. Please try again later.',
  },
};

const CHALLENGE_REJECTED: Entry = {
  status: 409,
  message: {
    ja: 'この認証要求は使用済みか期限切れです。QRコードを読み取り直してください。',
    en: 'This request was already used or has expired. Please scan the QR code again.',
  },
};

/** Codes → status and wording. The wording follows the JPKI names of things (利用者証明用電子証明書, 暗証番号). */
const TABLE: Readonly<Record<string, Entry>> = Object.freeze({
  // Card: shown by the companion and the dev phone, where the card is driven.
  ERR_CARD_PIN_INCORRECT: {
    status: 401,
    message: (e) => {
      const n = typeof e.retriesLeft === 'number' ? e.retriesLeft : undefined;
      return n === undefined
        ? { ja: '暗証番号が違います。', en: 'The PIN is incorrect.' }
        : {
            ja: `利用者証明用電子証明書の暗証番号（数字4桁）が違います。あと${n}回間違えるとロックされます。`,
            en: `The PIN (4 digits) of the user authentication certificate is incorrect. ${n} ${n === 1 ? 'try' : 'tries'} left before it locks.`,
          };
    },
  },
  ERR_CARD_PIN_BLOCKED: {
    status: 423,
    message: {
      ja: '暗証番号がロックされています。お住まいの市区町村の窓口で初期化してください（コンビニのキオスク端末でも手続きできる場合があります）。',
      en: 'The PIN is locked. Reset it at your municipal office (a convenience-store kiosk may also offer this).',
    },
  },
  ERR_CARD_PIN_FORMAT: {
    status: 400,
    message: {
      ja: '利用者証明用電子証明書の暗証番号は数字4桁です。',
      en: 'The PIN of the user authentication certificate is 4 digits.',
    },
  },
  ERR_CARD_NO_CARD: {
    status: 409,
    message: {
      ja: 'マイナンバーカードが見つかりません。カードをかざし直すか、カードリーダーに差し込んでください。',
      en: 'No My Number Card was found. Hold the card to the phone again or insert it into the reader.',
    },
  },
  ERR_CARD_NO_READER: {
    status: 409,
    message: {
      ja: 'カードリーダーが見つかりません。接続を確認してください。',
      en: 'No card reader was found. Check that it is connected.',
    },
  },
  ERR_CARD_NOT_JPKI: {
    status: 409,
    message: {
      ja: 'マイナンバーカードではないか、電子証明書が搭載されていません。',
      en: 'This is not a My Number Card, or it holds no electronic certificate.',
    },
  },
  ERR_CARD_FILE_INVALID: {
    status: 400,
    message: { ja: '仮想カードのファイルを読めません。', en: 'The virtual card file cannot be read.' },
  },
  // Certificates and tokens (pki).
  ERR_PKI_CERT_EXPIRED: {
    status: 403,
    message: {
      ja: '利用者証明用電子証明書の有効期限が切れています。市区町村の窓口で更新してください。',
      en: 'The user authentication certificate has expired. Renew it at your municipal office.',
    },
  },
  ERR_PKI_CERT_REVOKED: {
    status: 403,
    message: {
      ja: 'この利用者証明用電子証明書は失効しています。市区町村の窓口で新しい証明書の発行を受けてください。',
      en: 'This user authentication certificate has been revoked. Get a new one at your municipal office.',
    },
  },
  ERR_PKI_REVOCATION_UNKNOWN: STATUS_UNKNOWN,
  // An OCSP response or CRL that must not be trusted: the responder's or the CA's answer is at fault, not the card.
  ERR_PKI_OCSP_MALFORMED: STATUS_UNKNOWN,
  ERR_PKI_OCSP_STATUS: STATUS_UNKNOWN,
  ERR_PKI_OCSP_CERT_ID: STATUS_UNKNOWN,
  ERR_PKI_OCSP_RESPONSE_COUNT: STATUS_UNKNOWN,
  ERR_PKI_OCSP_RESPONDER: STATUS_UNKNOWN,
  ERR_PKI_OCSP_SIGNATURE: STATUS_UNKNOWN,
  ERR_PKI_OCSP_NONCE: STATUS_UNKNOWN,
  ERR_PKI_OCSP_UNKNOWN_CRITICAL_EXTENSION: STATUS_UNKNOWN,
  ERR_PKI_CRL_MALFORMED: STATUS_UNKNOWN,
  ERR_PKI_CRL_UNSUPPORTED: STATUS_UNKNOWN,
  ERR_PKI_CRL_WRONG_ISSUER: STATUS_UNKNOWN,
  ERR_PKI_CRL_ISSUER_NOT_CRL_SIGNER: STATUS_UNKNOWN,
  ERR_PKI_CRL_BAD_SIGNATURE: STATUS_UNKNOWN,
  ERR_PKI_CRL_NOT_YET_VALID: STATUS_UNKNOWN,
  ERR_PKI_CRL_EXPIRED: STATUS_UNKNOWN,
  ERR_PKI_CRL_UNKNOWN_CRITICAL_EXTENSION: STATUS_UNKNOWN,
  ERR_PKI_CRL_ROLLBACK: STATUS_UNKNOWN,
  // The service's own setup: the trust anchors (or the server's clock), the statement it builds, its own origin.
  ERR_PKI_ANCHOR_EXPIRED: SERVICE_MISCONFIGURED,
  ERR_PKI_ANCHOR_NOT_YET_VALID: SERVICE_MISCONFIGURED,
  ERR_PKI_STATEMENT_MALFORMED: SERVICE_MISCONFIGURED,
  // A CRL file of the configuration that could not be loaded at start (thrown then, never at a login).
  ERR_PKI_CRL_FILE: SERVICE_MISCONFIGURED,
  ERR_PKI_LINKS_UNAVAILABLE: {
    status: 503,
    message: {
      ja: 'カードの確認サービスに接続できませんでした。しばらくしてからもう一度お試しください。',
      en: 'The card check service could not be reached. Please try again later.',
    },
  },
  ERR_PKI_WRONG_CERT_KIND: {
    status: 403,
    message: {
      ja: 'ログインには利用者証明用電子証明書を使います（署名用電子証明書は使えません）。',
      en: 'Log in with the user authentication certificate, not the signing certificate.',
    },
  },
  ERR_PKI_TOKEN_MALFORMED: TOKEN_REJECTED,
  ERR_PKI_TOKEN_FORMAT: TOKEN_REJECTED,
  ERR_PKI_TOKEN_ALGORITHM: TOKEN_REJECTED,
  // The verifier checks the provider's own origin (the card signs over it; the token does not carry one), so a
  // malformed one is the service's configuration, never the card's.
  ERR_PKI_TOKEN_ORIGIN: SERVICE_MISCONFIGURED,
  ERR_PKI_TOKEN_SIGNATURE: TOKEN_REJECTED,
  // eKYC: the statement's signature does not verify (the signing step words it its own way: ekyc/messages.ts). Not
  // the certificate's fault, and scanning again may pass.
  ERR_PKI_STATEMENT_SIGNATURE: {
    status: 400,
    message: {
      ja: '署名を確認できませんでした。最初からやり直してください。',
      en: 'The signature could not be verified. Please start again.',
    },
  },
  // eKYC: the signing certificate holds no readable identity; "cannot be used to log in" would be wrong here.
  ERR_PKI_IDENTITY_MALFORMED: {
    status: 403,
    message: {
      ja: 'この署名用電子証明書から本人確認の情報を読み取れませんでした。',
      en: 'The identity details could not be read from this signing certificate.',
    },
  },
  ERR_PKI_CHALLENGE_NOT_FOUND: CHALLENGE_REJECTED,
  ERR_PKI_CHALLENGE_EXPIRED: CHALLENGE_REJECTED,
  ERR_PKI_CHALLENGE_USED: CHALLENGE_REJECTED,
  ERR_PKI_CHALLENGE_WRONG_SESSION: { status: 403, message: CHALLENGE_REJECTED.message },
  // The IdP's own.
  ERR_IDP_QR_STALE: {
    status: 410,
    message: {
      ja: 'QRコードの有効時間が過ぎました。画面に表示されている最新のQRコードを読み取ってください。',
      en: 'This QR code has expired. Scan the one currently shown on the screen.',
    },
  },
  ERR_IDP_QR_INVALID: {
    status: 400,
    message: {
      ja: 'このQRコードは無効です。ログイン画面のQRコードを読み取ってください。',
      en: 'This QR code is not valid. Scan the QR code on the login page.',
    },
  },
  ERR_IDP_LOGIN_NOT_FOUND: {
    status: 404,
    message: {
      ja: 'ログインの受付が見つからないか、期限切れです。最初からやり直してください。',
      en: 'This login was not found or has expired. Please start again.',
    },
  },
  ERR_IDP_CHALLENGE_INVALID: CHALLENGE_REJECTED,
  // Told to the second companion (a second scan, a second token), never to the login's page: its login goes on.
  ERR_IDP_LOGIN_FINISHED: {
    status: 409,
    message: {
      ja: 'このログインは、すでにカードで手続きが済んでいます。ブラウザーの画面を確かめてください。別のカードでログインするときは、サービスの画面からやり直してください。',
      en: 'A card has already answered this login. Check the browser. To log in with another card, start again from the service.',
    },
  },
  ERR_IDP_SESSION_MISMATCH: {
    status: 403,
    message: {
      ja: 'このログインは別のブラウザーで開始されたものです。',
      en: 'This login was started in another browser session.',
    },
  },
  ERR_IDP_HANDOVER_MISMATCH: {
    status: 403,
    message: {
      ja: 'カードリーダーでのログインは、このブラウザーで始めたものではないため完了しませんでした（誰もログインしていません）。ご自分でこのサービスのログインを始めていない場合は、他人があなたのカードでログインしようとした可能性があります。サービスの画面からやり直してください。',
      en: 'The card reader login was not started in this browser, so it was not completed (nobody was logged in). If you did not just start a login at this service yourself, someone may have tried to log in with your card. Start again from the service.',
    },
  },
  ERR_IDP_INTERACTION_NOT_FOUND: {
    status: 400,
    message: {
      ja: 'ログイン画面の有効期限が切れたか、Cookieが無効です。サービスの画面からやり直してください。',
      en: 'The login page expired or cookies are disabled. Please start again from the service.',
    },
  },
  ERR_IDP_TOKEN_MALFORMED: TOKEN_REJECTED,
  ERR_IDP_SIGN_CARD_MISMATCH: {
    status: 403,
    message: {
      ja: 'ログインしたカードとは別のカードで署名されました。ログインしたカードで署名してください（カードを更新したときは、新しいカードで一度ログインしてから署名してください）。',
      en: 'This was signed with a different card from the one you logged in with. Sign with that card (after renewing your card, log in once with the new card, then sign).',
    },
  },
  // The service asked for eKYC, which its registration does not allow (a native app: card login only). Not the
  // person's fault, and another try does not help: the service must ask for login alone.
  ERR_IDP_CLIENT_LOGIN_ONLY: {
    status: 403,
    message: {
      ja: 'このサービス（アプリ）ではマイナンバーカードでのログインのみ利用でき、署名用電子証明書による本人確認はできません。お手数ですが、サービスの運営者にお問い合わせください。',
      en: 'This service (an app) offers login with the My Number Card only; identity verification with the signing certificate is not available to it. Please contact the service.',
    },
  },
  // The provider offers no eKYC: nothing ties a signing certificate to the login card (config.ts signingCardPair).
  // Not the person's fault, and another try or card does not help: the operator must configure a pairing.
  ERR_IDP_EKYC_UNPAIRED: {
    status: 403,
    message: {
      ja: 'このサービスでは、署名用電子証明書による本人確認を現在ご利用いただけません。お手数ですが、サービスの運営者にお問い合わせください。',
      en: 'Identity verification with the signing certificate is not available here at present. Please contact the service.',
    },
  },
  ERR_IDP_BAD_REQUEST: { status: 400, message: { ja: '要求の形式が正しくありません。', en: 'Malformed request.' } },
  ERR_IDP_METHOD_NOT_ALLOWED: {
    status: 405,
    message: { ja: 'この操作はできません。', en: 'Method not allowed.' },
  },
  ERR_IDP_BODY_TOO_LARGE: {
    status: 413,
    message: { ja: '送信されたデータが大きすぎます。', en: 'The request is too large.' },
  },
  // Only ever the `refused` event of a stream a newer one took over (transaction-watch.ts StreamCap), never an HTTP
  // answer; the status is what one would be (the login's state conflicts with this page), not 429: nothing is refused.
  ERR_IDP_TOO_MANY_STREAMS: {
    status: 409,
    message: {
      ja: 'このログインは別のタブまたはウィンドウで続いています。',
      en: 'This login continues in another tab or window.',
    },
  },
  // Stores: the database or Redis cannot be reached or did not answer in time. A retry soon may pass (503 with
  // Retry-After), which a load balancer and the service can tell from a fault (500).
  ERR_STORE_UNAVAILABLE: {
    status: 503,
    retryAfterSeconds: 5,
    message: {
      ja: 'ただいまサービスを一時的に利用できません。しばらくしてからもう一度お試しください。',
      en: 'The service is temporarily unavailable. Please try again shortly.',
    },
  },
});

const INTERNAL: HttpError = Object.freeze({
  status: 500,
  body: Object.freeze({
    error: 'ERR_IDP_INTERNAL',
    message: Object.freeze({
      ja: 'サーバーで問題が発生しました。しばらくしてからもう一度お試しください。',
      en: 'Something went wrong on the server. Please try again later.',
    }),
  }),
  headers: Object.freeze({}),
});

/**
 * Maps any thrown value to status, body and headers. Every `ERR_PKI_*` code the trust core throws has its entry
 * (the certificate's fault, the revocation source's, or the service's setup: `PKI_ERROR_CODES` and a test keep them
 * in step); an `ERR_PKI_*` code not listed is "certificate not accepted" (403). Anything that is not a MynaGateError
 * is a 500 with a generic message (fail closed, no detail).
 */
export function toHttpError(e: unknown): HttpError {
  const entry = entryOf(e);
  if (entry === undefined || !isMynaGateError(e)) return internal(e);
  const fields = e as unknown as { retriesLeft?: unknown; allow?: unknown };
  const message = typeof entry.message === 'function' ? entry.message(fields) : entry.message;
  const body: ErrorBody =
    typeof fields.retriesLeft === 'number'
      ? { error: e.code, message, retriesLeft: fields.retriesLeft }
      : { error: e.code, message };
  const headers: Record<string, string> = {};
  if (Array.isArray(fields.allow)) headers['allow'] = fields.allow.join(', ');
  if (entry.retryAfterSeconds !== undefined) headers['retry-after'] = String(entry.retryAfterSeconds);
  return { status: entry.status, body, headers };
}

function entryOf(e: unknown): Entry | undefined {
  if (!isMynaGateError(e)) return undefined;
  return TABLE[e.code] ?? (e.code.startsWith('ERR_PKI_') ? CERT_REJECTED : undefined);
}

/**
 * Whether `e` is answered with its own code (a refusal or a known failure, logged by whoever wants a trace of it),
 * rather than as `ERR_IDP_INTERNAL` (which {@link toHttpError} logs with its stack). Logs nothing: ask it before
 * {@link toHttpError} (or `signErrorBody`) to get the wording of a code without writing anything, as the card-reader
 * bridge does for codes it meets from the provider.
 *
 * @example
 * ```ts
 * isAnsweredByCode(new MynaGateError('ERR_CARD_PIN_BLOCKED', 'x')); // true: toHttpError(e).body.message has its words
 * isAnsweredByCode(new MynaGateError('ERR_IDP_INTERNAL', 'x')); // false (toHttpError would log it)
 * ```
 */
export function isAnsweredByCode(e: unknown): e is MynaGateError {
  return entryOf(e) !== undefined;
}

const logged = new WeakSet<object>();

/**
 * {@link INTERNAL}, after writing `e` to stderr once (the answer carries no detail, so the log is the only trace of
 * the cause). Only the stack (name, message, frames) and the code are written, never the error's other fields: a
 * database driver's error quotes the row in `detail`, and the value of a thrown non-Error is not looked at.
 */
function internal(e: unknown): HttpError {
  logInternal(e);
  return INTERNAL;
}

/**
 * Writes an unexpected error to stderr once (see {@link internal}); also for node-oidc-provider's own `server_error`
 * answers (its authorization and token endpoints), which it renders without detail.
 */
export function logInternal(e: unknown): void {
  if (typeof e !== 'object' || e === null) {
    console.error(`ERR_IDP_INTERNAL: a thrown ${typeof e}`);
  } else if (!logged.has(e)) {
    logged.add(e);
    const code = (e as { code?: unknown }).code;
    const stack = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : 'a thrown non-Error object';
    console.error(`ERR_IDP_INTERNAL${typeof code === 'string' ? ` (${code})` : ''}: ${stack}`);
  }
}

/** The bilingual message for a code, for pages that show an outcome without an HTTP error (SSE, dev phone). */
export function messageFor(e: unknown): ErrorBody {
  return toHttpError(e).body;
}

/** Writes `e` as a JSON error answer, unless the headers are already sent (then the connection is just ended). */
export function sendError(res: ServerResponse, e: unknown): void {
  const { status, body, headers } = toHttpError(e);
  if (res.headersSent) {
    res.end();
    return;
  }
  const json = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

/**
 * Security headers of a page without script (error pages, the provider's own logout pages): nothing loads but inline
 * style, forms post only to this origin, no framing (clickjacking), no MIME sniffing, no referrer.
 */
export const STATIC_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
});

/**
 * {@link STATIC_PAGE_HEADERS} for a page whose form ends at a relying party (the logout confirmation): `form-action`
 * also allows the origin of each of `redirects`. CSP 3 §6.3.1 checks form-action on every redirect of the submission
 * too, so a form posted here and answered with a redirect to the service is otherwise blocked by the browser.
 */
export function staticPageHeaders(redirects: readonly string[]): Readonly<Record<string, string>> {
  return {
    ...STATIC_PAGE_HEADERS,
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; ${formAction(redirects)}; frame-ancestors 'none'; base-uri 'none'`,
  };
}

/**
 * The `form-action` directive of a page: `'self'` and the origin of each URL of `redirects` (a validated
 * redirect_uri of the interaction's client, never anything from request headers). A URL that is not a plain http(s)
 * origin or a custom scheme (a native app's) is left out: nothing of it may reach the policy's syntax.
 */
export function formAction(redirects: readonly string[]): string {
  const sources = new Set(["'self'"]);
  for (const uri of redirects) {
    const source = cspSourceOf(uri);
    if (source !== undefined) sources.add(source);
  }
  return `form-action ${[...sources].join(' ')}`;
}

function cspSourceOf(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol === 'https:' || url.protocol === 'http:') {
    // A host may hold characters CSP gives meaning to (;, ', ,): only plain host names, IPv4 and IPv6 literals.
    return /^https?:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?$/.test(url.origin) ? url.origin : undefined;
  }
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : undefined;
}

/** Writes `e` as an HTML page (for routes a person opens in the browser), with the same status and wording. */
export function sendErrorPage(res: ServerResponse, e: unknown): void {
  const { status, body, headers } = toHttpError(e);
  if (res.headersSent) {
    res.end();
    return;
  }
  const doc = page({
    title: 'エラー / Error',
    body: html`<h1>${body.message.ja}<span class="en" lang="en">${body.message.en}</span></h1>
      <p><code id="error">${body.error}</code></p>`,
  });
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    ...STATIC_PAGE_HEADERS,
    'content-length': Buffer.byteLength(doc),
  });
  res.end(doc);
}
