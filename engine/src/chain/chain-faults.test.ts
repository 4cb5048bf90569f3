/**
 * Chain faults under two engines funding a direct channel on a real anvil with the real
 * NitroAdjudicator, with `confirmations` = 2:
 * - the RPC endpoint goes away and comes back (a real TCP proxy in front of anvil is cut) at the
 *   worst moments of a deposit: funding completes once it is back, with no manual step, the app
 *   hears a `retrying` progress while it is away, and each party deposits exactly once;
 * - a short reorganisation (anvil_reorg) takes a deposit out before it is confirmed, or moves it
 *   to another block: nobody deposits out of turn or twice, and nothing is funded until the
 *   deposit is confirmed where it finally stands;
 * - a deposit that reverts on chain because someone else deposited first is planned again from
 *   the holdings: the channel holds exactly its total.
 * Oracles read anvil directly (Deposited logs, holdings, nonces), never through the engines.
 */
import { type JsonRpcProvider, Wallet, id as topicOf } from 'ethers';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ANVIL_KEYS } from '../../../chain/anvil.ts';
import { ETH, type NitroChain, startNitroChain } from '../../../chain/testing/nitro-fixture.ts';
import { type Address, type Bytes32, PrivateKey } from '../../../core/src/index.ts';
import type { ChainFailure, ProgressStage } from '../../../core/src/objectives/effects.ts';
import { Engine } from '../engine.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { createEthersChainService, createJsonRpcProvider, signerFromPrivateKey } from './ethers-chain.ts';
import { decodeAdjudicatorLog } from './event-poller.ts';
import { Collector } from './testing/collector.ts';
import { type TcpProxy, startTcpProxy } from './testing/tcp-proxy.ts';
import type { DepositedEvent } from './types.ts';
import { until } from '../testing/until.ts';

const CONFIRMATIONS = 2;
const A = 10n ** 16n + 7n;
const B = 3n * 10n ** 15n + 11n;
const DEPOSITED = topicOf('Deposited(bytes32,address,uint256)');

let chain: NitroChain;
beforeAll(async () => {
  chain = await startNitroChain();
  // Reads are made CONFIRMATIONS - 1 blocks deep: bury the contracts' deployment first.
  for (let i = 0; i < CONFIRMATIONS; i++) await chain.provider.send('evm_mine', []);
});
afterAll(async () => chain?.stop());

type Progress = { objectiveId: string; stage: ProgressStage; detail?: string; failure?: ChainFailure; proxyDown: boolean; knownHead: number };

interface Party {
  address: Address;
  engine: Engine;
  progress: Collector<Progress>;
  /** The heads the party's event poller has read. */
  polls: Collector<number>;
}

/**
 * A lower bound of anvil's head: the highest head any poller has read or the test has mined to.
 * The head never goes down in these tests except by a reorg that keeps its height, so a progress
 * stamped with it happened when the chain was at least that high.
 */
let knownHead = 0;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function world(rpcUrl: string, proxy?: TcpProxy): { alice: Party; bob: Party } {
  const engines = new Map<Address, Engine>();
  const party = (keyHex: string, onProposed?: (id: Bytes32) => void): Party => {
    const key = PrivateKey.fromHex(keyHex);
    const provider: JsonRpcProvider = createJsonRpcProvider(rpcUrl, 31337, { requestTimeoutMs: 3_000 });
    const polls = new Collector<number>();
    const chainService = createEthersChainService({
      provider,
      signer: signerFromPrivateKey(key, provider),
      addresses: { adjudicator: chain.addresses.adjudicator },
      confirmations: CONFIRMATIONS,
      pollIntervalMs: 20,
      onPoll: ({ head }) => {
        knownHead = Math.max(knownHead, head);
        polls.push(head);
      },
    });
    const progress = new Collector<Progress>();
    const engine = new Engine({
      key,
      store: new MemoryStore(),
      chain: chainService,
      resendIntervalMs: 100,
      chainRetry: { firstMs: 50, maxMs: 400 },
      sendMessage: (to, text) => queueMicrotask(() => void engines.get(to)?.receiveMessage(key.address, text)),
      onProgress: (p) => progress.push({ ...p, proxyDown: proxy?.down ?? false, knownHead }),
      ...(onProposed && { onChannelProposed: (s) => onProposed(s.channelId) }),
    });
    engines.set(key.address, engine);
    cleanups.push(() => {
      engine.stop();
      provider.destroy();
    });
    return { address: key.address, engine, progress, polls };
  };
  const alice = party(ANVIL_KEYS[1]);
  const bob = party(ANVIL_KEYS[2], (channelId) => void bob.engine.joinChannel(channelId, true));
  return { alice, bob };
}

/** Alice proposes a channel (she deposits A first, Bob B second); Bob joins as soon as he hears of it. */
async function open(w: { alice: Party; bob: Party }): Promise<Bytes32> {
  await w.alice.engine.start();
  await w.bob.engine.start();
  return w.alice.engine.createChannel({ counterparty: w.bob.address, asset: ETH, myAmount: A, theirAmount: B, challengeDuration: 600, appDefinition: chain.addresses.consensusApp.toLowerCase() as Address });
}

/** The channel's Deposited events on anvil's canonical chain, with the account that sent each. */
async function deposits(channelId: Bytes32): Promise<(DepositedEvent & { from: Address })[]> {
  const logs = await chain.provider.getLogs({ address: chain.addresses.adjudicator, topics: [DEPOSITED, channelId], fromBlock: 0 });
  return Promise.all(
    logs.map(async (log) => {
      const tx = await chain.provider.getTransaction(log.transactionHash);
      return { ...(decodeAdjudicatorLog(log) as DepositedEvent), from: tx!.from.toLowerCase() as Address };
    }),
  );
}

/** Bounded wait on a condition of the chain itself (logs, holdings), which offers no notification. */

/** Waits until every party's poller has read a head at least `head` high, and the engines have handled what followed. */
async function seen(w: { alice: Party; bob: Party }, head: number): Promise<void> {
  for (const p of [w.alice, w.bob]) await p.polls.waitFor((h) => h >= head, `a poll at head ${head}`);
  await Promise.all([w.alice.engine.idle(), w.bob.engine.idle()]);
}

const running = async (w: { alice: Party; bob: Party }, channelId: Bytes32): Promise<boolean> =>
  (await w.alice.engine.getChannel(channelId))?.status === 'running' && (await w.bob.engine.getChannel(channelId))?.status === 'running';

/** Mines one block at a time, each once both pollers have read the last and the engines are idle, until `done`. */
async function mineUntil(w: { alice: Party; bob: Party }, done: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (await done()) return;
    await chain.provider.send('evm_mine', []);
    const head = await chain.provider.getBlockNumber();
    knownHead = Math.max(knownHead, head);
    await seen(w, head);
  }
  throw new Error(`not ${what} within 60 blocks`);
}

const mineUntilRunning = (w: { alice: Party; bob: Party }, channelId: Bytes32) => mineUntil(w, () => running(w, channelId), 'running');

const nonce = (a: Address): Promise<number> => chain.provider.getTransactionCount(a, 'latest');

/**
 * Funded exactly once by each party, in turn, and nobody was told `funded` before Bob's deposit
 * (the last) was CONFIRMATIONS deep.
 */
async function expectFundedOnce(w: { alice: Party; bob: Party }, channelId: Bytes32): Promise<void> {
  const d = await deposits(channelId);
  expect(d.map((x) => [x.from, x.destinationHoldings])).toEqual([
    [w.alice.address, A],
    [w.bob.address, A + B],
  ]);
  expect(await chain.holdings(ETH, channelId)).toBe(A + B);
  for (const p of [w.alice, w.bob]) {
    const funded = p.progress.items.filter((x) => x.stage === 'funded');
    expect(funded).toHaveLength(1);
    expect(funded[0]!.knownHead).toBeGreaterThanOrEqual(d[1]!.blockNumber + CONFIRMATIONS - 1);
    expect(p.progress.items.filter((x) => x.stage === 'failed')).toEqual([]);
  }
}

describe('the RPC endpoint goes away and comes back', () => {
  async function withProxy() {
    const proxy = await startTcpProxy({ port: chain.anvil.port });
    cleanups.push(() => proxy.close());
    return { proxy, w: world(proxy.url, proxy) };
  }

  const expectUnreachableRetry = (p: Progress | undefined, proxy: TcpProxy) => {
    expect(p).toMatchObject({ stage: 'retrying', proxyDown: true, failure: { operation: 'deposit', code: 'unreachable' } });
    expect(p!.detail).toContain(`The chain RPC at ${proxy.url} is unreachable`);
  };

  it('cut while the deposit is being submitted (it never reaches the node): retried once the endpoint is back, one deposit each', async () => {
    const { proxy, w } = await withProxy();
    const cut = proxy.cutOn('eth_sendRawTransaction', 'before');
    const [aliceNonce, bobNonce] = [await nonce(w.alice.address), await nonce(w.bob.address)];
    const channelId = await open(w);
    await cut;
    const retry = await w.alice.progress.waitFor((p) => p.stage === 'retrying', "Alice's retrying progress");
    expectUnreachableRetry(retry, proxy);
    expect(await deposits(channelId)).toEqual([]);
    expect(await w.alice.engine.getChannel(channelId)).toMatchObject({ status: 'funding' });

    proxy.restore();
    await mineUntilRunning(w, channelId);
    await expectFundedOnce(w, channelId);
    // One transaction each: nothing was sent twice, not even a copy the adjudicator refused.
    expect([await nonce(w.alice.address), await nonce(w.bob.address)]).toEqual([aliceNonce + 1, bobNonce + 1]);
  });

  it('cut after the node took the deposit but before we heard its hash: not deposited again, funding completes', async () => {
    const { proxy, w } = await withProxy();
    const cut = proxy.cutOn('eth_sendRawTransaction', 'after');
    const channelId = await open(w);
    await cut;
    // The node has it (anvil mines at once); the wallet never learnt the hash.
    await until(async () => (await deposits(channelId)).length === 1, "Alice's deposit on chain");
    const retry = await w.alice.progress.waitFor((p) => p.stage === 'retrying', "Alice's retrying progress");
    expectUnreachableRetry(retry, proxy);

    proxy.restore();
    // Until another block confirms it, the holdings Alice reads do not show her deposit: she plans
    // it again, and the adjudicator's expectedHeld (checked before sending) refuses the copy.
    await mineUntilRunning(w, channelId);
    await expectFundedOnce(w, channelId);
  });

  it('cut while the receipt is awaited: the deposit is followed to its confirmation once the endpoint is back', async () => {
    const { proxy, w } = await withProxy();
    const cut = proxy.cutOn('eth_getTransactionReceipt', 'before');
    const channelId = await open(w);
    await cut;
    await until(async () => (await deposits(channelId)).length === 1, "Alice's deposit on chain");
    // The app hears why nothing moves (the event poller fails), for both parties.
    for (const p of [w.alice, w.bob]) expectUnreachableRetry(await p.progress.waitFor((x) => x.stage === 'retrying', 'a retrying progress'), proxy);
    expect(w.alice.progress.items.filter((x) => x.stage === 'deposit-mined')).toEqual([]);

    proxy.restore();
    await mineUntilRunning(w, channelId);
    await expectFundedOnce(w, channelId);
    expect(w.alice.progress.items.filter((x) => x.stage === 'depositing')).toHaveLength(1);
  });

  it('cut while waiting for confirmations: blocks mined meanwhile are caught up, Bob does not deposit before Alice is confirmed', async () => {
    const { proxy, w } = await withProxy();
    const channelId = await open(w);
    await until(async () => (await deposits(channelId)).length === 1, "Alice's deposit on chain");
    proxy.cut();
    // The chain goes on without them: the block that confirms Alice's deposit.
    await chain.provider.send('evm_mine', []);
    for (const p of [w.alice, w.bob]) expectUnreachableRetry(await p.progress.waitFor((x) => x.stage === 'retrying', 'a retrying progress'), proxy);
    expect(await deposits(channelId)).toHaveLength(1);
    expect(await w.bob.engine.getChannel(channelId)).toMatchObject({ status: 'funding' });

    proxy.restore();
    await mineUntilRunning(w, channelId);
    await expectFundedOnce(w, channelId);
    expect(w.alice.progress.items.filter((x) => x.stage === 'depositing')).toHaveLength(1);
  });
});

describe('a short reorganisation (anvil_reorg) before a deposit is confirmed', () => {
  // Blocks come only when the test mines them, so a deposit is never buried by a block the test
  // did not mean to mine before reorganising it away.
  beforeEach(() => chain.provider.send('evm_setAutomine', [false]));
  afterEach(() => chain.provider.send('evm_setAutomine', [true]));

  it.each([
    ['Alice (first)', 0],
    ['Bob (second)', 1],
  ] as const)("%s's deposit is taken out: nobody deposits out of turn, it is planned again from the holdings, funded once confirmed", async (_label, which) => {
    const w = world(chain.anvil.url);
    const [aliceNonce, bobNonce] = [await nonce(w.alice.address), await nonce(w.bob.address)];
    const channelId = await open(w);
    await mineUntil(w, async () => (await deposits(channelId)).length === which + 1, 'deposited');
    const before = await deposits(channelId);
    const gone = before[which]!;
    // Both engines have seen the block it is in (one deep only) and done all they would do.
    await seen(w, gone.blockNumber);
    expect(await deposits(channelId)).toHaveLength(which + 1);
    for (const p of [w.alice, w.bob]) expect(p.progress.items.filter((x) => x.stage === 'funded')).toEqual([]);

    await chain.provider.send('anvil_reorg', [1, []]);
    expect(await chain.provider.getTransaction(gone.txHash)).toBeNull();
    expect(await deposits(channelId)).toHaveLength(which);

    // The next block confirms the empty block in its place: the other party must not take it as funded.
    await chain.provider.send('evm_mine', []);
    const head = await chain.provider.getBlockNumber();
    await seen(w, head);
    const depositor = which === 0 ? w.alice : w.bob;
    const retry = await depositor.progress.waitFor((p) => p.stage === 'retrying', 'the depositor hearing its deposit was dropped');
    expect(retry.failure).toMatchObject({ operation: 'deposit', code: 'dropped', txHash: gone.txHash });

    await mineUntilRunning(w, channelId);
    await expectFundedOnce(w, channelId);
    const after = await deposits(channelId);
    expect(after[which]!.txHash).not.toBe(gone.txHash);
    if (which === 1) expect(after[0]!.txHash).toBe(before[0]!.txHash);
    // One transaction each in the canonical chain: the dropped one's nonce was taken again.
    expect([await nonce(w.alice.address), await nonce(w.bob.address)]).toEqual([aliceNonce + 1, bobNonce + 1]);
  });

  it("Bob's deposit is moved to another block by the reorganisation: followed there, not repeated, funded once confirmed there", async () => {
    const w = world(chain.anvil.url);
    const bobNonce = await nonce(w.bob.address);
    const channelId = await open(w);
    await mineUntil(w, async () => (await deposits(channelId)).length === 2, "Bob's deposit");
    const moved = (await deposits(channelId))[1]!;
    await seen(w, moved.blockNumber);
    const raw = (await chain.provider.send('eth_getRawTransactionByHash', [moved.txHash])) as string;
    const oldBlock = (await chain.provider.getTransactionReceipt(moved.txHash))!.blockHash;
    // The new block at that height carries someone else's transfer before Bob's deposit, so it is another block.
    const stranger = new Wallet(ANVIL_KEYS[4], chain.provider);
    const transfer = await stranger.signTransaction({
      to: stranger.address,
      value: 1n,
      nonce: await chain.provider.getTransactionCount(stranger.address, 'latest'),
      chainId: 31337,
      gasLimit: 21_000,
      maxFeePerGas: 10n ** 11n,
      maxPriorityFeePerGas: 10n ** 9n,
    });

    await chain.provider.send('anvil_reorg', [1, [[transfer, 0], [raw, 0]]]);
    const receipt = (await chain.provider.getTransactionReceipt(moved.txHash))!;
    expect(receipt.blockHash).not.toBe(oldBlock);
    expect(receipt.blockNumber).toBe(moved.blockNumber);
    expect(receipt.index).toBe(1);
    for (const p of [w.alice, w.bob]) expect(p.progress.items.filter((x) => x.stage === 'funded')).toEqual([]);

    await mineUntilRunning(w, channelId);
    await expectFundedOnce(w, channelId);
    expect((await deposits(channelId))[1]!.txHash).toBe(moved.txHash);
    expect(await nonce(w.bob.address)).toBe(bobNonce + 1);
    expect(w.bob.progress.items.filter((x) => x.stage === 'depositing')).toHaveLength(1);
  });
});

describe('a deposit that reverts on chain', () => {
  beforeEach(() => chain.provider.send('evm_setAutomine', [false]));
  afterEach(() => chain.provider.send('evm_setAutomine', [true]));

  it('someone else deposited first (held != expectedHeld): nothing moves, it is planned again from the holdings, the channel holds exactly its total', async () => {
    const w = world(chain.anvil.url);
    const aliceNonce = await nonce(w.alice.address);
    const channelId = await open(w);
    // Alice's deposit (expectedHeld 0) waits in the mempool; a stranger's deposit into the same
    // channel, with a higher tip, goes before it in the next block.
    await until(async () => Number(((await chain.provider.send('txpool_status', [])) as { pending: string }).pending) === 1, "Alice's deposit in the mempool");
    const X = 10n ** 15n;
    await chain.adjudicator.getFunction('deposit')(ETH, channelId, 0n, X, { value: X, gasLimit: 200_000, maxPriorityFeePerGas: 10n ** 10n, maxFeePerGas: 10n ** 11n });
    await chain.provider.send('evm_mine', []);
    const block = (await chain.provider.getBlock('latest', true))!;
    const receipts = await Promise.all(block.prefetchedTransactions.map((tx) => chain.provider.getTransactionReceipt(tx.hash)));
    expect(block.prefetchedTransactions.map((tx) => tx.from.toLowerCase())).toEqual([new Wallet(ANVIL_KEYS[0]).address.toLowerCase(), w.alice.address]);
    expect(receipts.map((r) => r!.status)).toEqual([1, 0]);

    await mineUntilRunning(w, channelId);
    const d = await deposits(channelId);
    // The stranger's X, then Alice's top-up to A (A - X, with expectedHeld X), then Bob's B.
    expect(d.map((x) => x.destinationHoldings)).toEqual([X, A, A + B]);
    expect(d.slice(1).map((x) => x.from)).toEqual([w.alice.address, w.bob.address]);
    expect(await chain.holdings(ETH, channelId)).toBe(A + B);
    // Two transactions from Alice: the one that reverted (it moved nothing) and the top-up.
    expect(await nonce(w.alice.address)).toBe(aliceNonce + 2);
    for (const p of [w.alice, w.bob]) {
      expect(p.progress.items.filter((x) => x.stage === 'failed')).toEqual([]);
      const funded = p.progress.items.filter((x) => x.stage === 'funded');
      expect(funded).toHaveLength(1);
      expect(funded[0]!.knownHead).toBeGreaterThanOrEqual(d[2]!.blockNumber + CONFIRMATIONS - 1);
    }
  });
});
