/**
 * `/me`, the person's own page after a card login: which service received what and when (from the audit), the
 * consents given (with their text and time), and a button to withdraw each (the grant is revoked: the service's
 * later token use fails).
 *
 * - `GET /me`: the page, for the browser's provider session; without one, a link to log in;
 * - `GET /me/login`: starts a card login as the built-in client {@link ME_CLIENT_ID} (an ordinary authorization
 *   request with PKCE, so the whole card login applies); `GET /me/callback` returns to `/me` (the code is not
 *   redeemed: only the session the login established is needed);
 * - `POST /me/withdraw` (form: `client_id`, `csrf`).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientMetadata } from 'oidc-provider';
import { ACR_CARD_AUTH } from '../acr.ts';
import { IdpBadRequestError, IdpSessionMismatchError } from '../errors.ts';
import { html, page } from '../lib/html.ts';
import type { InteractionContext } from '../interactions/context.ts';
import { sendPage } from '../interactions/login-page.ts';
import type { Handler } from '../interactions/router.ts';
import type { AuditRecord } from '../store/types.ts';
import { readForm } from './page.ts';
import { withdrawConsent } from './withdraw.ts';

/** The built-in client `/me` logs in as. */
export const ME_CLIENT_ID = 'mynagate-me';

/**
 * The client metadata of {@link ME_CLIENT_ID}: redirect to `<issuer>/me/callback`. Its secret is random per process
 * and never used (the code is not redeemed).
 */
export function meClient(issuer: string, name: string): ClientMetadata {
  return {
    client_id: ME_CLIENT_ID,
    client_name: `${name} マイページ / My page`,
    client_secret: randomBytes(32).toString('base64url'),
    redirect_uris: [`${issuer}/me/callback`],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  };
}

const CLAIM_NAMES: Readonly<Record<string, string>> = Object.freeze({
  verified_claims: '確認済みの本人情報 / verified identity',
  name: '氏名 / name',
  given_name: '名 / given name',
  family_name: '姓 / family name',
  address: '住所 / address',
  birthdate: '生年月日 / date of birth',
  gender: '性別 / sex',
  age_over_18: '18歳以上か / 18 or older',
  age_over_20: '20歳以上か / 20 or older',
  residence_prefecture: '都道府県 / prefecture',
  residence_in_prefecture: '指定の都道府県に住んでいるか / lives in the prefecture asked',
});

/** The `/me` handlers. */
export function meRoutes(context: InteractionContext): {
  page: Handler;
  login: Handler;
  callback: Handler;
  withdraw: Handler;
} {
  const sessionOf = async (req: IncomingMessage, res: ServerResponse) => {
    const session = await context.provider().Session.get({ req, res } as never);
    return typeof session.accountId === 'string' ? session : undefined;
  };
  const csrfFor = (sessionId: string): string =>
    createHmac('sha256', context.config.cookieKeys[0]!).update(`me-csrf:${sessionId}`).digest('base64url');
  const clientName = async (clientId: string | null): Promise<string> =>
    clientId === null ? '—' : ((await context.provider().Client.find(clientId))?.clientName ?? clientId);

  return {
    page: async (req, res) => {
      const session = await sessionOf(req, res);
      const nonce = randomBytes(16).toString('base64');
      if (session === undefined) {
        const body = html`<h1>マイページ<span class="en" lang="en">My page</span></h1>
          <p>
            マイナンバーカードでログインすると、どのサービスにいつ何を提供したかを確かめ、同意を取り消せます。<span
              class="en"
              lang="en"
              >Log in with your My Number Card to see which service received what and when, and to withdraw
              consent.</span
            >
          </p>
          <p><a id="me-login" class="button" href="/me/login">カードでログイン / Log in with your card</a></p>`;
        sendPage(res, page({ title: 'マイページ / My page', body, nonce }), nonce);
        return;
      }
      const personId = session.accountId!;
      const [consents, audit] = await Promise.all([
        context.config.records.listConsents(personId),
        context.config.records.listAudit(personId),
      ]);
      const names = new Map<string, string>();
      for (const id of new Set([...consents.map((c) => c.clientId), ...audit.map((a) => a.clientId ?? '')])) {
        if (id !== '') names.set(id, await clientName(id));
      }
      const active = [...new Set(consents.filter((c) => c.withdrawnAt === null).map((c) => c.clientId))];
      const csrf = csrfFor(session.jti);
      const body = html`<h1>マイページ<span class="en" lang="en">My page</span></h1>
        <h2>同意している提供先 / Consents in force</h2>
        ${
          active.length === 0
            ? html`<p id="no-consents">ありません。<span class="en" lang="en">None.</span></p>`
            : html`<ul id="consents">
                ${active.map(
                  (clientId) =>
                    html`<li data-client="${clientId}">
                      <strong>${names.get(clientId) ?? clientId}</strong>
                      <form method="post" action="/me/withdraw" style="display:inline">
                        <input type="hidden" name="client_id" value="${clientId}" /><input
                          type="hidden"
                          name="csrf"
                          value="${csrf}"
                        />
                        <button class="secondary" type="submit">同意を取り消す / Withdraw consent</button>
                      </form>
                    </li>`,
                )}
              </ul>`
        }
        <h2>同意の記録 / Consent records</h2>
        <ul id="consent-records">
          ${consents.map(
            (c) =>
              html`<li data-client="${c.clientId}">
                <strong>${names.get(c.clientId) ?? c.clientId}</strong> ${jst(c.grantedAt)}${
                  c.withdrawnAt === null ? '' : html` — 取り消し済み / withdrawn ${jst(c.withdrawnAt)}`
                }
                <pre>${c.textShown}</pre>
              </li>`,
          )}
        </ul>
        <h2>履歴 / History</h2>
        <table id="history">
          <thead>
            <tr>
              <th>日時 / When</th>
              <th>提供先 / Service</th>
              <th>内容 / What</th>
            </tr>
          </thead>
          <tbody>
            ${[...audit].reverse().map(
              (a) =>
                html`<tr data-type="${a.type}">
                  <td>${jst(a.at)}</td>
                  <td>${a.clientId === null ? '—' : (names.get(a.clientId) ?? a.clientId)}</td>
                  <td>${describe(a)}</td>
                </tr>`,
            )}
          </tbody>
        </table>`;
      sendPage(res, page({ title: 'マイページ / My page', body, nonce }), nonce);
    },

    login: async (_req, res) => {
      const verifier = randomBytes(32).toString('base64url');
      const url = new URL('/auth', context.config.issuer);
      url.search = new URLSearchParams({
        client_id: ME_CLIENT_ID,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: `${context.config.issuer}/me/callback`,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        state: randomBytes(16).toString('base64url'),
        acr_values: ACR_CARD_AUTH,
      }).toString();
      res.writeHead(303, { location: url.href, 'cache-control': 'no-store' }).end();
    },

    callback: async (_req, res) => {
      res.writeHead(303, { location: '/me', 'cache-control': 'no-store' }).end();
    },

    withdraw: async (req, res) => {
      const session = await sessionOf(req, res);
      if (session === undefined) throw new IdpSessionMismatchError();
      const form = await readForm(req);
      const clientId = form.get('client_id');
      const csrf = Buffer.from(form.get('csrf') ?? '', 'utf8');
      const expected = Buffer.from(csrfFor(session.jti), 'utf8');
      if (csrf.length !== expected.length || !timingSafeEqual(csrf, expected)) throw new IdpSessionMismatchError();
      if (clientId === null || clientId === '') throw new IdpBadRequestError('client_id is required');
      const current = session.grantIdFor(clientId);
      await withdrawConsent(
        { provider: context.provider(), records: context.config.records, identities: context.config.ekyc.identities },
        session.accountId!,
        clientId,
        typeof current === 'string' ? [current] : [],
      );
      res.writeHead(303, { location: '/me', 'cache-control': 'no-store' }).end();
    },
  };
}

/** One history line, in both languages. Shows names of what was released, never the values. */
function describe(a: AuditRecord): string {
  const claims = (v: unknown) => (Array.isArray(v) ? v.map((c) => CLAIM_NAMES[String(c)] ?? String(c)).join('、') : '');
  switch (a.type) {
    case 'login.card':
      // A login that stood as the consent names the grant that gave the service your identifier (card-login.ts).
      return a.data['grantId'] === undefined
        ? 'カードでログイン / Logged in with the card'
        : 'カードでログインし、利用者IDを提供 / Logged in with the card; your identifier given';
    case 'login.grant':
      return 'カードでのログインで利用者IDを提供 / Your identifier given by the card login';
    case 'consent.granted':
      return `同意 / Consent: ${claims(a.data['claims']) || 'ID'}`;
    case 'ekyc.signature':
      return `署名用電子証明書で本人確認（シリアル番号 ${String(a.data['serialNumber'])}）/ Identity verified by signature (serial ${String(a.data['serialNumber'])})`;
    case 'claims.released':
      return `提供 / Provided (${a.data['use'] === 'id_token' ? 'ID token' : 'UserInfo'}): ${claims(a.data['claims'])}`;
    case 'consent.withdrawn':
      return '同意を取り消し / Consent withdrawn';
    default:
      return a.type;
  }
}

function jst(d: Date): string {
  return `${new Date(d.getTime() + 9 * 3600_000).toISOString().slice(0, 16).replace('T', ' ')} JST`;
}
