/**
 * The SDK as an adopter installs it: `scripts/pack-rp.ts` (`npm run pack:rp`) packs it, npm installs the tarball
 * from the registry into a project outside this workspace, `tsc --strict --module nodenext` typechecks the README's
 * Express and Fastify examples against it, and the installed package logs in at the real provider on Node 24, on
 * the lowest Node its `engines` allows, and on the system Node (`/usr/bin/env node` outside `node_modules/.bin`)
 * when `engines` allows that one.
 *
 * Without the npm registry the installing tests skip with the reason, or fail under `MYNAGATE_REQUIRE_SYSTEM=1`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { npmChildEnv, packRp, RP_NODE_ENGINES, type PackResult } from '../../../scripts/pack-rp.ts';
import { REQUIRE_SYSTEM_ENV } from '../../card/test/support/system.ts';
import * as sourceExpress from '../src/express.ts';
import * as sourceFastify from '../src/fastify.ts';
import * as sourceIndex from '../src/index.ts';
import { Browser } from './support/browser.ts';
import { loginWithCard, startProvider, type TestProvider } from './support/provider.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const BANK = { clientId: 'bank', redirectUri: 'https://bank.example/cb', auth: 'private_key_jwt' } as const;

let work: string;
let packed: PackResult;

before(async () => {
  // Under the system temp directory: outside the workspace, so nothing resolves from its node_modules.
  work = await mkdtemp(join(tmpdir(), 'mynagate-rp-pack-'));
  assert.ok(relative(ROOT, work).startsWith('..'), `${work} lies outside ${ROOT}`);
  packed = await packRp(join(work, 'out'));
});
after(() => rm(work, { recursive: true, force: true }));

/**
 * The Node on PATH outside node_modules/.bin, if there is one that engines allows (Node 20 lacks
 * KeyObject.toCryptoKey: see RP_NODE_ENGINES), with its version.
 */
const SYSTEM_NODE = await (async () => {
  const path = await systemNode();
  if (path === undefined) return undefined;
  const version = (await run(path, ['--version'])).stdout.trim();
  const floor = /^>=(\d+\.\d+\.\d+)$/.exec(RP_NODE_ENGINES)?.[1];
  return floor !== undefined && atLeast(version, floor) ? { path, version } : undefined;
})();

describe('npm run pack:rp', () => {
  it('packs JavaScript and declarations for every export, with engines and only public dependencies', async () => {
    const { manifest, tarball } = packed;
    const workspace = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
      version: string;
      exports: Record<string, string>;
    };
    assert.equal(manifest.name, '@mynagate/rp');
    assert.equal(manifest.version, workspace.version);
    assert.equal(manifest.engines.node, RP_NODE_ENGINES);
    assert.match(tarball, /mynagate-rp-\d+\.\d+\.\d+\.tgz$/);
    assert.deepEqual(Object.keys(manifest.dependencies), ['openid-client'], 'no workspace package as a dependency');
    const files = (await run('tar', ['-tzf', tarball])).stdout.split('\n').filter(Boolean);
    assert.deepEqual(
      files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
      [],
      'no TypeScript source: Node strips no types under node_modules',
    );
    for (const subpath of Object.keys(workspace.exports)) {
      const target = manifest.exports[subpath];
      assert.ok(typeof target === 'object', `${subpath} is exported`);
      assert.ok(files.includes(`package/${target.default.slice(2)}`), `${target.default} is in the tarball`);
      assert.ok(files.includes(`package/${target.types.slice(2)}`), `${target.types} is in the tarball`);
    }
    assert.ok(files.includes('package/dist/vendor/mynagate-errors/index.js'), '@mynagate/errors compiled in');
    assert.ok(files.includes('package/LICENSE'), 'the licence its manifest names goes with it');
  });

  describe('installed from the tarball in a project outside the workspace', { timeout: 300_000 }, () => {
    let consumer: string;
    let skip: string | undefined;
    let provider: TestProvider | undefined;

    before(async () => {
      skip = await registrySkipReason();
      if (skip !== undefined) return;
      consumer = join(work, 'consumer');
      await mkdir(consumer);
      await writeFile(join(consumer, 'package.json'), '{ "name": "consumer", "private": true, "type": "module" }\n');
      // The workspace's own versions (in the npm cache already). `nested` makes every package see only what it
      // declares, as pnpm and Yarn PnP do: a type the SDK reaches through a transitive dependency fails here.
      const peers = ['express', '@types/express', 'fastify', '@types/node', 'typescript'];
      await npm(consumer, ['install', '--install-strategy=nested', packed.tarball, ...peers.map(workspaceSpec)]);
      await writeFile(join(consumer, 'check.mjs'), CHECK);
      provider = await startProvider([BANK]);
    });
    after(() => provider?.close());

    it('the README examples typecheck in a strict consumer (tsc --strict --module nodenext)', async (t) => {
      if (!proceed(t, skip)) return;
      const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');
      await writeFile(
        join(consumer, 'express-example.ts'),
        [
          "import type { RequestHandler } from 'express';",
          'declare const users: { upsert(sub: string): Promise<void> };',
          'declare const transfer: RequestHandler, shop: RequestHandler;',
          codeBlockAfter(readme, '## Five minutes with Express'),
        ].join('\n'),
      );
      await writeFile(
        join(consumer, 'fastify-example.ts'),
        [
          "import type { RouteHandlerMethod } from 'fastify';",
          "import type { CompletionResult, MynaGateClient } from '@mynagate/rp';",
          'declare const client: MynaGateClient;',
          'declare const onLogin: (result: CompletionResult) => Promise<void>;',
          'declare const transfer: RouteHandlerMethod, shop: RouteHandlerMethod;',
          codeBlockAfter(readme, '## Five minutes with Fastify'),
        ].join('\n'),
      );
      const tsc = join(consumer, 'node_modules', 'typescript', 'bin', 'tsc');
      const args = ['--strict', '--module', 'nodenext', '--noEmit', '--types', 'node'];
      const r = await run(process.execPath, [tsc, ...args, 'express-example.ts', 'fastify-example.ts'], consumer);
      assert.equal(r.status, 0, `tsc found errors:\n${r.stdout}${r.stderr}`);
    });

    // The lowest Node engines allows, from the registry (the same binaries the `node` package installs).
    const floor = /^>=(\d+\.\d+\.\d+)$/.exec(RP_NODE_ENGINES)?.[1];
    const runtimes: { readonly name: string; readonly node: () => Promise<string | undefined> }[] = [
      { name: `Node ${process.version} (this test's)`, node: async () => process.execPath },
      { name: `the lowest Node engines allows (${floor})`, node: () => floorNode() },
      // The machine's own Node too, when engines allows it (a Node below is not supported, so not run at all).
      ...(SYSTEM_NODE === undefined
        ? []
        : [{ name: `the system Node (${SYSTEM_NODE.version})`, node: async () => SYSTEM_NODE.path }]),
    ];
    for (const runtime of runtimes) {
      it(`imports and logs in on ${runtime.name}`, async (t) => {
        if (!proceed(t, skip)) return;
        const node = await runtime.node();
        if (node === undefined) return t.skip('no such Node here');
        const version = (await run(node, ['--version'])).stdout.trim();
        assert.ok(atLeast(version, floor!), `${version} is below engines ${RP_NODE_ENGINES}`);
        const input = { issuer: provider!.issuer, ...provider!.clients[BANK.clientId]! };
        const start = await check<CheckStart>(node, 'start', input);
        assert.equal(start.node, version);
        assert.deepEqual(start.exported, {
          index: Object.keys(sourceIndex).sort(),
          express: Object.keys(sourceExpress).sort(),
          fastify: Object.keys(sourceFastify).sort(),
        });
        assert.deepEqual(start.misuse, {
          typeError: true,
          message: 'issuer must be https (http only on a loopback host with allowLoopbackHttp: true)',
        });
        assert.deepEqual(start.error, { rpError: true, code: 'ERR_RP_NETWORK', mynagate: true });
        assert.ok(new URL(start.url).searchParams.get('request_uri'), 'pushed (PAR, signed client assertion)');

        // The person logs in with the card; the installed SDK finishes (token request, ID token checks).
        const browser = new Browser({ stopAt: [BANK.redirectUri] });
        const card = await provider!.newCard();
        const end = await loginWithCard(provider!, browser, await browser.follow(start.url), card);
        const done = await check<{ sub: string; acr: string; amr: string[] }>(node, 'complete', {
          ...input,
          transaction: start.transaction,
          callback: end.url,
        });
        assert.match(done.sub, /^[\w-]{20,}$/);
        assert.equal(done.acr, sourceIndex.ACR_CARD_AUTH);
        assert.ok(done.amr.includes('hwk'));
      });
    }

    /** Runs a step of {@link CHECK} on `node` in the consumer project; its JSON answer. */
    async function check<T>(node: string, step: 'start' | 'complete', input: object): Promise<T> {
      return JSON.parse((await run(node, ['check.mjs', step, JSON.stringify(input)], consumer, true)).stdout) as T;
    }

    async function floorNode(): Promise<string> {
      const dir = join(work, 'floor-node');
      const name = `node-${process.platform}-${process.arch}`;
      await npm(work, ['install', '--prefix', dir, '--no-save', `${name}@${floor}`]);
      return join(dir, 'node_modules', name, 'bin', 'node');
    }
  });
});

/** What `check.mjs start` prints. */
interface CheckStart {
  readonly node: string;
  readonly exported: { readonly index: string[]; readonly express: string[]; readonly fastify: string[] };
  readonly misuse: { readonly typeError: boolean; readonly message: string };
  readonly error: { readonly rpError: boolean; readonly code: string; readonly mynagate: boolean };
  readonly url: string;
  readonly transaction: unknown;
}

/** Runs in the consumer project under the Node being checked: plain JavaScript importing the installed package. */
const CHECK = `
import * as rp from '@mynagate/rp';
import * as express from '@mynagate/rp/express';
import * as fastify from '@mynagate/rp/fastify';

const [step, json] = process.argv.slice(2);
const input = JSON.parse(json);
const options = {
  issuer: input.issuer,
  clientId: input.clientId,
  privateJwk: input.privateJwk,
  redirectUri: input.redirectUri,
  allowLoopbackHttp: true,
};
if (step === 'start') {
  let misuse;
  try {
    rp.createMynaGateClient({ ...options, issuer: 'http://id.example.jp' });
  } catch (e) {
    misuse = { typeError: e instanceof TypeError, message: e.message };
  }
  const e = new rp.RpNetworkError('https://id.example.jp/token');
  const error = { rpError: e instanceof rp.RpError, code: e.code, mynagate: Object.getPrototypeOf(rp.RpError).name === 'MynaGateError' };
  const { url, transaction } = await rp.createMynaGateClient(options).cardLogin({ usePar: true });
  const exported = { index: Object.keys(rp).sort(), express: Object.keys(express).sort(), fastify: Object.keys(fastify).sort() };
  console.log(JSON.stringify({ node: process.version, exported, misuse, error, url: url.href, transaction }));
} else {
  const r = await rp.createMynaGateClient(options).complete(input.transaction, input.callback);
  console.log(JSON.stringify({ sub: r.sub, acr: r.acr, amr: r.amr }));
}
`;

/** The fenced `ts` block right after `heading` in the README. */
function codeBlockAfter(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  assert.ok(at !== -1, `README has ${heading}`);
  const block = /```ts\n([\s\S]*?)\n```/.exec(markdown.slice(at));
  assert.ok(block, `a ts block follows ${heading}`);
  return block[1]!;
}

/** Why the registry cannot be used, or undefined; under MYNAGATE_REQUIRE_SYSTEM=1 the reason is a failure. */
async function registrySkipReason(): Promise<string | undefined> {
  let problem: string;
  try {
    const ping = await run('npm', ['ping', '--fetch-retries=1', '--fetch-timeout=20000'], undefined, false, 60_000);
    if (ping.status === 0) return undefined;
    const errors = ping.stderr.split('\n').filter((l) => l.startsWith('npm error'));
    problem = errors.find((l) => l.includes('reason:')) ?? errors[0] ?? `exit ${ping.status}`;
  } catch (e) {
    problem = (e as Error).message; // not started, or timed out
  }
  const reason = `the npm registry is unreachable (npm ping: ${problem})`;
  if (process.env[REQUIRE_SYSTEM_ENV] === '1') throw new Error(`${reason} (${REQUIRE_SYSTEM_ENV}=1)`);
  return reason;
}

/** Skips `t` with `reason` when there is one; returns whether the test may go on. */
function proceed(t: TestContext, reason: string | undefined): boolean {
  if (reason === undefined) return true;
  t.skip(reason);
  return false;
}

/** The `node` on PATH once every `node_modules` directory (npm scripts' `.bin`, the pinned Node) is left out. */
async function systemNode(): Promise<string | undefined> {
  const path = (process.env.PATH ?? '').split(delimiter).filter((d) => d && !d.includes('node_modules'));
  const r = await run('/usr/bin/env', [`PATH=${path.join(delimiter)}`, 'sh', '-c', 'command -v node']);
  const found = r.stdout.trim();
  return r.status === 0 && found ? found : undefined;
}

/** `name@version` as installed in the workspace (so npm finds it in its cache). */
function workspaceSpec(name: string): string {
  const { version } = createRequire(join(ROOT, 'package.json'))(`${name}/package.json`) as { version: string };
  return `${name}@${version}`;
}

function atLeast(version: string, floor: string): boolean {
  const a = version.replace(/^v/, '').split('.').map(Number);
  const b = floor.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  return true;
}

/** npm, preferring its cache (the workspace's versions are there), without an enclosing `npm test`'s variables. */
async function npm(cwd: string, args: readonly string[]): Promise<void> {
  await run('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], cwd, true, 240_000);
}

/** Runs `command` without blocking the event loop (the provider answers in this process meanwhile). */
async function run(
  command: string,
  args: readonly string[],
  cwd?: string,
  check = false,
  timeout = 120_000,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { cwd, env: npmChildEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [status] = (await once(child, 'close')) as [number | null];
  if (check && status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${status}):\n${stdout}${stderr}`);
  }
  return { status, stdout, stderr };
}
