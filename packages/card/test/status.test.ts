import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MynaGateError } from '@mynagate/errors';
import * as errors from '../src/errors.ts';
import * as pcsc from '../src/pcsc.ts';
import { CARD_ERROR_CODES } from '../src/errors.ts';
import { SW, statusError } from '../src/status.ts';

describe('status words to errors (spec §4.7)', () => {
  const table: [number, string][] = [
    [0x63c2, 'ERR_CARD_PIN_INCORRECT'],
    [0x63c1, 'ERR_CARD_PIN_INCORRECT'],
    [0x63c0, 'ERR_CARD_PIN_BLOCKED'],
    [0x6983, 'ERR_CARD_PIN_BLOCKED'],
    [0x6984, 'ERR_CARD_PIN_BLOCKED'],
    [0x6982, 'ERR_CARD_SECURITY_STATUS'],
    [0x6a82, 'ERR_CARD_FILE_NOT_FOUND'],
    [0x6700, 'ERR_CARD_WRONG_LENGTH'],
    [0x6a86, 'ERR_CARD_WRONG_PARAMETERS'],
    [0x6b00, 'ERR_CARD_WRONG_PARAMETERS'],
    [0x6d00, 'ERR_CARD_INS_NOT_SUPPORTED'],
    [0x6e00, 'ERR_CARD_CLA_NOT_SUPPORTED'],
    [0x6986, 'ERR_CARD_STATUS'],
    [0x6581, 'ERR_CARD_STATUS'],
  ];
  for (const [sw, code] of table) {
    test(`SW ${sw.toString(16).toUpperCase()} → ${code}, carrying the status word`, () => {
      const e = statusError(sw);
      assert.ok(e instanceof MynaGateError);
      assert.equal(e.code, code);
      assert.equal((e as unknown as { sw: number }).sw, sw);
    });
  }

  test('63Cx carries retriesLeft = x', () => {
    assert.equal((statusError(0x63c2) as errors.CardPinIncorrectError).retriesLeft, 2);
  });

  test('9000 is not an error: TypeError', () => {
    assert.throws(() => statusError(SW.OK), TypeError);
  });
});

describe('card error code registry', () => {
  type AnyError = new (a: unknown, b?: unknown) => MynaGateError;
  const classes = [...Object.values(errors), ...Object.values(pcsc)].filter(
    (v) => typeof v === 'function' && v.prototype instanceof MynaGateError,
  );
  const instances = classes.map((C) => new (C as unknown as AnyError)(1, 'x'));

  test('every error class (errors.ts, pcsc.ts) has a code listed in CARD_ERROR_CODES, and every listed code has a class', () => {
    const codes = new Set(instances.map((e) => e.code));
    assert.deepEqual([...codes].sort(), Object.keys(CARD_ERROR_CODES).sort());
  });

  test('every description is one line', () => {
    for (const [code, text] of Object.entries(CARD_ERROR_CODES)) assert.match(text, /^[^\n]{10,}$/, code);
  });

  test('errors print code and message only', () => {
    assert.deepEqual(Object.keys(new errors.CardPinFormatError('auth', '4 digits').toJSON()), ['code', 'message']);
  });
});
