/**
 * Virtual payment channels through a hub, end to end: three engines in this process (payer, hub,
 * payee), each with its own MemoryStore, messages delivered in process (in some tests lossy and
 * reordering). The ledger channels are funded on a real anvil with the real contracts, exactly as
 * direct channels are (engine.test.ts); after that, virtual channels open, carry payments and
 * close with no chain transaction at all, and the ledgers end crediting payer and payee exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Contract, id as topicId } from 'ethers';
import {
  type Address,
  type Bytes32,
  PrivateKey,
  ZERO_ADDRESS,
  addressToDestination,
  channelId as channelIdOf,
  hashStateBytes,
  signVoucher,
  type Voucher,
} from '../../core/src/index.ts';
import { latestSupported } from '../../core/src/protocol/channel.ts';
import { type LedgerProposal, applyChange } from '../../core/src/protocol/ledger.ts';
import { objectiveIds, serializeMessage } from '../../core/src/protocol/message.ts';
import { virtualFinalState } from '../../core/src/protocol/virtual.ts';
import { signState } from '../../core/src/signed-state.ts';
import { ANVIL_KEYS, type Anvil, startAnvil } from '../../chain/anvil.ts';
import { type ContractAddresses, deployContracts } from '../../chain/deploy.ts';
import { ADJUDICATOR_ABI, createEthersChainService, createJsonRpcProvider, signerFromPrivateKey } from './chain/index.ts';
import { Engine, EngineError, type EngineDeps } from './engine.ts';
import { MemoryStore } from './store/memory-store.ts';
import { until } from './testing/until.ts';

const ETH: Address = ZERO_ADDRESS;
const DEPOSIT = 10n ** 16n;
let anvil: Anvil;
let addresses: ContractAddresses;

beforeAll(async () => {
  anvil = await startAnvil();
  addresses = await deployContracts(anvil.url);
});
afterAll(async () => anvil?.stop());

const lower = (a: string) => a.toLowerCase() as Address;

interface Party {
  name: string;
  key: PrivateKey;
  address: Address;
  store: MemoryStore;
  engine: Engine;
  /** Reasons of everything this party's engines refused from peers. */
  rejections: string[];
  /** Payments reported (by any of this party's engines, across restarts). */
  payments: { channelId: Bytes32; amount: bigint; total: bigint }[];
  /** Reports that came before their voucher was stored (must stay empty). */
  reportedUnstored: bigint[];
}

interface NetworkOptions {
  /** Drop the n-th message (counted over all messages). */
  drop?: (n: number, from: Address, to: Address, text: string) => boolean;
  /** Deliver the n-th message this late (so messages also overtake each other). */
  delayMs?: (n: number) => number;
  resendIntervalMs?: number;
}

/** Payer, hub and payee engines over their own stores, wired through an in-process network. */
function world(network: NetworkOptions = {}) {
  const parties = new Map<Address, Party>();
  let sent = 0;
  const apps = { consensusApp: lower(addresses.consensusApp), virtualPaymentApp: lower(addresses.virtualPaymentApp) };
  const deliver = (from: Address) => (to: Address, text: string) => {
    const n = ++sent;
    if (network.drop?.(n, from, to, text)) return;
    const go = () => void parties.get(to)?.engine.receiveMessage(from, text);
    const delay = network.delayMs?.(n) ?? 0;
    if (delay > 0) setTimeout(go, delay);
    else queueMicrotask(go);
  };
  const makeEngine = (p: Party, extra: Partial<EngineDeps>) => {
    const provider = createJsonRpcProvider(anvil.url, 31337, { pollingIntervalMs: 100 });
    const chain = createEthersChainService({ provider, signer: signerFromPrivateKey(p.key, provider), addresses: { adjudicator: addresses.adjudicator, token: addresses.token }, pollIntervalMs: 100 });
    return new Engine({
      key: p.key,
      store: p.store,
      chain,
      apps,
      sendMessage: deliver(p.address),
      resendIntervalMs: network.resendIntervalMs ?? 0,
      onPaymentReceived: (payment) => {
        p.payments.push(payment);
        if ((p.store.vouchers.get(payment.channelId)?.amount ?? 0n) < payment.total) p.reportedUnstored.push(payment.total);
      },
      log: (event, fields) => {
        if (event === 'peer.rejected') p.rejections.push(String(fields?.reason));
      },
      ...extra,
    });
  };
  const extras = new Map<Address, Partial<EngineDeps>>();
  const party = (name: string, keyHex: string, extra: Partial<EngineDeps> = {}): Party => {
    const key = PrivateKey.fromHex(keyHex);
    const p = { name, key, address: key.address, store: new MemoryStore(), rejections: [], payments: [], reportedUnstored: [] } as unknown as Party;
    extras.set(p.address, extra);
    p.engine = makeEngine(p, extra);
    parties.set(p.address, p);
    return p;
  };
  const payer = party('payer', ANVIL_KEYS[1]!);
  const payee = party('payee', ANVIL_KEYS[2]!);
  // The hub joins every ledger proposed to it and approves every virtual channel (a policy stand-in).
  const hub: Party = party('hub', ANVIL_KEYS[3]!, {
    onChannelProposed: (s) => void hub.engine.joinChannel(s.channelId, true),
    approveVirtualChannel: () => true,
  });

  return {
    payer,
    hub,
    payee,
    apps,
    /** A new engine over the same store (as after a reload); messages sent to the old one meanwhile are lost. */
    async restart(p: Party): Promise<void> {
      const old = p.engine;
      old.stop();
      await old.idle();
      p.engine = makeEngine(p, extras.get(p.address)!);
      await p.engine.start();
    },
    async start(): Promise<void> {
      for (const p of [payer, hub, payee]) await p.engine.start();
    },
    stop(): void {
      for (const p of [payer, hub, payee]) p.engine.stop();
    },
    /** Both users open a ledger with the hub (deposits in turn on chain) and wait until all see them running. */
    async fundLedgers(amounts = { payer: DEPOSIT, payee: DEPOSIT, hub: DEPOSIT }): Promise<{ left: Bytes32; right: Bytes32 }> {
      const [left, right] = await Promise.all(
        [
          [payer, amounts.payer],
          [payee, amounts.payee],
        ].map(([user, myAmount]) => (user as Party).engine.createLedgerChannel({ hub: hub.address, asset: ETH, myAmount: myAmount as bigint, hubAmount: amounts.hub, challengeDuration: 600 })),
      );
      await until(
        async () =>
          (await payer.engine.getBudget(hub.address))?.status === 'running' &&
          (await payee.engine.getBudget(hub.address))?.status === 'running' &&
          (await hub.engine.getBudget(payer.address))?.status === 'running' &&
          (await hub.engine.getBudget(payee.address))?.status === 'running',
        'both ledgers running at both ends',
        60_000,
      );
      return { left: left!, right: right! };
    },
  };
}

const provider = () => createJsonRpcProvider(anvil.url, 31337);

function snapshot(store: MemoryStore): string {
  return JSON.stringify([[...store.channels], [...store.objectives], [...store.vouchers]], (_, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** What a conclusion cost its sender in gas (wei). */
async function concludeGas(channelId: Bytes32): Promise<bigint> {
  const p = provider();
  const logs = await p.getLogs({ address: addresses.adjudicator, topics: [topicId('Concluded(bytes32,uint48)'), channelId], fromBlock: 0 });
  const receipt = await p.getTransactionReceipt(logs[0]!.transactionHash);
  return receipt!.gasUsed * receipt!.gasPrice;
}

/** A number in [0, 1) picked by hashing `n` (deterministic, with no short period). */
function chance(n: number, salt: number): number {
  return (Math.imul(n ^ Math.imul(salt, 0x27d4eb2d), 2654435761) >>> 0) / 2 ** 32;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

describe('virtual payment channels through a hub (three engines, ledgers on a real chain)', () => {
  it('opens with no chain transaction, carries 1,000 payments, closes; both ledgers credit payer and payee exactly, on chain too', async () => {
    const w = world();
    const { payer, hub, payee } = w;
    await w.start();
    const { left, right } = await w.fundLedgers();
    expect(await payer.engine.getBudget(hub.address)).toMatchObject({ hub: hub.address, ledgerId: left, asset: ETH, send: DEPOSIT, receive: DEPOSIT, locked: 0n, status: 'running' });
    const block = await provider().getBlockNumber();

    const amount = 10n ** 15n;
    const t0 = performance.now();
    const vId = await payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount });
    const openMs = performance.now() - t0;
    for (const p of [payer, hub, payee]) {
      await until(async () => (await p.engine.getVirtualChannel(vId))?.status === 'running', `${p.name} to see it running`);
    }
    expect(await payer.engine.getVirtualChannel(vId)).toEqual({ channelId: vId, payer: payer.address, payee: payee.address, hub: hub.address, amount, paid: 0n, status: 'running' });
    // The guarantee is in both ledgers: locked, not free.
    expect(await payer.engine.getBudget(hub.address)).toMatchObject({ send: DEPOSIT - amount, receive: DEPOSIT, locked: amount });
    expect(await payee.engine.getBudget(hub.address)).toMatchObject({ send: DEPOSIT, receive: DEPOSIT - amount, locked: amount });

    // 1,000 payments of varied sizes: half one at a time, half in bursts of 50.
    const sizes = Array.from({ length: 1000 }, (_, i) => BigInt(((i * 7919) % 97) + 1) * 1000n);
    let total = 0n;
    const latencies: number[] = [];
    const t1 = performance.now();
    for (const size of sizes.slice(0, 500)) {
      const a = performance.now();
      const r = await payer.engine.pay(vId, size);
      latencies.push(performance.now() - a);
      total += size;
      expect(r.total).toBe(total);
    }
    for (let i = 500; i < 1000; i += 50) {
      const burst = sizes.slice(i, i + 50);
      const results = await Promise.all(burst.map((s) => payer.engine.pay(vId, s)));
      for (const s of burst) total += s;
      expect(results.at(-1)!.total).toBe(total);
    }
    await until(() => payee.payments.at(-1)?.total === total, 'the payee to receive every payment');
    const payMs = performance.now() - t1;
    expect(payee.payments).toHaveLength(1000);
    expect(payee.payments.map((p) => p.amount)).toEqual(sizes);
    expect(payee.reportedUnstored).toEqual([]);
    expect((await payee.engine.getVirtualChannel(vId))!.paid).toBe(total);
    expect(payee.store.vouchers.get(vId)!.amount).toBe(total);
    expect(payer.store.vouchers.get(vId)!.amount).toBe(total);

    // Overdrawing is refused at the payer, before anything is signed.
    await expect(payer.engine.pay(vId, amount)).rejects.toThrow(/overdrawn/);
    // The payee closes (from its largest voucher); every party's ledger side is done when close resolves for it.
    const t2 = performance.now();
    await payee.engine.closeVirtualChannel(vId);
    const closeMs = performance.now() - t2;
    for (const p of [payer, hub, payee]) await until(async () => (await p.engine.getVirtualChannel(vId))?.status === 'closed', `${p.name} to see it closed`);
    await expect(payer.engine.pay(vId, 1n)).rejects.toThrow(EngineError);

    // Not one chain transaction since the ledgers were funded.
    expect(await provider().getBlockNumber()).toBe(block);
    // The ledgers credit payer and payee exactly, as each party holds them.
    expect(await payer.engine.getBudget(hub.address)).toMatchObject({ send: DEPOSIT - total, receive: DEPOSIT + total, locked: 0n });
    expect(await hub.engine.getBudget(payer.address)).toMatchObject({ send: DEPOSIT + total, receive: DEPOSIT - total, locked: 0n });
    expect(await payee.engine.getBudget(hub.address)).toMatchObject({ send: DEPOSIT + total, receive: DEPOSIT - total, locked: 0n });
    expect(await hub.engine.getBudget(payee.address)).toMatchObject({ send: DEPOSIT - total, receive: DEPOSIT + total, locked: 0n });
    for (const p of [payer, hub, payee]) expect(p.rejections, p.name).toEqual([]);
    console.log(`virtual channel: open ${openMs.toFixed(1)} ms; 1,000 payments in ${payMs.toFixed(0)} ms (${((1000 / payMs) * 1000).toFixed(0)}/s; one at a time p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms); close ${closeMs.toFixed(1)} ms`);

    // And on chain: each user closes its ledger; the payouts are the ledger's balances to the wei.
    const p = provider();
    const before = await Promise.all([payer, hub, payee].map((x) => p.getBalance(x.address)));
    await payer.engine.closeLedgerChannel(left);
    await payee.engine.closeLedgerChannel(right);
    for (const [user, ledger] of [
      [payer, left],
      [payee, right],
    ] as const) {
      await until(async () => (await user.engine.getChannel(ledger))?.status === 'closed' && (await hub.engine.getChannel(ledger))?.status === 'closed', `${user.name}'s ledger closed`);
    }
    const after = await Promise.all([payer, hub, payee].map((x) => p.getBalance(x.address)));
    expect(after[0]! - before[0]! + (await concludeGas(left))).toBe(DEPOSIT - total);
    expect(after[1]! - before[1]!).toBe(DEPOSIT + total + (DEPOSIT - total));
    expect(after[2]! - before[2]! + (await concludeGas(right))).toBe(DEPOSIT + total);
    const adjudicator = new Contract(addresses.adjudicator, ADJUDICATOR_ABI, p);
    for (const ledger of [left, right]) expect(await adjudicator.getFunction('holdings')(ETH, ledger)).toBe(0n);
    w.stop();
  });

  it('five virtual channels opened at once over the same ledgers all complete, through a lossy, reordering network', async () => {
    // One message in seven is lost and one in three is late (so later ones overtake it), picked by
    // a hash of its number (a fixed period could keep hitting the same periodic re-send); the
    // engines re-send what a peer lacks.
    const w = world({ drop: (n) => chance(n, 1) < 1 / 7, delayMs: (n) => (chance(n, 2) < 1 / 3 ? 15 : 0), resendIntervalMs: 100 });
    const { payer, hub, payee } = w;
    await w.start();
    await w.fundLedgers();
    const block = await provider().getBlockNumber();
    const amounts = [1n, 2n, 3n, 4n, 5n].map((k) => k * 10n ** 14n);
    const ids = await Promise.all(amounts.map((amount) => payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount })));
    expect(new Set(ids).size).toBe(5);
    for (const p of [payer, hub, payee]) await until(async () => (await p.engine.listVirtualChannels()).filter((v) => v.status === 'running').length === 5, `${p.name}: five running`);
    expect(await payer.engine.getBudget(hub.address)).toMatchObject({ locked: 15n * 10n ** 14n, send: DEPOSIT - 15n * 10n ** 14n });
    // Payments in all five at once; then each closes (some by the payer, some by the payee), all at once.
    const paid = await Promise.all(ids.map(async (id, i) => {
      let last = 0n;
      for (let k = 0; k < 20; k++) last = (await payer.engine.pay(id, BigInt(i + 1) * 1000n)).total;
      return last;
    }));
    for (const [i, id] of ids.entries()) await until(async () => (await payee.engine.getVirtualChannel(id))?.paid === paid[i], `payments in channel ${i}`);
    await Promise.all(ids.map((id, i) => (i % 2 === 0 ? payer : payee).engine.closeVirtualChannel(id)));
    for (const p of [payer, hub, payee]) await until(async () => (await p.engine.listVirtualChannels()).every((v) => v.status === 'closed'), `${p.name}: all closed`);
    const total = paid.reduce((a, b) => a + b, 0n);
    expect(await payer.engine.getBudget(hub.address)).toMatchObject({ send: DEPOSIT - total, receive: DEPOSIT + total, locked: 0n });
    expect(await payee.engine.getBudget(hub.address)).toMatchObject({ send: DEPOSIT + total, receive: DEPOSIT - total, locked: 0n });
    expect(await hub.engine.getBudget(payer.address)).toMatchObject({ send: DEPOSIT + total, receive: DEPOSIT - total, locked: 0n });
    expect(await hub.engine.getBudget(payee.address)).toMatchObject({ send: DEPOSIT - total, receive: DEPOSIT + total, locked: 0n });
    expect(await provider().getBlockNumber()).toBe(block);
    // Lost and late messages show up only as refusals of stale states and superseded vouchers
    // (late or re-sent vouchers after the payee holds a larger one, or after it closed).
    for (const p of [payer, hub, payee]) expect(p.rejections.filter((r) => !/in the past|replayed or smaller|closed: no more vouchers/.test(r)), p.name).toEqual([]);
    w.stop();
  });

  it('a payee restarted mid-stream loses no voucher, and a hub restarted mid-stream (even mid-funding) loses nothing', async () => {
    let dropLedgerAnswersToHub = false;
    let dropped = 0;
    const w = world({
      resendIntervalMs: 100,
      // While armed, the hub's first ledger countersignature is lost (it is then restarted).
      drop: (_n, _from, to, text) => {
        if (dropLedgerAnswersToHub && to === w.hub.address && text.includes('"ledgerCountersignature"')) {
          dropped++;
          return true;
        }
        return false;
      },
    });
    const { payer, hub, payee } = w;
    await w.start();
    await w.fundLedgers();
    const block = await provider().getBlockNumber();
    const vId = await payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: 10n ** 15n });
    await until(async () => (await payee.engine.getVirtualChannel(vId))?.status === 'running', 'running at the payee');

    // 600 payments; the payee restarts after 200 and the hub after 400, while payments go on.
    let total = 0n;
    let restarting: Promise<void> | undefined;
    for (let i = 1; i <= 600; i++) {
      if (i === 200) restarting = w.restart(payee);
      if (i === 400) {
        await restarting;
        restarting = w.restart(hub);
      }
      total = (await payer.engine.pay(vId, BigInt(i))).total;
    }
    await restarting;
    await until(() => payee.store.vouchers.get(vId)?.amount === total, 'the payee to store the last voucher (re-sent after its restart)');
    expect(payee.reportedUnstored).toEqual([]);
    // Every payment reported is accounted for: the reports add up to the total, nothing counted twice.
    expect(payee.payments.reduce((t, p) => t + p.amount, 0n)).toBe(total);
    expect((await payee.engine.getVirtualChannel(vId))!.paid).toBe(total);

    // A second channel opens while the hub restarts in the middle of its funding: the hub proposed
    // the guarantees, the countersignature is lost, the hub restarts and picks up from its store.
    dropLedgerAnswersToHub = true;
    const second = payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: 10n ** 14n });
    await until(() => dropped > 0, 'a countersignature to the hub to be lost');
    dropLedgerAnswersToHub = false;
    await w.restart(hub);
    const v2 = await second;
    await payer.engine.pay(v2, 777n);
    await until(async () => (await payee.engine.getVirtualChannel(v2))?.paid === 777n, 'a payment in the second channel');

    // Both close (one by each side); the hub restarts once more while they do.
    const closes = Promise.all([payer.engine.closeVirtualChannel(vId), payee.engine.closeVirtualChannel(v2)]);
    await w.restart(hub);
    await closes;
    for (const p of [payer, hub, payee]) await until(async () => (await p.engine.listVirtualChannels()).every((v) => v.status === 'closed'), `${p.name}: both closed`);
    const paid = total + 777n;
    expect(await payer.engine.getBudget(hub.address)).toMatchObject({ send: DEPOSIT - paid, receive: DEPOSIT + paid, locked: 0n });
    expect(await payee.engine.getBudget(hub.address)).toMatchObject({ send: DEPOSIT + paid, receive: DEPOSIT - paid, locked: 0n });
    expect(await hub.engine.getBudget(payer.address)).toMatchObject({ send: DEPOSIT + paid, locked: 0n });
    expect(await hub.engine.getBudget(payee.address)).toMatchObject({ send: DEPOSIT - paid, locked: 0n });
    expect(await provider().getBlockNumber()).toBe(block);
    w.stop();
  });

  it('refuses a virtual channel without a ledger, beyond the free balance, or refused by the hub or the payee, saying why', async () => {
    const refusing = world();
    const { payer, hub, payee } = refusing;
    await refusing.start();
    // No ledger yet.
    await expect(payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: 1n })).rejects.toThrow(/no running ledger channel/);
    await refusing.fundLedgers({ payer: DEPOSIT, payee: 0n, hub: DEPOSIT / 2n });
    // More than our free balance: refused before anything is sent.
    await expect(payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: DEPOSIT + 1n })).rejects.toMatchObject({ code: 'not-allowed', message: expect.stringMatching(/not enough free balance/) });
    // More than the hub can put in toward the payee: the hub refuses.
    await expect(payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: DEPOSIT / 2n + 1n })).rejects.toMatchObject({ code: 'rejected', message: expect.stringMatching(/the hub has .* free toward the payee/) });
    // A payee without a ledger with the hub: refused, naming it.
    const stranger = PrivateKey.random();
    await expect(payer.engine.createVirtualChannel({ payee: stranger.address, hub: hub.address, amount: 10n })).rejects.toMatchObject({ code: 'rejected', message: expect.stringMatching(/no running ledger channel with the payee/) });
    // The hub's policy says no; then the payee's.
    const hubSays = (hub.engine as unknown as { deps: EngineDeps }).deps;
    hubSays.approveVirtualChannel = async () => ({ reject: 'over this user’s limit' });
    await expect(payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: 10n })).rejects.toThrow(/over this user’s limit/);
    hubSays.approveVirtualChannel = () => true;
    (payee.engine as unknown as { deps: EngineDeps }).deps.approveVirtualChannel = () => false;
    await expect(payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: 10n })).rejects.toMatchObject({ code: 'rejected' });
    (payee.engine as unknown as { deps: EngineDeps }).deps.approveVirtualChannel = undefined;
    // Nothing is locked by any of it, and a channel within the limits still opens.
    expect(await payer.engine.getBudget(hub.address)).toMatchObject({ send: DEPOSIT, locked: 0n });
    const ok = await payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: 10n });
    expect((await payer.engine.getVirtualChannel(ok))?.status).toBe('running');
    expect((await payer.engine.listVirtualChannels()).filter((v) => v.status === 'failed')).toHaveLength(4);
    // A ledger holding a guarantee cannot be closed.
    await expect(payer.engine.closeLedgerChannel((await payer.engine.getBudget(hub.address))!.ledgerId)).rejects.toThrow(/guarantees/);
    refusing.stop();
  });

  it('bad vouchers, ledger payloads and virtual states from peers are rejected with a logged reason, and change nothing stored', async () => {
    const w = world();
    const { payer, hub, payee } = w;
    await w.start();
    const { right } = await w.fundLedgers();
    const amount = 10n ** 15n;
    const vId = await payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount });
    const closedId = await payer.engine.createVirtualChannel({ payee: payee.address, hub: hub.address, amount: 1000n });
    await until(async () => (await payee.engine.getVirtualChannel(closedId))?.status === 'running', 'the second channel running at the payee');
    await payer.engine.pay(closedId, 10n);
    await until(() => payee.store.vouchers.get(closedId)?.amount === 10n, 'the payment in the second channel');
    await payee.engine.closeVirtualChannel(closedId);
    for (let i = 0; i < 5; i++) await payer.engine.pay(vId, 100n);
    await until(() => payee.store.vouchers.get(vId)?.amount === 500n, 'payments');
    await payee.engine.idle();
    const stored = snapshot(payee.store);
    const mallory = PrivateKey.random();
    const P = payer.address;
    const Q = payee.address;
    const H = hub.address;
    const send = (from: Address, m: { vouchers?: Voucher[]; ledger?: { type: 'ledgerProposal'; proposal: LedgerProposal }[] | { type: 'ledgerCountersignature'; countersignature: { ledgerId: Bytes32; turnNum: number; signature: ReturnType<PrivateKey['signHash']> } }[]; payloads?: Parameters<typeof serializeMessage>[0]['payloads'] }) =>
      payee.engine.receiveMessage(from, serializeMessage({ from, to: Q, payloads: m.payloads ?? [], ...(m.vouchers ? { vouchers: m.vouchers } : {}), ...(m.ledger ? { ledger: m.ledger } : {}) }));
    const expected: RegExp[] = [];

    // Vouchers: overdrawn; not signed by the payer; replayed and smaller; for a closed channel; for a channel we do not hold; from someone not the payer.
    await send(P, { vouchers: [signVoucher(vId, amount + 1n, payer.key)] });
    expected.push(/overdrawn/);
    await send(P, { vouchers: [signVoucher(vId, 600n, mallory)] });
    expected.push(/not the payer/);
    await send(P, { vouchers: [signVoucher(vId, 300n, payer.key)] });
    expected.push(/replayed or smaller/);
    await send(P, { vouchers: [signVoucher(closedId, 500n, payer.key)] });
    expected.push(/closed/);
    const unknown = `0x${'ab'.repeat(32)}` as Bytes32;
    await send(P, { vouchers: [signVoucher(unknown, 5n, payer.key)] });
    expected.push(/a channel we do not hold/);
    await send(H, { vouchers: [signVoucher(vId, 900n, payer.key)] });
    expected.push(/not from the channel’s payer/);

    // Ledger payloads: from someone who is not the ledger's counterparty; a proposal not signed by
    // the leader; a change that cannot apply; a countersignature to a follower.
    const ledger = (await payee.store.getChannel(right))!;
    const base = latestSupported(ledger)!;
    const target = `0x${'cd'.repeat(32)}` as Bytes32;
    const add = (leftAmount: bigint) => ({ type: 'add' as const, guarantee: { target, left: addressToDestination(H), right: addressToDestination(Q), leftAmount, rightAmount: 0n } });
    const proposal = (change: ReturnType<typeof add>, signer: PrivateKey): LedgerProposal => {
      const turnNum = base.state.turnNum + 1;
      let signature = signer.signHash(new Uint8Array(32));
      try {
        signature = signer.signHash(hashStateBytes(applyChange(base.state, change), right));
      } catch {
        // a change that does not apply has no state to sign: any signature will do
      }
      return { ledgerId: right, turnNum, change, signature };
    };
    await send(P, { ledger: [{ type: 'ledgerProposal', proposal: proposal(add(5n), hub.key) }] });
    expected.push(/not the counterparty of ledger/);
    await send(H, { ledger: [{ type: 'ledgerProposal', proposal: proposal(add(5n), mallory) }] });
    expected.push(/not signed by the leader/);
    await send(H, { ledger: [{ type: 'ledgerProposal', proposal: proposal(add(DEPOSIT * 10n), hub.key) }] });
    expected.push(/left has .* needs/);
    await send(H, { ledger: [{ type: 'ledgerCountersignature', countersignature: { ledgerId: right, turnNum: base.state.turnNum + 1, signature: hub.key.signHash(new Uint8Array(32)) } }] });
    expected.push(/which we follow/);

    // Virtual states: a prefund for another app; a prefund naming us as payer; a close paying less than our vouchers.
    const v = (await payee.store.getChannel(vId))!;
    const postfund = latestSupported(v)!.state;
    const prefund = { ...postfund, turnNum: 0, channelNonce: 424242n, appDefinition: lower(addresses.consensusApp) };
    await send(P, { payloads: [{ type: 'state', objectiveId: objectiveIds.virtualFunding(channelIdOf(prefund)), signedState: { state: prefund, signatures: [signState(prefund, payer.key).signature, null, null] } }] });
    expected.push(/must use the VirtualPaymentApp/);
    const usPaying = { ...postfund, turnNum: 0, channelNonce: 434343n, participants: [Q, H, P], outcome: [{ ...postfund.outcome[0]!, allocations: [{ ...postfund.outcome[0]!.allocations[0]!, destination: addressToDestination(Q) }, { ...postfund.outcome[0]!.allocations[1]!, destination: addressToDestination(P), amount: 0n }] }] };
    await send(P, { payloads: [{ type: 'state', objectiveId: objectiveIds.virtualFunding(channelIdOf(usPaying)), signedState: { state: usPaying, signatures: [null, null, signState(usPaying, payer.key).signature].map((s, i) => (i === 2 ? s : null)) } }] });
    expected.push(/naming us as its payer/);
    const short = virtualFinalState(postfund, signVoucher(vId, 200n, payer.key));
    await send(P, { payloads: [{ type: 'state', objectiveId: objectiveIds.virtualDefunding(vId), signedState: { state: short, signatures: [signState(short, payer.key).signature, null, null] } }] });
    expected.push(/less than the 500/);

    await payee.engine.idle();
    expect(payee.rejections, payee.rejections.join('\n')).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(payee.rejections[i], `rejection ${i}`).toMatch(re));
    expect(payee.payments.filter((p) => p.channelId === vId).at(-1)?.total).toBe(500n);
    expect(snapshot(payee.store)).toBe(stored);
    // Still working after all that.
    await payer.engine.pay(vId, 1n);
    await until(() => payee.store.vouchers.get(vId)?.amount === 501n, 'a good payment after the bad ones');
    w.stop();
  });
});
