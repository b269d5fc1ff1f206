/**
 * OpenID Provider figures: complete card logins per second and their latency, on SQLite and on PostgreSQL + Redis,
 * against the same provider's trivial login measured in the same run.
 *
 * The provider runs in processes of its own (`bench/op-provider.ts`, which also holds the trivial provider, and writes
 * the operator's event log to a file as a deployment would), so what this process does to run the benchmark is not
 * the provider's; the load comes from `bench/op-load.ts` in another process (the pinned Node), which plays both the
 * browsers and the companions with virtual cards. A card login is: authorize → login page →
 * event stream → companion scan → card signature → token post (path validation, OCSP, person lookup) → `done` →
 * code → tokens. The trivial login is the same provider (same configuration, stores, keys and client) with an
 * interaction that finishes at once for a fixed person: authorize → interaction → code → tokens.
 *
 * 1. maximum rate: closed loop, a fixed number of logins in flight, in {@link ROUNDS} interleaved rounds of trivial and
 *    card logins (order alternating, ABBA), so both see the same machine; the figures are medians over the rounds and
 *    the overhead ratio is the median of the per-round ratios; 2. latency at half the median maximum: open loop
 *    (starts on a fixed schedule, so queueing shows), long enough for a p99 over a few hundred logins. Every run
 *    discards its first {@link WARMUP_MS} (JIT, connection pools, OCSP cache), and the measured rounds follow one
 *    unmeasured round of each kind.
 *
 * `MYNAGATE_BENCH_OP_STORES=sqlite` (or `postgres`) measures one store only; `MYNAGATE_BENCH_OP_PROCESSES=N` runs the
 * PostgreSQL + Redis provider as N processes sharing its ports, as a deployment's nodes do (default 1: on a two-core
 * machine shared with the load generator and the databases, a second process measured no better). PostgreSQL is skipped, with a note,
 * when PostgreSQL or Redis is unreachable.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCardFile } from '../packages/card/src/virtual/index.ts';
import { generateSigningKey, type StoreConfig } from '../packages/idp/src/index.ts';
import { dropPostgresRedis, PG_URL, reachable, REDIS_URL } from '../packages/idp/test/support/op-fixture.ts';
import { createKeyPool, serveTestJpki, TestJpki } from '../packages/pki/src/testing/index.ts';
import type { Bench, Figure } from './figure.ts';
import { syscallCosts, watchMachine, type MachineReport } from './machine.ts';
import type { LoadConfig, LoadResult } from './op-load.ts';
import type { ProviderCommand, ProviderReply, ProviderSetup } from './op-provider.ts';

const CARDS = 48;
const PIN = '1234';
const CONCURRENCY = 12;
const ROUNDS = Number(process.env['MYNAGATE_BENCH_OP_ROUNDS'] ?? 3);
const WARMUP_MS = 1500;
/** The load generator's niceness (see `runLoad`). */
const LOAD_NICENESS = 10;
const DURATION_MS = 5000;
/** The unmeasured round of each kind before round 1 (see {@link measure}). */
const WARMUP_ROUND_MS = 3000;
/** The half-max run: at 50-70 logins/s, 1,500-2,000 samples, so the p99 is the 15th-20th slowest, not an outlier. */
const HALF_MAX_DURATION_MS = 30_000;
const STORES = (process.env['MYNAGATE_BENCH_OP_STORES'] ?? 'sqlite,postgres').split(',');
/**
 * Provider processes on PostgreSQL + Redis (`MYNAGATE_BENCH_OP_PROCESSES`, default 1), sharing their ports as a
 * deployment's do (`listen.reusePort`); SQLite is one process.
 */
const PG_PROCESSES = processCount(process.env['MYNAGATE_BENCH_OP_PROCESSES']);
/**
 * `MYNAGATE_BENCH_OP_PROFILE=DIR` writes CPU profiles (open in Chrome DevTools): the provider's, one per run, as
 * `DIR/<store>-<n>-<mode>.cpuprofile`, and the load generator's under `DIR/load/`. Profiling slows both down.
 */
const PROFILE_DIR = process.env['MYNAGATE_BENCH_OP_PROFILE'] || undefined;
/** How the load generator's companions sign (op-load.ts): with the card keys, or by emulating the cards. */
const COMPANION: LoadConfig['companion'] =
  process.env['MYNAGATE_BENCH_OP_COMPANION'] === 'virtual-card' ? 'virtual-card' : 'key';
const RP = {
  clientId: 'bench-rp',
  secret: randomBytes(32).toString('base64url'),
  redirectUri: 'https://rp.example/cb',
};

export const bench: Bench = async (log) => {
  log(`op: fixture: test JPKI and ${CARDS} virtual cards…`);
  const dir = await mkdtemp(join(tmpdir(), 'mynagate-bench-op-'));
  const keys = await createKeyPool(400, { cacheFile: join(tmpdir(), 'mynagate-keypool-400.json') });
  const jpki = await TestJpki.init(join(dir, 'jpki'), { keys });
  const issued = await jpki.issueCards(
    Array.from({ length: CARDS }, (_, i) => ({
      name: `試験　${i + 1}`,
      address: '東京都千代田区千代田1-1',
      birthDate: '1990-01-02',
      sex: '1' as const,
      pin: PIN,
      password: 'BENCH2025',
    })),
  );
  // What the companions sign with (op-load.ts `companion: 'key'`): the card's own computation, without emulating
  // the card (its scrypt PIN check and APDUs) on the machine whose provider is measured.
  const cardKeys = join(dir, 'card-keys.json');
  await writeFile(
    cardKeys,
    JSON.stringify(
      issued.map((c) => ({
        key: Buffer.from(c.spec.authKey).toString('base64'),
        cert: Buffer.from(c.spec.authCert).toString('base64'),
      })),
    ),
  );
  const cards = await Promise.all(
    issued.map(async (c, i) => {
      const file = join(dir, `card-${i}.json`);
      await writeCardFile(file, c.spec, { scryptCost: 1 << 10 });
      return file;
    }),
  );
  const ocsp = await serveTestJpki(jpki, { port: 0 });
  const figures: Figure[] = [];
  // Not targets: what this machine charges for what a login is made of, so that two machines' figures compare.
  const costs = await syscallCosts();
  log(
    `op: this machine: a system call ${costs.syscallNs.toFixed(0)} ns, a loopback TCP round trip ` +
      `${costs.loopbackRoundTripCpuUs.toFixed(1)} µs of CPU (both ends)`,
  );
  figures.push({
    name: 'op.machine_loopback_round_trip_cpu_us',
    value: costs.loopbackRoundTripCpuUs,
    unit: 'µs',
    baseline: { name: 'op.machine_syscall_ns', value: costs.syscallNs, unit: 'ns' },
  });
  try {
    const fixture: Fixture = { jpki, ocspUrl: `${ocsp.url}/ocsp/auth`, keys: cardKeys, cards, dir };
    if (STORES.includes('sqlite'))
      figures.push(
        ...(await storeFigures('sqlite', log, fixture, 1, {
          kind: 'sqlite',
          path: join(dir, `idp-${randomBytes(4).toString('hex')}.db`),
        })),
      );
    if (!STORES.includes('postgres')) {
      // Not asked for.
    } else if ((await reachable(PG_URL)) && (await reachable(REDIS_URL))) {
      const schema = `mg_bench_${randomBytes(6).toString('hex')}`;
      const redisPrefix = `mg-bench-${randomBytes(6).toString('hex')}:`;
      try {
        figures.push(
          ...(await storeFigures('postgres', log, fixture, PG_PROCESSES, {
            kind: 'postgres',
            url: PG_URL,
            schema,
            redisUrl: REDIS_URL,
            redisPrefix,
          })),
        );
      } finally {
        // A failure says so on the log rather than hide the run's own error.
        await dropPostgresRedis(schema, redisPrefix).catch((e: unknown) => log(`op: clean-up failed: ${String(e)}`));
      }
    } else {
      log(
        `op: PostgreSQL figures skipped: PostgreSQL (${new URL(PG_URL).host}) or Redis (${new URL(REDIS_URL).host}) unreachable`,
      );
    }
  } finally {
    await ocsp.close();
    await rm(dir, { recursive: true, force: true });
  }
  return figures;
};

/** A load run as measured here: the load generator's result and the provider's CPU time per login. */
type Run = LoadResult & {
  /** What else the machine ran (the half-max run only). */
  readonly machine?: MachineReport | undefined;
  readonly cpuMsPerLogin: number;
  /** How late the provider's event loop ran (blocking work, GC, or a machine too busy to schedule it). */
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
};

interface Fixture {
  readonly jpki: TestJpki;
  readonly ocspUrl: string;
  readonly keys: string;
  readonly cards: readonly string[];
  /** The run's temporary directory (stores, event logs). */
  readonly dir: string;
}

async function storeFigures(
  store: 'sqlite' | 'postgres',
  log: (line: string) => void,
  f: Fixture,
  processes: number,
  storeConfig: StoreConfig,
): Promise<Figure[]> {
  const setup: ProviderSetup = {
    store: storeConfig,
    cardPort: 0,
    trivialPort: 0,
    reusePort: processes > 1,
    clients: [
      {
        client_id: RP.clientId,
        client_name: 'Bench RP',
        client_secret: RP.secret,
        redirect_uris: [RP.redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [generateSigningKey()] },
    cookieKeys: [randomBytes(32).toString('base64url')],
    pairwiseSecret: randomBytes(32).toString('base64'),
    anchors: {
      auth: Buffer.from(f.jpki.caCertificate('auth')).toString('base64'),
      sign: Buffer.from(f.jpki.caCertificate('sign')).toString('base64'),
    },
    ocspUrl: f.ocspUrl,
    logFile: join(f.dir, `events-${store}.log`),
  };
  // One at a time: the first creates the store's schema and picks the ports, the others join them.
  const providers: Provider[] = [];
  try {
    const first = await startProvider(setup);
    providers.push(first);
    const cardPort = Number(new URL(first.issuer).port);
    const trivialPort = Number(new URL(first.trivialUrl).port);
    for (let i = 1; i < processes; i++) providers.push(await startProvider({ ...setup, cardPort, trivialPort }));
    if (processes > 1) log(`op[${store}]: the provider runs as ${processes} processes sharing its ports (reusePort)`);
    return await measure(store, log, f, first, providers);
  } finally {
    await Promise.all(providers.map((p) => p.close()));
  }
}

async function measure(
  store: 'sqlite' | 'postgres',
  log: (line: string) => void,
  f: Fixture,
  idp: { readonly issuer: string; readonly trivialUrl: string },
  providers: readonly Provider[],
): Promise<Figure[]> {
  /** A load run, with the providers' CPU time per finished login (all processes') and the worst event-loop delay. */
  let runs = 0;
  const run = async (
    mode: LoadConfig['mode'],
    issuer: string,
    load: LoadConfig['load'],
    durationMs = DURATION_MS,
    watch = false,
  ): Promise<Run> => {
    const machine = watch ? watchMachine() : undefined;
    const profile = PROFILE_DIR !== undefined;
    await Promise.all(providers.map((p) => p.command({ kind: 'start', profile })));
    const r = await runLoad({
      mode,
      issuer,
      clientId: RP.clientId,
      clientSecret: RP.secret,
      redirectUri: RP.redirectUri,
      companion: COMPANION,
      keys: f.keys,
      cards: f.cards,
      pin: PIN,
      load,
      warmupMs: WARMUP_MS,
      durationMs,
    });
    const n = ++runs;
    const used = await Promise.all(
      providers.map((p, i) =>
        p.command({
          kind: 'stop',
          ...(profile
            ? {
                profile: join(
                  PROFILE_DIR!,
                  `${store}-${n}-${mode}${providers.length > 1 ? `-p${i + 1}` : ''}.cpuprofile`,
                ),
              }
            : {}),
        }),
      ),
    );
    const stopped = used.map((u) => u as Extract<ProviderReply, { kind: 'stopped' }>);
    return {
      ...r,
      machine: await machine?.stop(),
      cpuMsPerLogin: stopped.reduce((sum, u) => sum + u.cpuMs, 0) / Math.max(1, r.finished),
      loopDelayP99Ms: Math.max(...stopped.map((u) => u.loopDelayP99Ms)),
      loopDelayMaxMs: Math.max(...stopped.map((u) => u.loopDelayMaxMs)),
    };
  };
  const closed = { kind: 'closed', concurrency: CONCURRENCY } as const;
  const report = (what: string, r: Run) =>
    log(
      `op[${store}]: ${what}: ${r.completed} logins, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}, ` +
        `${r.perSecond.toFixed(1)}/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms; CPU per login: ` +
        `provider ${r.cpuMsPerLogin.toFixed(2)} ms, load ${(r.loadCpuMs / Math.max(1, r.finished)).toFixed(2)} ms; ` +
        `provider event-loop delay p99 ${r.loopDelayP99Ms.toFixed(1)} ms, max ${r.loopDelayMaxMs.toFixed(1)} ms`,
    );
  // A provider's first load of each kind runs slower than the rest (JIT of its paths, the stores' caches and pools):
  // in ten runs, round 1 measured 4-24 % below rounds 2 and 3, trivial and card alike. One unmeasured round of each
  // first, so that every measured round measures the same, warm provider.
  for (const mode of ['trivial', 'card'] as const) {
    const r = await run(mode, mode === 'trivial' ? idp.trivialUrl : idp.issuer, closed, WARMUP_ROUND_MS);
    report(`warm-up (not counted): ${mode}, ${CONCURRENCY} in flight`, r);
  }
  const bases: Run[] = [];
  const maxes: Run[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // ABBA: trivial first in odd rounds, card first in even ones, so a drifting machine load favours neither.
    const order = round % 2 === 1 ? (['trivial', 'card'] as const) : (['card', 'trivial'] as const);
    for (const mode of order) {
      const r = await run(mode, mode === 'trivial' ? idp.trivialUrl : idp.issuer, closed);
      (mode === 'trivial' ? bases : maxes).push(r);
      report(`round ${round}/${ROUNDS}: ${mode}, ${CONCURRENCY} in flight`, r);
    }
  }
  const base = medianBy(bases, (r) => r.perSecond);
  const max = medianBy(maxes, (r) => r.perSecond);
  const ratio = median(maxes.map((r, i) => r.perSecond / bases[i]!.perSecond));
  const rate = Math.max(1, max.perSecond / 2);
  log(`op[${store}]: card logins at half the median maximum (${rate.toFixed(1)}/s)…`);
  const half = await run('card', idp.issuer, { kind: 'open', rate }, HALF_MAX_DURATION_MS, true);
  report('card at half max', half);
  const m = half.machine;
  if (m !== undefined) {
    const named = (list: readonly (readonly [string, number])[]) => list.map(([n, v]) => `${n} ${v}`).join(', ');
    log(
      `op[${store}]: the machine during the half-max run, CPU ms per s: provider and load ${m.ours.toFixed(0)}, ` +
        `PostgreSQL ${m.postgres.toFixed(0)}, Redis ${m.redis.toFixed(0)}, other processes and the kernel ` +
        `${m.others.toFixed(0)} (${named(m.othersTop)}), stolen by the hypervisor ${m.stolen.toFixed(0)}; ` +
        `the busiest 0.5 s of those: ${m.worstWindow.ms.toFixed(0)} ms (${named(m.worstWindow.top)})`,
    );
  }
  log(
    `op[${store}]: card at half max, by step (p50 / p99 ms): ` +
      Object.entries(half.phases)
        .map(([name, t]) => `${name} ${t.p50Ms.toFixed(1)} / ${t.p99Ms.toFixed(1)}`)
        .join(', '),
  );
  const errors = [...bases, ...maxes, half].reduce((n, r) => n + r.errors, 0);
  const baseline = { name: `op.trivial_login_per_s_${store}`, value: base.perSecond, unit: 'ops/s' };
  return [
    { name: `op.login_per_s_${store}`, value: max.perSecond, unit: 'ops/s', baseline },
    {
      name: `op.login_p99_ms_${store}`,
      value: max.p99Ms,
      unit: 'ms',
      baseline: { name: `op.trivial_login_p99_ms_${store}`, value: base.p99Ms, unit: 'ms' },
    },
    {
      // CPU time is what a busy machine inflates least: the cost of a login, whatever else runs.
      name: `op.provider_cpu_ms_per_login_${store}`,
      value: median(maxes.map((r) => r.cpuMsPerLogin)),
      unit: 'ms',
      baseline: {
        name: `op.provider_cpu_ms_per_trivial_login_${store}`,
        value: median(bases.map((r) => r.cpuMsPerLogin)),
        unit: 'ms',
      },
    },
    {
      name: `op.overhead_ratio_${store}`,
      value: ratio,
      unit: 'ratio',
      baseline,
      target: '>= 0.5',
    },
    {
      name: `op.login_p99_ms_at_half_max_${store}`,
      value: half.p99Ms,
      unit: 'ms',
      baseline: { name: `op.login_p50_ms_at_half_max_${store}`, value: half.p50Ms, unit: 'ms' },
      target: '< 50',
    },
    ...(m === undefined
      ? []
      : [
          {
            // Not a target: what other services took from the machine in their busiest half second of the
            // half-max run (a core is 500 ms), beside their average; the p99 above moves with it.
            name: `op.other_processes_cpu_ms_in_busiest_half_s_at_half_max_${store}`,
            value: m.worstWindow.ms,
            unit: 'ms',
            baseline: {
              name: `op.other_processes_cpu_ms_per_half_s_at_half_max_${store}`,
              value: (m.others + m.stolen) / 2,
              unit: 'ms',
            },
          },
        ]),
    {
      name: `op.login_errors_${store}`,
      value: errors,
      unit: 'count',
      baseline: null,
      target: '= 0',
    },
  ];
}

/** `MYNAGATE_BENCH_OP_PROCESSES`: a whole number from 1 to the cores there are (default 1). */
function processCount(text: string | undefined): number {
  if (text === undefined || text === '') return 1;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > availableParallelism())
    throw new Error(
      `MYNAGATE_BENCH_OP_PROCESSES must be a whole number from 1 to ${availableParallelism()}, not "${text}"`,
    );
  return n;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The run whose `key` is the median (the lower middle one for an even count), so its other figures go with it. */
function medianBy<T>(items: readonly T[], key: (item: T) => number): T {
  return [...items].sort((a, b) => key(a) - key(b))[(items.length - 1) >> 1]!;
}

/** One provider process (op-provider.ts), ready. */
interface Provider {
  readonly issuer: string;
  readonly trivialUrl: string;
  command(c: ProviderCommand): Promise<ProviderReply>;
  close(): Promise<void>;
}

/** Forks a provider process with the pinned Node and waits until it listens. */
async function startProvider(setup: ProviderSetup): Promise<Provider> {
  const child: ChildProcess = fork(join(import.meta.dirname, 'op-provider.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  let exited: Error | undefined;
  const waiting: ((r: ProviderReply) => void)[] = [];
  const failures: ((e: Error) => void)[] = [];
  child.on('message', (m) => waiting.shift()?.(m as ProviderReply));
  child.once('exit', (code, signal) => {
    exited = new Error(`op-provider exited (${signal ?? code})`);
    for (const fail of failures.splice(0)) fail(exited);
  });
  const next = (): Promise<ProviderReply> =>
    exited !== undefined
      ? Promise.reject(exited)
      : new Promise<ProviderReply>((resolve, reject) => {
          waiting.push((r) => (r.kind === 'failed' ? reject(new Error(`op-provider: ${r.message}`)) : resolve(r)));
          failures.push(reject);
        });
  const readyReply = next();
  child.send(setup);
  const ready = await readyReply;
  if (ready.kind !== 'ready') throw new Error(`op-provider answered ${ready.kind}`);
  return {
    issuer: ready.issuer,
    trivialUrl: ready.trivialUrl,
    command: (c) => {
      const answer = next();
      child.send(c);
      return answer;
    },
    close: async () => {
      if (exited !== undefined) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const answer = next();
      child.send({ kind: 'close' } satisfies ProviderCommand);
      await answer.catch(() => {});
      await gone;
    },
  };
}

/** Spawns the load generator with the pinned Node and reads its result. */
function runLoad(config: LoadConfig): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...(PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, 'load')}`]),
        join(import.meta.dirname, 'op-load.ts'),
        JSON.stringify(config),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_NO_WARNINGS: '1' },
      },
    );
    // The browsers and phones the load generator plays run on other machines in service; on this shared machine
    // it yields to the provider and its databases (a lower priority), so it does not preempt what is measured.
    // Its own measurements can only lose by it (a late look at a response counts as a slower login).
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, LOAD_NICENESS);
      } catch {
        // Not permitted here: the load runs at the same priority as the provider.
      }
    }
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0)
        return reject(new Error(`op-load exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult);
      } catch {
        reject(new Error(`op-load printed no result: ${out} ${err}`));
      }
    });
  });
}
