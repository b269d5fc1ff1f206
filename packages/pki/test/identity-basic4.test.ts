/** Basic-4 identity from the signing certificate, OIDC claims, and age in Japan time. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ageAt, ageOver, basic4Claims, basic4FromCertificate } from '@mynagate/pki';
import { createFixture } from './verify-fixture.ts';
import type { Fixture } from './verify-fixture.ts';

let f: Fixture;
before(async () => {
  f = await createFixture();
});
after(() => f.close());

test('basic4FromCertificate reads name, address, birth date (era kept) and sex from the signing certificate', () => {
  const id = basic4FromCertificate(f.card.spec.signCert);
  assert.deepEqual(
    { ...id },
    {
      name: '試験　花子',
      nameSubstitutes: '00000',
      address: '東京都千代田区千代田1-1',
      addressSubstitutes: '0'.repeat([...'東京都千代田区千代田1-1'].length),
      birthDate: '2007-02-01',
      birthEra: 4,
      sex: 'female',
    },
  );
});

test('basic4Claims maps to OIDC name, address.formatted, birthdate and gender', () => {
  assert.deepEqual(basic4Claims(basic4FromCertificate(f.card.spec.signCert)), {
    name: '試験　花子',
    address: { formatted: '東京都千代田区千代田1-1' },
    birthdate: '2007-02-01',
    gender: 'female',
  });
});

test('substitute characters keep their positions, and sex 3 (unknown) gives no gender claim', async () => {
  const card = await f.jpki.issueCard({
    name: '吉田　𠮷男',
    address: '京都府京都市1',
    birthDate: '1989-01-07',
    sex: '9',
    pin: '1111',
    password: 'QWE123',
    now: new Date('2027-01-10T00:00:00Z'),
  });
  const id = basic4FromCertificate(card.spec.signCert);
  assert.equal(id.name, '吉田　〓男');
  assert.equal(id.nameSubstitutes, '00010');
  assert.equal(id.birthEra, 3);
  assert.equal(id.sex, 'unknown');
  assert.equal('gender' in basic4Claims(id), false);
});

test('an authentication certificate has no basic 4: ERR_PKI_IDENTITY_MALFORMED', () => {
  assert.throws(() => basic4FromCertificate(f.card.spec.authCert), {
    code: 'ERR_PKI_IDENTITY_MALFORMED',
  });
});

const jst = (s: string) => new Date(`${s}+09:00`);

test('age increases at 00:00 JST on the birthday (the end of the previous day), not at UTC midnight', () => {
  assert.equal(ageOver(20, '2007-02-01', jst('2027-01-31T23:59:59.999')), false);
  assert.equal(ageOver(20, '2007-02-01', jst('2027-02-01T00:00:00.000')), true);
  // 2027-01-31T15:00Z is already 1 February in Japan.
  assert.equal(ageAt('2007-02-01', new Date('2027-01-31T15:00:00Z')), 20);
  assert.equal(ageAt('2007-02-01', new Date('2027-01-31T14:59:59Z')), 19);
});

test('born 29 February: in a common year the age accrues at the end of 28 February (00:00 JST 1 March)', () => {
  assert.equal(ageAt('2004-02-29', jst('2022-02-28T23:59:59')), 17);
  assert.equal(ageAt('2004-02-29', jst('2022-03-01T00:00:00')), 18);
  // In a leap year the birthday itself exists.
  assert.equal(ageAt('2004-02-29', jst('2024-02-28T23:59:59')), 19);
  assert.equal(ageAt('2004-02-29', jst('2024-02-29T00:00:00')), 20);
});

test('born 1 April reaches age n at 00:00 JST 1 April (legally at the end of 31 March)', () => {
  assert.equal(ageOver(18, '2008-04-01', jst('2026-03-31T23:59:59')), false);
  assert.equal(ageOver(18, '2008-04-01', jst('2026-04-01T00:00:00')), true);
});

test('ageAt refuses a date that does not exist (programmer error)', () => {
  assert.throws(() => ageAt('2023-02-29', new Date()), TypeError);
  assert.throws(() => ageOver(-1, '2000-01-01', new Date()), TypeError);
});
