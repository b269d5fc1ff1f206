import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DerCursor, TAG, readBigUint, readSmallInt, readTime } from '../src/crl/der.ts';

const cur = (...bytes: number[]) => new DerCursor(Uint8Array.from(bytes));
const malformed = (detail: string) => ({
  code: 'ERR_PKI_CRL_MALFORMED',
  detail,
});
const time = (tag: number, text: string) => {
  const b = Buffer.from(text, 'latin1');
  const c = new DerCursor(Uint8Array.from([tag, b.length, ...b]));
  return readTime(c, c.buf.length);
};

describe('CRL DER reader (X.690 §10 strict DER)', () => {
  it('reads a short-form header and leaves the cursor at the content', () => {
    const c = cur(0x30, 0x03, 0x02, 0x01, 0x05);
    assert.equal(c.enter(TAG.SEQUENCE, 5), 5);
    assert.equal(c.pos, 2);
    assert.equal(readSmallInt(c, 5), 5);
  });

  it('reads a minimal long-form length (0x81 0x80)', () => {
    const c = new DerCursor(Uint8Array.from([0x04, 0x81, 0x80, ...new Array(128).fill(0)]));
    assert.equal(c.over(TAG.OCTET_STRING, c.buf.length), 131);
  });

  it('rejects an indefinite length', () => {
    assert.throws(() => cur(0x30, 0x80, 0x00, 0x00).enter(TAG.SEQUENCE, 4), malformed('indefinite length'));
  });

  it('rejects a length past the end of the buffer', () => {
    assert.throws(() => cur(0x30, 0x05, 0x02, 0x01, 0x05).enter(TAG.SEQUENCE, 5), malformed('length past the end'));
  });

  it('rejects a length past the end of the enclosing element', () => {
    const c = cur(0x30, 0x03, 0x04, 0x02, 0x00, 0x00);
    const end = c.enter(TAG.SEQUENCE, 6);
    assert.throws(() => c.enter(TAG.OCTET_STRING, end), malformed('length past the end'));
  });

  it('rejects a long-form length below 128 (non-minimal)', () => {
    assert.throws(() => cur(0x04, 0x81, 0x01, 0x00).enter(TAG.OCTET_STRING, 4), malformed('non-minimal length'));
  });

  it('rejects a long-form length with a leading zero octet (non-minimal)', () => {
    const c = new DerCursor(Uint8Array.from([0x04, 0x82, 0x00, 0x80, ...new Array(128).fill(0)]));
    assert.throws(() => c.enter(TAG.OCTET_STRING, c.buf.length), malformed('non-minimal length'));
  });

  it('rejects more than four length octets and the reserved 0xFF', () => {
    assert.throws(() => cur(0x04, 0x85, 1, 0, 0, 0, 0).enter(TAG.OCTET_STRING, 7), malformed('length too long'));
    assert.throws(() => cur(0x04, 0xff, 0).enter(TAG.OCTET_STRING, 3), malformed('reserved length octet'));
  });

  it('rejects a wrong tag with the expected one in the detail', () => {
    assert.throws(() => cur(0x31, 0x00).enter(TAG.SEQUENCE, 2), malformed('expected SEQUENCE, found tag 0x31'));
  });

  it('rejects a missing element at the end', () => {
    assert.throws(() => cur().enter(TAG.INTEGER, 0), malformed('expected INTEGER, found end'));
  });

  it('rejects non-minimal and empty INTEGERs', () => {
    assert.throws(() => readSmallInt(cur(0x02, 0x02, 0x00, 0x01), 4), malformed('non-minimal INTEGER'));
    assert.throws(() => readSmallInt(cur(0x02, 0x00), 2), malformed('empty INTEGER'));
    assert.equal(readBigUint(cur(0x02, 0x02, 0x00, 0x80), 4), 128n);
  });

  it('reads UTCTime with the RFC 5280 §4.1.2.5.1 century rule (49 → 2049, 50 → 1950)', () => {
    assert.equal(time(TAG.UTC_TIME, '490101000000Z'), Date.UTC(2049, 0, 1) / 1000);
    assert.equal(time(TAG.UTC_TIME, '500101000000Z'), Date.UTC(1950, 0, 1) / 1000);
    assert.equal(time(TAG.UTC_TIME, '240229235959Z'), Date.UTC(2024, 1, 29, 23, 59, 59) / 1000);
  });

  it('reads GeneralizedTime to the second', () => {
    assert.equal(time(TAG.GENERALIZED_TIME, '20500301120000Z'), Date.UTC(2050, 2, 1, 12) / 1000);
  });

  it('rejects times with fractions, offsets, non-digits or impossible dates', () => {
    assert.throws(
      () => time(TAG.GENERALIZED_TIME, '20500301120000.5Z'),
      malformed('GeneralizedTime is not YYYYMMDDHHMMSSZ'),
    );
    assert.throws(() => time(TAG.UTC_TIME, '2501011200+0900'), malformed('UTCTime is not YYMMDDHHMMSSZ'));
    assert.throws(() => time(TAG.UTC_TIME, '25010112000AZ'), malformed('time has a non-digit'));
    assert.throws(() => time(TAG.UTC_TIME, '250230120000Z'), malformed('time out of range'));
    assert.throws(() => time(TAG.UTC_TIME, '250101120000X'), malformed('time is not Zulu'));
  });
});
