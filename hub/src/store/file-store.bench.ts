/**
 * Durable commits per second of the hub's FileStore — each commit a channel and its objective,
 * on disk before it resolves — with one writer (each waits for its commit before the next) and
 * with 64 concurrent writers (group commit: one write and one sync for a whole batch), against
 * the straightforward way measured in the same process: `appendFileSync` + `fsyncSync` per
 * record, one at a time. Rounds interleave ours and the baseline so that disk and machine noise
 * hit both alike; the figures are medians.
 */
import { appendFileSync, closeSync, fsyncSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Comparison } from '../../../bench/harness.ts';
import { exampleChannel, exampleObjective } from '../../../engine/src/store/examples.ts';
import { encodeValue } from './codec.ts';
import { FileStore } from './file-store.ts';

export interface StoreBenchOptions {
  /** Milliseconds per measurement. Default 1000. */
  ms?: number;
  /** Rounds (ours and baseline interleaved). Default 3. */
  rounds?: number;
  /** Where to put the files. Default: a new directory under the OS temp dir (removed after). */
  dir?: string;
}

const CHANNELS = 256;
const records = Array.from({ length: CHANNELS }, (_, n) => {
  const channel = exampleChannel(n, 3);
  return { channel, objective: exampleObjective(channel, 'active', n) };
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Commits per second with `writers` concurrent writers, each awaiting its commit before the next. */
async function ours(store: FileStore, writers: number, ms: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = w; performance.now() < end; i += writers) {
        await store.commit(records[i % CHANNELS]!);
        n++;
      }
    }),
  );
  return (n * 1000) / (performance.now() - start);
}

/** The same records, encoded the same way, each appended and fsynced on its own. */
function baseline(path: string, ms: number): number {
  const fd = openSync(path, 'a');
  try {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      const r = records[n % CHANNELS]!;
      const json = `{"seq":${n},"ops":[{"table":"channel","id":"${r.channel.id}","value":${encodeValue(r.channel)}},{"table":"objective","id":"${r.objective.id}","value":${encodeValue(r.objective)}}]}`;
      appendFileSync(fd, `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`);
      fsyncSync(fd);
      n++;
      now = performance.now();
    }
    return (n * 1000) / (now - start);
  } finally {
    closeSync(fd);
  }
}

export async function runStoreBench(options: StoreBenchOptions = {}): Promise<Comparison[]> {
  const ms = options.ms ?? 1000;
  const rounds = options.rounds ?? 3;
  const root = options.dir ?? mkdtempSync(join(tmpdir(), 'hub-store-bench-'));
  const store = await FileStore.open(join(root, 'store'));
  const basePath = join(root, 'baseline.log');
  const rows: Comparison[] = [];
  const notes: string[] = [];
  try {
    // Warm up both (JIT, file allocation).
    await ours(store, 64, 200);
    baseline(basePath, 200);
    const cases: { name: string; writers: number; minRatio: number }[] = [
      { name: 'durable commit, 1 writer', writers: 1, minRatio: 0.5 },
      { name: 'durable commit, 64 writers', writers: 64, minRatio: 2 },
    ];
    const samples = cases.map(() => ({ ours: [] as number[], base: [] as number[], commits: 0, batches: 0, cpuUs: 0 }));
    for (let r = 0; r < rounds; r++) {
      for (let c = 0; c < cases.length; c++) {
        const s = samples[c]!;
        const { commits, batches } = store.stats;
        const cpu = process.cpuUsage();
        s.ours.push(await ours(store, cases[c]!.writers, ms));
        const used = process.cpuUsage(cpu);
        s.cpuUs += used.user + used.system;
        s.commits += store.stats.commits - commits;
        s.batches += store.stats.batches - batches;
        s.base.push(baseline(basePath, ms));
      }
    }
    for (let c = 0; c < cases.length; c++) {
      const s = samples[c]!;
      const o = median(s.ours);
      const b = median(s.base);
      const ratio = o / b;
      const { name, minRatio } = cases[c]!;
      rows.push({ name, ours: o, baseline: b, ratio, target: `≥ ${minRatio}×`, met: ratio >= minRatio });
      notes.push(`${name}: ${(s.commits / s.batches).toFixed(1)} commits per write+sync, ${(s.cpuUs / s.commits).toFixed(0)} µs CPU per commit`);
    }
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    console.log(`\nHub store: durable commits (channel + objective, ~${fmt(Buffer.byteLength(encodeValue(records[0])))} bytes each), fdatasync per batch`);
    console.log(`${'benchmark'.padEnd(30)}${'ours commits/s'.padStart(16)}${'append+fsync/s'.padStart(16)}${'ratio'.padStart(9)}  target`);
    for (const r of rows) {
      console.log(`${r.name.padEnd(30)}${fmt(r.ours).padStart(16)}${fmt(r.baseline).padStart(16)}${`${r.ratio.toFixed(2)}×`.padStart(9)}  ${r.target} ${r.met ? 'met' : 'NOT MET'}`);
    }
    for (const n of notes) console.log(`  ${n}`);
  } finally {
    await store.close();
    if (!options.dir) rmSync(root, { recursive: true, force: true });
  }
  return rows;
}
