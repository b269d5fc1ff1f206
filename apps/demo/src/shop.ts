/**
 * The demo liquor shop, the third story: an age-restricted purchase (`POST /buy`) by `ageCheck({ over: 20 })`. The
 * shop learns one boolean, `age_over_20`, and its own pairwise `sub`. It is a relying party of its own (its own
 * origin and client registration), so MynaGate's pages name the shop, and the bank and the shop cannot join their
 * customers by `sub`. The callback answers 303 to `/done`, whose page reads the result from the session, so a reload
 * shows it again instead of "no purchase in progress". The shop's page starts a session for its form's CSRF token;
 * the session gets a new id when the age check completes.
 */
import type { AgeCheckTransaction } from '@mynagate/rp';
import { errorPage, purchasePage, shopPage } from './pages.ts';
import {
  loginRefusal,
  readBody,
  startService,
  type Exchange,
  type Refusal,
  type RunningService,
  type ServiceOptions,
} from './service.ts';

/** ID token claims that belong to the protocol, not to the person: left out of "what the shop received". */
const PROTOCOL_CLAIMS = new Set([
  'iss',
  'aud',
  'azp',
  'exp',
  'iat',
  'nbf',
  'jti',
  'nonce',
  'sid',
  'at_hash',
  'c_hash',
  's_hash',
]);

/** The purpose the shop gives: shown at consent and in the statement the person signs. */
const PURPOSE = '酒類の販売のための年齢確認 / Age check for selling alcohol';

/**
 * What `/done` shows: the age check's answer with what the page lists of it (the boolean, the claim names, the
 * shop's pairwise `sub`; never a claim's value), or the check that did not go through.
 */
type Result =
  | { readonly satisfied: boolean; readonly received: readonly string[]; readonly sub: string }
  | { readonly refusal: Refusal };

interface Session {
  pending?: AgeCheckTransaction;
  /** The outcome of the last age check, until the next purchase starts. */
  result?: Result;
}

/** What the person's "no" at MynaGate (the login cancelled, the consent declined) means here. */
const DECLINED = Object.freeze({
  ja: '年齢確認に同意されなかったため購入できませんでした。',
  en: 'You did not agree to the age check, so the purchase was not made.',
});

/** Options of {@link startShop}. */
export interface ShopOptions extends ServiceOptions {
  /** The bank's URL (the shop's pages link to it). */
  readonly bankUrl: string;
}

/**
 * Starts the shop.
 *
 * @throws TypeError on a bad key; the listen error (e.g. `EADDRINUSE`).
 */
export function startShop(options: ShopOptions): Promise<RunningService> {
  async function callback(x: Exchange<Session>): Promise<void> {
    const session = x.session;
    const transaction = session?.pending;
    if (session === undefined || transaction === undefined) {
      // A callback already handled (a reload, the back button): its result, not an error.
      if (session?.result !== undefined) return x.redirect('/done');
      return x.page(
        400,
        errorPage(
          'このブラウザーで進行中のご購入手続きはありません。',
          'No purchase is in progress in this browser.',
          'shop',
        ),
      );
    }
    const mynagate = x.client();
    // A transaction is used once, whatever the outcome.
    delete session.pending;
    try {
      const result = await mynagate.complete(transaction, x.url);
      x.renewSession(); // a login completed: a new session id (session fixation)
      // The claim set is read here, at the callback, and not kept: the session keeps the names it had for the page.
      const received = Object.keys(result.idTokenClaims).filter((c) => !PROTOCOL_CLAIMS.has(c));
      session.result = { satisfied: result.age.satisfied, received, sub: result.sub };
    } catch (e) {
      session.result = { refusal: loginRefusal(e, DECLINED) };
    }
    return x.redirect('/done');
  }

  /** `/done`: the session's last result; nothing to show sends the browser to the shop. */
  function done(x: Exchange<Session>): void {
    const result = x.session?.result;
    if (result === undefined) return x.redirect('/');
    if ('refusal' in result)
      return x.page(result.refusal.status, errorPage(result.refusal.ja, result.refusal.en, 'shop'));
    return x.page(200, purchasePage(result.satisfied, result.received, result.sub, options.bankUrl));
  }

  return startService<Session>(options, async (x) => {
    switch (`${x.req.method} ${x.url.pathname}`) {
      case 'GET /':
        if (x.session === undefined) x.startSession({});
        return x.page(200, shopPage(options.bankUrl, x.csrfToken()));
      case 'POST /buy': {
        const client = x.client(); // 503 before the provider is known
        if (x.session === undefined || !x.csrfValid(new URLSearchParams(await readBody(x.req)))) {
          return x.page(
            403,
            errorPage(
              'このフォームは受け付けられません。お店のページからやり直してください。',
              'This form cannot be accepted. Start again from the shop page.',
              'shop',
            ),
          );
        }
        const { url, transaction } = await client.ageCheck({ over: 20, purpose: PURPOSE });
        const session = x.session;
        session.pending = transaction;
        delete session.result;
        return x.redirect(url.href);
      }
      case 'GET /callback':
        return callback(x);
      case 'GET /done':
        return done(x);
      default:
        return x.page(404, errorPage('ページが見つかりません。', 'Page not found.', 'shop'));
    }
  });
}
