/**
 * The long fuzz run: the engine's peer messages, the wallet's JSON-RPC endpoint and the hub's
 * relay, many more inputs than the vitest runs (engine/src/fuzz.test.ts, wallet/src/rpc/fuzz.test.ts,
 * hub/src/relay/fuzz.test.ts), from one seed.
 *
 *   npm run fuzz -- [--seed N] [--inputs N]     (default: a seed from the clock, 100,000 inputs)
 *
 * Inputs are split 60% peer messages, 25% RPC requests, 15% relay frames. Prints the seed, the
 * counts per target and in all, and every failure (with the input) — exits 1 if there was any.
 */
import { addCounts, emptyCounts, formatCounts, fuzzSeed } from '../core/src/testing/fuzz.ts';
import { runPeerFuzz } from '../engine/src/testing/peer-fuzz.ts';
import { runRelayFuzz } from '../hub/src/relay/relay-fuzz.ts';
import { runRpcFuzz } from '../wallet/src/rpc/rpc-fuzz.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const seed = fuzzSeed(arg('seed') ?? process.env.FUZZ_SEED);
const inputs = Number(arg('inputs') ?? 100_000);
if (!Number.isInteger(inputs) || inputs < 3) throw new Error(`--inputs must be an integer of at least 3, got ${arg('inputs')}`);
const peer = Math.round(inputs * 0.6);
const rpc = Math.round(inputs * 0.25);
const relay = inputs - peer - rpc;
console.log(`fuzz: seed ${seed}, ${inputs} inputs (${peer} peer messages, ${rpc} RPC requests, ${relay} relay frames)`);

const failures: unknown[] = [];
let total = emptyCounts();
const t0 = performance.now();
// The engines' worlds are built once per run; long runs are split into rounds (seed + round) so memory stays flat.
const ROUND = 2000;
for (const [name, count, run] of [
  ['engine peer messages', peer, (s: number, n: number) => runPeerFuzz({ seed: s, inputs: n })],
  ['wallet RPC', rpc, (s: number, n: number) => runRpcFuzz({ seed: s, inputs: n })],
  ['hub relay', relay, (s: number, n: number) => runRelayFuzz({ seed: s, inputs: n })],
] as const) {
  let counts = emptyCounts();
  for (let done = 0, round = 0; done < count; round++) {
    const n = Math.min(ROUND, count - done);
    const result = await run((seed + round) >>> 0, n);
    counts = addCounts(counts, result.counts);
    failures.push(...result.failures);
    done += n;
  }
  console.log(`  ${name}: ${formatCounts(counts)}`);
  total = addCounts(total, counts);
}
const c = total;
console.log(`${c.inputs} inputs, ${c.answered} answered, ${c.rejectedLogged} rejected-logged, ${c.crashes} crashes, ${c.wrongStoreChanges} wrong store changes (also ${c.accepted} accepted as valid, ${c.harmless} harmless, ${c.unanswered} unanswered) in ${((performance.now() - t0) / 1000).toFixed(1)} s, seed ${seed}`);
for (const f of failures.slice(0, 20)) console.log('FAILURE', JSON.stringify(f));
process.exit(failures.length > 0 || c.crashes > 0 || c.wrongStoreChanges > 0 || c.unanswered > 0 ? 1 : 0);
