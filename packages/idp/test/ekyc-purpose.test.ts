/**
 * The purpose a signed statement gives: the request's own, else the client's configured one, else a default that
 * says what is checked (never the AML identity verification for a derived answer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PURPOSE, defaultPurpose, statementPurpose } from '../src/ekyc/statement.ts';

test('derived answers only: an age or residence check, never the AML identity verification', () => {
  assert.equal(defaultPurpose(['age_over_20']), '年齢の確認 / Age check');
  assert.equal(defaultPurpose(['age_over_18']), '年齢の確認 / Age check');
  assert.equal(defaultPurpose(['residence_in_prefecture']), '居住地の確認 / Checking the place of residence');
  assert.equal(
    defaultPurpose(['age_over_20', 'residence_in_prefecture']),
    '年齢と居住地の確認 / Checking age and place of residence',
  );
  for (const claims of [['age_over_20'], ['residence_in_prefecture']])
    assert.doesNotMatch(defaultPurpose(claims), /犯罪収益/);
});

test('verified claims, with or without derived ones, or nothing recognised: the identity verification default', () => {
  assert.equal(defaultPurpose(['verified_claims']), DEFAULT_PURPOSE);
  assert.equal(defaultPurpose(['age_over_20', 'verified_claims']), DEFAULT_PURPOSE);
  assert.equal(defaultPurpose([]), DEFAULT_PURPOSE);
});

test("the request's purpose first, then the client's configured one, then the default of the claims listed", () => {
  const purposes = { 'bank-rp': '口座開設の本人確認 / Account opening' };
  const base = { purposes, clientId: 'bank-rp', claims: ['age_over_20'] };
  assert.equal(statementPurpose({ ...base, requested: '酒類の購入' }), '酒類の購入');
  assert.equal(statementPurpose({ ...base, requested: undefined }), '口座開設の本人確認 / Account opening');
  assert.equal(statementPurpose({ ...base, requested: undefined, clientId: 'shop-rp' }), '年齢の確認 / Age check');
  assert.equal(
    statementPurpose({ ...base, requested: undefined, clientId: 'shop-rp', claims: ['verified_claims'] }),
    DEFAULT_PURPOSE,
  );
});

test('a client id naming an Object.prototype member (constructor, toString) gets the default, never that member', () => {
  for (const clientId of ['constructor', 'toString', '__proto__']) {
    assert.equal(
      statementPurpose({ requested: undefined, purposes: {}, clientId, claims: ['age_over_20'] }),
      '年齢の確認 / Age check',
    );
  }
});
