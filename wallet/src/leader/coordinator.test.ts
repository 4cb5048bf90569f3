/**
 * The leader election and the forwarding between wallet instances (tabs of one site), with
 * Node's real BroadcastChannel (structured clone, like the browser's) and a lock manager with
 * the Web Locks semantics the coordinator relies on: one holder per name, requests granted in
 * order, a lock let go when its callback settles or its holder's document goes away. The
 * engine behind the leader is a small in-memory one over a store the "tabs" share.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Address, Bytes32 } from '../../../core/src/index.ts';
import { CoreError } from '../../../core/src/index.ts';
import { ChainError } from '../../../engine/src/chain/errors.ts';
import { EngineError, type ChannelSummary } from '../../../engine/src/engine.ts';
import { ErrorCode } from '../../../sdk-client/src/schema.ts';
import type { Logger } from '../log.ts';
import { RpcError } from '../rpc/rpc-error.ts';
import { type LockManagerLike, WalletCoordinator } from './coordinator.ts';
import { type EngineHost, type EngineNotification, PROTOCOL_VERSION } from './protocol.ts';

/** Web Locks, exclusive mode, per browsing context ("tab"). */
class LockWorld {
  private readonly held = new Map<string, { tab: string; release: () => void }>();
  private readonly queues = new Map<string, { tab: string; grant: () => void; signal?: AbortSignal }[]>();
  readonly events: string[] = [];

  forTab(tab: string): LockManagerLike {
    return {
      request: (name, options, callback) =>
        new Promise<void>((resolve, reject) => {
          const grant = () => {
            let released = false;
            const release = () => {
              if (released) return;
              released = true;
              this.held.delete(name);
              this.events.push(`released:${tab}`);
              this.next(name);
            };
            this.held.set(name, { tab, release });
            this.events.push(`granted:${tab}`);
            callback().then(
              () => {
                release();
                resolve();
              },
              (e: unknown) => {
                release();
                reject(e);
              },
            );
          };
          const queue = this.queues.get(name) ?? [];
          this.queues.set(name, queue);
          const entry = { tab, grant, ...(options.signal ? { signal: options.signal } : {}) };
          options.signal?.addEventListener('abort', () => {
            const i = queue.indexOf(entry);
            if (i >= 0) {
              queue.splice(i, 1);
              reject(new DOMException('aborted', 'AbortError'));
            }
          });
          queue.push(entry);
          if (!this.held.has(name)) this.next(name);
        }),
    };
  }

  /** The tab's document is gone: the browser lets its locks go and drops its queued requests. */
  kill(tab: string): void {
    for (const [name, queue] of this.queues) this.queues.set(name, queue.filter((e) => e.tab !== tab));
    for (const h of [...this.held.values()]) if (h.tab === tab) h.release();
  }

  holder(name: string): string | undefined {
    return this.held.get(name)?.tab;
  }

  private next(name: string): void {
    if (this.held.has(name)) return;
    const entry = this.queues.get(name)?.shift();
    entry?.grant();
  }
}

const ALICE = `0x${'a1'.repeat(20)}` as Address;
const BOB = `0x${'b0'.repeat(20)}` as Address;
const ETH = `0x${'00'.repeat(20)}` as Address;

/** What the tabs share: the store, and a record of which engines ran when. */
class World {
  readonly locks = new LockWorld();
  readonly store = new Map<Bytes32, ChannelSummary>();
  readonly starts: string[] = [];
  readonly running = new Set<string>();
  overlaps = 0;
  readonly channelName = `channel-wallet-instances-test-${Math.random().toString(36).slice(2)}`;
  readonly tabs: Tab[] = [];
  /** A spy on the channel: every message any instance posted. */
  readonly seen: unknown[] = [];
  private readonly spy = new BroadcastChannel(this.channelName);
  constructor() {
    this.spy.onmessage = (e: MessageEvent) => void this.seen.push(e.data);
  }
  get events(): string[] {
    return this.locks.events;
  }
  close(): void {
    this.spy.close();
  }
}

interface Tab {
  name: string;
  coordinator: WalletCoordinator;
  channel: BroadcastChannel;
  delivered: EngineNotification[];
  relayUrls: string[];
  leaderContexts: { relayUrl: string | undefined }[];
  warnings: { event: string; fields: unknown }[];
  /** Calls of the local engine that never answer (the tab dies first). */
  hang: Set<string>;
  /** Calls the local engine runs, and then the tab dies at once, before anything else it posts is heard. */
  dieAfter: Set<string>;
  engineCalls: string[];
  kill: () => void;
}

function openTab(world: World, name: string): Tab {
  const channel = new BroadcastChannel(world.channelName);
  let engine: { stopped: boolean } | undefined;
  const tab = {} as Tab;
  const ensure = () => {
    if (!tab.coordinator.isLeader) throw new Error(`tab ${name} would start an engine without the lock`);
    if (!engine) {
      if (world.running.size > 0) world.overlaps++;
      world.running.add(name);
      world.starts.push(name);
      engine = { stopped: false };
    }
  };
  const notify = (s: ChannelSummary) => {
    const n: EngineNotification = { method: 'channel_updated', params: { ...s, balances: s.balances.map((b) => `0x${b.toString(16)}` as const) } };
    tab.delivered.push(n);
    tab.coordinator.publish(n);
  };
  const run = async <T>(method: string, f: () => T): Promise<T> => {
    ensure();
    tab.engineCalls.push(method);
    if (tab.hang.has(method)) await new Promise(() => undefined);
    if (tab.dieAfter.has(method)) {
      f();
      tab.kill();
      return new Promise<T>(() => undefined);
    }
    return f();
  };
  const mustGet = (id: Bytes32) => {
    const c = world.store.get(id);
    if (!c) throw new EngineError('unknown-channel', `no channel ${id}`);
    return c;
  };
  const local: EngineHost = {
    channels: {
      list: () => run('list', () => [...world.store.values()]),
      get: (id) => run('get', () => world.store.get(id)),
      create: (a) =>
        run('create', () => {
          if (a.amount > 10n ** 30n) throw new ChainError('insufficient-funds', 'Deposit: the funding account holds too little ETH.');
          const id = `0x${(world.store.size + 1).toString(16).padStart(64, '0')}` as Bytes32;
          const c: ChannelSummary = { channelId: id, participants: [ALICE, a.counterparty], appDefinition: ETH, turnNum: 3, status: 'running', asset: a.asset, balances: [a.amount, a.counterpartyAmount], challengeDuration: a.challengeDuration };
          world.store.set(id, c);
          notify(c);
          // What the engine hands back may hold more than the summary type says.
          return { ...c, internal: 'not for the other tab' } as ChannelSummary;
        }),
      join: (id) => run('join', () => mustGet(id)),
      reject: (id) =>
        run('reject', () => {
          mustGet(id);
        }),
      update: (id, balances) =>
        run('update', () => {
          const c = mustGet(id);
          if (balances.length !== 2) throw new CoreError('invalid-length', 'balances', 'expected two balances');
          const next = { ...c, turnNum: c.turnNum + 1, balances };
          world.store.set(id, next);
          notify(next);
          return next;
        }),
      close: (id) => run('close', () => mustGet(id)),
    },
    virtual: {
      requestBudget: () => run('requestBudget', (): never => {
        throw new EngineError('not-allowed', 'no budgets here');
      }),
      getBudget: () => run('getBudget', () => undefined),
      exitBudget: () => run('exitBudget', (): never => {
        throw new EngineError('unknown-channel', 'no budgets here');
      }),
      getBudgetExit: () => run('getBudgetExit', () => undefined),
      closeBudget: () => run('closeBudget', (): never => {
        throw new EngineError('not-allowed', 'no budgets here');
      }),
      create: () => run('vcreate', (): never => {
        throw new EngineError('not-allowed', 'no budgets here');
      }),
      pay: () => run('pay', (): never => {
        throw new Error('boom: secret internals');
      }),
      close: () => run('vclose', (): never => {
        throw new EngineError('unknown-channel', 'none');
      }),
      get: () => run('vget', () => undefined),
      list: () => run('vlist', () => []),
    },
    peers: {
      receiveMessage: (from) =>
        run('receiveMessage', () => {
          if (from === BOB) return;
          throw new RpcError(ErrorCode.invalidParams, 'invalid params: from', { field: 'params[0].from' });
        }),
      useRelay: async (relayUrl) => {
        tab.relayUrls.push(relayUrl);
        return { address: ALICE, relayOrigin: new URL(relayUrl).origin };
      },
    },
    disputes: {
      challenge: (id) => run('challenge', () => ({ channelId: id, stage: 'registered' as const, challenger: 'us' as const, turnNum: mustGet(id).turnNum, finalizesAt: 1_700_000_000 })),
      get: () => run('getChallenge', () => undefined),
    },
  };
  const log: Logger = { info: () => undefined, warn: (event, fields) => void tab.warnings.push({ event, fields }) };
  Object.assign(tab, {
    name,
    channel,
    delivered: [],
    relayUrls: [],
    leaderContexts: [],
    warnings: [],
    hang: new Set<string>(),
    dieAfter: new Set<string>(),
    engineCalls: [],
    kill: () => {
      // The document is gone: its engine stops with it, then the browser lets the lock go.
      if (engine) {
        engine.stopped = true;
        world.running.delete(name);
      }
      channel.close();
      world.locks.kill(name);
    },
  });
  tab.coordinator = new WalletCoordinator({
    locks: world.locks.forTab(name),
    channel,
    local,
    instanceId: name,
    log,
    onLeader: (ctx) => {
      tab.leaderContexts.push(ctx);
      // The wallet resumes at once when the store holds channels.
      if (world.store.size > 0) ensure();
      if (ctx.relayUrl) return local.peers.useRelay(ctx.relayUrl).then(() => undefined);
    },
    stopLocal: () => {
      world.events.push(`stopped:${name}`);
      if (engine) world.running.delete(name);
      engine = undefined;
    },
    deliver: (n) => void tab.delivered.push(n),
  });
  world.tabs.push(tab);
  return tab;
}

let worlds: World[] = [];
function world(): World {
  const w = new World();
  worlds.push(w);
  return w;
}
afterEach(async () => {
  for (const w of worlds) {
    for (const t of w.tabs) await t.coordinator.close();
    w.close();
  }
  worlds = [];
});

const createArgs = { counterparty: BOB, asset: ETH, amount: 100n, counterpartyAmount: 50n, challengeDuration: 86_400 };
const allFollow = (w: World, leader: string) => vi.waitFor(() => expect(w.tabs.filter((t) => t.name !== leader).map((t) => t.coordinator.leader)).toEqual(w.tabs.filter((t) => t.name !== leader).map(() => leader)));

describe('leader election', () => {
  it('the first tab leads; the others follow and never start an engine, even when they are called', async () => {
    const w = world();
    const one = openTab(w, 'one');
    await vi.waitFor(() => expect(one.coordinator.isLeader).toBe(true));
    const two = openTab(w, 'two');
    const three = openTab(w, 'three');
    await allFollow(w, 'one');
    expect(two.coordinator.isLeader).toBe(false);
    const created = await two.coordinator.engine.channels.create(createArgs);
    expect(await three.coordinator.engine.channels.get(created.channelId)).toEqual(created);
    expect(await one.coordinator.engine.channels.list()).toEqual([created]);
    expect(w.starts).toEqual(['one']);
    expect(one.engineCalls).toEqual(['create', 'get', 'list']);
    expect(two.engineCalls).toEqual([]);
    expect(three.engineCalls).toEqual([]);
    expect(w.locks.holder('channel-wallet-engine')).toBe('one');
  });

  it("a follower's result carries only what its type says, with bigints intact", async () => {
    const w = world();
    openTab(w, 'one');
    const two = openTab(w, 'two');
    await allFollow(w, 'one');
    const created = await two.coordinator.engine.channels.create(createArgs);
    expect(created).not.toHaveProperty('internal');
    expect(created.balances).toEqual([100n, 50n]);
    const updated = await two.coordinator.engine.channels.update(created.channelId, [90n, 60n], '0x');
    expect(updated).toMatchObject({ turnNum: 4, balances: [90n, 60n] });
    expect(w.store.get(created.channelId)?.turnNum).toBe(4);
    expect(await two.coordinator.engine.disputes.challenge(created.channelId)).toEqual({ channelId: created.channelId, stage: 'registered', challenger: 'us', turnNum: 4, finalizesAt: 1_700_000_000 });
    expect(await two.coordinator.engine.disputes.get(created.channelId)).toBeUndefined();
  });

  it("the leader's failures reach the follower as the same class, code and message; other errors by name only", async () => {
    const w = world();
    openTab(w, 'one');
    const two = openTab(w, 'two');
    await allFollow(w, 'one');
    const unknown = `0x${'ff'.repeat(32)}` as Bytes32;
    await expect(two.coordinator.engine.channels.update(unknown, [1n, 2n])).rejects.toSatisfy((e) => e instanceof EngineError && e.code === 'unknown-channel' && e.message === `no channel ${unknown}`);
    await expect(two.coordinator.engine.channels.create({ ...createArgs, amount: 10n ** 31n })).rejects.toSatisfy((e) => e instanceof ChainError && e.code === 'insufficient-funds' && e.message.startsWith('Deposit:'));
    const { channelId } = await two.coordinator.engine.channels.create(createArgs);
    await expect(two.coordinator.engine.channels.update(channelId, [1n, 2n, 3n])).rejects.toSatisfy((e) => e instanceof CoreError && e.field === 'balances' && e.message === 'balances: expected two balances');
    await expect(two.coordinator.engine.peers.receiveMessage(ALICE, '{}')).rejects.toSatisfy((e) => e instanceof RpcError && e.code === ErrorCode.invalidParams && e.data?.field === 'params[0].from');
    await expect(two.coordinator.engine.virtual.pay(channelId, 1n)).rejects.toSatisfy((e) => e instanceof Error && e.name === 'Error' && !e.message.includes('secret'));
  });
});

describe('notifications', () => {
  it("every follower's dapp hears the leader's engine, and from no one else", async () => {
    const w = world();
    const one = openTab(w, 'one');
    const two = openTab(w, 'two');
    const three = openTab(w, 'three');
    await allFollow(w, 'one');
    const { channelId } = await three.coordinator.engine.channels.create(createArgs);
    await three.coordinator.engine.channels.update(channelId, [80n, 70n]);
    const turns = (t: Tab) => t.delivered.map((n) => (n.method === 'channel_updated' ? n.params.turnNum : -1));
    // The notification of a call arrives before its result (one channel, one sender, in order).
    expect(turns(three)).toEqual([3, 4]);
    await vi.waitFor(() => expect(turns(two)).toEqual([3, 4]));
    expect(turns(one)).toEqual([3, 4]);
    // A notification from an instance that does not lead is not the engine's: dropped.
    const forger = new BroadcastChannel(w.channelName);
    const params = (two.delivered[1] as Extract<EngineNotification, { method: 'channel_updated' }>).params;
    forger.postMessage({ v: PROTOCOL_VERSION, kind: 'notify', from: 'two', method: 'channel_updated', params: { ...params, turnNum: 99 } });
    // …and one with params the dapp's schema refuses, even from the leader's id.
    forger.postMessage({ v: PROTOCOL_VERSION, kind: 'notify', from: 'one', method: 'channel_updated', params: { ...params, balances: [1n, 2n] } });
    forger.postMessage({ v: PROTOCOL_VERSION, kind: 'notify', from: 'one', method: 'wallet_transactionRequest', params: {} });
    await vi.waitFor(() => expect(three.warnings.filter((x) => x.event === 'wallet.instance-refused')).toHaveLength(2));
    forger.close();
    await three.coordinator.engine.channels.update(channelId, [70n, 80n]);
    expect(turns(three)).toEqual([3, 4, 5]);
    await vi.waitFor(() => expect(turns(two)).toEqual([3, 4, 5]));
  });
});

describe('the protocol boundary', () => {
  it('refuses malformed and unknown messages without running anything or answering', async () => {
    const w = world();
    const one = openTab(w, 'one');
    await vi.waitFor(() => expect(one.coordinator.isLeader).toBe(true));
    const stranger = new BroadcastChannel(w.channelName);
    const answers: unknown[] = [];
    stranger.onmessage = (e: MessageEvent) => void answers.push(e.data);
    const call = (over: Record<string, unknown>) => ({ v: PROTOCOL_VERSION, kind: 'call', from: 'x', to: 'one', id: 1, method: 'channels.update', args: [`0x${'11'.repeat(32)}`, [1n, 2n]], ...over });
    const bad: unknown[] = [
      'not an object',
      null,
      { v: 2, kind: 'hello', from: 'x' },
      { kind: 'hello', from: 'x' },
      call({ method: 'engine.key' }),
      call({ method: 'channels.constructor' }),
      call({ method: 'channels.__proto__' }),
      call({ args: [`0x${'11'.repeat(32)}`, ['0x1', '0x2']] }),
      call({ args: [`0x${'11'.repeat(32)}`, [-1n, 2n]] }),
      call({ args: [`0x${'11'.repeat(32)}`] }),
      call({ args: [`0x${'11'.repeat(32)}`, [1n, 2n], '0x', 'extra'] }),
      call({ extra: true }),
      call({ id: -1 }),
      call({ method: 'channels.create', args: [{ ...createArgs, counterparty: BOB.toUpperCase() }] }),
      call({ method: 'channels.create', args: [{ ...createArgs, key: 'x' }] }),
      call({ method: 'peers.receiveMessage', args: [BOB, 'x'.repeat((1 << 20) + 1)] }),
    ];
    for (const m of bad) stranger.postMessage(m);
    await vi.waitFor(() => expect(one.warnings.filter((x) => x.event === 'wallet.instance-refused')).toHaveLength(bad.length));
    // A well-formed call after them is answered: nothing before it was.
    stranger.postMessage(call({ method: 'channels.list', args: [], id: 7 }));
    await vi.waitFor(() => expect(answers.map((a) => (a as { kind: string }).kind)).toEqual(['accepted', 'result']));
    expect(answers.every((a) => (a as { id: number }).id === 7)).toBe(true);
    expect(one.engineCalls).toEqual(['list']);
    stranger.close();
  });

  it('carries nothing but the protocol: no key material, no store records beyond the summaries asked for', async () => {
    const w = world();
    openTab(w, 'one');
    const two = openTab(w, 'two');
    await allFollow(w, 'one');
    const { channelId } = await two.coordinator.engine.channels.create(createArgs);
    await two.coordinator.engine.channels.update(channelId, [1n, 149n]);
    await vi.waitFor(() => expect(w.seen.filter((m) => (m as { kind: string }).kind === 'result')).toHaveLength(2));
    const kinds = new Set(w.seen.map((m) => (m as { kind: string }).kind));
    expect([...kinds].sort()).toEqual(['accepted', 'call', 'hello', 'leader', 'notify', 'result']);
    expect(JSON.stringify(w.seen, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain('internal');
  });
});

describe('takeover', () => {
  it("when the leader's tab goes, the next takes the lock only after that engine stopped, resumes from the store, and serves the others", async () => {
    const w = world();
    const one = openTab(w, 'one');
    const two = openTab(w, 'two');
    const three = openTab(w, 'three');
    await allFollow(w, 'one');
    const { channelId } = await three.coordinator.engine.channels.create(createArgs);
    one.kill();
    await vi.waitFor(() => expect(two.coordinator.isLeader).toBe(true));
    // It resumed at once (the store has a channel), with no other engine running.
    expect(w.starts).toEqual(['one', 'two']);
    expect(w.overlaps).toBe(0);
    await vi.waitFor(() => expect(three.coordinator.leader).toBe('two'));
    const updated = await three.coordinator.engine.channels.update(channelId, [40n, 110n]);
    expect(updated.turnNum).toBe(4);
    expect(two.engineCalls).toEqual(['update']);
    expect(three.engineCalls).toEqual([]);
    await vi.waitFor(() => expect(two.delivered.map((n) => n.method === 'channel_updated' && n.params.turnNum)).toContain(4));
    expect(three.delivered.map((n) => n.method === 'channel_updated' && n.params.turnNum)).toEqual([3, 4]);
  });

  it('a call the gone leader had started is not repeated unless harmless; a read is answered by the next leader', async () => {
    const w = world();
    const one = openTab(w, 'one');
    const two = openTab(w, 'two');
    await allFollow(w, 'one');
    const { channelId } = await two.coordinator.engine.channels.create(createArgs);
    one.hang.add('update');
    one.hang.add('list');
    const update = two.coordinator.engine.channels.update(channelId, [1n, 149n]);
    const list = two.coordinator.engine.channels.list();
    await vi.waitFor(() => expect(one.engineCalls).toEqual(['create', 'update', 'list']));
    one.kill();
    await expect(update).rejects.toSatisfy((e) => e instanceof RpcError && e.code === ErrorCode.invalidChannelState && /closed before it finished/.test(e.message));
    expect(await list).toHaveLength(1);
    expect(two.coordinator.isLeader).toBe(true);
    expect(two.engineCalls).toEqual(['list']);
    // The update did not run twice: the store is as the create left it.
    expect(w.store.get(channelId)?.turnNum).toBe(3);
  });

  it('a call the gone leader may have run is never run again by the next one, even if its "accepted" was never heard', async () => {
    const w = world();
    const one = openTab(w, 'one');
    const two = openTab(w, 'two');
    await allFollow(w, 'one');
    const { channelId } = await two.coordinator.engine.channels.create(createArgs);
    // The leader runs the update and its tab dies in the same moment.
    one.dieAfter.add('update');
    const update = two.coordinator.engine.channels.update(channelId, [1n, 149n]);
    await expect(update).rejects.toSatisfy((e) => e instanceof RpcError && e.code === ErrorCode.invalidChannelState);
    expect(two.coordinator.isLeader).toBe(true);
    expect(two.engineCalls).toEqual([]);
    // It ran once, in the tab that died: the store shows one update, not two.
    expect(w.store.get(channelId)?.turnNum).toBe(4);
  });

  it('calls made while no instance answers wait, and run at the first leader', async () => {
    const w = world();
    // A tab holds the lock but has not started the wallet yet (still loading).
    let releaseLoading!: () => void;
    void w.locks.forTab('loading').request('channel-wallet-engine', {}, () => new Promise<void>((r) => (releaseLoading = r)));
    const two = openTab(w, 'two');
    const created = two.coordinator.engine.channels.create(createArgs);
    const listed = two.coordinator.engine.channels.list();
    expect(two.coordinator.isLeader).toBe(false);
    expect(w.starts).toEqual([]);
    releaseLoading();
    const c = await created;
    expect((await listed).map((x) => x.channelId)).toEqual([c.channelId]);
    expect(w.starts).toEqual(['two']);
  });

  it('the next leader reconnects to the relay a follower had asked for', async () => {
    const w = world();
    const one = openTab(w, 'one');
    const two = openTab(w, 'two');
    await allFollow(w, 'one');
    expect(await two.coordinator.engine.peers.useRelay('ws://127.0.0.1:9/relay')).toEqual({ address: ALICE, relayOrigin: 'ws://127.0.0.1:9' });
    expect(one.relayUrls).toEqual(['ws://127.0.0.1:9/relay']);
    expect(two.relayUrls).toEqual([]);
    one.kill();
    await vi.waitFor(() => expect(two.relayUrls).toEqual(['ws://127.0.0.1:9/relay']));
    expect(two.leaderContexts).toEqual([{ relayUrl: 'ws://127.0.0.1:9/relay' }]);
  });

  it('close(): a leader stops its engine before it lets the lock go, and the next leader starts after', async () => {
    const w = world();
    const one = openTab(w, 'one');
    const two = openTab(w, 'two');
    await allFollow(w, 'one');
    await two.coordinator.engine.channels.create(createArgs);
    await one.coordinator.close();
    await vi.waitFor(() => expect(two.coordinator.isLeader).toBe(true));
    expect(w.events).toEqual(['granted:one', 'stopped:one', 'released:one', 'granted:two']);
    expect(w.overlaps).toBe(0);
    await expect(one.coordinator.engine.channels.list()).rejects.toSatisfy((e) => e instanceof RpcError && e.code === ErrorCode.disconnected);
  });
});
