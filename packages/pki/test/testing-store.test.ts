/**
 * The test JPKI directory shared by processes and survived by crashes: changes under one lock and on the newest
 * state (a `ca ocsp` server next to `ca revoke`), an init cut short, damaged files named, renewals that do not
 * record what never reached a card.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, CertID, OCSPRequest, OCSPResponse, Request, TBSRequest } from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier, CertificateList } from '@peculiar/asn1-x509';
import { createKeyPool, TestJpki } from '@mynagate/pki/testing';
import type { IssueCardOptions, KeySource } from '@mynagate/pki/testing';
import { parseCert, tempDir } from './support/testing-jpki.ts';

const T0 = new Date('2025-01-01T00:00:00Z');
const T1 = new Date('2025-02-01T00:00:00Z');
const T2 = new Date('2025-03-01T00:00:00Z');

const holder: IssueCardOptions = {
  name: '試験　六郎',
  address: '東京都千代田区千代田1-1',
  birthDate: '1990-01-02',
  sex: '1',
  pin: '1234',
  password: 'ABC123',
  now: T1,
};

let keys: KeySource;
const removers: (() => Promise<void>)[] = [];

before(async () => {
  keys = await createKeyPool(40);
});
after(async () => {
  for (const r of removers) await r();
});

async function freshDir(prefix: string): Promise<string> {
  const t = await tempDir(prefix);
  removers.push(t.remove);
  return t.dir;
}

/** A test JPKI with `cards` cards issued, in a new directory. */
async function jpkiWith(cards: number, prefix = 'jpki-store') {
  const dir = await freshDir(prefix);
  const jpki = await TestJpki.init(dir, { now: T0, keys });
  const issued = await jpki.issueCards(Array.from({ length: cards }, () => holder));
  return { dir, jpki, issued };
}

/** The serials (hex) a DER CRL lists. */
function crlSerials(der: Uint8Array): string[] {
  const list = AsnConvert.parse(der, CertificateList);
  return (list.tbsCertList.revokedCertificates ?? []).map((e) => Buffer.from(e.userCertificate).toString('hex'));
}

/** The certStatus of `serial` in an OCSP response of `jpki`'s auth CA. */
async function ocspStatus(jpki: TestJpki, serial: string, responder: 'ca' | 'delegated' = 'ca'): Promise<string> {
  const ca = parseCert(jpki.caCertificate('auth'));
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: '1.3.14.3.2.26' }),
    issuerNameHash: new OctetString(
      createHash('sha1')
        .update(new Uint8Array(AsnConvert.serialize(ca.tbsCertificate.subject)))
        .digest(),
    ),
    issuerKeyHash: new OctetString(
      createHash('sha1').update(new Uint8Array(ca.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)).digest(),
    ),
    serialNumber: new Uint8Array(Buffer.from(serial, 'hex')).buffer,
  });
  const request = new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert: certId })] }) });
  const der = await jpki.respondOcsp('auth', new Uint8Array(AsnConvert.serialize(request)), { now: T2, responder });
  const res = AsnConvert.parse(der, OCSPResponse);
  const basic = AsnConvert.parse(res.responseBytes!.response.buffer, BasicOCSPResponse);
  const s = basic.tbsResponseData.responses[0]!.certStatus;
  return s.good !== undefined ? 'good' : s.revoked !== undefined ? 'revoked' : 'unknown';
}

describe('two openers of one directory (a ca ocsp server next to ca revoke)', () => {
  test('a revocation written between the server’s refresh and its CRL stays revoked: in the CRL, OCSP and the file', async () => {
    const { dir, issued } = await jpkiWith(1);
    const serial = issued[0]!.authSerial;
    const server = await TestJpki.open(dir);
    const cli = await TestJpki.open(dir);
    await server.refresh(); // a GET /crl/auth.crl starts: the server refreshes first
    await cli.revoke(serial, 'keyCompromise', T1);
    const crl = await server.crl('auth', { now: T2 }); // the request goes on: a new CRL number is written
    assert.deepEqual(crlSerials(crl), [serial]);
    assert.equal(await ocspStatus(server, serial), 'revoked');
    await server.refresh();
    assert.equal(server.status(serial, { now: T2 }).status, 'revoked');
    assert.equal((await TestJpki.open(dir)).status(serial, { now: T2 }).status, 'revoked');
  });

  test('issuing the delegated OCSP responder on first use keeps a revocation made since the last refresh', async () => {
    const { dir, issued } = await jpkiWith(1);
    const serial = issued[0]!.authSerial;
    const server = await TestJpki.open(dir);
    const cli = await TestJpki.open(dir);
    await server.refresh();
    await cli.revoke(serial, 'keyCompromise', T1);
    await ocspStatus(server, serial, 'delegated'); // issues auth-ocsp.pem and records it
    const again = await TestJpki.open(dir);
    assert.equal(again.status(serial, { now: T2 }).status, 'revoked');
    assert.equal(await ocspStatus(again, serial, 'delegated'), 'revoked');
  });

  test('CRL numbers taken by two openers at once are all different: none is lost or handed out twice', async () => {
    const { dir } = await jpkiWith(0);
    const a = await TestJpki.open(dir);
    const b = await TestJpki.open(dir);
    const numbers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).crl('auth', { now: T2 })).map(async (p) => {
        const list = AsnConvert.parse(await p, CertificateList);
        const ext = list.tbsCertList.crlExtensions!.find((e) => e.extnID === '2.5.29.20')!;
        return Buffer.from(ext.extnValue.buffer).toString('hex');
      }),
    );
    assert.equal(new Set(numbers).size, 10);
    const store = JSON.parse(await readFile(join(dir, 'store.json'), 'utf8'));
    assert.equal(store.crlNumber.auth, 10);
  });

  test('processes revoking while another takes CRLs lose no revocation and no CRL number', async () => {
    const { dir, issued } = await jpkiWith(6);
    const child = (serials: string[]) =>
      new Promise<void>((resolve, reject) => {
        const script = `
          import { TestJpki } from '@mynagate/pki/testing';
          const jpki = await TestJpki.open(${JSON.stringify(dir)});
          for (const s of ${JSON.stringify(serials)}) { await jpki.revoke(s, 'keyCompromise'); await jpki.crl('sign'); }
        `;
        const p = spawn(process.execPath, ['--input-type=module', '-e', script], {
          cwd: import.meta.dirname,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}: ${err}`))));
      });
    const server = await TestJpki.open(dir);
    let stop = false;
    let served = 0;
    const hammer = (async () => {
      while (!stop) {
        await server.refresh();
        await server.crl('auth');
        served++;
      }
    })();
    const serials = issued.map((c) => c.authSerial);
    try {
      await Promise.all([child(serials.slice(0, 3)), child(serials.slice(3))]);
    } finally {
      stop = true;
      await hammer;
    }
    const store = JSON.parse(await readFile(join(dir, 'store.json'), 'utf8'));
    const revoked = store.certificates.filter((c: { status: string }) => c.status === 'revoked');
    assert.deepEqual(revoked.map((c: { serial: string }) => c.serial).sort(), [...serials].sort());
    assert.equal(store.crlNumber.auth, served);
    assert.equal(store.crlNumber.sign, 6);
    assert.deepEqual(crlSerials(await server.crl('auth')).sort(), [...serials].sort());
  });

  test('refresh sees a change even when store.json keeps its mtime', async () => {
    const { dir } = await jpkiWith(1);
    const path = join(dir, 'store.json');
    const reader = await TestJpki.open(dir);
    const writer = await TestJpki.open(dir);
    // Whole seconds, so the time put back below is exactly the one the reader saw.
    const fixed = new Date('2025-01-01T00:00:00Z');
    await utimes(path, fixed, fixed);
    await reader.refresh();
    const partitions = reader.crlPartitions().length;
    // Another card in another municipality, then the file's times put back: two writes within one clock tick.
    await writer.issueCard({ ...holder, address: '北海道札幌市中央区1-1' });
    await utimes(path, fixed, fixed);
    await reader.refresh();
    assert.equal(reader.crlPartitions().length, partitions + 1);
  });
});

describe('the directory lock (store.json.lock)', () => {
  test('a lock left by a process that died is removed and the change goes ahead', async () => {
    const { dir, jpki, issued } = await jpkiWith(1);
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    await writeFile(join(dir, 'store.json.lock'), JSON.stringify({ pid: dead, host: hostname(), token: 'x' }));
    await jpki.revoke(issued[0]!.authSerial, 'keyCompromise', T1);
    assert.equal((await TestJpki.open(dir)).status(issued[0]!.authSerial, { now: T2 }).status, 'revoked');
    assert.deepEqual((await readdir(dir)).sort(), [
      'auth-ca.key',
      'auth-ca.pem',
      'sign-ca.key',
      'sign-ca.pem',
      'store.json',
    ]);
  });

  test('a lock held by a live process: ERR_TESTJPKI_LOCKED after the wait, nothing changed', async () => {
    const { dir, issued } = await jpkiWith(1);
    const jpki = await TestJpki.open(dir, { lockTimeoutMs: 100 });
    await writeFile(join(dir, 'store.json.lock'), JSON.stringify({ pid: process.pid, host: hostname(), token: 'x' }));
    const before = await readFile(join(dir, 'store.json'), 'utf8');
    await assert.rejects(jpki.revoke(issued[0]!.authSerial, 'keyCompromise'), {
      code: 'ERR_TESTJPKI_LOCKED',
      pid: process.pid,
      path: join(dir, 'store.json.lock'),
    });
    assert.equal(await readFile(join(dir, 'store.json'), 'utf8'), before);
    await rm(join(dir, 'store.json.lock'));
    await jpki.revoke(issued[0]!.authSerial, 'keyCompromise');
  });

  test('an empty lock file is a holder still writing it; an old one was left by a crash and is removed', async () => {
    const { dir, issued } = await jpkiWith(1);
    const jpki = await TestJpki.open(dir, { lockTimeoutMs: 100 });
    const lock = join(dir, 'store.json.lock');
    await writeFile(lock, '');
    await assert.rejects(jpki.revoke(issued[0]!.authSerial, 'keyCompromise'), { code: 'ERR_TESTJPKI_LOCKED' });
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await jpki.revoke(issued[0]!.authSerial, 'keyCompromise');
  });

  test('a stale lock whose breaker (store.json.lock.break) is held by a live, stalled process is not broken', async () => {
    // Removing a live breaker let a second breaker remove the stale lock, a third take the lock, and the first one's
    // late unlink then delete that third's fresh lock.
    const { dir, issued } = await jpkiWith(1);
    const jpki = await TestJpki.open(dir, { lockTimeoutMs: 100 });
    const lock = join(dir, 'store.json.lock');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    await writeFile(lock, JSON.stringify({ pid: dead, host: hostname(), token: 'x' }));
    await writeFile(`${lock}.break`, JSON.stringify({ pid: process.pid, host: hostname() }));
    const old = new Date(Date.now() - 60_000);
    await utimes(`${lock}.break`, old, old);
    await assert.rejects(jpki.revoke(issued[0]!.authSerial, 'keyCompromise'), { code: 'ERR_TESTJPKI_LOCKED' });
    assert.equal(JSON.parse(await readFile(`${lock}.break`, 'utf8')).pid, process.pid);
  });

  test('a breaker left by a process that died is removed, then the stale lock, and the change goes ahead', async () => {
    const { dir, issued } = await jpkiWith(1);
    const jpki = await TestJpki.open(dir, { lockTimeoutMs: 1_000 });
    const lock = join(dir, 'store.json.lock');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    await writeFile(lock, JSON.stringify({ pid: dead, host: hostname(), token: 'x' }));
    await writeFile(`${lock}.break`, JSON.stringify({ pid: dead, host: hostname() }));
    await jpki.revoke(issued[0]!.authSerial, 'keyCompromise', T1);
    assert.equal((await TestJpki.open(dir)).status(issued[0]!.authSerial, { now: T2 }).status, 'revoked');
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('.lock')),
      [],
    );
  });
});

describe('init cut short', () => {
  test('CA files without store.json: open says ERR_TESTJPKI_INCOMPLETE, init again replaces them', async () => {
    const dir = await freshDir('jpki-init-cut');
    // What an init killed before writing store.json leaves (here also a key cut short, as the old writer could).
    const first = await TestJpki.init(dir, { now: T0, keys });
    await rm(join(dir, 'store.json'));
    await truncate(join(dir, 'sign-ca.key'), 100);
    await assert.rejects(TestJpki.open(dir), { code: 'ERR_TESTJPKI_INCOMPLETE', dir });
    const second = await TestJpki.init(dir, { now: T0, keys });
    assert.notDeepEqual(second.caCertificate('auth'), first.caCertificate('auth'));
    const opened = await TestJpki.open(dir);
    assert.deepEqual(opened.caCertificate('sign'), second.caCertificate('sign'));
    assert.deepEqual((await readdir(dir)).sort(), [
      'auth-ca.key',
      'auth-ca.pem',
      'sign-ca.key',
      'sign-ca.pem',
      'store.json',
    ]);
    await assert.rejects(TestJpki.init(dir, { now: T0, keys }), { code: 'ERR_TESTJPKI_EXISTS' });
  });

  test('two inits of one directory at once: one wins, the other is ERR_TESTJPKI_EXISTS, the keys fit the certificates', async () => {
    const dir = await freshDir('jpki-init-race');
    const results = await Promise.allSettled([TestJpki.init(dir, { now: T0 }), TestJpki.init(dir, { now: T0 })]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal(lost.reason.code, 'ERR_TESTJPKI_EXISTS');
    const opened = await TestJpki.open(dir); // loadCa checks each key against its certificate
    assert.equal(opened.caCertificate('auth')[0], 0x30);
  });
});

describe('damaged files are named (ERR_TESTJPKI_DAMAGED)', () => {
  let dir: string;
  before(async () => {
    ({ dir } = await jpkiWith(1, 'jpki-damaged'));
  });

  const cases: [string, string, (path: string, text: string) => string][] = [
    ['a CA key cut short', 'auth-ca.key', (_p, text) => text.slice(0, 100)],
    ['an empty CA key', 'sign-ca.key', () => ''],
    [
      'a CA key with its base64 damaged',
      'auth-ca.key',
      (_p, text) => text.replace(/\n[A-Za-z0-9+/]{64}\n/, '\nAAAA\n'),
    ],
    ['a CA certificate cut short', 'sign-ca.pem', (_p, text) => text.slice(0, 200)],
    ['store.json cut short', 'store.json', (_p, text) => text.slice(0, 20)],
    ['store.json of another shape', 'store.json', () => '{"version":1}\n'],
  ];
  for (const [what, file, damage] of cases) {
    test(what, async () => {
      const path = join(dir, file);
      const text = await readFile(path, 'utf8');
      try {
        await writeFile(path, damage(path, text));
        await assert.rejects(TestJpki.open(dir), (e: Error & { code?: string; path?: string }) => {
          assert.equal(e.code, 'ERR_TESTJPKI_DAMAGED');
          assert.equal(e.path, path);
          assert.ok(e.message.includes(path), e.message);
          return true;
        });
      } finally {
        await writeFile(path, text);
      }
    });
  }

  test('a CA key swapped for the other CA’s', async () => {
    const auth = join(dir, 'auth-ca.key');
    const text = await readFile(auth, 'utf8');
    try {
      await writeFile(auth, await readFile(join(dir, 'sign-ca.key')));
      await assert.rejects(TestJpki.open(dir), { code: 'ERR_TESTJPKI_DAMAGED', path: auth });
    } finally {
      await writeFile(auth, text);
    }
  });

  test('a CA key missing next to store.json', async () => {
    const key = join(dir, 'sign-ca.key');
    const text = await readFile(key, 'utf8');
    try {
      await rm(key);
      await assert.rejects(TestJpki.open(dir), { code: 'ERR_TESTJPKI_DAMAGED', path: key });
    } finally {
      await writeFile(key, text, { mode: 0o600 });
    }
  });

  test('store.json torn after open: the next refresh fails with the same code', async () => {
    const jpki = await TestJpki.open(dir);
    const path = join(dir, 'store.json');
    const text = await readFile(path, 'utf8');
    try {
      await writeFile(path, text.slice(0, 50));
      await assert.rejects(jpki.refresh(), { code: 'ERR_TESTJPKI_DAMAGED', path });
    } finally {
      await writeFile(path, text);
    }
  });
});

describe('a renewal is recorded only after beforeSave kept the new keys', () => {
  test('beforeSave fails: the store is unchanged and a retry renews', async () => {
    const { dir, jpki, issued } = await jpkiWith(1);
    const card = issued[0]!;
    const before = await readFile(join(dir, 'store.json'), 'utf8');
    const failure = new Error('disk full');
    await assert.rejects(
      jpki.renew(card.spec, {
        now: T2,
        beforeSave: () => {
          throw failure;
        },
      }),
      (e) => e === failure,
    );
    assert.equal(await readFile(join(dir, 'store.json'), 'utf8'), before);
    assert.equal(jpki.status(card.authSerial, { now: T2 }).status, 'good');
    assert.deepEqual(jpki.links(), []);
    let kept: string | undefined;
    const renewed = await jpki.renewKeys(card.spec, {
      now: T2,
      beforeSave: (r) => {
        kept = r.authSerial;
      },
    });
    assert.equal(kept, renewed.authSerial);
    assert.equal(jpki.linksOf(card.authSerial).successor?.serial, renewed.authSerial);
  });

  test('issueCard: beforeSave fails, nothing is recorded', async () => {
    const { dir, jpki } = await jpkiWith(0);
    const before = await readFile(join(dir, 'store.json'), 'utf8');
    await assert.rejects(
      jpki.issueCard({
        ...holder,
        beforeSave: () => Promise.reject(Object.assign(new Error('no space'), { code: 'ENOSPC' })),
      }),
      { code: 'ENOSPC' },
    );
    assert.equal(await readFile(join(dir, 'store.json'), 'utf8'), before);
    assert.deepEqual(jpki.certificates(), []);
  });
});
