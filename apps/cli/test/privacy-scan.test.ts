/**
 * The privacy scan: after the demo's stories run in Chromium against `mynagate serve --dev` (sign-up, a small and a
 * large transfer, the age check with consent and the eKYC signature), nothing the system keeps or says may hold a
 * dev card's secrets:
 *
 * - the fake My Numbers (the card files' `text.myNumber`) appear nowhere outside the card files: every table and
 *   every column of the SQLite databases, every other file of the data directory, the server's stdout and stderr,
 *   and every HTTP response body the browser saw;
 * - the signing passwords (`ABC123`, …) appear nowhere either, anywhere in a string;
 * - the 4-digit PINs appear in no form or JSON context (`"1234"`, `pin=1234`, `"pin": 1234`, `value="1234"`); a bare
 *   digit run is not a finding (it could be anything).
 *
 * The start-up banner is the one place that prints the test PINs and passwords on purpose (for the developer), and
 * `mynagate-dev.json` lists them; the test card issuer's register (`jpki/store.json`, the mock J-LIS) knows the My
 * Numbers it issued. These are left out by name. The scanner itself is shown to find planted values.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import {
  agreeOnConsentPage,
  cardLoginOnPhone,
  CHROMIUM_LAUNCH,
  printedCards,
  recordResponses,
  signStatementOnPhone,
  skipBrowser,
  type PrintedCard,
} from '../../demo/test/support/browser-stories.ts';
import { freePort, startCli, type CliProcess } from './serve-support.ts';

/** What must not leak. */
interface Secrets {
  readonly myNumbers: readonly string[];
  readonly passwords: readonly string[];
  readonly pins: readonly string[];
}

/** One leak: where, and which kind (never the value itself, so a failing test does not print it either). */
interface Finding {
  readonly where: string;
  readonly kind: 'my-number' | 'password' | 'pin';
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The PIN in a form or JSON context: a JSON string or number value, a form field, an HTML value attribute. */
function pinPatterns(pin: string): RegExp[] {
  const p = escapeRe(pin);
  return [
    new RegExp(`"${p}"`), // a JSON string (value or array element)
    new RegExp(`:\\s*${p}\\s*[,}\\]]`), // a JSON number value
    new RegExp(`[?&;\\s"']?[\\w.-]*pin[\\w.-]*=${p}(?![0-9])`, 'i'), // pin=1234, user_pin=1234
    new RegExp(`value\\s*=\\s*["']?${p}["'\\s>]`, 'i'), // <input value="1234">
  ];
}

/** The 12 digits as such, or grouped 4-4-4 with spaces or hyphens as people write them. */
function myNumberPatterns(n: string): RegExp[] {
  return [new RegExp(escapeRe(n)), new RegExp(`${n.slice(0, 4)}[ -]${n.slice(4, 8)}[ -]${n.slice(8)}`)];
}

/** Scans one text (a column value, a log, a body, a file read as UTF-8 and as Latin-1). */
function scanText(text: string, where: string, secrets: Secrets): Finding[] {
  const found: Finding[] = [];
  for (const n of secrets.myNumbers)
    if (myNumberPatterns(n).some((r) => r.test(text))) found.push({ where, kind: 'my-number' });
  for (const pw of secrets.passwords) if (text.includes(pw)) found.push({ where, kind: 'password' });
  for (const pin of secrets.pins) if (pinPatterns(pin).some((r) => r.test(text))) found.push({ where, kind: 'pin' });
  return found;
}

function scanBytes(bytes: Uint8Array, where: string, secrets: Secrets): Finding[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = b.toString('utf8');
  const latin1 = b.toString('latin1');
  // UTF-16LE too: SQLite may store text that way, and JSON can reach it through other encodings.
  const utf16 = b.toString('utf16le');
  return dedupe([
    ...scanText(utf8, where, secrets),
    ...scanText(latin1, where, secrets),
    ...scanText(utf16, where, secrets),
  ]);
}

function dedupe(fs: Finding[]): Finding[] {
  return [...new Map(fs.map((f) => [`${f.where}\u0000${f.kind}`, f])).values()];
}

/** Every table, every column, every row of a SQLite database: text as text, blobs as bytes, numbers as digits. */
function scanDatabase(path: string, label: string, secrets: Secrets): Finding[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const found: Finding[] = [];
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    for (const { name } of tables) {
      const rows = db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}"`).all() as Record<string, unknown>[];
      for (const row of rows) {
        for (const [column, value] of Object.entries(row)) {
          const where = `${label} ${name}.${column}`;
          if (typeof value === 'string') found.push(...scanText(value, where, secrets));
          else if (value instanceof Uint8Array) found.push(...scanBytes(value, where, secrets));
          else if (typeof value === 'number' || typeof value === 'bigint')
            found.push(...scanText(String(value), where, secrets));
        }
      }
    }
    return dedupe(found);
  } finally {
    db.close();
  }
}

/** Every file under `dir` but the excluded ones (relative paths), as bytes. */
async function scanDirectory(dir: string, exclude: (rel: string) => boolean, secrets: Secrets): Promise<Finding[]> {
  const found: Finding[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const rel = relative(dir, path);
    if (exclude(rel)) continue;
    found.push(...scanBytes(await readFile(path), `file ${rel}`, secrets));
    if (/\.db$/.test(rel)) found.push(...scanDatabase(path, `db ${rel}`, secrets));
  }
  return found;
}

/**
 * The data directory's files that hold the test secrets by design: the card files, the manifest (the test PINs and
 * passwords shown to the developer), and the test card issuer's register `jpki/store.json` (the mock J-LIS /
 * municipality issued the cards, so it knows their holders, My Number included). None of them is MynaGate's.
 */
const holdsSecretsByDesign = (rel: string) =>
  rel.startsWith(`cards${'/'}`) || rel === 'mynagate-dev.json' || rel === join('jpki', 'store.json');
describe('privacy scan: the scanner finds what it looks for', () => {
  let dir: string;
  const secrets: Secrets = { myNumbers: ['123456789018'], passwords: ['ABC123'], pins: ['1234'] };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-privacy-self-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('finds a My Number, a password and a PIN in JSON planted in a scratch file', async () => {
    await writeFile(join(dir, 'log.txt'), 'x {"pin":"1234"} y 1234-5678-9018 ABC123\n');
    const kinds = (await scanDirectory(dir, () => false, secrets)).map((f) => f.kind).sort();
    assert.deepEqual(kinds, ['my-number', 'password', 'pin']);
  });

  it('finds a My Number planted in a blob column and a PIN in a text column of a scratch SQLite database', async () => {
    const path = join(dir, 'scratch.db');
    const db = new DatabaseSync(path);
    db.exec('CREATE TABLE t (a TEXT, b BLOB)');
    db.prepare('INSERT INTO t VALUES (?, ?)').run('card_pin=1234&x=1', Buffer.from('..123456789018..'));
    db.close();
    const found = scanDatabase(path, 'scratch', secrets);
    assert.deepEqual(found.map((f) => `${f.where} ${f.kind}`).sort(), ['scratch t.a pin', 'scratch t.b my-number']);
  });

  it('does not count a PIN as a bare digit run or in a label ("PIN 1234"), nor a longer number around it', () => {
    assert.deepEqual(scanText('order 412345, card（PIN 1234）, "91234", pin=12345', 'x', secrets), []);
  });
});

describe('privacy scan after the demo stories in Chromium against mynagate serve --dev', { skip: skipBrowser }, () => {
  let dir: string;
  let data: string;
  let browser: Browser;
  let server: CliProcess | undefined;
  let cards: PrintedCard[];
  let secrets: Secrets;
  let banner = '';
  const bodies: { url: string; body: Buffer }[][] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-privacy-'));
    data = join(dir, 'data');
    const ports = { idp: await freePort(), demo: await freePort() };
    browser = await chromium.launch(CHROMIUM_LAUNCH);
    server = startCli([
      'serve',
      '--dev',
      '--data',
      data,
      '--port',
      String(ports.idp),
      '--demo-port',
      String(ports.demo),
      '--ocsp-port',
      '0',
    ]);
    await server.waitFor(/Ctrl-C to stop.*\n/);
    banner = server.stdout();
    cards = printedCards(banner);
    assert.equal(cards.length, 3, banner);
    const myNumbers = await Promise.all(
      cards.map(
        async (c) => (JSON.parse(await readFile(c.file, 'utf8')) as { text: { myNumber: string } }).text.myNumber,
      ),
    );
    for (const n of myNumbers) assert.match(n, /^\d{12}$/);
    secrets = { myNumbers, passwords: cards.map((c) => c.password), pins: cards.map((c) => c.pin) };
  });
  after(async () => {
    server?.child.kill('SIGKILL');
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function context(): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ locale: 'ja-JP' });
    bodies.push(recordResponses(ctx));
    return { ctx, page: await ctx.newPage() };
  }

  it('runs the stories: two sign-ups, a small and a stepped-up transfer, an age check with consent and eKYC', async (t) => {
    const demoUrl = `${/Open the demo:\s+(\S+)/.exec(banner)![1]!.replace(/\/$/, '')}`;
    for (const card of cards.slice(0, 2)) {
      const { ctx, page } = await context();
      try {
        await page.goto(`${demoUrl}/`);
        await page.locator('#signup').click();
        await cardLoginOnPhone(ctx, page, card);
        await page.waitForURL(`${demoUrl}/account`, { timeout: 15_000 });
        for (const amount of ['30000', '120000']) {
          await page.goto(`${demoUrl}/account`);
          await page.locator('#payee').fill('テスト　受取人');
          await page.locator('#amount').fill(amount);
          await page.locator('#transfer').click();
          if (amount === '120000') await cardLoginOnPhone(ctx, page, card);
          await page.locator('#transfer-result').waitFor({ timeout: 15_000 });
        }
      } finally {
        await ctx.close();
      }
    }
    const { ctx, page } = await context();
    try {
      await page.goto(`${demoUrl}/shop`);
      await page.locator('#buy').click();
      await cardLoginOnPhone(ctx, page, cards[0]!);
      await agreeOnConsentPage(page);
      await signStatementOnPhone(ctx, page, cards[0]!);
      await page.locator('#purchase-result').waitFor({ timeout: 15_000 });
    } finally {
      await ctx.close();
    }
    // Stopped as a person does, so SQLite checkpoints its write-ahead log into the database files.
    const s = server!;
    s.child.kill('SIGINT');
    assert.equal(await s.exited, 0, s.stderr());
  });

  it('finds no My Number, password or PIN in any table and column of the SQLite databases or any other data file', async (t) => {
    assert.ok(server && (await server.exited) === 0, 'the stories ran and the server stopped');
    const dbs = (await readdir(data)).filter((f) => f.endsWith('.db'));
    assert.deepEqual(dbs.sort(), ['demo.db', 'idp.db']);
    const found = await scanDirectory(data, holdsSecretsByDesign, secrets);
    assert.deepEqual(found, []);
  });

  it('finds none in the server log (stdout after the start-up banner, and all of stderr)', () => {
    assert.ok(server, 'the server ran');
    const out = server.stdout();
    assert.ok(out.startsWith(banner));
    assert.deepEqual(
      dedupe([
        ...scanText(out.slice(banner.length), 'stdout', secrets),
        ...scanText(server.stderr(), 'stderr', secrets),
      ]),
      [],
    );
    // The banner is the one deliberate place: it prints the test PINs and passwords, never a My Number.
    assert.deepEqual(
      scanText(banner, 'banner', { ...secrets, passwords: [], pins: [] }),
      [],
      'the banner prints no My Number',
    );
  });

  it('finds none in any HTTP response body the browser received', async () => {
    // Bodies are read asynchronously after each response; give the last ones a moment.
    await new Promise((r) => setTimeout(r, 200));
    const all = bodies.flat();
    assert.ok(all.length > 20, `only ${all.length} responses were recorded`);
    const found = dedupe(all.flatMap((b) => scanBytes(b.body, `response ${new URL(b.url).pathname}`, secrets)));
    assert.deepEqual(found, []);
  });
});
