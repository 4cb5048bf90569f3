/**
 * A small benchmark harness. Each comparison runs our implementation and its baseline in the
 * same process, interleaved over several rounds so that machine noise hits both alike, and
 * reports the median rate of each and their ratio.
 */
export interface Comparison {
  name: string;
  ours: number;
  baseline: number;
  /** ours / baseline for rates (higher is better). */
  ratio: number;
  target: string;
  met: boolean;
}

/** Runs `fn` repeatedly for about `ms` milliseconds; returns operations per second. */
export function rate(fn: () => unknown, ms: number): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 16; i++) fn();
    n += 16;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export function compare(
  name: string,
  ours: () => unknown,
  baseline: () => unknown,
  opts: { minRatio: number; rounds?: number; ms?: number },
): Comparison {
  const rounds = opts.rounds ?? 5;
  const ms = opts.ms ?? 300;
  rate(ours, 100);
  rate(baseline, 100); // warm up both JITs
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(rate(ours, ms));
    b.push(rate(baseline, ms));
  }
  const o = median(a);
  const base = median(b);
  const ratio = o / base;
  return { name, ours: o, baseline: base, ratio, target: `≥ ${opts.minRatio}×`, met: ratio >= opts.minRatio };
}

export function printTable(title: string, rows: Comparison[]): void {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`\n${title}`);
  console.log(`${'benchmark'.padEnd(26)}${'ours ops/s'.padStart(14)}${'ethers v6 ops/s'.padStart(18)}${'ratio'.padStart(9)}  target`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(26)}${fmt(r.ours).padStart(14)}${fmt(r.baseline).padStart(18)}${`${r.ratio.toFixed(2)}×`.padStart(9)}  ${r.target} ${r.met ? 'met' : 'NOT MET'}`);
  }
}
