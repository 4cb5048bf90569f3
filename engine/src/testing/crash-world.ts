/**
 * Parties (wallets and a hub) whose engines can crash at a chosen store commit and come back, on
 * a real chain: the crash-safety harness (crash-safety.test.ts).
 *
 * A party is a key and a durable store (opened by the test: the wallet's DexieStore, the hub's
 * FileStore). A crash is what a reload or a killed process does: the engine and everything in
 * memory is dropped — its messages are no longer delivered, its funding account sends no further
 * transaction, commits not yet durable are lost (CrashPointStore) — and a new engine starts over
 * the store reopened from the same place. Messages sent to a party while it is down are lost.
 *
 * A scenario is driven by `achieve` steps: a goal (read from the parties' stores and engines) and
 * the call that brings it about; a call interrupted by its caller's crash is made again on the
 * new engine only if its goal is still not met (what a dapp does after a reload).
 */
import { Wallet, type TransactionRequest, type TransactionResponse } from 'ethers';
import { type Address, type Bytes32, PrivateKey } from '../../../core/src/index.ts';
import { latestSupported } from '../../../core/src/protocol/channel.ts';
import { createEthersChainService, createJsonRpcProvider } from '../chain/index.ts';
import { Engine, type EngineDeps } from '../engine.ts';
import type { Store } from '../store/types.ts';
import { type CrashPoint, CrashPointStore } from './crash-store.ts';

/** A durable store as a process holds it: closed when the process goes, opened again by the next. */
export interface OpenedStore {
  store: Store;
  close(): Promise<void>;
}

/** A funding account that sends nothing once its process is gone (a transaction sent before stays sent). */
class MortalWallet extends Wallet {
  alive = true;
  override async sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    if (!this.alive) throw new Error('the process is gone');
    return super.sendTransaction(tx);
  }
}

interface Incarnation {
  engine: Engine;
  alive: boolean;
  signer: MortalWallet;
}

export interface CrashParty {
  name: string;
  key: PrivateKey;
  address: Address;
  /** The current engine (a new one after each restart). */
  readonly engine: Engine;
  /** The current store as the engine sees it (reads go to the real store). */
  readonly store: CrashPointStore;
  /** Labels of all commits made, across restarts. */
  readonly history: string[];
  restarts: number;
  up: boolean;
  rejections: string[];
  /** Totals reported by onPaymentReceived, per virtual channel. */
  reported: Map<Bytes32, bigint>;
}

interface PartyInternals extends CrashParty {
  open: () => Promise<OpenedStore>;
  opened: OpenedStore;
  wrapper: CrashPointStore;
  life: Incarnation;
  extra: (self: CrashParty) => Partial<EngineDeps>;
}

export interface CrashWorldOptions {
  rpcUrl: string;
  chainId: number;
  adjudicator: Address;
  apps?: EngineDeps['apps'];
  resendIntervalMs?: number;
  chainPollMs?: number;
  /** How often a registered challenge's status is read (the engine's `challengePollIntervalMs`). */
  challengePollMs?: number;
  /** Where the scenario crashes (at most once): which party, at which commit. */
  crash?: { party: string; point: CrashPoint };
}

export class CrashWorld {
  private readonly parties = new Map<Address, PartyInternals>();
  private readonly byName = new Map<string, PartyInternals>();
  /** A crash started (its party is down until restarted). */
  private crashWaiters: (() => void)[] = [];
  /** Crashes so far (a scenario has at most one). */
  private crashes = 0;
  /** What a crash lost that had been acknowledged: must stay empty. */
  readonly violations: string[] = [];
  /** The crash, once it happened: the party and the label of the commit it happened at. */
  crashed: { party: string; label: string } | undefined;
  /** Highest turn of each channel whose update call resolved (both parties had stored it). */
  readonly ackedTurns = new Map<Bytes32, number>();
  /** Total of each virtual channel whose payment call resolved (the payer had stored the voucher). */
  readonly ackedPaid = new Map<Bytes32, bigint>();
  private restarting: Promise<void> | undefined;
  /** Every engine's log, in order (for a failure's report). */
  readonly trace: string[] = [];
  /** Messages sent by all parties. */
  messages = 0;

  private readonly born = performance.now();

  /** A line of the trace, stamped with the time since the world began. */
  private log(line: string): void {
    this.trace.push(`${(performance.now() - this.born).toFixed(0).padStart(6)} ms ${line}`);
  }

  constructor(readonly opts: CrashWorldOptions) {}

  /** Adds a party with a fresh key and its own durable store. */
  async party(name: string, open: () => Promise<OpenedStore>, extra: (self: CrashParty) => Partial<EngineDeps> = () => ({})): Promise<CrashParty> {
    const key = PrivateKey.random();
    const opened = await open();
    const history: string[] = [];
    const crash = this.opts.crash?.party === name ? this.opts.crash.point : undefined;
    const p = { name, key, address: key.address, open, opened, history, restarts: 0, up: false, rejections: [], reported: new Map(), extra } as unknown as PartyInternals;
    p.wrapper = new CrashPointStore(opened.store, { history, ...(crash && { point: crash }), onCrash: (label) => void this.crash(p, label) });
    Object.defineProperty(p, 'engine', { get: () => p.life.engine });
    Object.defineProperty(p, 'store', { get: () => p.wrapper });
    p.life = this.incarnate(p);
    this.parties.set(p.address, p);
    this.byName.set(name, p);
    return p;
  }

  private incarnate(p: PartyInternals): Incarnation {
    const provider = createJsonRpcProvider(this.opts.rpcUrl, this.opts.chainId, { pollingIntervalMs: this.opts.chainPollMs ?? 50 });
    if (process.env.CRASH_DEBUG) void provider.on('debug', (e: { action: string; payload?: unknown; result?: unknown; error?: unknown }) => this.log(`${p.name}#${p.restarts} rpc ${e.action} ${JSON.stringify(e.payload ?? e.result ?? String(e.error ?? ''))?.slice(0, 160)}`));
    const signer = new MortalWallet(`0x${Buffer.from(p.key.exportBytes()).toString('hex')}`, provider);
    const service = createEthersChainService({ provider, signer, addresses: { adjudicator: this.opts.adjudicator }, pollIntervalMs: this.opts.chainPollMs ?? 50 });
    const life: Incarnation = { alive: true, signer, engine: undefined as unknown as Engine };
    // Chain calls are traced (for a failure's report).
    const chain = new Proxy(service, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || !['deposit', 'concludeAndTransferAllAssets', 'challenge', 'checkpoint', 'transferAllAssets'].includes(String(prop))) return v;
        return async (...args: unknown[]) => {
          this.log(`${p.name}#${p.restarts} chain.${String(prop)}`);
          try {
            const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            this.log(`${p.name}#${p.restarts} chain.${String(prop)} ok`);
            return r;
          } catch (e) {
            this.log(`${p.name}#${p.restarts} chain.${String(prop)} failed: ${e instanceof Error ? e.message : String(e)}`);
            throw e;
          }
        };
      },
    });
    life.engine = new Engine({
      key: p.key,
      store: p.wrapper,
      chain,
      ...(this.opts.apps && { apps: this.opts.apps }),
      resendIntervalMs: this.opts.resendIntervalMs ?? 100,
      ...(this.opts.challengePollMs !== undefined && { challengePollIntervalMs: this.opts.challengePollMs }),
      sendMessage: (to, text) => {
        if (!life.alive) return;
        this.messages++;
        queueMicrotask(() => {
          const peer = this.parties.get(to);
          if (process.env.CRASH_DEBUG) this.log(`${p.name}#${p.restarts} → ${peer?.name ?? to}${peer?.up ? '' : ' (down: lost)'} ${describeMessage(text)}`);
          if (peer?.up) void peer.life.engine.receiveMessage(p.address, text);
        });
      },
      onPaymentReceived: (payment) => {
        if (!life.alive) return;
        const before = p.reported.get(payment.channelId) ?? 0n;
        if (payment.total > before) p.reported.set(payment.channelId, payment.total);
      },
      log: (event, fields) => {
        if (event === 'peer.rejected') p.rejections.push(String(fields?.reason));
        this.log(`${p.name}#${p.restarts} ${event} ${JSON.stringify(fields ?? {})}`);
      },
      ...p.extra(p),
    });
    if (process.env.CRASH_DEBUG) {
      const e = life.engine as unknown as { serial: (f: () => Promise<unknown>) => Promise<unknown> };
      const serial = e.serial.bind(life.engine);
      const callers = new Map<string, number>();
      (life as unknown as { callers: Map<string, number> }).callers = callers;
      e.serial = (f) => {
        const where = (new Error().stack ?? '').split('\n').slice(2, 5).map((l) => l.trim()).join(' < ');
        callers.set(where, (callers.get(where) ?? 0) + 1);
        return serial(f);
      };
    }
    return life;
  }

  async start(): Promise<void> {
    this.log('starting');
    for (const p of this.parties.values()) {
      await p.life.engine.start();
      p.up = true;
    }
    this.log('started');
  }

  get(name: string): CrashParty {
    return this.byName.get(name)!;
  }

  /** The crash and the restart: drop the engine, reopen the store, start a new engine over it. */
  private async crash(p: PartyInternals, label: string): Promise<void> {
    this.crashed = { party: p.name, label };
    this.crashes++;
    const old = p.life;
    old.alive = false;
    old.signer.alive = false;
    p.up = false;
    old.engine.stop();
    for (const w of this.crashWaiters.splice(0)) w();
    const restart = (async () => {
      await p.wrapper.settled();
      await p.opened.close();
      p.opened = await p.open();
      p.wrapper = new CrashPointStore(p.opened.store, { history: p.history });
      p.restarts++;
      p.life = this.incarnate(p);
      await p.life.engine.start();
      p.up = true;
      await this.checkNothingLost(p);
    })();
    this.restarting = restart;
    await restart;
  }

  /** What was acknowledged before the crash is still stored after it. */
  private async checkNothingLost(p: PartyInternals): Promise<void> {
    for (const [channelId, turn] of this.ackedTurns) {
      const c = await p.wrapper.getChannel(channelId);
      if (!c) continue;
      const supported = latestSupported(c)?.state.turnNum ?? -1;
      if (supported < turn) this.violations.push(`${p.name} restarted with channel ${channelId} supported at turn ${supported}, below the acknowledged ${turn}`);
    }
    for (const [channelId, total] of this.ackedPaid) {
      // (The payee may not have it yet: a payment resolves once sent; the payer re-sends.)
      const v = await p.wrapper.getVoucher(channelId);
      const c = await p.wrapper.getChannel(channelId);
      if (c && c.fixedPart.participants[0] === p.address && (v?.amount ?? 0n) < total) this.violations.push(`the payer ${p.name} restarted without its voucher for ${total}`);
    }
    for (const [channelId, total] of p.reported) {
      const v = await p.wrapper.getVoucher(channelId);
      if ((v?.amount ?? 0n) < total) this.violations.push(`the payee ${p.name} restarted with ${v?.amount ?? 0n} stored in ${channelId}, after reporting ${total} received`);
    }
  }

  /** Resolves once no party is down. */
  async allUp(): Promise<void> {
    while (this.restarting) {
      const r = this.restarting;
      await r;
      if (this.restarting === r) this.restarting = undefined;
    }
  }

  /**
   * Whether everything every engine has done so far is durable: true once each has stored all
   * it issued; false if a crash came after the `crashes`-th, or comes first (the crashed party's
   * last steps may be lost), or `until` passes.
   */
  private async durable(crashes: number, until: number): Promise<boolean> {
    // A crash since `crashes` (while the goal was read) may have left a stopped engine in place
    // until its restart: it would never be idle.
    if (this.crashes !== crashes) return false;
    const crashed = this.nextCrash().then(() => false);
    const idle = Promise.all([...this.parties.values()].map((p) => p.life.engine.idle())).then(() => true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, until - Date.now()))));
    try {
      return await Promise.race([idle, crashed, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private nextCrash(): Promise<void> {
    return new Promise((resolve) => this.crashWaiters.push(resolve));
  }

  /**
   * Brings `done` about: calls `act` on `by`'s engine and waits until `done` holds. The call is
   * made again only when it failed, or when `by` restarted before it resolved (a reload loses
   * the call) and `done` still does not hold — never while it may still be under way, so a
   * payment is never made twice.
   */
  async achieve(what: string, done: () => Promise<boolean>, act?: { by: CrashParty; call: (engine: Engine) => Promise<unknown>; resolved?: (value: unknown) => void }, timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let pending: { settled: boolean; failed: boolean; restarts: number; promise: Promise<unknown> } | undefined;
    let lastError = '';
    let retryAt = 0;
    for (;;) {
      await this.allUp();
      // The goal is read from the engines' memory, which runs ahead of their stores: it holds only
      // once what it read is durable. (A party whose store has crashed shows, until its restart,
      // steps that never reached the store — e.g. a join the reload then loses.)
      const crashes = this.crashes;
      if ((await done().catch(() => false)) && (await this.durable(crashes, end))) {
        this.log(`achieved: ${what}`);
        return;
      }
      if (Date.now() > end && process.env.CRASH_DEBUG) this.trace.push(await this.dump());
      if (Date.now() > end) throw new Error(`${what}: not done after ${timeoutMs} ms${this.crashed ? ` (after a crash of ${this.crashed.party} at ${this.crashed.label})` : ''}${lastError ? `; last error: ${lastError}` : ''}`);
      // A failed call is made again a tick later (never in a tight loop: it may fail at once).
      if (act && act.by.up && (!pending || (pending.failed && Date.now() >= retryAt) || pending.restarts !== act.by.restarts)) {
        const attempt = { settled: false, failed: false, restarts: act.by.restarts, promise: Promise.resolve() as Promise<unknown> };
        const restartsAtCall = act.by.restarts;
        attempt.promise = act.call(act.by.engine).then(
          (value) => {
            attempt.settled = true;
            // A call that resolved on an engine still running is acknowledged.
            if (act.by.restarts === restartsAtCall && act.by.up) act.resolved?.(value);
          },
          (e: unknown) => {
            attempt.settled = true;
            attempt.failed = true;
            retryAt = Date.now() + 50;
            lastError = e instanceof Error ? e.message : String(e);
          },
        );
        pending = attempt;
      }
      await Promise.race([pending && !pending.settled ? pending.promise : undefined, this.nextCrash(), new Promise((r) => setTimeout(r, 25))].filter((x) => x !== undefined));
    }
  }

  /** Each party's active objectives and channels as stored (for a failure's report). */
  async dump(): Promise<string> {
    const out: string[] = [`${this.messages} messages`];
    for (const p of this.parties.values()) {
      const e = p.life.engine as unknown as { writes: unknown[]; gated: unknown[]; stats: { tasks: number } };
      const idle = await Promise.race([p.life.engine.idle().then(() => 'idle'), new Promise((r) => setTimeout(() => r('busy'), 200))]);
      out.push(...[...((p.life as unknown as { callers?: Map<string, number> }).callers ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([w, n]) => `${p.name}: ${n} tasks from ${w}`));
      out.push(`${p.name}: writes pending ${e.writes.length}, gated ${e.gated.length}, tasks ${e.stats.tasks}, ${String(idle)}, store in flight ${(p.wrapper as unknown as { inFlight: Set<unknown> }).inFlight.size}`);
      for (const o of await p.wrapper.activeObjectives()) out.push(`${p.name}: active ${o.id} ${JSON.stringify((o.snapshot as { value?: unknown }).value)}`);
      for (const c of await p.engine.listChannels()) out.push(`${p.name}: channel ${c.channelId} ${c.status} turn ${c.turnNum}`);
    }
    return out.join('\n');
  }

  /** `name` goes away for good (a counterparty that vanishes): its engine stops and nothing reaches it. */
  async leave(name: string): Promise<void> {
    await this.allUp();
    const p = this.byName.get(name)!;
    await p.life.engine.idle();
    p.up = false;
    p.life.alive = false;
    p.life.signer.alive = false;
    p.life.engine.stop();
    this.log(`${name} left`);
  }

  /** Every party's engine stopped (the end of a scenario). */
  async stop(): Promise<void> {
    await this.allUp();
    for (const p of this.parties.values()) {
      p.life.alive = false;
      p.life.engine.stop();
      await p.wrapper.settled();
      await p.opened.close();
    }
    this.log('stopped');
  }
}

/** What a message carries, briefly (for the trace). */
function describeMessage(text: string): string {
  const m = JSON.parse(text) as { payloads?: { type: string; objectiveId?: string; signedState?: { state?: { turnNum?: number } } }[]; vouchers?: { amount: string }[]; ledger?: unknown };
  const parts = (m.payloads ?? []).map((x) => `${x.type} ${x.objectiveId?.split('-')[0] ?? ''} ${x.signedState?.state?.turnNum ?? ''}`.trim());
  if (m.vouchers?.length) parts.push(`vouchers ${m.vouchers.map((v) => BigInt(v.amount)).join(',')}`);
  if (m.ledger) parts.push(`ledger ${JSON.stringify(m.ledger).slice(0, 80)}`);
  return parts.join('; ');
}
