/** The test JPKI's directory, revocation and renewal with old→new links (spec §9). */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { TestJpki, createKeyPool } from '@mynagate/pki/testing';
import type { IssueCardOptions, IssuedCard } from '@mynagate/pki/testing';
import { nameParts, otherNames, parseCert, tempDir } from './support/testing-jpki.ts';

const T0 = new Date('2025-01-01T00:00:00Z');
const T1 = new Date('2025-03-01T00:00:00Z');
const T2 = new Date('2025-04-01T00:00:00Z');
const T3 = new Date('2029-12-01T00:00:00Z');

const holder: IssueCardOptions = {
  name: '試験　次郎',
  address: '大阪府大阪市北区1-1',
  birthDate: '2000-02-29',
  sex: '1',
  pin: '4321',
  password: 'RENEW99',
  now: T1,
};

let dir: string;
let remove: () => Promise<void>;
let jpki: TestJpki;
let card: IssuedCard;

before(async () => {
  const t = await tempDir('jpki-lifecycle');
  dir = t.dir;
  remove = t.remove;
  jpki = await TestJpki.init(dir, { now: T0 });
  card = await jpki.issueCard(holder);
});
after(() => remove());

describe('test JPKI directory', () => {
  test('holds auth-ca.pem, sign-ca.pem, CA keys with mode 0600 and store.json; no temp files are left', async () => {
    const files = (await readdir(dir)).sort();
    assert.deepEqual(files, ['auth-ca.key', 'auth-ca.pem', 'sign-ca.key', 'sign-ca.pem', 'store.json']);
    for (const key of ['auth-ca.key', 'sign-ca.key']) {
      assert.equal((await stat(join(dir, key))).mode & 0o777, 0o600, key);
      assert.match(await readFile(join(dir, key), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    }
    assert.match(await readFile(join(dir, 'auth-ca.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----\n/);
  });

  test('init on a directory that already has a CA fails with ERR_TESTJPKI_EXISTS and changes nothing', async () => {
    const before = await readFile(join(dir, 'auth-ca.pem'), 'utf8');
    await assert.rejects(TestJpki.init(dir, { now: T0 }), { code: 'ERR_TESTJPKI_EXISTS' });
    assert.equal(await readFile(join(dir, 'auth-ca.pem'), 'utf8'), before);
  });

  test('init on a non-empty directory without a CA is allowed', async () => {
    const t = await tempDir('jpki-nonempty');
    try {
      await writeFile(join(t.dir, 'notes.txt'), 'unrelated');
      const other = await TestJpki.init(t.dir, { now: T0 });
      assert.equal(other.caCertificate('auth')[0], 0x30);
    } finally {
      await t.remove();
    }
  });

  test('open on a directory without a test JPKI fails with ERR_TESTJPKI_NOT_FOUND', async () => {
    await assert.rejects(TestJpki.open(join(dir, 'missing')), { code: 'ERR_TESTJPKI_NOT_FOUND' });
  });

  test('open reloads the same CAs and the issued certificates', async () => {
    const again = await TestJpki.open(dir);
    assert.deepEqual(again.caCertificate('auth'), jpki.caCertificate('auth'));
    assert.deepEqual(again.caCertificate('sign'), jpki.caCertificate('sign'));
    assert.equal(again.status(card.authSerial, { now: T1 }).status, 'good');
    assert.equal(again.status(card.signSerial, { now: T1, kind: 'sign' }).status, 'good');
  });

  test('the store records both certificates with serial, kind, subject, validity and status', () => {
    const recs = jpki.certificates().filter((c) => c.serial === card.authSerial || c.serial === card.signSerial);
    assert.deepEqual(
      recs.map((r) => [r.kind, r.status, r.notBefore]),
      // Certificates start 5 minutes before they are issued (back-dated for clock skew).
      [
        ['auth', 'good', '2025-02-28T23:55:00.000Z'],
        ['sign', 'good', '2025-02-28T23:55:00.000Z'],
      ],
    );
    assert.match(recs[0]!.subject, /CN=[0-9A-Z]{23}/);
    // Born 29 Feb: the 5th birthday after 2025-03-01 falls in 2030, a common year → 28 Feb.
    assert.equal(recs[0]!.notAfter, '2030-02-28T14:59:59.000Z');
  });
});

describe('revoke', () => {
  test('an unknown serial fails with ERR_TESTJPKI_UNKNOWN_SERIAL', async () => {
    await assert.rejects(jpki.revoke('7fffffff', 'keyCompromise', T2), { code: 'ERR_TESTJPKI_UNKNOWN_SERIAL' });
  });

  test('a non-hex serial or an unknown reason name is a TypeError', async () => {
    await assert.rejects(jpki.revoke('xyz', 'keyCompromise', T2), TypeError);
    await assert.rejects(jpki.revoke(card.authSerial, 'lost' as 'keyCompromise', T2), TypeError);
  });

  test('revocation takes effect at its time; a second revoke fails with ERR_TESTJPKI_ALREADY_REVOKED', async () => {
    const c = await jpki.issueCard(holder);
    // Serial forms openssl and others print are accepted: 0x-prefix, upper case, colons.
    await jpki.revoke('0x' + c.authSerial.toUpperCase(), 'cessationOfOperation', T2);
    assert.equal(jpki.status(c.authSerial, { now: new Date(T2.getTime() - 1000) }).status, 'good');
    assert.deepEqual(jpki.status(c.authSerial, { now: T2 }), {
      status: 'revoked',
      revokedAt: T2,
      reason: 'cessationOfOperation',
    });
    const colons = c.authSerial.match(/../g)!.join(':');
    await assert.rejects(jpki.revoke(colons, 'keyCompromise', T3), {
      code: 'ERR_TESTJPKI_ALREADY_REVOKED',
      reason: 'cessationOfOperation',
      revokedAt: T2,
    });
  });

  test('status is unknown for serials not issued here and for the wrong CA', () => {
    assert.deepEqual(jpki.status('01020304'), { status: 'unknown' });
    assert.deepEqual(jpki.status(card.authSerial, { now: T1, kind: 'sign' }), { status: 'unknown' });
  });
});

describe('renew', () => {
  let renewed: IssuedCard;
  before(async () => {
    renewed = await jpki.renew(card.spec, { now: T3 });
  });

  test('gives new serials and new key pairs for both certificates', () => {
    assert.notEqual(renewed.authSerial, card.authSerial);
    assert.notEqual(renewed.signSerial, card.signSerial);
    assert.notDeepEqual(renewed.spec.authKey, card.spec.authKey);
    assert.notDeepEqual(renewed.spec.signKey, card.spec.signKey);
    const spki = (der: Uint8Array) => AsnConvert.serialize(parseCert(der).tbsCertificate.subjectPublicKeyInfo);
    assert.notDeepEqual(spki(renewed.spec.authCert), spki(card.spec.authCert));
    assert.notDeepEqual(spki(renewed.spec.signCert), spki(card.spec.signCert));
  });

  test('keeps the holder: same auth CN, same basic 4, same text-AP data, PIN and password', () => {
    const cn = (der: Uint8Array) => nameParts(parseCert(der).tbsCertificate.subject).at(-1)![2];
    assert.equal(cn(renewed.spec.authCert), cn(card.spec.authCert));
    assert.deepEqual(otherNames(parseCert(renewed.spec.signCert)), otherNames(parseCert(card.spec.signCert)));
    assert.deepEqual(renewed.spec.text, card.spec.text);
    assert.equal(renewed.spec.authPin, card.spec.authPin);
    assert.equal(renewed.spec.signPassword, card.spec.signPassword);
    assert.equal(
      parseCert(renewed.spec.authCert).tbsCertificate.validity.notBefore.getTime().toISOString(),
      '2029-11-30T23:55:00.000Z', // 5 minutes before the renewal at T3
    );
  });

  test("records old→new links per kind, visible through links() and linksOf() with each card's pair", () => {
    const mine = jpki.links().filter((l) => l.predecessor === card.authSerial || l.predecessor === card.signSerial);
    assert.deepEqual(mine, [
      { kind: 'auth', predecessor: card.authSerial, successor: renewed.authSerial, at: T3.toISOString() },
      { kind: 'sign', predecessor: card.signSerial, successor: renewed.signSerial, at: T3.toISOString() },
    ]);
    const [auth, sign] = [jpki.caFingerprint('auth'), jpki.caFingerprint('sign')];
    assert.deepEqual(jpki.linksOf(card.authSerial), {
      issuer: auth,
      serial: card.authSerial,
      kind: 'auth',
      successor: { issuer: auth, serial: renewed.authSerial },
      pair: { issuer: sign, serial: card.signSerial },
    });
    assert.deepEqual(jpki.linksOf(renewed.signSerial, { kind: 'sign' }), {
      issuer: sign,
      serial: renewed.signSerial,
      kind: 'sign',
      predecessor: { issuer: sign, serial: card.signSerial },
      pair: { issuer: auth, serial: renewed.authSerial },
    });
    // Asked of the other CA, a serial is not one of its certificates.
    assert.throws(() => jpki.linksOf(renewed.signSerial, { kind: 'auth' }), { code: 'ERR_TESTJPKI_UNKNOWN_SERIAL' });
  });

  test('revokes the old certificates as superseded at the renewal time; the new ones are good', () => {
    assert.deepEqual(jpki.status(card.authSerial, { now: T3 }), {
      status: 'revoked',
      revokedAt: T3,
      reason: 'superseded',
    });
    assert.deepEqual(jpki.status(card.signSerial, { now: T3 }), {
      status: 'revoked',
      revokedAt: T3,
      reason: 'superseded',
    });
    assert.deepEqual(jpki.status(renewed.authSerial, { now: T3 }), { status: 'good' });
  });

  test('the links survive reopening the directory', async () => {
    const again = await TestJpki.open(dir);
    assert.equal(again.linksOf(card.signSerial).successor?.serial, renewed.signSerial);
  });

  test('renewing the same old card again fails with ERR_TESTJPKI_ALREADY_RENEWED', async () => {
    await assert.rejects(jpki.renew(card.spec, { now: T3 }), {
      code: 'ERR_TESTJPKI_ALREADY_RENEWED',
      successor: renewed.authSerial,
    });
  });

  test('renewing from bare certificates needs pin and password; with them it works and can keep the old valid', async () => {
    const c = await jpki.issueCard(holder);
    const certs = { authCert: c.spec.authCert, signCert: c.spec.signCert };
    await assert.rejects(jpki.renew(certs, { now: T3 }), TypeError);
    const r = await jpki.renew(certs, { now: T3, pin: '1111', password: 'NEWPASS1', revokeOld: false });
    assert.equal(r.spec.authPin, '1111');
    assert.equal(r.spec.text.myNumber, c.spec.text.myNumber);
    assert.deepEqual(jpki.status(c.authSerial, { now: T3 }), { status: 'good' });
    assert.equal(jpki.linksOf(c.authSerial).successor?.serial, r.authSerial);
  });

  test('renewing certificates not issued here fails with ERR_TESTJPKI_UNKNOWN_SERIAL', async () => {
    const t = await tempDir('jpki-foreign');
    try {
      const foreign = await TestJpki.init(t.dir, { now: T0 });
      const f = await foreign.issueCard(holder);
      await assert.rejects(jpki.renew(f.spec, { now: T3 }), { code: 'ERR_TESTJPKI_UNKNOWN_SERIAL' });
      await assert.rejects(
        Promise.resolve().then(() => jpki.linksOf(f.authSerial)),
        { code: 'ERR_TESTJPKI_UNKNOWN_SERIAL' },
      );
    } finally {
      await t.remove();
    }
  });
});

describe('bulk issuance and key pools', () => {
  test('issueCards issues every card with distinct serials and keys and persists them all', async () => {
    const cards = await jpki.issueCards([holder, { ...holder, name: '試験　四郎' }, { ...holder, sex: '2' }]);
    const serials = cards.flatMap((c) => [c.authSerial, c.signSerial]);
    assert.equal(new Set(serials).size, 6);
    assert.equal(new Set(cards.map((c) => Buffer.from(c.spec.authKey).toString('hex'))).size, 3);
    const again = await TestJpki.open(dir);
    for (const s of serials) assert.equal(again.status(s, { now: T1 }).status, 'good');
  });

  test('issueCards validates every entry before issuing any', async () => {
    const count = jpki.certificates().length;
    await assert.rejects(jpki.issueCards([holder, { ...holder, pin: 'x' }]), {
      code: 'ERR_TESTJPKI_INVALID_INPUT',
      field: 'pin',
    });
    assert.equal(jpki.certificates().length, count);
  });

  test('createKeyPool hands out each key once and reuses its cache file across pools', async () => {
    const t = await tempDir('jpki-keycache');
    try {
      const cacheFile = join(t.dir, 'keys.pem');
      const a = await createKeyPool(2, { cacheFile });
      const [a1, a2] = [await a.next(), await a.next()];
      const spki = (k: { publicKey: { export: (o: { type: 'spki'; format: 'der' }) => Buffer } }) =>
        k.publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
      assert.notEqual(spki(a1), spki(a2));
      assert.equal((await stat(cacheFile)).mode & 0o777, 0o600);
      const b = await createKeyPool(2, { cacheFile });
      assert.deepEqual([spki(await b.next()), spki(await b.next())], [spki(a1), spki(a2)]);
      await assert.rejects(createKeyPool(-1), TypeError);
    } finally {
      await t.remove();
    }
  });
});
