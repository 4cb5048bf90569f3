/**
 * Crash safety (issue 6, item 3): every party is crashed at every step of every objective, and
 * each scenario still completes — balances exact to the wei, no transaction twice, no
 * acknowledged state lost. Here a direct channel (and its challenge); the virtual channel through
 * a hub is crash-safety-virtual.test.ts (a file of its own, so the two run on two cores).
 *
 * A crash is a reload of the wallet or a restart of the hub: the engine and everything in memory
 * go, and a new engine starts over the same durable store (the wallet's DexieStore on IndexedDB,
 * here fake-indexeddb; the hub's FileStore reopened from its directory). How the crash points are
 * enumerated, and the variables that pick or debug one: testing/crash-runner.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Exit, channelId as channelIdOf } from '../../core/src/index.ts';
import { type Crash, CrashFixture, ETH, type RunResult, lower, randomNonce, sameOutcome, split, storedOutcome } from './testing/crash-runner.ts';
import type { CrashParty, CrashWorld } from './testing/crash-world.ts';

let fx: CrashFixture;
beforeAll(async () => {
  fx = await CrashFixture.start();
});
afterAll(async () => {
  await fx?.stop();
});

/**
 * Alice and Bob in world `w`, each with a wallet store and a funded account, and where the chain
 * stood (the next block, their balances and nonces) before the world starts.
 */
async function aliceAndBob(w: CrashWorld) {
  const alice = await w.party('alice', fx.walletStore());
  const bob = await w.party('bob', fx.walletStore());
  await fx.fund(alice, bob);
  const startBlock = (await fx.rpc.getBlockNumber()) + 1;
  const before = await Promise.all([alice, bob].map((p) => fx.chainFacts(p)));
  await w.start();
  return { alice, bob, startBlock, before };
}

// ---- Scenario 1: a direct channel ---------------------------------------------------------------

/** Alice and Bob open a channel (deposits by both), update it three times, and Bob closes it. */
async function directScenario(crash?: Crash): Promise<RunResult> {
  const w = fx.newWorld(crash);
  const { alice, bob, startBlock, before } = await aliceAndBob(w);
  const A = alice.address;
  const B = bob.address;
  const a = 10n ** 16n + 7n;
  const b = 3n * 10n ** 15n + 11n;
  const nonce = randomNonce();
  const appDefinition = lower(fx.addresses.consensusApp);
  const id = channelIdOf({ participants: [A, B], channelNonce: nonce, appDefinition, challengeDuration: 60 });
  const status = async (p: CrashParty) => (await p.engine.getChannel(id))?.status;

  await w.achieve('Alice proposes', async () => (await alice.store.getChannel(id)) !== undefined, {
    by: alice,
    call: (e) => e.createChannel({ counterparty: B, asset: ETH, myAmount: a, theirAmount: b, challengeDuration: 60, appDefinition, channelNonce: nonce }),
  });
  await w.achieve('Bob joins', async () => ![undefined, 'proposed'].includes(await status(bob)), { by: bob, call: (e) => e.joinChannel(id, true) });
  await w.achieve('both running', async () => (await status(alice)) === 'running' && (await status(bob)) === 'running');

  const targets: [CrashParty, Exit][] = [
    [alice, split(A, B, a - 100n, b + 100n)],
    [alice, split(A, B, a - 1000n, b + 1000n)],
    [bob, split(A, B, a - 900n, b + 900n)],
  ];
  for (const [i, [by, outcome]] of targets.entries()) {
    await w.achieve(`update ${i + 1}`, async () => sameOutcome(await storedOutcome(alice, id), outcome) && sameOutcome(await storedOutcome(bob, id), outcome), {
      by,
      call: (e) => e.updateChannel(id, outcome),
      resolved: (s) => w.ackedTurns.set(id, Math.max(w.ackedTurns.get(id) ?? 0, (s as { turnNum: number }).turnNum)),
    });
  }
  await w.achieve('closed at both', async () => (await status(alice)) === 'closed' && (await status(bob)) === 'closed', { by: bob, call: (e) => e.closeChannel(id) });
  await w.stop();

  // The oracles: nothing acknowledged was lost; one deposit each, one conclusion; payouts exact.
  expect(w.violations, w.violations.join('; ')).toEqual([]);
  expect(await fx.channelFacts(id)).toEqual({ deposited: 2, concluded: 1, held: 0n });
  const after = await Promise.all([alice, bob].map((p) => fx.chainFacts(p)));
  expect(after[0]!.nonce - before[0]!.nonce, "Alice's transactions: her deposit").toBe(1);
  expect(after[1]!.nonce - before[1]!.nonce, "Bob's transactions: his deposit and the conclusion").toBe(2);
  const final = targets.at(-1)![1][0]!.allocations.map((x) => x.amount);
  const gas = await fx.gasSpent([alice, bob], startBlock);
  expect(after[0]!.balance - before[0]!.balance + gas[0]!).toBe(final[0]! - a);
  expect(after[1]!.balance - before[1]!.balance + gas[1]!).toBe(final[1]! - b);
  return { histories: { alice: [...alice.history], bob: [...bob.history] }, ...(w.crashed && { crashed: w.crashed }), restarts: alice.restarts + bob.restarts };
}

// ---- A challenge -------------------------------------------------------------------------------

const DURATION = 600;

/**
 * Alice and Bob open a channel and update it once; Bob vanishes; Alice challenges with the latest
 * state, time passes (anvil's clock), and her wallet withdraws both shares by `transferAllAssets`.
 * Alice is crashed at every step of it.
 */
async function challengeScenario(crash?: Crash): Promise<RunResult> {
  const w = fx.newWorld(crash, { challengePollMs: 50 });
  const { alice, bob, startBlock, before } = await aliceAndBob(w);
  const A = alice.address;
  const B = bob.address;
  const a = 4n * 10n ** 15n + 3n;
  const b = 6n * 10n ** 15n + 5n;
  const nonce = randomNonce();
  const appDefinition = lower(fx.addresses.consensusApp);
  const id = channelIdOf({ participants: [A, B], channelNonce: nonce, appDefinition, challengeDuration: DURATION });
  const status = async (p: CrashParty) => (await p.engine.getChannel(id))?.status;
  const stage = async () => (await alice.engine.getChallenge(id))?.stage;

  await w.achieve('Alice proposes', async () => (await alice.store.getChannel(id)) !== undefined, {
    by: alice,
    call: (e) => e.createChannel({ counterparty: B, asset: ETH, myAmount: a, theirAmount: b, challengeDuration: DURATION, appDefinition, channelNonce: nonce }),
  });
  await w.achieve('Bob joins', async () => ![undefined, 'proposed'].includes(await status(bob)), { by: bob, call: (e) => e.joinChannel(id, true) });
  await w.achieve('both running', async () => (await status(alice)) === 'running' && (await status(bob)) === 'running');
  const outcome = split(A, B, a - 4321n, b + 4321n);
  await w.achieve('the update', async () => sameOutcome(await storedOutcome(alice, id), outcome) && sameOutcome(await storedOutcome(bob, id), outcome), {
    by: alice,
    call: (e) => e.updateChannel(id, outcome),
    resolved: (s) => w.ackedTurns.set(id, (s as { turnNum: number }).turnNum),
  });
  await w.leave('bob');
  // (Other runs on this chain move its clock too: the challenge may be past its timeout at once.)
  await w.achieve('the challenge registered', async () => (await fx.events('ChallengeRegistered', id)) > 0 && ['registered', 'withdrawing', 'withdrawn'].includes((await stage()) ?? ''), {
    by: alice,
    call: (e) => e.challengeChannel(id),
  });
  await fx.rpc.send('evm_increaseTime', [DURATION + 1]);
  await fx.rpc.send('evm_mine', []);
  await w.achieve('Alice withdrew', async () => (await stage()) === 'withdrawn' && (await fx.holdings(id)) === 0n);
  await w.stop();

  expect(w.violations, w.violations.join('; ')).toEqual([]);
  expect(await fx.channelFacts(id)).toEqual({ deposited: 2, concluded: 0, held: 0n });
  expect(await fx.events('ChallengeRegistered', id), 'one challenge').toBe(1);
  const after = await Promise.all([alice, bob].map((p) => fx.chainFacts(p)));
  expect(after[0]!.nonce - before[0]!.nonce, "Alice's transactions: her deposit, the challenge and the transfer").toBe(3);
  expect(after[1]!.nonce - before[1]!.nonce, "Bob's transactions: his deposit").toBe(1);
  const final = outcome[0]!.allocations.map((x) => x.amount);
  const gas = await fx.gasSpent([alice, bob], startBlock);
  expect(after[0]!.balance - before[0]!.balance + gas[0]!).toBe(final[0]! - a);
  expect(after[1]!.balance - before[1]!.balance + gas[1]!).toBe(final[1]! - b);
  // Only Alice is crashed: Bob's part is the direct channel's.
  return { histories: { alice: [...alice.history] }, ...(w.crashed && { crashed: w.crashed }), restarts: alice.restarts };
}

describe('crash safety: a reload at every step of every objective of a direct channel', () => {
  it('a direct channel (deposits by both, three updates, close and withdraw) completes exactly whoever crashes wherever', async () => {
    await fx.crashEverywhere('direct channel', directScenario);
  }, 600_000);

  it('a challenge (funded, updated, challenged, timed out, withdrawn) completes exactly wherever the challenger crashes, with one challenge and one transfer', async () => {
    await fx.crashEverywhere('challenge', challengeScenario);
  }, 600_000);
});
