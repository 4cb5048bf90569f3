/**
 * The relay under fuzz (relay-fuzz.ts says what is sent and what is checked): mutated sends,
 * garbage, oversized frames and forged logins. Every frame gets its one answer, only valid
 * logins are welcomed, only valid sends are delivered, and the relay keeps serving.
 * FUZZ_SEED=<n> reproduces a run; `npm run fuzz` runs many more.
 */
import { describe, expect, it } from 'vitest';
import { formatCounts, fuzzSeed } from '../../../core/src/testing/fuzz.ts';
import { runRelayFuzz } from './relay-fuzz.ts';

describe('the relay under fuzz', () => {
  it('1,000 random and mutated frames and logins: each answered as owed, the relay keeps serving', async () => {
    const seed = fuzzSeed(process.env.FUZZ_SEED ?? '1');
    const result = await runRelayFuzz({ seed, inputs: 1000 });
    console.log(`relay fuzz, seed ${seed}: ${formatCounts(result.counts)}`);
    expect(result.failures.slice(0, 5), `seed ${seed}`).toEqual([]);
    expect(result.counts.inputs).toBe(1000);
    expect(result.counts.answered + result.counts.rejectedLogged).toBe(1000);
  });
});
