/**
 * Two wallets' engines, each with its own store, against a real anvil with the real Nitro
 * contracts: open and fund a channel with deposits by both, update it, close it, and check the
 * payouts to the wei. Messages go straight from one engine to the other (any transport would do).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Address, PrivateKey, type Exit } from '../../core/src/index.ts';
import { objectiveIds, serializeMessage } from '../../core/src/protocol/message.ts';
import { ANVIL_KEYS, type Anvil, startAnvil } from '../../chain/anvil.ts';
import { type ContractAddresses, deployContracts } from '../../chain/deploy.ts';
import { Contract, id } from 'ethers';
import { ADJUDICATOR_ABI, createEthersChainService, createJsonRpcProvider, signerFromPrivateKey } from './chain/index.ts';
import { Engine } from './engine.ts';
import { MemoryStore } from './store/memory-store.ts';
import { until } from './testing/until.ts';
import { simpleExit } from '../../core/src/testing/virtual-fixture.ts';

const ETH: Address = '0x0000000000000000000000000000000000000000';
let anvil: Anvil;
let addresses: ContractAddresses;

beforeAll(async () => {
  anvil = await startAnvil();
  addresses = await deployContracts(anvil.url);
});
afterAll(async () => anvil?.stop());

interface Party {
  key: PrivateKey;
  store: MemoryStore;
  engine: Engine;
  rejections: string[];
  proposed: string[];
}

function party(keyHex: string, deliver: (to: Address, text: string) => void, store = new MemoryStore(), resendIntervalMs = 0): Party {
  const key = PrivateKey.fromHex(keyHex);
  const provider = createJsonRpcProvider(anvil.url, 31337, { pollingIntervalMs: 100 });
  const chain = createEthersChainService({ provider, signer: signerFromPrivateKey(key, provider), addresses: { adjudicator: addresses.adjudicator, token: addresses.token }, pollIntervalMs: 100 });
  const rejections: string[] = [];
  const proposed: string[] = [];
  const engine = new Engine({
    key,
    store,
    chain,
    sendMessage: deliver,
    resendIntervalMs,
    onChannelProposed: (s) => proposed.push(s.channelId),
    log: (event, fields) => {
      if (event === 'peer.rejected') rejections.push(String(fields?.reason));
    },
  });
  return { key, store, engine, rejections, proposed };
}

/** Two engines wired together; `network` may drop or delay messages. */
function pair(network: { drop?: (n: number, to: Address) => boolean; delayMs?: (n: number) => number; resendIntervalMs?: number } = {}): { alice: Party; bob: Party } {
  const parties = new Map<Address, Party>();
  let sent = 0;
  const deliver = (from: () => Party) => (to: Address, text: string) => {
    const n = ++sent;
    if (network.drop?.(n, to)) return;
    const go = () => void parties.get(to)?.engine.receiveMessage(from().key.address, text);
    // Deliver asynchronously, as a network would (possibly late, so out of order).
    const delay = network.delayMs?.(n) ?? 0;
    if (delay > 0) setTimeout(go, delay);
    else queueMicrotask(go);
  };
  const alice: Party = party(ANVIL_KEYS[1]!, deliver(() => alice), new MemoryStore(), network.resendIntervalMs ?? 0);
  const bob: Party = party(ANVIL_KEYS[2]!, deliver(() => bob), new MemoryStore(), network.resendIntervalMs ?? 0);
  parties.set(alice.key.address, alice);
  parties.set(bob.key.address, bob);
  return { alice, bob };
}

const split = (a: Address, b: Address, x: bigint, y: bigint): Exit => simpleExit([[a, x], [b, y]], ETH);

describe('two engines on a real chain', () => {
  it('open, fund with deposits by both, update, close: payouts equal the final outcome to the wei', async () => {
    const { alice, bob } = pair();
    await alice.engine.start();
    await bob.engine.start();
    const a = 10n ** 16n + 7n;
    const b = 3n * 10n ** 15n + 11n;
    const channelId = await alice.engine.createChannel({ counterparty: bob.key.address, asset: ETH, myAmount: a, theirAmount: b, challengeDuration: 600, appDefinition: addresses.consensusApp.toLowerCase() as Address });
    await until(() => bob.proposed.includes(channelId), 'Bob to see the proposal');
    await bob.engine.joinChannel(channelId, true);
    await until(async () => (await alice.engine.getChannel(channelId))?.status === 'running' && (await bob.engine.getChannel(channelId))?.status === 'running', 'both running');

    // Alice pays Bob three times; Bob pays back once.
    const A = alice.key.address;
    const B = bob.key.address;
    await alice.engine.updateChannel(channelId, split(A, B, a - 100n, b + 100n));
    await alice.engine.updateChannel(channelId, split(A, B, a - 300n, b + 300n));
    await alice.engine.updateChannel(channelId, split(A, B, a - 1000n, b + 1000n));
    await bob.engine.updateChannel(channelId, split(A, B, a - 900n, b + 900n));
    expect((await bob.engine.getChannel(channelId))?.balances).toEqual([a - 900n, b + 900n]);

    const provider = createJsonRpcProvider(anvil.url, 31337);
    const before = await Promise.all([provider.getBalance(A), provider.getBalance(B)]);
    await bob.engine.closeChannel(channelId);
    await until(async () => (await alice.engine.getChannel(channelId))?.status === 'closed' && (await bob.engine.getChannel(channelId))?.status === 'closed', 'both closed');
    const after = await Promise.all([provider.getBalance(A), provider.getBalance(B)]);
    // Bob submitted the conclusion and paid gas; Alice only received.
    expect(after[0]! - before[0]!).toBe(a - 900n);
    expect(after[1]! - before[1]! > 0n).toBe(true);
    expect(alice.rejections).toEqual([]);
    expect(bob.rejections).toEqual([]);
    alice.engine.stop();
    bob.engine.stop();
  });

  it('bad input from a peer is rejected with a logged reason and leaves the store unchanged', async () => {
    const { alice, bob } = pair();
    await alice.engine.start();
    await bob.engine.start();
    const channelId = await alice.engine.createChannel({ counterparty: bob.key.address, asset: ETH, myAmount: 1000n, theirAmount: 0n, challengeDuration: 600, appDefinition: addresses.consensusApp.toLowerCase() as Address });
    await until(() => bob.proposed.includes(channelId), 'proposal');
    await bob.engine.joinChannel(channelId, true);
    await until(async () => (await bob.engine.getChannel(channelId))?.status === 'running', 'running');
    const snapshot = () => JSON.stringify([...bob.store.channels.values()], (_, v) => (typeof v === 'bigint' ? v.toString() : v));
    const stored = snapshot();
    const channel = (await alice.store.getChannel(channelId))!;
    const base = channel.states[channel.states.length - 1]!.state;
    const A = alice.key.address;
    const B = bob.key.address;
    const send = (payloadState: typeof base, signer = alice.key, objective = objectiveIds.update(channelId, payloadState.turnNum)) => {
      return bob.engine.receiveMessage(A, serializeMessage({ from: A, to: B, payloads: [{ type: 'state', objectiveId: objective, signedState: signed(payloadState, signer) }] }));
    };
    const { signState } = await import('../../core/src/signed-state.ts');
    const signed = (s: typeof base, k: PrivateKey) => ({ state: s, signatures: s.participants.map((p) => (p === k.address ? signState(s, k).signature : null)) });
    const mallory = PrivateKey.random();
    // a wrong signature: Mallory's in Alice's slot
    await bob.engine.receiveMessage(A, serializeMessage({ from: A, to: B, payloads: [{ type: 'state', objectiveId: objectiveIds.update(channelId, 2), signedState: { state: { ...base, turnNum: 2 }, signatures: [mallory.signHash(new Uint8Array(32)), null] } }] }));
    // a turn number in the past and one far in the future
    await send({ ...base, turnNum: 0 });
    await send({ ...base, turnNum: 100_000, outcome: split(A, B, 900n, 100n) });
    // an outcome that creates money
    await send({ ...base, turnNum: 2, outcome: split(A, B, 1000n, 5n) });
    // a message for a channel we are not in
    const foreign = { ...base, participants: [A, mallory.address], channelNonce: 999n, turnNum: 0 };
    await send(foreign, alice.key, objectiveIds.directFunding(channelId));
    // malformed JSON and a message claiming another sender
    await bob.engine.receiveMessage(A, '{"v":1,');
    await bob.engine.receiveMessage(mallory.address, serializeMessage({ from: A, to: B, payloads: [] }));
    await bob.engine.idle();
    expect(bob.rejections).toHaveLength(7);
    expect(bob.rejections.join('\n')).toMatch(/recovers to/);
    expect(bob.rejections.join('\n')).toMatch(/skips ahead/);
    expect(bob.rejections.join('\n')).toMatch(/in the past/);
    expect(bob.rejections.join('\n')).toMatch(/total changed/);
    expect(bob.rejections.join('\n')).toMatch(/not in/);
    expect(bob.rejections.join('\n')).toMatch(/not valid JSON/);
    expect(bob.rejections.join('\n')).toMatch(/claims to be from/);
    expect(snapshot()).toBe(stored);
    alice.engine.stop();
    bob.engine.stop();
  });

  it('lost and reordered messages do not stall a channel: what the peer lacks is sent again', async () => {
    // Every third message is lost and every other one delayed, so messages also arrive out of order.
    const { alice, bob } = pair({ drop: (n) => n % 3 === 0, delayMs: (n) => (n % 2 === 0 ? 30 : 0), resendIntervalMs: 100 });
    await alice.engine.start();
    await bob.engine.start();
    const A = alice.key.address;
    const B = bob.key.address;
    const channelId = await alice.engine.createChannel({ counterparty: B, asset: ETH, myAmount: 5000n, theirAmount: 3000n, challengeDuration: 600, appDefinition: addresses.consensusApp.toLowerCase() as Address });
    await until(() => bob.proposed.includes(channelId), 'the proposal to get through');
    await bob.engine.joinChannel(channelId, true);
    await until(async () => (await alice.engine.getChannel(channelId))?.status === 'running' && (await bob.engine.getChannel(channelId))?.status === 'running', 'both running');
    for (let i = 1; i <= 5; i++) await alice.engine.updateChannel(channelId, split(A, B, 5000n - BigInt(i), 3000n + BigInt(i)));
    expect((await bob.engine.getChannel(channelId))?.balances).toEqual([4995n, 3005n]);
    // Pipelined: 40 updates in flight at once, through the same lossy, reordering link.
    const burst = Array.from({ length: 40 }, (_, i) => alice.engine.updateChannel(channelId, split(A, B, 4995n - BigInt(i + 1), 3005n + BigInt(i + 1))));
    const summaries = await Promise.all(burst);
    expect(summaries.every((s) => s.status === 'running')).toBe(true);
    await until(async () => (await bob.engine.getChannel(channelId))?.balances[1] === 3045n, 'the last update at Bob');
    expect((await alice.engine.getChannel(channelId))?.balances).toEqual([4955n, 3045n]);
    expect(alice.rejections.filter((r) => !/in the past/.test(r))).toEqual([]);
    alice.engine.stop();
    bob.engine.stop();
  });

  it('a deposit that fails (no funds) leaves nothing half done: closing pays the other deposit back', async () => {
    const parties = new Map<Address, Party>();
    const deliver = (from: () => Party) => (to: Address, text: string) => queueMicrotask(() => void parties.get(to)?.engine.receiveMessage(from().key.address, text));
    const alice: Party = party(ANVIL_KEYS[1]!, deliver(() => alice));
    // Bob's wallet account holds no ETH at all.
    const broke = PrivateKey.random();
    const bob: Party = party(`0x${Buffer.from(broke.exportBytes()).toString('hex')}`, deliver(() => bob));
    parties.set(alice.key.address, alice);
    parties.set(bob.key.address, bob);
    await alice.engine.start();
    await bob.engine.start();
    const channelId = await alice.engine.createChannel({ counterparty: bob.key.address, asset: ETH, myAmount: 10n ** 15n, theirAmount: 10n ** 15n, challengeDuration: 600, appDefinition: addresses.consensusApp.toLowerCase() as Address });
    await until(() => bob.proposed.includes(channelId), 'proposal');
    await bob.engine.joinChannel(channelId, true);
    await until(async () => (await bob.engine.getChannel(channelId))?.status === 'failed', "Bob's funding to fail");
    const failed = await bob.store.getObjective(objectiveIds.directFunding(channelId));
    expect(failed?.error).toMatch(/insufficient|has 0/i);
    const provider = createJsonRpcProvider(anvil.url, 31337);
    const adjudicator = new Contract(addresses.adjudicator, ADJUDICATOR_ABI, provider);
    const holdings = async () => (await adjudicator.getFunction('holdings')(ETH, channelId)) as bigint;
    // Alice deposited (she was first); Bob never could.
    await until(async () => (await holdings()) === 10n ** 15n, "Alice's deposit");
    const before = await provider.getBalance(alice.key.address);
    await alice.engine.closeChannel(channelId);
    await until(async () => (await alice.engine.getChannel(channelId))?.status === 'closed' && (await bob.engine.getChannel(channelId))?.status === 'closed', 'both closed');
    expect(await holdings()).toBe(0n);
    const logs = await provider.getLogs({ address: addresses.adjudicator, topics: [id('Concluded(bytes32,uint48)'), channelId], fromBlock: 0 });
    const receipt = await provider.getTransactionReceipt(logs[0]!.transactionHash);
    const after = await provider.getBalance(alice.key.address);
    // Alice got her deposit back exactly, less the gas of the conclude transaction she sent.
    expect(after - before + receipt!.gasUsed * receipt!.gasPrice).toBe(10n ** 15n);
    alice.engine.stop();
    bob.engine.stop();
  });
});
