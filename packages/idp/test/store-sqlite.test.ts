import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { openStores } from '../src/store/open.ts';
import { walSync } from '../src/store/lib/wal-sync.ts';
import {
  BY_COLUMN,
  openSqliteStores,
  SQLITE_SCHEMA_VERSION,
  SQLITE_SWEEP_CHUNK,
  sqliteEphemeralPath,
} from '../src/store/sqlite.ts';
import { newCredential, runStoreContract } from './support/store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'mynagate-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const newPath = () => join(dir, `${randomBytes(6).toString('hex')}.db`);

/** A fake clock: SQLite expiry follows the injected `now`, so TTL tests take no wall time. */
function fakeClock() {
  let t = Date.UTC(2026, 0, 15, 3, 0, 0);
  return { now: () => t, advance: async (ms: number) => void (t += ms) };
}

function rawExec(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

runStoreContract('SQLite', async () => {
  const path = newPath();
  const clock = fakeClock();
  const stores = await openStores({ kind: 'sqlite', path, now: clock.now });
  // A second connection to the same file, as a second process would have.
  const peer = openSqliteStores({ path, now: clock.now, sweepIntervalMs: 0 });
  return {
    stores,
    peer,
    adapter: stores.adapter,
    advance: clock.advance,
    raw: async (sql) => rawExec(path, sql),
    tamperAudit: async (seq) =>
      rawExec(path, `DROP TRIGGER audit_no_update; UPDATE audit SET data = '{"i":99}' WHERE seq = ${Number(seq)}`),
    teardown: async () => {
      await Promise.all([stores.close(), peer.close()]);
      rmSync(path, { force: true });
      rmSync(`${path}-wal`, { force: true });
      rmSync(`${path}-shm`, { force: true });
    },
  };
});

describe('SQLite: file, durability and migrations', () => {
  it('records, adapter entries and one-shot values survive close and reopen', async () => {
    const path = newPath();
    const clock = fakeClock();
    const first = openSqliteStores({ path, now: clock.now });
    const { person, credential } = await first.records.createPersonWithCredential(newCredential());
    await first.records.appendAudit({ type: 'signup', personId: person.id });
    await first.adapter('Session').upsert('s1', { uid: 'u1', accountId: person.id }, 3600);
    await first.oneShot.put('challenge:1', { nonce: 'n' }, 300);
    await first.close();

    const second = openSqliteStores({ path, now: clock.now });
    assert.equal((await second.records.findCredentialByFingerprint(credential.fingerprint))?.personId, person.id);
    assert.deepEqual(await second.records.verifyAuditChain(), {
      count: 1,
      head: (await second.records.listAudit(person.id))[0]!.hash,
    });
    assert.deepEqual(await second.adapter('Session').findByUid('u1'), {
      uid: 'u1',
      accountId: person.id,
    });
    assert.deepEqual(await second.oneShot.take('challenge:1'), { nonce: 'n' });
    await second.close();
  });

  it('the file is in WAL mode and user_version is the schema version', async () => {
    const path = newPath();
    const stores = openSqliteStores({ path });
    await stores.close();
    const db = new DatabaseSync(path);
    assert.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
    assert.equal(db.prepare('PRAGMA user_version').get()?.user_version, SQLITE_SCHEMA_VERSION);
    db.close();
  });

  it('a database migrated by a newer version is refused with ERR_STORE_SCHEMA and left untouched', async () => {
    const path = newPath();
    await openSqliteStores({ path }).close();
    rawExec(path, `PRAGMA user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    assert.throws(() => openSqliteStores({ path }), {
      code: 'ERR_STORE_SCHEMA',
      found: SQLITE_SCHEMA_VERSION + 1,
    });
  });

  it('a path that cannot be opened is ERR_STORE_UNAVAILABLE', () => {
    assert.throws(() => openSqliteStores({ path: join(dir, 'no-such-dir', 'x.db') }), {
      code: 'ERR_STORE_UNAVAILABLE',
    });
  });

  it('sweep deletes expired adapter and one-shot rows and keeps live ones', async () => {
    const clock = fakeClock();
    const stores = openSqliteStores({
      path: newPath(),
      now: clock.now,
      sweepIntervalMs: 0,
    });
    await stores.adapter('Interaction').upsert('i1', {}, 1);
    await stores.adapter('Interaction').upsert('i2', {}, 600);
    await stores.oneShot.put('a', 'x', 1);
    await stores.oneShot.put('b', 'x', 600);
    await clock.advance(2_000);
    assert.equal(stores.sweep(), 2);
    assert.equal(stores.sweep(), 0);
    assert.deepEqual(await stores.adapter('Interaction').find('i2'), {});
    assert.equal(await stores.oneShot.get('b'), 'x');
    await stores.close();
  });

  it('the periodic sweep deletes a backlog in chunks, the event loop running between them', async () => {
    const clock = fakeClock();
    const path = newPath();
    const stores = openSqliteStores({ path, now: clock.now, sweepIntervalMs: 5 });
    const backlog = 2 * SQLITE_SWEEP_CHUNK + 10;
    for (let i = 0; i < backlog; i++) await stores.oneShot.put(`old:${i}`, 'x', 1);
    for (let i = 0; i < SQLITE_SWEEP_CHUNK + 3; i++) await stores.adapter('Interaction').upsert(`old${i}`, {}, 1);
    await stores.oneShot.put('live', 'x', 600);
    const peer = new DatabaseSync(sqliteEphemeralPath(path), { readOnly: true });
    const count = (table: string) => Number(peer.prepare(`SELECT count(*) AS n FROM ${table}`).get()!.n);
    // What is left after each turn of the event loop, from the first chunk until the backlog is gone.
    const left: number[] = [];
    await clock.advance(2_000);
    for (let turns = 0; count('one_shot') > 1 && turns < 10_000; turns++) {
      await new Promise((resolve) => setImmediate(resolve));
      left.push(count('one_shot') - 1);
    }
    const steps = left.filter((n, i) => n < (i === 0 ? backlog : left[i - 1]!));
    assert.deepEqual(steps, [backlog - SQLITE_SWEEP_CHUNK, backlog - 2 * SQLITE_SWEEP_CHUNK, 0]);
    assert.equal(count('oidc'), 0);
    assert.equal(await stores.oneShot.get('live'), 'x');
    peer.close();
    await stores.close();
  });

  it('one-shot values and ephemeral models (Session too) go to the ephemeral file; records and Grant to the durable one', async () => {
    const path = newPath();
    const stores = openSqliteStores({ path, sweepIntervalMs: 0 });
    const { person } = await stores.records.createPersonWithCredential(newCredential());
    await stores.oneShot.put('challenge:1', 'n', 300);
    for (const model of ['Interaction', 'AuthorizationCode', 'AccessToken', 'Session', 'Grant']) {
      await stores.adapter(model).upsert(`${model}-1`, { accountId: person.id }, 600);
    }
    await stores.close();
    const models = (file: string) => {
      const db = new DatabaseSync(file);
      try {
        return db
          .prepare('SELECT model FROM oidc ORDER BY model')
          .all()
          .map((r) => r.model);
      } finally {
        db.close();
      }
    };
    assert.deepEqual(models(path), ['Grant']);
    assert.deepEqual(models(sqliteEphemeralPath(path)), ['AccessToken', 'AuthorizationCode', 'Interaction', 'Session']);
    const durable = new DatabaseSync(path);
    assert.equal(durable.prepare("SELECT 1 FROM sqlite_master WHERE name = 'one_shot'").get(), undefined);
    assert.equal(durable.prepare('SELECT count(*) AS n FROM people').get()?.n, 1);
    durable.close();
    const ephemeral = new DatabaseSync(sqliteEphemeralPath(path));
    assert.equal(ephemeral.prepare('SELECT count(*) AS n FROM one_shot').get()?.n, 1);
    ephemeral.close();
  });

  it('lookups by uid, user code and grant use their index in both files (a scan would read every session)', async () => {
    const path = newPath();
    await openSqliteStores({ path, sweepIntervalMs: 0 }).close();
    for (const file of [path, sqliteEphemeralPath(path)]) {
      const db = new DatabaseSync(file);
      try {
        for (const [column, index] of [
          ['id', 'PRIMARY KEY'],
          ['uid', 'INDEX oidc_uid'],
          ['user_code', 'INDEX oidc_user_code'],
          ['grant_id', 'INDEX oidc_grant'],
        ] as const) {
          const plan = db
            .prepare(`EXPLAIN QUERY PLAN SELECT payload FROM oidc ${BY_COLUMN[column]}`)
            .all('Session', 'x')
            .map((r) => String(r.detail));
          assert.deepEqual(plan, [`SEARCH oidc USING ${index} (model=? AND ${column}=?)`], `${file}: ${column}`);
        }
      } finally {
        db.close();
      }
    }
  });

  it('a schema-1 file is migrated: its one-shot table, ephemeral models and sessions are dropped, durable rows kept', async () => {
    const path = newPath();
    await openSqliteStores({ path, sweepIntervalMs: 0 }).close();
    // Back to what schema 1 looked like, with rows of every kind.
    rawExec(
      path,
      `CREATE TABLE one_shot (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
       INSERT INTO one_shot VALUES ('k', 'v', 9e15);
       INSERT INTO oidc (model, id, payload) VALUES ('Interaction', 'i', '{}'), ('Session', 's', '{"a":1}'),
         ('Grant', 'g', '{"b":2}');
       PRAGMA user_version = 1`,
    );
    const stores = openSqliteStores({ path, sweepIntervalMs: 0 });
    assert.deepEqual(await stores.adapter('Grant').find('g'), { b: 2 });
    assert.equal(await stores.adapter('Session').find('s'), undefined);
    assert.equal(await stores.adapter('Interaction').find('i'), undefined);
    assert.equal(await stores.oneShot.get('k'), undefined);
    await stores.close();
    const db = new DatabaseSync(path);
    assert.equal(db.prepare('PRAGMA user_version').get()?.user_version, SQLITE_SCHEMA_VERSION);
    assert.equal(db.prepare("SELECT 1 FROM oidc WHERE model = 'Interaction'").get(), undefined);
    assert.equal(db.prepare("SELECT 1 FROM oidc WHERE model = 'Session'").get(), undefined);
    assert.equal(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'one_shot'").get(), undefined);
    db.close();
  });

  it('4 worker threads on their own connections race to take 200 keys: each key is taken exactly once', async () => {
    const path = newPath();
    const stores = openSqliteStores({ path, sweepIntervalMs: 0 });
    for (let i = 0; i < 200; i++) await stores.oneShot.put(`k${i}`, `v${i}`, 600);
    const worker = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { DatabaseSync } = require('node:sqlite');
      const db = new DatabaseSync(workerData.path);
      db.exec('PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL');
      const take = db.prepare('DELETE FROM one_shot WHERE key = ? RETURNING value');
      const got = [];
      for (let i = 0; i < 200; i++) if (take.get('k' + i)) got.push(i);
      db.close();
      parentPort.postMessage(got);`;
    const runs = Array.from(
      { length: 4 },
      () =>
        new Promise<number[]>((resolve, reject) => {
          // One-shot state lives in the ephemeral file.
          const w = new Worker(worker, { eval: true, workerData: { path: sqliteEphemeralPath(path) } });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    );
    const taken = (await Promise.all(runs)).flat().sort((a, b) => a - b);
    assert.deepEqual(
      taken,
      Array.from({ length: 200 }, (_, i) => i),
    );
    await stores.close();
  });

  it('existing: a missing file, or one not at this schema, is ERR_STORE_MISSING and nothing is created or migrated', async () => {
    const missing = newPath();
    await assert.rejects(openStores({ kind: 'sqlite', path: missing, existing: true }), { code: 'ERR_STORE_MISSING' });
    assert.equal(existsSync(missing), false);
    const blank = newPath();
    rawExec(blank, 'CREATE TABLE t (x)');
    await assert.rejects(openStores({ kind: 'sqlite', path: blank, existing: true }), {
      code: 'ERR_STORE_MISSING',
      message: new RegExp(`schema version 0, not ${SQLITE_SCHEMA_VERSION}`),
    });
    const db = new DatabaseSync(blank);
    assert.equal(db.prepare('PRAGMA user_version').get()!.user_version, 0);
    db.close();
    const made = newPath();
    await (await openStores({ kind: 'sqlite', path: made })).close();
    await (await openStores({ kind: 'sqlite', path: made, existing: true })).close();
  });

  it('the database files are readable by their owner only (0600), and a file found wider is narrowed', async () => {
    const sub = mkdtempSync(join(dir, 'mode-'));
    const path = join(sub, 'idp.db');
    const stores = openSqliteStores({ path, sweepIntervalMs: 0 });
    await stores.adapter('Grant').upsert('g1', { accountId: 'p' }, 3600);
    const modes = readdirSync(sub).map((name) => [name, statSync(join(sub, name)).mode & 0o777] as const);
    await stores.close();
    assert.ok(modes.length >= 4, `the database, the ephemeral one and their -wal files: ${modes.map(([n]) => n)}`);
    assert.deepEqual(
      modes.filter(([, mode]) => mode !== 0o600),
      [],
    );
    chmodSync(path, 0o644);
    await (await openStores({ kind: 'sqlite', path })).close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it('a deleted row is zeroed in the database file, not left readable in its free space (secure_delete)', async () => {
    const path = newPath();
    const stores = openSqliteStores({ path, sweepIntervalMs: 0, checkpointIntervalMs: 0 });
    const marker = '試験花子千代田区'.repeat(8);
    await stores.adapter('Grant').upsert('keep', { accountId: 'p0' }, 3600);
    await stores.adapter('Grant').upsert('gone', { accountId: 'p1', note: marker }, 3600);
    rawExec(path, 'PRAGMA wal_checkpoint(TRUNCATE)');
    assert.ok(readFileSync(path).includes(Buffer.from(marker)), 'the row is in the file before the delete');
    await stores.adapter('Grant').destroy('gone');
    rawExec(path, 'PRAGMA wal_checkpoint(TRUNCATE)');
    await stores.close();
    assert.equal(readFileSync(path).includes(Buffer.from(marker)), false);
  });

  it('openStores rejects a malformed config with TypeError', async () => {
    await assert.rejects(openStores({ kind: 'mysql' } as never), TypeError);
    await assert.rejects(openStores({ kind: 'sqlite', path: '' }), TypeError);
    await assert.rejects(openStores({ kind: 'sqlite', path: newPath(), extra: 1 } as never), TypeError);
    await assert.rejects(openStores(null as never), TypeError);
  });
});

describe('SQLite: WAL group sync (lib/wal-sync.ts)', () => {
  /** A WAL file and a sync seam that completes only when the test says so. */
  function harness() {
    const path = newPath();
    rawExec(path, 'PRAGMA journal_mode = WAL; CREATE TABLE t (x)');
    const keep = new DatabaseSync(path); // keeps the -wal file in place
    keep.exec('INSERT INTO t VALUES (1)');
    const pending: ((e: Error | null) => void)[] = [];
    const sync = walSync(path, { datasync: (_fd, done) => void pending.push(done) });
    return { sync, pending, close: async () => (await sync.close().catch(() => {}), keep.close()) };
  }
  const tick = () => new Promise((r) => setImmediate(r));

  it('a commit is answered only after a sync that started after it; commits made meanwhile share the next sync', async () => {
    const h = harness();
    let firstDone = false;
    h.sync.committed();
    const first = h.sync.durable().then(() => (firstDone = true));
    await tick();
    assert.equal(h.pending.length, 1);
    assert.equal(firstDone, false);
    // Two more commits while the first sync runs: they wait for a second one, and share it.
    h.sync.committed();
    const second = h.sync.durable();
    h.sync.committed();
    const third = h.sync.durable();
    h.pending.shift()!(null);
    await first;
    await tick();
    assert.equal(h.pending.length, 1);
    h.pending.shift()!(null);
    await Promise.all([second, third]);
    assert.equal(h.pending.length, 0);
    // Nothing new committed: no sync at all.
    await h.sync.durable();
    assert.equal(h.pending.length, 0);
    await h.close();
  });

  it('durable(upTo) waits for the syncs covering commit upTo only, not for later commits', async () => {
    const h = harness();
    const one = h.sync.committed();
    assert.equal(one, 1);
    const first = h.sync.durable(one);
    await tick();
    assert.equal(h.pending.length, 1);
    // Commit 2 comes while the sync of commit 1 runs: a wait for commit 1 ends with that sync.
    assert.equal(h.sync.committed(), 2);
    let firstDone = false;
    const firstWait = first.then(() => (firstDone = true));
    const laterWaitForOne = h.sync.durable(one);
    h.pending.shift()!(null);
    await Promise.all([firstWait, laterWaitForOne]);
    assert.equal(firstDone, true);
    assert.equal(h.pending.length, 0, 'no second sync was started for commit 1');
    // Commit 1 is on disk now: waiting for it costs nothing; waiting for everything still syncs commit 2.
    await h.sync.durable(one);
    assert.equal(h.pending.length, 0);
    const all = h.sync.durable();
    await tick();
    assert.equal(h.pending.length, 1);
    h.pending.shift()!(null);
    await all;
    // Nothing identity-like committed yet (0): no wait at all.
    await h.sync.durable(0);
    await h.close();
  });

  it('a failed sync fails its commits and every later one (fail closed: what is on disk is unknown)', async () => {
    const h = harness();
    h.sync.committed();
    const first = h.sync.durable();
    await tick();
    h.pending.shift()!(Object.assign(new Error('EIO'), { code: 'EIO' }));
    await assert.rejects(first, { code: 'EIO' });
    h.sync.committed();
    await assert.rejects(h.sync.durable(), { code: 'EIO' });
    await h.close();
  });

  it('20 concurrent audit appends through the store (durable file, group sync) all resolve and form one chain', async () => {
    const path = newPath();
    const stores = openSqliteStores({ path, sweepIntervalMs: 0 });
    const { person } = await stores.records.createPersonWithCredential(newCredential());
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stores.records.appendAudit({ type: 'test', personId: person.id, data: { i } }),
      ),
    );
    assert.equal((await stores.records.verifyAuditChain()).count, 20);
    await stores.close();
  });

  it('auditHead and verifyAuditChain answer after a sync of their own, also for rows another process wrote', async () => {
    // `mynagate audit anchor` beside a running provider: the rows it reads may be in the WAL, not yet on disk (the
    // writer's sync still running), and an anchor of a row a power loss takes back is a false alarm forever.
    const path = newPath();
    const writer = openSqliteStores({ path, sweepIntervalMs: 0 });
    await writer.records.appendAudit({ type: 'login' });
    const syncs: ((e: Error | null) => void)[] = [];
    const reader = openSqliteStores({
      path,
      sweepIntervalMs: 0,
      walDatasync: (_fd, done) => void syncs.push(done),
    });
    try {
      const reads = [
        async () => (await reader.records.auditHead())?.seq,
        async () => (await reader.records.verifyAuditChain()).count,
      ];
      for (const read of reads) {
        let answered = false;
        const answer = read().finally(() => (answered = true));
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
        assert.equal(answered, false, 'answered before a sync of the WAL');
        assert.equal(syncs.length, 1);
        syncs.shift()!(null);
        assert.equal(await answer, 1);
      }
    } finally {
      for (const done of syncs) done(null);
      await reader.close();
      await writer.close();
    }
  });
});
