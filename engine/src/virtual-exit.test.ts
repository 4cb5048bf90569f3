/**
 * A budget exit without the hub, engines against a real anvil with the real NitroAdjudicator,
 * ConsensusApp and VirtualPaymentApp: payer, hub and payee fund their ledgers, open a virtual
 * channel and pay; the hub stops for good. The payee exits (challenges its ledger and V with a
 * redemption of the largest voucher, reclaims, transfers) with a reload in the middle; the payer
 * exits its own ledger. Each gets exactly what the vouchers prove, to the wei, and no
 * transaction is sent twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Interface, type JsonRpcProvider } from 'ethers';
import { type Address, type Bytes32, PrivateKey, ZERO_ADDRESS } from '../../core/src/index.ts';
import type { ExitStage, ExitUpdate } from '../../core/src/objectives/virtual-exit.ts';
import { ANVIL_KEYS, type Anvil, startAnvil } from '../../chain/anvil.ts';
import { type ContractAddresses, deployContracts } from '../../chain/deploy.ts';
import { ADJUDICATOR_ABI } from './chain/abi.ts';
import { createEthersChainService, createJsonRpcProvider, signerFromPrivateKey } from './chain/index.ts';
import { Engine } from './engine.ts';
import { MemoryStore } from './store/memory-store.ts';
import { until } from './testing/until.ts';

const ETH: Address = ZERO_ADDRESS;
const DEPOSIT = 10n ** 16n;
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

const lower = (a: string) => a.toLowerCase() as Address;

interface Party {
  key: PrivateKey;
  address: Address;
  store: MemoryStore;
  engine: Engine;
  exits: ExitUpdate[];
}

function world() {
  const parties = new Map<Address, Party>();
  const apps = { consensusApp: lower(addresses.consensusApp), virtualPaymentApp: lower(addresses.virtualPaymentApp) };
  const hubPolicy = new Map<Address, boolean>();
  /** Parties no message reaches any more (the hub's relay is gone). */
  const cut = new Set<Address>();
  const makeEngine = (p: Party) => {
    const rpc = createJsonRpcProvider(anvil.url, 31337, { pollingIntervalMs: 50 });
    const chain = createEthersChainService({ provider: rpc, signer: signerFromPrivateKey(p.key, rpc), addresses: { adjudicator: addresses.adjudicator }, pollIntervalMs: 50 });
    const isHub = hubPolicy.get(p.address) ?? false;
    return new Engine({
      key: p.key,
      store: p.store,
      chain,
      apps,
      resendIntervalMs: 0,
      challengePollIntervalMs: 50,
      sendMessage: (to, text) => {
        if (!cut.has(to)) queueMicrotask(() => void parties.get(to)?.engine.receiveMessage(p.address, text));
      },
      onExitUpdated: (u) => p.exits.push(u),
      ...(isHub ? { onChannelProposed: (s) => void p.engine.joinChannel(s.channelId, true), approveVirtualChannel: () => true } : {}),
    });
  };
  const party = (keyHex: string, isHub = false): Party => {
    const key = PrivateKey.fromHex(keyHex);
    const p = { key, address: key.address, store: new MemoryStore(), exits: [] } as unknown as Party;
    hubPolicy.set(p.address, isHub);
    p.engine = makeEngine(p);
    parties.set(p.address, p);
    return p;
  };
  return {
    payer: party(ANVIL_KEYS[1]!),
    payee: party(ANVIL_KEYS[2]!),
    hub: party(ANVIL_KEYS[3]!, true),
    cut,
    /** A new engine over the same store, as after a reload. */
    async reload(p: Party): Promise<void> {
      p.engine.stop();
      await p.engine.idle();
      p.engine = makeEngine(p);
      await p.engine.start();
    },
  };
}

/** The transactions `who` sent in blocks from `fromBlock` on: how many, to which function, and their gas in wei. */
async function sentSince(who: Address, fromBlock: number): Promise<{ gas: bigint; selectors: string[] }> {
  let gas = 0n;
  const selectors: string[] = [];
  const head = await provider.getBlockNumber();
  for (let n = fromBlock; n <= head; n++) {
    const block = await provider.getBlock(n, true);
    for (const tx of block!.prefetchedTransactions) {
      if (tx.from.toLowerCase() !== who) continue;
      const receipt = await provider.getTransactionReceipt(tx.hash);
      gas += receipt!.gasUsed * receipt!.gasPrice;
      selectors.push(tx.data.slice(0, 10));
    }
  }
  return { gas, selectors };
}

async function timeTravel(seconds: number): Promise<void> {
  await provider.send('evm_increaseTime', [seconds]);
  await provider.send('evm_mine', []);
}

const reached = (p: Party, stage: ExitStage) => p.exits.some((u) => u.stage === stage);
const adjudicatorInterface = new Interface(ADJUDICATOR_ABI as unknown as string[]);
const selectorOf = (name: string) => adjudicatorInterface.getFunction(name)!.selector;
const holdings = async (id: Bytes32) => BigInt(await provider.call({ to: addresses.adjudicator, data: adjudicatorInterface.encodeFunctionData('holdings', [ETH, id]) }));

/** Starts the three engines and funds the payer's and the payee's ledgers with the hub; their ids. */
async function openBudgets({ payer, payee, hub }: ReturnType<typeof world>): Promise<Bytes32[]> {
  for (const p of [payer, hub, payee]) await p.engine.start();
  const ids = await Promise.all(
    [payer, payee].map((u) => u.engine.createLedgerChannel({ hub: hub.address, asset: ETH, myAmount: DEPOSIT, hubAmount: DEPOSIT, challengeDuration: DURATION })),
  );
  await until(
    async () => (await payer.engine.getBudget(hub.address))?.status === 'running' && (await payee.engine.getBudget(hub.address))?.status === 'running' && (await hub.engine.getBudget(payee.address))?.status === 'running',
    'both ledgers running',
  );
  return ids;
}

describe('budget exit without the hub (challenge ledger and V, reclaim, transfer)', () => {
  it('pays the payee exactly what the largest voucher proves and the payer the rest, to the wei, across a reload, with no duplicate transaction', async () => {
    const w = world();
    const { payer, payee, hub } = w;
    const [left, right] = await openBudgets(w);
    const vAmount = 4n * 10n ** 15n;
    const vId = await payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: vAmount });
    let paid = 0n;
    for (const x of [1_000_000_007n, 2_345_678_901n, 99n]) paid = (await payer.engine.pay(vId, x)).total;
    await until(() => payee.store.vouchers.get(vId)?.amount === paid, 'the payee holds the largest voucher');

    // The hub is gone for good.
    hub.engine.stop();
    await hub.engine.idle();

    const start = (await provider.getBlockNumber()) + 1;
    const before = { payer: await provider.getBalance(payer.address), payee: await provider.getBalance(payee.address), hub: await provider.getBalance(hub.address) };

    // The payee exits; its challenges are registered; then its wallet reloads.
    const payeeExit = await payee.engine.exitBudget(hub.address);
    expect(payeeExit).toBe(`VirtualExit-${right}`);
    await until(() => reached(payee, 'waiting'), 'the payee’s challenges registered');
    const countdown = payee.exits.find((u) => u.stage === 'waiting')!;
    expect(countdown.finalizesAt).toBeGreaterThan(0);
    expect(countdown.channels.map((c) => c.channelId).sort()).toEqual([right, vId].sort());
    expect(countdown.channels.find((c) => c.channelId === vId)?.registeredTurn).toBe(2); // the redemption
    await w.reload(payee);
    // Asking again after the reload returns the exit under way.
    expect(await payee.engine.exitBudget(hub.address)).toBe(payeeExit);
    expect(await payee.engine.getBudgetExit(hub.address)).toMatchObject({ ledgerId: right, stage: 'waiting' });
    // The exit's own challenge of the ledger is not taken for a counterparty's dispute.
    expect(await payee.engine.getChallenge(right!)).toBeUndefined();

    // The payer exits its own ledger: V is already challenged with the payee's redemption.
    const payerExit = await payer.engine.exitBudget(hub.address);
    expect(payerExit).toBe(`VirtualExit-${left}`);
    // A budget being exited funds no new virtual channel.
    await expect(payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: 1n })).rejects.toThrow(/being exited on chain/);
    await until(() => reached(payer, 'waiting'), 'the payer’s challenges registered');

    await timeTravel(DURATION + 1);
    const [payeeEnd, payerEnd] = await Promise.all([payee.engine.objectiveSettled(payeeExit), payer.engine.objectiveSettled(payerExit)]);
    expect(payeeEnd).toBe('done');
    expect(payerEnd).toBe('done');
    expect(payee.exits.map((u) => u.stage)).toContain('reclaiming');
    expect(payee.exits.at(-1)?.stage).toBe('withdrawn');

    // Both ledgers are paid out.
    expect(await holdings(left!)).toBe(0n);
    expect(await holdings(right!)).toBe(0n);

    // Exactly the transactions needed, each once: the payee challenged its ledger and V, reclaimed,
    // transferred; the payer challenged its ledger only (V was already registered with a newer state).
    const payeeSent = await sentSince(payee.address, start);
    const payerSent = await sentSince(payer.address, start);
    const hubSent = await sentSince(hub.address, start);
    const [challengeSel, reclaimSel, transferSel] = ['challenge', 'reclaim', 'transferAllAssets'].map((f) => selectorOf(f));
    expect(payeeSent.selectors).toEqual([challengeSel, challengeSel, reclaimSel, transferSel]);
    expect(payerSent.selectors).toEqual([challengeSel, reclaimSel, transferSel]);
    expect(hubSent.selectors).toEqual([]);

    // To the wei: the payee gained what the largest voucher proves, the payer lost exactly that, the hub is whole.
    const after = { payer: await provider.getBalance(payer.address), payee: await provider.getBalance(payee.address), hub: await provider.getBalance(hub.address) };
    expect(after.payee - before.payee + payeeSent.gas).toBe(DEPOSIT + paid);
    expect(after.payer - before.payer + payerSent.gas).toBe(DEPOSIT - paid);
    expect(after.hub - before.hub).toBe(2n * DEPOSIT);

    for (const p of [payer, payee]) p.engine.stop();
  }, 180_000);

  it('the payee never got the last vouchers: it registers a smaller one, and the payer’s exit learns it and completes by it', async () => {
    const w = world();
    const { payer, payee, hub } = w;
    const [left, right] = await openBudgets(w);
    const vId = await payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: 4n * 10n ** 15n });
    const received = (await payer.engine.pay(vId, 1_234_567n)).total;
    await until(() => payee.store.vouchers.get(vId)?.amount === received, 'the payee holds the voucher');

    // The hub and its relay are gone: the payer's next voucher never reaches the payee.
    hub.engine.stop();
    await hub.engine.idle();
    w.cut.add(payee.address);
    const signed = (await payer.engine.pay(vId, 7_654_321n)).total;
    expect(signed).toBeGreaterThan(received);

    const start = (await provider.getBlockNumber()) + 1;
    const before = { payer: await provider.getBalance(payer.address), payee: await provider.getBalance(payee.address) };
    const payeeExit = await payee.engine.exitBudget(hub.address);
    await until(() => reached(payee, 'waiting'), 'the payee’s challenges registered');
    const payerExit = await payer.engine.exitBudget(hub.address);
    // No payment the exit would not know of.
    await expect(payer.engine.pay(vId, 1n)).rejects.toThrow(/being exited on chain/);
    await until(() => reached(payer, 'waiting'), 'the payer’s exit learned the payee’s redemption');

    await timeTravel(DURATION + 1);
    expect(await payee.engine.objectiveSettled(payeeExit)).toBe('done');
    expect(await payer.engine.objectiveSettled(payerExit)).toBe('done');
    expect(await holdings(left!)).toBe(0n);
    expect(await holdings(right!)).toBe(0n);

    // V paid out by the voucher the payee holds; the payer keeps what never reached it.
    const payeeSent = await sentSince(payee.address, start);
    const payerSent = await sentSince(payer.address, start);
    expect((await provider.getBalance(payee.address)) - before.payee + payeeSent.gas).toBe(DEPOSIT + received);
    expect((await provider.getBalance(payer.address)) - before.payer + payerSent.gas).toBe(DEPOSIT - received);
    for (const p of [payer, payee]) p.engine.stop();
  }, 180_000);
});
