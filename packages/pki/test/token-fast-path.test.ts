/**
 * The token's fast paths agree with the strict reference: strict base64 without re-encoding accepts exactly what
 * "decode then re-encode gives the same text" accepts, and the flat-object scan of `parseAuthToken` accepts and
 * refuses exactly like JSON.parse plus the checks (random mutations of a valid token).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { parseAuthToken, strictBase64 } from '@mynagate/pki';

// Beyond ASCII: characters whose low byte is a base64 letter ('あ' U+3042 and 'ł' U+0142 read as 'B', 'ŁĀ' as 'A').
const ALPHABET =
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n\t.!\\"\u00e9\u0000\u3042\u0142\u0141\u0100';

function mutate(s: string, edits: number, alphabet = ALPHABET): string {
  for (let j = 0; j < edits; j++) {
    const pos = randomInt(0, s.length + 1);
    const c = alphabet[randomInt(0, alphabet.length)]!;
    const op = randomInt(0, 3);
    s =
      op === 0
        ? s.slice(0, pos) + c + s.slice(pos + 1)
        : op === 1
          ? s.slice(0, pos) + c + s.slice(pos)
          : s.slice(0, pos) + s.slice(pos + 1);
  }
  return s;
}

test('strictBase64 accepts exactly the canonical standard base64 (10 000 random mutations)', () => {
  const canonical = (s: string) =>
    s.length > 0 && s.length % 4 === 0 && Buffer.from(s, 'base64').toString('base64') === s;
  let accepted = 0;
  for (let i = 0; i < 10_000; i++) {
    const s = mutate(randomBytes(randomInt(0, 12)).toString('base64'), randomInt(0, 4));
    let ok = true;
    try {
      assert.deepEqual(Buffer.from(strictBase64(s, 'x')), Buffer.from(s, 'base64'));
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_PKI_TOKEN_MALFORMED') throw e;
      ok = false;
    }
    assert.equal(ok, canonical(s), JSON.stringify(s));
    if (ok) accepted++;
  }
  assert.ok(accepted > 1000, 'the mutations must also produce valid inputs');
});

test('strictBase64 refuses a character beyond ASCII that Node would read by its low byte', () => {
  const s = randomBytes(30).toString('base64').replace(/^./, 'B');
  assert.deepEqual(Buffer.from(strictBase64(s, 'x')), Buffer.from(s, 'base64'));
  for (const c of ['\u3042', '\u0142']) {
    assert.deepEqual(Buffer.from(c + s.slice(1), 'base64'), Buffer.from(s, 'base64'), 'the same bytes to Node');
    assert.throws(() => strictBase64(c + s.slice(1), 'x'), { code: 'ERR_PKI_TOKEN_MALFORMED' });
  }
});

test('parseAuthToken agrees with JSON.parse on random mutations of a valid token', () => {
  const base = JSON.stringify({
    unverifiedCertificate: randomBytes(90).toString('base64'),
    algorithm: 'RS256',
    signature: randomBytes(30).toString('base64'),
    format: 'web-eid:1.0',
    appVersion: 'https://x.example/1',
  });
  const structural = '{}[]:,"\\ \n0123456789aelnrstu' + ALPHABET;
  for (let i = 0; i < 10_000; i++) {
    const text = mutate(base, randomInt(1, 3), structural);
    let expected: unknown;
    try {
      const o = JSON.parse(text);
      expected = typeof o === 'object' && o !== null && !Array.isArray(o) ? o : 'refused';
    } catch {
      expected = 'refused';
    }
    let got: ReturnType<typeof parseAuthToken> | 'refused';
    try {
      got = parseAuthToken(text);
    } catch (e) {
      assert.match((e as { code: string }).code, /^ERR_PKI_TOKEN_/);
      got = 'refused';
    }
    if (expected === 'refused') assert.equal(got, 'refused', `accepted invalid JSON ${JSON.stringify(text)}`);
    if (got !== 'refused') {
      const o = expected as Record<string, unknown>;
      assert.equal(got.format, o.format);
      assert.equal(got.appVersion, o.appVersion);
      assert.equal(Buffer.from(got.unverifiedCertificate).toString('base64'), o.unverifiedCertificate);
      assert.equal(Buffer.from(got.signature).toString('base64'), o.signature);
    }
  }
});
