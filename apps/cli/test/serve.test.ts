/**
 * `mynagate serve --dev` as a newcomer runs it: a real process on free ports with a fresh data directory, then a
 * whole sign-up in Chromium (playwright-core): the demo bank → MynaGate's login page with the QR code → the virtual
 * phone → the PIN → back at the bank with an account. Stopped with Ctrl-C (SIGINT) and started again on the same
 * data, the same card finds the same account. The ready banner names the demo shop too (`--shop-port`, or the port
 * the stack chose), which answers. Screenshots go to `test-output/serve/`; the login page is copied to
 * `docs/login-flow.png` when that file is missing (or with MYNAGATE_UPDATE_DOCS=1).
 *
 * Needs Chromium at /usr/bin/chromium; skips with the reason otherwise, unless MYNAGATE_REQUIRE_SYSTEM=1.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { freePort, runCli, startCli, type CliProcess } from './serve-support.ts';
import { CHROMIUM_LAUNCH, skipBrowser } from '../../../packages/idp/test/support/chromium.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const OUT = join(ROOT, 'test-output', 'serve');
const DOCS_PICTURE = join(ROOT, 'docs', 'login-flow.png');

/** The stderr lines that are not the runtime notice node-oidc-provider prints on a non-LTS Node. */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !l.startsWith('oidc-provider WARNING'));
}

describe('mynagate serve: options and data are checked before anything starts', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-serve-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('refuses to run without --dev or --config (ERR_CLI_USAGE, exit 2), naming both', async () => {
    const r = await runCli(['serve', '--data', join(dir, 'a')]);
    assert.equal(r.code, 2);
    assert.deepEqual(errorLines(r.stderr).length, 1);
    assert.match(r.stderr, /^ERR_CLI_USAGE: run "mynagate serve --config FILE" .* or "mynagate serve --dev"/m);
  });

  it('refuses a port out of range with one line ERR_CLI_USAGE', async () => {
    const r = await runCli(['serve', '--dev', '--port', '70000', '--data', join(dir, 'a')]);
    assert.equal(r.code, 2);
    assert.deepEqual(errorLines(r.stderr), ['ERR_CLI_USAGE: --port must be a port number (see mynagate --help)']);
  });

  it('refuses a data directory that is not its own (ERR_DEV_DATA_INVALID) and leaves it untouched', async () => {
    const other = join(dir, 'other');
    await mkdir(other);
    await writeFile(join(other, 'notes.txt'), 'mine');
    const r = await runCli(['serve', '--dev', '--port', '0', '--data', other]);
    assert.equal(r.code, 1);
    assert.equal(errorLines(r.stderr).length, 1);
    assert.match(errorLines(r.stderr)[0]!, /^ERR_DEV_DATA_INVALID: .*not a MynaGate development directory/);
    assert.equal(await readFile(join(other, 'notes.txt'), 'utf8'), 'mine');
  });

  /** Runs `serve --dev …args` while something else holds a port, given to `args` to place in them. */
  async function withTakenPort(args: (taken: number) => string[], env: Record<string, string> = {}) {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      return { taken, ...(await runCli(['serve', '--dev', '--data', join(dir, 'b'), ...args(taken)], { env })) };
    } finally {
      blocker.close();
    }
  }

  it('reports a taken port as ERR_DEV_PORT_IN_USE naming the port and the option that moves it', async () => {
    // npm_lifecycle_event empty: not run by `npm start` (a test run by `npm test` inherits "test").
    const r = await withTakenPort((t) => ['--port', String(t), '--demo-port', '0'], { npm_lifecycle_event: '' });
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), [
      `ERR_DEV_PORT_IN_USE: port ${r.taken} (provider) is already in use; choose another with --port, e.g. mynagate serve --dev --port 9080 --demo-port 9081 --shop-port 9082`,
    ]);
  });

  it('names --demo-port for the bank, as an npm start command line under npm start', async () => {
    const r = await withTakenPort((t) => ['--port', '0', '--demo-port', String(t), '--ocsp-port', '0'], {
      npm_lifecycle_event: 'start',
    });
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), [
      `ERR_DEV_PORT_IN_USE: port ${r.taken} (demo bank) is already in use; choose another with --demo-port, e.g. npm start -- --port 9080 --demo-port 9081 --shop-port 9082`,
    ]);
  });

  it('names --shop-port and --ocsp-port for theirs', async () => {
    const shop = await withTakenPort((t) => ['--port', '0', '--demo-port', '0', '--shop-port', String(t)]);
    assert.match(
      errorLines(shop.stderr)[0]!,
      /^ERR_DEV_PORT_IN_USE: port \d+ \(demo shop\) .* with --shop-port, e\.g\./,
    );
    const ocsp = await withTakenPort((t) => ['--port', '0', '--demo-port', '0', '--ocsp-port', String(t)]);
    assert.match(
      errorLines(ocsp.stderr)[0]!,
      /^ERR_DEV_PORT_IN_USE: port \d+ \(OCSP responder\) .* with --ocsp-port, e\.g\. .* --ocsp-port 9083$/,
    );
  });

  it('refuses one port for two services (ERR_CLI_USAGE): the error could not say which to move', async () => {
    const r = await runCli(['serve', '--dev', '--port', '9080', '--shop-port', '9081', '--data', join(dir, 'c')]);
    assert.equal(r.code, 2);
    assert.deepEqual(errorLines(r.stderr), [
      'ERR_CLI_USAGE: --demo-port and --shop-port are both 9081 (--demo-port is --port + 1 unless given): give each its own port (see mynagate --help)',
    ]);
  });
});

describe('mynagate serve --dev: the ready banner names every service', () => {
  let dir: string;
  let server: CliProcess | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mynagate-serve-'));
  });
  after(async () => {
    server?.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts `serve --dev …args` on a free provider and bank, returns the shop URL of its banner, and stops it. */
  async function shopUrl(args: string[]): Promise<string> {
    const data = join(dir, 'data');
    server = startCli(['serve', '--dev', '--data', data, '--port', '0', '--ocsp-port', '0', ...args]);
    try {
      await server.waitFor(/Ctrl-C to stop/);
      const url = /Demo liquor shop:\s+(\S+)/.exec(server.stdout())?.[1];
      assert.ok(url, `the banner names the shop: ${server.stdout()}`);
      // The shop is up and answers its front page.
      const res = await fetch(url);
      const page = await res.text();
      assert.equal(res.status, 200, page);
      assert.match(page, /action="\/buy"/, "the shop's page, not the bank's");
      return url;
    } finally {
      server.child.kill('SIGINT');
      assert.equal(await server.exited, 0, server.stderr());
      server = undefined;
    }
  }

  it("prints the shop's URL next to the bank's (--shop-port), and keeps the shop's client key 0600", async () => {
    const port = await freePort();
    const url = await shopUrl(['--shop-port', String(port)]);
    assert.equal(url, `http://127.0.0.1:${port}/`);
    assert.equal((await stat(join(dir, 'data', 'shop-client-key.json'))).mode & 0o777, 0o600);
  });

  it("without --shop-port, names the port the stack chose for the shop (the bank's + 1, or a free one)", async () => {
    const url = await shopUrl([]);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.notEqual(new URL(url).port, '0');
  });
});

describe(
  'mynagate serve --dev: sign up at the demo bank with a virtual card in Chromium',
  { skip: skipBrowser },
  () => {
    let dir: string;
    let data: string;
    let ports: { idp: number; demo: number };
    let browser: Browser;
    let server: CliProcess | undefined;
    let first: { number: string; sub: string } | undefined;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'mynagate-serve-'));
      data = join(dir, 'data');
      ports = { idp: await freePort(), demo: await freePort() };
      browser = await chromium.launch(CHROMIUM_LAUNCH);
      await mkdir(OUT, { recursive: true });
    });
    after(async () => {
      server?.child.kill('SIGKILL');
      await browser?.close();
      await rm(dir, { recursive: true, force: true });
    });

    /** Starts the server and returns the demo URL it prints. */
    async function start(): Promise<string> {
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
      const m = await server.waitFor(/Open the demo:\s+(\S+)/);
      await server.waitFor(/Ctrl-C to stop/);
      return m[1]!;
    }

    /** Stops it as a person does (Ctrl-C) and expects a clean exit. */
    async function stop(): Promise<void> {
      const s = server!;
      s.child.kill('SIGINT');
      assert.equal(await s.exited, 0, s.stderr());
      assert.match(s.stderr(), /stopped/);
      server = undefined;
    }

    /** The whole sign-up through the browser; returns what the bank shows. */
    async function signUp(demoUrl: string, shots: string) {
      const context = await browser.newContext({ locale: 'ja-JP', viewport: { width: 820, height: 900 } });
      try {
        const page = await context.newPage();
        await page.goto(demoUrl);
        await page.screenshot({ path: join(OUT, `${shots}-1-demo.png`) });
        await page.locator('#signup').click();
        await page.locator('#qr svg').waitFor();
        assert.equal(await page.locator('#client-name').textContent(), 'デモ銀行 / Demo Bank');
        const loginShot = join(OUT, `${shots}-2-login-page.png`);
        await page.screenshot({ path: loginShot });

        const [phone] = await Promise.all([context.waitForEvent('page'), page.locator('#dev-phone').click()]);
        await phone.locator('#sign-form').waitFor({ state: 'visible' });
        assert.equal(await phone.locator('#client-name').textContent(), 'デモ銀行 / Demo Bank');
        assert.equal(await phone.locator('#origin').textContent(), `http://127.0.0.1:${ports.idp}`);
        assert.match(
          (await phone.locator('#sign-form label', { hasText: 'PIN 1234' }).textContent()) ?? '',
          /山田　太郎/,
        );
        await phone.locator('#pin').fill('1234');
        await phone.screenshot({ path: join(OUT, `${shots}-3-phone.png`) });
        await phone.locator('#sign').click();
        await phone.locator('#status.done').waitFor();

        await page.waitForURL(`${demoUrl}account`, { timeout: 15_000 });
        await page.screenshot({ path: join(OUT, `${shots}-4-account.png`) });
        return {
          loginShot,
          number: (await page.locator('#account-number').textContent()) ?? '',
          sub: (await page.locator('#sub').textContent()) ?? '',
          acr: await page.locator('#acr').textContent(),
          greeting: (await page.locator('#greeting').textContent()) ?? '',
        };
      } finally {
        await context.close();
      }
    }

    it('creates the data directory on the first run, prints the demo URL and the test PINs, and keeps secrets 0600', async () => {
      const demoUrl = await start();
      assert.equal(demoUrl, `http://127.0.0.1:${ports.demo}/`);
      const out = server!.stdout();
      assert.match(out, new RegExp(`MynaGate \\(OpenID Provider\\):\\s+http://127\\.0\\.0\\.1:${ports.idp}`));
      assert.match(out, /山田　太郎\s+PIN 1234\s+password ABC123/);
      assert.match(out, /\(created\)/);
      for (const f of ['oidc-keys.json', 'secrets.json', 'demo-client-key.json']) {
        assert.equal((await stat(join(data, f))).mode & 0o777, 0o600, f);
      }
      assert.equal((await stat(data)).mode & 0o077, 0, 'the data directory is owner-only');
      assert.equal(await readFile(join(data, '.gitignore'), 'utf8').then((t) => t.trim().endsWith('*')), true);
    });

    it('signs up with the card through the virtual phone: the bank shows a new account with a pairwise sub', async () => {
      const demoUrl = `http://127.0.0.1:${ports.demo}/`;
      const r = await signUp(demoUrl, 'first');
      assert.match(r.number, /^DEMO-\d{6}$/);
      assert.match(r.sub, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(r.acr, 'urn:mynagate:acr:card-auth');
      assert.match(r.greeting, /口座を開設しました/);
      first = { number: r.number, sub: r.sub };
      if (!existsSync(DOCS_PICTURE) || process.env['MYNAGATE_UPDATE_DOCS'] === '1') {
        await mkdir(join(ROOT, 'docs'), { recursive: true });
        await copyFile(r.loginShot, DOCS_PICTURE);
      }
    });

    it('stops cleanly on Ctrl-C and, restarted on the same data, gives the same card the same account', async () => {
      assert.ok(first, 'the first sign-up ran');
      await stop();
      const demoUrl = await start();
      assert.match(server!.stdout(), /\(reused\)/);
      const r = await signUp(demoUrl, 'restart');
      assert.equal(r.number, first.number);
      assert.equal(r.sub, first.sub);
      assert.match(r.greeting, /おかえりなさい/);
      await stop();
    });
  },
);
