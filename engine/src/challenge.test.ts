/**
 * Disputes of direct channels, engines against a real anvil with the real Nitro contracts:
 * (a) Alice challenges with the latest state while Bob is gone, and after the timeout (anvil time
 * travel) withdraws: both get exactly the outcome; (b) Bob challenges with a stale state, Alice's
 * engine (watching) answers with a checkpoint of the newer state before it expires; (c) Alice's
 * wallet reloads (a new engine over the same store) at every step of her challenge and still
 * completes, sending exactly two transactions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonRpcProvider } from 'ethers';
import { type Address, type Bytes32, type Exit, PrivateKey, type SignedState, hashState, signChallenge } from '../../core/src/index.ts';
import type { ChallengeStage, ChallengeUpdate } from '../../core/src/objectives/effects.ts';
import { latestSupported } from '../../core/src/protocol/channel.ts';
import { objectiveIds } from '../../core/src/protocol/message.ts';
import { ANVIL_KEYS, type Anvil, startAnvil } from '../../chain/anvil.ts';
import { type ContractAddresses, deployContracts } from '../../chain/deploy.ts';
import { type ChainService, createEthersChainService, createJsonRpcProvider, signerFromPrivateKey } from './chain/index.ts';
import { Engine, EngineError } from './engine.ts';
import { MemoryStore } from './store/memory-store.ts';
import { until } from './testing/until.ts';
import { simpleExit } from '../../core/src/testing/virtual-fixture.ts';

const ETH: Address = '0x0000000000000000000000000000000000000000';
const DURATION = 600;
let anvil: Anvil;
let addresses: ContractAddresses;
let provider: JsonRpcProvider;

beforeAll(async () => {
  anvil = await startAnvil();
  addresses = await deployContracts(anvil.url);
  provider = createJsonRpcProvider(anvil.url, 31337, { pollingIntervalMs: 50 });
});
afterAll(async () => {
  provider?.destroy();
  await anvil?.stop();
});

function chainFor(key: PrivateKey): ChainService {
  const p = createJsonRpcProvider(anvil.url, 31337, { pollingIntervalMs: 50 });
  return createEthersChainService({ provider: p, signer: signerFromPrivateKey(key, p), addresses: { adjudicator: addresses.adjudicator }, pollIntervalMs: 50 });
}

interface Party {
  key: PrivateKey;
  store: MemoryStore;
  engine: Engine;
  updates: ChallengeUpdate[];
  proposed: Bytes32[];
}

/** Engines wired together by direct delivery; `wallet(i)` starts party i's engine (again) over its store. */
function world() {
  const parties = new Map<Address, Party>();
  const make = (keyHex: string, store = new MemoryStore(), chain?: ChainService): Party => {
    const key = PrivateKey.fromHex(keyHex);
    const updates: ChallengeUpdate[] = [];
    const proposed: Bytes32[] = [];
    const engine = new Engine({
      key,
      store,
      chain: chain ?? chainFor(key),
      resendIntervalMs: 0,
      challengePollIntervalMs: 50,
      sendMessage: (to, text) => queueMicrotask(() => void parties.get(to)?.engine.receiveMessage(key.address, text)),
      onChallengeUpdated: (u) => updates.push(u),
      onChannelProposed: (s) => proposed.push(s.channelId),
    });
    const party = { key, store, engine, updates, proposed };
    parties.set(key.address, party);
    return party;
  };
  return { make, parties };
}

const split = (a: Address, b: Address, x: bigint, y: bigint): Exit => simpleExit([[a, x], [b, y]], ETH);

/** Opens and funds a channel between two running engines; returns its id. */
async function open(alice: Party, bob: Party, a: bigint, b: bigint): Promise<Bytes32> {
  const channelId = await alice.engine.createChannel({ counterparty: bob.key.address, asset: ETH, myAmount: a, theirAmount: b, challengeDuration: DURATION, appDefinition: addresses.consensusApp.toLowerCase() as Address });
  await until(() => bob.proposed.includes(channelId), 'the proposal');
  await bob.engine.joinChannel(channelId, true);
  await until(async () => (await alice.engine.getChannel(channelId))?.status === 'running' && (await bob.engine.getChannel(channelId))?.status === 'running', 'both running');
  return channelId;
}

/** What `who` spent on gas in blocks from `fromBlock` on, and how many transactions it sent. */
async function spentSince(who: Address, fromBlock: number): Promise<{ gas: bigint; txs: number }> {
  let gas = 0n;
  let txs = 0;
  const head = await provider.getBlockNumber();
  for (let n = fromBlock; n <= head; n++) {
    const block = await provider.getBlock(n, true);
    for (const tx of block!.prefetchedTransactions) {
      if (tx.from.toLowerCase() !== who) continue;
      const receipt = await provider.getTransactionReceipt(tx.hash);
      gas += receipt!.gasUsed * receipt!.gasPrice;
      txs++;
    }
  }
  return { gas, txs };
}

async function timeTravel(seconds: number): Promise<void> {
  await provider.send('evm_increaseTime', [seconds]);
  await provider.send('evm_mine', []);
}

const stagesOf = (updates: ChallengeUpdate[], channelId: Bytes32): ChallengeStage[] => updates.filter((u) => u.channelId === channelId).map((u) => u.stage);
const status = async (p: Party, id: Bytes32) => (await p.engine.getChannel(id))?.status;

describe('challenges of direct channels on a real chain', () => {
  it('(a) Alice challenges with the latest state while Bob is gone; after the timeout she withdraws and both get exactly the outcome', async () => {
    const w = world();
    const alice = w.make(ANVIL_KEYS[1]!);
    const bob = w.make(ANVIL_KEYS[2]!);
    await alice.engine.start();
    await bob.engine.start();
    const A = alice.key.address;
    const B = bob.key.address;
    const a = 10n ** 16n + 7n;
    const b = 3n * 10n ** 15n + 11n;
    const channelId = await open(alice, bob, a, b);
    await alice.engine.updateChannel(channelId, split(A, B, a - 1234n, b + 1234n));
    await bob.engine.updateChannel(channelId, split(A, B, a - 1000n, b + 1000n));
    bob.engine.stop(); // Bob is gone.

    const start = await provider.getBlockNumber();
    const before = await Promise.all([provider.getBalance(A), provider.getBalance(B)]);
    const registered = await alice.engine.challengeChannel(channelId);
    const now = (await provider.getBlock('latest'))!.timestamp;
    expect(registered).toMatchObject({ channelId, stage: 'registered', challenger: 'us', turnNum: 3 });
    expect(registered.finalizesAt).toBe(now + DURATION);
    expect(await status(alice, channelId)).toBe('challenged');
    // While the challenge stands: no updates, no close, no second challenge.
    await expect(alice.engine.updateChannel(channelId, split(A, B, a, b))).rejects.toThrow(EngineError);
    await expect(alice.engine.closeChannel(channelId)).rejects.toThrow(/busy/);
    await expect(alice.engine.challengeChannel(channelId)).rejects.toThrow(/already being challenged/);

    await timeTravel(DURATION + 1);
    await until(async () => (await status(alice, channelId)) === 'closed', 'Alice to withdraw');
    expect(stagesOf(alice.updates, channelId)).toEqual(['challenging', 'registered', 'withdrawing', 'withdrawn']);
    const after = await Promise.all([provider.getBalance(A), provider.getBalance(B)]);
    const spent = await spentSince(A, start + 1);
    expect(spent.txs).toBe(2); // the challenge and the transfer
    expect(after[0]! - before[0]! + spent.gas).toBe(a - 1000n);
    expect(after[1]! - before[1]!).toBe(b + 1000n);
    expect(await alice.engine.getChallenge(channelId)).toMatchObject({ stage: 'withdrawn', turnNum: 3 });
    // A closed channel cannot be challenged: refused, nothing stored.
    const stored = JSON.stringify([...alice.store.objectives.values()].map((o) => o.status));
    await expect(alice.engine.challengeChannel(channelId)).rejects.toThrow(/not running/);
    expect(JSON.stringify([...alice.store.objectives.values()].map((o) => o.status))).toBe(stored);
    alice.engine.stop();
  });

  it('bad input: an unknown channel and a channel not running are refused, and nothing is stored', async () => {
    const w = world();
    const alice = w.make(ANVIL_KEYS[3]!);
    const bob = w.make(ANVIL_KEYS[4]!);
    await alice.engine.start();
    await bob.engine.start();
    await expect(alice.engine.challengeChannel(`0x${'ab'.repeat(32)}`)).rejects.toMatchObject({ code: 'unknown-channel' });
    // A proposal Bob has not joined: not running.
    const channelId = await alice.engine.createChannel({ counterparty: bob.key.address, asset: ETH, myAmount: 0n, theirAmount: 0n, challengeDuration: DURATION, appDefinition: addresses.consensusApp.toLowerCase() as Address });
    const commits = alice.store.commits;
    await expect(alice.engine.challengeChannel(channelId)).rejects.toMatchObject({ code: 'not-allowed' });
    expect(alice.store.commits).toBe(commits);
    expect(alice.store.objectives.has(objectiveIds.challenge(channelId))).toBe(false);
    alice.engine.stop();
    bob.engine.stop();
  });

  it('(b) Bob challenges with a stale state; Alice’s engine checkpoints the newer one before it expires; then she exits by her own challenge, balances exact', async () => {
    const w = world();
    const alice = w.make(ANVIL_KEYS[1]!);
    const bob = w.make(ANVIL_KEYS[2]!);
    await alice.engine.start();
    await bob.engine.start();
    const A = alice.key.address;
    const B = bob.key.address;
    const a = 2n * 10n ** 16n + 3n;
    const b = 10n ** 15n + 5n;
    const channelId = await open(alice, bob, a, b);
    // Bob keeps a state where he had more (turn 2: Alice paid him 5000)...
    await alice.engine.updateChannel(channelId, split(A, B, a - 5000n, b + 5000n));
    const stale: SignedState = latestSupported((await bob.store.getChannel(channelId))!)!;
    expect(stale.state.turnNum).toBe(2);
    // ...then pays most of it back (turn 3).
    await bob.engine.updateChannel(channelId, split(A, B, a - 100n, b + 100n));
    bob.engine.stop();

    // Bob, malicious, challenges with the stale state behind his wallet's back.
    const bobChain = chainFor(bob.key);
    await bobChain.challenge({ candidate: stale, challengerSig: signChallenge(hashState(stale.state), bob.key) });
    const aliceChain = chainFor(alice.key);
    expect((await aliceChain.statusOf(channelId)).turnNumRecord).toBe(2);
    // Alice's engine sees it and answers with turn 3; no time passes.
    await until(() => stagesOf(alice.updates, channelId).includes('cleared'), 'the checkpoint to clear the stale challenge');
    expect(stagesOf(alice.updates, channelId)).toEqual(['checkpointing', 'cleared']);
    expect(alice.updates.find((u) => u.stage === 'checkpointing')).toMatchObject({ challenger: 'counterparty', turnNum: 2 });
    expect(await aliceChain.statusOf(channelId)).toMatchObject({ turnNumRecord: 3, finalizesAt: 0 });
    expect(await status(alice, channelId)).toBe('running');

    // Bob stays away: Alice exits by a challenge with the latest state.
    const start = await provider.getBlockNumber();
    const before = await Promise.all([provider.getBalance(A), provider.getBalance(B)]);
    await alice.engine.challengeChannel(channelId);
    await timeTravel(DURATION + 1);
    await until(async () => (await status(alice, channelId)) === 'closed', 'Alice to withdraw');
    const after = await Promise.all([provider.getBalance(A), provider.getBalance(B)]);
    const spent = await spentSince(A, start + 1);
    expect(after[0]! - before[0]! + spent.gas).toBe(a - 100n);
    expect(after[1]! - before[1]!).toBe(b + 100n);
    alice.engine.stop();
  });

  it('(c) a reload at every step of Alice’s challenge: it still completes, with one challenge and one transfer sent', async () => {
    const w = world();
    const aliceKey = ANVIL_KEYS[3]!;
    const alice = w.make(aliceKey);
    const bob = w.make(ANVIL_KEYS[4]!);
    await alice.engine.start();
    await bob.engine.start();
    const A = alice.key.address;
    const B = bob.key.address;
    const a = 5n * 10n ** 15n;
    const b = 7n * 10n ** 15n;
    const channelId = await open(alice, bob, a, b);
    await bob.engine.updateChannel(channelId, split(A, B, a + 777n, b - 777n));
    bob.engine.stop();
    alice.engine.stop();
    const store = alice.store;
    const real = chainFor(alice.key);
    const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
    /** Alice's wallet again, over the same store, whose chain calls of `op` crash the wallet before (nothing sent) or after sending. */
    const reload = async (crash?: { op: 'challenge' | 'transferAllAssets'; when: 'before-send' | 'after-send' }) => {
      const chain: ChainService = {
        ...real,
        challenge: async (args) => {
          if (crash?.op !== 'challenge') return real.challenge(args);
          if (crash.when === 'after-send') await real.challenge(args);
          return never();
        },
        transferAllAssets: async (args) => {
          if (crash?.op !== 'transferAllAssets') return real.transferAllAssets(args);
          if (crash.when === 'after-send') await real.transferAllAssets(args);
          return never();
        },
      };
      const p = w.make(aliceKey, store, chain);
      await p.engine.start();
      return p;
    };
    const stored = () => store.objectives.get(objectiveIds.challenge(channelId))?.snapshot as { value: string } | undefined;
    const nonce = () => provider.getTransactionCount(A, 'latest');
    const start = await provider.getBlockNumber();
    const before = await Promise.all([provider.getBalance(A), provider.getBalance(B), nonce()]);

    // 1. The challenge is stored, and the wallet dies before sending it.
    let wallet = await reload({ op: 'challenge', when: 'before-send' });
    void wallet.engine.challengeChannel(channelId).catch(() => undefined);
    await until(() => stored()?.value === 'challenging', 'the challenge objective to be stored');
    wallet.engine.stop();
    expect(await nonce()).toBe(before[2]);

    // 2. Reloaded: the challenge is sent, and the wallet dies before it hears it was mined.
    wallet = await reload({ op: 'challenge', when: 'after-send' });
    await until(async () => (await nonce()) === before[2] + 1, 'the challenge to be sent');
    wallet.engine.stop();
    expect(stored()?.value).toBe('challenging');

    // 3. Reloaded: the chain shows the challenge registered; nothing is sent again.
    wallet = await reload();
    await until(() => stored()?.value === 'registered', 'the challenge to be seen registered');
    expect(await wallet.engine.getChallenge(channelId)).toMatchObject({ stage: 'registered', challenger: 'us', turnNum: 2 });
    wallet.engine.stop();

    // 4. Reloaded while waiting; time passes; the transfer is sent and the wallet dies before it hears.
    await timeTravel(DURATION + 1);
    wallet = await reload({ op: 'transferAllAssets', when: 'after-send' });
    await until(async () => (await nonce()) === before[2] + 2, 'the transfer to be sent');
    wallet.engine.stop();
    expect(stored()?.value).toBe('withdrawing');

    // 5. Reloaded: the holdings are paid out; the objective completes without sending anything.
    wallet = await reload();
    await until(async () => (await status(wallet, channelId)) === 'closed', 'the challenge to complete');
    expect(stored()?.value).toBe('done');
    expect(await nonce()).toBe(before[2] + 2);
    const after = await Promise.all([provider.getBalance(A), provider.getBalance(B)]);
    const spent = await spentSince(A, start + 1);
    expect(spent.txs).toBe(2);
    expect(after[0]! - before[0]! + spent.gas).toBe(a + 777n);
    expect(after[1]! - before[1]!).toBe(b - 777n);
    wallet.engine.stop();
  });
});
