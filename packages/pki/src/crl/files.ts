/**
 * `crlFiles`: CRLs kept current from files that something else (the operator, a cron job fetching from J-LIS)
 * replaces. Each file is loaded at start; a timer then looks at every file each `intervalMs` and re-reads one whose
 * identity, size or times changed, and re-reads one that looks unchanged once as its CRL's nextUpdate nears and once
 * after it passed (a replacement on a file system with coarse timestamps can look unchanged). A CRL that fails to load, or is older than the one in use, never replaces it (`CrlSource.refresh`
 * keeps the current index); the failure goes to `onError` and the server goes on. Past nextUpdate without a fresh
 * CRL, status answers fail closed (`CrlSource.status`: `ERR_PKI_REVOCATION_UNKNOWN`, detail `stale`).
 */
import type { BigIntStats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { CrlFileError } from './errors.ts';
import type { CrlIndex, SerialInput } from './index.ts';
import type { IssuerCertificate } from './issuer.ts';
import { DEFAULT_CRL_SKEW_MS } from './load.ts';
import { CrlSource, type CrlStatus, type CrlStatusOptions } from './source.ts';

/** How often `crlFiles` looks at its files by default: once a minute. */
export const DEFAULT_CRL_FILES_INTERVAL_MS = 60_000;

/** How long before nextUpdate a file is re-read even when it looks unchanged (at least one interval). */
const DUE_MS = 5 * 60_000;

/** Options of {@link crlFiles}. */
export interface CrlFilesOptions {
  /** The CRL files (DER), each read at start and whenever it changes. */
  readonly files: readonly string[];
  /** The CA certificates whose CRLs are accepted (see `CrlSourceOptions.issuers`). */
  readonly issuers: readonly IssuerCertificate[];
  /** How often the files are looked at, ms; default 60 000. The timer never keeps the process alive. */
  readonly intervalMs?: number;
  /** The clock the CRLs are checked against; default the system clock. */
  readonly now?: () => Date;
  /**
   * Told of every CRL made current, at start too, with the file it came from (a file re-read without a newer CRL in
   * it is not told again). A throw from it is ignored.
   */
  readonly onLoad?: (file: string, index: CrlIndex) => void;
  /**
   * Told why a file read after start was not used: its error as `CrlSource.refresh` or the file system threw it
   * (`ERR_PKI_CRL_MALFORMED`, `ERR_PKI_CRL_ROLLBACK`, `ERR_PKI_CRL_EXPIRED`, `ENOENT`, …). The CRL in use stays.
   * A file that cannot be looked at is told once until it can again. A throw from it is ignored.
   */
  readonly onError?: (error: unknown, file: string) => void;
  /** Clock skew allowed around thisUpdate and nextUpdate, ms; default 60 000. */
  readonly skewMs?: number;
  /** Local freshness limit (see `CrlSourceOptions.maxAgeMs`). */
  readonly maxAgeMs?: number;
  /** Build indexes on a worker thread (default `true`). */
  readonly worker?: boolean;
}

/** CRLs from files, kept current: a status source (for `crlRevocation`) with a timer to stop. */
export interface CrlFiles {
  /** `CrlSource.status` over the CRLs currently held. */
  status(serial: SerialInput, issuerName: Uint8Array, now: Date, options?: CrlStatusOptions): CrlStatus;
  /** The current indexes of the CAs with this name (DER Name), for inspection. */
  current(issuerName: Uint8Array): readonly CrlIndex[];
  /** Looks at every file now, as the timer does; resolves when done. After `close()` it does nothing. */
  check(): Promise<void>;
  /** Stops the timer and waits for a look under way to end. The CRLs held keep answering. */
  close(): Promise<void>;
}

/** What is known of one file. */
interface Watched {
  readonly file: string;
  /** Device, inode, size, mtime and ctime (ns) when it was last read: a replaced or rewritten file changes these. */
  seen: string;
  /** The CRL last made current from this file. */
  held: CrlIndex | undefined;
  /** Which re-read the held CRL's nextUpdate already caused: before it (`due`) and after it (`past`). */
  reread: 'none' | 'due' | 'past';
  /** The last failure to look at the file, so a file that stays missing is told once. */
  unseen: string | undefined;
}

/**
 * Loads each file (in order), then keeps them current until `close()`.
 *
 * @example
 * ```ts
 * const crls = await crlFiles({
 *   files: ['/etc/mynagate/crl/auth.crl', '/etc/mynagate/crl/sign.crl'],
 *   issuers: [...anchors.auth, ...anchors.sign],
 *   onError: (e, file) => console.error(`${file}: ${(e as Error).message}`),
 * });
 * const verifier = createVerifier({ anchors, revocation: crlRevocation(crls) });
 * // on shutdown
 * await crls.close();
 * ```
 * @throws {TypeError} on bad options.
 * @throws {CrlFileError} `ERR_PKI_CRL_FILE` when a file cannot be read or its CRL is refused at start (`file`
 *   names it, `cause` says why); nothing keeps running then.
 */
export async function crlFiles(options: CrlFilesOptions): Promise<CrlFiles> {
  const { files, issuers, onLoad, onError, skewMs = DEFAULT_CRL_SKEW_MS } = options ?? ({} as CrlFilesOptions);
  if (!Array.isArray(files) || files.length === 0 || !files.every((f) => typeof f === 'string' && f !== ''))
    throw new TypeError('files must be a non-empty array of paths');
  const intervalMs = options.intervalMs ?? DEFAULT_CRL_FILES_INTERVAL_MS;
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1)
    throw new TypeError('intervalMs must be a whole number >= 1');
  const now = options.now ?? (() => new Date());
  if (typeof now !== 'function') throw new TypeError('now must be a function returning a Date');
  if (onLoad !== undefined && typeof onLoad !== 'function') throw new TypeError('onLoad must be a function');
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError('onError must be a function');
  const source = new CrlSource({
    issuers,
    skewMs,
    ...(options.maxAgeMs === undefined ? {} : { maxAgeMs: options.maxAgeMs }),
    ...(options.worker === undefined ? {} : { worker: options.worker }),
  });
  const tell = <A extends unknown[]>(f: ((...a: A) => void) | undefined, ...a: A) => {
    try {
      f?.(...a);
    } catch {
      // A reporting callback's failure must not stop the CRLs from being kept current.
    }
  };

  const watched: Watched[] = [];
  for (const file of files) {
    const w: Watched = { file, seen: '', held: undefined, reread: 'none', unseen: undefined };
    try {
      const read = await readSeen(file);
      w.seen = read.seen;
      w.held = await source.refresh(read.der, now());
    } catch (e) {
      throw new CrlFileError(file, e);
    }
    watched.push(w);
    tell(onLoad, file, w.held);
  }

  /** Looks at one file and re-reads it when it changed or its CRL's nextUpdate is near or past. */
  const look = async (w: Watched): Promise<void> => {
    let seen: string;
    try {
      seen = await signature(w.file);
    } catch (e) {
      const key = String((e as { code?: unknown }).code ?? (e as Error).message);
      if (w.unseen !== key) tell(onError, e, w.file);
      w.unseen = key;
      return;
    }
    w.unseen = undefined;
    const t = now();
    let reread: Watched['reread'] = 'none';
    if (w.held) {
      // A replacement that left these unchanged (a file system with coarse timestamps) is still found in time.
      const next = w.held.nextUpdate.getTime();
      if (t.getTime() > next + skewMs) reread = 'past';
      else if (t.getTime() >= next - Math.max(DUE_MS, intervalMs)) reread = 'due';
    }
    const changed = seen !== w.seen;
    if (!changed && (reread === 'none' || reread === w.reread)) return;
    w.reread = reread;
    // Whatever comes of it, the file is not read again until it changes: a bad file is told once.
    let read: { der: Uint8Array; seen: string };
    try {
      read = await readSeen(w.file);
    } catch (e) {
      w.seen = seen;
      tell(onError, e, w.file);
      return;
    }
    w.seen = read.seen;
    let index: CrlIndex;
    try {
      index = await source.refresh(read.der, t);
    } catch (e) {
      tell(onError, e, w.file);
      return;
    }
    const same = w.held !== undefined && sameCrl(index, w.held);
    w.held = index;
    if (!same) {
      w.reread = 'none';
      tell(onLoad, w.file, index);
    }
  };

  let closed = false;
  let running: Promise<void> | undefined;
  /** One look at every file at a time: a second waits for the first, then looks again (the files may have moved). */
  const lookAll = async (): Promise<void> => {
    while (running) await running;
    const run = (async () => {
      for (const w of watched) {
        try {
          await look(w);
        } catch (e) {
          // Only a thrown `now` gets here; the timer must not turn it into an unhandled rejection.
          tell(onError, e, w.file);
        }
      }
    })();
    running = run;
    try {
      await run;
    } finally {
      if (running === run) running = undefined;
    }
  };
  const timer = setInterval(() => {
    // A look still under way (a large CRL on a slow disk) is not queued behind again.
    if (running === undefined) void lookAll();
  }, intervalMs);
  timer.unref();

  return Object.freeze({
    status: (serial: SerialInput, issuerName: Uint8Array, at: Date, o?: CrlStatusOptions) =>
      source.status(serial, issuerName, at, o),
    current: (issuerName: Uint8Array) => source.current(issuerName),
    check: () => (closed ? Promise.resolve() : lookAll()),
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
    },
  });
}

/** What changes when a file is replaced (a new inode) or rewritten in place (size, mtime, ctime). */
async function signature(file: string): Promise<string> {
  return seenOf(await stat(file, { bigint: true }));
}

/**
 * The file's bytes and the {@link signature} of exactly the file read (one open file): a file rewritten while it is
 * read differs at the next look, and is read again.
 */
async function readSeen(file: string): Promise<{ der: Uint8Array; seen: string }> {
  const handle = await open(file, 'r');
  try {
    const seen = seenOf(await handle.stat({ bigint: true }));
    return { der: await handle.readFile(), seen };
  } finally {
    await handle.close();
  }
}

function seenOf(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** The same CRL read again: number, issue time and entries alike. */
function sameCrl(a: CrlIndex, b: CrlIndex): boolean {
  return a.crlNumber === b.crlNumber && a.thisUpdate.getTime() === b.thisUpdate.getTime() && a.entries === b.entries;
}
