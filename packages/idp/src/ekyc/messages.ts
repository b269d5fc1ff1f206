/**
 * The wording of refusals during the card signature. The codes are the same as at login (`http-errors.ts` stays the
 * one place that maps codes to HTTP status), but at this step the person types the signing certificate's password
 * (6–16 letters and digits, at least one of each; 5 tries), not the 4-digit login PIN, so the messages name that
 * password instead.
 */
import type { ServerResponse } from 'node:http';
import { isMynaGateError } from '@mynagate/errors';
import { toHttpError, type BilingualMessage, type ErrorBody } from '../http-errors.ts';

const SIGN_MESSAGES: Readonly<
  Record<string, BilingualMessage | ((retriesLeft: number | undefined) => BilingualMessage)>
> = Object.freeze({
  ERR_CARD_PIN_INCORRECT: (n) =>
    n === undefined
      ? { ja: '署名用電子証明書のパスワードが違います。', en: 'The signing certificate password is incorrect.' }
      : {
          ja: `署名用電子証明書のパスワード（英数字6〜16文字）が違います。あと${n}回間違えるとロックされます。`,
          en: `The password (6-16 letters and digits) of the signing certificate is incorrect. ${n} ${n === 1 ? 'try' : 'tries'} left before it locks.`,
        },
  ERR_CARD_PIN_BLOCKED: {
    ja: '署名用電子証明書のパスワードがロックされています。お住まいの市区町村の窓口で初期化してください。',
    en: 'The signing certificate password is locked. Reset it at your municipal office.',
  },
  ERR_CARD_PIN_FORMAT: {
    ja: '署名用電子証明書のパスワードは英大文字と数字の6〜16文字で、英字と数字をそれぞれ1文字以上含みます。',
    en: 'The signing certificate password is 6 to 16 capital letters and digits, with at least one letter and one digit.',
  },
  ERR_PKI_WRONG_CERT_KIND: {
    ja: '本人確認には署名用電子証明書で署名してください（利用者証明用電子証明書は使えません）。',
    en: 'Sign with the signing certificate for identity verification, not the user authentication certificate.',
  },
  ERR_PKI_CERT_EXPIRED: {
    ja: '署名用電子証明書の有効期限が切れています。市区町村の窓口で更新してください。',
    en: 'The signing certificate has expired. Renew it at your municipal office.',
  },
  ERR_PKI_CERT_REVOKED: {
    ja: 'この署名用電子証明書は失効しています（引っ越しなどで住所や氏名が変わると失効します）。市区町村の窓口で新しい証明書の発行を受けてください。',
    en: 'This signing certificate has been revoked (it is revoked when your address or name changes). Get a new one at your municipal office.',
  },
  ERR_PKI_STATEMENT_SIGNATURE: {
    ja: '署名を確認できませんでした。表示された内容にもう一度署名してください。',
    en: 'The signature could not be verified. Please sign the statement shown again.',
  },
});

/** The error body of a refusal at the signing step (code, sign-specific message, `retriesLeft`). */
export function signErrorBody(e: unknown): ErrorBody {
  const body = toHttpError(e).body;
  const entry = isMynaGateError(e) ? SIGN_MESSAGES[e.code] : undefined;
  if (entry === undefined) return body;
  const message = typeof entry === 'function' ? entry(body.retriesLeft) : entry;
  return { ...body, message };
}

/** Writes a refusal at the signing step as JSON, with the status `http-errors.ts` gives the code. */
export function sendSignError(res: ServerResponse, e: unknown): void {
  const { status, headers } = toHttpError(e);
  if (res.headersSent) {
    res.end();
    return;
  }
  const json = JSON.stringify(signErrorBody(e));
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}
