/**
 * The audit chain's canonical row split around its `seq` (audit-hash.ts `canonicalAround`), which PostgreSQL's
 * `audit_append` hashes: it must give the very text of the whole canonical row, so chains written before the split,
 * and by either store, verify alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { auditHash, canonicalAround, canonicalJson } from '../src/store/lib/audit-hash.ts';

/** A small deterministic generator (xorshift), so a failure replays. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const PIECES = ['a', 'Z', '"', '\\', '\u0000', '\u001f', '\u2028', '試験', '　', '\u{1f338}', '</', 'seq', '}', ','];

function text(rnd: () => number): string {
  return Array.from({ length: Math.floor(rnd() * 6) }, () => PIECES[Math.floor(rnd() * PIECES.length)]).join('');
}

function value(rnd: () => number, depth: number): unknown {
  const kind = Math.floor(rnd() * (depth > 2 ? 4 : 6));
  if (kind === 0) return text(rnd);
  if (kind === 1) return [0, -1.5, 1e21, 2 ** 53 - 1, 0.1][Math.floor(rnd() * 5)];
  if (kind === 2) return [true, false, null][Math.floor(rnd() * 3)];
  if (kind === 3) return text(rnd);
  if (kind === 4) return Array.from({ length: Math.floor(rnd() * 3) }, () => value(rnd, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, () => [text(rnd), value(rnd, depth + 1)]));
}

test('before ‖ seq ‖ after is the canonical JSON of the whole row, for 2 000 random rows', () => {
  const rnd = random(20261125);
  for (let i = 0; i < 2000; i++) {
    const row = {
      seq: 1 + Math.floor(rnd() * 2 ** 40),
      at: Math.floor(rnd() * 2 ** 42),
      type: text(rnd),
      personId: rnd() < 0.3 ? null : text(rnd),
      clientId: rnd() < 0.3 ? null : text(rnd),
      data: value(rnd, 2) as Record<string, unknown>,
    };
    const { before, after } = canonicalAround(row);
    assert.equal(`${before}${row.seq}${after}`, canonicalJson({ ...row }), `row ${i}`);
  }
});

test('auditHash is SHA-256 of the previous hash and the canonical row (what chains written before hold)', () => {
  const row = {
    seq: 7,
    at: 1_764_000_000_000,
    type: 'login.card',
    personId: 'p1',
    clientId: null,
    data: { b: 1, a: 2 },
  };
  const prev = 'ab'.repeat(32);
  const expected = createHash('sha256')
    .update(Buffer.from(prev, 'hex'))
    .update('{"at":1764000000000,"clientId":null,"data":{"a":2,"b":1},"personId":"p1","seq":7,"type":"login.card"}')
    .digest('hex');
  assert.equal(auditHash(prev, row), expected);
});

test('a member left undefined or not JSON is a TypeError, not a text that hashes differently', () => {
  const row = { at: 1, type: 't', personId: null, clientId: null, data: {} };
  assert.throws(() => canonicalAround({ ...row, personId: undefined as unknown as null }), TypeError);
  assert.throws(() => canonicalAround({ ...row, at: Number.NaN }), TypeError);
  assert.throws(() => canonicalAround({ ...row, data: { n: 1n } }), TypeError);
});
