/**
 * Refresh tokens end with the card: every refresh validates again the authentication certificate of the login the
 * token descends from, and the signing certificate of the grant's verified identity (kept with it by
 * `ekyc.keepCertificate`, else asked about by reference: ekyc-signing-recheck.test.ts), revocation included. A revoked one refuses the refresh (`invalid_grant`) and revokes the grant (its tokens and
 * verified identity go); a revocation status that cannot be had refuses it and keeps the grant. And a chain of
 * rotated refresh tokens ends 14 days after its first token, as the docs say, not a year later.
 *
 * The OCSP answers of the test responder are good for an hour (and cached by the verifier until then): the tests
 * move the shared clock of the responder and the provider two hours on before they refresh after a revocation.
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { errors, type FindAccount, type KoaContextWithOIDC, type RefreshToken } from 'oidc-provider';
import { CertificateInvalidError, CertificateRevokedError, RevocationUnknownError } from '@mynagate/pki';
import { identityStore } from '../src/ekyc/identity-store.ts';
import { checkRefreshCredentials, type RefreshCheckDeps } from '../src/refresh-check.ts';
import { REFRESH_CHAIN_SECONDS, refreshTokenTtl, rotateRefreshToken } from '../src/refresh-policy.ts';
import { providerStores } from '../src/stores.ts';
import { sqliteEphemeralPath } from '../src/store/sqlite.ts';
import {
  completeLogin,
  createOpFixture,
  startLogin,
  type OpFixture,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';
import {
  authorizeExtra,
  consent,
  fullFlow,
  issueCard,
  loginThenStop,
  RP_JWT,
  startEkycIdp,
} from './support/ekyc-fixture.ts';

const HOUR = 3600_000;
let offset = 0;
const now = () => Date.now() + offset;

let f: OpFixture;
let idp: TestIdp;
let keeping: TestIdp;
before(async () => {
  f = await createOpFixture({ now });
  [idp, keeping] = await Promise.all([
    startEkycIdp(f, { now }),
    startEkycIdp(f, { now, ekyc: { keepCertificate: true } }),
  ]);
});
after(async () => {
  await idp.close();
  await keeping.close();
  await f.close();
});

type Tokens = client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

/** A card login with `offline_access` consented to (no claims: no signature). */
async function offlineLogin(on: TestIdp, card: TestCard): Promise<Tokens> {
  offset = 0;
  const login = await startLogin(on, on.jwtRp, RP_JWT.redirectUri, {
    extra: { scope: 'openid offline_access', prompt: 'consent' },
  });
  const step = await loginThenStop(on, login, card);
  const back = await consent(login.agent, step);
  const tokens = await client.authorizationCodeGrant(on.jwtRp, back.url, {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  assert.ok(tokens.refresh_token, 'offline_access was consented');
  return tokens;
}

/** The grant id the person's latest consent to RP_JWT named. */
async function grantOf(on: TestIdp, card: TestCard): Promise<string> {
  const person = (await on.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
  const granted = (await on.stores.records.listAudit(person)).filter((e) => e.type === 'consent.granted').at(-1)!;
  return String(granted.data['grantId']);
}

describe('a refresh after the card is revoked', () => {
  it('refuses it once the login’s authentication certificate is revoked (invalid_grant), and revokes the grant', async () => {
    const card = await issueCard(f, { name: '失効　太郎' });
    const tokens = await offlineLogin(idp, card);
    const grantId = await grantOf(idp, card);
    const refreshed = await client.refreshTokenGrant(idp.jwtRp, tokens.refresh_token!);
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'rotated on use');

    await f.jpki.revoke(card.issued.authSerial, 'keyCompromise');
    offset = 2 * HOUR;
    await assert.rejects(client.refreshTokenGrant(idp.jwtRp, refreshed.refresh_token!), { error: 'invalid_grant' });
    assert.equal(await idp.server.provider.Grant.find(grantId), undefined, 'the grant is revoked');
    assert.equal(await idp.server.provider.RefreshToken.find(refreshed.refresh_token!), undefined);
    await assert.rejects(
      client.fetchUserInfo(idp.jwtRp, refreshed.access_token, refreshed.claims()!.sub),
      (e: { status?: number; cause?: { status?: number } }) => (e.status ?? e.cause?.status) === 401,
    );
  });

  it('refuses it when the signing certificate kept with the identity is revoked alone, and deletes the identity', async () => {
    const card = await issueCard(f, { name: '転居　花子' });
    offset = 0;
    const claims = { id_token: { age_over_20: { essential: true } } };
    const login = await startLogin(keeping, keeping.jwtRp, RP_JWT.redirectUri, {
      extra: authorizeExtra(claims, { scope: 'openid offline_access', prompt: 'consent' }),
    });
    const back = await fullFlow(keeping, login, card);
    const tokens = await client.authorizationCodeGrant(keeping.jwtRp, back, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    const grantId = await grantOf(keeping, card);
    const identities = identityStore(providerStores(keeping.stores).adapter);
    assert.ok((await identities.get(grantId))?.certificate, 'the signing certificate is kept (configured)');
    const refreshed = await client.refreshTokenGrant(keeping.jwtRp, tokens.refresh_token!);
    assert.equal(refreshed.claims()!['age_over_20'], true, 'the identity answers while the card stands');

    // An address change revokes the signing certificate only: the login certificate still stands.
    await f.jpki.revoke(card.issued.signSerial, 'unspecified');
    offset = 2 * HOUR;
    await assert.rejects(client.refreshTokenGrant(keeping.jwtRp, refreshed.refresh_token!), {
      error: 'invalid_grant',
    });
    assert.equal(await identities.get(grantId), undefined, 'the verified identity is deleted');
    assert.equal(await keeping.server.provider.Grant.find(grantId), undefined, 'the grant is revoked');
  });
});

describe('the login’s card: held at the login, kept by a consent that grants offline_access', () => {
  /** The person of `card`. */
  async function personOf(card: TestCard): Promise<string> {
    return (await idp.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
  }
  /** The keys of the rows of `person` in one of the SQLite files, read as another process would. */
  function rows(file: 'durable' | 'ephemeral', sql: string, person: string): string[] {
    const { path } = idp.storeConfig as { readonly path: string };
    const db = new DatabaseSync(file === 'durable' ? path : sqliteEphemeralPath(path), { readOnly: true });
    try {
      return db
        .prepare(sql)
        .all(person)
        .map((r) => String(r['k']));
    } finally {
      db.close();
    }
  }
  /** The person's durable LoginCredential rows (the PostgreSQL `oidc` table's, on SQLite's fsynced file). */
  const kept = (person: string) =>
    rows('durable', `SELECT id AS k FROM oidc WHERE model = 'LoginCredential' AND id LIKE ? || ':%'`, person);
  /** The person's held login cards (one-shot state: Redis beside PostgreSQL, SQLite's ephemeral file). */
  const held = (person: string) =>
    rows('ephemeral', `SELECT key AS k FROM one_shot WHERE key LIKE 'login-card:' || ? || ':%'`, person);

  it('a plain card login writes no durable credential; an offline_access consent keeps one the refresh checks', async () => {
    const card = await issueCard(f, { name: '保持　三郎' });
    offset = 0;
    const plain = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri);
    assert.ok((await completeLogin(idp, plain, card)).searchParams.has('code'), 'a login standing as the consent');
    const person = await personOf(card);
    assert.deepEqual(kept(person), [], 'no durable write for the login');
    assert.equal(held(person).length, 1, 'its card is held for the session');

    const tokens = await offlineLogin(idp, card);
    assert.equal(kept(person).length, 1, 'the consent to offline_access kept the card of its login');
    const refreshed = await client.refreshTokenGrant(idp.jwtRp, tokens.refresh_token!);
    assert.ok(refreshed.refresh_token, 'the refresh passes the revocation check');

    await f.jpki.revoke(card.issued.authSerial, 'keyCompromise');
    offset = 2 * HOUR;
    await assert.rejects(client.refreshTokenGrant(idp.jwtRp, refreshed.refresh_token!), { error: 'invalid_grant' });
  });

  it('fails closed when the held card is gone at the consent: tokens now, nothing kept, the refresh refused', async () => {
    const card = await issueCard(f, { name: '消失　四郎' });
    offset = 0;
    const login = await startLogin(idp, idp.jwtRp, RP_JWT.redirectUri, {
      extra: { scope: 'openid offline_access', prompt: 'consent' },
    });
    const step = await loginThenStop(idp, login, card);
    const person = await personOf(card);
    const keys = held(person);
    assert.equal(keys.length, 1);
    // As after a Redis restart.
    for (const key of keys) await providerStores(idp.stores).oneShot.delete(key);
    const back = await consent(login.agent, step);
    const tokens = await client.authorizationCodeGrant(idp.jwtRp, back.url, {
      pkceCodeVerifier: login.codeVerifier,
      expectedState: login.state,
    });
    assert.ok(tokens.refresh_token, 'the consent went on');
    assert.deepEqual(kept(person), [], 'no card to keep');
    await assert.rejects(client.refreshTokenGrant(idp.jwtRp, tokens.refresh_token!), { error: 'invalid_grant' });
  });
});

describe('the refresh token chain', () => {
  it('keeps its first token’s iiat through rotation and ends 14 days after it', async () => {
    const card = await issueCard(f, { name: '期限　次郎' });
    const tokens = await offlineLogin(idp, card);
    const first = (await idp.server.provider.RefreshToken.find(tokens.refresh_token!))!;
    assert.ok(first.exp! - first.iat >= REFRESH_CHAIN_SECONDS - 5, 'the first token gets the whole chain');
    // The chain began 13 days ago (its first token issued then, a day left): node-oidc-provider's default would rotate
    // it now into a fresh 14-day token.
    const stored = providerStores(idp.stores).adapter!('RefreshToken');
    const payload = (await stored.find(tokens.refresh_token!))!;
    const t = Math.floor(Date.now() / 1000);
    await stored.upsert(
      tokens.refresh_token!,
      { ...payload, iat: t - 13 * 86400, iiat: t - 13 * 86400, exp: t + 86400 },
      86400,
    );
    const refreshed = await client.refreshTokenGrant(idp.jwtRp, tokens.refresh_token!);
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'rotated');
    const second = (await idp.server.provider.RefreshToken.find(refreshed.refresh_token!))!;
    assert.equal(second.iiat, t - 13 * 86400, 'the chain’s start is kept');
    assert.ok(second.exp! <= t + 86400 + 1, `never past the chain: ${second.exp! - t} s left`);
  });

  it('gives a token what is left of its chain: 14 days new, 4 days after 10, at least a second at the end', () => {
    const at = Math.floor(Date.now() / 1000);
    const ttl = (iiat: number) => refreshTokenTtl(undefined, { iiat } as RefreshToken);
    assert.equal(ttl(at), REFRESH_CHAIN_SECONDS);
    assert.ok(Math.abs(ttl(at - 10 * 86400) - 4 * 86400) <= 1);
    assert.equal(ttl(at - REFRESH_CHAIN_SECONDS - 60), 1);
    assert.equal(rotateRefreshToken({} as KoaContextWithOIDC), true);
  });
});

describe('the refresh check itself', () => {
  const der = Buffer.from([0x30, 0x00]).toString('base64');
  const token = (over: Partial<RefreshToken> = {}) =>
    ({ kind: 'RefreshToken', grantId: 'g1', accountId: 'p1', authTime: 1_700_000_000, ...over }) as RefreshToken;

  /** A provider context that records what the revocation did. */
  function context() {
    const done: string[] = [];
    const adapter = (model: string) => ({
      adapter: { revokeByGrantId: async (id: string) => void done.push(`${model}:${id}`) },
    });
    const provider = {
      AccessToken: adapter('AccessToken'),
      RefreshToken: adapter('RefreshToken'),
      AuthorizationCode: adapter('AuthorizationCode'),
      BackchannelAuthenticationRequest: adapter('BackchannelAuthenticationRequest'),
      Grant: { adapter: { destroy: async (id: string) => void done.push(`Grant:${id}`) } },
      emit: (event: string, _ctx: unknown, id: string) => void done.push(`${event}:${id}`),
    };
    return { ctx: { oidc: { provider } } as unknown as KoaContextWithOIDC, done };
  }
  const account: FindAccount = async (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) });
  function deps(over: Partial<RefreshCheckDeps> & { readonly failWith?: Error } = {}): RefreshCheckDeps & {
    readonly deleted: string[];
    readonly asked: string[];
  } {
    const deleted: string[] = [];
    const asked: string[] = [];
    return {
      verifier: {
        verifyCertificate: async (_der: Uint8Array, kind: string) => {
          asked.push(kind);
          if (over.failWith) throw over.failWith;
        },
      },
      logins: { get: async (accountId, loginTs) => ({ accountId, loginTs, fingerprint: 'f', certificate: der }) },
      identities: { get: async () => undefined, delete: async (id) => void deleted.push(id) },
      now: Date.now,
      ...over,
      deleted,
      asked,
    };
  }

  it('asks only for a refresh token, and then answers as findAccount does', async () => {
    const d = deps();
    const find = checkRefreshCredentials(account, d);
    const { ctx } = context();
    assert.equal((await find(ctx, 'p1'))?.accountId, 'p1');
    assert.deepEqual(d.asked, [], 'no token: authorization');
    assert.equal((await find(ctx, 'p1', token()))?.accountId, 'p1');
    assert.deepEqual(d.asked, ['auth']);
  });

  it('refuses when the revocation source cannot answer, and keeps the grant', async () => {
    const unknown = new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'unreachable', 'ocsp', 'down');
    const d = deps({ failWith: unknown });
    const { ctx, done } = context();
    await assert.rejects(async () => checkRefreshCredentials(account, d)(ctx, 'p1', token()), errors.InvalidGrant);
    assert.deepEqual(done, []);
    assert.deepEqual(d.deleted, []);
  });

  it('refuses a revoked certificate and revokes the grant: tokens, identity, grant', async () => {
    const d = deps({ failWith: new CertificateRevokedError(new Date(), 'keyCompromise', 'ocsp') });
    const { ctx, done } = context();
    await assert.rejects(
      async () => checkRefreshCredentials(account, d)(ctx, 'p1', token()),
      (e: Error) => {
        assert.ok(e instanceof errors.InvalidGrant);
        assert.equal((e as errors.InvalidGrant).error, 'invalid_grant');
        return true;
      },
    );
    assert.deepEqual(done, [
      'AccessToken:g1',
      'RefreshToken:g1',
      'AuthorizationCode:g1',
      'BackchannelAuthenticationRequest:g1',
      'Grant:g1',
      'grant.revoked:g1',
    ]);
    assert.deepEqual(d.deleted, ['g1']);
  });

  it('leaves a used token to node-oidc-provider, whose reuse check revokes the grant: nothing is asked, even down', async () => {
    const unknown = new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'unreachable', 'ocsp', 'down');
    const d = deps({ failWith: unknown });
    const { ctx, done } = context();
    const used = token({ consumed: 1_700_000_100 } as Partial<RefreshToken>);
    assert.equal((await checkRefreshCredentials(account, d)(ctx, 'p1', used))?.accountId, 'p1');
    assert.deepEqual(d.asked, []);
    assert.deepEqual(done, []);
  });

  it('keeps the grant when the certificate fails a check of the configuration (issuer, anchor); revokes an expired one', async () => {
    for (const [code, check] of [
      ['ERR_PKI_UNTRUSTED_ISSUER', 'issuer'],
      ['ERR_PKI_ANCHOR_EXPIRED', 'anchor'],
      ['ERR_PKI_BAD_SIGNATURE', 'signature'],
      ['ERR_PKI_POLICY', 'policy'],
    ] as const) {
      const d = deps({ failWith: new CertificateInvalidError(code, check, code) });
      const { ctx, done } = context();
      await assert.rejects(
        async () => checkRefreshCredentials(account, d)(ctx, 'p1', token()),
        (e: Error) =>
          e instanceof errors.InvalidGrant && String((e as errors.InvalidGrant).error_detail).includes(code),
        code,
      );
      assert.deepEqual(done, [], code);
      assert.deepEqual(d.deleted, [], code);
    }
    const expired = deps({ failWith: new CertificateInvalidError('ERR_PKI_CERT_EXPIRED', 'validity', 'expired') });
    const { ctx, done } = context();
    await assert.rejects(
      async () => checkRefreshCredentials(account, expired)(ctx, 'p1', token()),
      errors.InvalidGrant,
    );
    assert.ok(done.includes('Grant:g1') && done.includes('grant.revoked:g1'), done.join());
    assert.deepEqual(expired.deleted, ['g1']);
  });

  it('refuses a login whose card was not kept, and a verifier that cannot validate certificates', async () => {
    const { ctx } = context();
    const forgotten = deps({ logins: { get: async () => undefined } });
    await assert.rejects(
      async () => checkRefreshCredentials(account, forgotten)(ctx, 'p1', token()),
      errors.InvalidGrant,
    );
    const unable = deps({ verifier: {} });
    await assert.rejects(async () => checkRefreshCredentials(account, unable)(ctx, 'p1', token()), errors.InvalidGrant);
    const noTime = deps();
    await assert.rejects(
      async () => checkRefreshCredentials(account, noTime)(ctx, 'p1', token({ authTime: undefined })),
      errors.InvalidGrant,
    );
  });

  it('asks for the signing certificate too when the grant keeps one with its identity', async () => {
    const d = deps({
      identities: {
        get: async () => ({ certificate: der }) as never,
        delete: async () => {},
      },
    });
    const { ctx } = context();
    await checkRefreshCredentials(account, d)(ctx, 'p1', token());
    assert.deepEqual(d.asked.sort(), ['auth', 'sign']);
  });

  const ref = {
    issuerFingerprint: 'ab'.repeat(32),
    serialNumber: '01',
    notAfter: '2031-01-01T00:00:00.000Z',
    ocspUrls: [],
  };
  /** A verifier whose login certificate answers `auth` and whose signing reference answers `sign`. */
  const answering = (asked: string[], auth?: Error, sign?: Error) => ({
    verifyCertificate: async (_der: Uint8Array, kind: string) => {
      asked.push(kind);
      if (auth) throw auth;
    },
    signingStatus: async () => {
      asked.push('ref');
      if (sign) throw sign;
    },
  });

  it('asks about the signing certificate by reference when it was not kept (keepCertificate off)', async () => {
    const asked: string[] = [];
    const d = deps({
      verifier: answering(asked),
      identities: { get: async () => ({ signingCertificate: ref }) as never, delete: async () => {} },
    });
    const { ctx } = context();
    await checkRefreshCredentials(account, d)(ctx, 'p1', token());
    assert.deepEqual(asked.sort(), ['auth', 'ref']);
  });

  it('refuses an identity that keeps neither the certificate nor its reference, and keeps the grant', async () => {
    const d = deps({ identities: { get: async () => ({}) as never, delete: async () => {} } });
    const { ctx, done } = context();
    await assert.rejects(
      async () => checkRefreshCredentials(account, d)(ctx, 'p1', token()),
      (e: Error) =>
        e instanceof errors.InvalidGrant &&
        String((e as errors.InvalidGrant).error_detail).includes('ERR_PKI_REVOCATION_UNKNOWN'),
    );
    assert.deepEqual(done, []);
  });

  it('revokes the grant when the signing certificate is revoked, even while the login’s status is unknown', async () => {
    const deleted: string[] = [];
    const unknown = new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'unreachable', 'ocsp', 'down');
    const revoked = new CertificateRevokedError(new Date(), 'unspecified', 'ocsp');
    const d = deps({
      verifier: answering([], unknown, revoked),
      identities: {
        get: async () => ({ signingCertificate: ref }) as never,
        delete: async (id) => void deleted.push(id),
      },
    });
    const { ctx, done } = context();
    await assert.rejects(
      async () => checkRefreshCredentials(account, d)(ctx, 'p1', token()),
      (e: Error) =>
        e instanceof errors.InvalidGrant &&
        String((e as errors.InvalidGrant).error_detail).includes('ERR_PKI_CERT_REVOKED'),
    );
    assert.ok(done.includes('Grant:g1') && done.includes('grant.revoked:g1'), done.join());
    assert.deepEqual(deleted, ['g1']);
  });
});
