/**
 * The demo bank, two stories on `@mynagate/rp`:
 *
 * 1. **Sign-up** (`/signup`): `cardLogin()`; the account is keyed by the pairwise `sub`, so one card is one account.
 * 2. **Transfer** (`POST /transfer`): up to `STEP_UP_THRESHOLD_YEN` on the session's login; above it, a
 *    `stepUp({ maxAgeSeconds })` card login for the same `sub`, and the transfer is made only after it.
 *
 * Every login ends at `/callback`, where `complete` checks state, PKCE, the ID token, `acr`/`amr`/`auth_time`; what
 * happens next is decided by what the session was waiting for. The callback never shows a result itself: it answers
 * 303 to `/account` (a sign-up) or `/done` (a transfer, or a login that did not go through), whose pages read the
 * session, so a reload shows the same result again and makes nothing twice. A transfer that needs no card is
 * answered the same way (303 to `/done`), so a reload never posts it again. `/shop` leads to the shop, a service of
 * its own.
 *
 * The session gets a new id at every completed login (a cookie planted before it, e.g. by the shop on another port
 * of the same host, is worth nothing after it), and the transfer and logout forms carry its CSRF token.
 */
import type { CardLoginTransaction, MynaGateClient } from '@mynagate/rp';
import { openDemoAccounts } from './accounts.ts';
import { DemoNotConnectedError } from './errors.ts';
import { accountPage, errorPage, landingPage, transferDonePage } from './pages.ts';
import {
  loginRefusal,
  readBody,
  startService,
  type Bilingual,
  type Exchange,
  type Refusal,
  type RunningService,
  type ServiceOptions,
} from './service.ts';
import {
  needsFreshCardLogin,
  openDemoTransfers,
  parseAmount,
  STEP_UP_MAX_AGE_SECONDS,
  type DemoTransfer,
} from './transfers.ts';

/** What a bank session waits for at `/callback`. */
type Pending =
  | { readonly story: 'signup'; readonly transaction: CardLoginTransaction }
  | {
      readonly story: 'transfer';
      readonly transaction: CardLoginTransaction;
      readonly payee: string;
      readonly amount: number;
    };

/** What `/done` shows: the last transfer made, or the login that did not go through. */
type Result = { readonly transfer: DemoTransfer } | { readonly refusal: Refusal };

interface Session {
  pending?: Pending;
  account?: { number: string; sub: string; created: boolean; acr: string };
  /** The outcome of the last transfer or card login, until the next one starts. */
  result?: Result;
}

/** What the person's "no" at MynaGate meant, per story. */
const DECLINED: Readonly<Record<Pending['story'], Bilingual>> = Object.freeze({
  signup: {
    ja: 'カードでの確認に同意されなかったため、口座の開設・ログインはできませんでした。',
    en: 'You did not agree to the card check, so no account was opened and you are not logged in.',
  },
  transfer: {
    ja: 'カードでの確認に同意されなかったため、振込はできませんでした。',
    en: 'You did not agree to the card check, so the transfer was not made.',
  },
});

/** Options of {@link startBank}. */
export interface BankOptions extends ServiceOptions {
  /** Where the accounts and transfers live (SQLite file; `:memory:` for a throwaway demo). */
  readonly accountsPath: string;
  /** The shop's URL, once known (`/shop` redirects there). */
  readonly shopUrl: () => string | undefined;
}

/**
 * Starts the bank.
 *
 * @throws TypeError on a bad key; the listen error (e.g. `EADDRINUSE`).
 */
export async function startBank(options: BankOptions): Promise<RunningService> {
  const { now } = options;
  const accounts = openDemoAccounts(options.accountsPath);
  const transfers = openDemoTransfers(options.accountsPath);

  /** Starts a card login of some story: keeps its transaction in the session, sends the browser to MynaGate. */
  async function start(
    x: Exchange<Session>,
    begin: (c: MynaGateClient) => Promise<{ url: URL; pending: Pending }>,
  ): Promise<void> {
    const { url: target, pending } = await begin(x.client());
    const session = x.session ?? x.startSession({});
    session.pending = pending;
    delete session.result;
    x.redirect(target.href);
  }

  /** Keeps `result` for `/done` and sends the browser there (303): a reload shows it again, and does nothing. */
  function showResult(x: Exchange<Session>, session: Session, result: Result): void {
    session.result = result;
    x.redirect('/done');
  }

  /** A form of the account page from elsewhere (no or another session's CSRF token): refused, nothing done. */
  function forged(x: Exchange<Session>): void {
    x.page(
      403,
      errorPage(
        'このフォームは受け付けられません。口座のページからやり直してください。',
        'This form cannot be accepted. Start again from your account page.',
      ),
    );
  }

  async function transfer(x: Exchange<Session>): Promise<void> {
    const account = x.session?.account;
    if (account === undefined) return x.redirect('/');
    const form = new URLSearchParams(await readBody(x.req));
    if (!x.csrfValid(form)) return forged(x);
    const payee = (form.get('payee') ?? '').trim();
    const amount = parseAmount(form.get('amount') ?? '');
    if (payee === '' || payee.length > 40 || amount === undefined) {
      return x.page(400, errorPage('振込先と金額を確かめてください。', 'Check the payee and the amount.'));
    }
    if (amount > transfers.balance(account.number)) {
      return x.page(400, errorPage('残高が足りません。', 'The balance is too low.'));
    }
    if (!needsFreshCardLogin(amount)) {
      const transfer = transfers.record({
        account: account.number,
        payee,
        amount,
        freshCardLogin: false,
        at: new Date(now()),
      });
      return showResult(x, x.session!, { transfer });
    }
    // A large transfer: the card again, now, and only then the transfer (it waits in the session meanwhile).
    return start(x, (c) =>
      c
        .stepUp({ maxAgeSeconds: STEP_UP_MAX_AGE_SECONDS })
        .then((r) => ({ ...r, pending: { story: 'transfer', transaction: r.transaction, payee, amount } })),
    );
  }

  async function callback(x: Exchange<Session>): Promise<void> {
    const session = x.session;
    const pending = session?.pending;
    if (session === undefined || pending === undefined) {
      // A callback already handled (a reload, the back button): its result, not an error.
      if (session?.result !== undefined) return x.redirect('/done');
      if (session?.account !== undefined) return x.redirect('/account');
      return x.page(
        400,
        errorPage(
          'このブラウザーでカードでの確認を待っている手続きはありません。',
          'Nothing in this browser is waiting for a card check.',
        ),
      );
    }
    const mynagate = x.client();
    // A transaction is used once, whatever the outcome.
    delete session.pending;
    try {
      // complete() returns the ID token and its claims once, here; the session keeps the account number and sub.
      const result = await mynagate.complete(pending.transaction, x.url);
      // A login completed: a new session id, whatever it was before (session fixation).
      x.renewSession();
      switch (pending.story) {
        case 'signup': {
          const { account, created } = accounts.signIn(result.sub, new Date(now()));
          session.account = { number: account.number, sub: account.sub, created, acr: result.acr };
          return x.redirect('/account');
        }
        case 'transfer': {
          // complete() demanded auth_time within max_age and not before the step-up began (ERR_RP_STALE_AUTH).
          const account = session.account;
          if (account === undefined || result.sub !== account.sub) {
            return showResult(x, session, {
              refusal: {
                status: 403,
                ja: 'この口座のカードとは別のカードのため、振込はできませんでした。',
                en: 'That is not the card of this account, so the transfer was not made.',
              },
            });
          }
          const transfer = transfers.record({
            account: account.number,
            payee: pending.payee,
            amount: pending.amount,
            freshCardLogin: true,
            at: new Date(now()),
          });
          return showResult(x, session, { transfer });
        }
      }
    } catch (e) {
      return showResult(x, session, { refusal: loginRefusal(e, DECLINED[pending.story]) });
    }
  }

  /** `/done`: the session's last result; nothing to show sends the browser to the start. */
  function done(x: Exchange<Session>): void {
    const result = x.session?.result;
    if (result === undefined) return x.redirect('/');
    if ('refusal' in result) return x.page(result.refusal.status, errorPage(result.refusal.ja, result.refusal.en));
    return x.page(200, transferDonePage(result.transfer, transfers.balance(result.transfer.account)));
  }

  async function handle(x: Exchange<Session>): Promise<void> {
    switch (`${x.req.method} ${x.url.pathname}`) {
      case 'GET /':
        if (x.session?.account) return x.redirect('/account');
        return x.page(200, landingPage());
      case 'GET /signup':
        return start(x, (c) =>
          c.cardLogin().then((r) => ({ ...r, pending: { story: 'signup', transaction: r.transaction } })),
        );
      case 'GET /callback':
        return callback(x);
      case 'GET /done':
        return done(x);
      case 'GET /account': {
        const a = x.session?.account;
        const account = a === undefined ? undefined : accounts.find(a.number);
        if (a === undefined || account === undefined) return x.redirect('/');
        return x.page(200, accountPage(account, a.created, a.acr, transfers.balance(account.number), x.csrfToken()));
      }
      case 'POST /transfer':
        return transfer(x);
      case 'GET /shop': {
        // The shop is another service, on its own origin: another client at MynaGate, another pairwise sub.
        const shop = options.shopUrl();
        if (shop === undefined) throw new DemoNotConnectedError();
        return x.redirect(`${shop}/`);
      }
      case 'POST /logout': {
        if (x.session === undefined) return x.redirect('/');
        if (!x.csrfValid(new URLSearchParams(await readBody(x.req)))) return forged(x);
        x.endSession();
        return x.redirect('/');
      }
      default:
        return x.page(404, errorPage('ページが見つかりません。', 'Page not found.'));
    }
  }

  let service: RunningService;
  try {
    service = await startService<Session>(options, handle);
  } catch (e) {
    accounts.close();
    transfers.close();
    throw e;
  }
  return {
    ...service,
    async close() {
      await service.close();
      accounts.close();
      transfers.close();
    },
  };
}
