import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createVerifier, ocspSource } from '@mynagate/pki';
import type { Verifier } from '@mynagate/pki';
import type { TestJpkiServer } from '@mynagate/pki/testing';
import { NOW, ORIGIN, createFixture, serve } from './verify-fixture.ts';
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
    revocation: ocspSource({
      url: (c) => c.ocspUrls[0]!.replace(/^http:\/\/[^/]+/, server.url),
    }),
  });
});
after(async () => {
  await server.close();
  await f.close();
});

test('a card login token from the test JPKI verifies end to end with OCSP', async () => {
  const c = await verifier.issueChallenge('s1');
  const token = await f.token(c.nonce);
  const r = await verifier.verifyLoginToken(JSON.stringify(token), {
    origin: ORIGIN,
    challenge: c.nonce,
    sessionId: 's1',
  });
  assert.equal(r.kind, 'auth');
  assert.equal(r.serialNumber, f.card.authSerial);
  assert.equal(r.revocationSource, 'ocsp');
  // Its own memory, not a view into Node's shared Buffer pool (whose other contents .buffer would expose).
  assert.equal(r.certificate.byteOffset, 0);
  assert.equal(r.certificate.buffer.byteLength, r.certificate.byteLength);
  const later = Buffer.from('unrelated data decoded after the login');
  assert.notEqual(later.buffer, r.certificate.buffer);
});

test('issueChallenge writes the caller’s record alongside the challenge, both started before either is awaited', async () => {
  const started: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const v = createVerifier({
    anchors: f.anchors,
    now: () => NOW,
    revocation: { status: async () => ({ status: 'good', source: 'stub' }) },
    challenges: {
      put: async (c) => {
        started.push(`challenge ${c.sessionId}`);
        await gate;
      },
      take: async () => {
        throw new Error('unused');
      },
    },
  });
  let handed: string | undefined;
  const issuing = v.issueChallenge('s2', async (c) => {
    started.push('alongside');
    handed = c.nonce;
    await gate;
  });
  assert.deepEqual(started, ['challenge s2', 'alongside']);
  release();
  const c = await issuing;
  assert.equal(handed, c.nonce);
  assert.equal(c.sessionId, 's2');
  // A record that cannot be written means no challenge is handed out.
  await assert.rejects(
    v.issueChallenge('s3', async () => {
      throw new Error('store down');
    }),
    /store down/,
  );
});
