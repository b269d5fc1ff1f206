/**
 * The demo liquor shop, the third story: an age-restricted purchase (`POST /buy`) by `ageCheck({ over: 20 })`. The
 * shop learns one boolean, `age_over_20`, and its own pairwise `sub`. It is a relying party of its own (its own
 * origin and client registration), so MynaGate's pages name the shop, and the bank and the shop cannot join their
 * customers by `sub`.
 */
import type { AgeCheckTransaction } from '@mynagate/rp';
import { errorPage, purchasePage, shopPage } from './pages.ts';
import { loginFailed, startService, type Exchange, type RunningService, type ServiceOptions } from './service.ts';

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

interface Session {
  pending?: AgeCheckTransaction;
}

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
      return x.page(
        400,
        errorPage('ログインの手続きが見つかりません。', 'No purchase in progress in this browser.', 'shop'),
      );
    }
    const mynagate = x.client();
    // A transaction is used once, whatever the outcome.
    delete session.pending;
    try {
      const result = await mynagate.complete(transaction, x.url);
      // The claim set is read here, at the callback, and kept nowhere: the page lists the names it had.
      const received = Object.keys(result.idTokenClaims).filter((c) => !PROTOCOL_CLAIMS.has(c));
      return x.page(200, purchasePage(result.age.satisfied, received, result.sub, options.bankUrl));
    } catch (e) {
      return loginFailed(x, e);
    }
  }

  return startService<Session>(options, async (x) => {
    switch (`${x.req.method} ${x.url.pathname}`) {
      case 'GET /':
        return x.page(200, shopPage(options.bankUrl));
      case 'POST /buy': {
        const { url, transaction } = await x.client().ageCheck({ over: 20, purpose: PURPOSE });
        (x.session ?? x.startSession({})).pending = transaction;
        return x.redirect(url.href);
      }
      case 'GET /callback':
        return callback(x);
      default:
        return x.page(404, errorPage('ページが見つかりません。', 'Page not found.', 'shop'));
    }
  });
}
