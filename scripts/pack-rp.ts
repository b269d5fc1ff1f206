/**
 * Packs `@mynagate/rp` for installation outside this workspace: `npm run pack:rp [-- <outDir>]` writes
 * `mynagate-rp-<version>.tgz` to `outDir` (default `.scratch/pack`) and prints its path.
 *
 * Inside the workspace every package runs its TypeScript directly (type stripping), and `exports` name `.ts` files.
 * Node strips no types under `node_modules` (`ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING`), and `@mynagate/errors`
 * is private, so the workspace package cannot be installed as it is. The tarball holds instead:
 * - `dist/*.js` + `dist/*.d.ts`, compiled by the workspace's own `tsc` settings, `.ts` import paths rewritten to `.js`;
 * - `@mynagate/errors` compiled in under the private path `dist/vendor/mynagate-errors/` (no export names it), so
 *   the tarball depends only on public npm packages;
 * - a `package.json` whose `exports` point at the JavaScript with its `types`, and a truthful `engines.node`.
 *
 * @example
 * ```sh
 * npm run pack:rp -- /tmp/out   # → /tmp/out/mynagate-rp-0.1.0.tgz
 * cd ../my-service && npm install /tmp/out/mynagate-rp-0.1.0.tgz
 * ```
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const RP = join(ROOT, 'packages', 'rp');
const ERRORS = join(ROOT, 'packages', 'errors');

/** The workspace packages compiled into the tarball, each under `dist/vendor/<dir>/`. */
const VENDORED: Readonly<Record<string, string>> = { '@mynagate/errors': 'mynagate-errors' };

/**
 * The lowest Node the packed SDK runs on. The floor is `KeyObject.prototype.toCryptoKey` (Node 22.10.0), which
 * `createMynaGateClient` uses for `privateJwk`; openid-client 6 itself needs Node 20. `packages/rp/test/pack.test.ts`
 * runs the installed tarball on every Node it finds at or above this floor.
 */
export const RP_NODE_ENGINES = '>=22.10.0';

/** What {@link packRp} made. */
export interface PackResult {
  /** Absolute path of the `.tgz`. */
  readonly tarball: string;
  /** The package.json written into it. */
  readonly manifest: PackedManifest;
}

/** The fields of the packed package.json that a consumer's tooling reads. */
export interface PackedManifest {
  readonly name: string;
  readonly version: string;
  readonly engines: { readonly node: string };
  readonly exports: Readonly<Record<string, string | { readonly types: string; readonly default: string }>>;
  readonly dependencies: Readonly<Record<string, string>>;
  readonly [field: string]: unknown;
}

interface WorkspaceManifest {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly license?: string;
  readonly exports: Readonly<Record<string, string>>;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
}

/** The frameworks of the `./express` and `./fastify` subpaths: optional peers, at the ranges the tests run. */
const OPTIONAL_PEERS = ['express', '@types/express', 'fastify'] as const;

/**
 * Compiles and packs `packages/rp` into `outDir` (created if missing).
 *
 * @throws Error when the compiler fails, when `packages/rp` depends on a workspace package that is not vendored,
 *   or when the compiled output still names a workspace package or a `.ts` file.
 */
export async function packRp(outDir: string): Promise<PackResult> {
  const rp = await readJson<WorkspaceManifest>(join(RP, 'package.json'));
  const errors = await readJson<WorkspaceManifest & { dependencies?: object }>(join(ERRORS, 'package.json'));
  for (const dep of Object.keys(rp.dependencies ?? {})) {
    if (dep.startsWith('@mynagate/') && !(dep in VENDORED))
      throw new Error(`packages/rp depends on ${dep}, which pack-rp does not vendor`);
  }
  if (Object.keys(errors.dependencies ?? {}).length > 0)
    throw new Error('@mynagate/errors gained dependencies: vendor them too, or list them in the packed manifest');
  const errorsEntry = errors.exports['.'];
  if (errorsEntry === undefined || !errorsEntry.startsWith('./src/'))
    throw new Error(`@mynagate/errors exports '.' as ${errorsEntry}; pack-rp expects ./src/…`);

  const work = await mkdtemp(join(tmpdir(), 'mynagate-pack-rp-'));
  try {
    const src = join(work, 'src');
    const pkg = join(work, 'package');
    await cp(join(RP, 'src'), src, { recursive: true });
    await cp(join(ERRORS, 'src'), join(src, 'vendor', VENDORED['@mynagate/errors']!), { recursive: true });
    // ESM like the workspace; types of openid-client, express, fastify and node exactly as the workspace has them.
    await writeFile(join(work, 'package.json'), '{ "private": true, "type": "module" }\n');
    await symlink(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
    const vendorEntry = join(src, 'vendor', VENDORED['@mynagate/errors']!, errorsEntry.slice('./src/'.length));
    await rewriteImports(src, '@mynagate/errors', vendorEntry);

    const entries = Object.entries(rp.exports).map(([subpath, file]) => {
      if (!/^\.\/src\/[\w-]+\.ts$/.test(file)) throw new Error(`packages/rp exports ${subpath} as ${file}`);
      return { subpath, base: file.slice('./src/'.length, -'.ts'.length) };
    });
    await writeFile(
      join(work, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: {
          noEmit: false,
          declaration: true,
          rootDir: 'src',
          outDir: 'package/dist',
          // The workspace's own settings otherwise: strict, nodenext, erasable syntax, .ts paths rewritten to .js.
        },
        files: entries.map((e) => `src/${e.base}.ts`),
        include: [],
      }),
    );
    const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
    run(process.execPath, [tsc, '-p', join(work, 'tsconfig.json')], work);
    // tsc rewrites `.ts` import paths in the JavaScript only; the declarations keep them (TypeScript resolves
    // them, other tools and older compilers do not): rewrite those too, then check both.
    await rewriteDeclarationImports(join(pkg, 'dist'));
    await checkOutput(join(pkg, 'dist'));

    const root = await readJson<{ license?: string }>(join(ROOT, 'package.json'));
    const dev = rp.devDependencies ?? {};
    const manifest: PackedManifest = {
      name: rp.name,
      version: rp.version,
      ...(rp.description === undefined ? {} : { description: rp.description }),
      license: rp.license ?? root.license ?? 'UNLICENSED',
      type: 'module',
      engines: { node: RP_NODE_ENGINES },
      exports: {
        ...Object.fromEntries(
          entries.map((e) => [e.subpath, { types: `./dist/${e.base}.d.ts`, default: `./dist/${e.base}.js` }]),
        ),
        './package.json': './package.json',
      },
      files: ['dist', 'README.md', 'LICENSE'],
      dependencies: Object.fromEntries(
        Object.entries(rp.dependencies ?? {}).filter(([name]) => !name.startsWith('@mynagate/')),
      ),
      peerDependencies: Object.fromEntries(OPTIONAL_PEERS.filter((p) => dev[p]).map((p) => [p, dev[p]!])),
      peerDependenciesMeta: Object.fromEntries(
        OPTIONAL_PEERS.filter((p) => dev[p]).map((p) => [p, { optional: true }]),
      ),
    };
    await writeFile(join(pkg, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await cp(join(RP, 'README.md'), join(pkg, 'README.md'));
    await cp(join(ROOT, 'LICENSE'), join(pkg, 'LICENSE'));

    const out = resolve(outDir);
    await mkdir(out, { recursive: true });
    const packed = run('npm', ['pack', pkg, '--pack-destination', out, '--json', '--ignore-scripts'], work);
    const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
    return { tarball: join(out, filename), manifest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Replaces the bare specifier `from` by a relative path to `target` in every `.ts` file under `dir`. */
async function rewriteImports(dir: string, from: string, target: string): Promise<void> {
  const quoted = new RegExp(`(['"])${from.replace(/[/@]/g, '\\$&')}\\1`, 'g');
  for (const file of await tsFiles(dir)) {
    let path = relative(dirname(file), target);
    if (!path.startsWith('.')) path = `./${path}`;
    const text = await readFile(file, 'utf8');
    const rewritten = text.replace(quoted, `'${path}'`);
    if (rewritten !== text) await writeFile(file, rewritten);
  }
}

/** `from './x.ts'` and `import('./x.ts')` → `.js` in every `.d.ts` under `dist`. */
async function rewriteDeclarationImports(dist: string): Promise<void> {
  for (const f of (await readdir(dist, { recursive: true })).filter((n) => n.endsWith('.d.ts'))) {
    const text = await readFile(join(dist, f), 'utf8');
    const rewritten = text.replace(RELATIVE_TS_IMPORT, '$1$2$3.js$2');
    if (rewritten !== text) await writeFile(join(dist, f), rewritten);
  }
}

const RELATIVE_TS_IMPORT = /(\bfrom\s*|\bimport\s*\(\s*)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g;

/** Fails when an emitted file still imports a workspace package or a `.ts` path (the tarball would not load). */
async function checkOutput(dist: string): Promise<void> {
  const files = (await readdir(dist, { recursive: true })).filter((f) => /\.(?:js|d\.ts)$/.test(f));
  if (!files.includes('index.js')) throw new Error('tsc emitted no dist/index.js');
  for (const f of files) {
    const text = await readFile(join(dist, f), 'utf8');
    const bad = /(?:from\s*|import\s*\(\s*|import\s+)(['"])(@mynagate\/[^'"]*|\.{1,2}\/[^'"]*\.ts)\1/.exec(text);
    if (bad) throw new Error(`dist/${f} still imports ${bad[2]}`);
  }
}

async function tsFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  return names.filter((n) => n.endsWith('.ts')).map((n) => join(dir, n));
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/**
 * `env` without the `npm_*` variables an enclosing `npm run` sets (`npm_config_local_prefix` and the like would point
 * a child npm at the workspace), keeping the user's registry, proxy and TLS settings.
 */
export function npmChildEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const kept = /^npm_config_(?:registry|cafile|ca|cert|key|strict_ssl|proxy|https_proxy|noproxy|cache|userconfig)$/i;
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^npm_/i.test(k) || kept.test(k)));
}

function run(command: string, args: readonly string[], cwd: string): string {
  const env = npmChildEnv();
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

if (process.argv[1] === import.meta.filename) {
  const { tarball } = await packRp(process.argv[2] ?? join(ROOT, '.scratch', 'pack'));
  console.log(tarball);
}
