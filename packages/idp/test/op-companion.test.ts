/**
 * The companion API and the animated QR code (BankID's scheme): a code a few seconds old is refused, a code not
 * minted here is refused, a challenge serves one token only, and what the verifier refuses reaches the waiting
 * page in both languages. The IdP's clock is injected and moved by hand.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventStream, type Agent } from './support/op-agent.ts';
import {
  cardToken,
  createOpFixture,
  followDone,
  postToken,
  RP_JWT,
  scan,
  startLogin,
  type CompanionViewJson,
  type OpFixture,
  type StartedLogin,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';

let f: OpFixture;
let idp: TestIdp;
let card: TestCard;
let clock = Date.now();

before(async () => {
  f = await createOpFixture({ now: () => clock });
  card = await f.newCard();
  idp = await f.start({ now: () => clock, qrMaxAgeSeconds: 3 });
});
after(() => f.close());

function withParam(link: string, name: string, value: string): string {
  const url = new URL(link);
  url.searchParams.set(name, value);
  return url.href;
}

describe('animated QR code', () => {
  it('shows a different code every second on the event stream', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const first = (await login.events.next('qr')) as { t: number; link: string };
    clock += 1000;
    const second = (await login.events.next('qr')) as { t: number; link: string };
    assert.equal(second.t, first.t + 1);
    assert.notEqual(new URL(second.link).searchParams.get('c'), new URL(first.link).searchParams.get('c'));
    await login.events.close();
  });

  it('accepts a code up to the allowed age and returns the service, origin, intent and a challenge', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    clock += 3000;
    const { status, body } = await scan(idp, login.link);
    assert.equal(status, 200);
    const view = body as unknown as CompanionViewJson;
    assert.equal(view.clientName, 'テスト銀行');
    assert.equal(view.clientOrigin, 'https://bank.example');
    assert.equal(view.origin, idp.server.issuer);
    assert.equal(view.intent, 'login');
    assert.equal(Buffer.from(view.challenge, 'base64').length, 32);
    await login.events.close();
  });

  it('refuses a code older than allowed with ERR_IDP_QR_STALE (410)', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    clock += 4000;
    const { status, body } = await scan(idp, login.link);
    assert.equal(status, 410);
    assert.equal(body['error'], 'ERR_IDP_QR_STALE');
    assert.match(String((body['message'] as { ja: string }).ja), /QRコード/);
    await login.events.close();
  });

  it('refuses a code not minted by the server with ERR_IDP_QR_INVALID (400)', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const c = new URL(login.link).searchParams.get('c')!;
    const forged = withParam(login.link, 'c', (c[0] === 'A' ? 'B' : 'A') + c.slice(1));
    const { status, body } = await scan(idp, forged);
    assert.equal(status, 400);
    assert.equal(body['error'], 'ERR_IDP_QR_INVALID');
    await login.events.close();
  });

  it('refuses a genuine code presented with another time with ERR_IDP_QR_INVALID', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    clock += 1000;
    const { body } = await scan(idp, withParam(login.link, 't', '1'));
    assert.equal(body['error'], 'ERR_IDP_QR_INVALID');
    await login.events.close();
  });

  it('refuses an unknown login with ERR_IDP_LOGIN_NOT_FOUND (404)', async () => {
    const res = await idp.fetch(new URL('/companion/AAAAAAAAAAAAAAAAAAAAAA?t=0&c=x', idp.server.url));
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_IDP_LOGIN_NOT_FOUND');
  });

  it('refuses a login past its lifetime with ERR_IDP_LOGIN_NOT_FOUND and tells the page it expired', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    clock += 301_000;
    const { status, body } = await scan(idp, login.link);
    assert.equal(status, 404);
    assert.equal(body['error'], 'ERR_IDP_LOGIN_NOT_FOUND');
    assert.deepEqual(await login.events.next('expired'), {});
    await login.events.close();
  });
});

describe('companion token', () => {
  it('uses a challenge once: of two concurrent posts of one token exactly one succeeds (ERR_IDP_CHALLENGE_INVALID)', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const token = await cardToken(card, view.origin, view.challenge);
    const results = await Promise.all([postToken(idp, view.txn, token), postToken(idp, view.txn, token)]);
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 409]);
    assert.equal(results.find((r) => r.status === 409)!.body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    assert.ok(await login.events.next('done'));
    await login.events.close();
  });

  it('refuses a token before any scan with ERR_IDP_CHALLENGE_INVALID (409)', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const txn = new URL(login.link).pathname.split('/')[2]!;
    const { status, body } = await postToken(idp, txn, await cardToken(card, idp.server.issuer, 'never-issued'));
    assert.equal(status, 409);
    assert.equal(body['error'], 'ERR_IDP_CHALLENGE_INVALID');
    await login.events.close();
  });

  it('refuses a malformed token with ERR_IDP_TOKEN_MALFORMED (400)', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const { status, body } = await postToken(idp, view.txn, { format: 'web-eid:1.0' });
    assert.equal(status, 400);
    assert.equal(body['error'], 'ERR_IDP_TOKEN_MALFORMED');
    await login.events.close();
  });

  it('refuses a token naming a member twice (ERR_PKI_TOKEN_MALFORMED), which JSON.parse alone would settle silently', async () => {
    // The verifier parses the text as posted: with JSON.parse first, the last certificate won, while a proxy or log
    // reading the first saw another card's.
    const other = await f.newCard();
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const token = await cardToken(card, view.origin, view.challenge);
    const first = Buffer.from(other.issued.spec.authCert).toString('base64');
    const text = `{"unverifiedCertificate":${JSON.stringify(first)},${JSON.stringify(token).slice(1)}`;
    const res = await idp.fetch(new URL(`/companion/${view.txn}/token`, idp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: text,
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_PKI_TOKEN_MALFORMED');
    assert.equal(((await login.events.next('failed')) as { error: string }).error, 'ERR_PKI_TOKEN_MALFORMED');
    await login.events.close();
  });

  it('a card refusal the companion reports (locked PIN) reaches the waiting page in the provider wording; the challenge stays', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const report = (body: unknown) =>
      idp.fetch(new URL(`/companion/${view.txn}/failure`, idp.server.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const wrong = await report({ challenge: 'A'.repeat(view.challenge.length), error: 'ERR_CARD_PIN_BLOCKED' });
    assert.equal(wrong.status, 409);
    assert.equal(((await wrong.json()) as { error: string }).error, 'ERR_IDP_CHALLENGE_INVALID');
    for (const error of ['ERR_PKI_CERT_REVOKED', 'ERR_CARD_PIN_INCORRECT', 'any text']) {
      const refused = await report({ challenge: view.challenge, error });
      assert.equal(refused.status, 400, error);
      assert.equal(((await refused.json()) as { error: string }).error, 'ERR_IDP_BAD_REQUEST');
    }
    const ok = await report({ challenge: view.challenge, error: 'ERR_CARD_PIN_BLOCKED' });
    assert.equal(ok.status, 200);
    const failed = (await login.events.next('failed')) as { error: string; retry: boolean; message: { ja: string } };
    assert.equal(failed.error, 'ERR_CARD_PIN_BLOCKED');
    assert.match(failed.message.ja, /ロックされています/);
    assert.equal(failed.retry, false);
    // Another card then: the challenge the companion holds still logs in.
    const { status } = await postToken(idp, view.txn, await cardToken(card, view.origin, view.challenge));
    assert.equal(status, 200);
    assert.ok(await login.events.next('done'));
    await login.events.close();
  });

  it('refuses a token signed for another origin (ERR_PKI_TOKEN_SIGNATURE) and tells the waiting page', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const relayed = await cardToken(card, 'https://phishing.example', view.challenge);
    const { status, body } = await postToken(idp, view.txn, relayed);
    assert.equal(status, 400);
    assert.equal(body['error'], 'ERR_PKI_TOKEN_SIGNATURE');
    const failed = (await login.events.next('failed')) as { error: string; message: { ja: string; en: string } };
    assert.equal(failed.error, 'ERR_PKI_TOKEN_SIGNATURE');
    assert.ok(failed.message.ja && failed.message.en);
    await login.events.close();
  });

  it('refuses a revoked certificate with ERR_PKI_CERT_REVOKED (403) in Japanese and English', async () => {
    const revoked = await f.newCard();
    await f.jpki.revoke(revoked.issued.authSerial, 'keyCompromise');
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const { status, body } = await postToken(idp, view.txn, await cardToken(revoked, view.origin, view.challenge));
    assert.equal(status, 403);
    assert.equal(body['error'], 'ERR_PKI_CERT_REVOKED');
    const message = body['message'] as { ja: string; en: string };
    assert.match(message.ja, /失効/);
    assert.match(message.en, /revoked/);
    assert.equal(JSON.stringify(body).includes(revoked.issued.authSerial), false, 'no serial in the answer');
    await login.events.close();
  });
});

describe('same-device hand-over (POST /companion/:txn/token?handover=1, the bridge)', () => {
  /** Scans as the bridge does and posts the card's token as a hand-over; returns the answer and the way back. */
  async function handOver(login: StartedLogin): Promise<{ body: Record<string, unknown>; back: URL }> {
    const view = (await scan(idp, login.link)).body as unknown as CompanionViewJson;
    const res = await idp.fetch(new URL(`/companion/${view.txn}/token?handover=1`, idp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await cardToken(card, view.origin, view.challenge)),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = (await res.json()) as Record<string, unknown>;
    const back = new URL(`/interaction/${login.uid}?resume&code=${String(body['code'])}`, login.pageUrl);
    return { body, back };
  }

  /** Opens the login page at `url` in `agent`: its status, and the error code of an error page. */
  async function open(agent: Agent, url: URL): Promise<{ status: number; error: string | undefined }> {
    const res = await agent.fetch(url);
    const text = await res.text();
    return { status: res.status, error: /<code id="error">([^<]+)<\/code>/.exec(text)?.[1] };
  }

  it('keeps the outcome from the page that owns the login and answers a one-time code to the poster only', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const { body, back } = await handOver(login);
    assert.equal(body['status'], 'ok');
    assert.match(String(body['code']), /^[A-Za-z0-9_-]{43}$/);
    // The owning browser's stream is not told: it finishes only once this browser comes back with the code.
    assert.equal(await login.events.next('done', 300), undefined);
    assert.equal((await open(login.agent, back)).status, 200);
    assert.ok(await followDone(login));
  });

  it('refuses the code to a browser that did not start the login (ERR_IDP_HANDOVER_MISMATCH); the code is used up and the owning page is told', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    let { back } = await handOver(login);
    // A browser without the login's cookies, then one with the interaction's cookie but not the login's binding: the
    // code alone finishes nothing.
    const other = idp.agent();
    const interaction = await open(other, back);
    assert.deepEqual(interaction, { status: 403, error: 'ERR_IDP_HANDOVER_MISMATCH' });
    assert.equal(((await login.events.next('failed')) as { error: string }).error, 'ERR_IDP_HANDOVER_MISMATCH');
    ({ back } = await handOver(login));
    login.agent.forget('__Host-mynagate_login');
    assert.deepEqual(await open(login.agent, back), { status: 403, error: 'ERR_IDP_HANDOVER_MISMATCH' });
    const failed = (await login.events.next('failed')) as { error: string };
    assert.equal(failed.error, 'ERR_IDP_HANDOVER_MISMATCH');
    assert.equal(await login.events.next('done', 300), undefined);
    await login.events.close();
  });

  it('takes a code once, and a reload by the owner goes on with its login; an unknown code elsewhere is ERR_IDP_LOGIN_NOT_FOUND; a bad handover value is ERR_IDP_BAD_REQUEST', async () => {
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    // The browser left its login page for the bridge: that page's event stream is gone.
    await login.events.close();
    const { back } = await handOver(login);
    const unknown = new URL(`${back.pathname}?resume&code=${'A'.repeat(43)}`, back);
    assert.deepEqual(await open(idp.agent(), unknown), { status: 404, error: 'ERR_IDP_LOGIN_NOT_FOUND' });
    assert.equal((await open(login.agent, back)).status, 200);
    // The page reloaded (or a tab restored) after the code was taken: the owner's open login goes on, not lost.
    assert.equal((await open(login.agent, back)).status, 200);
    const events = new EventStream(await login.agent.fetch(new URL(`/interaction/${login.uid}/events`, login.pageUrl)));
    assert.ok(await followDone(login, events));
    const next = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    const view = (await scan(idp, next.link)).body as unknown as CompanionViewJson;
    const res = await idp.fetch(new URL(`/companion/${view.txn}/token?handover=yes`, idp.server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await cardToken(card, view.origin, view.challenge)),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'ERR_IDP_BAD_REQUEST');
    await next.events.close();
  });
});
