/**
 * startAuditAnchoring: the running provider's anchors of the audit head, one file per anchored row, written once,
 * nothing while the head stands still, and rounds that go on after a failed one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateSigningKey,
  publicJwks,
  rotateKeys,
  signAuditAnchor,
  startAuditAnchoring,
  verifyAuditAnchor,
  type PrivateJwks,
} from '@mynagate/idp';

const ISSUER = 'https://id.example.jp';
const jwks = { keys: [generateSigningKey()] };

async function setup() {
  const root = await mkdtemp(join(tmpdir(), 'mynagate-anchoring-'));
  let head: { seq: number; hash: string } | undefined;
  const anchored: number[] = [];
  const errors: unknown[] = [];
  const options = {
    audit: { auditHead: async () => head },
    jwks,
    issuer: ISSUER,
    dir: join(root, 'anchors'),
    everyMs: 1000,
    onAnchor: (_file: string, seq: number) => anchored.push(seq),
    onError: (e: unknown) => errors.push(e),
  };
  return {
    root,
    options,
    anchored,
    errors,
    setHead: (seq: number) => (head = { seq, hash: seq.toString(16).padStart(64, '0') }),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

test('anchors a moved head once, in a read-only file of its own that verifies; nothing while it stands still', async () => {
  const s = await setup();
  const a = startAuditAnchoring(s.options);
  try {
    assert.equal(await a.anchorNow(), undefined, 'an empty audit has no head');
    s.setHead(3);
    const file = await a.anchorNow();
    assert.equal(file, join(s.options.dir, 'audit-3.jwt'));
    const anchor = await verifyAuditAnchor(await readFile(file!, 'utf8'), jwks, ISSUER);
    assert.equal(anchor.seq, 3);
    assert.equal(anchor.hash, '3'.padStart(64, '0'));
    assert.equal((await stat(file!)).mode & 0o777, 0o444);
    assert.equal(await a.anchorNow(), undefined, 'the head did not move');
    s.setHead(5);
    assert.equal(await a.anchorNow(), join(s.options.dir, 'audit-5.jwt'));
    assert.deepEqual(s.anchored, [3, 5]);
  } finally {
    await a.stop();
    await s.remove();
  }
});

test('an anchor already written for that row (another process sharing the audit) is kept as it is', async () => {
  const s = await setup();
  const a = startAuditAnchoring(s.options);
  try {
    s.setHead(1);
    await a.anchorNow();
    await rm(join(s.options.dir, 'audit-1.jwt'), { force: true });
    await writeFile(join(s.options.dir, 'audit-2.jwt'), 'theirs\n');
    s.setHead(2);
    assert.equal(await a.anchorNow(), undefined);
    assert.equal(await readFile(join(s.options.dir, 'audit-2.jwt'), 'utf8'), 'theirs\n');
    assert.deepEqual(await readdir(s.options.dir), ['audit-2.jwt']);
  } finally {
    await a.stop();
    await s.remove();
  }
});

test('a failed round rejects (the timer tells onError) and the next round anchors; stop anchors the last head', async () => {
  const s = await setup();
  // The anchor folder's place is taken by a file: mkdir fails.
  await writeFile(s.options.dir, 'not a folder');
  const a = startAuditAnchoring(s.options);
  s.setHead(7);
  await assert.rejects(a.anchorNow(), { code: 'EEXIST' });
  await rm(s.options.dir);
  assert.equal(await a.anchorNow(), join(s.options.dir, 'audit-7.jwt'));
  s.setHead(8);
  await a.stop();
  assert.deepEqual(s.anchored, [7, 8]);
  await s.remove();
});

test('the timer anchors on its own every everyMs, and reports a failed round to onError', async () => {
  const s = await setup();
  await writeFile(s.options.dir, 'not a folder');
  const a = startAuditAnchoring(s.options);
  const until = async (done: () => boolean) => {
    for (const deadline = Date.now() + 10_000; !done() && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 50));
  };
  try {
    s.setHead(1);
    await until(() => s.errors.length > 0);
    assert.equal((s.errors[0] as NodeJS.ErrnoException).code, 'EEXIST');
    assert.deepEqual(s.anchored, []);
    await rm(s.options.dir);
    await until(() => s.anchored.length > 0);
    assert.deepEqual(s.anchored, [1]);
  } finally {
    await a.stop();
    await s.remove();
  }
});

test('options: an interval under one second, or a bad JWKS, is a TypeError', () => {
  const base = { audit: { auditHead: async () => undefined }, jwks, issuer: ISSUER, dir: tmpdir() };
  assert.throws(() => startAuditAnchoring({ ...base, everyMs: 999 }), TypeError);
  assert.throws(() => startAuditAnchoring({ ...base, everyMs: 1000, jwks: { keys: [] } }), TypeError);
});

test('an anchor signed with a key rotated out verifies with its public half as a retired key, and only so', async () => {
  let keys: PrivateJwks = { keys: [generateSigningKey()] };
  const anchor = await signAuditAnchor({ seq: 3, hash: 'c'.repeat(64) }, keys, ISSUER);
  const [retired] = publicJwks(keys).keys;
  for (let i = 0; i < 3; i++) keys = rotateKeys(keys); // keeps two previous keys: the first is gone now
  await assert.rejects(verifyAuditAnchor(anchor, keys, ISSUER), {
    code: 'ERR_STORE_AUDIT_ANCHOR',
    message: new RegExp(`signed with key "${retired!['kid']}", which is neither in its keys nor among the retired`),
  });
  const anchored = await verifyAuditAnchor(anchor, keys, ISSUER, { retiredKeys: [retired!] });
  assert.deepEqual([anchored.seq, anchored.hash], [3, 'c'.repeat(64)]);
  // A retired key's kid on another key's signature: found, and refused by the signature.
  const other = { keys: [{ ...generateSigningKey(), kid: String(retired!['kid']) }] };
  const forged = await signAuditAnchor({ seq: 3, hash: 'c'.repeat(64) }, other, ISSUER);
  await assert.rejects(verifyAuditAnchor(forged, keys, ISSUER, { retiredKeys: [retired!] }), {
    code: 'ERR_STORE_AUDIT_ANCHOR',
    message: /signature verification failed/,
  });
  await assert.rejects(
    verifyAuditAnchor(anchor, keys, ISSUER, { retiredKeys: [{ ...keys.keys[0]! }] }),
    TypeError,
    'a private key is not a retired public key',
  );
});

test('a P-256 key that names no alg (accepted by the keys check) signs anchors too', async () => {
  const { alg: _, ...bare } = generateSigningKey() as PrivateJwks['keys'][number] & { alg?: string };
  const keys = { keys: [bare] } as PrivateJwks;
  const anchor = await signAuditAnchor({ seq: 5, hash: 'd'.repeat(64) }, keys, ISSUER);
  const anchored = await verifyAuditAnchor(anchor, keys, ISSUER);
  assert.deepEqual([anchored.seq, anchored.hash], [5, 'd'.repeat(64)]);
});
