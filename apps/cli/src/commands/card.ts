/** `mynagate card …`: virtual cards and cards in readers. */
import { createHash, randomUUID } from 'node:crypto';
import { link, lstat, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { digestInfo, JpkiClient, type Transport } from '@mynagate/card';
import { PcscTransport } from '@mynagate/card/pcsc';
import { attachToVpcd, VirtualCard, VirtualTransport, VPCD_PORT, writeCardFile } from '@mynagate/card/virtual';
import { nameToString, parseCertificate } from '@mynagate/pki';
import { checkHolder, syncDir, TestJpki } from '@mynagate/pki/testing';
import { oneOf, optional, positional, required } from '../args.ts';
import type { Parsed } from '../main.ts';
import { companionError } from '../bridge-wording.ts';
import { withSecret } from '../companion.ts';
import { errorLine, printJson, UsageError } from '../output.ts';
import { promptHidden, readLinesFromStdin, readSecretFile } from '../secret.ts';
import { ConnectError, connectReason } from '../system-error.ts';

/** What `card issue --pin-stdin` and `--pin-file` read, in this order. */
const ISSUE_SECRETS = 'the auth PIN (4 digits), then the signing password (6–16 of A–Z, 0–9), one per line';

/**
 * Set to `1` to let `card issue` take `--pin` and `--password` on the command line, where every user sees them
 * (`ps`) and shell history keeps them: for a test that cannot pipe, and never with a PIN anyone uses elsewhere.
 */
const ARGV_PIN_ENV = 'MYNAGATE_INSECURE_ARGV_PIN';

/**
 * Issues a card into a new file `--out`. An existing file is never replaced: it holds another card's keys. The card
 * is written (under a temporary name) before the test JPKI records it, then linked into place, which fails rather
 * than replace a file that appeared meanwhile: a failure before the record changes nothing, one after it leaves at
 * most certificates that no card holds.
 *
 * Only the shape of an option is checked here (`ERR_CLI_USAGE`, exit 2). Whether the holder data, PIN and password
 * are acceptable is the test JPKI's rule, so it says so (`ERR_TESTJPKI_INVALID_INPUT`, exit 1, naming the field): one
 * copy of each rule, and no bad input left to end as ERR_INTERNAL.
 *
 * The auth PIN and signing password come from stdin (`--pin-stdin`), a file only its owner can read (`--pin-file`)
 * or a prompt without echo; `--pin`/`--password` on argv are refused unless {@link ARGV_PIN_ENV} is `1`.
 */
export async function issue(a: Parsed): Promise<void> {
  const dir = required(a, 'dir');
  const birthDate = required(a, 'birthdate');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) throw new UsageError('--birthdate must be YYYY-MM-DD');
  const person = {
    name: required(a, 'name'),
    address: required(a, 'address'),
    birthDate,
    sex: oneOf(a, 'sex', ['1', '2', '9'] as const),
    profile: oneOf(a, 'profile', ['card', 'android'] as const, 'card'),
  };
  // The test JPKI's own rules (ERR_TESTJPKI_INVALID_INPUT naming the field), before anything is opened or asked for;
  // issueCard checks the PIN and password the same way once they are read.
  checkHolder(person);
  const out = required(a, 'out');
  const secrets = secretSource(a);
  const jpki = await TestJpki.open(dir);
  await refuseExisting(out);
  // Asked for only once everything else is known to be in order, and before anything is written.
  const holder = { ...person, ...(await secrets()) };
  const tmp = `${out}.${randomUUID()}.tmp`;
  try {
    const issued = await jpki.issueCard({ ...holder, beforeSave: (card) => writeCardFile(tmp, card.spec) });
    await linkNew(tmp, out);
    await syncDir(dirname(out));
    printJson({
      card: out,
      profile: issued.spec.profile,
      authSerial: issued.authSerial,
      signSerial: issued.signSerial,
    });
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Where the new card's auth PIN and signing password come from (exactly one source), as a reader to call once the
 * rest of the command is in order.
 *
 * @throws UsageError (`ERR_CLI_USAGE`) for two sources or argv without {@link ARGV_PIN_ENV}; the reader for
 *   missing lines.
 * @throws PinFileError (`ERR_CLI_PIN_FILE`) from the reader, for a `--pin-file` that group or others may access.
 */
function secretSource(a: Parsed): () => Promise<{ pin: string; password: string }> {
  const stdin = a.values['pin-stdin'] === true;
  const file = optional(a, 'pin-file');
  const argv = a.values['pin'] !== undefined || a.values['password'] !== undefined;
  if (Number(stdin) + Number(file !== undefined) + Number(argv) > 1)
    throw new UsageError(
      'give the PIN and password one way: --pin-stdin or --pin-file FILE (or neither, for a prompt)',
    );
  if (argv) {
    if (process.env[ARGV_PIN_ENV] !== '1')
      throw new UsageError(
        '--pin and --password on the command line are shown to every user by ps and kept in shell history: ' +
          `pipe ${ISSUE_SECRETS} to --pin-stdin, or put them in a file for --pin-file FILE (chmod 600)`,
      );
    process.stderr.write(
      `warning: ${ARGV_PIN_ENV}=1 takes the PIN and password from the command line, where ps and shell history ` +
        'show them; never use a PIN you use elsewhere\n',
    );
    const given = { pin: required(a, 'pin'), password: required(a, 'password') };
    return async () => given;
  }
  return async () => {
    const lines =
      file !== undefined
        ? await readSecretFile(file, 2, ISSUE_SECRETS)
        : stdin
          ? await readLinesFromStdin(2, ISSUE_SECRETS)
          : [
              await promptHidden('利用者証明用暗証番号 / auth PIN to set (4 digits): '),
              await promptHidden('署名用パスワード / signing password to set (6–16 of A–Z, 0–9): '),
            ];
    return { pin: lines[0]!, password: lines[1]! };
  };
}

/** Gives `tmp` the name `path` unless `path` exists (link fails then; rename would replace it). */
async function linkNew(tmp: string, path: string): Promise<void> {
  try {
    await link(tmp, path);
  } catch (e) {
    // A file system without hard links: check, then rename (a race with another writer is then possible).
    if (!['EPERM', 'ENOTSUP', 'ENOSYS'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    await refuseExisting(path);
    await rename(tmp, path);
  }
}

/** Fails with a file error naming `path` (`ERR_CLI_FILE`) when something is there already. */
async function refuseExisting(path: string): Promise<void> {
  try {
    await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  throw Object.assign(
    new Error(`EEXIST: ${path} already exists; card issue writes a new file, it never replaces a card`),
    {
      code: 'EEXIST',
      syscall: 'open',
      path,
    },
  );
}

/** Where vpcd's slot n listens (`VPCD_PORT` + n), for the hint. */
const VPCD_HINT =
  'pcscd must be running with the vsmartcard-vpcd driver (Debian: apt-get install pcscd vsmartcard-vpcd); ' +
  `vpcd slot n listens on port ${VPCD_PORT}+n`;
/** How often a vpcd that stays unreachable is told again (at once when the reason changes). */
const UNREACHABLE_REPEAT_MS = 10_000;
/** The longest `--wait`: what a timer can hold (2^31 − 1 ms, about 24.8 days). */
const MAX_WAIT_SECONDS = Math.floor(0x7fffffff / 1000);

/**
 * `card attach FILE [--vpcd HOST:PORT] [--wait SECONDS]`: serves the card to pcscd until interrupted, saying in a
 * line when pcscd sees it inserted or removed, and when vpcd cannot be reached (with what to check; then again only
 * every 10 s or when the reason changes). Never a line per APDU: their contents include the PIN.
 *
 * If vpcd has not accepted a connection within `--wait` seconds (default 30; 0 waits forever) the command fails with
 * `ERR_CLI_CONNECT` naming host:port; once it has, a later loss (pcscd restarting) is retried for as long as it runs.
 *
 * @throws UsageError (`ERR_CLI_USAGE`) for a malformed `--vpcd` or `--wait`; ConnectError (`ERR_CLI_CONNECT`).
 */
export async function attach(a: Parsed): Promise<void> {
  const file = positional(a, 'card file');
  const { host, port } = vpcdAddress(optional(a, 'vpcd'));
  const waitSeconds = seconds(a, 'wait', 30);
  const card = await VirtualCard.open(file);
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let connected = false;
  let lastReason: string | undefined;
  let toldAt = 0;
  let told = 0;
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const bridge = attachToVpcd(card, {
    host,
    port,
    signal: controller.signal,
    onEvent: (e) => {
      switch (e.type) {
        case 'unreachable': {
          // The first failure of a run of them, with the hint; then only every 10 s or when the reason changes.
          const now = performance.now();
          if (told === 0 || e.reason !== lastReason || now - toldAt >= UNREACHABLE_REPEAT_MS) {
            const attempt = told === 0 ? '' : ` (attempt ${e.attempt})`;
            say(`vpcd at ${where} cannot be reached: ${connectReason(e.reason)}${attempt}; retrying`);
            if (told === 0) say(`  ${VPCD_HINT}`);
            told++;
            toldAt = now;
          }
          lastReason = e.reason;
          return;
        }
        case 'connected':
          connected = true;
          told = 0;
          lastReason = undefined;
          say(`card inserted: pcscd sees ${file} in the reader of vpcd at ${where}`);
          return;
        case 'disconnected':
          say(
            e.reason === 'closed'
              ? 'card removed'
              : `card removed: ${e.reason} (pcscd stopped or restarted?); reconnecting`,
          );
          return;
        default:
          // connecting, power and APDU events: too many to be worth a line each, and no line may carry an APDU.
          return;
      }
    },
  });
  say(
    `serving ${file} to vpcd at ${where}` +
      (waitSeconds === 0 ? '' : ` (waiting up to ${waitSeconds} s for it)`) +
      '; Ctrl-C to remove the card',
  );
  // Never connected by the deadline: stop trying, and fail once the bridge has let go of the socket.
  let gaveUp: ConnectError | undefined;
  const timer =
    waitSeconds === 0
      ? undefined
      : setTimeout(() => {
          if (connected) return;
          const hint = `gave up after ${waitSeconds} s (--wait); ${VPCD_HINT}`;
          gaveUp = new ConnectError(host, port, lastReason ?? 'ETIMEDOUT', hint);
          controller.abort();
        }, waitSeconds * 1000);
  try {
    await bridge.closed;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (gaveUp !== undefined) throw gaveUp;
}

/** `--vpcd HOST:PORT` (an IPv6 address in brackets), default `127.0.0.1` and slot 0's port. */
function vpcdAddress(value: string | undefined): { host: string; port: number } {
  if (value === undefined) return { host: '127.0.0.1', port: VPCD_PORT };
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (m === null || port < 1 || port > 65535) {
    throw new UsageError(`--vpcd must be HOST:PORT with a port 1–65535 (vpcd slot n listens on ${VPCD_PORT}+n)`);
  }
  return { host: m[1] ?? m[2]!, port };
}

/** A whole number of seconds, 0 included. */
function seconds(a: Parsed, name: string, fallback: number): number {
  const v = optional(a, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > MAX_WAIT_SECONDS) {
    throw new UsageError(`--${name} must be a whole number of seconds, at most ${MAX_WAIT_SECONDS} (0: wait forever)`);
  }
  return n;
}

/** A transport to the card named by `--file` (a virtual card in-process) or in a PC/SC reader. */
async function openCard(a: Parsed): Promise<Transport> {
  const file = optional(a, 'file');
  if (file) return new VirtualTransport(await VirtualCard.open(file));
  return PcscTransport.connect({ reader: optional(a, 'reader') });
}

function describe(der: Uint8Array) {
  const c = parseCertificate(der);
  return {
    subject: nameToString(c.subject),
    issuer: nameToString(c.issuer),
    serial: c.serialNumber,
    notBefore: new Date(c.notBefore).toISOString(),
    notAfter: new Date(c.notAfter).toISOString(),
  };
}

export async function info(a: Parsed): Promise<void> {
  const transport = await openCard(a);
  try {
    const jpki = new JpkiClient(transport);
    await jpki.selectJpki();
    const token = await jpki.readToken();
    // The Android token guards its auth certificate with the PIN; reading it would need one, so we don't.
    const auth = token.kind === 'android' ? null : describe(await jpki.readCertificate('auth'));
    printJson({
      token: token.kind,
      authCertificate: auth,
      authCa: describe(await jpki.readCertificate('authCa')),
      signCa: describe(await jpki.readCertificate('signCa')),
      signCertificate: 'readable only after the signing password',
      triesLeft: { auth: await jpki.triesLeft('auth'), sign: await jpki.triesLeft('sign') },
    });
  } finally {
    await transport.close();
  }
}

/**
 * `card sign --key auth|sign --in FILE --out FILE [--file CARD | --reader NAME] [--pin-stdin]`: signs SHA-256 of a
 * file with the auth key (after the auth PIN) or the signing key (after the signing password). The card is opened
 * first, so a missing reader or card is told before anyone types; then the tries left are read and asked for as at
 * login (`withSecret`: none left refused unasked, the last one only after a "y" at the terminal, a wrong one asked
 * again on a terminal). A refusal ends with one line: its code, then its words in Japanese and English.
 *
 * @throws `ERR_CARD_PIN_BLOCKED`, `ERR_CLI_LAST_TRY`, `ERR_CARD_PIN_INCORRECT`, `ERR_CARD_PIN_FORMAT`, the reader's
 *   codes (`ERR_CARD_NO_READER`, `ERR_CARD_NO_CARD`, …).
 */
export async function sign(a: Parsed): Promise<void> {
  const key = oneOf(a, 'key', ['auth', 'sign'] as const);
  const data = await readFile(required(a, 'in'));
  const out = required(a, 'out');
  const fromStdin = a.values['pin-stdin'] === true;
  try {
    const transport = await openCard(a);
    try {
      const jpki = new JpkiClient(transport);
      await jpki.selectJpki();
      const signature = await withSecret({
        kind: key,
        fromStdin,
        // A script's failure is one line: the tries are in the question on a terminal, and in a refusal's words.
        showTries: false,
        triesLeft: () => jpki.triesLeft(key),
        explain: async (e) => errorLine(await companionError(e, key)),
        use: async (secret) => {
          await jpki.verify(key, secret);
          return jpki.sign(key, digestInfo('sha256', createHash('sha256').update(data).digest()));
        },
      });
      await writeFile(out, signature);
      printJson({ key, out, algorithm: 'sha256WithRSAEncryption', bytes: signature.length });
    } finally {
      await transport.close();
    }
  } catch (e) {
    throw await companionError(e, key);
  }
}
