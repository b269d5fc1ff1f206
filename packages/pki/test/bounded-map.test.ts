/** BoundedMap: the caches' bound and first-in-first-out eviction. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedMap } from '@mynagate/pki';

const keysOf = (m: BoundedMap<number, number>, upTo: number) =>
  Array.from({ length: upTo }, (_, i) => i).filter((k) => m.has(k));

test('a full map evicts the oldest key first, one per new key, and never holds more than its bound', () => {
  const m = new BoundedMap<number, number>(3);
  for (let i = 0; i < 3; i++) m.set(i, i * 10);
  assert.deepEqual(keysOf(m, 10), [0, 1, 2]);
  m.set(3, 30);
  assert.deepEqual(keysOf(m, 10), [1, 2, 3]);
  for (let i = 4; i < 1000; i++) {
    m.set(i, i * 10);
    assert.equal(m.size, 3);
  }
  assert.deepEqual(keysOf(m, 1000), [997, 998, 999]);
  assert.equal(m.get(998), 9980);
  assert.equal(m.get(3), undefined);
});

test('setting a key already present replaces its value and keeps its age', () => {
  const m = new BoundedMap<number, number>(3);
  m.set(0, 0).set(1, 1).set(2, 2);
  m.set(0, 100);
  assert.equal(m.size, 3);
  assert.equal(m.get(0), 100);
  m.set(3, 3);
  assert.deepEqual(keysOf(m, 10), [1, 2, 3]);
});

test('deleted keys free their room, and many deletes and sets keep the bound', () => {
  const m = new BoundedMap<number, number>(4);
  m.set(0, 0).set(1, 1).set(2, 2).set(3, 3);
  assert.equal(m.delete(1), true);
  assert.equal(m.delete(1), false);
  m.set(4, 4);
  assert.deepEqual(keysOf(m, 10), [0, 2, 3, 4]);
  m.set(5, 5);
  assert.deepEqual(keysOf(m, 10), [2, 3, 4, 5]);
  // A churn of deletes and sets (the order's stale keys are dropped as it goes): the bound holds throughout, and
  // the newest key is always present.
  for (let i = 0; i < 10_000; i++) {
    const k = 6 + (i % 13);
    if (i % 3 === 0) m.delete(6 + ((i * 7) % 13));
    m.set(k, i);
    assert.ok(m.size <= 4);
    assert.equal(m.get(k), i);
  }
});

test('a bound of 0 keeps nothing; a bad bound is a TypeError', () => {
  const m = new BoundedMap<string, number>(0);
  m.set('a', 1);
  assert.equal(m.size, 0);
  assert.equal(m.get('a'), undefined);
  assert.throws(() => new BoundedMap(-1), TypeError);
  assert.throws(() => new BoundedMap(1.5), TypeError);
});
