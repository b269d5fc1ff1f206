/**
 * What else the machine ran while a figure was measured: CPU time of this process and its children (the provider
 * and the load generator), of PostgreSQL and Redis, and of every other process, and the busiest half second of those
 * others, named. A latency percentile on a shared two-core machine moves with what other services do (a periodic
 * task that takes a core for half a second queues every login in flight), so the OP benchmark prints this beside
 * its half-max latency.
 *
 * Linux only (`/proc`); elsewhere {@link watchMachine} resolves `undefined`. The sampling runs in a child process at
 * a low priority, reading `/proc/stat` and the few processes it already knows every {@link TICK_MS}, and every
 * process once a second (to name the others); it costs the machine about 1% of a core.
 *
 * Child usage: `node bench/machine.ts <root pid>`; it samples until its standard input closes, then prints one JSON
 * line ({@link MachineReport}).
 */
import { spawn } from 'node:child_process';
import { fstatSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { setPriority } from 'node:os';

/** What {@link watchMachine} reports; CPU figures are milliseconds of CPU per second of wall time. */
export interface MachineReport {
  readonly seconds: number;
  /** The watched process and its descendants. */
  readonly ours: number;
  readonly postgres: number;
  readonly redis: number;
  /** Everything else, kernel threads and interrupts included. */
  readonly others: number;
  /** Time the hypervisor gave this machine's CPUs to other machines. */
  readonly stolen: number;
  /** The other processes that used the most, by name. */
  readonly othersTop: readonly (readonly [name: string, msPerS: number])[];
  /**
   * The busiest {@link WINDOW_MS} of the others and the hypervisor: CPU ms in it, and who (from the scans around it;
   * a process that starts and exits between two scans is counted but not named).
   */
  readonly worstWindow: { readonly ms: number; readonly top: readonly (readonly [name: string, ms: number])[] };
}

const TICK_MS = 100;
const SCAN_MS = 1000;
const WINDOW_MS = 500;
const DATABASES: Readonly<Record<string, 'postgres' | 'redis'>> = { postgres: 'postgres', 'redis-server': 'redis' };

/**
 * What a system call and a loopback TCP round trip cost on this machine, in CPU: the provider's work per login is a
 * few dozen of each (HTTP requests, Redis and PostgreSQL round trips), and a virtual machine may make them several
 * times dearer than bare metal, so two machines' OP figures compare only beside these. Measured in this process for
 * about half a second: `fstat` of standard input, and one byte echoed over a loopback connection (both ends here, so
 * a round trip's CPU is the client's and the server's: the provider's side of a Redis command, and Redis's own).
 */
export async function syscallCosts(): Promise<{ readonly syscallNs: number; readonly loopbackRoundTripCpuUs: number }> {
  const calls = 50_000;
  const t = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fstatSync(0);
  const syscallNs = Number(process.hrtime.bigint() - t) / calls;
  const server = createServer((s) => s.on('data', (d) => s.write(d)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const trips = 5_000;
  const cpu = process.cpuUsage();
  await new Promise<void>((resolve) => {
    let n = 0;
    socket.on('data', () => (++n < trips ? socket.write('x') : resolve()));
    socket.write('x');
  });
  const used = process.cpuUsage(cpu);
  socket.destroy();
  server.close();
  return { syscallNs, loopbackRoundTripCpuUs: (used.user + used.system) / trips };
}

/** Starts watching; `stop()` ends it and resolves the report (`undefined` without `/proc`). */
export function watchMachine(): { stop(): Promise<MachineReport | undefined> } {
  let hasProc = true;
  try {
    readFileSync('/proc/stat');
  } catch {
    hasProc = false;
  }
  if (!hasProc) return { stop: async () => undefined };
  const child = spawn(process.execPath, [import.meta.filename, String(process.pid)], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  try {
    if (child.pid !== undefined) setPriority(child.pid, 10);
  } catch {
    // Not permitted: it samples at the same priority.
  }
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    async stop() {
      child.stdin.end();
      await exited;
      try {
        return JSON.parse(out.trim().split('\n').at(-1)!) as MachineReport;
      } catch {
        return undefined;
      }
    },
  };
}

/** One process as `/proc/<pid>/stat` tells: name, parent, CPU ticks (user + system). */
function stat(pid: string): { name: string; ppid: string; ticks: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const close = s.lastIndexOf(')');
    const f = s.slice(close + 2).split(' ');
    return { name: s.slice(s.indexOf('(') + 1, close), ppid: f[1]!, ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/**
 * CPU ticks of the whole machine from `/proc/stat`: busy (user, nice, system, irq, softirq; guest time is already in
 * user and nice) and steal (time the hypervisor gave this VM's CPUs to someone else).
 */
function machineTicks(): { readonly busy: number; readonly steal: number } {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'latin1')
    .split('\n', 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { busy: user! + nice! + system! + irq! + softirq!, steal: steal ?? 0 };
}

async function sample(root: string): Promise<void> {
  const tickMs = 10; // USER_HZ is 100 on Linux
  const start = performance.now();
  // Known processes (ours: root and its descendants; the databases) with their ticks when last read; each tick adds
  // what they used since, so one that exits still counts up to its last tick. The rest of the machine's busy time
  // is the others'.
  const kind = new Map<string, 'ours' | 'postgres' | 'redis'>();
  const last = new Map<string, number>();
  const used = { ours: 0, postgres: 0, redis: 0 };
  const seen = new Map<string, { readonly name: string; readonly ticks: number }>();
  const byName = new Map<string, number>();
  const scan = () => {
    const all = new Map<string, { name: string; ppid: string; ticks: number }>();
    for (const pid of readdirSync('/proc')) {
      if (pid.charCodeAt(0) > 0x39) continue;
      const s = stat(pid);
      if (s !== undefined) all.set(pid, s);
    }
    const found = new Map<string, number>();
    for (const [pid, s] of all) {
      let p: string | undefined = pid;
      for (let depth = 0; p !== undefined && p !== root && depth < 16; depth++) p = all.get(p)?.ppid;
      const k = p === root ? 'ours' : DATABASES[s.name];
      if (k !== undefined) {
        if (!kind.has(pid)) {
          kind.set(pid, k);
          last.set(pid, s.ticks);
        }
        continue;
      }
      const before = seen.get(pid)?.ticks;
      if (before !== undefined && s.ticks > before)
        found.set(s.name, (found.get(s.name) ?? 0) + (s.ticks - before) * tickMs);
      seen.set(pid, { name: s.name, ticks: s.ticks });
    }
    for (const [name, ms] of found) byName.set(name, (byName.get(name) ?? 0) + ms);
    return found;
  };
  scan();
  let machine = machineTicks();
  const first = machine;
  let others = 0;
  let stolen = 0;
  const ticks: { at: number; others: number }[] = [{ at: 0, others: 0 }];
  const scans: { at: number; found: Map<string, number> }[] = [];
  let lastScanAt = performance.now();
  let open = true;
  process.stdin.on('end', () => (open = false)).resume();
  while (open) {
    await new Promise((r) => setTimeout(r, TICK_MS));
    const now = performance.now();
    // Every tick for the first two seconds (a process started with the run is known at once), then every second.
    if (now - start < 2000 || now - lastScanAt >= SCAN_MS) {
      scans.push({ at: now - start, found: scan() });
      lastScanAt = now;
    }
    const m = machineTicks();
    let ownDelta = 0;
    for (const [pid, k] of kind) {
      const t = stat(pid)?.ticks;
      if (t === undefined) {
        kind.delete(pid);
        continue;
      }
      const d = t - (last.get(pid) ?? t);
      last.set(pid, t);
      used[k] += d;
      ownDelta += d;
    }
    others += Math.max(0, m.busy - machine.busy - ownDelta);
    stolen += m.steal - machine.steal;
    machine = m;
    ticks.push({ at: now - start, others: others + stolen });
  }
  const seconds = (performance.now() - start) / 1000;
  let worst = { ms: 0, at: 0 };
  for (let i = 0, j = 0; j < ticks.length; j++) {
    while (ticks[j]!.at - ticks[i]!.at > WINDOW_MS) i++;
    const ms = (ticks[j]!.others - ticks[i]!.others) * tickMs;
    if (ms > worst.ms) worst = { ms, at: ticks[j]!.at };
  }
  // Who: the scans that cover the window.
  const around = new Map<string, number>();
  for (const s of scans)
    if (s.at >= worst.at - WINDOW_MS && s.at <= worst.at + SCAN_MS)
      for (const [name, ms] of s.found) around.set(name, (around.get(name) ?? 0) + ms);
  const top = (m: Map<string, number>, per: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([n, ms]) => [n, Math.round(ms / per)] as const);
  const report: MachineReport = {
    seconds,
    ours: (used.ours * tickMs) / seconds,
    postgres: (used.postgres * tickMs) / seconds,
    redis: (used.redis * tickMs) / seconds,
    others: ((machine.busy - first.busy - (used.ours + used.postgres + used.redis)) * tickMs) / seconds,
    stolen: ((machine.steal - first.steal) * tickMs) / seconds,
    othersTop: top(byName, seconds),
    worstWindow: { ms: worst.ms, top: top(around, 1) },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] === import.meta.filename) await sample(process.argv[2]!);
