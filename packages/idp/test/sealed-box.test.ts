/**
 * Sealed boxes (lib/sealed-box.ts): X25519 + HKDF-SHA256 + AES-256-GCM to a key derived from a secret. One valid box,
 * then one thing changed per case: another key, another label, other additional data, each part of the box altered,
 * cut short, not base64url, a small-order ephemeral key. Every one of them fails to open, with the same error.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { openingKey, seal } from '../src/lib/sealed-box.ts';

const LABEL = 'test label v1';
const secret = randomBytes(32);
const key = openingKey(secret, LABEL);
const aad = Buffer.from('test label v1:txn-1');
const plaintext = Buffer.from(JSON.stringify({ name: '封印　確子', address: '北海道札幌市' }), 'utf8');

const box = seal(key.publicKey, plaintext, aad);

/** `sealed` with byte `at` flipped (negative: from the end). */
function flip(sealed: string, at: number): string {
  const bytes = Buffer.from(sealed, 'base64url');
  const i = at < 0 ? bytes.length + at : at;
  bytes[i]! ^= 0x01;
  return bytes.toString('base64url');
}

const refuses = (open: () => unknown, what: string) =>
  assert.throws(open, { message: 'the sealed box does not open' }, what);

describe('sealed boxes', () => {
  it('open with the key derived from the same secret and label, to the same plaintext', () => {
    const again = openingKey(Buffer.from(secret), LABEL);
    assert.deepEqual(Buffer.from(again.publicKey), Buffer.from(key.publicKey), 'the same key from the same secret');
    assert.equal(key.publicKey.length, 32);
    assert.deepEqual(Buffer.from(again.open(box, aad)), plaintext);
    assert.ok(!Buffer.from(box, 'base64url').includes(Buffer.from('封印')), 'no plaintext in the box');
  });

  it('are a fresh box each time (a new ephemeral key), 32 + length + 16 bytes', () => {
    const other = seal(key.publicKey, plaintext, aad);
    assert.notEqual(other, box);
    assert.equal(Buffer.from(box, 'base64url').length, 32 + plaintext.length + 16);
    assert.match(box, /^[A-Za-z0-9_-]+$/);
  });

  it('do not open with the key of another secret, or of the same secret under another label', () => {
    refuses(() => openingKey(randomBytes(32), LABEL).open(box, aad), 'another secret');
    const relabelled = openingKey(secret, 'another label v1');
    assert.notDeepEqual(Buffer.from(relabelled.publicKey), Buffer.from(key.publicKey));
    refuses(() => relabelled.open(box, aad), 'another label');
  });

  it('do not open with other additional data (a box moved to another transaction)', () => {
    refuses(() => key.open(box, Buffer.from('test label v1:txn-2')), 'another transaction');
    refuses(() => key.open(box, Buffer.alloc(0)), 'none');
  });

  it('do not open once any part is altered: the ephemeral key, the ciphertext, the tag', () => {
    for (const [at, part] of [
      [0, 'ephemeral key, first byte'],
      [31, 'ephemeral key, last byte'],
      [32, 'ciphertext, first byte'],
      [-17, 'ciphertext, last byte'],
      [-16, 'tag, first byte'],
      [-1, 'tag, last byte'],
    ] as const) {
      refuses(() => key.open(flip(box, at), aad), part);
    }
  });

  it('do not open when cut short, lengthened, empty, not base64url, or with a small-order ephemeral key', () => {
    const bytes = Buffer.from(box, 'base64url');
    refuses(() => key.open(bytes.subarray(0, bytes.length - 1).toString('base64url'), aad), 'one byte short');
    refuses(() => key.open(bytes.subarray(0, 47).toString('base64url'), aad), 'shorter than a key and a tag');
    refuses(() => key.open(Buffer.concat([bytes, Buffer.alloc(1)]).toString('base64url'), aad), 'one byte more');
    refuses(() => key.open('', aad), 'empty');
    refuses(() => key.open(`${box}=`, aad), 'padded');
    // Standard base64 differs from base64url only where a box has a '-' or '_' (about 99% of boxes this size): one
    // without either is its own standard form, which must open. So the case is made on a box that has one.
    let urlBox = box;
    while (!/[-_]/.test(urlBox)) urlBox = seal(key.publicKey, plaintext, aad);
    refuses(() => key.open(Buffer.from(urlBox, 'base64url').toString('base64'), aad), 'standard base64');
    refuses(() => key.open(JSON.stringify({ name: 'x' }), aad), 'JSON in clear');
    // A zero public key is of small order: its shared secret is zero whatever the private key, and is refused.
    const zero = Buffer.concat([Buffer.alloc(32), bytes.subarray(32)]).toString('base64url');
    refuses(() => key.open(zero, aad), 'small-order ephemeral key');
  });

  it('refuse a recipient that is no 32-byte key, and a secret under 16 bytes (TypeError)', () => {
    assert.throws(() => seal(new Uint8Array(31), plaintext, aad), TypeError);
    assert.throws(() => seal(new Uint8Array(33), plaintext, aad), TypeError);
    assert.throws(() => openingKey(new Uint8Array(15), LABEL), TypeError);
  });
});
