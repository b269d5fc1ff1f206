/**
 * One statement, one signature, for the companion that scanned: a signature post names the statement it signed (its
 * `nonce`), and the provider uses the outstanding statement up only for a post that names it (compare-and-delete).
 * Whoever merely knows the signing transaction's id (every QR frame carries it, and proxy logs) burns nothing and
 * puts nothing on the person's page; such a post is refused `ERR_IDP_CHALLENGE_INVALID` whether the transaction
 * waits, finished, expired or never was; of two posts naming one statement one goes on; a rescan replaces the
 * statement, and a post of the one it replaced gets nothing, even mid-rescan. Units over the memory store with one
 * clock (expiry included), then the same over HTTPS with real card signatures on SQLite. The login's own:
 * login-once.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MynaGateError } from '@mynagate/errors';
import type { SignedStatement, Statement } from '@mynagate/pki';
import { memoryConsentRecords } from '../src/consent/records.ts';
import { submitStatementSignature, type CardSignDeps } from '../src/ekyc/card-sign.ts';
import { SignTransactions } from '../src/ekyc/sign-transaction.ts';
import { createMemoryStores } from '../src/memory-stores.ts';
import type { OneShotPort } from '../src/ports.ts';
import { providerStores } from '../src/stores.ts';
import type { TransactionChange } from '../src/transaction-watch.ts';
import { EventStream } from './support/event-stream.ts';
import { createOpFixture, startLogin, type OpFixture, type TestCard, type TestIdp } from './support/op-fixture.ts';
import {
  authorizeExtra,
  cardSignature,
  consent,
  issueCard,
  loginThenStop,
  openSignPage,
  postSignature,
  RP_JWT,
  startEkycIdp,
  type SignViewJson,
  type Step,
} from './support/ekyc-fixture.ts';

const ORIGIN = 'https://id.example.jp';
/** The signing page's binding cookie on an https issuer (ekyc/pages.ts). */
const SIGN_COOKIE = '__Host-mynagate_sign';

/** A nonce of the statement's shape that no statement has. */
const otherNonce = () => randomBytes(32).toString('base64url');

/** A signing transaction's id of the right shape that no transaction has. */
const unknownTxn = () => randomBytes(16).toString('base64url');

/**
 * A signing transaction over the memory store (one clock for the server and the store's expiry), scanned by `scan`,
 * with a verifier that records each statement it is asked about and refuses the signature
 * (`ERR_PKI_STATEMENT_SIGNATURE`): whether a post reached it, and with which statement, is what these tests look at.
 * `port` wraps the store (a test may hook into its calls).
 */
async function setup(port: (oneShot: OneShotPort) => OneShotPort = (o) => o) {
  let clock = 1_700_000_000_000;
  const now = () => clock;
  const { oneShot } = createMemoryStores({ now });
  const signs = new SignTransactions({
    oneShot: port(oneShot),
    now,
    origin: ORIGIN,
    ttlSeconds: 300,
    statementTtlSeconds: 60,
    qrMaxAgeSeconds: 3,
  });
  const { transaction } = await signs.start({
    uid: 'uid-1',
    grantId: 'grant-1',
    accountId: 'person-1',
    clientId: 'bank',
    clientName: 'テスト銀行',
    clientOrigin: 'https://bank.example',
    purpose: '口座開設の本人確認 / Account opening',
    items: [{ ja: '氏名', en: 'Name' }],
    claims: ['name'],
    details: [],
  });
  const { txn } = transaction;
  const checked: Statement[] = [];
  const deps: CardSignDeps = {
    transactions: signs,
    verifier: {
      async verifyStatement(signed: SignedStatement) {
        checked.push(signed.statement);
        throw new MynaGateError('ERR_PKI_STATEMENT_SIGNATURE', 'the signature does not verify');
      },
    },
    records: memoryConsentRecords(now),
    keepCertificate: false,
    signingCardPair: 'unchecked',
    now,
  };
  const changes: TransactionChange[] = [];
  signs.watch(txn, (c) => changes.push(c));
  const scan = async () => {
    const link = new URL(signs.currentLink(transaction).link);
    return signs.scan(txn, link.searchParams.get('t'), link.searchParams.get('c'));
  };
  /** A post to `to` (default: this transaction) of a signature (well-formed, never valid) naming `nonce`. */
  const post = (nonce: unknown, to = txn) =>
    submitStatementSignature(deps, to, { signature: 'AAAA', certificate: 'AAAA', nonce });
  return {
    signs,
    transaction,
    txn,
    scan,
    post,
    deps,
    checked,
    /** The changes the page's stream was told of, `scanned` aside. */
    told: () => changes.filter((c) => c !== 'scanned'),
    advance: (ms: number) => void (clock += ms),
  };
}

describe('a signature post names the statement it signed', () => {
  it('naming another nonce: ERR_IDP_CHALLENGE_INVALID, and nothing changes; the scanner then uses the statement up', async () => {
    const { signs, txn, scan, post, checked, told } = await setup();
    const view = await scan();
    for (let i = 0; i < 3; i++) await assert.rejects(post(otherNonce()), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    assert.equal(checked.length, 0, 'no signature was checked');
    assert.deepEqual(await signs.peekStatement(txn), view.statement, 'the statement is still outstanding');
    assert.equal(await signs.takeFailure(txn), undefined, 'the page is not told');
    assert.deepEqual(told(), []);
    // The companion that scanned: its post reaches the verifier with its statement, and a refusal goes to the page.
    await assert.rejects(post(view.statement.nonce), { code: 'ERR_PKI_STATEMENT_SIGNATURE' });
    assert.deepEqual(checked, [view.statement]);
    assert.equal((await signs.takeFailure(txn))?.error, 'ERR_PKI_STATEMENT_SIGNATURE');
    assert.deepEqual(told(), ['failure']);
    assert.equal(await signs.scanned(txn), false, 'used up');
  });

  it('naming none, or not a nonce: ERR_IDP_BAD_REQUEST, and nothing changes', async () => {
    const { signs, txn, scan, post, checked, told } = await setup();
    const view = await scan();
    const nonce = view.statement.nonce;
    for (const named of [undefined, null, '', 42, nonce.slice(1), `${nonce}A`, `+${nonce.slice(1)}`, [nonce]]) {
      await assert.rejects(post(named), { code: 'ERR_IDP_BAD_REQUEST' }, String(named));
    }
    assert.equal(checked.length, 0);
    assert.deepEqual(await signs.peekStatement(txn), view.statement);
    assert.equal(await signs.takeFailure(txn), undefined);
    assert.deepEqual(told(), []);
  });

  it('a transaction that finished, expired or never was: ERR_IDP_CHALLENGE_INVALID alike, the page not told', async () => {
    const finished = await setup();
    const used = await finished.scan();
    await finished.signs.finish(finished.transaction, 'https://id.example.jp/auth/uid-1');
    await assert.rejects(finished.signs.get(finished.txn), { code: 'ERR_IDP_LOGIN_NOT_FOUND' }, 'ended');
    assert.equal(await finished.signs.finished(finished.txn), 'https://id.example.jp/auth/uid-1', 'its redirect kept');
    await assert.rejects(finished.post(used.statement.nonce), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    await assert.rejects(finished.post(otherNonce()), { code: 'ERR_IDP_CHALLENGE_INVALID' });

    const expired = await setup();
    const late = await expired.scan();
    expired.advance(300_000);
    await assert.rejects(expired.post(late.statement.nonce), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    await assert.rejects(expired.post(otherNonce()), { code: 'ERR_IDP_CHALLENGE_INVALID' });

    const never = await setup();
    await never.scan();
    await assert.rejects(never.post(otherNonce(), unknownTxn()), { code: 'ERR_IDP_CHALLENGE_INVALID' });

    for (const s of [finished, expired, never]) {
      assert.equal(s.checked.length, 0);
      // The finish itself is the only change told (its `done` for the browser's other streams).
      assert.deepEqual(s.told(), s === finished ? ['outcome'] : []);
    }
  });

  it('two posts naming one statement at once: one reaches the verifier, the other is ERR_IDP_CHALLENGE_INVALID and not on the page', async () => {
    const { scan, post, checked, told } = await setup();
    const view = await scan();
    const results = await Promise.allSettled([post(view.statement.nonce), post(view.statement.nonce)]);
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as MynaGateError).code : 'ok')).sort();
    assert.deepEqual(codes, ['ERR_IDP_CHALLENGE_INVALID', 'ERR_PKI_STATEMENT_SIGNATURE']);
    assert.deepEqual(checked, [view.statement]);
    assert.deepEqual(told(), ['failure'], "the page hears the checked post's refusal only");
  });

  it('a rescan replaces the statement: a post naming the first is ERR_IDP_CHALLENGE_INVALID, the second stays', async () => {
    const { signs, txn, scan, post, checked, told, advance } = await setup();
    const first = await scan();
    advance(1_000);
    const second = await scan();
    assert.notEqual(second.statement.nonce, first.statement.nonce);
    await assert.rejects(post(first.statement.nonce), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    assert.deepEqual(await signs.peekStatement(txn), second.statement);
    assert.deepEqual(told(), []);
    await assert.rejects(post(second.statement.nonce), { code: 'ERR_PKI_STATEMENT_SIGNATURE' });
    assert.deepEqual(checked, [second.statement]);
  });

  it('a rescan between the read of the statement and its delete: the post gets nothing, the new statement stays', async () => {
    let rescan: (() => Promise<unknown>) | undefined;
    const { signs, txn, scan, post, checked, told } = await setup((oneShot) => ({
      ...oneShot,
      // The rescan lands just before the post's compare-and-delete, once.
      deleteIf: async (key, value) => {
        const pending = rescan;
        rescan = undefined;
        await pending?.();
        return oneShot.deleteIf(key, value);
      },
    }));
    const first = await scan();
    let second: Awaited<ReturnType<typeof scan>> | undefined;
    rescan = async () => (second = await scan());
    await assert.rejects(post(first.statement.nonce), { code: 'ERR_IDP_CHALLENGE_INVALID' });
    assert.ok(second !== undefined, 'the rescan ran mid-post');
    assert.deepEqual(await signs.peekStatement(txn), second.statement, "the new companion's statement is intact");
    assert.deepEqual(told(), []);
    await assert.rejects(post(second.statement.nonce), { code: 'ERR_PKI_STATEMENT_SIGNATURE' });
    assert.deepEqual(checked, [second.statement]);
  });
});

describe('over HTTPS, with the card', () => {
  let f: OpFixture;
  let idp: TestIdp;
  let alice: TestCard;

  before(async () => {
    f = await createOpFixture();
    alice = await issueCard(f, { name: '試験　花子' });
    // Frames stay fresh for 30 s: a test scans the page's link more than once.
    idp = await startEkycIdp(f, { qrMaxAgeSeconds: 30 });
  });
  after(async () => {
    await idp?.close();
    await f?.close();
  });

  /** Alice logged in and consented: the signing step, with the page's QR link. */
  async function signingStep() {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra({ id_token: { age_over_20: null } }),
    });
    let step: Step = await loginThenStop(idp, login, alice);
    if (step.page.includes('consent-form')) step = await consent(login.agent, step);
    await login.events.close();
    const link = /data-link="([^"]+)"/.exec(step.page)?.[1]?.replaceAll('&amp;', '&');
    assert.ok(link !== undefined && link.includes('/companion/sign/'), 'the signing page');
    return { login, step, link };
  }

  const scanLink = async (link: string) => {
    const res = await idp.fetch(link);
    assert.equal(res.status, 200);
    return (await res.json()) as SignViewJson;
  };

  it('posts that do not name the outstanding statement: refused, not on the page; the person’s signature then goes through', async () => {
    const { login, step } = await signingStep();
    const sign = await openSignPage(login.agent, step);
    const view = await scanLink(sign.link);
    assert.equal(JSON.parse(view.canonical).nonce, view.statement.nonce);
    const signed = await cardSignature(alice, view.canonical);
    assert.equal(signed.nonce, view.statement.nonce, 'the card side names the statement it signed');
    // Whoever knows the id, with a good signature of the same statement even (the worst case), or with garbage.
    const wrong = await postSignature(idp, view.txn, { ...signed, nonce: otherNonce() });
    assert.equal(wrong.status, 409);
    assert.equal(wrong.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    const { nonce: _, ...unnamed } = signed;
    const none = await postSignature(idp, view.txn, unnamed);
    assert.equal(none.status, 400);
    assert.equal(none.body['error'], 'ERR_IDP_BAD_REQUEST');
    const garbage = await postSignature(idp, view.txn, { signature: 'AAAA', certificate: 'AAAA', nonce: otherNonce() });
    assert.equal(garbage.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    assert.equal(await sign.events.next('failed', 1_000), undefined, 'the page hears nothing');
    const posted = await postSignature(idp, view.txn, signed);
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    assert.ok(await sign.events.next('done'));
    await sign.events.close();
  });

  it('a finished transaction and one that never was answer alike: ERR_IDP_CHALLENGE_INVALID (409)', async () => {
    const { login, step } = await signingStep();
    const sign = await openSignPage(login.agent, step);
    const view = await scanLink(sign.link);
    const signed = await cardSignature(alice, view.canonical);
    assert.equal((await postSignature(idp, view.txn, signed)).status, 200);
    // The page's stream took the outcome and ended the transaction before it said `done`.
    assert.ok(await sign.events.next('done'));
    await sign.events.close();
    const finished = await postSignature(idp, view.txn, signed);
    const never = await postSignature(idp, unknownTxn(), signed);
    assert.equal(finished.status, 409);
    assert.equal(finished.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    assert.deepEqual(never, finished);
  });

  it('the newer of two streams of the browser gets the same done when the older took the outcome, and so does a late one', async () => {
    const { login, step } = await signingStep();
    // A reconnect before the server saw the old connection go: both streams of the browser watch the signature.
    const older = await openSignPage(login.agent, step);
    const newer = await openSignPage(login.agent, step);
    const view = await scanLink(older.link);
    assert.equal((await postSignature(idp, view.txn, await cardSignature(alice, view.canonical))).status, 200);
    const [first, second] = (await Promise.all([older.events.next('done', 8000), newer.events.next('done', 8000)])) as (
      { redirect: string } | undefined
    )[];
    assert.ok(first, 'a stream finished the signature');
    assert.deepEqual(second, first, 'the other sends the same done, not ERR_IDP_LOGIN_NOT_FOUND');
    // A stream opened after the end (the reconnect came late) hears it at once; another browser does not.
    const late = await openSignPage(login.agent, step);
    assert.deepEqual(await late.events.next('done', 3000), first);
    const eventsUrl = new URL(
      `/interaction/${/\/interaction\/([^/]+)$/.exec(step.url.pathname)![1]}/sign-events`,
      step.url,
    );
    const stranger = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const refused = await stranger.agent.fetch(eventsUrl);
    assert.notEqual(refused.status, 200, 'only the browser that owns the signature');
    await refused.body?.cancel();
    // The same browser session naming the transaction with another key (the interaction's check passes): the kept
    // redirect is the owner's alone, so the stream answers as for a transaction that is gone.
    const binding = login.agent.cookie(SIGN_COOKIE)!;
    const [signTxn] = binding.split('.');
    login.agent.setCookie(SIGN_COOKIE, `${signTxn}.${'A'.repeat(43)}`);
    const forged = await login.agent.fetch(eventsUrl);
    assert.equal(forged.status, 404);
    assert.equal(((await forged.json()) as { error?: string }).error, 'ERR_IDP_LOGIN_NOT_FOUND');
    login.agent.setCookie(SIGN_COOKIE, binding);
    const owner = new EventStream(await login.agent.fetch(eventsUrl));
    assert.deepEqual(await owner.next('done', 3000), first, 'with its own key, the same browser hears done');
    await Promise.all([
      older.events.close(),
      newer.events.close(),
      late.events.close(),
      stranger.events.close(),
      owner.close(),
    ]);
    // The page follows it back to the service.
    const { url } = await login.agent.follow(first!.redirect);
    assert.equal(`${url.origin}${url.pathname}`, RP_JWT.redirectUri);
  });

  it('two posts of the valid signature at once: exactly one succeeds, and the other leaves no failure for the page', async () => {
    const { link } = await signingStep();
    const view = await scanLink(link);
    const signed = await cardSignature(alice, view.canonical);
    const results = await Promise.all([postSignature(idp, view.txn, signed), postSignature(idp, view.txn, signed)]);
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 409]);
    assert.equal(results.find((r) => r.status === 409)!.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    // No stream is open: a refusal put for the page would still be in the store.
    const { oneShot } = providerStores(idp.stores);
    assert.equal(await oneShot.get(`sign-failure:${view.txn}`), undefined);
    assert.notEqual(await oneShot.get(`sign-result:${view.txn}`), undefined);
  });

  it('a rescan replaces the statement: the first statement’s signature is ERR_IDP_CHALLENGE_INVALID, the second’s goes through', async () => {
    const { link } = await signingStep();
    const first = await scanLink(link);
    const second = await scanLink(link);
    assert.notEqual(second.statement.nonce, first.statement.nonce);
    const stale = await postSignature(idp, first.txn, await cardSignature(alice, first.canonical));
    assert.equal(stale.status, 409);
    assert.equal(stale.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    const { oneShot } = providerStores(idp.stores);
    assert.equal(await oneShot.get(`sign-failure:${first.txn}`), undefined);
    const posted = await postSignature(idp, second.txn, await cardSignature(alice, second.canonical));
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
  });
});
