/**
 * The eKYC outcome at rest (sign-transaction.ts): between the companion's post and the owning browser's stream the
 * verified identity waits in the one-shot store sealed to a key derived from that browser's cookie, so neither the
 * store (read through its port) nor SQLite's ephemeral file and its WAL (read as bytes) ever holds the signer's name,
 * address or signing certificate in clear, before or after the outcome is taken. The owning browser still finishes
 * with them; a box altered in the store, or opened with another browser's key, is refused with
 * ERR_IDP_SESSION_MISMATCH (fail closed); a transaction without an outcome key keeps nothing in clear.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { identityStore } from '../src/ekyc/identity-store.ts';
import { SignTransactions, type SignOutcome, type SignTransaction } from '../src/ekyc/sign-transaction.ts';
import { providerStores } from '../src/stores.ts';
import { sqliteEphemeralPath } from '../src/store/sqlite.ts';
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

const NAME = '封印　確子';
const ADDRESS = '北海道札幌市中央区北一条西二丁目9-87';

const VERIFIED = {
  verified_claims: {
    verification: { trust_framework: null },
    claims: { name: null, address: null, birthdate: null },
  },
};

let f: OpFixture;
let idp: TestIdp;
let card: TestCard;

before(async () => {
  f = await createOpFixture();
  card = await issueCard(f, { name: NAME, address: ADDRESS, birthDate: '1987-06-05' });
  idp = await startEkycIdp(f, { ekyc: { keepCertificate: true } });
});
after(async () => {
  await idp?.close();
  await f?.close();
});

/** What a reader of the store finds: each of `secrets` that occurs in `haystack`. */
function found(haystack: Buffer | string, secrets: readonly string[]): string[] {
  const bytes = typeof haystack === 'string' ? Buffer.from(haystack, 'utf8') : haystack;
  return secrets.filter((s) => bytes.includes(Buffer.from(s, 'utf8')));
}

/** The bytes of SQLite's ephemeral file and its WAL, as someone with the disk (or a backup of it) reads them. */
async function ephemeralBytes(): Promise<Buffer> {
  const path = sqliteEphemeralPath((idp.storeConfig as { path: string }).path);
  const parts = await Promise.all(
    [path, `${path}-wal`].map((p) =>
      readFile(p).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? Buffer.alloc(0) : Promise.reject(e))),
    ),
  );
  return Buffer.concat(parts);
}

/**
 * Login, consent, the signing page (its stream not opened yet, so the outcome waits), the companion's scan and
 * signature: returns the page, the transaction and what the card sent.
 */
async function signedAndWaiting(): Promise<{
  login: Awaited<ReturnType<typeof startLogin>>;
  step: Step;
  txn: string;
  certificate: string;
}> {
  const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
    extra: authorizeExtra({ id_token: VERIFIED, userinfo: VERIFIED }, { scope: 'openid' }),
  });
  let step = await loginThenStop(idp, login, card);
  if (step.page.includes('consent-form')) step = await consent(login.agent, step);
  const link = /data-link="([^"]+)"/.exec(step.page)![1]!.replaceAll('&amp;', '&');
  assert.match(link, /\/companion\/sign\//);
  const view = (await (await idp.fetch(link)).json()) as SignViewJson;
  const signed = await cardSignature(card, view.canonical);
  const posted = await postSignature(idp, view.txn, signed);
  assert.equal(posted.status, 200, JSON.stringify(posted.body));
  return { login, step, txn: view.txn, certificate: signed.certificate };
}

describe('the eKYC outcome at rest (SQLite, keepCertificate)', () => {
  it("holds neither the signer's name, address nor certificate in the store or its files while it waits; the owning browser still gets them", async () => {
    const { login, step, txn, certificate } = await signedAndWaiting();
    const secrets = [NAME, ADDRESS, certificate, certificate.slice(200, 260)];

    // Through the store's port: the waiting value is there, and is no JSON identity.
    const raw = await idp.stores.oneShot.get(`sign-result:${txn}`);
    assert.equal(typeof raw, 'string', 'the outcome waits in the one-shot store');
    assert.deepEqual(found(raw as string, secrets), []);
    assert.match(raw as string, /^[A-Za-z0-9_-]+$/, 'a sealed box, not JSON');
    for (const field of ['identity', 'accountId', 'grantId', '"name"']) assert.ok(!(raw as string).includes(field));
    // As bytes on disk: the ephemeral file and its WAL.
    assert.deepEqual(found(await ephemeralBytes(), secrets), []);

    // The owning browser's stream opens the box and finishes with the identity.
    const sign = await openSignPage(login.agent, step);
    const done = (await sign.events.next('done')) as { redirect: string } | undefined;
    await sign.events.close();
    assert.ok(done, 'the owning browser finishes');
    const { url: callback } = await login.agent.follow(done.redirect);
    assert.equal(callback.origin + callback.pathname, RP_JWT.redirectUri);
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, callback, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const vc = tokens.claims()!['verified_claims'] as { claims: Record<string, unknown> };
    assert.equal(vc.claims['name'], NAME);
    assert.ok(JSON.stringify(vc.claims['address']).includes(ADDRESS.slice(0, 8)), JSON.stringify(vc.claims));
    // Taken: the value is gone, and what a freed page or the WAL may still hold of it is the box.
    assert.equal(await idp.stores.oneShot.get(`sign-result:${txn}`), undefined);
    assert.deepEqual(found(await ephemeralBytes(), secrets), []);
  });

  it('refuses a box altered in the store with ERR_IDP_SESSION_MISMATCH, and keeps nothing for the grant', async () => {
    const { login, step, txn } = await signedAndWaiting();
    const key = `sign-result:${txn}`;
    const raw = (await idp.stores.oneShot.get(key)) as string;
    // One character of the middle changed: whatever it is, JSON or a box.
    const at = Math.floor(raw.length / 2);
    const tampered = raw.slice(0, at) + (raw[at] === 'A' ? 'B' : 'A') + raw.slice(at + 1);
    await idp.stores.oneShot.put(key, tampered, 60);

    const sign = await openSignPage(login.agent, step);
    const refused = (await sign.events.next('refused')) as { error: string } | undefined;
    await sign.events.close();
    assert.equal(refused?.error, 'ERR_IDP_SESSION_MISMATCH');
    assert.equal(await idp.stores.oneShot.get(key), undefined, 'the altered box is used up');
    const person = (await idp.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
    const audit = (await idp.stores.records.listAudit(person)).filter((e) => e.type === 'ekyc.signature').at(-1)!;
    const grantId = String(audit.data['grantId']);
    assert.equal(await identityStore(providerStores(idp.stores).adapter).get(grantId), undefined);
  });
});

describe('SignTransactions: the sealed outcome on the store port (SQLite)', () => {
  const T0 = Date.parse('2025-04-01T00:00:00Z');
  const transactions = () =>
    new SignTransactions({
      oneShot: providerStores(idp.stores).oneShot,
      now: () => T0,
      origin: 'https://idp.example',
      ttlSeconds: 300,
      statementTtlSeconds: 120,
      qrMaxAgeSeconds: 5,
    });
  const input = {
    uid: 'uid-at-rest',
    grantId: 'grant-at-rest',
    accountId: 'person-at-rest',
    clientId: RP_JWT.clientId,
    clientName: RP_JWT.name,
    clientOrigin: 'https://bank.example',
    purpose: '口座開設 / Account opening',
    items: [],
    claims: ['name'],
    details: [],
  };
  const outcome = (transaction: SignTransaction): SignOutcome => ({
    accountId: transaction.accountId,
    ts: T0 / 1000,
    identity: {
      grantId: transaction.grantId,
      accountId: transaction.accountId,
      clientId: transaction.clientId,
      identity: { name: NAME, address: ADDRESS },
      derived: {},
      evidence: { issuer: 'CN=test', serialNumber: '01', signedAt: new Date(T0).toISOString() },
      statementHash: 'hash',
      verifiedAt: new Date(T0).toISOString(),
      verificationProcess: 'process',
    } as SignOutcome['identity'],
  });

  it("opens only with the owning browser's key: another browser's key gets ERR_IDP_SESSION_MISMATCH", async () => {
    const signs = transactions();
    const [mine, theirs] = await Promise.all([signs.start(input), signs.start(input)]);
    const expected = outcome(mine.transaction);
    await signs.complete(mine.transaction, expected);
    const raw = (await idp.stores.oneShot.get(`sign-result:${mine.transaction.txn}`)) as string;
    assert.deepEqual(found(raw, [NAME, ADDRESS, 'grant-at-rest', 'person-at-rest']), []);
    await assert.rejects(signs.takeOutcome(mine.transaction.txn, theirs.browserKey), {
      code: 'ERR_IDP_SESSION_MISMATCH',
    });
    // Sealed again (a new box), the owner opens it.
    await signs.complete(mine.transaction, expected);
    assert.deepEqual(await signs.takeOutcome(mine.transaction.txn, mine.browserKey), expected);
    assert.equal(await signs.takeOutcome(mine.transaction.txn, mine.browserKey), undefined, 'once');
  });

  it("does not open a box moved from another transaction, even the same browser's other one", async () => {
    const signs = transactions();
    const [a, b] = await Promise.all([signs.start(input), signs.start(input)]);
    await signs.complete(a.transaction, outcome(a.transaction));
    const box = (await idp.stores.oneShot.get(`sign-result:${a.transaction.txn}`)) as string;
    await idp.stores.oneShot.put(`sign-result:${b.transaction.txn}`, box, 60);
    // With b's key (the owner of b) and with a's key (the key it was sealed to, but for another transaction).
    await assert.rejects(signs.takeOutcome(b.transaction.txn, b.browserKey), { code: 'ERR_IDP_SESSION_MISMATCH' });
    await idp.stores.oneShot.put(`sign-result:${b.transaction.txn}`, box, 60);
    await assert.rejects(signs.takeOutcome(b.transaction.txn, a.browserKey), { code: 'ERR_IDP_SESSION_MISMATCH' });
  });

  it('keeps nothing in clear for a transaction without an outcome key (started before they were made)', async () => {
    const signs = transactions();
    const { transaction } = await signs.start(input);
    const { outcomeKey: _dropped, ...old } = transaction;
    await assert.rejects(signs.complete(old as SignTransaction, outcome(transaction)), {
      code: 'ERR_IDP_LOGIN_NOT_FOUND',
    });
    assert.equal(await idp.stores.oneShot.get(`sign-result:${transaction.txn}`), undefined);
  });
});
