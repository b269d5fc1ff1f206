/** The purpose a signed statement gives when neither the service's request nor the configuration names one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PURPOSE, defaultPurpose } from '../src/ekyc/statement.ts';

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
