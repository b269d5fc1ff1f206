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
});
