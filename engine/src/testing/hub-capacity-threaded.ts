/**
 * How many virtual channels one hub engine opens and closes per second when it has a thread of its
 * own, as it would in production: the hub engine runs in this (the main) thread, the client engines
 * in `worker_threads` worker(s) (one holding all clients by default). Messages between the hub and
 * a client cross by the worker's `postMessage`, as strings; messages between two clients in the
 * same worker are delivered there (as `InProcessNetwork` does), between workers through this
 * thread. Ledgers are set up funded directly in the stores, as `measureHubCapacity` does, and every
 * ledger is checked exact at the end.
 *
 *   const r = await measureHubCapacityThreaded({ clients: 20, channels: 500 });
 *   r.channelsPerSecond
 *
 * This one file is also the worker script: loaded in a worker with `workerData.hubCapacityWorker`,
 * it runs the clients. From a `.ts` file the worker registers tsx first (see `startWorker`).
 */
import { installNativeSecp256k1 } from '../node/native-secp256k1.ts';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { type Address, PrivateKey, keccakReady, warmUpSecp256k1 } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import { Engine } from '../engine.ts';
import { MemoryStore } from '../store/memory-store.ts';
import type { Store } from '../store/types.ts';
import { TEST_APPS, fundedLedger, noChain, percentile } from './hub-capacity.ts';

export interface HubCapacityThreadedOptions {
  /** Client engines (each has one ledger with the hub). At least 2. */
  clients: number;
  /** Virtual channels to open and close in all. */
  channels: number;
  /** Worker threads the clients are spread over. Default 1. */
  workers?: number;
  /** What each virtual channel holds (wei). Default 1000. */
  amount?: bigint;
  /** The hub's store: its production store for a figure that includes durability. Default: a MemoryStore. */
  hubStore?: Store;
}

export interface HubCapacityThreadedResult {
  /** Virtual channels opened, paid through once and closed, per second of wall clock (first open to last close). */
  channelsPerSecond: number;
  /** Of `elapsedMs`, the time the hub engine was busy. */
  hubBusyMs: number;
  elapsedMs: number;
  channels: number;
  clients: number;
  workers: number;
  /** createVirtualChannel → funded, as the payer sees it. */
  openMs: { p50: number; p99: number };
}

/** A message between engines on the wire between threads: 'm', the sender's and the recipient's address (42 characters each), then the text. */
const ADDRESS_LENGTH = 42;
function wire(from: Address, to: Address, text: string): string {
  return `m${from}${to}${text}`;
}
function unwire(s: string): { from: Address; to: Address; text: string } {
  return { from: s.slice(1, 1 + ADDRESS_LENGTH) as Address, to: s.slice(1 + ADDRESS_LENGTH, 1 + 2 * ADDRESS_LENGTH) as Address, text: s.slice(1 + 2 * ADDRESS_LENGTH) };
}

interface WorkerInit {
  hubCapacityWorker: true;
  hub: Address;
  amount: bigint;
  /** Channels this worker opens, over its clients. */
  channels: number;
  clients: { index: number; key: Uint8Array; ledger: Channel; payee: Address }[];
}

type Control =
  | { kind: 'ready' }
  | { kind: 'done'; first: number; last: number; opens: number[]; opened: number[] }
  | { kind: 'budgets'; budgets: { send: bigint; locked: bigint }[] }
  | { kind: 'error'; message: string };

/** Wall-clock time comparable across threads. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

async function runClients(init: WorkerInit): Promise<void> {
  const port = parentPort!;
  await keccakReady;
  warmUpSecp256k1();
  installNativeSecp256k1(); // Node: libsecp256k1, as the hub and headless clients run
  const engines = new Map<Address, Engine>();
  const send = (from: Address, to: Address, text: string) => {
    const local = engines.get(to);
    if (local) queueMicrotask(() => void local.receiveMessage(from, text));
    else port.postMessage(wire(from, to, text));
  };
  const clients: { engine: Engine; payee: Address }[] = [];
  for (const c of init.clients) {
    const key = PrivateKey.fromBytes(c.key);
    const store = new MemoryStore();
    await store.commit({ channel: c.ledger });
    const engine = new Engine({ key, store, chain: noChain(), sendMessage: (to, text) => send(key.address, to, text), apps: TEST_APPS, resendIntervalMs: 0 });
    engines.set(key.address, engine);
    clients.push({ engine, payee: c.payee });
  }
  await Promise.all(clients.map((c) => c.engine.start()));

  port.on('message', (m: string | { kind: 'start' | 'budgets' | 'stop' }) => {
    if (typeof m === 'string') {
      const { from, to, text } = unwire(m);
      void engines.get(to)?.receiveMessage(from, text);
      return;
    }
    const reply = (c: Control) => port.postMessage(c);
    const fail = (e: unknown) => reply({ kind: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    if (m.kind === 'start') {
      const opens: number[] = [];
      const opened = clients.map(() => 0);
      let remaining = init.channels;
      const first = now();
      Promise.all(
        clients.map(async ({ engine, payee }, i) => {
          while (remaining > 0) {
            remaining--;
            const a = performance.now();
            const id = await engine.createVirtualChannel({ payee, hub: init.hub, amount: init.amount });
            opens.push(performance.now() - a);
            await engine.pay(id, 1n);
            await engine.closeVirtualChannel(id);
            opened[i]!++;
          }
        }),
      ).then(() => reply({ kind: 'done', first, last: now(), opens, opened }), fail);
    } else if (m.kind === 'budgets') {
      (async () => {
        const budgets = [];
        for (const { engine } of clients) {
          await engine.idle();
          const b = await engine.getBudget(init.hub);
          budgets.push({ send: b?.send ?? -1n, locked: b?.locked ?? -1n });
        }
        reply({ kind: 'budgets', budgets });
      })().catch(fail);
    } else {
      for (const { engine } of clients) engine.stop();
      port.close();
    }
  });
  port.postMessage({ kind: 'ready' } satisfies Control);
}

if (!isMainThread && (workerData as Partial<WorkerInit> | null)?.hubCapacityWorker) {
  await runClients(workerData as WorkerInit);
}

/**
 * A worker running this file's clients. From a `.ts` file (under tsx or vitest) the worker first
 * registers tsx's loader: Node 20 does not apply `execArgv: ['--import', 'tsx']` to a worker's
 * own module loading, so the worker is a small script that registers tsx, then imports this file.
 */
function startWorker(init: WorkerInit): Worker {
  let worker: Worker;
  if (import.meta.url.endsWith('.ts')) {
    // tsx's ESM api (its CommonJS build, which require.resolve finds, does not register from here).
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
    worker = new Worker(code, { eval: true, workerData: init });
  } else {
    worker = new Worker(new URL(import.meta.url), { workerData: init });
  }
  const gone = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`client worker exited (${code})`)));
  });
  gone.catch(() => undefined);
  goneOf.set(worker, gone);
  return worker;
}
const goneOf = new WeakMap<Worker, Promise<never>>();

/** Resolves with the next control message from `worker` of `kind` (rejects on an error from it, or if it has gone). */
function next<K extends Control['kind']>(worker: Worker, kind: K): Promise<Extract<Control, { kind: K }>> {
  const reply = new Promise<Extract<Control, { kind: K }>>((resolve, reject) => {
    const onMessage = (m: string | Control) => {
      if (typeof m === 'string') return;
      if (m.kind === 'error') reject(new Error(`client worker: ${m.message}`));
      else if (m.kind === kind) resolve(m as Extract<Control, { kind: K }>);
      else return;
      worker.off('message', onMessage);
    };
    worker.on('message', onMessage);
  });
  return Promise.race([reply, goneOf.get(worker)!]);
}

export async function measureHubCapacityThreaded(opts: HubCapacityThreadedOptions): Promise<HubCapacityThreadedResult> {
  await keccakReady;
  warmUpSecp256k1();
  installNativeSecp256k1(); // Node: libsecp256k1, as the hub and headless clients run
  const clients = Math.max(2, opts.clients);
  const workerCount = Math.max(1, Math.min(opts.workers ?? 1, clients));
  const amount = opts.amount ?? 1000n;
  const hubKey = PrivateKey.random();
  const hubStore = opts.hubStore ?? new MemoryStore();
  const keys = Array.from({ length: clients }, () => PrivateKey.random());
  const perClient = Math.ceil(opts.channels / clients);
  const deposit = amount * BigInt(perClient + 1);
  const userLedgers: Channel[] = [];
  for (const [i, key] of keys.entries()) {
    const ledger = fundedLedger(hubKey, key, [deposit, deposit], { nonce: BigInt(i + 1) });
    await hubStore.commit({ channel: ledger.hub });
    userLedgers.push(ledger.user);
  }

  // Clients spread over the workers in contiguous runs, the channels in proportion.
  const groups = Array.from({ length: workerCount }, (_, w) => keys.map((_, i) => i).filter((i) => Math.floor((i * workerCount) / clients) === w));
  const workerOf = new Map<Address, Worker>();
  const workers = groups.map((indices) => {
    const channels = Math.floor((opts.channels * (indices.at(-1)! + 1)) / clients) - Math.floor((opts.channels * indices[0]!) / clients);
    const init: WorkerInit = {
      hubCapacityWorker: true,
      hub: hubKey.address,
      amount,
      channels,
      clients: indices.map((i) => ({ index: i, key: keys[i]!.exportBytes(), ledger: userLedgers[i]!, payee: keys[(i + 1) % clients]!.address })),
    };
    const worker = startWorker(init);
    for (const i of indices) workerOf.set(keys[i]!.address, worker);
    return worker;
  });

  const hub = new Engine({ key: hubKey, store: hubStore, chain: noChain(), sendMessage: (to, text) => workerOf.get(to)?.postMessage(wire(hubKey.address, to, text)), apps: TEST_APPS, resendIntervalMs: 0, approveVirtualChannel: () => true });
  for (const worker of workers) {
    worker.on('message', (m: string | Control) => {
      if (typeof m !== 'string') return;
      const { from, to, text } = unwire(m);
      if (to === hubKey.address) void hub.receiveMessage(from, text);
      else workerOf.get(to)?.postMessage(m);
    });
  }
  try {
    await hub.start();
    await Promise.all(workers.map((w) => next(w, 'ready')));

    const hubBusy0 = hub.stats.busyMs;
    const dones = Promise.all(workers.map((w) => next(w, 'done')));
    for (const w of workers) w.postMessage({ kind: 'start' });
    const done = await dones;
    const hubBusyMs = hub.stats.busyMs - hubBusy0;
    const elapsedMs = Math.max(...done.map((d) => d.last)) - Math.min(...done.map((d) => d.first));
    const opened = keys.map(() => 0);
    for (const [w, indices] of groups.entries()) for (const [j, i] of indices.entries()) opened[i] = done[w]!.opened[j]!;
    const total = opened.reduce((a, b) => a + b, 0);
    if (total !== opts.channels) throw new Error(`${total} channels opened and closed; expected ${opts.channels}`);

    // Every ledger ends with no guarantee and each client credited exactly: one paid per channel opened, one received per channel to it.
    // The last messages may still be crossing between threads: ask again for a while until they have settled.
    const deadline = Date.now() + 10_000;
    for (;;) {
      await hub.idle();
      const replies = Promise.all(workers.map((w) => next(w, 'budgets')));
      for (const w of workers) w.postMessage({ kind: 'budgets' });
      const budgets = (await replies).flatMap((r) => r.budgets);
      const problems: string[] = [];
      const order = groups.flat();
      for (const [k, i] of order.entries()) {
        const budget = budgets[k]!;
        const expected = deposit - BigInt(opened[i]!) + BigInt(opened[(i + clients - 1) % clients]!);
        if (budget.locked !== 0n || budget.send !== expected) problems.push(`client ${i}: ledger ends ${budget.send} free, ${budget.locked} locked; expected ${expected} free, none locked`);
        const atHub = await hub.getBudget(keys[i]!.address);
        if (!atHub || atHub.locked !== 0n || atHub.receive !== expected) problems.push(`client ${i}: the hub's ledger ends ${atHub?.receive} free for it, ${atHub?.locked} locked; expected ${expected}`);
      }
      if (problems.length === 0) break;
      if (Date.now() > deadline) throw new Error(problems.join('\n'));
      await new Promise((r) => setTimeout(r, 20));
    }

    const opens = done.flatMap((d) => d.opens).sort((x, y) => x - y);
    return {
      channelsPerSecond: (opts.channels / elapsedMs) * 1000,
      hubBusyMs,
      elapsedMs,
      channels: opts.channels,
      clients,
      workers: workerCount,
      openMs: { p50: percentile(opens, 50), p99: percentile(opens, 99) },
    };
  } finally {
    hub.stop();
    for (const w of workers) w.postMessage({ kind: 'stop' });
    // Each worker stops its engines and exits; one that does not within 2 s is terminated.
    await Promise.all(
      workers.map((w) => {
        const timer = setTimeout(() => void w.terminate(), 2_000);
        return goneOf.get(w)!.catch(() => clearTimeout(timer));
      }),
    );
  }
}
