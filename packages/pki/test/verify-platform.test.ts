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

test("platformLinks pairs a card's two certificates (J-LIS 証明書紐付け情報), also after a renewal", async () => {
  const links = platformLinks({ baseUrl: server.url });
  const other = await f.jpki.issueCard({
    name: '別人　一郎',
    address: '大阪府大阪市北区1-1',
    birthDate: '1980-05-06',
    sex: '1',
    pin: '1234',
    password: 'ABC123',
  });
  assert.equal((await links.links(f.card.signSerial))?.pair, f.card.authSerial);
  assert.equal((await links.links(f.card.authSerial))?.pair, f.card.signSerial);
  assert.equal((await links.links(other.signSerial))?.pair, other.authSerial, 'another card pairs with its own');
  const renewed = await f.jpki.renew(other.spec, { now: new Date('2027-01-20T00:00:00Z') });
  assert.equal((await links.links(renewed.signSerial))?.pair, renewed.authSerial);
});

test('platformLinks refuses a malformed pair (ERR_PKI_LINKS_UNAVAILABLE)', async () => {
  const links = platformLinks({
    baseUrl: 'http://links.example',
    fetch: async () => Response.json({ serial: '0a', kind: 'sign', pair: 'not hex' }),
  });
  await assert.rejects(links.links('0a'), { code: 'ERR_PKI_LINKS_UNAVAILABLE' });
});
