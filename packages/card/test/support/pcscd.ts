/**
 * pcscd for tests: make sure it runs, find the vpcd readers, and insert a virtual card into one (served through the
 * vpcd bridge by a worker thread) and take it out again, each time waiting until pcscd has seen the change, so test
 * files can run one after another on the same readers.
 */
import { spawn } from 'node:child_process';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { CardPcscUnavailableError, listReaders, waitForCard, waitForRemoval } from '../../src/pcsc.ts';
import { VirtualCard } from '../../src/virtual/card.ts';
import { attachToVpcd, VPCD_PORT } from '../../src/virtual/vpcd.ts';
import { detectSystem } from './system.ts';

/** vpcd names its readers `Virtual PCD <reader index> <slot>` in hex; slot n listens on `VPCD_PORT + n`. */
const VPCD_READER = /^Virtual PCD [0-9A-F]{2} ([0-9A-F]{2})$/i;

let ready: Promise<string | undefined> | undefined;

/**
 * Makes sure pcscd answers and has a vpcd reader. Starts `pcscd --auto-exit` when it is not running and this
 * process is root (CI starts pcscd itself; `--auto-exit` keeps a daemon started here from outliving its use by
 * more than a minute). Resolves with a problem description, or `undefined` when ready.
 */
export function ensurePcscd(): Promise<string | undefined> {
  ready ??= (async () => {
    if (await pcscdAnswers())
      return vpcdReaders().then((r) => (r.size ? undefined : 'pcscd runs without a vpcd reader'));
    const pcscd = detectSystem().pcscd;
    if (!pcscd) return 'pcscd is not installed';
    if (process.getuid?.() !== 0) return 'pcscd is not running and only root may start it here';
    // pcscd forks into the background; the foreground process exits once the daemon is set up.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(pcscd, ['--auto-exit'], { stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', () => resolve());
    });
    for (let i = 0; i < 50; i++) {
      if (await pcscdAnswers()) {
        return vpcdReaders().then((r) => (r.size ? undefined : 'pcscd started without a vpcd reader'));
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return 'pcscd was started but does not answer';
  })();
  return ready;
}

async function pcscdAnswers(): Promise<boolean> {
  try {
    await listReaders();
    return true;
  } catch (e) {
    if (e instanceof CardPcscUnavailableError) return false;
    throw e;
  }
}

/** vpcd reader names by slot number. */
export async function vpcdReaders(): Promise<Map<number, string>> {
  const readers = new Map<number, string>();
  for (const r of await listReaders()) {
    const m = VPCD_READER.exec(r.name);
    if (m && !readers.has(parseInt(m[1]!, 16))) readers.set(parseInt(m[1]!, 16), r.name);
  }
  return readers;
}

/** A virtual card in a vpcd reader. */
export interface InsertedCard {
  /** The PC/SC reader name, e.g. `Virtual PCD 00 00`. */
  readonly reader: string;
  /** Takes the card out and waits until pcscd reports the reader empty. Idempotent. */
  remove(): Promise<void>;
}

/** Options of {@link insertCardFile}. */
export interface InsertOptions {
  /** vpcd slot; default 0. */
  readonly slot?: number;
  /** How long to wait for pcscd to see the card come or go; default 10 s. */
  readonly timeoutMs?: number;
}

/**
 * Serves the card stored in `cardFile` (PIN counters persist in the file) in a vpcd slot and resolves once pcscd
 * reports it present. The slot must be empty: vpcd queues a second connection behind the first, so a card left in
 * the slot would answer instead of this one.
 *
 * The card runs in a worker thread, not on this thread: pcscd polls the card (and resets it) while holding the
 * reader's lock, and the PC/SC binding makes some calls (`disconnect`) synchronously, so a client on the thread
 * that serves the card can deadlock with pcscd.
 */
export async function insertCardFile(cardFile: string, options: InsertOptions = {}): Promise<InsertedCard> {
  const { slot = 0, timeoutMs = 10_000 } = options;
  const reader = (await vpcdReaders()).get(slot);
  if (reader === undefined) throw new Error(`pcscd has no vpcd reader for slot ${slot}`);
  await waitForRemoval({ reader, timeoutMs }).catch((e: unknown) => {
    throw new Error(`vpcd slot ${slot} (${reader}) still holds a card`, { cause: e });
  });
  const data: ServeCard = { cardFile, port: VPCD_PORT + slot };
  const worker = new Worker(new URL(import.meta.url), { workerData: { [SERVE_CARD]: data } });
  const exited = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
  exited.catch(() => undefined); // observed below; never an unhandled rejection
  const stop = async () => {
    worker.postMessage('close');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
    await worker.terminate();
  };
  try {
    await Promise.race([
      waitForCard({ reader, timeoutMs }),
      exited.then(() => Promise.reject(new Error('the vpcd card worker stopped before pcscd saw the card'))),
    ]);
  } catch (e) {
    await stop();
    throw e;
  }
  let removed: Promise<void> | undefined;
  return {
    reader,
    remove: () =>
      (removed ??= (async () => {
        await stop();
        await waitForRemoval({ reader, timeoutMs });
      })()),
  };
}

// ---- the worker side ----

const SERVE_CARD = 'mynagateServeCardOnVpcd';

interface ServeCard {
  readonly cardFile: string;
  readonly port: number;
}

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[SERVE_CARD]) {
  const { cardFile, port } = (workerData as Record<string, ServeCard>)[SERVE_CARD]!;
  const port_ = parentPort;
  const attachment = attachToVpcd(VirtualCard.open(cardFile), { port });
  port_.on('message', (m) => {
    if (m === 'close') void attachment.close().then(() => port_.close());
  });
}
