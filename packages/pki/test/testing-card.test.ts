/** A spec from the test JPKI becomes a working virtual card: the card package reads its certificates and signs. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { JpkiClient, TextApClient, digestInfo } from '@mynagate/card';
import { VirtualCard, VirtualTransport } from '@mynagate/card/virtual';
import { TestJpki } from '@mynagate/pki/testing';
import type { IssuedCard } from '@mynagate/pki/testing';
import { parseCert, tempDir } from './support/testing-jpki.ts';

let remove: () => Promise<void>;
let card: IssuedCard;

before(async () => {
  const t = await tempDir('jpki-card');
  remove = t.remove;
  const jpki = await TestJpki.init(t.dir, { now: new Date('2025-01-01T00:00:00Z') });
  card = await jpki.issueCard({
    name: '試験　五郎',
    address: '京都府京都市左京区1-1',
    birthDate: '1995-07-07',
    sex: '1',
    pin: '2468',
    password: 'CARD2025',
    textPin: '1357',
    now: new Date('2025-02-01T00:00:00Z'),
  });
});
after(() => remove());

test('the virtual card built from an issued spec serves its certificates and signs with the matching auth key', async () => {
  const transport = new VirtualTransport(await VirtualCard.fromSpec(card.spec));
  const client = new JpkiClient(transport);
  await client.selectJpki();
  assert.deepEqual(await client.readCertificate('auth'), card.spec.authCert);
  assert.deepEqual(await client.readCertificate('authCa'), card.spec.authCaCert);
  await client.verify('auth', '2468');
  const message = new TextEncoder().encode('challenge');
  const signature = await client.sign('auth', digestInfo('sha256', createHash('sha256').update(message).digest()));
  const spki = AsnConvert.serialize(parseCert(card.spec.authCert).tbsCertificate.subjectPublicKeyInfo);
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  assert.ok(verify('sha256', message, key, signature));
  await client.verify('sign', 'CARD2025');
  assert.deepEqual(await client.readCertificate('sign'), card.spec.signCert);
});

test('the virtual card text AP holds the holder data behind the text PIN', async () => {
  const text = new TextApClient(new VirtualTransport(await VirtualCard.fromSpec(card.spec)));
  await text.verifyPin('1357');
  assert.deepEqual(await text.readBasic4(), {
    name: '試験　五郎',
    address: '京都府京都市左京区1-1',
    birthDate: '19950707',
    sex: '1',
  });
});
