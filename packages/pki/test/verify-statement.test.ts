/** Signed statements (eKYC): canonical bytes, the card's signature with the signing key, the evidence. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalJson,
  createVerifier,
  platformSource,
  statementBytes,
  statementDigestInfo,
  statementHash,
} from '@mynagate/pki';
import type { Statement, Verifier } from '@mynagate/pki';
import type { TestJpkiServer } from '@mynagate/pki/testing';
import { NOW, cardSigner, createFixture, serve } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

let f: Fixture;
let server: TestJpkiServer;
let verifier: Verifier;
before(async () => {
  f = await createFixture();
  server = await serve(f);
  verifier = createVerifier({
    anchors: f.anchors,
    now: () => NOW,
    revocation: platformSource({ baseUrl: server.url }),
  });
});
after(async () => {
  await server.close();
  await f.close();
});

const statement: Statement = {
  client: { name: 'Example Bank', origin: 'https://bank.example.jp' },
  purpose: '口座開設の本人確認',
  time: '2027-02-01T03:00:00Z',
  nonce: 'q3Jk0uP0p4mYzJ3v0pC3hF3r2x9a1qk0mS1n6o8bW7c=',
  claims: ['name', 'address', 'birthdate'],
};

const signed = async (s: Statement, signer = f.signSign, certificate = f.card.spec.signCert) => ({
  statement: s,
  signature: await signer(statementDigestInfo(statementBytes(s))),
  certificate,
});

test('canonicalJson sorts members at every depth and adds no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [true, null], c: 'x' } }), '{"a":{"c":"x","d":[true,null]},"b":1}');
  assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  assert.throws(() => canonicalJson({ a: 1.5 }), {
    code: 'ERR_PKI_STATEMENT_MALFORMED',
  });
  assert.throws(() => canonicalJson({ a: undefined }), {
    code: 'ERR_PKI_STATEMENT_MALFORMED',
  });
});

test('a statement signed with the signing key verifies and yields electronic_signature evidence and basic 4', async () => {
  const r = await verifier.verifyStatement(await signed(statement));
  assert.deepEqual(r.evidence, {
    type: 'electronic_signature',
    issuer: r.certificate.issuer,
    serialNumber: f.card.signSerial,
    signedAt: '2027-02-01T03:00:00Z',
    statementHash: statementHash(statementBytes(statement)),
  });
  assert.match(r.evidence.issuer, /OU=JPKI TEST for digital signature/);
  assert.equal(r.identity.name, '試験　花子');
  assert.equal(r.certificate.kind, 'sign');
  assert.equal(r.certificate.revocationSource, 'platform');
});

test('a statement changed after signing fails: ERR_PKI_STATEMENT_SIGNATURE', async () => {
  const s = await signed(statement);
  await assert.rejects(
    verifier.verifyStatement({
      ...s,
      statement: { ...statement, purpose: '送金' },
    }),
    {
      code: 'ERR_PKI_STATEMENT_SIGNATURE',
    },
  );
});

test('a statement signed with the auth key and certificate fails: ERR_PKI_WRONG_CERT_KIND', async () => {
  await assert.rejects(verifier.verifyStatement(await signed(statement, f.signAuth, f.card.spec.authCert)), {
    code: 'ERR_PKI_WRONG_CERT_KIND',
  });
});

test('a statement whose client origin is not exact is refused: ERR_PKI_STATEMENT_MALFORMED', async () => {
  const s = {
    ...statement,
    client: { ...statement.client, origin: 'https://bank.example.jp/' },
  };
  await assert.rejects(
    verifier.verifyStatement({
      statement: s,
      signature: new Uint8Array(256),
      certificate: f.card.spec.signCert,
    }),
    {
      code: 'ERR_PKI_STATEMENT_MALFORMED',
    },
  );
});

test('a statement signed with a revoked signing certificate (moved house) fails: ERR_PKI_CERT_REVOKED', async () => {
  const card = await f.jpki.issueCard({
    name: '転居　三郎',
    address: '北海道札幌市1',
    birthDate: '1970-07-07',
    sex: '1',
    pin: '2222',
    password: 'MOVE22',
    now: new Date('2027-01-10T00:00:00Z'),
  });
  await f.jpki.revoke(card.signSerial, 'affiliationChanged', new Date('2027-01-15T00:00:00Z'));
  await assert.rejects(
    verifier.verifyStatement(await signed(statement, cardSigner(card.spec.signKey), card.spec.signCert)),
    {
      code: 'ERR_PKI_CERT_REVOKED',
      reason: 'affiliationChanged',
      source: 'platform',
    },
  );
});
