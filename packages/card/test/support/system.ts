/**
 * The system components real-component tests use (pcscd with the vpcd driver, OpenSC, openssl, pcsc-tools), found
 * on this machine, and one rule for a missing one: the test skips and says why, unless
 * `MYNAGATE_REQUIRE_SYSTEM=1`, in which case it fails (CI sets it, so a broken image cannot pass by skipping).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

/** What a test can require. `pcscd` means: running (started if need be, see `ensurePcscd`), with a vpcd reader. */
export type SystemComponent =
  'pcscd' | 'vpcd' | 'pkcs15-tool' | 'pkcs11-tool' | 'opensc-tool' | 'opensc-pkcs11' | 'openssl' | 'pcsc_scan';

/** Paths of what was found; `undefined` when absent. */
export interface SystemComponents {
  readonly pcscd: string | undefined;
  /** The vpcd driver library named by a pcscd reader configuration. */
  readonly vpcd: string | undefined;
  readonly 'pkcs15-tool': string | undefined;
  readonly 'pkcs11-tool': string | undefined;
  readonly 'opensc-tool': string | undefined;
  /** OpenSC's PKCS#11 module. */
  readonly 'opensc-pkcs11': string | undefined;
  readonly openssl: string | undefined;
  readonly pcsc_scan: string | undefined;
}

/** The environment variable that turns a missing component from a skip into a failure. */
export const REQUIRE_SYSTEM_ENV = 'MYNAGATE_REQUIRE_SYSTEM';

let detected: SystemComponents | undefined;

/** Finds every component once per process. */
export function detectSystem(): SystemComponents {
  detected ??= {
    pcscd: findExecutable('pcscd'),
    vpcd: findVpcdDriver(),
    'pkcs15-tool': findExecutable('pkcs15-tool'),
    'pkcs11-tool': findExecutable('pkcs11-tool'),
    'opensc-tool': findExecutable('opensc-tool'),
    'opensc-pkcs11': findOpenscPkcs11(),
    openssl: findExecutable('openssl'),
    pcsc_scan: findExecutable('pcsc_scan'),
  };
  return detected;
}

/** The path of a component the caller has already required; throws if it is absent (a bug in the test). */
export function systemPath(what: Exclude<SystemComponent, 'pcscd'> | 'pcscd'): string {
  const path = detectSystem()[what];
  if (path === undefined) throw new Error(`${what} was not required before use`);
  return path;
}

/**
 * Why a test needing `what` cannot run here, or `undefined` when it can. Ensures pcscd is running when `pcscd` is
 * asked for. With `MYNAGATE_REQUIRE_SYSTEM=1` a missing component throws instead, so the test (or the whole file,
 * when used for a `describe` skip) fails.
 *
 * @example
 * ```ts
 * const skip = await systemSkipReason(['pcscd', 'vpcd', 'pkcs15-tool']);
 * describe('OpenSC: …', { skip }, () => { … });
 * ```
 */
export async function systemSkipReason(what: readonly SystemComponent[]): Promise<string | undefined> {
  const found = detectSystem();
  const missing = what.filter((w) => found[w] === undefined).map((w) => describeMissing(w));
  if (missing.length === 0 && what.includes('pcscd')) {
    const { ensurePcscd } = await import('./pcscd.ts');
    const problem = await ensurePcscd();
    if (problem) missing.push(problem);
  }
  if (missing.length === 0) return undefined;
  const reason = `missing system component: ${missing.join('; ')}`;
  if (process.env[REQUIRE_SYSTEM_ENV] === '1') throw new Error(`${reason} (${REQUIRE_SYSTEM_ENV}=1)`);
  return reason;
}

/**
 * Skips the running test with a visible reason when `what` is not available (or fails it under
 * `MYNAGATE_REQUIRE_SYSTEM=1`). Returns whether the test may go on.
 *
 * @example
 * ```ts
 * test('openssl: …', async (t) => { if (!(await requireSystem(t, ['openssl']))) return; … });
 * ```
 */
export async function requireSystem(t: TestContext, what: readonly SystemComponent[]): Promise<boolean> {
  const reason = await systemSkipReason(what);
  if (reason === undefined) return true;
  t.skip(reason);
  return false;
}

// ---- detection ----

function describeMissing(what: SystemComponent): string {
  switch (what) {
    case 'pcscd':
      return 'pcscd (Debian: apt install pcscd)';
    case 'vpcd':
      return 'the vpcd reader driver (Debian: apt install vsmartcard-vpcd)';
    case 'pkcs15-tool':
    case 'pkcs11-tool':
    case 'opensc-tool':
    case 'opensc-pkcs11':
      return `${what} (Debian: apt install opensc opensc-pkcs11)`;
    case 'openssl':
      return 'openssl';
    case 'pcsc_scan':
      return 'pcsc_scan (Debian: apt install pcsc-tools)';
  }
}

/** Searches PATH, and the sbin directories that a non-root PATH often lacks (pcscd lives in /usr/sbin). */
function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** pcscd loads serial-style drivers from reader.conf.d entries; vpcd's names a `LIBPATH …libifdvpcd…`. */
function findVpcdDriver(): string | undefined {
  for (const dir of ['/etc/reader.conf.d', '/usr/local/etc/reader.conf.d']) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      let text: string;
      try {
        text = readFileSync(join(dir, name), 'utf8');
      } catch {
        continue;
      }
      for (const m of text.matchAll(/^\s*LIBPATH\s+(\S*vpcd\S*)/gm)) {
        if (m[1] && existsSync(m[1])) return m[1];
      }
    }
  }
  return undefined;
}

/** Debian's package list first (exact for this machine), then the usual multiarch and distribution directories. */
function findOpenscPkcs11(): string | undefined {
  try {
    const listed = execFileSync('dpkg', ['-L', 'opensc-pkcs11'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .filter((line) => line.endsWith('/opensc-pkcs11.so'))
      .sort((a, b) => a.length - b.length);
    for (const path of listed) if (existsSync(path)) return path;
  } catch {
    // not a Debian system, or the package is absent
  }
  const dirs = [
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
    '/usr/lib64/pkcs11',
    '/usr/lib/pkcs11',
    '/opt/homebrew/lib',
    '/Library/OpenSC/lib',
  ];
  try {
    for (const d of readdirSync('/usr/lib'))
      if (d.endsWith('-linux-gnu')) dirs.unshift(join('/usr/lib', d), join('/usr/lib', d, 'pkcs11'));
  } catch {
    // no /usr/lib
  }
  for (const dir of dirs) {
    const path = join(dir, 'opensc-pkcs11.so');
    if (existsSync(path)) return path;
  }
  return undefined;
}
