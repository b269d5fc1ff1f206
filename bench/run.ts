/**
 * `npm run bench [-- --json] [-- --only PREFIX]`: runs every benchmark module and prints each figure beside the
 * baseline measured in the same run. Timing lives here, never in tests.
 */
import { spawn } from 'node:child_process';
import { SERVER_NODE_FLAGS } from '../apps/cli/src/server-flags.ts';
import type { Bench, Figure } from './figure.ts';

const modules: Record<string, () => Promise<{ bench: Bench }>> = {
  card: () => import('./card.ts'),
  pcsc: () => import('./pcsc.ts'),
  crl: () => import('./crl.ts'),
  verify: () => import('./verify.ts'),
  op: () => import('./op.ts'),
};

/**
 * Modules that run in a process of their own with these Node flags: the OP benchmark's provider runs as the server
 * does (apps/cli/src/server-flags.ts), whatever flags this process has.
 */
const nodeFlags: Record<string, readonly string[]> = { op: SERVER_NODE_FLAGS };

const args = process.argv.slice(2);
const json = args.includes('--json');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined;
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const figures: Figure[] = [];
for (const [name, load] of Object.entries(modules)) {
  if (only && !name.startsWith(only)) continue;
  log(`${name}…`);
  const flags = nodeFlags[name] ?? [];
  const results = flags.every((f) => process.execArgv.includes(f))
    ? await (await load()).bench(log)
    : await inChild(name, flags);
  for (const f of results) {
    figures.push(f);
    if (json) process.stdout.write(`${JSON.stringify(f)}\n`);
  }
}

/** Runs one module in a child process with `flags` (its log lines pass through) and returns its figures. */
function inChild(name: string, flags: readonly string[]): Promise<Figure[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, import.meta.filename, '--only', name, '--json'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench ${name} exited ${code}`));
      resolve(
        out
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Figure),
      );
    });
  });
}

if (!json) {
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3));
  const rows = figures.map((f) => [
    f.name,
    `${fmt(f.value)} ${f.unit}`,
    f.baseline ? `${f.baseline.name}: ${fmt(f.baseline.value)} ${f.baseline.unit}` : '',
    f.target ?? '',
  ]);
  const head = ['figure', 'value', 'baseline (same run)', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}
