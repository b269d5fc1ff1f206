/**
 * The purpose a signed statement gives: the request's own, else the client's configured one, else a default that
 * says what is checked (never the AML identity verification for a derived answer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statementBytes } from '@mynagate/pki';
import { buildStatement, DEFAULT_PURPOSE, defaultPurpose, statementPurpose } from '../src/ekyc/statement.ts';

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

const textOf = (statement: { readonly [member: string]: unknown }) => statement['text'] as { ja: string; en: string };

test("a statement signs each item's per-claim purposes, in the item's text and as canonical data; none: no member", () => {
  const base = {
    clientName: 'テスト酒店',
    clientOrigin: 'https://shop.example',
    issuer: 'https://idp.example',
    purpose: '酒類の購入 / Buying alcohol',
    nonce: 'n'.repeat(32),
    now: new Date('2026-01-02T03:04:05.678Z'),
  };
  const age = { ja: '20歳以上かどうか', en: 'Whether you are 20 or older' };
  const plain = buildStatement({ ...base, items: [age], claimPurposes: { age_over_20: [] } });
  assert.equal('claimPurposes' in plain, false, 'no per-claim purposes: the statement as before they were signed');
  assert.equal(textOf(plain).ja.includes('（目的:'), false);

  const one = buildStatement({
    ...base,
    items: [{ ...age, purpose: 'い；ろ' }],
    claimPurposes: { age_over_20: ['ろ', 'い'], 'verified_claims.name': [], verified_claims: [] },
  });
  assert.deepEqual(one['claimPurposes'], { age_over_20: ['い', 'ろ'] }, 'only entries given some, sorted');
  assert.match(textOf(one).ja, /提供する情報: 20歳以上かどうか（目的: い；ろ）。/);
  assert.match(textOf(one).en, /Information provided: Whether you are 20 or older \(purpose: い；ろ\)\./);
  // The same purposes in another order, and entries in another order: the same signed bytes.
  const other = buildStatement({
    ...base,
    items: [{ ...age, purpose: 'い；ろ' }],
    claimPurposes: { verified_claims: [], age_over_20: ['い', 'ろ', 'い'] },
  });
  assert.deepEqual(statementBytes(other), statementBytes(one));
  assert.match(new TextDecoder().decode(statementBytes(one)), /"claimPurposes":\{"age_over_20":\["い","ろ"\]\}/);
});
