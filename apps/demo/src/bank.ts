/**
 * The demo bank, two stories on `@mynagate/rp`:
 *
 * 1. **Sign-up** (`/signup`): `cardLogin()`; the account is keyed by the pairwise `sub`, so one card is one account.
 * 2. **Transfer** (`POST /transfer`): up to `STEP_UP_THRESHOLD_YEN` on the session's login; above it, a
 *    `stepUp({ maxAgeSeconds })` card login for the same `sub`, and the transfer is made only after it.
 *
 * Every login ends at `/callback`, where `complete` checks state, PKCE, the ID token, `acr`/`amr`/`auth_time`; what
 * happens next is decided by what the session was waiting for. `/shop` leads to the shop, a service of its own.
 */
import type { CardLoginTransaction, MynaGateClient } from '@mynagate/rp';
import { openDemoAccounts } from './accounts.ts';
import { DemoNotConnectedError } from './errors.ts';
import { accountPage, errorPage, landingPage, transferDonePage } from './pages.ts';
import {
  loginFailed,
  readBody,
  startService,
  type Exchange,
  type RunningService,
  type ServiceOptions,
} from './service.ts';
import { needsFreshCardLogin, openDemoTransfers, parseAmount, STEP_UP_MAX_AGE_SECONDS } from './transfers.ts';

/** What a bank session waits for at `/callback`. */
type Pending =
  | { readonly story: 'signup'; readonly transaction: CardLoginTransaction }
  | {
      readonly story: 'transfer';
      readonly transaction: CardLoginTransaction;
      readonly payee: string;
      readonly amount: number;
    };

interface Session {
  pending?: Pending;
  account?: { number: string; sub: string; created: boolean; acr: string };
}

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
    (x.session ?? x.startSession({})).pending = pending;
    x.redirect(target.href);
  }

  async function transfer(x: Exchange<Session>): Promise<void> {
    const account = x.session?.account;
    if (account === undefined) return x.redirect('/');
    const form = new URLSearchParams(await readBody(x.req));
    const payee = (form.get('payee') ?? '').trim();
    const amount = parseAmount(form.get('amount') ?? '');
    if (payee === '' || payee.length > 40 || amount === undefined) {
      return x.page(400, errorPage('振込先と金額を確かめてください。', 'Check the payee and the amount.'));
    }
    if (amount > transfers.balance(account.number)) {
      return x.page(400, errorPage('残高が足りません。', 'The balance is too low.'));
    }
    if (!needsFreshCardLogin(amount)) {
      const t = transfers.record({
        account: account.number,
        payee,
        amount,
        freshCardLogin: false,
        at: new Date(now()),
      });
      return x.page(200, transferDonePage(t, transfers.balance(account.number)));
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
      return x.page(400, errorPage('ログインの手続きが見つかりません。', 'No sign-up in progress in this browser.'));
    }
    const mynagate = x.client();
    // A transaction is used once, whatever the outcome.
    delete session.pending;
    try {
      // complete() returns the ID token and its claims once, here; the session keeps the account number and sub.
      const result = await mynagate.complete(pending.transaction, x.url);
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
            return x.page(403, errorPage('口座のカードとは別のカードです。', 'That is not the card of this account.'));
          }
          const t = transfers.record({
            account: account.number,
            payee: pending.payee,
            amount: pending.amount,
            freshCardLogin: true,
            at: new Date(now()),
          });
          return x.page(200, transferDonePage(t, transfers.balance(account.number)));
        }
      }
    } catch (e) {
      return loginFailed(x, e);
    }
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
      case 'GET /account': {
        const a = x.session?.account;
        const account = a === undefined ? undefined : accounts.find(a.number);
        if (a === undefined || account === undefined) return x.redirect('/');
        return x.page(200, accountPage(account, a.created, a.acr, transfers.balance(account.number)));
      }
      case 'POST /transfer':
        return transfer(x);
      case 'GET /shop': {
        // The shop is another service, on its own origin: another client at MynaGate, another pairwise sub.
        const shop = options.shopUrl();
        if (shop === undefined) throw new DemoNotConnectedError();
        return x.redirect(`${shop}/`);
      }
      case 'POST /logout':
        x.endSession();
        return x.redirect('/');
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
