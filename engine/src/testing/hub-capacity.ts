/**
 * How many virtual channels one hub engine opens and closes per second: one hub engine and many
 * headless client engines in this process, each client with a ledger channel with the hub set up
 * directly in both stores as funded (no chain), messages delivered in process. Each client opens
 * virtual channels to the next client through the hub, pays once through each and closes it, one
 * after another; all clients at once. The hub takes part in every open and close.
 *
 *   const r = await measureHubCapacity({ clients: 20, channels: 400 });
 *   r.channelsPerSecond
 */
import { installNativeSecp256k1 } from '../node/native-secp256k1.ts';
import { type Address, type Bytes32, PrivateKey, ZERO_ADDRESS, addressToDestination, AllocationType, channelId as channelIdOf, keccakReady, warmUpSecp256k1 } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import { signState } from '../../../core/src/signed-state.ts';
import type { State } from '../../../core/src/state.ts';
import type { ChainService } from '../chain/types.ts';
import { Engine, type EngineDeps } from '../engine.ts';
import { LEDGER_APP_DATA } from '../ledger-manager.ts';
import { MemoryStore } from '../store/memory-store.ts';
import type { Store } from '../store/types.ts';

export const TEST_APPS = { consensusApp: '0x00000000000000000000000000000000000000cc' as Address, virtualPaymentApp: '0x00000000000000000000000000000000000000ee' as Address };

/** A chain service for engines that never touch the chain (ledgers set up as funded). */
export function noChain(): ChainService {
  return {
    getHoldings: async () => 0n,
    deposit: async () => {
      throw new Error('no chain here');
    },
    concludeAndTransferAllAssets: async () => {
      throw new Error('no chain here');
    },
    challenge: async () => {
      throw new Error('no chain here');
    },
    checkpoint: async () => {
      throw new Error('no chain here');
    },
    transferAllAssets: async () => {
      throw new Error('no chain here');
    },
    statusOf: async () => ({ turnNumRecord: 0, finalizesAt: 0, fingerprint: 0n, blockTimestamp: 0 }),
    watch: () => () => undefined,
    fundingAccount: async () => ({ address: ZERO_ADDRESS, ethBalance: 0n }),
    tokenBalance: async () => 0n,
  };
}

/**
 * A funded ledger channel `[hub, user]` (its postfund signed by both), as each side stores it,
 * without the chain: for tools and tests that start from running ledgers.
 */
export function fundedLedger(hub: PrivateKey, user: PrivateKey, amounts: [bigint, bigint], opts: { nonce?: bigint; consensusApp?: Address; challengeDuration?: number } = {}): { hub: Channel; user: Channel; id: Bytes32 } {
  const state: State = {
    participants: [hub.address, user.address],
    channelNonce: opts.nonce ?? 1n,
    appDefinition: opts.consensusApp ?? TEST_APPS.consensusApp,
    challengeDuration: opts.challengeDuration ?? 600,
    outcome: [
      {
        asset: ZERO_ADDRESS,
        assetMetadata: { assetType: 0, metadata: '0x' },
        allocations: [
          { destination: addressToDestination(hub.address), amount: amounts[0], allocationType: AllocationType.simple, metadata: '0x' },
          { destination: addressToDestination(user.address), amount: amounts[1], allocationType: AllocationType.simple, metadata: '0x' },
        ],
      },
    ],
    appData: LEDGER_APP_DATA,
    turnNum: 1,
    isFinal: false,
  };
  const id = channelIdOf(state);
  const signatures = [signState(state, hub, id).signature, signState(state, user, id).signature];
  const base = { id, fixedPart: { participants: state.participants, channelNonce: state.channelNonce, appDefinition: state.appDefinition, challengeDuration: state.challengeDuration }, states: [{ state, signatures }] };
  return { id, hub: { ...base, myIndex: 0 }, user: { ...structuredClone(base), myIndex: 1 } };
}

/** Engines wired to each other in process: a message is delivered as a later task (as a network would). */
export class InProcessNetwork {
  readonly engines = new Map<Address, Engine>();
  delivered = 0;
  /** Drops or holds messages when it returns false (a partition, a stopped peer). */
  filter: ((from: Address, to: Address, text: string) => boolean) | undefined;

  send(from: Address, to: Address, text: string): void {
    if (this.filter && !this.filter(from, to, text)) return;
    queueMicrotask(() => {
      const engine = this.engines.get(to);
      if (!engine) return;
      this.delivered++;
      void engine.receiveMessage(from, text);
    });
  }

  engine(key: PrivateKey, store: Store, extra: Partial<EngineDeps> = {}): Engine {
    const engine = new Engine({ key, store, chain: noChain(), sendMessage: (to, text) => this.send(key.address, to, text), apps: TEST_APPS, resendIntervalMs: 0, ...extra });
    this.engines.set(key.address, engine);
    return engine;
  }
}

export interface HubCapacityOptions {
  /** Client engines (each has one ledger with the hub). At least 2. */
  clients: number;
  /** Virtual channels to open and close in all. */
  channels: number;
  /** What each virtual channel holds (wei). Default 1000. */
  amount?: bigint;
  /** The hub's engine store. Default a MemoryStore. */
  hubStore?: Store;
}

export interface HubCapacityResult {
  /**
   * Virtual channels opened, paid through once and closed, per second, through the one hub — with
   * the hub and every client engine sharing this one thread.
   */
  channelsPerSecond: number;
  /**
   * The same per second of the hub engine's own busy time: what the hub alone sustains when its
   * clients run elsewhere (as they do: each in its own browser).
   */
  hubChannelsPerSecond: number;
  /** Of `elapsedMs`, the time the hub engine was busy. */
  hubBusyMs: number;
  channels: number;
  clients: number;
  elapsedMs: number;
  /** createVirtualChannel → funded, as the payer sees it. */
  openMs: { p50: number; p99: number };
  /** closeVirtualChannel → our ledger no longer holds the guarantee. */
  closeMs: { p50: number; p99: number };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function measureHubCapacity(opts: HubCapacityOptions): Promise<HubCapacityResult> {
  await keccakReady;
  warmUpSecp256k1();
  installNativeSecp256k1(); // Node: libsecp256k1, as the hub and headless clients run
  const clients = Math.max(2, opts.clients);
  const amount = opts.amount ?? 1000n;
  const network = new InProcessNetwork();
  const hubKey = PrivateKey.random();
  const hubStore = opts.hubStore ?? new MemoryStore();
  const keys = Array.from({ length: clients }, () => PrivateKey.random());
  const perClient = Math.ceil(opts.channels / clients);
  const deposit = amount * BigInt(perClient + 1);
  const stores: MemoryStore[] = [];
  for (const [i, key] of keys.entries()) {
    const ledger = fundedLedger(hubKey, key, [deposit, deposit], { nonce: BigInt(i + 1) });
    await hubStore.commit({ channel: ledger.hub });
    const store = new MemoryStore();
    await store.commit({ channel: ledger.user });
    stores.push(store);
  }
  const hub = network.engine(hubKey, hubStore, { approveVirtualChannel: () => true });
  const engines = keys.map((key, i) => network.engine(key, stores[i]!));
  await hub.start();
  await Promise.all(engines.map((e) => e.start()));

  const opens: number[] = [];
  const closes: number[] = [];
  const opened = keys.map(() => 0n);
  let remaining = opts.channels;
  const t0 = performance.now();
  const hubBusy0 = hub.stats.busyMs;
  await Promise.all(
    engines.map(async (engine, i) => {
      const payee = keys[(i + 1) % clients]!.address;
      while (remaining > 0) {
        remaining--;
        const a = performance.now();
        const id = await engine.createVirtualChannel({ payee, hub: hubKey.address, amount });
        const b = performance.now();
        await engine.pay(id, 1n);
        const c = performance.now();
        await engine.closeVirtualChannel(id);
        const d = performance.now();
        opens.push(b - a);
        closes.push(d - c);
        opened[i]!++;
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  const hubBusyMs = hub.stats.busyMs - hubBusy0;
  // Every ledger ends with no guarantee and each client credited exactly: one paid per channel opened, one received per channel to it.
  for (const [i, engine] of engines.entries()) {
    const budget = await engine.getBudget(hubKey.address);
    const expected = deposit - opened[i]! + opened[(i + clients - 1) % clients]!;
    if (!budget || budget.locked !== 0n || budget.send !== expected) throw new Error(`client ${i}: ledger ends ${budget?.send} free, ${budget?.locked} locked; expected ${expected} free, none locked`);
    const atHub = await hub.getBudget(keys[i]!.address);
    if (!atHub || atHub.locked !== 0n || atHub.receive !== expected) throw new Error(`client ${i}: the hub's ledger ends ${atHub?.receive} free for it, ${atHub?.locked} locked; expected ${expected}`);
  }
  for (const e of [hub, ...engines]) e.stop();
  opens.sort((x, y) => x - y);
  closes.sort((x, y) => x - y);
  return {
    channelsPerSecond: (opts.channels / elapsedMs) * 1000,
    hubChannelsPerSecond: (opts.channels / hubBusyMs) * 1000,
    hubBusyMs,
    channels: opts.channels,
    clients,
    elapsedMs,
    openMs: { p50: percentile(opens, 50), p99: percentile(opens, 99) },
    closeMs: { p50: percentile(closes, 50), p99: percentile(closes, 99) },
  };
}
