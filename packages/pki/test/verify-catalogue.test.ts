/**
 * The negative catalogue of card login (Web eID's suite, intl-anchors §1.3, adapted to JPKI, plus the cases it
 * lacks). Every case starts from ONE valid login — a fresh challenge, the card's token, the server's origin — changes
 * one thing, and asserts the exact error code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createAuthToken, createVerifier, ocspSource } from '@mynagate/pki';
import type { LoginContext, RevocationSource, Verifier, VerifierOptions } from '@mynagate/pki';
import type { TestJpkiServer } from '@mynagate/pki/testing';
import {
  NOW,
  ORIGIN,
  cardSigner,
  craftedResponder,
  createFixture,
  lookAlikeCa,
  reissue,
  serve,
  x509,
} from './verify-fixture.ts';
import type { CraftedResponder, Fixture, OcspMode } from './verify-fixture.ts';

const OID = {
  policies: '2.5.29.32',
  keyUsage: '2.5.29.15',
  eku: '2.5.29.37',
};

const okRevocation: RevocationSource = {
  status: async () => ({ status: 'good', source: 'stub' }),
};

let f: Fixture;
let server: TestJpkiServer;
let crafted: CraftedResponder;
let clock = NOW;
let verifier: Verifier;
let viaCrafted: Verifier;
let otherCard: Awaited<ReturnType<Fixture['jpki']['issueCard']>>;
let revokedCard: Awaited<ReturnType<Fixture['jpki']['issueCard']>>;

const ocspAtServer = (): RevocationSource =>
  ocspSource({
    url: (c) => c.ocspUrls[0]!.replace(/^http:\/\/[^/]+/, server.url),
  });

function make(options: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({
    anchors: f.anchors,
    now: () => clock,
    revocation: ocspAtServer(),
    ...options,
  });
}

before(async () => {
  f = await createFixture();
  server = await serve(f);
  crafted = await craftedResponder(f, () => NOW);
  verifier = make();
  viaCrafted = make({
    revocation: ocspSource({ url: crafted.url, cacheSize: 0, skewMs: 60_000 }),
  });
  const holder = {
    address: '大阪府大阪市北区1-1',
    birthDate: '1980-05-05',
    sex: '1' as const,
    pin: '5678',
    password: 'XYZ789',
  };
  otherCard = await f.jpki.issueCard({
    ...holder,
    name: '別人　一郎',
    now: new Date('2027-01-11T00:00:00Z'),
  });
  revokedCard = await f.jpki.issueCard({
    ...holder,
    name: '失効　二郎',
    now: new Date('2027-01-12T00:00:00Z'),
  });
  await f.jpki.revoke(revokedCard.authSerial, 'keyCompromise', new Date('2027-01-20T00:00:00Z'));
});

after(async () => {
  await server?.close();
  await crafted?.close();
  await f?.close();
});

/** The one valid case: a fresh challenge for a fresh session, and the card's token over it. */
async function valid(v: Verifier = verifier, certificate?: Uint8Array) {
  const sessionId = randomUUID();
  const c = await v.issueChallenge(sessionId);
  const token = {
    ...(await f.token(c.nonce, certificate ? { certificate } : {})),
  } as Record<string, unknown>;
  const context: LoginContext = {
    origin: ORIGIN,
    challenge: c.nonce,
    sessionId,
  };
  return { token, context, text: () => JSON.stringify(token) };
}

const login = (v: Verifier, token: string | Record<string, unknown>, context: LoginContext) =>
  v.verifyLoginToken(typeof token === 'string' ? token : JSON.stringify(token), context);

/** A token over the fixture's card key but carrying `certificate` (issued with the same key by a variant CA). */
async function withCertificate(certificate: Uint8Array, v: Verifier = verifier) {
  return valid(v, certificate);
}

describe('the valid case', () => {
  test('the valid login token verifies and names the auth certificate', async () => {
    const { token, context } = await valid();
    const r = await login(verifier, token, context);
    assert.equal(r.kind, 'auth');
    assert.equal(r.serialNumber, f.card.authSerial);
    assert.equal(r.format, 'web-eid:1.0');
    assert.match(r.fingerprint, /^[0-9a-f]{64}$/);
    assert.match(r.subjectCommonName ?? '', /^[0-9A-Z]{23}$/);
    assert.match(r.issuer, /OU=JPKI TEST for user authentication/);
  });

  test('a minor format version web-eid:1.1 is accepted (minor versions are compatible)', async () => {
    const { token, context } = await valid();
    token.format = 'web-eid:1.1';
    assert.equal((await login(verifier, token, context)).kind, 'auth');
  });

  test('unknown members are ignored (forward compatibility with web-eid:1.x additions)', async () => {
    const { token, context } = await valid();
    token.unverifiedSigningCertificates = [];
    assert.equal((await login(verifier, token, context)).kind, 'auth');
  });
});

describe('token structure', () => {
  const cases: [string, (t: Record<string, unknown>) => unknown, string][] = [
    ['format missing', (t) => delete t.format, 'ERR_PKI_TOKEN_MALFORMED'],
    ['format "invalid"', (t) => (t.format = 'invalid'), 'ERR_PKI_TOKEN_FORMAT'],
    ['format "web-eid:10" (a prefix match would accept it)', (t) => (t.format = 'web-eid:10'), 'ERR_PKI_TOKEN_FORMAT'],
    ['format "web-eid:2.0" (another major version)', (t) => (t.format = 'web-eid:2.0'), 'ERR_PKI_TOKEN_FORMAT'],
    ['format "web-eid:1.0 " with a trailing space', (t) => (t.format = 'web-eid:1.0 '), 'ERR_PKI_TOKEN_FORMAT'],
    ['format a number', (t) => (t.format = 1), 'ERR_PKI_TOKEN_MALFORMED'],
    ['algorithm "NONE"', (t) => (t.algorithm = 'NONE'), 'ERR_PKI_TOKEN_ALGORITHM'],
    ['algorithm empty', (t) => (t.algorithm = ''), 'ERR_PKI_TOKEN_ALGORITHM'],
    ['algorithm "\\u0000\\t\\ninvalid"', (t) => (t.algorithm = '\u0000\t\ninvalid'), 'ERR_PKI_TOKEN_ALGORITHM'],
    [
      'algorithm "PS256" (a JPKI card only pads PKCS#1 v1.5)',
      (t) => (t.algorithm = 'PS256'),
      'ERR_PKI_TOKEN_ALGORITHM',
    ],
    ['algorithm "ES384"', (t) => (t.algorithm = 'ES384'), 'ERR_PKI_TOKEN_ALGORITHM'],
    ['algorithm "rs256" (case matters)', (t) => (t.algorithm = 'rs256'), 'ERR_PKI_TOKEN_ALGORITHM'],
    ['unverifiedCertificate missing', (t) => delete t.unverifiedCertificate, 'ERR_PKI_TOKEN_MALFORMED'],
    ['unverifiedCertificate empty', (t) => (t.unverifiedCertificate = ''), 'ERR_PKI_TOKEN_MALFORMED'],
    [
      'unverifiedCertificate an array',
      (t) => (t.unverifiedCertificate = [t.unverifiedCertificate]),
      'ERR_PKI_TOKEN_MALFORMED',
    ],
    ['unverifiedCertificate a number', (t) => (t.unverifiedCertificate = 1234), 'ERR_PKI_TOKEN_MALFORMED'],
    [
      'unverifiedCertificate not base64',
      (t) => (t.unverifiedCertificate = 'not a certificate!'),
      'ERR_PKI_TOKEN_MALFORMED',
    ],
    [
      'unverifiedCertificate in base64url instead of base64',
      (t) => (t.unverifiedCertificate = String(t.unverifiedCertificate).replace(/\+/g, '-').replace(/\//g, '_')),
      'ERR_PKI_TOKEN_MALFORMED',
    ],
    [
      'unverifiedCertificate with a line break inside',
      (t) => (t.unverifiedCertificate = String(t.unverifiedCertificate).replace(/^(.{64})/, '$1\n')),
      'ERR_PKI_TOKEN_MALFORMED',
    ],
    [
      'unverifiedCertificate base64 of bytes that are not a certificate',
      (t) => (t.unverifiedCertificate = Buffer.from('0123456789abcdef').toString('base64')),
      'ERR_PKI_CERT_MALFORMED',
    ],
    ['signature missing', (t) => delete t.signature, 'ERR_PKI_TOKEN_MALFORMED'],
    [
      'signature without its padding',
      (t) => (t.signature = String(t.signature).replace(/=+$/, '')),
      'ERR_PKI_TOKEN_MALFORMED',
    ],
    [
      'signature with non-zero pad bits (non-canonical base64)',
      (t) =>
        (t.signature = String(t.signature).replace(/[A-Za-z0-9+/](==)$/, (m) => (m[0] === 'B' ? 'C' : 'B') + '==')),
      'ERR_PKI_TOKEN_MALFORMED',
    ],
    ['appVersion a number', (t) => (t.appVersion = 2), 'ERR_PKI_TOKEN_MALFORMED'],
  ];
  for (const [what, mutate, code] of cases) {
    test(`rejects a token with ${what}: ${code}`, async () => {
      const { token, context } = await valid();
      mutate(token);
      await assert.rejects(login(verifier, token, context), { code });
    });
  }

  test('rejects a token shorter than 100 characters: ERR_PKI_TOKEN_MALFORMED', async () => {
    const { context } = await valid();
    await assert.rejects(login(verifier, '{"format":"web-eid:1.0"}', context), {
      code: 'ERR_PKI_TOKEN_MALFORMED',
    });
  });

  test('rejects a token longer than 10 000 characters: ERR_PKI_TOKEN_MALFORMED', async () => {
    const { token, context } = await valid();
    token.appVersion = 'https://x/' + 'a'.repeat(10_000);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_TOKEN_MALFORMED',
    });
  });

  test('rejects a token that is not JSON: ERR_PKI_TOKEN_MALFORMED', async () => {
    const { text, context } = await valid();
    await assert.rejects(login(verifier, text().slice(0, -1), context), {
      code: 'ERR_PKI_TOKEN_MALFORMED',
    });
  });

  test('rejects a token that is a JSON array: ERR_PKI_TOKEN_MALFORMED', async () => {
    const { text, context } = await valid();
    await assert.rejects(login(verifier, `[${text()}]`, context), {
      code: 'ERR_PKI_TOKEN_MALFORMED',
    });
  });

  test('rejects duplicate JSON keys (a second unverifiedCertificate): ERR_PKI_TOKEN_MALFORMED', async () => {
    const { token, text, context } = await valid();
    const dup = text().replace(
      /^\{/,
      `{"unverifiedCertificate":${JSON.stringify(String(token.unverifiedCertificate))},`,
    );
    await assert.rejects(login(verifier, dup, context), {
      code: 'ERR_PKI_TOKEN_MALFORMED',
    });
  });

  test('rejects duplicate JSON keys spelled with a \\u escape: ERR_PKI_TOKEN_MALFORMED', async () => {
    const { text, context } = await valid();
    const dup = text().replace(/^\{/, '{"\\u0066ormat":"web-eid:1.0",');
    await assert.rejects(login(verifier, dup, context), {
      code: 'ERR_PKI_TOKEN_MALFORMED',
    });
  });
});

describe('signature binding', () => {
  test('rejects a bit-flipped signature: ERR_PKI_TOKEN_SIGNATURE', async () => {
    const { token, context } = await valid();
    const sig = Buffer.from(String(token.signature), 'base64');
    sig[100]! ^= 0x01;
    token.signature = sig.toString('base64');
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_TOKEN_SIGNATURE',
    });
  });

  test('rejects a truncated signature: ERR_PKI_TOKEN_SIGNATURE', async () => {
    const { token, context } = await valid();
    token.signature = Buffer.from(String(token.signature), 'base64').subarray(0, 255).toString('base64');
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_TOKEN_SIGNATURE',
    });
  });

  test('rejects a token signed for a phishing origin: ERR_PKI_TOKEN_SIGNATURE', async () => {
    const { context } = await valid();
    const token = await f.token(context.challenge, {
      origin: 'https://idp.example.jp.evil.example',
    });
    await assert.rejects(login(verifier, { ...token }, context), {
      code: 'ERR_PKI_TOKEN_SIGNATURE',
    });
  });

  test('rejects a token signed for another challenge (replay against a new challenge): ERR_PKI_TOKEN_SIGNATURE', async () => {
    const first = await valid();
    const second = await valid();
    await assert.rejects(login(verifier, first.token, { ...second.context }), {
      code: 'ERR_PKI_TOKEN_SIGNATURE',
    });
  });

  test("rejects another person's certificate with this card's signature: ERR_PKI_TOKEN_SIGNATURE", async () => {
    const { token, context } = await valid();
    token.unverifiedCertificate = Buffer.from(otherCard.spec.authCert).toString('base64');
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_TOKEN_SIGNATURE',
    });
  });
});

describe('origin', () => {
  const bad: [string, string][] = [
    ['a trailing slash', `${ORIGIN}/`],
    ['a path', `${ORIGIN}/login`],
    ['userinfo', 'https://user@idp.example.jp'],
    ['http', 'http://idp.example.jp'],
    ['an upper-case host', 'https://IDP.example.jp'],
    ['the default port written out', 'https://idp.example.jp:443'],
    ['a query', `${ORIGIN}?a=1`],
    ['an IDN not in punycode', 'https://例え.jp'],
  ];
  for (const [what, origin] of bad) {
    test(`rejects a server origin with ${what}: ERR_PKI_TOKEN_ORIGIN`, async () => {
      const { token, context } = await valid();
      await assert.rejects(login(verifier, token, { ...context, origin }), {
        code: 'ERR_PKI_TOKEN_ORIGIN',
      });
    });
  }

  test('accepts an origin with an explicit non-default port the token was made for', async () => {
    const { context } = await valid();
    const origin = 'https://idp.example.jp:8443';
    const token = await f.token(context.challenge, { origin });
    assert.equal((await login(verifier, { ...token }, { ...context, origin })).kind, 'auth');
  });
});

describe('challenge', () => {
  test('rejects the same token and challenge a second time: ERR_PKI_CHALLENGE_USED', async () => {
    const { token, context } = await valid();
    await login(verifier, token, context);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_CHALLENGE_USED',
    });
  });

  test('rejects a challenge replayed from another session: ERR_PKI_CHALLENGE_WRONG_SESSION', async () => {
    const { token, context } = await valid();
    await assert.rejects(login(verifier, token, { ...context, sessionId: randomUUID() }), {
      code: 'ERR_PKI_CHALLENGE_WRONG_SESSION',
    });
  });

  test('rejects a challenge never issued: ERR_PKI_CHALLENGE_NOT_FOUND', async () => {
    const { token, context } = await valid();
    await assert.rejects(login(verifier, token, { ...context, challenge: 'A'.repeat(43) + '=' }), {
      code: 'ERR_PKI_CHALLENGE_NOT_FOUND',
    });
  });

  test('rejects a challenge used after its 5 minute lifetime: ERR_PKI_CHALLENGE_EXPIRED', async () => {
    const { token, context } = await valid();
    clock = new Date(NOW.getTime() + 5 * 60_000);
    try {
      await assert.rejects(login(verifier, token, context), {
        code: 'ERR_PKI_CHALLENGE_EXPIRED',
      });
    } finally {
      clock = NOW;
    }
  });
});

describe('certificate', () => {
  test('rejects a signing certificate used for login: ERR_PKI_WRONG_CERT_KIND', async () => {
    const { token, context } = await valid();
    token.unverifiedCertificate = Buffer.from(f.card.spec.signCert).toString('base64');
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_WRONG_CERT_KIND',
    });
  });

  test('rejects an auth certificate whose policy is the signing policy: ERR_PKI_WRONG_CERT_KIND', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      add: [new x509.CertificatePolicyExtension(['1.2.392.200149.8.5.1.1.20'], true)],
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_WRONG_CERT_KIND',
    });
  });

  test('rejects an auth certificate with its policy removed: ERR_PKI_POLICY', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      drop: [OID.policies],
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_POLICY',
    });
  });

  test('rejects an auth certificate with another policy (e.g. a test-card OID): ERR_PKI_POLICY', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      add: [new x509.CertificatePolicyExtension(['1.2.392.200149.8.5.1.0.20'], true)],
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_POLICY',
    });
  });

  test('rejects an auth certificate whose key usage is keyEncipherment: ERR_PKI_KEY_USAGE', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      add: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyEncipherment, true)],
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_KEY_USAGE',
    });
  });

  test('rejects an auth certificate without key usage: ERR_PKI_KEY_USAGE', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      drop: [OID.keyUsage],
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_KEY_USAGE',
    });
  });

  test('rejects an auth certificate that may also sign certificates: ERR_PKI_KEY_USAGE', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      add: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true)],
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_KEY_USAGE',
    });
  });

  test('rejects an auth certificate without extended key usage clientAuth: ERR_PKI_EKU', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      drop: [OID.eku],
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_EKU',
    });
  });

  test('rejects an auth certificate whose extended key usage is serverAuth: ERR_PKI_EKU', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      add: [new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.1'])],
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_EKU',
    });
  });

  test('rejects a certificate with an unknown critical extension: ERR_PKI_UNKNOWN_CRITICAL_EXTENSION', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      add: [new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([0x05, 0x00]))],
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_UNKNOWN_CRITICAL_EXTENSION',
    });
  });

  test('accepts a certificate with an unknown non-critical extension', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      add: [new x509.Extension('1.3.6.1.4.1.99999.1', false, new Uint8Array([0x05, 0x00]))],
    });
    const v = make({ revocation: okRevocation });
    const { token, context } = await withCertificate(cert, v);
    assert.equal((await login(v, token, context)).kind, 'auth');
  });

  test('rejects an expired certificate: ERR_PKI_CERT_EXPIRED', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      notAfter: new Date(NOW.getTime() - 1000),
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_CERT_EXPIRED',
    });
  });

  test('rejects a certificate not yet valid: ERR_PKI_CERT_NOT_YET_VALID', async () => {
    const cert = await reissue(f.card.spec.authCert, f.authCa, {
      notBefore: new Date(NOW.getTime() + 1000),
    });
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_CERT_NOT_YET_VALID',
    });
  });

  test('rejects a certificate from a look-alike CA with the same name and another key: ERR_PKI_BAD_SIGNATURE', async () => {
    const fake = await lookAlikeCa(f.authCa.der);
    const cert = await reissue(f.card.spec.authCert, fake);
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_BAD_SIGNATURE',
    });
  });

  test('rejects a certificate whose signature was altered: ERR_PKI_BAD_SIGNATURE', async () => {
    const cert = new Uint8Array(f.card.spec.authCert);
    cert[cert.length - 10]! ^= 0x01;
    const { token, context } = await withCertificate(cert);
    await assert.rejects(login(verifier, token, context), {
      code: 'ERR_PKI_BAD_SIGNATURE',
    });
  });

  test('accepts the real certificate when a same-name look-alike anchor is also configured (every same-name anchor is tried)', async () => {
    const fake = await lookAlikeCa(f.authCa.der);
    const v = make({
      anchors: { auth: [fake.der, f.authCa.der], sign: f.anchors.sign },
    });
    const { token, context } = await valid(v);
    assert.equal((await login(v, token, context)).kind, 'auth');
  });

  test('rejects a certificate from a CA that is not a trust anchor: ERR_PKI_UNTRUSTED_ISSUER', async () => {
    // The auth CA is not configured; the only auth anchor has another name.
    const v = make({ anchors: { auth: [f.signCa.der], sign: [] } });
    const { token, context } = await valid(v);
    await assert.rejects(login(v, token, context), {
      code: 'ERR_PKI_UNTRUSTED_ISSUER',
    });
  });

  test('rejects when the trust anchor itself has expired: ERR_PKI_ANCHOR_EXPIRED', async () => {
    const expiredCa = await reissue(f.authCa.der, f.authCa, {
      notAfter: new Date(NOW.getTime() - 1000),
    });
    const v = make({ anchors: { auth: [expiredCa], sign: f.anchors.sign } });
    const { token, context } = await valid(v);
    await assert.rejects(login(v, token, context), {
      code: 'ERR_PKI_ANCHOR_EXPIRED',
    });
  });

  test('rejects when the trust anchor is not yet valid: ERR_PKI_ANCHOR_NOT_YET_VALID', async () => {
    const futureCa = await reissue(f.authCa.der, f.authCa, {
      notBefore: new Date(NOW.getTime() + 1000),
    });
    const v = make({ anchors: { auth: [futureCa], sign: f.anchors.sign } });
    const { token, context } = await valid(v);
    await assert.rejects(login(v, token, context), {
      code: 'ERR_PKI_ANCHOR_NOT_YET_VALID',
    });
  });

  test('an unrelated expired anchor does not affect a valid login', async () => {
    const fake = await lookAlikeCa(f.signCa.der);
    const expired = await reissue(fake.der, fake, {
      notAfter: new Date(NOW.getTime() - 1000),
    });
    const v = make({
      anchors: { auth: [expired, f.authCa.der], sign: f.anchors.sign },
    });
    const { token, context } = await valid(v);
    assert.equal((await login(v, token, context)).kind, 'auth');
  });
});

describe('revocation', () => {
  test('rejects a revoked certificate (the test JPKI OCSP responder): ERR_PKI_CERT_REVOKED with time and reason', async () => {
    const sessionId = randomUUID();
    const c = await verifier.issueChallenge(sessionId);
    const token = await createAuthToken({
      certificate: revokedCard.spec.authCert,
      origin: ORIGIN,
      challenge: c.nonce,
      sign: cardSigner(revokedCard.spec.authKey),
    });
    await assert.rejects(login(verifier, { ...token }, { origin: ORIGIN, challenge: c.nonce, sessionId }), {
      code: 'ERR_PKI_CERT_REVOKED',
      reason: 'keyCompromise',
      revokedAt: new Date('2027-01-20T00:00:00Z'),
      source: 'ocsp',
    });
  });

  test('rejects when the OCSP responder is unreachable: ERR_PKI_REVOCATION_UNKNOWN (unreachable)', async () => {
    const v = make({
      revocation: ocspSource({
        url: 'http://127.0.0.1:1/ocsp',
        timeoutMs: 1000,
      }),
    });
    const { token, context } = await valid(v);
    await assert.rejects(login(v, token, context), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
      detail: 'unreachable',
    });
  });

  test('rejects when a revocation source throws an unexpected error: ERR_PKI_REVOCATION_UNKNOWN', async () => {
    const v = make({
      revocation: { status: async () => Promise.reject(new Error('boom')) },
    });
    const { token, context } = await valid(v);
    await assert.rejects(login(v, token, context), {
      code: 'ERR_PKI_REVOCATION_UNKNOWN',
    });
  });

  const ocspCases: [OcspMode, string, Record<string, string>][] = [
    ['revoked', 'a revoked answer', { code: 'ERR_PKI_CERT_REVOKED', reason: 'keyCompromise' }],
    ['unknown', 'an unknown answer', { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail: 'unknown' }],
    ['stale', 'thisUpdate an hour old', { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail: 'stale' }],
    ['nextUpdatePassed', 'nextUpdate passed', { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail: 'stale' }],
    ['future', 'thisUpdate an hour in the future', { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail: 'future' }],
    ['wrongNonce', 'another nonce (replay)', { code: 'ERR_PKI_OCSP_NONCE' }],
    ['noNonce', 'no nonce', { code: 'ERR_PKI_OCSP_NONCE' }],
    ['twoResponses', 'two SingleResponses', { code: 'ERR_PKI_OCSP_RESPONSE_COUNT' }],
    ['otherCertId', 'a SingleResponse about another certificate', { code: 'ERR_PKI_OCSP_CERT_ID' }],
    ['badSignature', 'a bit-flipped signature', { code: 'ERR_PKI_OCSP_SIGNATURE' }],
    ['delegateNoEku', 'a delegate without id-kp-OCSPSigning', { code: 'ERR_PKI_OCSP_RESPONDER' }],
    ['delegateFromLookAlike', 'a delegate issued by a look-alike CA', { code: 'ERR_PKI_OCSP_RESPONDER' }],
    ['otherCaSigns', 'a response signed by the other (sign) CA', { code: 'ERR_PKI_OCSP_RESPONDER' }],
    ['tryLater', 'responseStatus tryLater', { code: 'ERR_PKI_OCSP_STATUS' }],
    ['garbage', 'bytes that are not an OCSPResponse', { code: 'ERR_PKI_OCSP_MALFORMED' }],
    ['http500', 'HTTP 500', { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail: 'unreachable' }],
  ];
  for (const [mode, what, expected] of ocspCases) {
    test(`rejects an OCSP response with ${what}: ${expected.code}`, async () => {
      crafted.mode = mode;
      const { token, context } = await valid(viaCrafted);
      await assert.rejects(login(viaCrafted, token, context), expected);
    });
  }

  test('accepts a good OCSP answer from the crafted responder (the baseline of the OCSP cases)', async () => {
    crafted.mode = 'good';
    const { token, context } = await valid(viaCrafted);
    assert.equal((await login(viaCrafted, token, context)).revocationSource, 'ocsp');
  });

  test('accepts a good answer from a delegated responder the issuing CA certified (RFC 6960 §4.2.2.2)', async () => {
    crafted.mode = 'delegate';
    const { token, context } = await valid(viaCrafted);
    assert.equal((await login(viaCrafted, token, context)).revocationSource, 'ocsp');
  });
});
