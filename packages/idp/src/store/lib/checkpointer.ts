/**
 * WAL checkpoints off the event loop. A checkpoint copies the WAL's pages into the database file and fsyncs both;
 * run by the connection that commits (SQLite's default, every 1000 pages: several times a second under login load),
 * it stalls the event loop for milliseconds, and for much longer on a busy disk. A worker thread with its own
 * connections checkpoints every `intervalMs` instead (PASSIVE: it never waits for, nor blocks, the writer); the
 * writer then restarts the WAL from the beginning by itself once it is copied.
 */
import { Worker } from 'node:worker_threads';

// CommonJS source for `new Worker(…, { eval: true })`: no file to ship or resolve.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const dbs = workerData.paths.map((path) => {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA busy_timeout = ' + workerData.busyTimeoutMs);
  return db;
});
const checkpoints = dbs.map((db) => db.prepare('PRAGMA wal_checkpoint(PASSIVE)'));
const timer = setInterval(() => {
  for (const c of checkpoints) {
    try {
      c.get();
    } catch {
      // Busy or locked: the next round retries, and the writer's own (rarer) checkpoints remain as a fallback.
    }
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  for (const db of dbs) db.close();
  parentPort.close();
});
`;

/** A running checkpointer. */
export interface Checkpointer {
  /** Stops the worker and closes its connections. */
  close(): Promise<void>;
}

/**
 * Starts checkpointing the WAL files of `paths` (databases already in WAL mode) every `intervalMs`.
 * `onExit` is called if the worker stops on its own (then the writers' own checkpoints must take over).
 */
export function startCheckpointer(
  paths: readonly string[],
  options: { readonly intervalMs: number; readonly busyTimeoutMs: number; readonly onExit: () => void },
): Checkpointer {
  const worker = new Worker(SOURCE, {
    eval: true,
    workerData: { paths, intervalMs: options.intervalMs, busyTimeoutMs: options.busyTimeoutMs },
  });
  worker.unref();
  let closing = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', () => {});
  void exited.then(() => {
    if (!closing) options.onExit();
  });
  return {
    async close() {
      if (closing) return exited;
      closing = true;
      // Referenced again, so the process waits for the connections to close.
      worker.ref();
      worker.postMessage('close');
      await exited;
    },
  };
}
