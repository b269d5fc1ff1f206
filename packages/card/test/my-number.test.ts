import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fakeMyNumber, isValidMyNumber, myNumberCheckDigit } from '../src/my-number.ts';

describe('My Number check digit (総務省令第85号 第5条, spec §6.6)', () => {
  for (const [base, digit] of [
    ['12345678901', 8],
    ['98765432109', 3],
    ['00000000001', 9],
    ['12345678900', 0],
  ] as const) {
    test(`${base} → ${digit}`, () => assert.equal(myNumberCheckDigit(base), digit));
  }

  test('validity: the widely quoted sample 123456789018 is valid; a changed digit or length is not', () => {
    assert.equal(isValidMyNumber('123456789018'), true);
    assert.equal(isValidMyNumber('123456789017'), false);
    assert.equal(isValidMyNumber('223456789018'), false);
    assert.equal(isValidMyNumber('12345678901'), false);
    assert.equal(isValidMyNumber('１２３４５６７８９０１８'), false);
  });

  test('a base that is not 11 ASCII digits is a TypeError', () => {
    assert.throws(() => myNumberCheckDigit('1234567890'), TypeError);
    assert.throws(() => myNumberCheckDigit('1234567890a'), TypeError);
  });

  test('fake numbers start 9999 and are check-digit valid', () => {
    let i = 0;
    const n = fakeMyNumber(() => i++ % 10);
    assert.match(n, /^9999[0-9]{8}$/);
    assert.ok(isValidMyNumber(n));
  });
});
