/**
 * A failed deposit or conclusion reaches the engine's onProgress as a 'failed' stage with the
 * chain's message and, in fields, why (`failure`: code, asset, amounts, the balance check's
 * shortfall), for the wallet's notice to the user. Two engines over an in-memory chain.
 */
import { describe, expect, it } from 'vitest';
import { type Address, type Bytes32, PrivateKey } from '../../core/src/index.ts';
import type { ChainFailure } from '../../core/src/objectives/effects.ts';
import { ChainError } from './chain/errors.ts';
import { channelId as channelIdOf } from '../../core/src/state.ts';
import type { ChainEvent, ChainService } from './chain/types.ts';
import { Engine } from './engine.ts';
import { MemoryStore } from './store/memory-store.ts';
import { until } from './testing/until.ts';

const ETH: Address = '0x0000000000000000000000000000000000000000';
const APP = `0x${'02'.repeat(20)}` as Address;

type Progress = { objectiveId: string; channelId: Bytes32; stage: string; detail?: string; failure?: ChainFailure };

/** One chain both engines share: holdings in memory, events to every watcher. Failures are scripted per funding account. */
function memoryChain() {
  const holdings = new Map<string, bigint>();
  const watchers = new Set<(e: ChainEvent) => void>();
  const failNext = new Map<Address, { deposit?: unknown[]; conclude?: unknown[]; holdings?: unknown[]; hangConclude?: boolean }>();
  let block = 0;
  let hung = 0;
  const emit = (e: ChainEvent) => queueMicrotask(() => watchers.forEach((w) => w(e)));
  const service = (account: Address): ChainService => ({
    getHoldings: async (asset, channelId) => {
      const failure = failNext.get(account)?.holdings?.shift();
      if (failure !== undefined) throw failure;
      return holdings.get(`${asset}:${channelId}`) ?? 0n;
    },
    deposit: async ({ asset, channelId, expectedHeld, amount }) => {
      const failure = failNext.get(account)?.deposit?.shift();
      if (failure !== undefined) throw failure;
      const key = `${asset}:${channelId}`;
      if ((holdings.get(key) ?? 0n) !== expectedHeld) throw new ChainError('reverted', 'Deposit reverted: held != expectedHeld', { reason: 'held != expectedHeld' });
      holdings.set(key, expectedHeld + amount);
      emit({ type: 'Deposited', channelId, asset, destinationHoldings: expectedHeld + amount, blockNumber: ++block, txHash: '0x01', logIndex: 0 });
      return { hash: '0x01', blockNumber: block, gasUsed: 1n };
    },
    concludeAndTransferAllAssets: async (signed) => {
      const failure = failNext.get(account)?.conclude?.shift();
      if (failure !== undefined) throw failure;
      // Sent, and the wallet closes before it hears back.
      if (failNext.get(account)?.hangConclude) {
        hung++;
        return new Promise<never>(() => {});
      }
      // Pays everything out: the channel's holdings go to zero.
      const id = channelIdOf(signed.state);
      for (const e of signed.state.outcome) holdings.set(`${e.asset}:${id}`, 0n);
      emit({ type: 'Concluded', channelId: id, finalizedAt: 0, blockNumber: ++block, txHash: '0x02', logIndex: 0 });
      return { hash: '0x02', blockNumber: block, gasUsed: 1n };
    },
    challenge: async () => {
      throw new Error('not in this memory chain');
    },
    checkpoint: async () => {
      throw new Error('not in this memory chain');
    },
    transferAllAssets: async () => {
      throw new Error('not in this memory chain');
    },
    statusOf: async () => ({ turnNumRecord: 0, finalizesAt: 0, fingerprint: 0n, blockTimestamp: 0 }),
    watch: (_ids, listener) => {
      watchers.add(listener);
      return () => watchers.delete(listener);
    },
    fundingAccount: async () => ({ address: account, ethBalance: 0n }),
    tokenBalance: async () => 0n,
  });
  return { service, failNext, hung: () => hung };
}

function pair() {
  const chain = memoryChain();
  const engines = new Map<Address, Engine>();
  const party = () => {
    const key = PrivateKey.random();
    const progress: Progress[] = [];
    const proposed: Bytes32[] = [];
    const store = new MemoryStore();
    const engine = new Engine({
      key,
      store,
      chain: chain.service(key.address),
      resendIntervalMs: 0,
      sendMessage: (to, text) => queueMicrotask(() => void engines.get(to)?.receiveMessage(key.address, text)),
      onProgress: (p) => progress.push(p),
      onChannelProposed: (s) => proposed.push(s.channelId),
    });
    engines.set(key.address, engine);
    return { key, engine, progress, proposed, store };
  };
  return { alice: party(), bob: party(), chain };
}

async function openChannel(p: ReturnType<typeof pair>, amounts: [bigint, bigint]): Promise<Bytes32> {
  const { alice, bob } = p;
  await alice.engine.start();
  await bob.engine.start();
  const channelId = await alice.engine.createChannel({ counterparty: bob.key.address, asset: ETH, myAmount: amounts[0], theirAmount: amounts[1], challengeDuration: 600, appDefinition: APP });
  await until(() => bob.proposed.includes(channelId), 'the proposal');
  await bob.engine.joinChannel(channelId, true);
  return channelId;
}

const failed = (progress: Progress[]) => progress.filter((p) => p.stage === 'failed');

describe('chain failures in objective progress', () => {
  it('a deposit refused by the balance check: code, asset, amount, holdings before it and the shortfall', async () => {
    const p = pair();
    const shortfall = { account: p.bob.key.address, asset: ETH, balance: 10n, amount: 500n };
    p.chain.failNext.set(p.bob.key.address, { deposit: [new ChainError('insufficient-funds', `The funding account ${p.bob.key.address} has 0.00000000000000001 ETH but the deposit needs more.`, { shortfall })] });
    const channelId = await openChannel(p, [300n, 500n]);
    await until(() => failed(p.bob.progress).length === 1, "Bob's funding to fail");
    expect(failed(p.bob.progress)[0]).toEqual({
      objectiveId: `DirectFunding-${channelId}`,
      channelId,
      stage: 'failed',
      detail: expect.stringMatching(/^The funding account 0x[0-9a-f]{40} has/),
      failure: { operation: 'deposit', code: 'insufficient-funds', asset: ETH, amount: 500n, held: 300n, shortfall },
    });
    expect((await p.bob.engine.getChannel(channelId))?.status).toBe('failed');
    // Other progress carries no failure; Alice (who deposited) has not failed.
    expect(p.bob.progress.filter((x) => x.failure !== undefined)).toHaveLength(1);
    expect(failed(p.alice.progress)).toEqual([]);
    p.alice.engine.stop();
    p.bob.engine.stop();
  });

  it('a retryable deposit failure (stale expectedHeld) reports nothing; a failure that is not a ChainError carries no failure fields', async () => {
    const p = pair();
    p.chain.failNext.set(p.alice.key.address, { deposit: [new ChainError('reverted', 'Deposit reverted: held != expectedHeld', { reason: 'held != expectedHeld' })] });
    p.chain.failNext.set(p.bob.key.address, { deposit: [new TypeError('a bug')] });
    const channelId = await openChannel(p, [300n, 500n]);
    await until(() => failed(p.bob.progress).length === 1, "Bob's funding to fail");
    expect(failed(p.alice.progress)).toEqual([]);
    expect(p.alice.progress.filter((x) => x.stage === 'depositing')).toHaveLength(2);
    expect(failed(p.bob.progress)[0]).toEqual({ objectiveId: `DirectFunding-${channelId}`, channelId, stage: 'failed', detail: 'a bug' });
    p.alice.engine.stop();
    p.bob.engine.stop();
  });

  it('a conclusion that fails: operation conclude, the code and the revert reason', async () => {
    const p = pair();
    const channelId = await openChannel(p, [300n, 500n]);
    await until(async () => (await p.alice.engine.getChannel(channelId))?.status === 'running' && (await p.bob.engine.getChannel(channelId))?.status === 'running', 'both running');
    p.chain.failNext.set(p.alice.key.address, { conclude: [new ChainError('reverted', 'Concluding reverted on chain (transaction 0xab): Channel finalized', { reason: 'Channel finalized', txHash: '0xab' })] });
    await p.alice.engine.closeChannel(channelId);
    await until(() => failed(p.alice.progress).length === 1, "Alice's close to fail");
    expect(failed(p.alice.progress)[0]).toMatchObject({
      objectiveId: `DirectDefunding-${channelId}`,
      stage: 'failed',
      detail: 'Concluding reverted on chain (transaction 0xab): Channel finalized',
      failure: { operation: 'conclude', code: 'reverted', reason: 'Channel finalized', txHash: '0xab' },
    });
    expect((await p.alice.engine.getChannel(channelId))?.status).toBe('failed');
    p.alice.engine.stop();
    p.bob.engine.stop();
  });

  it('a close that failed on chain can be tried again: the signed final state is submitted, and the channel closes', async () => {
    const p = pair();
    const channelId = await openChannel(p, [300n, 500n]);
    await until(async () => (await p.alice.engine.getChannel(channelId))?.status === 'running' && (await p.bob.engine.getChannel(channelId))?.status === 'running', 'both running');
    p.chain.failNext.set(p.alice.key.address, { conclude: [new ChainError('unreachable', 'The chain at http://127.0.0.1:8545 is not reachable')] });
    await p.alice.engine.closeChannel(channelId);
    await until(async () => (await p.alice.engine.getChannel(channelId))?.status === 'failed', "Alice's close to fail");
    await p.alice.engine.closeChannel(channelId);
    await until(async () => (await p.alice.engine.getChannel(channelId))?.status === 'closed', 'the close to complete');
    await until(async () => (await p.bob.engine.getChannel(channelId))?.status === 'closed', 'Bob to see it closed');
    // Once closed there is nothing left to close.
    await expect(p.alice.engine.closeChannel(channelId)).rejects.toThrow(/nothing to close/);
    p.alice.engine.stop();
    p.bob.engine.stop();
  });

  it('a wallet reloaded while closing, with the chain unreachable: it starts anyway, reports, and finishes the close once the chain answers', async () => {
    const p = pair();
    const channelId = await openChannel(p, [300n, 500n]);
    await until(async () => (await p.alice.engine.getChannel(channelId))?.status === 'running' && (await p.bob.engine.getChannel(channelId))?.status === 'running', 'both running');
    p.chain.failNext.set(p.alice.key.address, { hangConclude: true });
    await p.alice.engine.closeChannel(channelId);
    await until(() => p.chain.hung() === 1, 'the conclusion sent');
    // The reload: the same store, a new engine; the chain refuses the first two reads.
    p.alice.engine.stop();
    const unreachable = () => new ChainError('unreachable', 'The chain at http://127.0.0.1:8545 is not reachable');
    p.chain.failNext.set(p.alice.key.address, { holdings: [unreachable(), unreachable()] });
    const progress: Progress[] = [];
    const reloaded = new Engine({
      key: p.alice.key,
      store: p.alice.store,
      chain: p.chain.service(p.alice.key.address),
      resendIntervalMs: 0,
      chainRetry: { firstMs: 5, maxMs: 20 },
      sendMessage: () => undefined,
      onProgress: (x) => progress.push(x),
    });
    await reloaded.start();
    expect(progress.filter((x) => x.stage === 'retrying').map((x) => x.failure?.code)).toContain('unreachable');
    await until(async () => (await reloaded.getChannel(channelId))?.status === 'closed', 'the close to complete after the reload');
    reloaded.stop();
    p.bob.engine.stop();
  });
});
