/** The certificate DER reader's times (RFC 5280 §4.1.2.5): GeneralizedTime years below 100 are not 19xx. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DerError, TAG, readTlv, time } from '../src/der.ts';

const decode = (tag: number, text: string) => {
  const b = Uint8Array.from([tag, text.length, ...Buffer.from(text, 'latin1')]);
  return time(b, readTlv(b, 0));
};

test('GeneralizedTime 00991231235959Z is the year 99, not 1999', () => {
  assert.equal(decode(TAG.GENERALIZED_TIME, '00991231235959Z'), Date.parse('0099-12-31T23:59:59Z'));
  assert.equal(decode(TAG.GENERALIZED_TIME, '00991231235959Z'), -59011459201000);
});

test('GeneralizedTime 00000229120000Z is 29 February of the year 0 (a leap year; 1900 is not)', () => {
  assert.equal(decode(TAG.GENERALIZED_TIME, '00000229120000Z'), Date.parse('0000-02-29T12:00:00Z'));
});

test('years from 100 on and UTCTime are unchanged', () => {
  assert.equal(decode(TAG.GENERALIZED_TIME, '01000101000000Z'), Date.parse('0100-01-01T00:00:00Z'));
  assert.equal(decode(TAG.GENERALIZED_TIME, '20500101000000Z'), Date.parse('2050-01-01T00:00:00Z'));
  assert.equal(decode(TAG.UTC_TIME, '491231235959Z'), Date.parse('2049-12-31T23:59:59Z'));
  assert.equal(decode(TAG.UTC_TIME, '500101000000Z'), Date.parse('1950-01-01T00:00:00Z'));
});

test('a 30 February in the year 0 is still a bad date', () => {
  assert.throws(() => decode(TAG.GENERALIZED_TIME, '00000230120000Z'), DerError);
});
