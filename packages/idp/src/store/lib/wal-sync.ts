/**
 * Group commit for a SQLite file in WAL mode, off the event loop. The connection commits with `synchronous=NORMAL`
 * (the WAL frames are written to the OS, not fsynced), and a caller is answered only after an `fdatasync` of the WAL
 * file, run on libuv's thread pool, covers its commit. Durability is the same as `synchronous=FULL` (nothing is
 * acknowledged before it is on disk; SQLite itself syncs the WAL before each checkpoint), but the event loop never
 * blocks on the disk (`node:sqlite` is synchronous: a FULL commit would), and the commits made while one sync runs
 * share the next one.
 */
import { closeSync, fdatasync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/** One WAL file's syncs. */
export interface WalSync {
  /** Notes that a commit went to the WAL; returns its number (1, 2, …), for {@link durable}. */
  committed(): number;
  /**
   * Resolves once every commit noted so far (or up to commit number `upTo`) is on disk; rejects (from then on) if
   * a sync ever failed.
   */
  durable(upTo?: number): Promise<void>;
  /** Syncs what is noted, then releases the file. */
  close(): Promise<void>;
}

/**
 * Opens the WAL file `<dbPath>-wal` (it must exist: open it after the first write) and fsyncs its directory once, so
 * the file's own name is durable too.
 */
export function walSync(
  dbPath: string,
  options: {
    /** The sync; a seam for tests. Default `fs.fdatasync` (on the thread pool). */
    readonly datasync?: (fd: number, done: (e: Error | null) => void) => void;
  } = {},
): WalSync {
  const datasync = options.datasync ?? fdatasync;
  const fd = openSync(`${dbPath}-wal`, 'r');
  try {
    const dir = openSync(dirname(dbPath), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let written = 0;
  let synced = 0;
  let running: Promise<void> | undefined;
  // After a failed fsync the kernel may have dropped the dirty pages: what is on disk is unknown, so fail closed.
  let failure: Error | undefined;
  let closed = false;

  const syncOnce = (): Promise<void> => {
    const upTo = written;
    return new Promise((resolve, reject) =>
      datasync(fd, (e) => {
        if (e) {
          failure ??= e;
          reject(e);
        } else {
          synced = Math.max(synced, upTo);
          resolve();
        }
      }),
    );
  };

  return {
    committed() {
      return ++written;
    },
    async durable(upTo = written) {
      const target = Math.min(upTo, written);
      while (synced < target) {
        if (failure) throw failure;
        if (closed) throw new Error('WAL file closed');
        // A sync already running may have started before this commit; then the loop starts the next one, which
        // covers every commit made meanwhile.
        running ??= syncOnce().finally(() => (running = undefined));
        await running;
      }
    },
    async close() {
      if (closed) return;
      // Commits already made are answered as usual: one last sync covers them.
      await this.durable().catch(() => {});
      closed = true;
      closeSync(fd);
    },
  };
}
