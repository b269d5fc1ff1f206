/**
 * A kept verified identity is reused only while its signing certificate stands, asked again without keeping the
 * certificate (`ekyc.keepCertificate` off, the default): by its CA, serial and notAfter (`signingCertificate`,
 * `Verifier.signingStatus`). A move revokes the signing certificate alone (the login card stands): a new
 * authorization then asks for a new signature, the identity deleted (`ekyc` prompt, reason
 * `signing_certificate_ended`), and a refresh is refused (`invalid_grant`), the grant and identity deleted. A
 * certificate that stands is reused with no new signature; a revocation source that cannot be reached fails closed
 * (a new signature asked, the refresh refused), both kept for a later try.
 *
 * The OCSP answers of the test responder are good for an hour (and cached by the verifier until then): the tests
 * move the shared clock of the responder and the provider two hours on before they ask again.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { KoaContextWithOIDC } from 'oidc-provider';
import {
  CertificateInvalidError,
  CertificateRevokedError,
  parseCertificate,
  RevocationUnknownError,
} from '@mynagate/pki';
import { ACR_CARD_SIGN } from '../src/acr.ts';
import { normalizeClaimsParameter } from '../src/claims/request.ts';
import { identityStore, type VerifiedIdentity } from '../src/ekyc/identity-store.ts';
import { ekycPrompt } from '../src/ekyc/policy.ts';
import { providerStores } from '../src/stores.ts';
import {
  createOpFixture,
  startLogin,
  type OpFixture,
  type StartedLogin,
  type TestCard,
  type TestIdp,
} from './support/op-fixture.ts';
import { authorizeExtra, fullFlow, issueCard, RP_JWT, startEkycIdp } from './support/ekyc-fixture.ts';

const HOUR = 3600_000;
let offset = 0;
const now = () => Date.now() + offset;

/**
 * The test JPKI's HTTP server seen through a gate that can drop the signing certificates' OCSP requests (`/ocsp/sign`)
 * as a responder that cannot be reached does, the rest (the login card's OCSP, the links) passed on.
 */
interface Gate {
  readonly url: string;
  signDown: boolean;
  close(): Promise<void>;
}

async function startGate(target: string): Promise<Gate> {
  const server: Server = createServer(async (req, res) => {
    if (gate.signDown && req.url?.startsWith('/ocsp/sign')) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const contentType = req.headers['content-type'];
    const answer = await fetch(new URL(req.url ?? '/', target), {
      method: req.method ?? 'GET',
      headers: {
        ...(contentType === undefined ? {} : { 'content-type': contentType }),
        accept: req.headers.accept ?? '*/*',
      },
      ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
    });
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const gate: Gate = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    signDown: false,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
  return gate;
}

let f: OpFixture;
let idp: TestIdp;
let gated: TestIdp;
let gate: Gate;
before(async () => {
  f = await createOpFixture({ now });
  gate = await startGate(f.ocsp.url);
  [idp, gated] = await Promise.all([
    startEkycIdp(f, { now }),
    // The same test JPKI, its OCSP and links asked through the gate.
    startEkycIdp({ ...f, ocsp: { ...f.ocsp, url: gate.url } }, { now }),
  ]);
});
after(async () => {
  await Promise.all([idp?.close(), gated?.close()]);
  await gate?.close();
  await f?.close();
});

const NAME = {
  id_token: { verified_claims: { verification: { trust_framework: null }, claims: { name: null, address: null } } },
};
const nameOf = (tokens: client.TokenEndpointResponseHelpers) =>
  (tokens.claims()!['verified_claims'] as { claims?: { name?: string } } | undefined)?.claims?.name;

const identities = (on: TestIdp) => identityStore(providerStores(on.stores).adapter);

/** The person's eKYC signatures so far (the audit records each). */
async function signatures(on: TestIdp, card: TestCard): Promise<number> {
  const person = (await on.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
  return (await on.stores.records.listAudit(person)).filter((e) => e.type === 'ekyc.signature').length;
}

/** Login, consent to `offline_access` and the name and address, the card signature: the tokens and the grant. */
async function signedIn(on: TestIdp, card: TestCard) {
  offset = 0;
  const login = await startLogin(on, on.jwtRp, RP_JWT.redirectUri, {
    extra: authorizeExtra(NAME, { scope: 'openid offline_access', prompt: 'consent' }),
  });
  const tokens = await client.authorizationCodeGrant(on.jwtRp, await fullFlow(on, login, card), {
    pkceCodeVerifier: login.codeVerifier,
    expectedState: login.state,
  });
  assert.ok(nameOf(tokens), 'the verified name is released');
  assert.ok(tokens.refresh_token, 'offline_access was consented');
  const person = (await on.stores.records.findCredentialByFingerprint(card.fingerprint))!.personId;
  const signature = (await on.stores.records.listAudit(person)).filter((e) => e.type === 'ekyc.signature').at(-1)!;
  return { login, tokens, grantId: String(signature.data['grantId']) };
}

/**
 * A new authorization for the same claims in the same browser session, without the card-signature ACR (as the
 * reviewer's repro): where it lands, and its tokens when it lands at the service with a code.
 */
async function authorizeAgain(on: TestIdp, login: StartedLogin) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(on.jwtRp, {
    redirect_uri: RP_JWT.redirectUri,
    scope: 'openid',
    state,
    claims: JSON.stringify(NAME),
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  });
  const { url: landed, response } = await login.agent.follow(url);
  if (landed.origin !== new URL(on.server.url).origin) {
    await response.body?.cancel();
    const tokens = await client.authorizationCodeGrant(on.jwtRp, landed, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
    });
    return { landed, tokens, page: '', prompt: undefined };
  }
  const uid = /^\/interaction\/([^/]+)$/.exec(landed.pathname)?.[1];
  assert.ok(uid, `an interaction page: ${landed.href}`);
  const interaction = (await on.server.provider.Interaction.find(uid))!;
  return { landed, tokens: undefined, page: await response.text(), prompt: interaction.prompt };
}

describe('a kept identity whose signing certificate is revoked (keepCertificate off)', () => {
  it('is not reused by a new authorization: the person is asked to sign again, the identity deleted', async () => {
    const card = await issueCard(f, { name: '転居　花子', address: '東京都千代田区千代田1-1' });
    const { login, grantId } = await signedIn(idp, card);
    const signed = await signatures(idp, card);

    // A move: J-LIS revokes the signing certificate (the login certificate stands).
    await f.jpki.revoke(card.issued.signSerial, 'unspecified');
    offset = 2 * HOUR;
    const again = await authorizeAgain(idp, login);
    assert.equal(again.tokens, undefined, 'no code: nothing released');
    assert.deepEqual(
      { name: again.prompt?.name, reasons: again.prompt?.reasons, details: again.prompt?.details },
      { name: 'ekyc', reasons: ['signing_certificate_ended'], details: { signingCertificate: 'ERR_PKI_CERT_REVOKED' } },
    );
    assert.match(again.page, /\/companion\/sign\//, 'the signing page, not an error page');
    assert.equal(await identities(idp).get(grantId), undefined, 'the identity is deleted');
    assert.equal(await signatures(idp, card), signed);
  });

  it('refuses a refresh (invalid_grant) and deletes the identity and the grant', async () => {
    const card = await issueCard(f, { name: '転居　次郎', address: '大阪府大阪市北区1-1' });
    const { tokens, grantId } = await signedIn(idp, card);
    const refreshed = await client.refreshTokenGrant(idp.jwtRp, tokens.refresh_token!);
    assert.equal(nameOf(refreshed), '転居　次郎', 'released while the certificate stands');

    await f.jpki.revoke(card.issued.signSerial, 'unspecified');
    offset = 2 * HOUR;
    await assert.rejects(client.refreshTokenGrant(idp.jwtRp, refreshed.refresh_token!), { error: 'invalid_grant' });
    assert.equal(await identities(idp).get(grantId), undefined, 'the identity is deleted');
    assert.equal(await idp.server.provider.Grant.find(grantId), undefined, 'the grant is revoked');
  });
});

describe('a kept identity whose signing certificate stands', () => {
  it('records the certificate by reference (CA, serial, notAfter, OCSP URLs), not the certificate', async () => {
    const card = await issueCard(f, { name: '参照　一子' });
    const { grantId } = await signedIn(idp, card);
    const stored = (await identities(idp).get(grantId))!;
    assert.equal(stored.certificate, undefined, 'the certificate is not kept');
    const signCert = parseCertificate(card.issued.spec.signCert);
    assert.deepEqual(stored.signingCertificate, {
      issuerFingerprint: f.jpki.caFingerprint('sign'),
      serialNumber: signCert.serialNumber,
      notAfter: new Date(signCert.notAfter).toISOString(),
      ocspUrls: [...signCert.ocspUrls],
    });
  });

  it('is reused by a new authorization and a refresh, with no new signature', async () => {
    const card = await issueCard(f, { name: '在住　三郎' });
    const { login, tokens, grantId } = await signedIn(idp, card);
    const signed = await signatures(idp, card);
    // Past the cached answers: the responder is asked again.
    offset = 2 * HOUR;
    const again = await authorizeAgain(idp, login);
    assert.equal(again.prompt, undefined, `no prompt: ${JSON.stringify(again.prompt)}`);
    assert.equal(nameOf(again.tokens!), '在住　三郎');
    const refreshed = await client.refreshTokenGrant(idp.jwtRp, tokens.refresh_token!);
    assert.equal(nameOf(refreshed), '在住　三郎');
    assert.equal(await signatures(idp, card), signed, 'no new signature');
    assert.ok(await identities(idp).get(grantId));
  });
});

describe('a revocation source that cannot be reached', () => {
  it('fails closed: a new signature is asked and the refresh refused, the identity and grant kept for later', async () => {
    const card = await issueCard(f, { name: '不通　四郎' });
    gate.signDown = false;
    const { login, tokens, grantId } = await signedIn(gated, card);
    const signed = await signatures(gated, card);
    try {
      gate.signDown = true;
      offset = 2 * HOUR;
      const again = await authorizeAgain(gated, login);
      assert.equal(again.tokens, undefined, 'no code: nothing released');
      assert.deepEqual(
        { name: again.prompt?.name, reasons: again.prompt?.reasons, details: again.prompt?.details },
        {
          name: 'ekyc',
          reasons: ['signing_certificate_unknown'],
          details: { signingCertificate: 'ERR_PKI_REVOCATION_UNKNOWN' },
        },
      );
      assert.match(again.page, /\/companion\/sign\//, 'the signing page, not an error page');
      // The login card's responder answers: the refresh is refused for the signing certificate alone.
      await assert.rejects(client.refreshTokenGrant(gated.jwtRp, tokens.refresh_token!), { error: 'invalid_grant' });
      assert.ok(await identities(gated).get(grantId), 'the identity is kept');
      assert.ok(await gated.server.provider.Grant.find(grantId), 'the grant is kept');
    } finally {
      gate.signDown = false;
    }
    const refreshed = await client.refreshTokenGrant(gated.jwtRp, tokens.refresh_token!);
    assert.equal(nameOf(refreshed), '不通　四郎', 'answered again once the responder is back');
    assert.equal(await signatures(gated, card), signed);
  });
});

describe('the ekyc prompt’s check of the signing certificate (unit)', () => {
  const AGE = '年齢の確認 / Age check';
  const identity: VerifiedIdentity = {
    grantId: 'g1',
    accountId: 'p1',
    clientId: RP_JWT.clientId,
    identity: {},
    derived: { ages: { age_over_20: true } },
    signed: {
      claims: ['age_over_20'],
      details: [],
      purpose: AGE,
      client: { id: RP_JWT.clientId, name: RP_JWT.name, origin: new URL(RP_JWT.redirectUri).origin },
    },
    signingCertificate: {
      issuerFingerprint: 'ab'.repeat(32),
      serialNumber: '01',
      notAfter: '2031-01-01T00:00:00.000Z',
      ocspUrls: [],
    },
    evidence: { issuer: 'CN=x', serialNumber: '01', signedAt: '2026-01-01T00:00:00Z' },
    statementHash: 'h',
    verifiedAt: '2026-01-01T00:00:00.000Z',
    verificationProcess: 'vp',
  };

  /** The prompt's checks for an age request against `kept`, the verifier answering `answer`. */
  async function ask(
    kept: VerifiedIdentity,
    answer: (kind: string) => Promise<unknown>,
    result?: unknown,
  ): Promise<{ reasons: string[]; details: Record<string, unknown>; deleted: string[]; asked: string[] }> {
    const deleted: string[] = [];
    const asked: string[] = [];
    const store = { get: async () => kept, put: async () => {}, delete: async (id: string) => void deleted.push(id) };
    const verifier = {
      signingStatus: async () => (asked.push('ref'), answer('ref')),
      verifyCertificate: async () => (asked.push('certificate'), answer('certificate')),
    };
    const prompt = ekycPrompt(store, {}, { verifier, now: Date.now });
    const ctx = {
      oidc: {
        params: {
          claims: JSON.stringify(normalizeClaimsParameter({ id_token: { age_over_20: { essential: true } } } as never)),
          redirect_uri: RP_JWT.redirectUri,
        },
        grant: { jti: 'g1', getOIDCClaims: () => ['age_over_20'], getRejectedOIDCClaims: () => [] },
        session: { accountId: 'p1' },
        client: { clientId: RP_JWT.clientId, clientName: RP_JWT.name },
        acr: ACR_CARD_SIGN,
        ...(result === undefined ? {} : { result }),
      },
    } as unknown as KoaContextWithOIDC;
    const checks = prompt.checks as unknown as {
      reason: string;
      check(ctx: KoaContextWithOIDC): Promise<boolean>;
      details(ctx: KoaContextWithOIDC): Promise<Record<string, unknown>>;
    }[];
    const reasons: string[] = [];
    let details: Record<string, unknown> = {};
    for (const c of await Promise.all(checks.map(async (c) => ((await c.check(ctx)) ? c : undefined)))) {
      if (c === undefined) continue;
      reasons.push(c.reason);
      details = { ...details, ...(await c.details(ctx)) };
    }
    return { reasons, details, deleted, asked };
  }

  const good = async () => ({});

  it('reuses the identity when the certificate stands, asking by reference (or the certificate, when kept) once', async () => {
    assert.deepEqual(await ask(identity, good), { reasons: [], details: {}, deleted: [], asked: ['ref'] });
    const keeping = { ...identity, certificate: Buffer.from([0x30, 0]).toString('base64') };
    assert.deepEqual((await ask(keeping, good)).asked, ['certificate']);
  });

  it('deletes an identity whose certificate is revoked or expired, and asks for a new signature', async () => {
    const revoked = await ask(identity, async () => {
      throw new CertificateRevokedError(new Date(), 'unspecified', 'ocsp');
    });
    assert.deepEqual(revoked, {
      reasons: ['signing_certificate_ended'],
      details: { signingCertificate: 'ERR_PKI_CERT_REVOKED' },
      deleted: ['g1'],
      asked: ['ref'],
    });
    const expired = await ask(identity, async () => {
      throw new CertificateInvalidError('ERR_PKI_CERT_EXPIRED', 'validity', 'certificate expired');
    });
    assert.deepEqual(expired.reasons, ['signing_certificate_ended']);
    assert.deepEqual(expired.details, { signingCertificate: 'ERR_PKI_CERT_EXPIRED' });
    assert.deepEqual(expired.deleted, ['g1']);
  });

  it('keeps the identity but asks for a new signature when the status cannot be had, or cannot be asked', async () => {
    const down = await ask(identity, async () => {
      throw new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'unreachable', 'ocsp', 'down');
    });
    assert.deepEqual(down, {
      reasons: ['signing_certificate_unknown'],
      details: { signingCertificate: 'ERR_PKI_REVOCATION_UNKNOWN' },
      deleted: [],
      asked: ['ref'],
    });
    // Kept before the reference was recorded: nothing to ask about, so not reused.
    const { signingCertificate: _, ...unreferenced } = identity;
    const legacy = await ask(unreferenced, good);
    assert.deepEqual(legacy.reasons, ['signing_certificate_unknown']);
    assert.deepEqual(legacy.asked, []);
    assert.deepEqual(legacy.deleted, []);
    // An untrusted issuer now (the operator's anchors changed): not final, the identity kept.
    const issuer = await ask(identity, async () => {
      throw new CertificateInvalidError('ERR_PKI_UNTRUSTED_ISSUER', 'nameChaining', 'untrusted');
    });
    assert.deepEqual(issuer.reasons, ['signing_certificate_unknown']);
    assert.deepEqual(issuer.deleted, []);
  });

  it('does not ask again on the resume of the interaction whose signature made the identity', async () => {
    const ts = Math.floor(Date.parse(identity.verifiedAt) / 1000);
    const down = async () => {
      throw new RevocationUnknownError('ERR_PKI_REVOCATION_UNKNOWN', 'unavailable', 'crl', 'partitioned');
    };
    const resumed = await ask(identity, down, { login: { accountId: 'p1', acr: ACR_CARD_SIGN, ts } });
    assert.deepEqual(resumed, { reasons: [], details: {}, deleted: [], asked: [] });
    // Another login (a card login of a later interaction, or another signature) is asked about.
    assert.deepEqual(
      (await ask(identity, down, { login: { accountId: 'p1', acr: ACR_CARD_SIGN, ts: ts + 60 } })).reasons,
      ['signing_certificate_unknown'],
    );
    assert.deepEqual((await ask(identity, down, { consent: {} })).reasons, ['signing_certificate_unknown']);
  });

  it('asks nothing when the request needs no identity, or a new signature anyway', async () => {
    const other = { ...identity, clientId: 'another' };
    const r = await ask(other, good);
    assert.deepEqual(r.reasons, ['card_signature_required']);
    assert.deepEqual(r.asked, []);
  });
});
