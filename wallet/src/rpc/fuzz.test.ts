/**
 * The wallet's JSON-RPC endpoint under fuzz (rpc-fuzz.ts says what is sent and what is checked):
 * random, mutated and malformed requests to the real handlers with a real engine behind them.
 * Each gets exactly the response JSON-RPC owes it and never an internal error; none changes
 * what is stored unless its method may; the wallet still pays and updates afterwards.
 * FUZZ_SEED=<n> reproduces a run; `npm run fuzz` runs many more.
 */
import { describe, expect, it } from 'vitest';
import { formatCounts, fuzzSeed } from '../../../core/src/testing/fuzz.ts';
import { runRpcFuzz } from './rpc-fuzz.ts';

describe('the RPC endpoint under fuzz', () => {
  it('1,000 random and mutated requests: each answered as owed, no internal error, no wrong store change', async () => {
    const seed = fuzzSeed(process.env.FUZZ_SEED ?? '1');
    const result = await runRpcFuzz({ seed, inputs: 1000 });
    console.log(`wallet RPC fuzz, seed ${seed}: ${formatCounts(result.counts)} (responses ${JSON.stringify(result.codes)})`);
    expect(result.failures.slice(0, 5), `seed ${seed}`).toEqual([]);
    expect(result.counts.inputs).toBe(1000);
    expect(result.counts.answered).toBeGreaterThan(900);
    // Valid requests get through as well as bad ones are refused.
    expect(result.codes.ok).toBeGreaterThan(50);
    expect(result.codes[String(-32602)]).toBeGreaterThan(50);
  });
});
