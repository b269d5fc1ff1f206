/**
 * Files of the test JPKI: durable atomic writes, and the lock that lets several processes (a `ca ocsp` server next
 * to `ca revoke`) change one directory without losing each other's changes.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestJpkiLockedError } from '../errors.ts';

/**
 * Writes `data` to `path` so that a reader or a crash sees the old file or the new one, never a part: a new file in
 * the same directory, fsync, rename over `path`, fsync of the directory (so the rename itself is durable).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.chmod(mode); // the umask may have narrowed it; keys must be exactly 0600
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dirname(path));
}

/** fsyncs a directory, making renames and unlinks in it durable. */
export async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Whether `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

// A lock file without a holder yet (created, not yet written) is young; one older than this was left by a crash.
const UNWRITTEN_STALE_MS = 5000;

/**
 * Runs `fn` holding the lock file `path`, waiting up to `timeoutMs` for another holder to finish.
 *
 * The lock is a file created exclusively (O_EXCL), naming its holder's pid and host. A lock whose holder process
 * has died (a crash, kill -9) is stale: it is removed, under a second short-lived lock (`<path>.break`) so that two
 * waiters never both remove it and one of them the other's fresh lock. A holder on another host cannot be checked
 * and counts as alive.
 *
 * @throws TestJpkiLockedError `ERR_TESTJPKI_LOCKED` when the lock stays held by a live process past `timeoutMs`.
 */
export async function withFileLock<T>(path: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const token = await acquire(path, timeoutMs);
  try {
    return await fn();
  } finally {
    await release(path, token);
  }
}

interface Holder {
  readonly pid?: number;
  readonly host?: string;
  readonly token?: string;
}

async function acquire(path: string, timeoutMs: number): Promise<string> {
  const token = randomBytes(8).toString('hex');
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    if (await tryCreate(path, `${JSON.stringify({ pid: process.pid, host: hostname(), token })}\n`)) return token;
    const seen = await readLock(path);
    if (seen === undefined) continue; // released meanwhile
    // A stale lock that cannot be broken yet (another breaker, alive, holds `<path>.break`) waits like a live one.
    if ((await isStale(path, seen.holder)) && (await breakStale(path, seen.text))) continue;
    if (Date.now() >= deadline) throw new TestJpkiLockedError(path, seen.holder.pid);
    // Jittered, short waits: a holder that takes the lock again at once (a server answering CRL requests back to
    // back) must not starve the others.
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 10);
  }
}

async function release(path: string, token: string): Promise<void> {
  const seen = await readLock(path);
  // Only our own lock: never one that another process took after ours was (wrongly) judged stale.
  if (seen?.holder.token === token) await unlink(path).catch(() => {});
}

/** Creates `path` exclusively with `text`; false when it exists. */
async function tryCreate(path: string, text: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await fh.writeFile(text);
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw e;
  }
  await fh.close();
  return true;
}

async function readLock(path: string): Promise<{ text: string; holder: Holder } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let holder: Holder = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) holder = parsed as Holder;
  } catch {}
  return { text, holder };
}

async function isStale(path: string, holder: Holder): Promise<boolean> {
  if (!Number.isInteger(holder.pid)) {
    // Not written yet, or cut short by a crash right after creation.
    return olderThan(path, UNWRITTEN_STALE_MS);
  }
  if (holder.host !== hostname()) return false;
  try {
    process.kill(holder.pid!, 0);
    return false;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes the lock at `path` if it still holds `text` (the stale holder we judged), under `<path>.break`; false when
 * another breaker holds that.
 */
async function breakStale(path: string, text: string): Promise<boolean> {
  const breaker = `${path}.break`;
  if (!(await tryCreate(breaker, `${JSON.stringify({ pid: process.pid, host: hostname() })}\n`))) {
    // Someone else is breaking it. A breaker is held for microseconds, but its holder may be stalled (a slow disk,
    // Ctrl+Z): a live one keeps it, since removing it would let a second breaker judge, and remove, the fresh lock
    // the first one's late unlink then deletes. Only a breaker whose holder died (or an unwritten one left by a
    // crash) is removed, and only while it is still the one judged.
    const seen = await readLock(breaker);
    if (seen !== undefined && (await isStale(breaker, seen.holder))) {
      const now = await readLock(breaker);
      if (now?.text === seen.text) await unlink(breaker).catch(() => {});
      return true;
    }
    return false;
  }
  try {
    const now = await readLock(path);
    if (now?.text === text) await unlink(path).catch(() => {});
  } finally {
    await unlink(breaker).catch(() => {});
  }
  return true;
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > ms;
  } catch {
    return false;
  }
}
