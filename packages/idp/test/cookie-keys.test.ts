/**
 * Cookie signing keys (`lib/cookie-keys.ts`): the same signatures as keygrip, which the `cookies` package uses by
 * default, so cookies made by either verify with the other (a rolling deployment); key rotation; refusals.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Keygrip from 'keygrip';
import { cookieKeys } from '../src/lib/cookie-keys.ts';

const KEYS = ['d3Jvbmcga2V5IGZvciB0ZXN0', 'older-key', '鍵キー'];
const DATA = ['_session=abc', '_interaction=7lHWTBF7Sw_cKqwNEpa6I', '', 'x=こんにちは', 'a'.repeat(4000)];

test('cookie keys sign as keygrip does, and each verifies the other', () => {
  const ours = cookieKeys(KEYS);
  const theirs = new Keygrip(KEYS);
  for (const data of DATA) {
    assert.equal(ours.sign(data), theirs.sign(data), data.slice(0, 20));
    assert.equal(theirs.index(data, ours.sign(data)), 0);
    assert.equal(ours.index(data, theirs.sign(data)), 0);
  }
});

test('cookie keys: a cookie signed with an older key verifies at its index (rotation)', () => {
  const ours = cookieKeys(KEYS);
  for (const [i, key] of KEYS.entries()) {
    const signed = new Keygrip([key]).sign('_session=abc');
    assert.equal(ours.index('_session=abc', signed), i);
    assert.equal(ours.verify('_session=abc', signed), true);
  }
});

test('cookie keys refuse another value, a changed, shortened or absent signature, and a key not configured', () => {
  const ours = cookieKeys(KEYS);
  const good = ours.sign('_session=abc');
  assert.equal(ours.index('_session=abd', good), -1);
  assert.equal(ours.index('_session=abc', `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`), -1);
  assert.equal(ours.index('_session=abc', good.slice(0, -1)), -1);
  assert.equal(ours.index('_session=abc', ''), -1);
  assert.equal(ours.index('_session=abc', undefined as unknown as string), -1);
  assert.equal(ours.verify('_session=abc', new Keygrip(['not-ours']).sign('_session=abc')), false);
});

test('cookie keys: a value signed or checked before still refuses a wrong signature and finds an older key', () => {
  const ours = cookieKeys(KEYS);
  const good = ours.sign('_session=abc');
  assert.equal(ours.index('_session=abc', good), 0); // checked once: kept
  for (let round = 0; round < 2; round++) {
    assert.equal(ours.index('_session=abc', `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`), -1);
    assert.equal(ours.index('_session=abc', new Keygrip([KEYS[1]!]).sign('_session=abc')), 1);
    assert.equal(ours.index('_session=abd', good), -1);
    assert.equal(ours.index('_session=abc', good), 0);
  }
  // Checked first (a cookie signed by another process of the deployment), then signed: the same signature.
  const other = cookieKeys(KEYS);
  assert.equal(other.index('_interaction=xyz', new Keygrip(KEYS).sign('_interaction=xyz')), 0);
  assert.equal(other.sign('_interaction=xyz'), new Keygrip(KEYS).sign('_interaction=xyz'));
});

test('cookie keys: values signed long ago (no longer kept) still sign and verify as keygrip does', () => {
  const ours = cookieKeys(KEYS);
  const theirs = new Keygrip(KEYS);
  const values = Array.from({ length: 5000 }, (_, i) => `_session=${i}`);
  for (const v of values) ours.sign(v);
  for (const v of values.slice(0, 3)) {
    assert.equal(ours.sign(v), theirs.sign(v));
    assert.equal(ours.index(v, theirs.sign(v)), 0);
    assert.equal(ours.index(`${v}x`, theirs.sign(v)), -1);
  }
});

test('cookie keys need at least one non-empty string key (TypeError)', () => {
  for (const bad of [[], [''], [42], 'key'] as unknown[]) {
    assert.throws(() => cookieKeys(bad as string[]), TypeError);
  }
});
