/**
 * Test certificates start 5 minutes before they are made (real CAs back-date for clock skew the same way), unless
 * the caller names `notBefore`. The failure this prevents: a test reads its frozen clock first (`let clock =
 * Date.now()` at the top of the file), then its `before` hook spends a second on RSA keys making the test JPKI and a
 * card. Certificates started at the issue time truncated to the second, so when a second boundary fell in between,
 * the verifier at the frozen clock saw the CA (`ERR_PKI_ANCHOR_NOT_YET_VALID`) or the card
 * (`ERR_PKI_CERT_NOT_YET_VALID`) as not yet valid. With the whole file this hid behind earlier tests moving the
 * clock forward; a single test run alone (`--test-name-pattern`) failed about once in five.
 */
import { after, before, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { createVerifier } from '@mynagate/pki';
import { TestJpki } from '@mynagate/pki/testing';
import type { IssueCardOptions } from '@mynagate/pki/testing';
import { parseCert, tempDir } from './support/testing-jpki.ts';

const holder: IssueCardOptions = {
  name: '試験　三郎',
  address: '東京都千代田区千代田1-1',
  birthDate: '1990-01-02',
  sex: '1',
  pin: '1234',
  password: 'ABC123',
};
/** 2 ms before a second boundary: the clock a test froze just before its `before` hook made certificates. */
const JUST_BEFORE = Date.parse('2027-01-10T00:00:59.998Z');

const notBefore = (der: Uint8Array) => parseCert(der).tbsCertificate.validity.notBefore.getTime().getTime();
const goodRevocation = { status: async () => ({ status: 'good' as const, source: 'test' }) };

let dirs: (() => Promise<void>)[] = [];
async function freshDir(): Promise<string> {
  const t = await tempDir('jpki-notbefore');
  dirs.push(t.remove);
  return t.dir;
}
after(async () => {
  for (const remove of dirs) await remove();
  dirs = [];
});

describe('a verifier whose clock was frozen just before the certificates were made', () => {
  let jpki: TestJpki;
  before(async () => {
    jpki = await TestJpki.init(await freshDir(), { now: new Date('2027-01-01T00:00:00Z') });
  });

  test('accepts a card issued (by the wall clock) a few ms later, across a second boundary', async () => {
    mock.timers.enable({ apis: ['Date'], now: JUST_BEFORE });
    try {
      const clock = new Date();
      mock.timers.tick(5);
      const card = await jpki.issueCard(holder);
      const verifier = createVerifier({
        anchors: {
          auth: [jpki.caCertificate('auth')],
          sign: [jpki.caCertificate('sign')],
        },
        revocation: goodRevocation,
        now: () => clock,
      });
      assert.equal((await verifier.verifyCertificate(card.spec.authCert, 'auth')).kind, 'auth');
      assert.equal((await verifier.verifyCertificate(card.spec.signCert, 'sign')).kind, 'sign');
    } finally {
      mock.timers.reset();
    }
  });

  test('accepts a test JPKI and card made (by the wall clock) a few ms later, across a second boundary', async () => {
    const dir = await freshDir();
    mock.timers.enable({ apis: ['Date'], now: JUST_BEFORE });
    try {
      const clock = new Date();
      mock.timers.tick(5);
      const fresh = await TestJpki.init(dir);
      const card = await fresh.issueCard(holder);
      const verifier = createVerifier({
        anchors: { auth: [fresh.caCertificate('auth')], sign: [fresh.caCertificate('sign')] },
        revocation: goodRevocation,
        now: () => clock,
      });
      assert.equal((await verifier.verifyCertificate(card.spec.authCert, 'auth')).kind, 'auth');
    } finally {
      mock.timers.reset();
    }
  });
});

describe('notBefore of test certificates', () => {
  const T_CA = new Date('2027-01-01T00:00:00.500Z');
  const T_ISSUE = new Date('2027-01-10T00:00:00.750Z');
  let jpki: TestJpki;
  before(async () => {
    jpki = await TestJpki.init(await freshDir(), { now: T_CA });
  });

  test('is 5 minutes before the issue time (whole seconds); the sign CN and the store keep the issue time', async () => {
    const card = await jpki.issueCard({ ...holder, now: T_ISSUE });
    const expected = Date.parse('2027-01-09T23:55:00Z');
    assert.equal(notBefore(card.spec.authCert), expected);
    assert.equal(notBefore(card.spec.signCert), expected);
    assert.equal(notBefore(jpki.caCertificate('auth')), Date.parse('2026-12-31T23:55:00Z'));
    const rec = jpki.certificates().find((c) => c.serial === card.authSerial)!;
    assert.equal(rec.notBefore, new Date(expected).toISOString());
    // JST 09:00:00 on 10 January: the issue request's time, not the back-dated start.
    const cn = parseCert(card.spec.signCert).tbsCertificate.subject.at(-1)![0]!.value.toString();
    assert.match(cn, /^20270110090000/);
  });

  test('is exactly the notBefore a caller names, for cards, renewals and CAs', async () => {
    const named = new Date('2027-01-09T12:00:00Z');
    const card = await jpki.issueCard({ ...holder, now: T_ISSUE, notBefore: named });
    assert.equal(notBefore(card.spec.authCert), named.getTime());
    assert.equal(notBefore(card.spec.signCert), named.getTime());
    const renewed = await jpki.renew(card.spec, { now: new Date('2027-02-01T00:00:00Z'), notBefore: named });
    assert.equal(notBefore(renewed.spec.authCert), named.getTime());
    const other = await TestJpki.init(await freshDir(), { now: T_CA, notBefore: new Date('2026-12-01T00:00:00Z') });
    assert.equal(notBefore(other.caCertificate('sign')), Date.parse('2026-12-01T00:00:00Z'));
  });

  test('a renewal is back-dated too', async () => {
    const card = await jpki.issueCard({ ...holder, now: T_ISSUE });
    const renewed = await jpki.renew(card.spec, { now: new Date('2027-03-01T00:00:00Z') });
    assert.equal(notBefore(renewed.spec.authCert), Date.parse('2027-02-28T23:55:00Z'));
  });

  test('a notBefore that is not a date, or not before the end of validity, is a TypeError', async () => {
    await assert.rejects(jpki.issueCard({ ...holder, notBefore: new Date(NaN) }), TypeError);
    await assert.rejects(jpki.issueCard({ ...holder, now: T_ISSUE, notBefore: new Date('2040-01-01') }), TypeError);
    await assert.rejects(TestJpki.init(await freshDir(), { notBefore: new Date(NaN) }), TypeError);
    await assert.rejects(TestJpki.init(await freshDir(), { now: T_CA, notBefore: new Date('2040-01-01') }), TypeError);
  });
});
