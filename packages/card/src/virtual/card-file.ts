/**
 * The virtual card file: one JSON document holding a test card's keys, certificates, text-AP data and PIN state.
 *
 * PINs are stored as salted scrypt hashes, never in clear. PIN counters live in the file and every change is
 * written durably (temporary file, fsync, rename, fsync of the directory) before the card answers, so a PIN blocked
 * in one run stays blocked in the next, even after a crash. The file is created owner-only (0600): it holds private
 * keys, test keys though they are.
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { CardFileInvalidError } from '../errors.ts';
import { MAX_TRIES } from '../layout.ts';
import { isValidMyNumber } from '../my-number.ts';
import { isValidPinFormat, upperAscii } from '../pin-format.ts';
import { DEFAULT_SCRYPT, hashPin, type PinHash, type ScryptParams } from './pin-hash.ts';
import type { VirtualCardSpec } from './spec.ts';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** The `format` marker of a card file. */
export const CARD_FILE_FORMAT = 'mynagate-virtual-jpki-card/1';

/**
 * The PIN objects of the virtual card: JPKI auth (0018) and sign (001B); text AP PIN (0011), PIN A (0014), PIN B
 * (0015); visual AP PIN A (0013) and PIN B (0012).
 */
export type PinId = 'auth' | 'sign' | 'text' | 'textA' | 'textB' | 'visualA' | 'visualB';

/** A PIN object as stored: its hash and its retry counter. */
export interface StoredPin extends PinHash {
  readonly maxTries: number;
  triesLeft: number;
}

/** The card file, as JSON. Binary values are base64. */
export interface CardFile {
  readonly format: typeof CARD_FILE_FORMAT;
  /** Always true: a card file is a test card and says so. */
  readonly test: true;
  readonly profile: 'card' | 'android';
  readonly scrypt: ScryptParams;
  /** PKCS#8 DER. */
  readonly keys: { readonly auth: string; readonly sign: string };
  /** DER. */
  readonly certificates: {
    readonly auth: string;
    readonly authCa: string;
    readonly sign: string;
    readonly signCa: string;
  };
  readonly text: VirtualCardSpec['text'];
  readonly pins: Record<PinId, StoredPin>;
}

/** Options of {@link writeCardFile}. */
export interface WriteCardFileOptions {
  /**
   * scrypt N (a power of two, 2^10..2^20). Default 2^14. Tests may lower it to make cards quick to create; the value
   * is stored in the file.
   */
  readonly scryptCost?: number;
}

/**
 * Writes a new card file for `spec`, owner-only (0600), replacing any file at `path` atomically.
 *
 * @example await writeCardFile(join(dir, 'card.json'), spec)
 * @throws TypeError when the spec breaks a rule (PIN formats of spec §5, a check-digit-valid My Number, YYYYMMDD,
 *   PKCS#8 RSA keys, certificates starting `30 82`).
 */
export async function writeCardFile(
  path: string,
  spec: VirtualCardSpec,
  options: WriteCardFileOptions = {},
): Promise<void> {
  saveCardFile(path, await cardFileFromSpec(spec, options));
}

/** Builds the card file content for `spec` (hashing its PINs). See {@link writeCardFile} for the rules. */
export async function cardFileFromSpec(spec: VirtualCardSpec, options: WriteCardFileOptions = {}): Promise<CardFile> {
  const scrypt = { ...DEFAULT_SCRYPT, N: options.scryptCost ?? DEFAULT_SCRYPT.N };
  if (!validScrypt(scrypt)) throw new TypeError('scryptCost must be a power of two in 2^10..2^20');
  const signPassword = upperAscii(spec.signPassword);
  const textPin = spec.textPin ?? spec.authPin;
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new TypeError(`VirtualCardSpec: ${what}`);
  };
  check(spec.profile === 'card' || spec.profile === 'android', 'profile must be card or android');
  check(isValidPinFormat('auth', spec.authPin), 'authPin must be 4 digits');
  check(isValidPinFormat('sign', signPassword), 'signPassword must be 6-16 A-Z0-9 with a letter and a digit');
  check(isValidPinFormat('text', textPin), 'textPin must be 4 digits');
  check(spec.textPinB === undefined || /^[0-9]{14}$/.test(spec.textPinB), 'textPinB must be 14 digits');
  check(isValidMyNumber(spec.text.myNumber), 'text.myNumber must be a check-digit-valid 12-digit number');
  check(/^[0-9]{8}$/.test(spec.text.birthDate), 'text.birthDate must be YYYYMMDD');
  check(['0', '1', '2', '9'].includes(spec.text.sex), 'text.sex must be 0, 1, 2 or 9');
  for (const key of [spec.authKey, spec.signKey]) check(isRsaPkcs8(key), 'keys must be PKCS#8 RSA private keys');
  for (const c of [spec.authCert, spec.authCaCert, spec.signCert, spec.signCaCert]) {
    check(c[0] === 0x30 && c[1] === 0x82, 'certificates must be DER starting 30 82 (spec §3.2)');
  }
  const ascii = (s: string) => new TextEncoder().encode(s);
  const pin = async (value: string | undefined, maxTries: number): Promise<StoredPin> => {
    const hash = value === undefined ? { salt: '', hash: null } : await hashPin(ascii(value), scrypt);
    return { ...hash, maxTries, triesLeft: maxTries };
  };
  const [auth, sign, text, textA, textB, visualA, visualB] = await Promise.all([
    pin(spec.authPin, MAX_TRIES.auth),
    pin(signPassword, MAX_TRIES.sign),
    pin(textPin, MAX_TRIES.text),
    pin(spec.text.myNumber, MAX_TRIES.text),
    pin(spec.textPinB, MAX_TRIES.text),
    pin(spec.text.myNumber, MAX_TRIES.text),
    pin(spec.textPinB, MAX_TRIES.text),
  ]);
  return {
    format: CARD_FILE_FORMAT,
    test: true,
    profile: spec.profile,
    scrypt,
    keys: { auth: b64(spec.authKey), sign: b64(spec.signKey) },
    certificates: {
      auth: b64(spec.authCert),
      authCa: b64(spec.authCaCert),
      sign: b64(spec.signCert),
      signCa: b64(spec.signCaCert),
    },
    text: { ...spec.text },
    pins: { auth: auth!, sign: sign!, text: text!, textA: textA!, textB: textB!, visualA: visualA!, visualB: visualB! },
  };
}

/**
 * A lock whose holder cannot be checked (on another host) and older than this was abandoned: a PIN check holds it
 * well under a second.
 */
const STALE_LOCK_MS = 10_000;
/**
 * A lock whose holder on this host is alive by its pid is broken only past this age: that process may be stalled (a
 * slow disk, a CLI stopped with Ctrl+Z) and must keep its lock, but the pid may also belong to a new process since the
 * holder died (pid reuse), which would otherwise hold the card locked for good.
 */
const STALE_LIVE_LOCK_MS = 300_000;
const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `fn` holding the card file's lock, waiting up to `timeoutMs` for another process: a PIN check reads the
 * counter, writes it, compares and writes it again, and two processes doing that at once each counted one wrong try
 * from the same value (three wrong PINs at once left two tries). Synchronous, as the card is.
 *
 * The lock is the directory `<path>.lock.d` holding one empty entry that names its holder (`pid.token.host`). It is
 * taken by renaming a prepared directory, entry included, onto that name, which rename(2) does only when the name is
 * free or an empty directory: a lock never exists without its holder's name. A lock whose holder process has died
 * (a crash, kill -9) is broken at once, so a crashed holder does not turn every PIN check into 6581; a live one on this
 * host is waited for (past {@link STALE_LIVE_LOCK_MS}, its pid may be another process's); one on another host, which
 * cannot be checked, is broken after {@link STALE_LOCK_MS}. Breaking unlinks that holder's own entry and then removes
 * the directory only if it is empty (rmdir(2)), so a breaker that acts late, after the lock was broken and taken
 * again, finds no entry of the name it judged and cannot remove the new holder's lock (the race of stat-then-unlink
 * on one lock file, which could delete a lock another process had just taken).
 *
 * @throws Error when the lock stays held past `timeoutMs` (the card then answers 6581).
 */
export function withCardFileLock<T>(path: string, fn: () => T, timeoutMs = 5_000): T {
  const lock = `${path}.lock.d`;
  const entry = `${process.pid}.${randomUUID()}.${encodeURIComponent(hostname())}`;
  const ready = `${path}.lock.${randomUUID()}.new`;
  const deadline = Date.now() + timeoutMs;
  try {
    mkdirSync(ready, { mode: 0o700 });
    closeSync(openSync(join(ready, entry), 'wx', 0o600));
    for (;;) {
      // The entry's time is when the lock is taken (its age judges a holder that cannot be checked), not prepared.
      utimesSync(join(ready, entry), new Date(), new Date());
      if (renamedOnto(ready, lock)) break;
      if (breakAbandoned(lock)) continue;
      if (Date.now() > deadline) throw new Error(`the card file is locked by another process: ${lock}`);
      Atomics.wait(nap, 0, 0, 2);
    }
  } catch (e) {
    rmSync(ready, { recursive: true, force: true });
    throw e;
  }
  try {
    return fn();
  } finally {
    removeEntry(lock, entry);
  }
}

/** Renames the directory `from` onto `to`; false when `to` is a directory with an entry (a held lock). */
function renamedOnto(from: string, to: string): boolean {
  try {
    renameSync(from, to);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw e;
  }
}

/** Breaks the lock `lock` if its holder is gone; true when it may be free now (try again at once). */
function breakAbandoned(lock: string): boolean {
  let entries: string[];
  try {
    entries = readdirSync(lock);
  } catch {
    return true; // released meanwhile
  }
  let free = true;
  for (const entry of entries) {
    if (abandoned(lock, entry)) removeEntry(lock, entry);
    else free = false;
  }
  return free;
}

/**
 * Whether the holder named `entry` is gone: on this host, its process has died (or it has held the lock past
 * {@link STALE_LIVE_LOCK_MS}); elsewhere, its entry is older than {@link STALE_LOCK_MS}. A live holder on this host
 * keeps its lock however long it takes: breaking it would let two processes count from one counter value.
 */
function abandoned(lock: string, entry: string): boolean {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(join(lock, entry)).mtimeMs;
  } catch {
    return false; // already removed: nothing to break
  }
  const age = Date.now() - mtimeMs;
  const holder = /^([1-9][0-9]*)\.[0-9a-f-]+\.(.+)$/.exec(entry);
  if (holder === null || holder[2] !== encodeURIComponent(hostname())) return age > STALE_LOCK_MS;
  try {
    process.kill(Number(holder[1]), 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
    // EPERM: alive, another user's.
  }
  return age > STALE_LIVE_LOCK_MS;
}

/**
 * Removes the holder `entry` from the lock, then the lock if that left it empty. Never another holder's lock: the
 * entry names one holder only, and rmdir(2) fails on a directory that a new holder has renamed into place.
 */
function removeEntry(lock: string, entry: string): void {
  try {
    unlinkSync(join(lock, entry));
  } catch {
    // Already removed, by a breaker that judged this holder gone.
  }
  try {
    rmdirSync(lock);
  } catch {
    // Taken again (ENOTEMPTY) or already removed (ENOENT).
  }
}

/**
 * Reads and validates a card file.
 *
 * @throws CardFileInvalidError (`ERR_CARD_FILE_INVALID`) when it is unreadable, not JSON, not marked as a MynaGate
 *   test card, or has a field of the wrong shape.
 */
export function readCardFile(path: string): CardFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new CardFileInvalidError('cannot read it as JSON', { cause });
  }
  return parseCardFile(json);
}

/** Validates parsed card-file JSON. @throws CardFileInvalidError (`ERR_CARD_FILE_INVALID`). */
export function parseCardFile(json: unknown): CardFile {
  const fail = (what: string): never => {
    throw new CardFileInvalidError(what);
  };
  const obj = (v: unknown, what: string) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(what);
  const b64 = (v: unknown, what: string) =>
    typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0 ? v : fail(`${what} is not base64`);
  const root = obj(json, 'not a JSON object');
  if (root.format !== CARD_FILE_FORMAT) fail(`format is not ${CARD_FILE_FORMAT}`);
  if (root.test !== true) fail('not marked "test": true');
  if (root.profile !== 'card' && root.profile !== 'android') fail('profile');
  const scrypt = obj(root.scrypt, 'scrypt');
  if (!validScrypt(scrypt)) fail('scrypt parameters');
  const keys = obj(root.keys, 'keys');
  for (const k of ['auth', 'sign'])
    if (!isRsaPkcs8(Buffer.from(b64(keys[k], `keys.${k}`), 'base64'))) fail(`keys.${k}`);
  const certificates = obj(root.certificates, 'certificates');
  for (const c of ['auth', 'authCa', 'sign', 'signCa']) {
    const der = Buffer.from(b64(certificates[c], `certificates.${c}`), 'base64');
    if (der[0] !== 0x30 || der[1] !== 0x82) fail(`certificates.${c} does not start 30 82`);
  }
  const text = obj(root.text, 'text');
  for (const f of ['myNumber', 'name', 'address', 'birthDate', 'sex'])
    if (typeof text[f] !== 'string') fail(`text.${f}`);
  if (!isValidMyNumber(text.myNumber as string)) fail('text.myNumber');
  if (!/^[0-9]{8}$/.test(text.birthDate as string)) fail('text.birthDate');
  if (!['0', '1', '2', '9'].includes(text.sex as string)) fail('text.sex');
  const pins = obj(root.pins, 'pins');
  for (const id of ['auth', 'sign', 'text', 'textA', 'textB', 'visualA', 'visualB']) {
    const p = obj(pins[id], `pins.${id}`);
    b64(p.salt, `pins.${id}.salt`);
    if (p.hash !== null) b64(p.hash, `pins.${id}.hash`);
    if (!intIn(p.maxTries, 1, 15)) fail(`pins.${id}.maxTries`);
    if (!intIn(p.triesLeft, 0, p.maxTries as number)) fail(`pins.${id}.triesLeft`);
  }
  return json as CardFile;
}

/**
 * Writes `file` to `path` durably and atomically: a new owner-only temporary file, fsync, rename over `path`, fsync
 * of the directory. Synchronous, because the card's `process()` is, and the answer must wait for the write.
 */
export function saveCardFile(path: string, file: CardFile): void {
  const tmp = `${path}.${randomUUID()}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw e;
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

function validScrypt({ N, r, p }: { N?: unknown; r?: unknown; p?: unknown }): boolean {
  return intIn(N, 1 << 10, 1 << 20) && (N & (N - 1)) === 0 && intIn(r, 1, 32) && intIn(p, 1, 16);
}

function intIn(v: unknown, min: number, max: number): v is number {
  return Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
}

function isRsaPkcs8(der: Uint8Array): boolean {
  try {
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}

/** New key pairs and certificates for a card, as a renewal issues them (spec §9: new keys, new serials). */
export interface RenewedKeys {
  /** PKCS#8 DER. */
  readonly authKey: Uint8Array;
  readonly signKey: Uint8Array;
  /** DER. */
  readonly authCert: Uint8Array;
  readonly signCert: Uint8Array;
}

/**
 * Puts renewed keys and certificates on the card in `path`, keeping its PIN objects and their counters, as a
 * municipal terminal does when it renews certificates on the holder's own card.
 *
 * @throws CardFileInvalidError (`ERR_CARD_FILE_INVALID`) when `path` is not a card file.
 * @throws TypeError when a key is not RSA PKCS#8 or a certificate does not start `30 82`.
 */
export function renewCardFile(path: string, renewed: RenewedKeys): void {
  const file = readCardFile(path);
  for (const k of [renewed.authKey, renewed.signKey])
    if (!isRsaPkcs8(k)) throw new TypeError('keys must be RSA PKCS#8');
  for (const c of [renewed.authCert, renewed.signCert])
    if (c[0] !== 0x30 || c[1] !== 0x82) throw new TypeError('certificates must start 30 82');
  saveCardFile(path, {
    ...file,
    keys: { auth: b64(renewed.authKey), sign: b64(renewed.signKey) },
    certificates: { ...file.certificates, auth: b64(renewed.authCert), sign: b64(renewed.signCert) },
  });
}
