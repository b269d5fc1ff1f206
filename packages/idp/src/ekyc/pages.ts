/**
 * The eKYC signing step, after the card login and the consent:
 *
 * - `GET /interaction/:uid` while the `ekyc` prompt is pending: the page with what will be signed (service, purpose,
 *   items) and an animated QR code for the companion (refused with `ERR_IDP_EKYC_UNPAIRED` by a provider that cannot
 *   pair the signing card with the login card, config.ts `signingCardPair`); `GET /interaction/:uid/sign-events`: its Server-Sent Events
 *   (`qr`, `scanned`, `failed`, `done`, `expired`, `refused`), for the browser session that opened the page only,
 *   at most {@link STREAMS_PER_LOGIN} at once per transaction on a node, a newer one ending the oldest with a `refused`
 *   event `ERR_IDP_TOO_MANY_STREAMS`, as for the login page;
 * - `GET /companion/sign/:txn?t&c`: the companion's view with the canonical statement to sign ({@link SignView}),
 *   whose `network` is `same` when the companion scanned from the network the signing page's browser opened it on
 *   (IPv4 /24, IPv6 /64, compared by keyed tags, never the addresses; network-tag.ts), else `other`, unknown
 *   included. On `other` a companion shows {@link SIGN_NETWORK_CAUTION} before it asks for the signing password: a
 *   signing QR code relayed by a phishing page would have the person's signature give the relaying page's session
 *   a verified identity. Each answered scan is one `sign.scanned` line in the operator's log ({@link
 *   signScannedEvent});
 * - `POST /companion/sign/:txn/signature` `{ signature, certificate, nonce }`: the card's signature over
 *   DigestInfo(SHA-256(canonical)) with the signing key and the signing certificate (base64), and the `nonce` of the
 *   statement signed (the view's `statement.nonce`, the same in `canonical`). Answers `{ status: 'ok' }`. The
 *   statement is used up only by a post that names its nonce (card-sign.ts `submitStatementSignature`): any other
 *   post is refused `ERR_IDP_CHALLENGE_INVALID` (409) whether the transaction waits, finished, expired or never
 *   was, and changes nothing (the companion that scanned can still post; the page is not told); a body without a
 *   well-formed nonce is `ERR_IDP_BAD_REQUEST`. Only a refusal of a post that named it reaches the page (`failed`).
 * - `POST /dev/phone/sign-statement` `{ txn, nonce, card, password }` (development): the virtual card signs the
 *   outstanding statement server side, if `nonce` is still its nonce (else `ERR_IDP_CHALLENGE_INVALID`, before the
 *   card is asked anything), and the signature is posted as above.
 */
import { randomBytes } from 'node:crypto';
import { isMynaGateError } from '@mynagate/errors';
import { statementBytes } from '@mynagate/pki';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ACR_CARD_SIGN, AMR_CARD } from '../acr.ts';
import type { DevConfig } from '../config.ts';
import { openVirtualCard } from '../dev/virtual-card.ts';
import { loginOnlyReason, statementOrigin, statementOriginRule } from '../client-origin.ts';
import {
  IdpBadRequestError,
  IdpClientLoginOnlyError,
  IdpEkycUnpairedError,
  IdpInteractionNotFoundError,
  IdpChallengeInvalidError,
  IdpSessionMismatchError,
} from '../errors.ts';
import { html, page, raw, scriptJson } from '../lib/html.ts';
import { readBindingCookie, setBindingCookie } from '../interactions/browser-binding.ts';
import { interactionFor, type InteractionContext } from '../interactions/context.ts';
import { carryLoginCredential } from '../login-credentials.ts';
import { noScriptNotice, qrDeadlines, qrExpiryActions, sendPage, serviceReturn } from '../interactions/login-page.ts';
import { QR_PAGE_SCRIPT, sendDone, streamQrEvents, type QrPageTexts } from '../interactions/qr-events.ts';
import { qrSvg } from '../interactions/qr-svg.ts';
import { readJson, sendJson, type Handler } from '../interactions/router.ts';
import { stderrLog, type EventLog, type LogEvent } from '../lib/log.ts';
import { scanLogger, type Network } from '../network-tag.ts';
import { cappedSource, STREAMS_PER_LOGIN } from '../interactions/events.ts';
import { StreamCap, type TransactionChange } from '../transaction-watch.ts';
import { signStatementWithCard, submitStatementSignature, type CardSignDeps, type SigningCard } from './card-sign.ts';
import { grantGetsRefreshTokens, identityLifetime } from './identity-store.ts';
import { signErrorBody } from './messages.ts';
import { statementItems, statementTerms } from './policy.ts';
import { isStatementNonce } from './statement.ts';
import { SignTransactions, type SignOutcome, type SignTransaction } from './sign-transaction.ts';

const COOKIE = 'mynagate_sign';

const SIGN_TEXTS: QrPageTexts = {
  scanned: [
    'スマートフォンで文面を確かめ、署名用電子証明書のパスワードを入力してください。',
    'Read the statement on the phone and enter your signing certificate password.',
  ],
  expiring: [
    'あと1分ほどでこのQRコードは使えなくなります。間に合わないときは「QRコードを再表示」を押してください。',
    'This QR code stops working in about a minute. If you need more time, press “Show a new QR code”.',
  ],
  expired: [
    '受付時間が過ぎたため、QRコードを消しました。QRコードを再表示するか、サービスの画面からやり直してください。',
    'This request has expired and its QR code was removed. Show a new QR code, or start again from the service.',
  ],
  done: ['本人確認が完了しました。サービスに戻ります…', 'Identity verified. Returning to the service…'],
};

/** The QR code's accessible name. */
const SIGN_QR_LABEL =
  '本人確認用のQRコード。スマートフォンのMynaGateアプリで読み取り、表示される文面に署名用電子証明書で署名します。 / ' +
  'Identity verification QR code for the MynaGate app on your phone, which shows the statement to sign with your signing certificate.';

/** What the companion shows after a successful post. */
export const SIGN_DONE = Object.freeze({
  ja: '署名を確認しました。ブラウザーの画面に戻ってください。',
  en: 'Your signature was verified. Return to the browser.',
});

/**
 * What a companion shows, before it asks for the signing password, when the sign view's `network` is `other`: the
 * signature began on another network than the one the companion scanned from. Continue only if you started it
 * yourself.
 */
export const SIGN_NETWORK_CAUTION = Object.freeze({
  ja: 'この本人確認（署名）は、この端末とは別のネットワークで始まりました。いま目の前の画面で、ご自身で始めた場合だけ続けてください。誰かに送られた・見せられたQRコードなら、パスワードを入力せずに中止してください。',
  en: 'This identity check (signature) was started on another network than this device. Continue only if you started it yourself, on a screen in front of you. If someone sent or showed you this QR code, stop without entering your password.',
});

/**
 * The `sign.scanned` event of a companion's answered scan of a signing link: `time`, `event`, the `client_id` of the
 * signature and `network` (`same` or `other`, as the view says). Nothing else: not the address, not the network's tag,
 * not the transaction (as `login.scanned`, interactions/companion.ts).
 *
 * @example
 * ```json
 * {"time":"2025-04-01T09:00:00.000Z","event":"sign.scanned","client_id":"bank","network":"other"}
 * ```
 */
export function signScannedEvent(at: number, clientId: string, network: Network): LogEvent {
  return { time: new Date(at).toISOString(), event: 'sign.scanned', client_id: clientId, network };
}

/** The signing step's handlers, sharing one {@link SignTransactions}. */
export interface EkycRoutes {
  readonly page: Handler;
  readonly events: Handler;
  readonly scan: Handler;
  readonly signature: Handler;
  devSign(dev: DevConfig): Handler;
}

/**
 * Builds the signing step's handlers for a server.
 *
 * @param log where the `sign.scanned` events go ({@link signScannedEvent}); default one JSON line on stderr.
 */
export function ekycRoutes(context: InteractionContext, log: EventLog = stderrLog): EkycRoutes {
  const { config } = context;
  const signs = new SignTransactions({
    oneShot: config.stores.oneShot,
    now: config.now,
    origin: config.origin,
    ttlSeconds: config.loginTtlSeconds,
    statementTtlSeconds: config.challengeTtlSeconds,
    qrMaxAgeSeconds: config.qrMaxAgeSeconds,
    changes: config.stores.changes,
  });
  // The signing page's streams, capped as the login page's are (interactions/events.ts): a page holds one, a reload
  // or a reconnect briefly two; one more ends the oldest.
  const streams = new StreamCap(STREAMS_PER_LOGIN);
  const deps = (): CardSignDeps => ({
    transactions: signs,
    verifier: context.config.verifier as CardSignDeps['verifier'],
    records: context.config.records,
    keepCertificate: context.config.ekyc.keepCertificate,
    signingCardPair: context.config.ekyc.signingCardPair,
    people: context.config.stores.people,
    now: context.config.now,
  });

  return {
    page: async (req, res, params) => {
      const uid = params['uid']!;
      const details = await interactionFor(context, req, res, uid);
      // The authorization endpoint refused eKYC when nothing pairs the signing card with the login card
      // (unpaired.ts); an interaction that got here all the same gets no statement and no transaction.
      if (config.ekyc.signingCardPair === undefined) throw new IdpEkycUnpairedError();
      const accountId = details.session?.accountId;
      const grantId = details.grantId;
      if (typeof accountId !== 'string' || typeof grantId !== 'string') throw new IdpInteractionNotFoundError();
      const provider = context.provider();
      const clientId = String(details.params['client_id']);
      const client = await provider.Client.find(clientId);
      const clientName = client?.clientName ?? clientId;
      // The authorization endpoint refused eKYC to a login-only client (login-only.ts); a registration changed since
      // (now public, or with a redirect no statement names) is refused here, before a statement or a transaction
      // names it. Fails closed: a client gone is login only.
      const reason = loginOnlyReason(client, config.origin);
      if (reason !== undefined) throw new IdpClientLoginOnlyError(reason);
      const clientOrigin = statementOrigin(details.params['redirect_uri'], config.origin);
      if (clientOrigin === undefined) throw new IdpClientLoginOnlyError('redirect-uri');
      const grant = await provider.Grant.find(grantId);
      const granted = new Set(grant?.getOIDCClaims() ?? []);
      const items = statementItems(details.params, [...granted], grant?.getRejectedOIDCClaims() ?? []);
      // The same terms the `ekyc` prompt compares a kept signature with (policy.ts): a statement for another purpose
      // is what it asks for.
      const { purpose, claimPurposes } = statementTerms({
        params: details.params,
        clientId,
        clientName,
        purposes: context.config.ekyc.purposes,
        claims: items.filter((i) => !i.key.startsWith('scope:')).map((i) => i.key),
      });
      const { transaction, browserKey } = await signs.start({
        uid,
        grantId,
        accountId,
        clientId,
        clientName,
        clientOrigin,
        purpose,
        // Each item with its per-claim purposes in the consent screen's words, and those purposes as data: both signed.
        items: items.map((i) => (i.purpose === undefined ? i.label : { ...i.label, purpose: i.purpose })),
        claimPurposes,
        claims: items.filter((i) => !i.key.startsWith('scope:')).map((i) => i.key),
        // What the statement's items give exactly; a detail the grant lacks is not covered (the consent prompt
        // has asked for every one before this page).
        details: items.flatMap((i) => i.details.filter((d) => granted.has(d))),
        // The browser's network, as a keyed tag (never its address), for the companion's scan to compare.
        network: context.networkOf(req),
      });
      setCookie(res, transaction.txn, browserKey, context.config.secure, context.config.loginTtlSeconds);
      const { link } = signs.currentLink(transaction);
      const svg = await qrSvg(link);
      const nonce = randomBytes(16).toString('base64');
      const dev = context.config.dev !== false;
      const back = serviceReturn(details.params, context.config.issuer);
      const body = html`<h1>署名用電子証明書で本人確認<span class="en" lang="en">Verify your identity with your signing certificate</span></h1>
<p><strong id="client-name">${clientName}</strong> (<span id="client-origin">${clientOrigin}</span>) が本人確認を求めています。
<span class="en" lang="en">${clientName} asks to verify your identity.</span></p>
<dl><dt>目的 / Purpose</dt><dd id="purpose">${purpose}</dd>
<dt>提供する情報 / Provided</dt><dd><ul id="items">${items.map((i) => html`<li data-key="${i.key}">${i.label.ja}<span class="en" lang="en">${i.label.en}</span>${i.purpose ? html`<br /><small class="purpose">目的 / Purpose: ${i.purpose}</small>` : ''}</li>`)}</ul></dd></dl>
<ol>
<li>スマートフォンのMynaGateアプリでQRコードを読み取り、表示される文面を確かめてください。<span class="en" lang="en">Scan the QR code with the MynaGate app and read the statement it shows.</span></li>
<li>署名用電子証明書のパスワード（英数字6〜16文字）を入力してカードをかざすと、文面に署名します。<span class="en" lang="en">Enter the password of your signing certificate (6-16 letters and digits) and hold your card to the phone to sign it.</span></li>
</ol>
${noScriptNotice(uid)}
<div class="qr" id="qr" role="img" aria-label="${SIGN_QR_LABEL}" data-link="${link}">${raw(svg)}</div>
<div class="status" id="status" role="status" aria-live="polite">QRコードの読み取りを待っています…<span class="en" lang="en">Waiting for the QR code to be scanned…</span></div>
${qrExpiryActions(back)}
<p>${dev ? html`<a id="dev-phone" class="button secondary" target="_blank" rel="opener" href="/dev/phone#${encodeURIComponent(link)}">仮想スマートフォンで開く（開発用）/ Open the virtual phone (development)</a> ` : ''}
<form id="cancel" method="post" action="/interaction/${uid}/abort" style="display:inline"><button class="secondary" type="submit">キャンセル / Cancel</button></form></p>`;
      const doc = page({
        title: '本人確認 / Identity verification',
        body,
        nonce,
        script: html`const cfg =
        ${scriptJson({
          events: `/interaction/${uid}/sign-events`,
          texts: SIGN_TEXTS,
          ...qrDeadlines(context, transaction.expiresAt, details),
        })};
        ${raw(QR_PAGE_SCRIPT)}`,
      });
      // Cancel answers with a redirect to the service (through /auth/:uid): form-action must allow its origin.
      sendPage(res, doc, nonce, [String(details.params['redirect_uri'])]);
    },

    events: async (req, res, params) => {
      const uid = params['uid']!;
      await interactionFor(context, req, res, uid);
      const binding = readCookie(req, context.config.secure);
      if (binding === undefined) throw new IdpSessionMismatchError();
      let transaction: SignTransaction;
      try {
        transaction = await signs.getOwned(binding.txn, binding.key, uid);
      } catch (e) {
        // The signature finished moments ago, by another stream of this browser (the one before a reconnect): this
        // page goes on too.
        const finished = isMynaGateError(e, 'ERR_IDP_LOGIN_NOT_FOUND')
          ? await signs.finishedFor(binding.txn, binding.key, uid)
          : undefined;
        if (finished === undefined) throw e;
        sendDone(res, finished);
        return;
      }
      const { txn } = transaction;
      // Counted once the browser proved it owns the transaction (no one else can take its slots), until the response
      // closes, whichever way the stream ends.
      await streamQrEvents<TransactionChange>(
        res,
        cappedSource(streams, txn, res, {
          expiresAt: transaction.expiresAt,
          now: context.config.now,
          currentLink: () => signs.currentLink(transaction),
          async look(change) {
            // A scan this stream was told of needs no read: the companion holds the statement now.
            if (change === 'scanned') return { scanned: true, newScan: true };
            // Opened with this browser's key (its cookie): the store holds the outcome sealed to it.
            const outcome = await signs.takeOutcome(txn, binding.key);
            if (outcome !== undefined) {
              let redirect: string;
              try {
                redirect = await finish(req, res, transaction, outcome);
              } catch (e) {
                // The browser's other streams, which no longer find the outcome, hear why instead of waiting.
                void signs.fail(transaction, signErrorBody(e)).catch(() => {});
                throw e;
              }
              return { redirect, scanned: true };
            }
            // An outcome another stream of this browser took first (the page before a reconnect, a duplicated tab):
            // that stream finishes and keeps its redirect for this one, which sends the same `done`.
            const [finished, failure, scanId] = await Promise.all([
              signs.finished(txn),
              signs.takeFailure(txn),
              signs.scanId(txn),
            ]);
            if (finished !== undefined) return { redirect: finished, scanned: true };
            return { failure, scanned: scanId !== undefined, scanId };
          },
          refused: signErrorBody,
          watch: (onChange) => signs.watch(txn, onChange),
        }),
        -1,
        context.config.eventPollMs,
      );
    },

    scan: async (req, res, params, url) => {
      const view = await signs.scan(params['txn']!, url.searchParams.get('t'), url.searchParams.get('c'), {
        network: context.networkOf(req),
        scanned: scanLogger(context.config.now, log, signScannedEvent),
      });
      sendJson(res, 200, view);
    },

    signature: async (req, res, params) => {
      await submitStatementSignature(deps(), params['txn']!, await readJson(req));
      sendJson(res, 200, { status: 'ok', message: SIGN_DONE });
    },

    devSign(dev) {
      const openCard = dev.openCard ?? openVirtualCard;
      return async (req, res) => {
        const body = (await readJson(req)) as Record<string, unknown> | null;
        const txn = body?.['txn'];
        const nonce = body?.['nonce'];
        const password = body?.['password'];
        const index = body?.['card'];
        if (typeof txn !== 'string' || typeof password !== 'string' || !isStatementNonce(nonce)) {
          throw new IdpBadRequestError('txn, nonce and password are required');
        }
        const card = typeof index === 'number' && Number.isInteger(index) ? dev.cards[index] : undefined;
        if (card === undefined) throw new IdpBadRequestError('no such card');
        // The statement the phone showed, or none: a rescan since replaced it, and the card signs nothing the
        // developer did not read (no password try spent). The post below uses it up only if it is still outstanding.
        const statement = await signs.peekStatement(txn);
        if (statement?.nonce !== nonce) throw new IdpChallengeInvalidError();
        const canonical = new TextDecoder().decode(statementBytes(statement, statementOriginRule(config.origin)));
        const opened = await openCard(card.file);
        let signed;
        try {
          // The dev card is a JpkiClient, which has the signing key too (LoginCard types only the auth side).
          signed = await signStatementWithCard(opened.card as unknown as SigningCard, canonical, password);
        } finally {
          await opened.close();
        }
        await submitStatementSignature(deps(), txn, signed);
        sendJson(res, 200, { status: 'ok', message: SIGN_DONE });
      };
    },
  };

  /**
   * Ends the interaction with the card-signature ACR; returns node-oidc-provider's resume URL.
   *
   * @throws `ERR_IDP_SESSION_MISMATCH` (another account's outcome); `ERR_IDP_INTERACTION_NOT_FOUND` when the grant the
   *   signature was for is gone or not this person's for this service (consent withdrawn meanwhile): nothing is kept.
   */
  async function finish(
    req: IncomingMessage,
    res: ServerResponse,
    transaction: SignTransaction,
    outcome: SignOutcome,
  ): Promise<string> {
    const details = await interactionFor(context, req, res, transaction.uid);
    if (details.session?.accountId !== outcome.accountId) throw new IdpSessionMismatchError();
    // The identity becomes the grant's here, where the browser that owns the transaction takes it, for as long as
    // the grant's tokens can ask for it (no refresh token: the code and access token lifetimes).
    const provider = context.provider();
    const { grantId, clientId } = outcome.identity;
    // Only under a grant that still exists and is this person's for this service: consent withdrawn while the phone
    // was signing destroyed it (consent/withdraw.ts), and the basic-4 would sit under a dead grant until its TTL. The
    // interaction cannot finish without its grant: the person starts again from the service.
    const grant = await provider.Grant.find(grantId);
    if (
      grant === undefined ||
      grant.accountId !== outcome.accountId ||
      grant.clientId !== clientId ||
      details.grantId !== grantId
    ) {
      await signs.end(transaction.txn);
      throw new IdpInteractionNotFoundError();
    }
    const refreshable = await grantGetsRefreshTokens(provider, grantId, clientId);
    const ttl = await identityLifetime(
      provider,
      grantId,
      clientId,
      context.config.ekyc.identityTtlSeconds,
      refreshable,
    );
    // The signature becomes the session's login, with its own time: the card the session logged in with is
    // recorded under that time too, for the refresh check of the tokens issued after it (login-credentials.ts):
    // durably when this authorization's code brings a refresh token (offline_access asked for and granted).
    const offlineAsked = String(details.params['scope'] ?? '')
      .split(' ')
      .includes('offline_access');
    await Promise.all([
      context.config.ekyc.identities.put(outcome.identity, ttl),
      carryLoginCredential(
        context.config.loginCredentials,
        provider,
        details.session,
        outcome.accountId,
        outcome.ts,
        refreshable && offlineAsked,
      ),
    ]);
    const redirect = await provider.interactionResult(
      req,
      res,
      {
        login: {
          accountId: outcome.accountId,
          acr: ACR_CARD_SIGN,
          amr: [...AMR_CARD],
          ts: outcome.ts,
          remember: false,
        },
      },
      { mergeWithLastSubmission: true },
    );
    // Then the redirect for the browser's other streams, and the transaction's keys go, in one atomic step
    // (sign-transaction.ts `finish`). Best effort: if it fails, nothing changed, and the keys expire by themselves.
    void signs.finish(transaction, redirect).catch(() => {});
    return redirect;
  }
}

// `__Host-mynagate_sign` on an https issuer, at Path=/ (see interactions/browser-binding.ts).
function setCookie(res: ServerResponse, txn: string, key: string, secure: boolean, maxAge: number): void {
  setBindingCookie(res, COOKIE, { txn, key, secure, maxAgeSeconds: maxAge });
}

function readCookie(req: IncomingMessage, secure: boolean): { readonly txn: string; readonly key: string } | undefined {
  return readBindingCookie(req, COOKIE, secure);
}
