/** One benchmark figure, printed in the table and, with `--json`, as one JSON object per line. */
export interface Figure {
  /** Stable name, e.g. `verify.cold_per_s`. */
  readonly name: string;
  readonly value: number;
  /** `ops/s`, `ratio`, `ns`, `bytes`, `ms`, `entries`. */
  readonly unit: string;
  /** What the figure is compared with, measured in the same run; `null` when the figure is itself a count. */
  readonly baseline: { readonly name: string; readonly value: number; readonly unit: string } | null;
  /** The goal, when the issue sets one, e.g. `>= 0.80`. */
  readonly target?: string;
}

/** A benchmark module: measures and returns figures. `log` prints progress to stderr. */
export type Bench = (log: (line: string) => void) => Promise<Figure[]>;

/** Runs `fn` repeatedly for about `ms` milliseconds after a warm-up and returns operations per second. */
export async function opsPerSecond(fn: () => unknown | Promise<unknown>, ms = 1000): Promise<number> {
  const warmUntil = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warmUntil) await fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    await fn();
    n++;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}
