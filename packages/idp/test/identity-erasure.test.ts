/**
 * A verified identity (the eKYC basic-4) is gone when it should be: from process memory once expired, read or not;
 * from the SQLite files (database and WAL) once deleted, whichever way (consent withdrawn, grant revoked, expired and
 * swept, replaced). The files are read as raw bytes: what a copy of the disk would show.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { identityStore, IDENTITY_MODEL, type VerifiedIdentity } from '../src/ekyc/identity-store.ts';
import { memoryIdentityStore, type MemoryIdentityStore } from '../src/memory-stores.ts';
import { openSqliteStores, type SqliteStoreOptions } from '../src/store/sqlite.ts';
import { providerStores } from '../src/stores.ts';

const dir = mkdtempSync(join(tmpdir(), 'mynagate-erasure-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fake clock: expiry follows it, so TTLs take no wall time. */
function fakeClock() {
  let t = Date.UTC(2026, 0, 15, 3, 0, 0);
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/**
 * An identity whose name is unique, with a kept certificate (`ekyc.keepCertificate`) long enough that its tail
 * lies in an overflow page; `markers` are what must leave the disk with it.
 */
function verifiedIdentity(grantId: string) {
  const name = `試験　${randomBytes(8).toString('hex')}`;
  const certificate = randomBytes(1800).toString('base64');
  const identity: VerifiedIdentity = {
    grantId,
    accountId: 'person-1',
    clientId: 'client-1',
    statementHash: randomBytes(32).toString('base64url'),
    identity: { name, address: '東京都千代田区千代田1-1', birthDate: '1990-01-02' },
    evidence: { issuer: 'CN=JPKI', serialNumber: '1234', signedAt: '2026-01-15T03:00:00Z' },
    verifiedAt: '2026-01-15T03:00:00Z',
    verificationProcess: randomBytes(8).toString('hex'),
    signed: { claims: ['name', 'address', 'birthdate'], details: [] },
    certificate,
  };
  return { identity, markers: { name: Buffer.from(name), certificateTail: Buffer.from(certificate.slice(-48)) } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (up to `ms`) for `condition`; whether it came. */
async function eventually(condition: () => boolean, ms = 5_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (condition()) return true;
  return condition();
}

describe('in memory, an expired identity is deleted without being read', () => {
  it('on the next write of another grant', async () => {
    const clock = fakeClock();
    const identities = memoryIdentityStore({ now: clock.now, sweepIntervalMs: 60_000 });
    await identities.put(verifiedIdentity('grant-a').identity, 30);
    clock.advance(31_000);
    await identities.put(verifiedIdentity('grant-b').identity, 3600);
    assert.equal(identities.size, 2, 'expired, but the last sweep was less than sweepIntervalMs ago');
    clock.advance(30_000);
    await identities.put(verifiedIdentity('grant-c').identity, 3600);
    assert.equal(identities.size, 2, 'grant-a is gone, never read');
    assert.equal(await identities.get('grant-a'), undefined);
    assert.ok(await identities.get('grant-b'));
  });

  it('with no write at all, within sweepIntervalMs', async () => {
    const clock = fakeClock();
    const identities = memoryIdentityStore({ now: clock.now, sweepIntervalMs: 10 });
    await identities.put(verifiedIdentity('grant-a').identity, 60);
    await identities.put(verifiedIdentity('grant-b').identity, 120);
    await sleep(50);
    assert.equal(identities.size, 2);
    clock.advance(60_000);
    assert.ok(await eventually(() => identities.size === 1, 1_000), 'grant-a is swept by the timer');
    clock.advance(60_000);
    assert.ok(await eventually(() => identities.size === 0, 1_000), 'and grant-b');
  });

  it('keeps at most maxEntries, dropping the oldest written', async () => {
    const identities = memoryIdentityStore({ maxEntries: 3 });
    for (const grantId of ['grant-a', 'grant-b', 'grant-c'])
      await identities.put(verifiedIdentity(grantId).identity, 60);
    // Rewritten, grant-a is the newest.
    await identities.put(verifiedIdentity('grant-a').identity, 60);
    await identities.put(verifiedIdentity('grant-d').identity, 60);
    assert.equal(identities.size, 3);
    assert.equal(await identities.get('grant-b'), undefined);
    assert.ok(await identities.get('grant-a'));
  });

  it('is the store identityStore() gives without an adapter', async () => {
    const clock = fakeClock();
    const identities = identityStore(undefined, clock.now) as MemoryIdentityStore;
    await identities.put(verifiedIdentity('grant-a').identity, 1);
    clock.advance(2_000);
    await identities.put(verifiedIdentity('grant-b').identity, 60);
    assert.equal(identities.size, 1);
  });

  it('rejects bad options', () => {
    assert.throws(() => memoryIdentityStore({ sweepIntervalMs: 0 }), TypeError);
    assert.throws(() => memoryIdentityStore({ maxEntries: 1.5 }), TypeError);
  });
});

describe('on SQLite, a deleted identity leaves the database file and the WAL file', () => {
  const files = (path: string) => [path, `${path}-wal`];
  const read = (path: string) => (existsSync(path) ? readFileSync(path) : Buffer.alloc(0));
  const onDisk = (path: string, marker: Buffer) => files(path).some((file) => read(file).includes(marker));

  function open(options: Partial<SqliteStoreOptions> = {}) {
    const path = join(dir, `${randomBytes(6).toString('hex')}.db`);
    const clock = fakeClock();
    const stores = openSqliteStores({ path, now: clock.now, sweepIntervalMs: 0, erasureIntervalMs: 50, ...options });
    const adapter = providerStores(stores).adapter!;
    // Other rows around it, as in a running provider.
    const grants = adapter('Grant');
    const busy = async (from: number) => {
      for (let i = from; i < from + 40; i++)
        await grants.upsert(`g${i}`, { accountId: `a${i}`, grantId: `g${i}`, pad: 'x'.repeat(300) }, 3600);
    };
    return { path, clock, stores, adapter, identities: identityStore(adapter), busy };
  }

  /** Stores an identity and waits for the checkpointer to copy it into the database file. */
  async function stored(s: ReturnType<typeof open>, grantId: string, ttlSeconds = 3600) {
    await s.busy(0);
    const { identity, markers } = verifiedIdentity(grantId);
    await s.identities.put(identity, ttlSeconds);
    await s.busy(100);
    assert.ok(
      await eventually(() => read(s.path).includes(markers.certificateTail)),
      'control: the identity is in the database file',
    );
    assert.ok(onDisk(s.path, markers.name), 'control: its name is on disk');
    return markers;
  }

  async function assertErased(path: string, markers: Record<string, Buffer>) {
    for (const [what, marker] of Object.entries(markers))
      assert.ok(await eventually(() => !onDisk(path, marker)), `the ${what} is off the disk`);
  }

  it('deleted (consent withdrawn, grant revoked by node-oidc-provider)', async () => {
    const s = open();
    try {
      const markers = await stored(s, 'grant-1');
      await s.identities.delete('grant-1');
      await assertErased(s.path, markers);
    } finally {
      await s.stores.close();
    }
  });

  it('revoked with its grant (a code redeemed twice)', async () => {
    const s = open();
    try {
      const markers = await stored(s, 'grant-1');
      await s.adapter(IDENTITY_MODEL).revokeByGrantId('grant-1');
      await assertErased(s.path, markers);
    } finally {
      await s.stores.close();
    }
  });

  it('expired and swept, never read', async () => {
    const s = open();
    try {
      const markers = await stored(s, 'grant-1', 600);
      s.clock.advance(601_000);
      assert.equal(s.stores.sweep(), 1);
      await assertErased(s.path, markers);
    } finally {
      await s.stores.close();
    }
  });

  it('replaced by a newer identity of the same grant', async () => {
    const s = open();
    try {
      const markers = await stored(s, 'grant-1');
      const newer = verifiedIdentity('grant-1');
      await s.identities.put(newer.identity, 3600);
      await assertErased(s.path, markers);
      assert.ok(onDisk(s.path, newer.markers.name), 'the newer one is kept');
    } finally {
      await s.stores.close();
    }
  });

  it('waits for another connection reading the file without stalling the event loop', async () => {
    const s = open({ busyTimeoutMs: 3_000 });
    const reader = new DatabaseSync(s.path);
    try {
      const markers = await stored(s, 'grant-1');
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM oidc').get();
      await s.identities.delete('grant-1');
      const started = performance.now();
      await sleep(200);
      assert.ok(performance.now() - started < 1_000, 'the event loop ran: the erasure did not wait for the reader');
      assert.ok(onDisk(s.path, markers.name), 'the reader holds the old frames');
      reader.exec('COMMIT');
      await assertErased(s.path, markers);
    } finally {
      if (reader.isTransaction) reader.exec('ROLLBACK');
      reader.close();
      await s.stores.close();
    }
  });

  it('at most one erasure per erasureIntervalMs, the first at once', async () => {
    const s = open({ erasureIntervalMs: 60_000, checkpointIntervalMs: 0 });
    try {
      await s.busy(0);
      const first = verifiedIdentity('grant-1');
      const second = verifiedIdentity('grant-2');
      await s.identities.put(first.identity, 3600);
      await s.identities.put(second.identity, 3600);
      await s.identities.delete('grant-1');
      await assertErased(s.path, first.markers);
      await s.identities.delete('grant-2');
      await sleep(200);
      assert.ok(onDisk(s.path, second.markers.name), 'the second waits for the interval');
      await s.stores.close();
      await assertErased(s.path, second.markers);
    } finally {
      await s.stores.close();
    }
  });

  it('rejects a bad erasureIntervalMs', () => {
    for (const erasureIntervalMs of [-1, 0.5, Number.NaN])
      assert.throws(() => openSqliteStores({ path: ':memory:', erasureIntervalMs }), TypeError);
  });

  it('other deletes leave the WAL file alone (no checkpoint on the login path)', async () => {
    const s = open();
    try {
      await s.busy(0);
      await s.identities.delete('no-such-grant');
      await s.adapter('Grant').destroy('g1');
      await s.adapter('Grant').revokeByGrantId('g2');
      await sleep(200);
      assert.ok(statSync(`${s.path}-wal`).size > 0);
    } finally {
      await s.stores.close();
    }
  });
});
