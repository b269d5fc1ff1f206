/**
 * `crlFiles`: CRLs from files in a real temporary folder, kept current while running. The CRLs are the test JPKI's
 * own; the CRLs are checked against an injected clock and the files looked at every 20 ms. A replaced file is
 * picked up without a restart (a card revoked in the new CRL is then refused), a corrupt or older replacement keeps
 * the CRL in use and is reported with its exact code, past nextUpdate without a fresh CRL the source fails closed,
 * and close() stops the timer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  crlFiles,
  CrlFileError,
  crlRevocation,
  createVerifier,
  MemoryChallengeStore,
  PKI_ERROR_CODES,
  type CrlFiles,
  type CrlFilesOptions,
  type CrlIndex,
} from '@mynagate/pki';
import type { IssuedCard } from '@mynagate/pki/testing';
import { NOW, T_ISSUE, createFixture, type Fixture } from './verify-fixture.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const INTERVAL = 20;

let f: Fixture;
let dir: string;
let victim: IssuedCard;
/** Before the victim's revocation (cRLNumber 1), after it (2): both current at NOW, next update a day on. */
let before1: Uint8Array;
let after2: Uint8Array;
let n = 0;

before(async () => {
  f = await createFixture();
  dir = await mkdtemp(join(tmpdir(), 'mynagate-crl-files-'));
  victim = await f.jpki.issueCard({
    name: '試験　次郎',
    address: '東京都千代田区千代田1-1',
    birthDate: '1990-04-01',
    sex: '1',
    pin: '1234',
    password: 'ABC123',
    now: T_ISSUE,
  });
  await f.jpki.revoke(victim.authSerial, 'keyCompromise', new Date(NOW.getTime() - 2 * HOUR));
  before1 = await f.jpki.crl('auth', { now: new Date(NOW.getTime() - 3 * HOUR) });
  after2 = await f.jpki.crl('auth', { now: new Date(NOW.getTime() - HOUR) });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await f.close();
});

/** Replaces `file` as a careful operator or cron job does: written beside it, then renamed over it. */
async function replace(file: string, der: Uint8Array): Promise<void> {
  await writeFile(`${file}.tmp`, der);
  await rename(`${file}.tmp`, file);
}

/** Resolves once `cond` holds, looking every few ms; fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Started {
  readonly file: string;
  readonly crls: CrlFiles;
  readonly loads: { file: string; index: CrlIndex }[];
  readonly errors: { file: string; error: unknown }[];
  /** The clock the CRLs and the verifier see. */
  clock: Date;
  /** Verifies the victim's auth certificate at the clock: `good`, or the error's code. */
  victim(): Promise<string>;
  /** The same for the fixture's card, never revoked. */
  card(): Promise<string>;
}

/** Writes `der` as a fresh file and starts `crlFiles` on it. */
async function start(der: Uint8Array, options: Partial<CrlFilesOptions> = {}): Promise<Started> {
  const file = join(dir, `auth-${++n}.crl`);
  await writeFile(file, der);
  const s = {
    file,
    loads: [] as Started['loads'],
    errors: [] as Started['errors'],
    clock: NOW,
  } as Started;
  const crls = await crlFiles({
    files: [file],
    issuers: [...f.anchors.auth, ...f.anchors.sign],
    intervalMs: INTERVAL,
    now: () => s.clock,
    worker: false,
    onLoad: (file, index) => s.loads.push({ file, index }),
    onError: (error, file) => s.errors.push({ file, error }),
    ...options,
  });
  const verifier = createVerifier({
    anchors: f.anchors,
    revocation: crlRevocation(crls),
    challenges: new MemoryChallengeStore(),
    now: () => s.clock,
  });
  const answer = (cert: Uint8Array) =>
    verifier.verifyCertificate(cert, 'auth').then(
      () => 'good',
      (e: { code?: string }) => String(e.code),
    );
  return Object.assign(s, {
    crls,
    victim: () => answer(victim.spec.authCert),
    card: () => answer(f.card.spec.authCert),
  });
}

const codeOf = (e: unknown) => (e as { code?: string }).code;

describe('crlFiles: CRL files kept current while running', () => {
  it('loads each file at start and tells onLoad', async () => {
    const s = await start(before1);
    try {
      assert.deepEqual(
        s.loads.map((l) => [l.file, l.index.crlNumber]),
        [[s.file, 1n]],
      );
      assert.equal(await s.victim(), 'good');
      assert.equal(await s.card(), 'good');
    } finally {
      await s.crls.close();
    }
  });

  it('picks up a replaced file on its timer: a card revoked in the new CRL is refused, without a restart', async () => {
    const s = await start(before1);
    try {
      assert.equal(await s.victim(), 'good');
      await replace(s.file, after2);
      await until(() => s.loads.length === 2, 'the new CRL');
      assert.equal(s.loads[1]!.index.crlNumber, 2n);
      assert.equal(await s.victim(), 'ERR_PKI_CERT_REVOKED');
      assert.equal(await s.card(), 'good');
      assert.deepEqual(s.errors, []);
    } finally {
      await s.crls.close();
    }
  });

  it('picks up a file rewritten in place too (same inode), and builds the index on a worker by default', async () => {
    const s = await start(before1, { worker: undefined });
    try {
      await writeFile(s.file, after2);
      await until(() => s.loads.length === 2, 'the new CRL');
      assert.equal(await s.victim(), 'ERR_PKI_CERT_REVOKED');
    } finally {
      await s.crls.close();
    }
  });

  it('keeps the CRL in use when the replacement is corrupt, and reports ERR_PKI_CRL_MALFORMED once', async () => {
    const s = await start(after2);
    try {
      await replace(s.file, after2.subarray(0, after2.length - 7));
      await until(() => s.errors.length > 0, 'the report');
      assert.equal(s.errors[0]!.file, s.file);
      assert.equal(codeOf(s.errors[0]!.error), 'ERR_PKI_CRL_MALFORMED');
      assert.equal(await s.victim(), 'ERR_PKI_CERT_REVOKED', 'the CRL in use still answers');
      assert.equal(await s.card(), 'good');
      await sleep(8 * INTERVAL);
      assert.equal(s.errors.length, 1, 'an unchanged bad file is not read (nor reported) again');
      assert.equal(s.loads.length, 1);
    } finally {
      await s.crls.close();
    }
  });

  it('keeps a newer CRL when an older one is put in its place: ERR_PKI_CRL_ROLLBACK', async () => {
    const s = await start(after2);
    try {
      await replace(s.file, before1);
      await until(() => s.errors.length > 0, 'the report');
      assert.equal(codeOf(s.errors[0]!.error), 'ERR_PKI_CRL_ROLLBACK');
      assert.equal(s.loads.length, 1);
      assert.equal(await s.victim(), 'ERR_PKI_CERT_REVOKED', 'the older CRL, which lacks it, is not used');
    } finally {
      await s.crls.close();
    }
  });

  it('fails closed past nextUpdate without a fresh CRL (ERR_PKI_REVOCATION_UNKNOWN), says so once, and recovers when one comes', async () => {
    const s = await start(after2);
    try {
      assert.equal(await s.card(), 'good');
      // after2 was issued at NOW − 1 h with its next update a day later; the skew is one minute. Shortly before
      // it, the unchanged file is read again (in case its replacement went unseen), which changes nothing.
      s.clock = new Date(NOW.getTime() + 23 * HOUR - 120_000);
      await sleep(8 * INTERVAL);
      assert.equal(s.errors.length, 0, 'the CRL re-read is the one in use: nothing to say');
      assert.equal(await s.card(), 'good');
      s.clock = new Date(NOW.getTime() + DAY);
      assert.equal(await s.card(), 'ERR_PKI_REVOCATION_UNKNOWN');
      await until(() => s.errors.length > 0, 'the report');
      assert.equal(codeOf(s.errors[0]!.error), 'ERR_PKI_CRL_EXPIRED');
      await sleep(8 * INTERVAL);
      assert.equal(s.errors.length, 1, 'said once, not at every look');
      assert.equal(await s.card(), 'ERR_PKI_REVOCATION_UNKNOWN');
      assert.equal(await s.victim(), 'ERR_PKI_REVOCATION_UNKNOWN', 'unknown, not good');

      await replace(s.file, await f.jpki.crl('auth', { now: new Date(s.clock.getTime() - HOUR) }));
      await until(() => s.loads.length === 2, 'the fresh CRL');
      assert.equal(await s.card(), 'good');
      assert.equal(await s.victim(), 'ERR_PKI_CERT_REVOKED');
    } finally {
      await s.crls.close();
    }
  });

  it('says once that a file went missing, keeps its CRL, and loads it when it is back', async () => {
    const s = await start(before1);
    try {
      await rm(s.file);
      await until(() => s.errors.length > 0, 'the report');
      assert.equal(codeOf(s.errors[0]!.error), 'ENOENT');
      await sleep(8 * INTERVAL);
      assert.equal(s.errors.length, 1);
      assert.equal(await s.card(), 'good');
      await replace(s.file, after2);
      await until(() => s.loads.length === 2, 'the CRL back');
      assert.equal(await s.victim(), 'ERR_PKI_CERT_REVOKED');
    } finally {
      await s.crls.close();
    }
  });

  it('close() stops the timer: a file replaced afterwards is not read, and check() does nothing', async () => {
    const s = await start(before1);
    await s.crls.close();
    await replace(s.file, after2);
    await sleep(8 * INTERVAL);
    await s.crls.check();
    assert.equal(s.loads.length, 1);
    assert.deepEqual(s.errors, []);
    assert.equal(await s.victim(), 'good', 'the CRL held at close still answers');
  });

  it('never keeps the process alive: a process that does not close it exits', async () => {
    const file = join(dir, 'alive.crl');
    await writeFile(file, after2);
    // A module file, not --eval: the worker that builds the index inherits the process's flags.
    const script = join(dir, 'alive.mjs');
    await writeFile(
      script,
      [
        `import { crlFiles } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', 'src', 'index.ts')).href)};`,
        `const issuer = new Uint8Array(Buffer.from(process.argv[3], 'base64'));`,
        `await crlFiles({ files: [process.argv[2]], issuers: [issuer], intervalMs: 50, now: () => new Date(${NOW.getTime()}) });`,
        `console.log('loaded');`,
      ].join('\n'),
    );
    const issuer = Buffer.from(f.anchors.auth[0]!).toString('base64');
    const child = spawn(process.execPath, [script, file, issuer], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const code = await Promise.race([
      once(child, 'exit').then(([c]) => c as number),
      sleep(10_000).then(() => (child.kill(), 'still running')),
    ]);
    assert.equal(code, 0, out);
    assert.equal(out.trim(), 'loaded');
  });

  it('check() looks at once, whatever the interval', async () => {
    const s = await start(before1, { intervalMs: DAY });
    try {
      await replace(s.file, after2);
      await s.crls.check();
      assert.equal(s.loads.length, 2);
      assert.equal(await s.victim(), 'ERR_PKI_CERT_REVOKED');
    } finally {
      await s.crls.close();
    }
  });

  it('a file that cannot be loaded at start is ERR_PKI_CRL_FILE, naming it, with the reason as cause', async () => {
    const issuers = [...f.anchors.auth];
    const now = () => NOW;
    const corrupt = join(dir, 'corrupt.crl');
    await writeFile(corrupt, Uint8Array.of(0x30, 0x80, 0x00, 0x00));
    const good = join(dir, 'good.crl');
    await writeFile(good, after2);
    await assert.rejects(crlFiles({ files: [good, corrupt], issuers, now }), (e: unknown) => {
      assert.ok(e instanceof CrlFileError);
      assert.equal(e.code, 'ERR_PKI_CRL_FILE');
      assert.equal(e.file, corrupt);
      assert.equal(codeOf(e.cause), 'ERR_PKI_CRL_MALFORMED');
      assert.equal(e.message, `${corrupt}: ${(e.cause as Error).message}`);
      return true;
    });
    const missing = join(dir, 'missing.crl');
    await assert.rejects(crlFiles({ files: [missing], issuers, now }), (e: unknown) => {
      assert.ok(e instanceof CrlFileError);
      assert.equal(e.file, missing);
      assert.equal(codeOf(e.cause), 'ENOENT');
      return true;
    });
    // A CRL already past its nextUpdate at start is refused as before.
    await assert.rejects(
      crlFiles({ files: [good], issuers, now: () => new Date(NOW.getTime() + 2 * DAY) }),
      (e: unknown) => codeOf(e) === 'ERR_PKI_CRL_FILE' && codeOf((e as Error).cause) === 'ERR_PKI_CRL_EXPIRED',
    );
    assert.ok('ERR_PKI_CRL_FILE' in PKI_ERROR_CODES);
  });

  it('refuses bad options with a TypeError', async () => {
    const issuers = [...f.anchors.auth];
    const file = join(dir, 'x.crl');
    for (const bad of [
      { files: [], issuers },
      { files: [''], issuers },
      { files: [file], issuers, intervalMs: 0 },
      { files: [file], issuers, intervalMs: 1.5 },
      { files: [file], issuers, onError: 'stderr' },
      { files: [file], issuers: [] },
    ]) {
      await assert.rejects(crlFiles(bad as unknown as CrlFilesOptions), TypeError, JSON.stringify(bad));
    }
  });
});
