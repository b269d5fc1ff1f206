/**
 * The test JPKI's input rules: holder data, PIN and password that break one are ERR_TESTJPKI_INVALID_INPUT naming the
 * field (data a person may have typed, e.g. through `mynagate card issue`), never echoing the value; a value of the
 * wrong type is a TypeError (a programmer's mistake). One valid card, then one field changed per case.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHolder, TestJpki } from '@mynagate/pki/testing';
import type { IssueCardOptions } from '@mynagate/pki/testing';
import { tempDir } from './support/testing-jpki.ts';

const T0 = new Date('2025-01-01T00:00:00Z');
/** 2025-03-01 09:00 JST. */
const NOW = new Date('2025-03-01T00:00:00Z');

const valid: IssueCardOptions = {
  name: '試験　三郎',
  address: '茨城県つくば市千現1-2-3',
  birthDate: '1990-01-02',
  sex: '2',
  pin: '4321',
  password: 'CHECK99',
  now: NOW,
};

/** The one message for a control, bidi control or lone surrogate (never the value). */
const CONTROLS = /must not contain control characters, bidirectional controls or lone surrogates/;

let remove: () => Promise<void>;
let jpki: TestJpki;

before(async () => {
  const t = await tempDir('jpki-input');
  remove = t.remove;
  jpki = await TestJpki.init(t.dir, { now: T0 });
});
after(() => remove());

/** Asserts issuing `valid` with `change` fails with ERR_TESTJPKI_INVALID_INPUT for `field`, without the value. */
async function assertInvalid(change: Partial<IssueCardOptions>, field: string, message: RegExp): Promise<void> {
  const count = jpki.certificates().length;
  await assert.rejects(jpki.issueCard({ ...valid, ...change }), (e: Error & { code?: string; field?: string }) => {
    assert.equal(e.code, 'ERR_TESTJPKI_INVALID_INPUT', `${JSON.stringify(change)}: ${e.stack}`);
    assert.equal(e.field, field);
    assert.match(e.message, message);
    assert.ok(e.message.startsWith(`${field} `), e.message);
    // (A value too short to tell apart from the message's own words is not looked for.)
    for (const v of Object.values(change))
      if (typeof v === 'string' && v.trim().length >= 3) assert.ok(!e.message.includes(v), e.message);
    return true;
  });
  assert.equal(jpki.certificates().length, count, 'nothing issued');
}

describe('holder data: ERR_TESTJPKI_INVALID_INPUT naming the field', () => {
  test('the valid holder issues', async () => {
    await jpki.issueCard(valid);
  });

  const cases: [string, Partial<IssueCardOptions>, string, RegExp][] = [
    ['an empty name', { name: '' }, 'name', /is empty/],
    ['a name of spaces (full-width too)', { name: ' 　' }, 'name', /is empty/],
    ['a name of 101 characters', { name: '𠮷'.repeat(101) }, 'name', /longer than 100/],
    ['an empty address', { address: ' ' }, 'address', /is empty/],
    ['an address of 201 characters', { address: `東京都${'町'.repeat(198)}` }, 'address', /longer than 200/],
    ['an address without a prefecture', { address: 'Somewhere 1-2-3' }, 'address', /prefecture/],
    ['a birth date not YYYY-MM-DD', { birthDate: '19900102' }, 'birthDate', /must be YYYY-MM-DD/],
    ['a birth date that does not exist', { birthDate: '1990-02-30' }, 'birthDate', /not a calendar date/],
    ['a birth date after the issue day (JST)', { birthDate: '2025-03-02' }, 'birthDate', /after the issue date/],
    ['a card expiry that does not exist', { cardExpires: '2030-13-01' }, 'cardExpires', /not a calendar date/],
    ['a card expiry before the issue day', { cardExpires: '2025-02-28' }, 'cardExpires', /before the issue date/],
    ['sex 0 (the text AP has it, the test JPKI issues 1, 2, 9)', { sex: '0' as '1' }, 'sex', /one of 1, 2, 9/],
    ['an unknown profile', { profile: 'tablet' as 'card' }, 'profile', /one of card, android/],
    // Controls and bidi controls go into certificates and onto pages; a lone surrogate has no UTF-8 encoding.
    ['a name with NUL (C0)', { name: '試験\u0000三郎' }, 'name', CONTROLS],
    ['a name with a line feed (C0)', { name: '試験\n三郎' }, 'name', CONTROLS],
    ['a name with DEL', { name: '試験\u007f三郎' }, 'name', CONTROLS],
    ['a name with NEL (C1)', { name: '試験\u0085三郎' }, 'name', CONTROLS],
    ['a name with CSI (C1)', { name: '試験\u009b31m三郎' }, 'name', CONTROLS],
    ['a name with RIGHT-TO-LEFT OVERRIDE (U+202E)', { name: '試験\u202e三郎' }, 'name', CONTROLS],
    ['a name with LEFT-TO-RIGHT EMBEDDING (U+202A)', { name: '試験\u202a三郎' }, 'name', CONTROLS],
    ['a name with RIGHT-TO-LEFT ISOLATE (U+2067)', { name: '試験\u2067三郎' }, 'name', CONTROLS],
    ['a name with POP DIRECTIONAL ISOLATE (U+2069)', { name: '試験\u2069三郎' }, 'name', CONTROLS],
    ['a name with RIGHT-TO-LEFT MARK (U+200F)', { name: '試験\u200f三郎' }, 'name', CONTROLS],
    ['a name with a lone high surrogate', { name: '試験\ud842三郎' }, 'name', CONTROLS],
    ['a name ending in a lone low surrogate', { name: '試験　三郎\udfb7' }, 'name', CONTROLS],
    ['an address with a tab (C0)', { address: '茨城県つくば市\t千現1-2-3' }, 'address', CONTROLS],
    ['an address with DEL', { address: '茨城県つくば市\u007f千現1-2-3' }, 'address', CONTROLS],
    ['an address with a C1 control', { address: '茨城県つくば市\u0090千現1-2-3' }, 'address', CONTROLS],
    [
      'an address with POP DIRECTIONAL FORMATTING (U+202C)',
      { address: '茨城県\u202cつくば市千現1-2-3' },
      'address',
      CONTROLS,
    ],
    [
      'an address with FIRST STRONG ISOLATE (U+2068)',
      { address: '茨城県つくば市千現\u20681-2-3' },
      'address',
      CONTROLS,
    ],
    ['an address with a lone low surrogate', { address: '茨城県つくば市\udc00千現1-2-3' }, 'address', CONTROLS],
  ];
  for (const [what, change, field, message] of cases) test(what, () => assertInvalid(change, field, message));

  test('a surrogate pair and an ideographic variation selector are accepted (only controls and lone halves are not)', async () => {
    // 𠮷 (U+20BB7) and 葛󠄀 (U+845B U+E0100, an IVS as in registered names): pairs, not lone surrogates.
    await jpki.issueCard({ ...valid, name: '𠮷野　葛\u{E0100}子', address: '茨城県つくば市千現1-2-3\u3000𠮷野方' });
  });

  test('the limits themselves are accepted: 100-character name, 200-character address, born on the issue day', async () => {
    await jpki.issueCard({ ...valid, name: '𠮷'.repeat(100), address: `東京都${'町'.repeat(197)}` });
    await jpki.issueCard({ ...valid, birthDate: '2025-03-01', cardExpires: '2025-03-01' });
  });

  test('an address without a prefecture is taken when the municipality is given (nothing is derived from it)', async () => {
    await jpki.issueCard({
      ...valid,
      address: 'Somewhere 1-2-3',
      municipality: { prefecture: 'Tokyo-to', city: 'X-shi' },
    });
  });
});

describe('PIN and password (spec §5): ERR_TESTJPKI_INVALID_INPUT, the value never in the message', () => {
  const cases: [string, Partial<IssueCardOptions>, string][] = [
    ['a 3-digit PIN', { pin: '973' }, 'pin'],
    ['a PIN with a letter', { pin: '97a3' }, 'pin'],
    ['a 5-digit text PIN', { textPin: '97315' }, 'textPin'],
    ['a password of 5', { password: 'QX7ZW' }, 'password'],
    ['a password of 17', { password: 'QX7ZW9QX7ZW9QX7ZW' }, 'password'],
    ['a password without a digit', { password: 'QXZWVY' }, 'password'],
    ['a password without a letter', { password: '739153' }, 'password'],
    ['a password with a sign', { password: 'QX7-ZW9' }, 'password'],
  ];
  for (const [what, change, field] of cases) test(what, () => assertInvalid(change, field, /must be/));

  test('issueCards checks every entry before issuing any', async () => {
    const count = jpki.certificates().length;
    await assert.rejects(jpki.issueCards([valid, { ...valid, pin: 'x' }]), {
      code: 'ERR_TESTJPKI_INVALID_INPUT',
      field: 'pin',
    });
    assert.equal(jpki.certificates().length, count);
  });

  test('renew with a bad new PIN or password is refused the same way, before anything changes', async () => {
    const c = await jpki.issueCard(valid);
    const certs = { authCert: c.spec.authCert, signCert: c.spec.signCert };
    const links = jpki.links().length;
    await assert.rejects(jpki.renew(certs, { pin: '12', password: 'CHECK99' }), { field: 'pin' });
    await assert.rejects(jpki.renew(certs, { pin: '1234', password: 'short' }), {
      code: 'ERR_TESTJPKI_INVALID_INPUT',
      field: 'password',
    });
    assert.equal(jpki.links().length, links);
  });
});

describe('certificates to renew', () => {
  test('bytes that are not a DER certificate (a damaged card file) are ERR_TESTJPKI_INVALID_INPUT naming them', async () => {
    const c = await jpki.issueCard(valid);
    const junk = new Uint8Array([0x30, 0x82, 0x01, 0x00, 0x02]);
    await assert.rejects(jpki.renewKeys({ authCert: junk, signCert: c.spec.signCert }), {
      code: 'ERR_TESTJPKI_INVALID_INPUT',
      field: 'authCert',
    });
    await assert.rejects(jpki.renewKeys({ authCert: c.spec.authCert, signCert: junk }), { field: 'signCert' });
  });
});

describe('programmer mistakes stay TypeErrors', () => {
  const cases: [string, Partial<IssueCardOptions>][] = [
    ['a name that is not a string', { name: 1 as unknown as string }],
    ['a birth date given as a Date', { birthDate: new Date() as unknown as string }],
    ['sex given as a number', { sex: 1 as unknown as '1' }],
    ['a PIN given as a number', { pin: 1234 as unknown as string }],
    ['no password', { password: undefined as unknown as string }],
  ];
  for (const [what, change] of cases) {
    test(what, async () => {
      await assert.rejects(jpki.issueCard({ ...valid, ...change }), (e: Error) => {
        assert.ok(e instanceof TypeError, String(e));
        assert.equal((e as { code?: string }).code, undefined);
        return true;
      });
    });
  }
});

describe('checkHolder, for a caller that checks before asking for a PIN', () => {
  test('is the same rule set: passes the valid holder, refuses one bad field', () => {
    checkHolder(valid, NOW);
    assert.throws(() => checkHolder({ ...valid, birthDate: '1990-02-30' }, NOW), {
      code: 'ERR_TESTJPKI_INVALID_INPUT',
      field: 'birthDate',
    });
  });

  test('"after the issue date" is the JST day: 2025-03-01T15:00Z is already 2025-03-02 in Japan', () => {
    const born = { ...valid, birthDate: '2025-03-02' };
    assert.throws(() => checkHolder(born, new Date('2025-03-01T14:59:59Z')), { field: 'birthDate' });
    checkHolder(born, new Date('2025-03-01T15:00:00Z'));
  });
});
