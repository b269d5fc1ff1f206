import assert from 'node:assert/strict';
import { constants, createHash, generateKeyPairSync, privateEncrypt, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { digestInfo } from '../src/digest-info.ts';
import { toHex } from './support/apdu.ts';

describe('DER DigestInfo (RFC 8017 §9.2)', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const message = Buffer.from('DigestInfo');

  for (const [algorithm, length] of [
    ['sha1', 35],
    ['sha256', 51],
    ['sha384', 67],
    ['sha512', 83],
  ] as const) {
    test(`${algorithm}: ${length} bytes, and type-1 padding of it equals node's RSA-${algorithm.toUpperCase()} PKCS#1 v1.5 signature`, () => {
      const di = digestInfo(algorithm, createHash(algorithm).update(message).digest());
      assert.equal(di.length, length);
      const viaCard = privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, di);
      assert.deepEqual(viaCard, sign(algorithm, message, privateKey));
    });
  }

  test('sha256 prefix is 30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20', () => {
    assert.equal(
      toHex(digestInfo('sha256', new Uint8Array(32)).subarray(0, 19)),
      '30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20',
    );
  });

  test('a hash of the wrong length or an unknown algorithm is a TypeError', () => {
    assert.throws(() => digestInfo('sha256', new Uint8Array(20)), TypeError);
    assert.throws(() => digestInfo('md5' as 'sha1', new Uint8Array(16)), TypeError);
  });
});
