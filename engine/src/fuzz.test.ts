/**
 * The engine's peer-message input under fuzz (engine/src/testing/peer-fuzz.ts says what is sent
 * and what is checked): thousands of random and mutated messages to a hub and two users with a
 * running direct channel, two ledgers and a virtual channel with vouchers. None crashes the
 * engine or changes its store beyond what a valid message may, each is refused with a logged
 * reason, answered, or harmless, and the parties still update and pay afterwards.
 * FUZZ_SEED=<n> reproduces a run; `npm run fuzz` runs many more.
 */
import { describe, expect, it } from 'vitest';
import { formatCounts, fuzzSeed } from '../../core/src/testing/fuzz.ts';
import { runPeerFuzz } from './testing/peer-fuzz.ts';

describe('peer messages under fuzz', () => {
  it('2,000 random and mutated messages: no crash, no wrong store change, every one accounted for', async () => {
    const seed = fuzzSeed(process.env.FUZZ_SEED ?? '1');
    const result = await runPeerFuzz({ seed, inputs: 2000 });
    console.log(`engine peer fuzz, seed ${seed}: ${formatCounts(result.counts)} (corpus ${result.corpus} real messages; kinds ${JSON.stringify(result.byKind)})`);
    expect(result.failures.slice(0, 5), `seed ${seed}`).toEqual([]);
    expect(result.counts.inputs).toBe(2000);
    const { answered, rejectedLogged, accepted, harmless } = result.counts;
    expect(answered + rejectedLogged + accepted + harmless).toBe(2000);
    // Most inputs are bad, and bad input is refused with a reason.
    expect(rejectedLogged).toBeGreaterThan(1000);
  });

  it("the fuzzer's signatures with P's and Q's keys never make a key sign two states for one turn (seed 20240614 once did)", async () => {
    // Input 1790 sent Q a turn-17 state signed with P's key, which Q's engine countersigned; input
    // 1984 sent P another turn-17 state signed with Q's key, which P's engine countersigned: P and
    // Q then held different supported states for turn 17, and the liveness step failed.
    const result = await runPeerFuzz({ seed: 20240614, inputs: 2000 });
    expect(result.failures.slice(0, 5)).toEqual([]);
  });
});
