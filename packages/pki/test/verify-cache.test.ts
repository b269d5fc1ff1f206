/**
 * The warm path (a certificate seen before) keeps every per-login check: validity at now, revocation, the token
 * signature and the challenge. Only path validation's result is reused, inside its validity window.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createVerifier, MemoryChallengeStore, parseCertificate } from '@mynagate/pki';
import type { RevocationSource, RevocationStatus } from '@mynagate/pki';
import { NOW, ORIGIN, createFixture } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

let f: Fixture;
before(async () => {
  f = await createFixture();
});
after(() => f.close());

function setup(options: { pathCacheSize?: number } = {}) {
  let now = NOW;
  let answer: RevocationStatus = { status: 'good', source: 'stub' };
  let asked = 0;
  const revocation: RevocationSource = {
    status: async () => {
      asked++;
      return answer;
    },
  };
  const verifier = createVerifier({
    anchors: f.anchors,
    revocation,
    challenges: new MemoryChallengeStore(),
    now: () => now,
    ...options,
  });
  const login = async (opts: { tamper?: boolean } = {}) => {
    const { nonce } = await verifier.issueChallenge('s');
    const token = await f.token(nonce);
    const signature = opts.tamper ? token.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) : token.signature;
    return verifier.verifyLoginToken(JSON.stringify({ ...token, signature }), {
      origin: ORIGIN,
      challenge: nonce,
      sessionId: 's',
    });
  };
  return {
    login,
    setNow: (d: Date) => (now = d),
    setAnswer: (a: RevocationStatus) => (answer = a),
    asked: () => asked,
  };
}

test('a certificate seen before is asked about revocation again, and a revocation since then is refused', async () => {
  const s = setup();
  await s.login();
  await s.login();
  assert.equal(s.asked(), 2);
  s.setAnswer({ status: 'revoked', source: 'stub', revokedAt: NOW, reason: 'keyCompromise' });
  await assert.rejects(s.login(), { code: 'ERR_PKI_CERT_REVOKED' });
});

test('a certificate seen before is refused once expired: ERR_PKI_CERT_EXPIRED (validity is checked at every login)', async () => {
  const s = setup();
  await s.login();
  const notAfter = parseCertificate(f.card.spec.authCert).notAfter;
  s.setNow(new Date(notAfter + 1000));
  await assert.rejects(s.login(), { code: 'ERR_PKI_CERT_EXPIRED' });
});

test('a certificate seen before still needs a valid token signature: ERR_PKI_TOKEN_SIGNATURE', async () => {
  const s = setup();
  await s.login();
  await assert.rejects(s.login({ tamper: true }), { code: 'ERR_PKI_TOKEN_SIGNATURE' });
});

test('the first signature check with a new certificate (its key as PEM text) and later ones (the imported key) agree', async () => {
  // A tampered first login still validates and caches the path; the key is then used as a KeyObject.
  const s = setup();
  await assert.rejects(s.login({ tamper: true }), { code: 'ERR_PKI_TOKEN_SIGNATURE' });
  assert.equal((await s.login()).kind, 'auth');
  await assert.rejects(s.login({ tamper: true }), { code: 'ERR_PKI_TOKEN_SIGNATURE' });
  const t = setup();
  assert.equal((await t.login()).kind, 'auth');
  assert.equal((await t.login()).kind, 'auth');
});

test('an unknown revocation answer on the warm path fails closed: ERR_PKI_REVOCATION_UNKNOWN', async () => {
  const s = setup();
  await s.login();
  s.setAnswer({ status: 'unknown', source: 'stub' });
  await assert.rejects(s.login(), { code: 'ERR_PKI_REVOCATION_UNKNOWN' });
});

test('pathCacheSize 0 validates every time and gives the same result', async () => {
  const s = setup({ pathCacheSize: 0 });
  const a = await s.login();
  const b = await s.login();
  assert.deepEqual({ ...a }, { ...b });
  assert.equal(a.kind, 'auth');
  assert.match(a.fingerprint, /^[0-9a-f]{64}$/);
});
