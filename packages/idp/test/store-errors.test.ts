import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MynaGateError } from '@mynagate/errors';
import * as errors from '../src/store/errors.ts';

it('every store error class has a code listed in STORE_ERROR_CODES, and every listed code has a class', () => {
  const samples: MynaGateError[] = [
    new errors.StoreUnavailableError('x'),
    new errors.StoreFailedError('x'),
    new errors.StoreSchemaError(2, 1),
    new errors.StoreMissingError('x'),
    new errors.StoreClosedError(),
    new errors.StoreNotFoundError('person'),
    new errors.StoreConflictError(),
    new errors.StoreAlreadyConsumedError('AuthorizationCode'),
    new errors.StoreGoneError('Interaction'),
    new errors.StoreAuditChainError(7),
    new errors.StoreAuditAnchorError('x'),
  ];
  const classes = Object.values(errors).filter((v) => typeof v === 'function');
  assert.equal(samples.length, classes.length, 'a new error class needs a sample here');
  for (const e of samples) {
    assert.ok(e instanceof MynaGateError);
    assert.ok(e.code in errors.STORE_ERROR_CODES, e.code);
  }
  assert.deepEqual(new Set(samples.map((e) => e.code)), new Set(Object.keys(errors.STORE_ERROR_CODES)));
});
