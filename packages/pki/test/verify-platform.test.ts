/** The platform provider API (the test JPKI's contract): status and old→new serial links. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate, platformLinks, platformSource } from '@mynagate/pki';
import type { TestJpkiServer } from '@mynagate/pki/testing';
import { NOW, createFixture, serve } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

let f: Fixture;
let server: TestJpkiServer;
before(async () => {
  f = await createFixture();
  server = await serve(f);
});
after(async () => {
  await server.close();
  await f.close();
});

test('platformSource answers good for a valid certificate', async () => {
  const s = await platformSource({ baseUrl: server.url }).status(
    parseCertificate(f.card.spec.authCert),
    parseCertificate(f.authCa.der),
    NOW,
  );
  assert.deepEqual(s, { status: 'good', source: 'platform' });
});

test('platformSource answers unknown for a certificate of another issuer', async () => {
  const s = await platformSource({ baseUrl: server.url }).status(
    parseCertificate(f.card.spec.authCert),
    parseCertificate(f.signCa.der),
    NOW,
  );
  assert.equal(s.status, 'unknown');
});

test('platformSource fails closed when the platform is unreachable: ERR_PKI_REVOCATION_UNKNOWN', async () => {
  await assert.rejects(
    platformSource({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 }).status(
      parseCertificate(f.card.spec.authCert),
      parseCertificate(f.authCa.der),
      NOW,
    ),
    { code: 'ERR_PKI_REVOCATION_UNKNOWN', detail: 'unreachable' },
  );
});

test('platformLinks follows a renewal: the old serial names its successor and the new one its predecessor', async () => {
  const renewed = await f.jpki.renew(f.card.spec, {
    now: new Date('2027-01-20T00:00:00Z'),
  });
  const links = platformLinks({ baseUrl: server.url });
  assert.equal((await links.links(f.card.authSerial))?.successor, renewed.authSerial);
  assert.equal((await links.links(renewed.authSerial))?.predecessor, f.card.authSerial);
  assert.equal(await links.links('0123456789'), null);
});
