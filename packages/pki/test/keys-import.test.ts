/** Public key import: the PKCS#1 (RSA) and SPKI (other algorithms) routes give node:crypto the same key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { importPublicKey } from '../src/keys.ts';

const spkiOf = (k: ReturnType<typeof generateKeyPairSync>['publicKey']) =>
  new Uint8Array(k.export({ type: 'spki', format: 'der' }));

test('an RSA SubjectPublicKeyInfo imports as the same key and verifies a signature made with it', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = importPublicKey(spkiOf(publicKey));
  assert.equal(key.asymmetricKeyType, 'rsa');
  assert.ok(key.equals(publicKey));
  const data = Buffer.from('signed data');
  assert.equal(verify('sha256', data, key, sign('sha256', data, privateKey)), true);
  assert.equal(verify('sha256', Buffer.from('other data'), key, sign('sha256', data, privateKey)), false);
});

test('an RSA key given as a view inside a larger buffer imports only the view', () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = spkiOf(publicKey);
  const padded = new Uint8Array(spki.length + 20).fill(0xff);
  padded.set(spki, 10);
  assert.ok(importPublicKey(padded.subarray(10, 10 + spki.length)).equals(publicKey));
});

test('a non-RSA SubjectPublicKeyInfo (EC P-256) imports through the SPKI route', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = importPublicKey(spkiOf(publicKey));
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.ok(key.equals(publicKey));
});

test('a SubjectPublicKeyInfo with trailing bytes, or whose RSAPublicKey is not DER, is refused', () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = spkiOf(publicKey);
  assert.throws(() => importPublicKey(Uint8Array.of(...spki, 0)));
  // 30 82 01 22 | AlgorithmIdentifier (15 octets) | 03 82 01 0f 00 | 30 82 01 0a …: the RSAPublicKey SEQUENCE tag
  // at offset 24 becomes a SET, so only node:crypto's decoder can notice.
  assert.equal(spki[24], 0x30);
  const corrupt = spki.slice();
  corrupt[24] = 0x31;
  assert.throws(() => importPublicKey(corrupt));
});
