import { type AnyActorRef, createActor } from 'xstate';
import {
  type Address,
  type Bytes32,
  CoreError,
  type Exit,
  type Hex,
  type PrivateKey,
  type SignedState,
  type State,
  type Voucher,
  ZERO_ADDRESS,
  addressToDestination,
  AllocationType,
  channelId as computeChannelId,
  decodeVoucherAppData,
  fingerprint,
  hashOutcome,
  hashState,
  bytesToHex,
  variablePartOf,
} from '../../core/src/index.ts';
import { type Channel, POSTFUND_TURN, counterparties, latest, latestSupported, newChannel, receiveSignedState, stateAt } from '../../core/src/protocol/channel.ts';
import { type LedgerPayload, type Payload, type ProtocolMessage, objectiveIds, parseMessage, serializeMessage, MAX_PAYLOADS } from '../../core/src/protocol/message.ts';
import { checkCloseProposal, directDefundMachine } from '../../core/src/objectives/direct-defund.ts';
import { directFundMachine } from '../../core/src/objectives/direct-fund.ts';
import type { ChainFailure, ChallengeUpdate, Effect, ProgressStage } from '../../core/src/objectives/effects.ts';
import { type VirtualExitContext, type VirtualExitInput, type ExitUpdate, exitObjectiveId, guaranteeTargets, requireExitable, virtualExitMachine } from '../../core/src/objectives/virtual-exit.ts';
import { ExitRunner } from './virtual-exit.ts';
import { type ChallengeContext, type ChallengeEvent, type DisputeTransaction, challengeMachine, challengeStageOf, challengeUpdateOf } from '../../core/src/objectives/challenge.ts';
import { type VirtualFundContext, checkVirtualFundState, virtualFundMachine } from '../../core/src/objectives/virtual-fund.ts';
import { type VirtualDefundContext, checkVirtualDefundState, virtualDefundMachine } from '../../core/src/objectives/virtual-defund.ts';
import { type VoucherBook, closeVoucherBook, newVoucherBook, pay as payVoucher, receiveVouchers } from '../../core/src/protocol/payments.ts';
import { FINAL_TURN, HUB, PAYEE, PAYER, type VirtualLedgers, guaranteeFor, ledgerParties, removalFor, requireVirtualPrefund, sidesOf } from '../../core/src/protocol/virtual.ts';
import { inFlight, proposeUpdate, receiveUpdates, runningState } from '../../core/src/protocol/updates.ts';
import { ChainError, chainFailureOf } from './chain/errors.ts';
import type { ChainEvent, ChainService } from './chain/types.ts';
import { EngineError } from './errors.ts';
import { LEDGER_APP_DATA, type LedgerEvent, LedgerManager, isLedgerChannel, isRunningLedger } from './ledger-manager.ts';
import { ChannelCache } from './store/channel-cache.ts';
import type { ObjectiveRecord, ObjectiveStatus, ObjectiveType, Store, StoreChanges } from './store/types.ts';

export { EngineError } from './errors.ts';
export { LEDGER_APP_DATA, isLedgerChannel } from './ledger-manager.ts';

/**
 * The engine: one loop that runs every objective of one wallet (in the browser) or of the hub.
 * It feeds objectives their events — API calls, peers' messages, chain events — and performs
 * the effects they return, always after committing the step to the store. Events are handled
 * one at a time, in order.
 */
export interface EngineDeps {
  key: PrivateKey;
  store: Store;
  chain: ChainService;
  /** Delivers a protocol message to a peer (by the wallet's notification, the relay, …). */
  sendMessage: (to: Address, text: string) => void;
  /** What the dapp and the user see. */
  onChannelUpdated?: (summary: ChannelSummary) => void;
  /** `failure`: on a 'failed' stage caused by the chain (a deposit or conclusion refused), why, in fields. */
  onProgress?: (progress: { objectiveId: string; channelId: Bytes32; stage: ProgressStage; detail?: string; failure?: ChainFailure }) => void;
  /** A peer proposed a channel; the dapp may join (after the user approves) or reject it. */
  onChannelProposed?: (summary: ChannelSummary) => void;
  log?: (event: string, fields?: Record<string, string | number | boolean | undefined>) => void;
  /** How often to re-send what peers may lack while an objective waits on them. */
  resendIntervalMs?: number;
  /**
   * The chain's ConsensusApp and VirtualPaymentApp (lower-case). Needed for ledger channels (which
   * are ConsensusApp channels) and virtual payment channels; without them the engine runs direct
   * channels only.
   */
  apps?: { consensusApp: Address; virtualPaymentApp: Address };
  /**
   * A virtual channel through us (we are its hub) or to us (its payee) was proposed: approve it or
   * not. Default: approve when we are the payee (we lose nothing), refuse as a hub. May answer
   * later (a promise); meanwhile the proposal waits, stored.
   */
  approveVirtualChannel?: (proposal: VirtualChannelProposal) => VirtualApproval | Promise<VirtualApproval>;
  /** A payment (one voucher) was received and stored: `amount` this payment, `total` all paid so far in the channel. */
  onPaymentReceived?: (payment: { channelId: Bytes32; from: Address; amount: bigint; total: bigint }) => void;
  /** A virtual channel's status changed. */
  onVirtualChannelUpdated?: (summary: VirtualChannelSummary) => void;
  /** How many finished (closed or failed) virtual channels to keep in memory; older ones are read from the store when asked for. Default 1000. */
  keepFinishedVirtuals?: number;
  /**
   * Chain work of a funding objective that failed for a reason that passes (the RPC unreachable, a
   * deposit taken out by a reorganisation) is retried after `firstMs`, doubling up to `maxMs`,
   * each failure reported as a `retrying` progress. Default 1 s and 30 s.
   */
  chainRetry?: { firstMs?: number; maxMs?: number };
  /**
   * A dispute on one of our channels changed: a challenge (ours or a counterparty's) registered,
   * answered with a checkpoint, cleared, finalized and withdrawn, or failed; with `finalizesAt`
   * for a countdown.
   */
  onChallengeUpdated?: (update: ChallengeUpdate) => void;
  /** A budget exit without the hub (`exitBudget`) moved on: its stage and the countdown to `finalizesAt`. */
  onExitUpdated?: (update: ExitUpdate) => void;
  /** How often a registered challenge's channel status is read (to see it finalize, or a clear an event missed). Default 2000 ms; 0: never. */
  challengePollIntervalMs?: number;
}

export interface CreateLedgerChannelArgs {
  hub: Address;
  asset: Address;
  myAmount: bigint;
  hubAmount: bigint;
  challengeDuration: number;
  channelNonce?: bigint;
}

/** Our ledger channel with a counterparty (the hub, or for a hub a user), from our side. */
export interface Budget {
  /** The ledger's counterparty: the hub (for a hub's engine, the user). */
  hub: Address;
  ledgerId: Bytes32;
  asset: Address;
  /** Our free balance: what we can still put into virtual channels (less what ones being funded will take). */
  send: bigint;
  /** The counterparty's free balance toward us (likewise). */
  receive: bigint;
  /** In guarantees for virtual channels. */
  locked: bigint;
  status: ChannelSummary['status'];
}

export interface CreateVirtualChannelArgs {
  payee: Address;
  hub: Address;
  /** What the payer puts in (wei; ETH only): the most it can pay through the channel. */
  amount: bigint;
  /** Default: the ledger's. */
  challengeDuration?: number;
  channelNonce?: bigint;
}

export type VirtualChannelStatus = 'funding' | 'running' | 'closing' | 'closed' | 'failed';

export interface VirtualChannelSummary {
  channelId: Bytes32;
  payer: Address;
  payee: Address;
  hub: Address;
  /** What the payer put in. */
  amount: bigint;
  /** Paid so far: the largest voucher we sent (payer) or received (payee); the final state's payment for the hub. */
  paid: bigint;
  status: VirtualChannelStatus;
}

export interface VirtualChannelProposal {
  channelId: Bytes32;
  payer: Address;
  hub: Address;
  payee: Address;
  amount: bigint;
  challengeDuration: number;
  /** Our part in it. */
  role: 'hub' | 'payee';
  /** Our ledgers it would be funded from, before it: `left` with the payer (hub only), `right` with the payee (hub) or the hub (payee). */
  left?: Budget;
  right?: Budget;
}

export type VirtualApproval = boolean | { reject: string };

export interface ChannelSummary {
  channelId: Bytes32;
  participants: Address[];
  appDefinition: Address;
  turnNum: number;
  /** `challenged`: a dispute is under way on chain (ours or a counterparty's challenge); `closed` also after a challenge's withdrawal. */
  status: 'proposed' | 'funding' | 'running' | 'challenged' | 'closing' | 'closed' | 'rejected' | 'failed';
  asset: Address;
  /** Each participant's allocation in the latest supported (or proposed) state, hex-free bigints. */
  balances: bigint[];
  challengeDuration: number;
}

export interface CreateChannelArgs {
  counterparty: Address;
  asset: Address;
  myAmount: bigint;
  theirAmount: bigint;
  challengeDuration: number;
  appDefinition: Address;
  channelNonce?: bigint;
}

/** Runs `f` as a new task, after the tasks (e.g. incoming messages) already queued. */
const nextTask: (f: () => void) => void =
  typeof setImmediate === 'function'
    ? (f) => void setImmediate(f)
    : (() => {
        const channel = new MessageChannel();
        const queue: (() => void)[] = [];
        channel.port1.onmessage = () => queue.shift()?.();
        return (f: () => void) => {
          queue.push(f);
          channel.port2.postMessage(0);
        };
      })();

/** How many updates of one channel may wait for a countersignature at once; more calls queue. */
const MAX_UPDATES_IN_FLIGHT = 64;

const TERMINAL: Record<string, ObjectiveStatus> = { done: 'done', rejected: 'rejected', refused: 'refused', failed: 'failed', cleared: 'done' };

function typeOf(objectiveId: string): ObjectiveType {
  return objectiveId.split('-')[0] as ObjectiveType;
}

const isVirtualType = (t: ObjectiveType) => t === 'VirtualFund' || t === 'VirtualDefund';

/** Payments queued together for one channel go out in messages of at most this many vouchers. */
const VOUCHERS_PER_MESSAGE = MAX_PAYLOADS;

/** How many finished (closed or failed) virtual channels the engine keeps in memory; older ones are read from the store. */
const MAX_FINISHED_IN_MEMORY = 1000;

/** How many early V states (arriving before what they build on here) are kept per channel. */
const MAX_EARLY = 16;

/** A random 64-bit channel nonce (so concurrent channels of one wallet never collide). */
function randomNonce(): bigint {
  const b = new Uint8Array(8);
  globalThis.crypto.getRandomValues(b);
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

/** A virtual payment channel we are in, as the engine keeps it in memory (rebuilt from the store on start). */
interface VirtualEntry {
  channelId: Bytes32;
  payer: Address;
  hub: Address;
  payee: Address;
  amount: bigint;
  myIndex: number;
  ledgers: VirtualLedgers;
  prefund: State;
  /** The payer's and the payee's voucher book (its largest voucher is the one stored). */
  book?: VoucherBook;
  /** Payer: the largest amount the payee acknowledged, and when we last sent a voucher. */
  acked: bigint;
  sentAt: number;
  /** The status last reported. */
  status: VirtualChannelStatus;
  /** V states that came before what they build on here (a postfund before our prefund was complete, a close before our funding completed), handled once they apply. */
  early: { from: Address; payload: Payload }[];
}

export class Engine {
  private readonly actors = new Map<string, AnyActorRef>();
  /** Objective statuses and states as last committed, so channel summaries need no store reads. */
  private readonly committed = new Map<string, { status: ObjectiveStatus; value: string; error?: string }>();
  /** Objectives looked up and found not to exist (the engine creates every objective itself). */
  private readonly absent = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private stopWatching: (() => void) | undefined;
  private resendTimer: ReturnType<typeof setInterval> | undefined;
  private challengeTimer: ReturnType<typeof setInterval> | undefined;
  private exitTimer: ReturnType<typeof setInterval> | undefined;
  /** Performs budget exits' transactions (engine/src/virtual-exit.ts). */
  private readonly exits: ExitRunner;
  private stopped = false;
  readonly address: Address;
  private readonly store: ChannelCache;
  private readonly ledgers: LedgerManager;
  /** Every virtual channel we are in, by id. */
  private readonly virtuals = new Map<Bytes32, VirtualEntry>();
  /** Virtual channels whose funding is under way (for the budgets' reservations). */
  private readonly fundingVirtuals = new Set<Bytes32>();
  /** Virtual channel proposals refused without storing anything (so repeats are refused quietly). */
  private readonly refusedVirtuals = new Set<Bytes32>();

  private readonly deps: EngineDeps;

  constructor(deps: EngineDeps) {
    // Addresses are compared as the core writes them: lower-case.
    const { apps } = deps;
    this.deps = apps ? { ...deps, apps: { consensusApp: apps.consensusApp.toLowerCase() as Address, virtualPaymentApp: apps.virtualPaymentApp.toLowerCase() as Address } } : deps;
    this.address = deps.key.address;
    this.store = new ChannelCache(deps.store);
    this.exits = new ExitRunner(
      this.deps.chain,
      (id, event) => this.serial(() => this.toObjective(id, event)),
      (id) => this.actors.get(id)?.getSnapshot().context as VirtualExitContext | undefined,
      (event, fields) => this.log(event, fields),
    );
    this.ledgers = new LedgerManager({
      key: deps.key,
      commit: async (channel) => {
        this.write({ channel });
        const notify = this.deps.onChannelUpdated;
        if (notify) {
          const summary = await this.summary(channel);
          this.afterCommit(() => notify(summary));
        }
      },
      send: (to, ledger) => this.post(to, { payloads: [], ledger }),
      reject: (from, e, context) => this.reject(from, e, context),
    });
  }

  /** Each objective machine, built once for our key (building one costs more than running a step). */
  private readonly machines = new Map<ObjectiveType, unknown>();

  private machineFor(type: ObjectiveType) {
    const known = this.machines.get(type);
    if (known) return known as ReturnType<typeof directFundMachine>;
    const { key } = this.deps;
    let machine: unknown;
    if (type === 'DirectFunding') machine = directFundMachine(key);
    else if (type === 'DirectDefunding') machine = directDefundMachine(key);
    else if (type === 'VirtualFund') machine = virtualFundMachine(key);
    else if (type === 'VirtualDefund') machine = virtualDefundMachine(key);
    else if (type === 'Challenge') machine = challengeMachine(key);
    else if (type === 'VirtualExit') machine = virtualExitMachine(key);
    else throw new EngineError('invalid', `no objective machine for ${type}`);
    this.machines.set(type, machine);
    return machine as ReturnType<typeof directFundMachine>;
  }

  private log(event: string, fields?: Record<string, string | number | boolean | undefined>) {
    this.deps.log?.(event, fields);
  }

  /**
   * Tasks run and the time spent in them (wall clock from start to end of each task, which with
   * an in-memory store is the engine's own CPU time): for capacity measurements and health.
   */
  readonly stats = { tasks: 0, busyMs: 0 };

  /**
   * Work started from a timer or a callback, which nothing awaits: its failure is logged, never
   * left as an unhandled rejection (which would end a Node process — the hub).
   */
  private background(p: Promise<unknown>, what: string): void {
    p.catch((e: unknown) => {
      if (this.stopped) return;
      this.log('engine.background-failed', { what, reason: (e instanceof Error ? e.message : String(e)).slice(0, 200) });
    });
  }

  /** Runs `f` every `ms`, in the background, skipping a tick while the last run (reading the chain, say) is still going. */
  private everyUnlessBusy(ms: number, what: string, f: () => Promise<unknown>): ReturnType<typeof setInterval> {
    let busy = false;
    return setInterval(() => {
      if (busy) return;
      busy = true;
      this.background(f().finally(() => (busy = false)), what);
    }, ms);
  }

  /** Runs `f` after everything queued before it; events never interleave. */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const timed = async () => {
      const t0 = performance.now();
      try {
        return await f();
      } finally {
        this.stats.tasks++;
        this.stats.busyMs += performance.now() - t0;
      }
    };
    const next = this.queue.then(timed, timed);
    this.queue = next.catch(() => undefined);
    return next;
  }

  // ---- Commits and effects ----------------------------------------------------------------------
  //
  // A step's commit is issued, not awaited: the engine goes on with the next event while the store
  // writes (so a durable store commits many steps in one sync), and everything that leaves the
  // engine — messages, chain transactions, callbacks — waits until every commit issued before it
  // is durable. What peers and the app see is therefore always covered by what is stored, as if
  // each step had awaited its commit. The in-memory views (ChannelCache, `committed`) are written
  // at once. A commit that fails stops the engine: memory is then ahead of the store.

  /** Commits issued, in order, and whether each is durable yet. */
  private readonly writes: { seq: number; done: boolean }[] = [];
  private issued = 0;
  /** Effects waiting for the commits issued before them. */
  private readonly gated: { needs: number; run: () => void }[] = [];

  /** Issues a commit; effects requested after this wait for it. */
  private write(changes: StoreChanges): void {
    const entry = { seq: ++this.issued, done: false };
    this.writes.push(entry);
    this.store.commit(changes).then(
      () => {
        entry.done = true;
        while (this.writes.length > 0 && this.writes[0]!.done) this.writes.shift();
        this.flushGated();
      },
      (e: unknown) => this.storeFailed(e),
    );
  }

  /** Runs `f` once every commit issued so far is durable (at once if none is pending). */
  private afterCommit(f: () => void): void {
    if (this.writes.length === 0 && this.gated.length === 0) return f();
    this.gated.push({ needs: this.issued, run: f });
  }

  private flushGated(): void {
    const durableUpTo = this.writes.length > 0 ? this.writes[0]!.seq - 1 : this.issued;
    while (this.gated.length > 0 && this.gated[0]!.needs <= durableUpTo) this.gated.shift()!.run();
  }

  /** Resolves once everything committed so far is durable and its effects performed. */
  private durable(): Promise<void> {
    return new Promise((resolve) => this.afterCommit(resolve));
  }

  private storeFailed(e: unknown): void {
    if (this.stopped) return;
    this.log('store.failed', { reason: (e instanceof Error ? e.message : String(e)).slice(0, 200) });
    this.gated.length = 0;
    this.stop();
  }

  /** Sends a protocol message once what it reflects is stored. */
  private post(to: Address, message: Omit<ProtocolMessage, 'from' | 'to'>): void {
    const text = serializeMessage({ from: this.address, to, ...message });
    this.afterCommit(() => this.deps.sendMessage(to, text));
  }

  /** Resumes every unfinished objective from the store and starts watching the chain. */
  async start(): Promise<void> {
    await this.serial(async () => {
      const active = await this.store.activeObjectives();
      for (const record of active) this.committed.set(record.id, { status: record.status, value: String((record.snapshot as { value?: unknown }).value) });
      await this.loadLedgersAndVirtuals();
      for (const record of active) {
        const actor = createActor(this.machineFor(record.type), { snapshot: record.snapshot } as never);
        actor.start();
        this.actors.set(record.id, actor);
        this.log('objective.resumed', { objective: record.id });
      }
    });
    this.stopWatching = this.deps.chain.watch(
      () => this.watchedChannels(),
      (event) => this.background(this.serial(() => this.onChainEvent(event)), 'chain event'),
      { onError: (error) => this.onWatchError(error) },
    );
    // Perform what a crash may have left unperformed, and refresh what the chain says.
    await this.serial(async () => {
      for (const [id, actor] of [...this.actors]) {
        await this.performOutbox(id, actor);
        await this.resumeOrRetry(id, actor, 0);
      }
      // Virtual objectives waiting on a ledger ask for their change again (the leader proposes
      // only what is not in flight; the follower needs to know what it may countersign), and the
      // leader re-sends what a reload interrupted.
      for (const [id, actor] of [...this.actors]) {
        const requests = this.pendingLedgerRequests(id, actor);
        if (requests.length) await this.deliverLedgerEvents(await this.ledgers.request(id, requests));
      }
      this.ledgers.resend();
    });
    // Virtual channel proposals a reload left unanswered are decided again.
    for (const [id, actor] of [...this.actors]) {
      if (typeOf(id) !== 'VirtualFund' || actor.getSnapshot().value !== 'awaitingApproval') continue;
      const e = this.virtuals.get((actor.getSnapshot().context as VirtualFundContext).channel.id);
      if (e) this.decideVirtual(id, e);
    }
    const interval = this.deps.resendIntervalMs ?? 2000;
    if (interval > 0) this.resendTimer = setInterval(() => this.background(this.serial(() => this.resendPending()), 'resend'), interval);
    const challengeInterval = this.deps.challengePollIntervalMs ?? 2000;
    if (challengeInterval > 0) this.challengeTimer = this.everyUnlessBusy(challengeInterval, 'challenge check', () => this.serial(() => this.checkChallenges()));
    // Budget exits: their channels' statuses are read outside the queue; what they show comes back as events.
    if (challengeInterval > 0) this.exitTimer = this.everyUnlessBusy(challengeInterval, 'exit poll', () => this.pollExits());
  }

  /** Stops the engine: timers, chain watching, objectives. Messages arriving afterwards are ignored; payments refused. */
  stop(): void {
    this.stopped = true;
    this.stopWatching?.();
    if (this.resendTimer) clearInterval(this.resendTimer);
    if (this.challengeTimer) clearInterval(this.challengeTimer);
    if (this.exitTimer) clearInterval(this.exitTimer);
    for (const r of this.chainRetries.values()) clearTimeout(r.timer);
    for (const t of this.resumeTimers) clearTimeout(t);
    this.resumeTimers.clear();
    for (const waiting of this.challengeWaiters.values()) for (const w of waiting) w.reject(new EngineError('failed', 'the wallet stopped before the challenge was registered'));
    this.challengeWaiters.clear();
    this.chainRetries.clear();
    for (const a of this.actors.values()) a.stop();
    this.actors.clear();
  }

  /** Resolves when every event queued so far has been handled. */
  idle(): Promise<void> {
    return this.serial(() => this.durable());
  }

  /** Ledgers and virtual channels from the store, as they were left. */
  private async loadLedgersAndVirtuals(): Promise<void> {
    const consensusApp = this.deps.apps?.consensusApp;
    for (const channel of await this.store.listChannels()) {
      if (isLedgerChannel(channel, consensusApp) && isRunningLedger(channel)) {
        const defund = await this.store.getObjective(objectiveIds.directDefunding(channel.id));
        if (!defund) this.ledgers.adopt(channel);
        continue;
      }
      if (channel.fixedPart.participants.length !== 3) continue;
      const fund = await this.store.getObjective(objectiveIds.virtualFunding(channel.id));
      if (!fund) continue;
      const defund = await this.store.getObjective(objectiveIds.virtualDefunding(channel.id));
      this.committed.set(fund.id, { status: fund.status, value: String((fund.snapshot as { value?: unknown }).value), ...(fund.error ? { error: fund.error } : {}) });
      if (defund) this.committed.set(defund.id, { status: defund.status, value: String((defund.snapshot as { value?: unknown }).value), ...(defund.error ? { error: defund.error } : {}) });
      const ctx = (fund.snapshot as { context: VirtualFundContext }).context;
      const entry = this.registerVirtual(channel, ctx.prefund, ctx.ledgers);
      if (entry.book) {
        const voucher = await this.store.getVoucher(channel.id);
        if (voucher) entry.book = { ...entry.book, paid: voucher.amount, largest: voucher };
        if (defund) entry.book = closeVoucherBook(entry.book);
        // The payer does not know what the payee got before the reload: the latest voucher goes again at the first tick.
      }
      entry.status = this.virtualStatus(entry);
      if (entry.status !== 'funding') this.fundingVirtuals.delete(entry.channelId);
      if (entry.status === 'closed' || entry.status === 'failed') this.finished(entry.channelId);
    }
  }

  /** What an active virtual objective waits for from its ledgers (after a reload). */
  private pendingLedgerRequests(id: string, actor: AnyActorRef): { ledgerId: Bytes32; change: ReturnType<typeof removalFor> }[] {
    const type = typeOf(id);
    const snap = actor.getSnapshot();
    if (type === 'VirtualFund' && snap.value === 'funding') {
      const ctx = snap.context as VirtualFundContext;
      return sidesOf(ctx.channel.myIndex).map((side) => ({ ledgerId: ctx.ledgers[side]!, change: { type: 'add', guarantee: guaranteeFor(ctx.prefund, side) } }));
    }
    if (type === 'VirtualDefund' && snap.value === 'defunding') {
      const ctx = snap.context as VirtualDefundContext;
      const final = stateAt(ctx.channel, FINAL_TURN);
      if (!final) return [];
      return sidesOf(ctx.channel.myIndex).map((side) => ({ ledgerId: ctx.ledgers[side]!, change: removalFor(final.state) }));
    }
    return [];
  }

  // ---- API ---------------------------------------------------------------------------------

  /** Proposes and (already approved by the user) starts funding a direct channel. */
  createChannel(args: CreateChannelArgs): Promise<Bytes32> {
    return this.serial(() =>
      this.proposeDirect({
        participants: [this.address, args.counterparty],
        amounts: [args.myAmount, args.theirAmount],
        asset: args.asset,
        appDefinition: args.appDefinition,
        appData: '0x',
        challengeDuration: args.challengeDuration,
        channelNonce: args.channelNonce,
      }),
    );
  }

  /**
   * `depositOrder`: the participants' indices in the order their allocations (and so their
   * deposits, which go in turn) come; default the participants' own order.
   */
  private async proposeDirect(a: { participants: Address[]; amounts: bigint[]; asset: Address; appDefinition: Address; appData: Hex; challengeDuration: number; channelNonce: bigint | undefined; depositOrder?: number[] }): Promise<Bytes32> {
    const me = this.address;
    const prefund: State = {
      participants: a.participants,
      channelNonce: a.channelNonce ?? randomNonce(),
      appDefinition: a.appDefinition,
      challengeDuration: a.challengeDuration,
      outcome: [
        {
          asset: a.asset,
          assetMetadata: { assetType: 0, metadata: '0x' },
          allocations: (a.depositOrder ?? a.participants.map((_, i) => i)).map((i) => ({ destination: addressToDestination(a.participants[i]!), amount: a.amounts[i]!, allocationType: AllocationType.simple, metadata: '0x' as const })),
        },
      ],
      appData: a.appData,
      turnNum: 0,
      isFinal: false,
    };
    const channel = newChannel(prefund, me);
    if (await this.store.getChannel(channel.id)) throw new EngineError('invalid', `channel ${channel.id} exists already`);
    const actor = this.spawn('DirectFunding', { channel });
    actor.send({ type: 'APPROVE' });
    await this.step(objectiveIds.directFunding(channel.id), actor);
    return channel.id;
  }

  /**
   * Proposes a ledger channel with a hub (the user approved it): `[hub, me]`, so the hub leads it;
   * ConsensusApp; funded by deposits in turn, ours first (our allocation comes first). The hub sees an ordinary channel
   * proposal. One open ledger per hub and asset.
   */
  createLedgerChannel(args: CreateLedgerChannelArgs): Promise<Bytes32> {
    return this.serial(async () => {
      const consensusApp = this.requireApps().consensusApp;
      if (args.hub === this.address) throw new EngineError('invalid', 'a ledger channel is with a hub, not with ourselves');
      for (const c of await this.store.listChannels()) {
        if (!isLedgerChannel(c, consensusApp) || !c.fixedPart.participants.includes(args.hub) || latest(c).state.outcome[0]?.asset !== args.asset) continue;
        const s = await this.summary(c);
        if (!['closed', 'rejected', 'failed'].includes(s.status)) throw new EngineError('not-allowed', `there is already a ledger channel ${c.id} with ${args.hub} in asset ${args.asset} (${s.status})`);
      }
      return this.proposeDirect({
        participants: [args.hub, this.address],
        amounts: [args.hubAmount, args.myAmount],
        // The user deposits first, the hub after: a user who never deposits cannot strand the
        // hub's deposit (the hub leads the ledger's updates all the same).
        depositOrder: [1, 0],
        asset: args.asset,
        appDefinition: consensusApp,
        appData: LEDGER_APP_DATA,
        challengeDuration: args.challengeDuration,
        channelNonce: args.channelNonce,
      });
    });
  }

  /**
   * Exits the budget with `hub` on chain without the hub (it does not answer): challenges the
   * ledger with its latest supported state and every virtual channel it guarantees (the payee
   * with a redemption of the largest voucher stored), reclaims each guarantee once all have
   * finalized, and transfers the ledger's assets (objectives/virtual-exit.ts). Resolves with the
   * objective's id at once (it takes at least the challenge duration: follow it with
   * `onExitUpdated` and `objectiveSettled`); asking again returns the exit under way.
   */
  async exitBudget(hub: Address): Promise<string> {
    return this.serial(async () => {
      const budget = await this.getBudget(hub);
      if (!budget) throw new EngineError('unknown-channel', `no budget with ${hub}`);
      const id = exitObjectiveId(budget.ledgerId);
      if (this.actors.has(id)) return id;
      const done = await this.store.getObjective(id);
      // A failed exit may be tried again (it checks the chain before every transaction).
      if (done && done.status !== 'failed') throw new EngineError('not-allowed', `the budget with ${hub} has already been exited on chain (${done.status})`);
      const ledger = await this.store.getChannel(budget.ledgerId);
      const supported = ledger && latestSupported(ledger);
      if (!ledger || !supported) throw new EngineError('not-allowed', `the budget with ${hub} has no supported ledger state`);
      // Every virtual channel the ledger's supported state guarantees, read from the store (one
      // that finished long ago may no longer be in memory).
      const virtuals: VirtualExitInput['virtuals'] = [];
      for (const vId of guaranteeTargets(supported.state.outcome)) {
        const channel = await this.store.getChannel(vId);
        if (!channel) continue;
        const voucher = await this.store.getVoucher(vId);
        virtuals.push(voucher ? { channel, voucher } : { channel });
      }
      const input: VirtualExitInput = { ledger, virtuals };
      try {
        requireExitable(input);
      } catch (err) {
        throw new EngineError('not-allowed', err instanceof Error ? err.message : String(err));
      }
      // The ledger takes no more proposals: the exit settles it by the state it challenges with.
      if (this.ledgers.has(budget.ledgerId)) await this.deliverLedgerEvents(this.ledgers.retire(budget.ledgerId));
      const actor = this.spawn('VirtualExit', input);
      this.log('exit.started', { objective: id, ledger: budget.ledgerId, virtuals: virtuals.length });
      await this.step(id, actor);
      return id;
    });
  }

  /** The latest report of each budget exit, by ledger. */
  private readonly exitUpdates = new Map<Bytes32, ExitUpdate>();

  /** Where the exit of the budget with `hub` stands; undefined if it was never exited on chain. */
  async getBudgetExit(hub: Address): Promise<ExitUpdate | undefined> {
    const budget = await this.getBudget(hub);
    if (!budget) return undefined;
    const known = this.exitUpdates.get(budget.ledgerId);
    if (known) return known;
    // Not reported since this engine started: what the stored objective says.
    const record = await this.store.getObjective(exitObjectiveId(budget.ledgerId));
    if (!record) return undefined;
    const ctx = (record.snapshot as { context: VirtualExitContext }).context;
    return { ledgerId: budget.ledgerId, stage: ctx.stage, finalizesAt: ctx.ledger.registered?.finalizesAt ?? 0, channels: [] };
  }

  /** Reads the statuses of every budget exit under way (outside the queue) and reports them. */
  private async pollExits(): Promise<void> {
    for (const id of [...this.actors.keys()]) if (typeOf(id) === 'VirtualExit') await this.exits.poll(id);
  }

  /** Our ledger channel with `counterparty` (a running one first), from our side; undefined if none. */
  async getBudget(counterparty: Address): Promise<Budget | undefined> {
    const running = this.ledgers.ledgersWith(counterparty, { asset: ZERO_ADDRESS })[0] ?? this.ledgers.ledgersWith(counterparty)[0];
    if (running) return this.budgetOf(running);
    const consensusApp = this.deps.apps?.consensusApp;
    let found: Budget | undefined;
    for (const c of await this.store.listChannels()) {
      if (!isLedgerChannel(c, consensusApp) || !c.fixedPart.participants.includes(counterparty)) continue;
      const s = await this.summary(c);
      const budget: Budget = { hub: counterparty, ledgerId: c.id, asset: s.asset, send: s.balances[c.myIndex] ?? 0n, receive: s.balances[1 - c.myIndex] ?? 0n, locked: 0n, status: s.status };
      if (!found || (['closed', 'rejected', 'failed'].includes(found.status) && !['closed', 'rejected', 'failed'].includes(s.status))) found = budget;
    }
    return found;
  }

  /** A running ledger's balances from our side, less what virtual channels being funded will take. */
  private budgetOf(ledgerId: Bytes32): Budget {
    const b = this.ledgers.balances(ledgerId)!;
    const channel = this.store.cached(ledgerId)!;
    const reserved = this.reservedOn(ledgerId, channel);
    const me = channel.myIndex;
    return { hub: channel.fixedPart.participants[1 - me]!, ledgerId, asset: b.asset, send: b.free[me]! - reserved[me]!, receive: b.free[1 - me]! - reserved[1 - me]!, locked: b.locked, status: 'running' };
  }

  /** Per ledger participant, what virtual channels approved and being funded will take from the ledger, not yet in it. */
  private reservedOn(ledgerId: Bytes32, ledger: Channel): [bigint, bigint] {
    const out: [bigint, bigint] = [0n, 0n];
    for (const vid of this.fundingVirtuals) {
      const e = this.virtuals.get(vid);
      if (!e) continue;
      const side = e.ledgers.left === ledgerId ? 'left' : e.ledgers.right === ledgerId ? 'right' : undefined;
      if (!side || this.ledgers.holds(ledgerId, vid)) continue;
      const fundId = objectiveIds.virtualFunding(vid);
      if (this.committed.get(fundId)?.value === 'awaitingApproval') continue;
      const funder = ledgerParties(e.prefund, side)[0];
      const i = ledger.fixedPart.participants.indexOf(funder);
      if (i === 0 || i === 1) out[i] += e.amount;
    }
    return out;
  }

  /** The cooperative close of a ledger channel; refused while it holds guarantees or has changes in flight. */
  closeLedgerChannel(ledgerId: Bytes32): Promise<void> {
    return this.closeChannel(ledgerId);
  }

  // ---- Virtual payment channels ---------------------------------------------------------------

  private requireApps(): NonNullable<EngineDeps['apps']> {
    if (!this.deps.apps) throw new EngineError('not-allowed', 'this engine was not given the ConsensusApp and VirtualPaymentApp addresses (deps.apps)');
    return this.deps.apps;
  }

  /**
   * Opens a virtual payment channel to `payee` through `hub`, funded by our ledger with the hub
   * (no chain transaction). Resolves with its id once funded (its postfund signed by all three);
   * rejects with an EngineError saying why it could not be.
   */
  async createVirtualChannel(args: CreateVirtualChannelArgs): Promise<Bytes32> {
    const channelId = await this.serial(async () => {
      const { virtualPaymentApp } = this.requireApps();
      if (typeof args.amount !== 'bigint' || args.amount <= 0n) throw new EngineError('invalid', 'the amount must be a positive bigint (wei)');
      const exiting = (await this.getBudget(args.hub))?.ledgerId;
      if (exiting && (this.actors.has(exitObjectiveId(exiting)) || (await this.store.getObjective(exitObjectiveId(exiting))))) throw new EngineError('not-allowed', `the budget with the hub ${args.hub} is being exited on chain`);
      const ledgerId = this.ledgers.ledgersWith(args.hub, { leader: 'them', asset: ZERO_ADDRESS })[0];
      if (!ledgerId) throw new EngineError('not-allowed', `no running ledger channel in ETH with the hub ${args.hub}`);
      const budget = this.budgetOf(ledgerId);
      if (budget.send < args.amount) throw new EngineError('not-allowed', `not enough free balance in the ledger with the hub: ${budget.send} wei free, ${args.amount} wei needed`);
      const ledger = this.store.cached(ledgerId)!;
      const me = this.address;
      const prefund: State = {
        participants: [me, args.hub, args.payee],
        channelNonce: args.channelNonce ?? randomNonce(),
        appDefinition: virtualPaymentApp,
        challengeDuration: args.challengeDuration ?? ledger.fixedPart.challengeDuration,
        outcome: [
          {
            asset: ZERO_ADDRESS,
            assetMetadata: { assetType: 0, metadata: '0x' },
            allocations: [
              { destination: addressToDestination(me), amount: args.amount, allocationType: AllocationType.simple, metadata: '0x' },
              { destination: addressToDestination(args.payee), amount: 0n, allocationType: AllocationType.simple, metadata: '0x' },
            ],
          },
        ],
        appData: '0x',
        turnNum: 0,
        isFinal: false,
      };
      try {
        requireVirtualPrefund(prefund);
      } catch (e) {
        if (e instanceof CoreError) throw new EngineError('invalid', e.message);
        throw e;
      }
      const channel = newChannel(prefund, me);
      if (this.virtuals.has(channel.id) || (await this.store.getChannel(channel.id))) throw new EngineError('invalid', `channel ${channel.id} exists already`);
      const ledgers: VirtualLedgers = { left: ledgerId };
      this.registerVirtual(channel, prefund, ledgers);
      const actor = this.spawn('VirtualFund', { channel, ledgers });
      actor.send({ type: 'APPROVE' });
      await this.step(objectiveIds.virtualFunding(channel.id), actor);
      return channel.id;
    });
    const id = objectiveIds.virtualFunding(channelId);
    const status = await this.objectiveSettled(id);
    if (status !== 'done') throw new EngineError(status === 'rejected' ? 'rejected' : 'failed', this.committed.get(id)?.error ?? `the virtual channel's funding ended ${status}`);
    return channelId;
  }

  /**
   * Pays `amount` (wei) more through a running virtual channel we pay from: one voucher for the
   * new total, stored before it is sent. Calls made together are signed, stored once (the largest
   * voucher) and sent in one message. Resolves with the total paid once the voucher is sent.
   */
  pay(channelId: Bytes32, amount: bigint): Promise<{ total: bigint }> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return reject(new EngineError('not-allowed', 'the engine is stopped'));
      // A payment the budget's exit would not know of could only make it wait forever.
      if (this.exitUpdates.size > 0 && this.exitOf(channelId)) return reject(new EngineError('not-allowed', `the budget funding virtual channel ${channelId} is being exited on chain: no more payments`));
      this.queuedPayments.push({ channelId, amount, resolve, reject });
      if (this.paymentsScheduled) return;
      this.paymentsScheduled = true;
      nextTask(() => this.background(this.serial(() => this.sendQueuedPayments()), 'payments'));
    });
  }

  private readonly queuedPayments: { channelId: Bytes32; amount: bigint; resolve: (r: { total: bigint }) => void; reject: (e: Error) => void }[] = [];
  private paymentsScheduled = false;

  private async sendQueuedPayments(only?: Bytes32): Promise<void> {
    if (only === undefined) this.paymentsScheduled = false;
    const byChannel = new Map<Bytes32, typeof this.queuedPayments>();
    const rest: typeof this.queuedPayments = [];
    for (const p of this.queuedPayments.splice(0)) {
      if (only !== undefined && p.channelId !== only) {
        rest.push(p);
        continue;
      }
      const list = byChannel.get(p.channelId);
      if (list) list.push(p);
      else byChannel.set(p.channelId, [p]);
    }
    this.queuedPayments.push(...rest);
    for (const [channelId, calls] of byChannel) {
      const e = this.virtuals.get(channelId);
      let problem: EngineError | undefined;
      if (this.stopped) problem = new EngineError('not-allowed', 'the engine is stopped');
      else if (!e) problem = new EngineError('unknown-channel', `no virtual channel ${channelId}`);
      else if (e.myIndex !== PAYER || !e.book) problem = new EngineError('not-allowed', `we do not pay from virtual channel ${channelId}`);
      else if (e.book.closed) problem = new EngineError('not-allowed', `virtual channel ${channelId} is closing: no more payments`);
      else if (e.status !== 'running') problem = new EngineError('not-allowed', `virtual channel ${channelId} is not running (${e.status})`);
      if (problem) {
        for (const c of calls) c.reject(problem);
        continue;
      }
      const entry = e!;
      let book = entry.book!;
      const vouchers: Voucher[] = [];
      const paid: [(typeof calls)[number], bigint][] = [];
      for (const call of calls) {
        try {
          const next = payVoucher(book, call.amount, this.deps.key);
          book = next.book;
          vouchers.push(next.voucher);
          paid.push([call, next.voucher.amount]);
        } catch (err) {
          call.reject(err instanceof CoreError ? new EngineError(err.code === 'insufficient-funds' ? 'not-allowed' : 'invalid', err.message) : (err as Error));
        }
      }
      if (vouchers.length === 0) continue;
      this.write({ voucher: book.largest! });
      entry.book = book;
      entry.sentAt = Date.now();
      for (let i = 0; i < vouchers.length; i += VOUCHERS_PER_MESSAGE) this.post(entry.payee, { payloads: [], vouchers: vouchers.slice(i, i + VOUCHERS_PER_MESSAGE) });
      this.afterCommit(() => {
        for (const [call, total] of paid) call.resolve({ total });
      });
    }
  }

  /**
   * Vouchers from `from` for one channel (in the order received). The payee checks each (for this
   * channel, from its payer, larger than the last, within the channel, signed by the payer),
   * stores the largest once, then reports each payment and acknowledges; the payer takes a
   * voucher from the payee as its acknowledgement.
   */
  private async onVouchers(from: Address, channelId: Bytes32, vouchers: Voucher[]): Promise<void> {
    const e = this.virtuals.get(channelId);
    const refuse = (why: string) => {
      for (const v of vouchers) this.reject(from, new EngineError('invalid', `voucher ${v.amount} for ${channelId}: ${why}`), 'voucher');
    };
    if (!e || !e.book) return refuse(e ? 'we hold no voucher book for it (we are its hub)' : 'a channel we do not hold');
    if (e.myIndex === PAYER && from === e.payee) {
      for (const v of vouchers) if (v.amount <= e.book.paid && v.amount > e.acked) e.acked = v.amount;
      return;
    }
    if (e.myIndex !== PAYEE || from !== e.payer) return refuse('not from the channel’s payer');
    if (e.book.closed) return refuse('the channel is closed: no more vouchers');
    const fund = this.committed.get(objectiveIds.virtualFunding(channelId));
    if (!fund || fund.status !== 'done' && fund.value !== 'postfund') return refuse('the channel is not funded yet');
    let repeated = false;
    // The largest voucher of the batch is checked; the smaller ones are covered by it.
    const held = e.book.largest;
    const taken = receiveVouchers(e.book, vouchers);
    const { book, accepted } = taken;
    const same = (a: Voucher | undefined, v: Voucher) => a !== undefined && v.amount === a.amount && v.signature.r === a.signature.r && v.signature.s === a.signature.s && v.signature.v === a.signature.v;
    for (const { voucher: v, error: err } of taken.refused) {
      if (same(held, v) || same(book.largest, v)) {
        // The payer sent a voucher we hold again (our acknowledgement was lost).
        repeated = true;
        this.log('voucher.repeated', { from, channel: channelId, amount: v.amount.toString() });
        continue;
      }
      this.reject(from, err instanceof CoreError ? err : new EngineError('invalid', `voucher ${v.amount} for ${channelId}: ${(err as Error).message}`), 'voucher');
    }
    if (accepted.length > 0) {
      this.write({ voucher: book.largest! });
      e.book = book;
      const report = this.deps.onPaymentReceived;
      if (report) {
        this.afterCommit(() => {
          for (const { voucher, increment } of accepted) report({ channelId, from, amount: increment, total: voucher.amount });
        });
      }
    }
    // Acknowledged at the next resend tick (one message for many payments), or at once when the
    // payer is evidently re-sending.
    if (accepted.length > 0) this.unacknowledged.add(channelId);
    if (repeated) this.acknowledge(e);
  }

  /** Payee: channels with vouchers received since we last acknowledged. */
  private readonly unacknowledged = new Set<Bytes32>();

  private acknowledge(e: VirtualEntry): void {
    this.unacknowledged.delete(e.channelId);
    if (e.book?.largest) this.post(e.payer, { payloads: [], vouchers: [e.book.largest] });
  }

  /**
   * Closes a running virtual channel we pay from or are paid through (the hub cannot: it holds no
   * voucher): V's final state from the largest voucher, then each ledger removes the guarantee.
   * Resolves when our ledger(s) no longer hold it.
   */
  async closeVirtualChannel(channelId: Bytes32): Promise<void> {
    const id = objectiveIds.virtualDefunding(channelId);
    // Funded as far as we are concerned (we signed the postfund, maybe were paid) but still waiting
    // for a signature: the close follows the funding.
    const fundId = objectiveIds.virtualFunding(channelId);
    if (this.virtuals.get(channelId)?.status === 'funding' && this.committed.get(fundId)?.value === 'postfund') {
      const status = await this.objectiveSettled(fundId);
      if (status !== 'done') throw new EngineError('not-allowed', `virtual channel ${channelId} was never funded (${status})`);
    }
    await this.serial(async () => {
      const e = this.virtuals.get(channelId);
      if (!e) throw new EngineError('unknown-channel', `no virtual channel ${channelId}`);
      if (e.myIndex === HUB) throw new EngineError('not-allowed', 'the hub holds no voucher: the payer or the payee closes a virtual channel');
      if (this.actors.has(id) || this.committed.has(id)) return; // already closing (maybe started by the other side)
      if (e.status !== 'running') throw new EngineError('not-allowed', `virtual channel ${channelId} is not running (${e.status})`);
      // Payments asked for before the close go out first.
      await this.sendQueuedPayments(channelId);
      const channel = await this.store.getChannel(channelId);
      if (!channel) throw new EngineError('unknown-channel', `no virtual channel ${channelId}`);
      e.book = closeVoucherBook(e.book!);
      const voucher = e.book.largest;
      const actor = this.spawn('VirtualDefund', { channel, ledgers: e.ledgers, role: 'proposer', ...(voucher ? { voucher } : {}) });
      await this.step(id, actor);
    });
    const status = await this.objectiveSettled(id);
    if (status !== 'done') throw new EngineError('failed', this.committed.get(id)?.error ?? `the close ended ${status}`);
  }

  async getVirtualChannel(channelId: Bytes32): Promise<VirtualChannelSummary | undefined> {
    const e = this.virtuals.get(channelId);
    if (e) return this.virtualSummary(e);
    const channel = await this.store.getChannel(channelId);
    return channel && channel.fixedPart.participants.length === 3 ? this.storedVirtualSummary(channel) : undefined;
  }

  /** Every virtual channel we are in (finished ones no longer in memory are read from the store). */
  async listVirtualChannels(): Promise<VirtualChannelSummary[]> {
    const out = [...this.virtuals.values()].map((e) => this.virtualSummary(e));
    for (const id of this.store.evictedIds()) {
      const c = await this.store.getChannel(id);
      const summary = c && (await this.storedVirtualSummary(c));
      if (summary) out.push(summary);
    }
    return out;
  }

  /** Finished virtual channels still held in memory, oldest first. */
  private readonly finishedVirtuals: Bytes32[] = [];

  /**
   * A virtual channel closed or failed here. The most recent ones stay in memory; older ones are
   * dropped from it (a hub finishes many), to be read from the store when asked for.
   */
  private finished(channelId: Bytes32): void {
    this.finishedVirtuals.push(channelId);
    while (this.finishedVirtuals.length > (this.deps.keepFinishedVirtuals ?? MAX_FINISHED_IN_MEMORY)) {
      const id = this.finishedVirtuals.shift()!;
      const e = this.virtuals.get(id);
      if (!e || (e.status !== 'closed' && e.status !== 'failed') || this.actors.has(objectiveIds.virtualFunding(id)) || this.actors.has(objectiveIds.virtualDefunding(id))) continue;
      this.virtuals.delete(id);
      this.fundingVirtuals.delete(id);
      this.committed.delete(objectiveIds.virtualFunding(id));
      this.committed.delete(objectiveIds.virtualDefunding(id));
      this.store.evict(id);
    }
  }

  /** The summary of a virtual channel no longer in memory, from the store. */
  private async storedVirtualSummary(channel: Channel): Promise<VirtualChannelSummary | undefined> {
    const [fund, defund] = await Promise.all([this.store.getObjective(objectiveIds.virtualFunding(channel.id)), this.store.getObjective(objectiveIds.virtualDefunding(channel.id))]);
    if (!fund) return undefined;
    const prefund = (fund.snapshot as { context: VirtualFundContext }).context.prefund;
    const [payer, hub, payee] = prefund.participants as [Address, Address, Address];
    let status: VirtualChannelStatus = fund.status === 'active' ? 'funding' : fund.status === 'done' ? 'running' : 'failed';
    if (defund) status = defund.status === 'done' ? 'closed' : defund.status === 'active' ? 'closing' : 'failed';
    const final = stateAt(channel, FINAL_TURN);
    const voucher = channel.myIndex === HUB ? undefined : await this.store.getVoucher(channel.id);
    const paid = voucher?.amount ?? (final ? final.state.outcome[0]!.allocations[1]!.amount : 0n);
    return { channelId: channel.id, payer, payee, hub, amount: prefund.outcome[0]!.allocations[0]!.amount, paid, status };
  }

  private registerVirtual(channel: Channel, prefund: State, ledgers: VirtualLedgers): VirtualEntry {
    const [payer, hub, payee] = prefund.participants as [Address, Address, Address];
    const entry: VirtualEntry = {
      channelId: channel.id,
      payer,
      hub,
      payee,
      amount: prefund.outcome[0]!.allocations[0]!.amount,
      myIndex: channel.myIndex,
      ledgers,
      prefund,
      acked: 0n,
      sentAt: 0,
      status: 'funding',
      early: [],
    };
    if (channel.myIndex !== HUB) entry.book = newVoucherBook(prefund);
    this.virtuals.set(channel.id, entry);
    this.fundingVirtuals.add(channel.id);
    return entry;
  }

  private virtualStatus(e: VirtualEntry): VirtualChannelStatus {
    const defund = this.committed.get(objectiveIds.virtualDefunding(e.channelId));
    if (defund) return defund.status === 'done' ? 'closed' : defund.status === 'active' ? 'closing' : 'failed';
    const fund = this.committed.get(objectiveIds.virtualFunding(e.channelId));
    if (!fund || fund.status === 'active') return 'funding';
    return fund.status === 'done' ? 'running' : 'failed';
  }

  private virtualSummary(e: VirtualEntry): VirtualChannelSummary {
    let paid = e.book?.paid ?? 0n;
    if (!e.book) {
      const final = this.store.cached(e.channelId) && stateAt(this.store.cached(e.channelId)!, FINAL_TURN);
      if (final) paid = final.state.outcome[0]!.allocations[1]!.amount;
    }
    return { channelId: e.channelId, payer: e.payer, payee: e.payee, hub: e.hub, amount: e.amount, paid, status: e.status };
  }

  /** Joins a channel a peer proposed (the user approved), or rejects it. */
  joinChannel(channelId: Bytes32, approve: true | { reject: string }): Promise<void> {
    return this.serial(async () => {
      const id = objectiveIds.directFunding(channelId);
      const actor = this.actors.get(id);
      if (!actor || actor.getSnapshot().value !== 'awaitingApproval') throw new EngineError('unknown-channel', `no channel proposal ${channelId} awaits an answer`);
      actor.send(approve === true ? { type: 'APPROVE' } : { type: 'REJECT', reason: approve.reject });
      await this.step(id, actor);
      if (approve === true) await this.refreshHoldings(id, actor);
    });
  }

  /**
   * Proposes a new outcome for a running channel; resolves once the counterparty countersigned
   * it and both stored it. Calls made while others are in flight are pipelined: each is signed on
   * its own turn, the ones queued together are committed and sent together.
   */
  updateChannel(channelId: Bytes32, outcome: Exit, appData?: `0x${string}`): Promise<ChannelSummary> {
    return new Promise((resolve, reject) => {
      if (appData === LEDGER_APP_DATA) return reject(new EngineError('invalid', 'an update may not carry the ledger mark as its appData'));
      this.queuedProposals.push({ channelId, outcome, appData, resolve, reject });
      this.scheduleProposals();
    });
  }

  /** Proposes new balances (one per participant, in order) for a running channel's single asset. */
  async updateBalances(channelId: Bytes32, balances: bigint[], appData?: `0x${string}`): Promise<ChannelSummary> {
    const channel = await this.store.getChannel(channelId);
    if (!channel) throw new EngineError('unknown-channel', `no channel ${channelId}`);
    const supported = latestSupported(channel);
    if (!supported) throw new EngineError('not-allowed', `channel ${channelId} is not running`);
    const { participants } = channel.fixedPart;
    if (balances.length !== participants.length) throw new EngineError('invalid', `expected ${participants.length} balances, got ${balances.length}`);
    if (supported.state.outcome.length !== 1) throw new EngineError('invalid', 'balances can only be given for a single-asset channel');
    const exit = supported.state.outcome[0]!;
    const outcome: Exit = [
      {
        ...exit,
        allocations: participants.map((p, i) => ({ destination: addressToDestination(p), amount: balances[i]!, allocationType: AllocationType.simple, metadata: '0x' as const })),
      },
    ];
    return this.updateChannel(channelId, outcome, appData);
  }

  /**
   * Starts a cooperative close (the user approved it). A channel whose funding failed part-way
   * can be closed too, from its prefund state: the adjudicator pays back what was deposited, in
   * allocation order, so no deposit is left stranded.
   */
  closeChannel(channelId: Bytes32): Promise<void> {
    return this.serial(async () => {
      const channel = await this.closableChannel(channelId);
      const actor = this.spawn('DirectDefunding', { channel, role: 'proposer' });
      await this.step(objectiveIds.directDefunding(channelId), actor);
    });
  }

  // ---- Disputes (core/src/objectives/challenge.ts) -----------------------------------------------

  /** The last dispute update per channel, for `getChallenge`. */
  private readonly challenges = new Map<Bytes32, ChallengeUpdate>();
  /** Callers of `challengeChannel` waiting for their challenge to be registered (or to fail). */
  private readonly challengeWaiters = new Map<Bytes32, { resolve: (u: ChallengeUpdate) => void; reject: (e: Error) => void }[]>();
  /** Dispute objectives with a chain transaction under way in this process (so nothing runs it twice). */
  private readonly disputeTxs = new Set<string>();

  /**
   * Challenges a running direct or ledger channel on chain with our latest supported state (the
   * user approved it). Resolves once the challenge is registered, with when it finalizes; the
   * engine then withdraws with `transferAllAssets` once it has, unless a newer state clears it.
   * Refused (nothing stored) for an unknown channel, one that is not running, and one already
   * under a challenge (ours or registered on chain).
   */
  challengeChannel(channelId: Bytes32): Promise<ChallengeUpdate> {
    return new Promise((resolve, reject) => {
      this.serial(async () => {
        const channel = await this.store.getChannel(channelId);
        if (!channel || this.isVirtualChannel(channel)) throw new EngineError('unknown-channel', `no direct or ledger channel ${channelId}`);
        const id = objectiveIds.challenge(channelId);
        const current = this.actors.get(id);
        if (current && !current.getSnapshot().hasTag('terminal')) throw new EngineError('not-allowed', `channel ${channelId} is already being challenged`);
        const summary = await this.summary(channel);
        if (summary.status !== 'running') throw new EngineError('not-allowed', `channel ${channelId} is not running (${summary.status})`);
        for (const other of this.actors.keys()) if (other.includes(channelId)) throw new EngineError('busy', `channel ${channelId} is busy with ${other}`);
        if (this.updateWaiters.get(channelId)?.size) throw new EngineError('busy', `channel ${channelId} has updates waiting for a countersignature`);
        const blocker = this.ledgers.closeBlocker(channelId) ?? this.virtualFundedFrom(channelId);
        if (blocker) throw new EngineError('busy', `${blocker}: it cannot be challenged alone (its virtual channels' exit is not supported yet)`);
        const status = await this.deps.chain.statusOf(channelId);
        if (status.finalizesAt > 0) throw new EngineError('not-allowed', `a challenge is already registered on channel ${channelId} (it finalizes at ${status.finalizesAt})`);
        // A ledger takes no more changes once it is challenged.
        if (this.ledgers.has(channelId)) await this.deliverLedgerEvents(this.ledgers.retire(channelId));
        this.challengeWaiters.set(channelId, [...(this.challengeWaiters.get(channelId) ?? []), { resolve, reject }]);
        await this.step(id, this.spawn('Challenge', { channel, challenger: 'us' }));
      }).catch((e: unknown) => {
        // Refused or failed before it was sent: this caller waits no more.
        const rest = (this.challengeWaiters.get(channelId) ?? []).filter((w) => w.reject !== reject);
        if (rest.length) this.challengeWaiters.set(channelId, rest);
        else this.challengeWaiters.delete(channelId);
        reject(e);
      });
    });
  }

  /** Where a dispute on the channel stands (the last one, when it is over); undefined if there never was one. */
  async getChallenge(channelId: Bytes32): Promise<ChallengeUpdate | undefined> {
    const known = this.challenges.get(channelId);
    if (known) return known;
    const record = await this.store.getObjective(objectiveIds.challenge(channelId));
    if (!record) return undefined;
    const snap = record.snapshot as { value: string; context: ChallengeContext };
    return challengeUpdateOf(snap.context, challengeStageOf(snap.value), snap.context.error ?? snap.context.lastError);
  }

  /** The channels whose adjudicator events we watch: every direct and ledger channel not finished, and every channel an objective works on. */
  private watchedChannels(): Bytes32[] {
    const ids = new Set<Bytes32>();
    for (const c of this.store.cachedChannels()) {
      if (this.isVirtualChannel(c) || !latestSupported(c)) continue;
      if (this.committed.get(objectiveIds.directDefunding(c.id))?.status === 'done' || this.committed.get(objectiveIds.challenge(c.id))?.value === 'done') continue;
      ids.add(c.id);
    }
    for (const [id, a] of this.actors) if (!isVirtualType(typeOf(id))) ids.add((a.getSnapshot().context as { channel: Channel }).channel.id);
    // A budget exit's virtual channels: a challenge registered there (the payee's redemption, say)
    // is what the exit must learn.
    for (const [id, a] of this.actors) {
      if (typeOf(id) !== 'VirtualExit' || a.getSnapshot().hasTag('terminal')) continue;
      for (const v of (a.getSnapshot().context as VirtualExitContext).virtuals) ids.add(v.channelId);
    }
    return [...ids];
  }

  private challengeUpdated(update: ChallengeUpdate): void {
    this.challenges.set(update.channelId, update);
    const notify = this.deps.onChallengeUpdated;
    if (notify) this.afterCommit(() => notify(update));
    if (update.stage === 'challenging') return;
    const waiting = this.challengeWaiters.get(update.channelId);
    if (!waiting) return;
    this.challengeWaiters.delete(update.channelId);
    this.afterCommit(() => {
      for (const w of waiting) {
        if (update.stage === 'failed') w.reject(new EngineError('failed', update.detail ?? 'the challenge failed'));
        else w.resolve(update);
      }
    });
  }

  /** The active budget exit that settles this ledger or virtual channel, if any. */
  private exitOf(channelId: Bytes32): string | undefined {
    for (const [id, a] of this.actors) {
      if (typeOf(id) !== 'VirtualExit' || a.getSnapshot().hasTag('terminal')) continue;
      const ctx = a.getSnapshot().context as VirtualExitContext;
      if (ctx.ledger.channelId === channelId || ctx.virtuals.some((v) => v.channelId === channelId)) return id;
    }
    return undefined;
  }

  /** A ChallengeRegistered or ChallengeCleared event for one of our channels. */
  private async onDisputeEvent(event: Extract<ChainEvent, { type: 'ChallengeRegistered' | 'ChallengeCleared' }>): Promise<void> {
    const channel = await this.store.getChannel(event.channelId);
    if (!channel) return;
    // A ledger whose budget we are exiting on chain, or one of its virtual channels: the exit
    // sees it through (reclaims first, then the transfer); it is not a counterparty's dispute. It
    // learns every state registered there, which may be one it could not predict (a redemption of
    // a smaller voucher than ours: the payee never got our last ones).
    const exit = this.exitOf(channel.id);
    if (exit) {
      if (event.type === 'ChallengeRegistered') {
        const { turnNum, isFinal, appData, outcome } = event.candidate;
        await this.toObjective(exit, { type: 'REGISTERED', channelId: channel.id, state: { turnNum, isFinal, appData, outcome }, finalizesAt: event.finalizesAt });
      }
      return;
    }
    if (this.isVirtualChannel(channel)) return;
    if (await this.store.getObjective(exitObjectiveId(channel.id))) return;
    const id = objectiveIds.challenge(channel.id);
    const actor = this.actors.get(id);
    const active = actor && !actor.getSnapshot().hasTag('terminal');
    if (event.type === 'ChallengeCleared') {
      if (active) await this.toObjective(id, { type: 'CHALLENGE_CLEARED', turnNumRecord: event.newTurnNumRecord });
      return;
    }
    const { turnNum, isFinal, appData, outcome } = event.candidate;
    const registered = { turnNum: event.candidateTurnNum, finalizesAt: event.finalizesAt, state: { turnNum, isFinal, appData, outcome } };
    if (active) return this.toObjective(id, { type: 'CHALLENGE_REGISTERED', ...registered });
    if (!latestSupported(channel)) return;
    // Events are delivered again after a restart: only the challenge still on chain matters (if
    // the status cannot be read, the event is trusted; every transaction is checked before it is sent).
    const status = await this.deps.chain.statusOf(channel.id).catch(() => undefined);
    if (status && (status.finalizesAt !== event.finalizesAt || status.turnNumRecord !== event.candidateTurnNum)) {
      this.log('challenge.superseded', { channel: channel.id, turnNum: event.candidateTurnNum });
      return;
    }
    this.log('challenge.registered', { channel: channel.id, turnNum: event.candidateTurnNum, finalizesAt: event.finalizesAt });
    await this.step(id, this.spawn('Challenge', { channel, challenger: 'counterparty', registered }));
  }

  /** What the chain already shows of a dispute transaction's work (the event to tell the objective), or undefined while it is still to be done. */
  private async disputeDone(tx: DisputeTransaction, channelId: Bytes32): Promise<ChallengeEvent | undefined> {
    if (tx.kind === 'transferAllAssets') {
      const held = await Promise.all(tx.outcome.map((x) => this.deps.chain.getHoldings(x.asset, channelId)));
      return held.every((h) => h === 0n) ? { type: 'WITHDRAWN' } : undefined;
    }
    const status = await this.deps.chain.statusOf(channelId);
    const candidate = tx.candidate.state;
    if (tx.kind === 'challenge') {
      const ours = fingerprint(hashState(candidate, channelId), bytesToHex(hashOutcome(candidate.outcome)) as Bytes32);
      return status.finalizesAt > 0 && status.fingerprint === ours ? { type: 'CHALLENGE_REGISTERED', turnNum: candidate.turnNum, finalizesAt: status.finalizesAt, state: variablePartOf(candidate) } : undefined;
    }
    if (status.finalizesAt === 0 && status.turnNumRecord >= candidate.turnNum) return { type: 'CHALLENGE_CLEARED', turnNumRecord: status.turnNumRecord };
    if (status.finalizesAt > 0 && status.finalizesAt <= status.blockTimestamp) return { type: 'FINALIZED' };
    return undefined;
  }

  /**
   * Performs a dispute's chain transaction — unless the chain shows its work done already (it was
   * sent before a reload, or someone else's transaction did it) — and tells the objective the result.
   */
  private async disputeTransaction(id: string, tx: DisputeTransaction): Promise<void> {
    this.disputeTxs.add(id);
    const chain = this.deps.chain;
    const channelId = tx.kind === 'transferAllAssets' ? tx.channelId : computeChannelId(tx.candidate.state);
    const operation = tx.kind === 'transferAllAssets' ? 'transfer' : tx.kind;
    let event: ChallengeEvent;
    try {
      const done = await this.disputeDone(tx, channelId);
      if (done) {
        this.log('chain.dispute-already-done', { objective: id, operation });
        event = done;
      } else {
        if (tx.kind === 'challenge') await chain.challenge({ candidate: tx.candidate, challengerSig: tx.challengerSig });
        else if (tx.kind === 'checkpoint') await chain.checkpoint({ candidate: tx.candidate });
        else await chain.transferAllAssets({ channelId, outcome: tx.outcome, stateHash: tx.stateHash });
        event =
          (await this.disputeDone(tx, channelId).catch(() => undefined)) ??
          (tx.kind === 'challenge'
            ? { type: 'CHALLENGE_REGISTERED', turnNum: tx.candidate.state.turnNum, finalizesAt: (await chain.statusOf(channelId)).finalizesAt, state: variablePartOf(tx.candidate.state) }
            : tx.kind === 'checkpoint'
              ? { type: 'CHALLENGE_CLEARED', turnNumRecord: tx.candidate.state.turnNum }
              : { type: 'WITHDRAWN' });
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // Someone else's transaction may have done the work first.
      const done = await this.disputeDone(tx, channelId).catch(() => undefined);
      this.log('chain.dispute-failed', { objective: id, operation, done: done !== undefined, reason: message.slice(0, 200) });
      const failure = err instanceof ChainError ? chainFailureOf(err, operation) : undefined;
      event = done ?? { type: 'TX_FAILED', operation, error: message, ...(failure && { failure }) };
    }
    await this.serial(async () => {
      this.disputeTxs.delete(id);
      await this.toObjective(id, event);
    });
  }

  /** After a reload: the transaction a dispute was waiting on is checked on chain and, if its work is not there, sent again. */
  private async resumeDispute(id: string, actor: AnyActorRef): Promise<void> {
    const ctx = actor.getSnapshot().context as ChallengeContext;
    if (!actor.getSnapshot().hasTag('terminal') && !this.disputeTxs.has(id)) {
      const stored = await this.store.getChannel(ctx.channel.id);
      if (stored && stored !== ctx.channel) actor.send({ type: 'CHANNEL_UPDATED', channel: stored });
      this.challenges.set(ctx.channel.id, challengeUpdateOf(ctx, challengeStageOf(String(actor.getSnapshot().value)), ctx.lastError));
    }
    if (ctx.pending && !this.disputeTxs.has(id)) {
      const tx = ctx.pending;
      this.disputeTxs.add(id);
      this.background(this.disputeTransaction(id, tx), 'dispute transaction');
    } else {
      await this.checkChallenge(id, actor);
    }
  }

  /** Every dispute waiting for its challenge to finalize (or to be cleared) looks at the chain. */
  private async checkChallenges(): Promise<void> {
    for (const [id, actor] of [...this.actors]) if (typeOf(id) === 'Challenge') await this.checkChallenge(id, actor);
  }

  private async checkChallenge(id: string, actor: AnyActorRef): Promise<void> {
    const snap = actor.getSnapshot();
    if (snap.value !== 'registered' || this.disputeTxs.has(id)) return;
    const ctx = snap.context as ChallengeContext;
    let status;
    try {
      status = await this.deps.chain.statusOf(ctx.channel.id);
    } catch (e) {
      this.log('chain.status-failed', { objective: id, reason: (e instanceof Error ? e.message : String(e)).slice(0, 200) });
      return;
    }
    if (this.actors.get(id) !== actor || actor.getSnapshot().value !== 'registered') return;
    let event: ChallengeEvent;
    // All zero: paid out already (the adjudicator deletes the status): the withdrawal finds nothing to send.
    const paidOut = status.turnNumRecord === 0 && status.finalizesAt === 0 && status.fingerprint === 0n;
    if (paidOut || (status.finalizesAt > 0 && status.finalizesAt <= status.blockTimestamp)) event = { type: 'FINALIZED' };
    else if (status.finalizesAt === 0) event = { type: 'CHALLENGE_CLEARED', turnNumRecord: status.turnNumRecord };
    else event = { type: 'CHECK' };
    actor.send(event);
    const after = actor.getSnapshot();
    if (after.value === 'registered' && (after.context as ChallengeContext).outbox.length === 0) return;
    await this.step(id, actor);
  }

  /** A direct or ledger channel (virtual channels have `getVirtualChannel`). */
  async getChannel(channelId: Bytes32): Promise<ChannelSummary | undefined> {
    if (this.virtuals.has(channelId)) return undefined;
    const c = await this.store.getChannel(channelId);
    return c && !this.isVirtualChannel(c) ? this.summary(c) : undefined;
  }

  /** Direct and ledger channels (virtual channels have `listVirtualChannels`). */
  async listChannels(): Promise<ChannelSummary[]> {
    return Promise.all((await this.store.listChannels()).filter((c) => !this.isVirtualChannel(c)).map((c) => this.summary(c)));
  }

  private isVirtualChannel(c: Channel): boolean {
    return this.virtuals.has(c.id) || (c.fixedPart.participants.length === 3 && c.fixedPart.appDefinition === this.deps.apps?.virtualPaymentApp);
  }

  /**
   * A protocol message from `from` (authenticated by the transport). Invalid input is logged and
   * dropped; nothing is stored. Messages that arrive while the engine is busy are handled
   * together: update states for one channel across all of them are checked, committed and
   * answered at once; so are vouchers for one channel, and ledger payloads for one ledger.
   */
  receiveMessage(from: Address, text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return resolve();
      this.inbox.push({ from, text, resolve, reject });
      if (this.inboxScheduled) return;
      this.inboxScheduled = true;
      nextTask(() => this.background(this.serial(() => this.drainInbox()), 'inbox'));
    });
  }

  private readonly inbox: { from: Address; text: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private inboxScheduled = false;

  private async drainInbox(): Promise<void> {
    this.inboxScheduled = false;
    const messages = this.inbox.splice(0);
    if (this.stopped) {
      for (const m of messages) m.resolve();
      return;
    }
    const batches = new Map<string, { from: Address; channelId: Bytes32; states: SignedState[] }>();
    const voucherBatches = new Map<string, { from: Address; channelId: Bytes32; vouchers: Voucher[] }>();
    const ledgerBatches = new Map<Address, LedgerPayload[]>();
    // Update states and vouchers wait in their batches; any other payload first flushes them, so
    // order is kept (a payer's vouchers before its close). Ledger payloads are for ledgers, whose
    // order against objectives' states does not matter: they are taken last, once per ledger.
    const flush = async () => {
      for (const b of batches.values()) {
        try {
          await this.onUpdates(b.from, b.channelId, b.states);
        } catch (e) {
          this.reject(b.from, e);
        }
      }
      batches.clear();
      for (const b of voucherBatches.values()) {
        try {
          await this.onVouchers(b.from, b.channelId, b.vouchers);
        } catch (e) {
          this.reject(b.from, e, 'voucher');
        }
      }
      voucherBatches.clear();
    };
    try {
      for (const { from, text } of messages) {
        let message: ProtocolMessage;
        try {
          message = parseMessage(text, { from, to: this.address });
        } catch (e) {
          this.reject(from, e);
          continue;
        }
        for (const payload of message.payloads) {
          try {
            if (payload.type === 'state' && typeOf(payload.objectiveId) === 'Update') {
              const channelId = channelIdOf(payload.signedState);
              const key = `${from}:${channelId}`;
              const batch = batches.get(key) ?? { from, channelId, states: [] };
              batch.states.push(payload.signedState);
              batches.set(key, batch);
              continue;
            }
            await flush();
            await this.onPayload(from, payload);
          } catch (e) {
            this.reject(from, e, payload.objectiveId);
          }
        }
        for (const v of message.vouchers ?? []) {
          const key = `${from}:${v.channelId}`;
          const batch = voucherBatches.get(key);
          if (batch) batch.vouchers.push(v);
          else voucherBatches.set(key, { from, channelId: v.channelId, vouchers: [v] });
        }
        if (message.ledger?.length) ledgerBatches.set(from, [...(ledgerBatches.get(from) ?? []), ...message.ledger]);
      }
      await flush();
      for (const [from, payloads] of ledgerBatches) await this.deliverLedgerEvents(await this.ledgers.receive(from, payloads));
      for (const m of messages) m.resolve();
    } catch (e) {
      for (const m of messages) m.reject(e);
    }
  }

  /**
   * Feeds ledger events to the objectives they are for, each objective stepped once. A step that
   * only noted a ledger's state (no transition, nothing to perform) is not committed: after a
   * reload the objective asks its ledgers again and hears the same.
   */
  private async deliverLedgerEvents(events: LedgerEvent[]): Promise<void> {
    const byObjective = new Map<string, LedgerEvent['event'][]>();
    for (const { objectiveId, event } of events) byObjective.set(objectiveId, [...(byObjective.get(objectiveId) ?? []), event]);
    for (const [id, list] of byObjective) {
      const actor = this.actors.get(id);
      if (!actor || actor.getSnapshot().hasTag('terminal')) continue;
      const value = actor.getSnapshot().value;
      for (const event of list) actor.send(event);
      const after = actor.getSnapshot();
      if (after.value === value && (after.context as { outbox: Effect[] }).outbox.length === 0 && list.every((e) => e.type === 'LEDGER_UPDATED')) continue;
      await this.step(id, actor);
    }
  }

  // ---- Internals ------------------------------------------------------------------------------

  private reject(from: Address, e: unknown, objective?: string) {
    if (!(e instanceof CoreError) && !(e instanceof EngineError)) throw e;
    this.log('peer.rejected', { from, objective, reason: e.message.slice(0, 200) });
  }

  private async runningChannel(channelId: Bytes32): Promise<Channel> {
    const channel = await this.store.getChannel(channelId);
    if (!channel) throw new EngineError('unknown-channel', `no channel ${channelId}`);
    if (this.isVirtualChannel(channel)) throw new EngineError('not-allowed', `channel ${channelId} is a virtual payment channel: it is paid through with vouchers (pay)`);
    if (this.isLedger(channel)) throw new EngineError('not-allowed', `channel ${channelId} is a ledger channel: it changes only by the ledger protocol`);
    const supported = latestSupported(channel);
    if (!supported || supported.state.turnNum < POSTFUND_TURN || supported.state.isFinal) throw new EngineError('not-allowed', `channel ${channelId} is not running`);
    for (const id of this.actors.keys()) if (id.includes(channelId)) throw new EngineError('busy', `channel ${channelId} is busy with ${id}`);
    return channel;
  }

  /** A virtual channel being funded from this ledger, if any (its guarantee may not be proposed yet). */
  private virtualFundedFrom(ledgerId: Bytes32): string | undefined {
    for (const vid of this.fundingVirtuals) {
      const e = this.virtuals.get(vid);
      if (e && (e.ledgers.left === ledgerId || e.ledgers.right === ledgerId)) return `ledger ${ledgerId} is funding virtual channel ${vid}`;
    }
    return undefined;
  }

  private isLedger(c: Channel): boolean {
    return isLedgerChannel(c, this.deps.apps?.consensusApp);
  }

  private async closableChannel(channelId: Bytes32): Promise<Channel> {
    const channel = await this.store.getChannel(channelId);
    if (!channel) throw new EngineError('unknown-channel', `no channel ${channelId}`);
    if (this.isVirtualChannel(channel)) throw new EngineError('not-allowed', `channel ${channelId} is a virtual payment channel: closeVirtualChannel closes it`);
    const blocker = this.ledgers.closeBlocker(channelId) ?? this.virtualFundedFrom(channelId);
    if (blocker) throw new EngineError('busy', `${blocker}: it cannot be closed now`);
    const supported = latestSupported(channel);
    if (!supported) throw new EngineError('not-allowed', `channel ${channelId} has nothing to close`);
    if (supported.state.isFinal) {
      // A close whose conclusion failed on chain (the RPC was down, no ETH for gas, …) can be
      // tried again: the final state is signed by everyone, so trying again only submits it.
      const defunding = objectiveIds.directDefunding(channelId);
      const status = this.committed.get(defunding)?.status ?? (await this.store.getObjective(defunding))?.status;
      if (status !== 'failed' || this.actors.has(defunding)) throw new EngineError('not-allowed', `channel ${channelId} has nothing to close`);
      return channel;
    }
    const funding = objectiveIds.directFunding(channelId);
    for (const id of this.actors.keys()) if (id.includes(channelId) && id !== funding) throw new EngineError('busy', `channel ${channelId} is busy with ${id}`);
    if (this.updateWaiters.get(channelId)?.size) throw new EngineError('busy', `channel ${channelId} has updates waiting for a countersignature`);
    const fundingActor = this.actors.get(funding);
    if (fundingActor) {
      if (fundingActor.getSnapshot().value === 'awaitingApproval') throw new EngineError('not-allowed', `channel ${channelId} is still awaiting approval`);
      fundingActor.send({ type: 'ABANDON', reason: 'the channel is being closed before its funding completed' });
      await this.step(funding, fundingActor);
      return (await this.store.getChannel(channelId))!;
    }
    // A ledger takes no more changes once its close starts.
    await this.deliverLedgerEvents(this.ledgers.retire(channelId));
    return channel;
  }

  private spawn(type: ObjectiveType, input: unknown): AnyActorRef {
    const actor = createActor(this.machineFor(type), { input } as never);
    actor.start();
    const id = (actor.getSnapshot().context as { objectiveId: string }).objectiveId;
    this.actors.set(id, actor);
    return actor;
  }

  /** Commits the objective's step (its snapshot and its channel), then performs its effects. */
  private async step(id: string, actor: AnyActorRef): Promise<void> {
    await this.commit(id, actor);
    await this.performOutbox(id, actor);
    // A funding objective that has just reached the funding stage needs the holdings.
    const snap = actor.getSnapshot();
    if (typeOf(id) === 'DirectFunding' && snap.value === 'funding') {
      const ctx = snap.context as { channel: Channel; holdings: Record<string, bigint> };
      if (ctx.channel.states[0]!.state.outcome.some((e) => ctx.holdings[e.asset] === undefined)) await this.refreshHoldings(id, actor);
    }
  }

  private async commit(id: string, actor: AnyActorRef): Promise<void> {
    this.absent.delete(id);
    const snap = actor.getSnapshot();
    const ctx = snap.context as { channel: Channel; error?: string };
    const status: ObjectiveStatus = TERMINAL[String(snap.value)] ?? 'active';
    const record: ObjectiveRecord = {
      id,
      type: typeOf(id),
      channelId: ctx.channel.id,
      status,
      snapshot: actor.getPersistedSnapshot(),
      updatedAt: Date.now(),
      ...(ctx.error ? { error: ctx.error } : {}),
    };
    // A dispute never changes the channel: its copy may be older than the stored one.
    this.write(record.type === 'Challenge' || record.type === 'VirtualExit' ? { objective: record } : { channel: ctx.channel, objective: record });
    this.committed.set(id, { status, value: String(snap.value), ...(ctx.error ? { error: ctx.error } : {}) });
  }

  private async performOutbox(id: string, actor: AnyActorRef): Promise<void> {
    const effects = [...(actor.getSnapshot().context as { outbox: Effect[] }).outbox];
    const virtual = isVirtualType(typeOf(id));
    if (effects.length === 0) {
      if (virtual) await this.afterVirtualStep(id, actor);
      this.retireIfDone(id, actor);
      if (virtual) await this.replayEarly(actor);
      return;
    }
    actor.send({ type: 'EFFECTS_DONE' });
    const followUps: (() => Promise<void>)[] = [];
    const ledgerRequests: { ledgerId: Bytes32; change: Extract<Effect, { kind: 'ledgerRequest' }>['change'] }[] = [];
    for (const e of effects) {
      if (e.kind === 'send') {
        for (const to of e.to) this.post(to, { payloads: e.payloads });
      } else if (e.kind === 'progress') {
        const { kind: _kind, ...progress } = e;
        const report = this.deps.onProgress;
        if (report) this.afterCommit(() => report(progress));
      } else if (e.kind === 'deposit') {
        followUps.push(() => this.deposit(id, e));
      } else if (e.kind === 'conclude') {
        followUps.push(() => this.conclude(id, e.signedState));
      } else if (e.kind === 'ledgerRequest') {
        ledgerRequests.push({ ledgerId: e.ledgerId, change: e.change });
      } else if (e.kind === 'challenge' || e.kind === 'checkpoint' || e.kind === 'transferAllAssets') {
        this.disputeTxs.add(id);
        followUps.push(() => this.disputeTransaction(id, e));
      } else if (e.kind === 'challengeUpdated') {
        this.challengeUpdated(e.update);
      } else if (e.kind === 'exitTransaction') {
        followUps.push(() => this.exits.perform(id, e.tx));
      } else if (e.kind === 'exitUpdated') {
        this.exitUpdates.set(e.update.ledgerId, e.update);
        const report = this.deps.onExitUpdated;
        if (report) this.afterCommit(() => report(e.update));
      }
    }
    // The cleared outbox needs storing only when it held chain work: messages and progress are
    // safe to perform again if we crash before the next commit (peers merge re-sent states), and
    // a ledger request made again asks for what is already asked for.
    if (followUps.length > 0) await this.commit(id, actor);
    if (virtual) {
      await this.afterVirtualStep(id, actor);
    } else {
      const ctx = actor.getSnapshot().context as { channel: Channel };
      const notify = this.deps.onChannelUpdated;
      if (notify) {
        const summary = await this.summary(ctx.channel);
        this.afterCommit(() => notify(summary));
      }
    }
    // Chain calls run outside the event queue (they take blocks); their results come back as events.
    for (const f of followUps) this.afterCommit(() => this.background(f(), 'chain work'));
    if (ledgerRequests.length > 0) {
      // The ledger manager commits each ledger before it sends; its answers are this objective's next events.
      await this.deliverLedgerEvents(await this.ledgers.request(id, ledgerRequests));
      if (this.actors.get(id) !== actor) return; // stepped to its end meanwhile
    }
    this.retireIfDone(id, actor);
    if (virtual) await this.replayEarly(actor);
  }

  /** After each step of a virtual objective: its channel's status, and what an ending means. */
  private async afterVirtualStep(id: string, actor: AnyActorRef): Promise<void> {
    const snap = actor.getSnapshot();
    const ctx = snap.context as { channel: Channel; error?: string };
    const e = this.virtuals.get(ctx.channel.id);
    if (!e) return;
    const terminal = snap.hasTag('terminal');
    if (terminal) this.ledgers.forget(id);
    if (typeOf(id) === 'VirtualFund' && terminal) {
      this.fundingVirtuals.delete(e.channelId);
      // Our funding failed (a ledger could not take the guarantee): the others must not wait for us.
      if (snap.value === 'failed') {
        const payloads: Payload[] = [{ type: 'reject', objectiveId: id, channelId: e.channelId, reason: (ctx.error ?? 'funding failed').slice(0, 200) }];
        for (const to of [e.payer, e.hub, e.payee].filter((p) => p !== this.address)) this.post(to, { payloads });
      }
    }
    const status = this.virtualStatus(e);
    if (status !== e.status) {
      e.status = status;
      if (status === 'closed' || status === 'failed') this.finished(e.channelId);
      const notify = this.deps.onVirtualChannelUpdated;
      if (notify) {
        const summary = this.virtualSummary(e);
        this.afterCommit(() => notify(summary));
      }
    }
  }

  /**
   * States that came before what they build on (a postfund before the prefund was complete here,
   * a close before our funding completed), handled once they apply — after the step that made
   * them apply is fully performed.
   */
  private async replayEarly(actor: AnyActorRef): Promise<void> {
    const e = this.virtuals.get((actor.getSnapshot().context as { channel: Channel }).channel.id);
    if (!e || e.early.length === 0) return;
    for (const x of e.early.splice(0)) {
      if (!this.earlyReady(e, x.payload)) {
        e.early.push(x);
        continue;
      }
      try {
        await this.onVirtualPayload(x.from, x.payload);
      } catch (err) {
        this.reject(x.from, err, x.payload.objectiveId);
      }
    }
  }

  private retireIfDone(id: string, actor: AnyActorRef): void {
    if (actor.getSnapshot().hasTag('terminal') && (actor.getSnapshot().context as { outbox: Effect[] }).outbox.length === 0) {
      // A funded ledger channel is the ledger manager's from now on.
      if (typeOf(id) === 'DirectFunding' && actor.getSnapshot().value === 'done') {
        const channel = (actor.getSnapshot().context as { channel: Channel }).channel;
        if (this.isLedger(channel) && isRunningLedger(channel)) this.ledgers.adopt(channel);
      }
      actor.stop();
      this.actors.delete(id);
      this.settle(id);
      const retries = this.chainRetries.get(id);
      if (retries) {
        clearTimeout(retries.timer);
        this.chainRetries.delete(id);
      }
    }
  }

  /**
   * Chain work a reload may have cut short: a deposit planned but never confirmed is planned
   * again from fresh holdings (its old expectedHeld makes any copy already sent harmless), and a
   * conclusion not yet seen on chain is checked and, if still needed, submitted again.
   */
  private async resumeChainWork(id: string, actor: AnyActorRef): Promise<void> {
    const snap = actor.getSnapshot();
    if (typeOf(id) === 'Challenge') return this.resumeDispute(id, actor);
    if (typeOf(id) === 'VirtualExit') {
      // Nothing is in flight after a reload: ask again for what is needed (each checked on chain first).
      actor.send({ type: 'CHECK' });
      return this.step(id, actor);
    }
    if (typeOf(id) === 'DirectFunding' && snap.value === 'funding') {
      const ctx = snap.context as { deposits: Record<Address, { status: string }> };
      for (const [asset, record] of Object.entries(ctx.deposits)) {
        if (record.status === 'submitting' || record.status === 'sent') {
          actor.send({ type: 'DEPOSIT_FAILED', asset, error: 'interrupted by a reload', retryable: true });
        }
      }
      await this.step(id, actor);
    }
    if (typeOf(id) === 'DirectDefunding' && snap.value === 'concluding') {
      const ctx = snap.context as { channel: Channel; role: string; turnNum: number };
      const assets = ctx.channel.states[0]!.state.outcome.map((e) => e.asset);
      const held = await Promise.all(assets.map((a) => this.deps.chain.getHoldings(a, ctx.channel.id)));
      if (held.every((h) => h === 0n)) {
        await this.toObjective(id, { type: 'CONCLUDED' });
      } else if (ctx.role === 'proposer') {
        const final = ctx.channel.states.find((s) => s.state.turnNum === ctx.turnNum);
        if (final) this.background(this.conclude(id, final), 'conclude');
      }
    }
  }

  private async deposit(id: string, e: Extract<Effect, { kind: 'deposit' }>): Promise<void> {
    try {
      await this.deps.chain.deposit({ asset: e.asset, channelId: e.channelId, expectedHeld: e.expectedHeld, amount: e.amount });
      this.retriesOf(id).deposits = 0;
      await this.serial(() => this.toObjective(id, { type: 'DEPOSIT_MINED', asset: e.asset }));
    } catch (err) {
      const stale = err instanceof ChainError && err.code === 'reverted' && /expectedHeld/.test(err.reason ?? err.message);
      // The RPC went away (the deposit may or may not have got out), or a reorganisation took it
      // out of the chain: plan it again from the holdings once the chain answers. A copy that did
      // get through makes the new deposit's expectedHeld stale, so the adjudicator refuses it.
      const passing = err instanceof ChainError && (err.code === 'unreachable' || err.code === 'dropped');
      const retryable = stale || passing;
      const message = err instanceof Error ? err.message : String(err);
      this.log('chain.deposit-failed', { objective: id, retryable, reason: message.slice(0, 200) });
      const failure = !stale && err instanceof ChainError ? chainFailureOf(err, 'deposit', { asset: e.asset, amount: e.amount, held: e.expectedHeld }) : undefined;
      await this.serial(() => this.toObjective(id, { type: 'DEPOSIT_FAILED', asset: e.asset, error: message, retryable, ...(failure && !retryable && { failure }) }));
      if (retryable) {
        // The first retry after a stale expectedHeld is at once (someone deposited: plan again);
        // repeated ones back off (our own earlier copy may be mined but not yet confirmed).
        const r = this.retriesOf(id);
        r.deposits++;
        const delayMs = stale && r.deposits === 1 ? 0 : this.retryDelay(r.deposits);
        if (passing && failure) this.reportRetry(id, e.channelId, message, failure, delayMs);
        this.retryHoldings(id, delayMs);
        return;
      }
    }
    await this.serial(async () => {
      const actor = this.actors.get(id);
      if (actor) await this.refreshHoldings(id, actor);
    });
  }

  /** Conclusions in flight in this process (so the periodic check does not submit twice). */
  private readonly concluding = new Set<string>();

  private async conclude(id: string, signedState: SignedState): Promise<void> {
    if (this.concluding.has(id)) return;
    this.concluding.add(id);
    try {
      await this.deps.chain.concludeAndTransferAllAssets(signedState);
      await this.serial(() => this.toObjective(id, { type: 'CONCLUDED' }));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // Someone else's conclusion may have got there first: if the channel is paid out, it is done.
      const paidOut = await Promise.all(signedState.state.outcome.map((e) => this.deps.chain.getHoldings(e.asset, computeChannelId(signedState.state)))).then(
        (held) => held.every((h) => h === 0n),
        () => false,
      );
      this.log('chain.conclude-failed', { objective: id, paidOut, reason: message.slice(0, 200) });
      const failure = err instanceof ChainError ? chainFailureOf(err, 'conclude') : undefined;
      await this.serial(() => this.toObjective(id, paidOut ? { type: 'CONCLUDED' } : { type: 'CONCLUDE_FAILED', error: message, ...(failure && { failure }) }));
    } finally {
      this.concluding.delete(id);
    }
  }

  private async toObjective(id: string, event: { type: string; [k: string]: unknown }): Promise<void> {
    const actor = this.actors.get(id);
    if (!actor) return;
    actor.send(event);
    await this.step(id, actor);
  }

  /**
   * Reads the channel's holdings (confirmed, see ChainService.getHoldings) into its funding
   * objective, which plans its deposits from them. A read the chain does not answer is retried
   * with backoff and reported as a `retrying` progress; nothing is decided meanwhile.
   */
  private async refreshHoldings(id: string, actor: AnyActorRef): Promise<void> {
    if (typeOf(id) !== 'DirectFunding' || actor.getSnapshot().hasTag('terminal')) return;
    const channel = (actor.getSnapshot().context as { channel: Channel }).channel;
    const assets = channel.states[0]!.state.outcome.map((e) => e.asset);
    let amounts: bigint[];
    try {
      amounts = await Promise.all(assets.map((asset) => this.deps.chain.getHoldings(asset, channel.id)));
    } catch (err) {
      if (!(err instanceof ChainError) || this.stopped) throw err;
      const r = this.retriesOf(id);
      r.reads++;
      const delayMs = this.retryDelay(r.reads);
      this.log('chain.holdings-failed', { objective: id, code: err.code, reason: err.message.slice(0, 200) });
      this.reportRetry(id, channel.id, err.message, chainFailureOf(err, 'deposit'), delayMs);
      this.retryHoldings(id, delayMs);
      return;
    }
    const r = this.chainRetries.get(id);
    if (r) r.reads = 0;
    if (this.actors.get(id) !== actor || actor.getSnapshot().hasTag('terminal')) return;
    assets.forEach((asset, i) => actor.send({ type: 'HOLDINGS', asset, amount: amounts[i]! }));
    await this.step(id, actor);
  }

  private lastWatchErrorReport = 0;

  /**
   * The chain's event poller failed (it retries by itself): funding objectives waiting on the chain
   * tell the app, at most once per `chainRetry.maxMs`, so it knows why nothing moves.
   */
  private onWatchError(error: unknown): void {
    if (!(error instanceof ChainError) || this.stopped) return;
    const { maxMs = 30_000 } = this.deps.chainRetry ?? {};
    if (Date.now() - this.lastWatchErrorReport < maxMs) return;
    this.lastWatchErrorReport = Date.now();
    this.log('chain.watch-failed', { code: error.code, reason: error.message.slice(0, 200) });
    for (const [id, actor] of this.actors) {
      if (typeOf(id) !== 'DirectFunding' || actor.getSnapshot().value !== 'funding') continue;
      const report = this.deps.onProgress;
      const channelId = (actor.getSnapshot().context as { channel: Channel }).channel.id;
      if (report) this.afterCommit(() => report({ objectiveId: id, channelId, stage: 'retrying', detail: `${error.message} Waiting for it to answer again.`, failure: chainFailureOf(error, 'deposit') }));
    }
  }

  /** Funding objectives' chain failures in a row (holdings reads, deposits) and their pending retry. */
  private readonly chainRetries = new Map<string, { reads: number; deposits: number; timer?: ReturnType<typeof setTimeout>; due?: number }>();

  private retriesOf(id: string): { reads: number; deposits: number; timer?: ReturnType<typeof setTimeout>; due?: number } {
    let r = this.chainRetries.get(id);
    if (!r) this.chainRetries.set(id, (r = { reads: 0, deposits: 0 }));
    return r;
  }

  /** After the `failures`-th failure in a row: `firstMs`, doubling, at most `maxMs`. */
  private retryDelay(failures: number): number {
    const { firstMs = 1_000, maxMs = 30_000 } = this.deps.chainRetry ?? {};
    return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(0, failures - 1), 20));
  }

  /** Reads the objective's holdings again in `delayMs` (one pending read per objective: the earlier one wins). */
  private retryHoldings(id: string, delayMs: number): void {
    if (this.stopped) return;
    const r = this.retriesOf(id);
    const due = Date.now() + delayMs;
    if (r.timer !== undefined) {
      if (r.due! <= due) return;
      clearTimeout(r.timer);
    }
    r.due = due;
    r.timer = setTimeout(() => {
      r.timer = undefined;
      this.background(
        this.serial(async () => {
          const actor = this.actors.get(id);
          if (!actor || this.stopped) {
            this.chainRetries.delete(id);
            return;
          }
          await this.refreshHoldings(id, actor);
        }),
        'holdings retry',
      );
    }, delayMs);
  }

  /**
   * Resumes an objective's chain work after a reload. The chain may be unreachable just then (the
   * wallet opened while its RPC is down): that must not stop the engine from starting, so the
   * resume is reported and tried again with backoff until the chain answers.
   */
  private async resumeOrRetry(id: string, actor: AnyActorRef, failures: number): Promise<void> {
    try {
      await this.resumeChainWork(id, actor);
      await this.refreshHoldings(id, actor);
    } catch (err) {
      if (!(err instanceof ChainError) || this.stopped) throw err;
      const delayMs = this.retryDelay(failures + 1);
      const channelId = (actor.getSnapshot().context as { channel?: Channel }).channel?.id;
      this.log('chain.resume-failed', { objective: id, code: err.code, reason: err.message.slice(0, 200) });
      if (channelId) this.reportRetry(id, channelId, err.message, chainFailureOf(err, typeOf(id) === 'DirectDefunding' ? 'conclude' : 'deposit'), delayMs);
      const timer = setTimeout(() => {
        this.resumeTimers.delete(timer);
        this.background(
          this.serial(async () => {
            if (this.stopped || this.actors.get(id) !== actor || actor.getSnapshot().hasTag('terminal')) return;
            await this.resumeOrRetry(id, actor, failures + 1);
          }),
          'resume retry',
        );
      }, delayMs);
      this.resumeTimers.add(timer);
    }
  }

  private readonly resumeTimers = new Set<ReturnType<typeof setTimeout>>();

  /** Tells the app that the chain work of objective `id` failed and is retried by itself in `delayMs`. */
  private reportRetry(id: string, channelId: Bytes32, message: string, failure: ChainFailure, delayMs: number): void {
    const report = this.deps.onProgress;
    const when = delayMs < 1_000 ? `${delayMs} ms` : `${Math.round(delayMs / 1_000)} s`;
    if (report) this.afterCommit(() => report({ objectiveId: id, channelId, stage: 'retrying', detail: `${message} Retrying in ${when}.`, failure }));
  }

  private async onChainEvent(event: ChainEvent): Promise<void> {
    if (event.type === 'ChallengeRegistered' || event.type === 'ChallengeCleared') return this.onDisputeEvent(event);
    for (const [id, actor] of this.actors) {
      const channel = (actor.getSnapshot().context as { channel: Channel }).channel;
      if (channel.id !== event.channelId) continue;
      if (event.type === 'Concluded' && typeOf(id) === 'DirectDefunding') await this.toObjective(id, { type: 'CONCLUDED' });
      else if (typeOf(id) === 'DirectFunding') await this.refreshHoldings(id, actor);
    }
  }

  private async onPayload(from: Address, payload: Payload): Promise<void> {
    if (isVirtualType(typeOf(payload.objectiveId))) return this.onVirtualPayload(from, payload);
    const stored = await this.store.getChannel(payload.type === 'state' ? channelIdOf(payload.signedState) : payload.channelId);
    if (stored && this.isVirtualChannel(stored)) throw new EngineError('invalid', `channel ${stored.id} is a virtual payment channel: ${typeOf(payload.objectiveId)} does not apply`);
    const active = this.actors.get(payload.objectiveId);
    if (payload.type === 'reject') {
      if (!stored || !stored.fixedPart.participants.includes(from)) throw new EngineError('invalid', 'a rejection for a channel we share no objective on');
      if (typeOf(payload.objectiveId) === 'Update') {
        const turnNum = Number(payload.objectiveId.slice(payload.objectiveId.lastIndexOf('-') + 1));
        this.failUpdate(stored.id, turnNum, new EngineError('invalid', `the counterparty refused the update: ${payload.reason}`));
        return;
      }
      if (active) await this.toObjective(payload.objectiveId, { type: 'PEER_REJECTED', reason: payload.reason });
      return;
    }
    const ss = payload.signedState;
    if (!ss.state.participants.includes(this.address)) throw new EngineError('invalid', `a message for channel ${channelIdOf(ss)}, which we are not in`);
    if (!ss.state.participants.includes(from)) throw new EngineError('invalid', 'the sender is not a participant of the channel');
    if (active) {
      // Funding exchanges the prefund and the postfund only: a later turn sent under it (before we
      // even joined, say) is junk the objective must not keep.
      if (typeOf(payload.objectiveId) === 'DirectFunding' && ss.state.turnNum > POSTFUND_TURN) throw new EngineError('invalid', `turn ${ss.state.turnNum} under a funding objective: funding takes the prefund (turn 0) and postfund (turn 1) only`);
      const activeChannel = (active.getSnapshot().context as { channel: Channel }).channel;
      // A peer sending a state older than ours is behind: send it what it lacks.
      const ours = latestSupported(activeChannel);
      if (ours && ss.state.turnNum < ours.state.turnNum) this.sendLatest(activeChannel, from, payload.objectiveId);
      // Check against the objective's channel first, so a bad state changes nothing.
      receiveSignedState(activeChannel, ss);
      active.send({ type: 'STATE_RECEIVED', signedState: ss });
      await this.step(payload.objectiveId, active);
      this.replyIfPeerLacks((active.getSnapshot().context as { channel: Channel }).channel, ss, from, payload.objectiveId);
      return;
    }
    if (!stored) {
      if (typeOf(payload.objectiveId) !== 'DirectFunding' || ss.state.turnNum !== 0) throw new EngineError('invalid', 'an unknown channel must start with its prefund state');
      const channel = receiveSignedState(newChannel(ss.state, this.address), ss).channel;
      const actor = this.spawn('DirectFunding', { channel });
      await this.step(payload.objectiveId, actor);
      const notify = this.deps.onChannelProposed;
      if (notify) {
        const summary = await this.summary(channel);
        this.afterCommit(() => notify(summary));
      }
      return;
    }
    const supported = latestSupported(stored);
    if (supported && ss.state.turnNum < supported.state.turnNum) {
      // A stale state: refuse it, and since the peer is evidently behind, send what it lacks.
      this.sendLatest(stored, from, payload.objectiveId);
      throw new EngineError('invalid', `turn ${ss.state.turnNum} is in the past: turn ${supported.state.turnNum} is already supported`);
    }
    const type = typeOf(payload.objectiveId);
    const managedLedger = this.ledgers.has(stored.id);
    if (type === 'DirectDefunding' && ss.state.isFinal) {
      checkCloseProposal(stored, ss);
      if (managedLedger) {
        const blocker = this.ledgers.closeBlocker(stored.id) ?? this.virtualFundedFrom(stored.id);
        if (blocker) throw new EngineError('busy', `${blocker}: refusing its close`);
        await this.deliverLedgerEvents(this.ledgers.retire(stored.id));
      }
      // Closing before funding completed ends the funding objective first.
      const funding = this.actors.get(objectiveIds.directFunding(stored.id));
      if (funding) {
        funding.send({ type: 'ABANDON', reason: 'the channel is being closed before its funding completed' });
        await this.step(objectiveIds.directFunding(stored.id), funding);
      }
      await this.step(payload.objectiveId, this.spawn('DirectDefunding', { channel: stored, role: 'responder', received: ss }));
    } else if (managedLedger) {
      // A running ledger changes only by ledger proposals; a peer re-sending its funding states
      // may lack our signatures on them.
      if (supported && ss.state.turnNum > supported.state.turnNum) throw new EngineError('invalid', `channel ${stored.id} is a ledger channel: its states travel as ledger proposals`);
      receiveSignedState(stored, ss);
      this.replyIfPeerLacks(stored, ss, from, payload.objectiveId);
    } else {
      // Signatures on a state we hold: merge them (idempotent).
      const { channel } = receiveSignedState(stored, ss);
      this.write({ channel });
      this.replyIfPeerLacks(channel, ss, from, payload.objectiveId);
    }
  }

  // ---- Virtual objectives' payloads ------------------------------------------------------------

  /** A V state or rejection under a VirtualFund-/VirtualDefund- objective id. */
  private async onVirtualPayload(from: Address, payload: Payload): Promise<void> {
    const id = payload.objectiveId;
    const type = typeOf(id);
    const channelId = payload.type === 'state' ? channelIdOf(payload.signedState) : payload.channelId;
    if (id !== (type === 'VirtualFund' ? objectiveIds.virtualFunding(channelId) : objectiveIds.virtualDefunding(channelId))) throw new EngineError('invalid', `objective ${id} is not for channel ${channelId}`);
    const e = this.virtuals.get(channelId);
    const active = this.actors.get(id);
    if (payload.type === 'reject') {
      if (!e || ![e.payer, e.hub, e.payee].includes(from)) throw new EngineError('invalid', 'a rejection for a virtual channel we share no objective on');
      if (!active || active.getSnapshot().hasTag('terminal') || type !== 'VirtualFund') return;
      const value = active.getSnapshot().value;
      if (value === 'awaitingApproval' || value === 'prefund') return this.toObjective(id, { type: 'PEER_REJECTED', reason: payload.reason });
      // Past the prefund only the hub can stop a funding: our ledger with it will not take the guarantee.
      if (value === 'funding' && from === e.hub && e.myIndex !== HUB) {
        const ledgerId = e.myIndex === PAYER ? e.ledgers.left! : e.ledgers.right!;
        return this.toObjective(id, { type: 'LEDGER_FAILED', ledgerId, error: `the hub could not fund it: ${payload.reason}` });
      }
      this.log('virtual.reject-ignored', { from, objective: id, reason: payload.reason.slice(0, 200) });
      return;
    }
    const ss = payload.signedState;
    if (!ss.state.participants.includes(this.address)) throw new EngineError('invalid', `a message for channel ${channelId}, which we are not in`);
    if (!ss.state.participants.includes(from)) throw new EngineError('invalid', 'the sender is not a participant of the channel');
    if (!e && !active) {
      // A channel finished long ago (no longer in memory): a late copy; the peer may lack our signatures.
      const stored = await this.store.getChannel(channelId);
      if (stored) return this.replyIfPeerLacks(stored, ss, from, id);
    }
    if (active && !active.getSnapshot().hasTag('terminal')) {
      const before = active.getSnapshot().context as { channel: Channel };
      // Nothing new (a re-sent state we hold): no step, but the peer may lack our signatures.
      if (!addsSignatures(before.channel, ss)) return this.replyIfPeerLacks(before.channel, ss, from, id);
      // A postfund that overtook the last prefund signature: kept until the prefund is complete here.
      if (type === 'VirtualFund' && ss.state.turnNum === POSTFUND_TURN && !latestSupported(before.channel) && e) return this.keepEarly(e, from, payload);
      active.send({ type: 'STATE_RECEIVED', signedState: ss });
      if ((active.getSnapshot().context as { channel: Channel }).channel === before.channel) {
        // The machine ignored it: find out why, for the log (this throws with the reason).
        if (type === 'VirtualFund') checkVirtualFundState(before as VirtualFundContext, ss);
        else checkVirtualDefundState(before as VirtualDefundContext, ss);
        return;
      }
      await this.step(id, active);
      this.replyIfPeerLacks((active.getSnapshot().context as { channel: Channel }).channel, ss, from, id);
      return;
    }
    if (type === 'VirtualFund') {
      if (e || this.refusedVirtuals.has(channelId)) {
        // A peer behind on a funding we have finished (or refused): it may lack our signatures.
        const stored = e && (await this.store.getChannel(channelId));
        if (stored) this.replyIfPeerLacks(stored, ss, from, id);
        return;
      }
      if (ss.state.turnNum !== 0) throw new EngineError('invalid', `an unknown virtual channel ${channelId} must start with its prefund state`);
      return this.onVirtualProposal(from, ss);
    }
    // VirtualDefund: a close proposed by the payer or the payee.
    if (!e) throw new EngineError('invalid', `a close of virtual channel ${channelId}, which we do not hold`);
    if (this.committed.has(id)) {
      const stored = await this.store.getChannel(channelId);
      if (stored) this.replyIfPeerLacks(stored, ss, from, id);
      return;
    }
    // Our funding is about to complete (the others' may have completed first): kept till then.
    if (e.status === 'funding') return this.keepEarly(e, from, payload);
    if (e.status !== 'running') throw new EngineError('not-allowed', `virtual channel ${channelId} is not running (${e.status})`);
    const channel = await this.store.getChannel(channelId);
    if (!channel) throw new EngineError('unknown-channel', `no virtual channel ${channelId}`);
    const postfund = latestSupported(channel)!.state;
    // The payee takes a larger voucher carried by the final state as a payment first.
    if (e.myIndex === PAYEE && e.book && !e.book.closed && ss.state.appData !== '0x') {
      checkVirtualDefundState({ channel, postfund }, ss);
      const voucher = decodeVoucherAppData(ss.state.appData, channelId);
      if (voucher.amount > e.book.paid) await this.onVouchers(e.payer, channelId, [voucher]);
    }
    const paid = e.book?.paid;
    checkVirtualDefundState({ channel, postfund, ...(paid === undefined ? {} : { paid }) }, ss);
    if (e.book) e.book = closeVoucherBook(e.book);
    const actor = this.spawn('VirtualDefund', { channel, ledgers: e.ledgers, role: 'responder', received: ss, ...(paid === undefined ? {} : { paid }) });
    await this.step(id, actor);
  }

  /** A V state that came before what it builds on here; handled after the step that makes it apply. */
  private keepEarly(e: VirtualEntry, from: Address, payload: Payload): void {
    if (e.early.length >= MAX_EARLY) throw new EngineError('busy', `virtual channel ${e.channelId}: too many states ahead of our own progress`);
    e.early.push({ from, payload });
  }

  /** Whether a kept early payload can be handled now. */
  private earlyReady(e: VirtualEntry, payload: Payload): boolean {
    if (typeOf(payload.objectiveId) === 'VirtualDefund') return e.status !== 'funding';
    const fund = this.actors.get(objectiveIds.virtualFunding(e.channelId));
    return !fund || latestSupported((fund.getSnapshot().context as { channel: Channel }).channel) !== undefined;
  }

  /** A virtual channel proposed to us (its hub or its payee): checked, approved or refused. */
  private async onVirtualProposal(from: Address, ss: SignedState): Promise<void> {
    const prefund = ss.state;
    const channelId = channelIdOf(ss);
    requireVirtualPrefund(prefund, 'signedState.state');
    const myIndex = prefund.participants.indexOf(this.address);
    if (myIndex === PAYER) throw new EngineError('invalid', 'a virtual channel naming us as its payer, which we did not propose');
    if (await this.store.getChannel(channelId)) throw new EngineError('invalid', `channel ${channelId} exists already`);
    // Verifies the signatures: the proposal must come signed.
    const channel = receiveSignedState(newChannel(prefund, this.address), ss).channel;
    const [payer, hub, payee] = prefund.participants as [Address, Address, Address];
    const amount = prefund.outcome[0]!.allocations[0]!.amount;
    const role = myIndex === HUB ? 'hub' : 'payee';
    const refuse = (reason: string) => {
      this.refusedVirtuals.add(channelId);
      if (this.refusedVirtuals.size > 10_000) this.refusedVirtuals.delete(this.refusedVirtuals.values().next().value!);
      this.log('virtual.refused', { channel: channelId, from, reason: reason.slice(0, 200) });
      const payloads: Payload[] = [{ type: 'reject', objectiveId: objectiveIds.virtualFunding(channelId), channelId, reason }];
      for (const to of prefund.participants.filter((p) => p !== this.address)) this.post(to, { payloads });
    };
    // A channel we cannot take part in: the proposer is told why (and the reason logged).
    const apps = this.deps.apps;
    const unusable = !apps
      ? 'this engine takes no virtual channels (it was not given the VirtualPaymentApp address)'
      : prefund.appDefinition !== apps.virtualPaymentApp
        ? `a virtual channel must use the VirtualPaymentApp ${apps.virtualPaymentApp}, not ${prefund.appDefinition}`
        : undefined;
    if (unusable) {
      refuse(unusable);
      throw new EngineError('invalid', unusable);
    }
    // Our ledgers for it: the hub leads both; the payee follows the hub's.
    const ledgers: VirtualLedgers = {};
    if (role === 'hub') {
      const left = this.ledgers.ledgersWith(payer, { leader: 'us', asset: ZERO_ADDRESS })[0];
      const right = this.ledgers.ledgersWith(payee, { leader: 'us', asset: ZERO_ADDRESS })[0];
      if (!left) return refuse(`the hub has no running ledger channel with the payer ${payer}`);
      if (!right) return refuse(`the hub has no running ledger channel with the payee ${payee}`);
      ledgers.left = left;
      ledgers.right = right;
    } else {
      const right = this.ledgers.ledgersWith(hub, { leader: 'them', asset: ZERO_ADDRESS })[0];
      if (!right) return refuse(`the payee has no running ledger channel with the hub ${hub}`);
      ledgers.right = right;
    }
    const proposal = this.virtualProposal(channelId, prefund, ledgers);
    if (role === 'hub') {
      // Both ledgers must be able to take the guarantee (counting the ones being funded).
      if (proposal.left!.receive < amount) return refuse(`not enough free balance: the payer has ${proposal.left!.receive} wei free in its ledger with the hub, ${amount} wei needed`);
      if (proposal.right!.send < amount) return refuse(`not enough free balance: the hub has ${proposal.right!.send} wei free toward the payee, ${amount} wei needed`);
    }
    const approve = this.deps.approveVirtualChannel;
    let decision: VirtualApproval | Promise<VirtualApproval>;
    try {
      decision = approve ? approve(proposal) : role === 'payee' ? true : { reject: 'this engine does not act as a hub' };
    } catch (err) {
      return refuse(`approval failed: ${(err as Error).message}`);
    }
    if (!isThenable(decision)) {
      if (decision !== true) return refuse(decision === false ? 'refused' : String(decision?.reject ?? 'refused'));
      this.registerVirtual(channel, prefund, ledgers);
      const actor = this.spawn('VirtualFund', { channel, ledgers });
      actor.send({ type: 'APPROVE' });
      await this.step(objectiveIds.virtualFunding(channelId), actor);
      return;
    }
    // Decided later: the proposal waits, stored, awaiting approval.
    this.registerVirtual(channel, prefund, ledgers);
    const id = objectiveIds.virtualFunding(channelId);
    await this.step(id, this.spawn('VirtualFund', { channel, ledgers }));
    Promise.resolve(decision).then(
      (d) => this.serial(() => this.answerVirtual(id, d)),
      (err: unknown) => this.serial(() => this.answerVirtual(id, { reject: `approval failed: ${(err as Error | undefined)?.message ?? String(err)}` })),
    );
  }

  private virtualProposal(channelId: Bytes32, prefund: State, ledgers: VirtualLedgers): VirtualChannelProposal {
    const [payer, hub, payee] = prefund.participants as [Address, Address, Address];
    const amount = prefund.outcome[0]!.allocations[0]!.amount;
    const role = prefund.participants.indexOf(this.address) === HUB ? 'hub' : 'payee';
    const proposal: VirtualChannelProposal = { channelId, payer, hub, payee, amount, challengeDuration: prefund.challengeDuration, role };
    if (ledgers.left && this.ledgers.has(ledgers.left)) proposal.left = this.budgetOf(ledgers.left);
    if (ledgers.right && this.ledgers.has(ledgers.right)) proposal.right = this.budgetOf(ledgers.right);
    return proposal;
  }

  /** Asks again for a decision on a stored proposal (after a reload). */
  private decideVirtual(id: string, e: VirtualEntry): void {
    const approve = this.deps.approveVirtualChannel;
    let decision: VirtualApproval | Promise<VirtualApproval>;
    try {
      decision = approve ? approve(this.virtualProposal(e.channelId, e.prefund, e.ledgers)) : e.myIndex === PAYEE ? true : { reject: 'this engine does not act as a hub' };
    } catch (err) {
      decision = { reject: `approval failed: ${(err as Error).message}` };
    }
    Promise.resolve(decision).then(
      (d) => this.serial(() => this.answerVirtual(id, d)),
      (err: unknown) => this.serial(() => this.answerVirtual(id, { reject: `approval failed: ${(err as Error | undefined)?.message ?? String(err)}` })),
    );
  }

  private async answerVirtual(id: string, decision: VirtualApproval): Promise<void> {
    const actor = this.actors.get(id);
    if (!actor || actor.getSnapshot().value !== 'awaitingApproval') return;
    actor.send(decision === true ? { type: 'APPROVE' } : { type: 'REJECT', reason: decision === false ? 'refused' : String(decision?.reject ?? 'refused') });
    await this.step(id, actor);
  }

  /** If we hold signatures on that turn that the peer's copy lacks, send ours (its reply was lost). */
  private replyIfPeerLacks(channel: Channel, theirs: SignedState, to: Address, objectiveId: string) {
    const ours = channel.states.find((s) => s.state.turnNum === theirs.state.turnNum);
    if (ours && ours.signatures.some((sig, i) => sig !== null && theirs.signatures[i] === null)) this.sendLatest(channel, to, objectiveId);
  }

  /** Our latest supported state and every newer state we signed: all a lagging peer may lack. */
  private statesPeerMayLack(channel: Channel): SignedState[] {
    const supported = latestSupported(channel);
    const from = supported ? supported.state.turnNum : -1;
    const newer = channel.states.filter((s) => s.state.turnNum > from && s.signatures[channel.myIndex] !== null);
    return supported ? [supported, ...newer] : newer.length ? newer : [latest(channel)];
  }

  private sendLatest(channel: Channel, to: Address, objectiveId: string) {
    // A running ledger's proposals in flight travel as ledger proposals, never as states; a
    // virtual channel's close is its final state alone.
    let states = this.ledgers.has(channel.id) ? [latestSupported(channel)!] : this.statesPeerMayLack(channel);
    const type = typeOf(objectiveId);
    if (type === 'VirtualFund') states = states.filter((s) => s.state.turnNum <= POSTFUND_TURN);
    if (type === 'VirtualDefund') states = channel.states.filter((s) => s.state.turnNum === FINAL_TURN);
    if (states.length === 0) return;
    const payloads: Payload[] = states.map((signedState) => ({ type: 'state', objectiveId, signedState }));
    this.post(to, { payloads });
  }

  /** Re-sends our latest signed state of every objective still waiting on a peer. */
  private async resendPending(): Promise<void> {
    // A close waiting on the chain: check it there too (an event may have been missed).
    for (const [id, actor] of [...this.actors]) {
      if (typeOf(id) === 'DirectDefunding' && actor.getSnapshot().value === 'concluding' && !this.concluding.has(id)) await this.resumeChainWork(id, actor);
    }
    // Update proposals not yet countersigned (also ones a reload interrupted).
    for (const channel of [...this.store.cachedChannels()]) {
      if (this.ledgers.has(channel.id) || this.isVirtualChannel(channel)) continue;
      if (runningState(channel) && inFlight(channel) > 0) for (const to of counterparties(channel)) this.sendUpdates(channel, to);
    }
    // Ledger proposals not yet countersigned.
    this.ledgers.resend();
    // Payee: one acknowledgement per channel for the payments since the last tick (its largest voucher).
    for (const id of [...this.unacknowledged]) {
      const e = this.virtuals.get(id);
      if (e) this.acknowledge(e);
    }
    // Payer: payments the payee has not acknowledged a tick after the last one — the latest voucher again (it covers all before it).
    const now = Date.now();
    const interval = this.deps.resendIntervalMs ?? 2000;
    for (const e of this.virtuals.values()) {
      if (e.myIndex !== PAYER || !e.book?.largest || e.book.paid <= e.acked || e.status !== 'running' || now - e.sentAt < interval) continue;
      e.sentAt = now;
      this.post(e.payee, { payloads: [], vouchers: [e.book.largest] });
    }
    for (const [id, actor] of this.actors) {
      if (typeOf(id) === 'Challenge' || typeOf(id) === 'VirtualExit' || actor.getSnapshot().hasTag('terminal') || actor.getSnapshot().value === 'awaitingApproval') continue;
      const channel = (actor.getSnapshot().context as { channel: Channel }).channel;
      if (!channel.states.some((s) => s.signatures[channel.myIndex] !== null)) continue;
      for (const to of channel.fixedPart.participants.filter((_, i) => i !== channel.myIndex)) this.sendLatest(channel, to, id);
    }
  }

  // ---- Updates (pipelined; the rules are in core/src/protocol/updates.ts) --------------------

  /** Update calls not yet signed, in call order. */
  private readonly queuedProposals: { channelId: Bytes32; outcome: Exit; appData: `0x${string}` | undefined; resolve: (s: ChannelSummary) => void; reject: (e: Error) => void }[] = [];
  private proposalsScheduled = false;
  /** Callers waiting for their update's countersignature, by channel and turn. */
  private readonly updateWaiters = new Map<Bytes32, Map<number, { resolve: (s: ChannelSummary) => void; reject: (e: Error) => void }>>();

  /**
   * Proposes what is queued after the tasks already waiting have run, so calls that arrive
   * together (a dapp issuing several at once) are signed, committed and sent together.
   */
  private scheduleProposals(): void {
    if (this.proposalsScheduled) return;
    this.proposalsScheduled = true;
    nextTask(() => this.background(this.serial(() => this.proposeQueued()), 'updates'));
  }

  /** Signs every queued update (up to the in-flight limit per channel), commits once per channel, sends once. */
  private async proposeQueued(): Promise<void> {
    this.proposalsScheduled = false;
    const byChannel = new Map<Bytes32, typeof this.queuedProposals>();
    for (const p of this.queuedProposals.splice(0)) {
      const calls = byChannel.get(p.channelId);
      if (calls) calls.push(p);
      else byChannel.set(p.channelId, [p]);
    }
    for (const [channelId, calls] of byChannel) {
      let channel: Channel;
      try {
        channel = await this.runningChannel(channelId);
        if (this.actors.has(objectiveIds.directDefunding(channelId))) throw new EngineError('not-allowed', `channel ${channelId} is closing`);
      } catch (e) {
        for (const c of calls) c.reject(e as Error);
        continue;
      }
      const room = Math.max(0, MAX_UPDATES_IN_FLIGHT - inFlight(channel));
      // Beyond the limit, calls wait for countersignatures to make room.
      this.queuedProposals.unshift(...calls.slice(room));
      const signed: SignedState[] = [];
      const waiting: [number, (typeof calls)[number]][] = [];
      for (const call of calls.slice(0, room)) {
        try {
          const next = proposeUpdate(channel, call.outcome, call.appData, this.deps.key);
          channel = next.channel;
          signed.push(next.signed);
          waiting.push([next.signed.state.turnNum, call]);
        } catch (e) {
          call.reject(e as Error);
        }
      }
      if (signed.length === 0) continue;
      this.write({ channel });
      const waiters = this.updateWaiters.get(channelId) ?? new Map();
      for (const [turn, call] of waiting) waiters.set(turn, call);
      this.updateWaiters.set(channelId, waiters);
      const payloads: Payload[] = signed.map((signedState) => ({ type: 'state', objectiveId: objectiveIds.update(channelId, signedState.state.turnNum), signedState }));
      for (const to of counterparties(channel)) this.post(to, { payloads });
    }
  }

  /** A peer's update states for one channel: countersign what we accept, merge countersignatures, answer once. */
  private async onUpdates(from: Address, channelId: Bytes32, states: SignedState[]): Promise<void> {
    const stored = await this.store.getChannel(channelId);
    if (!stored) {
      const participants = states[0]!.state.participants;
      throw new EngineError('invalid', participants.includes(this.address) ? `an update for channel ${channelId}, which we do not hold` : `a message for channel ${channelId}, which we are not in`);
    }
    if (!stored.fixedPart.participants.includes(from)) throw new EngineError('invalid', 'the sender is not a participant of the channel');
    if (this.isLedger(stored) || this.isVirtualChannel(stored)) throw new EngineError('not-allowed', `channel ${channelId} is a ${this.isLedger(stored) ? 'ledger' : 'virtual payment'} channel: it takes no direct updates`);
    if (this.actors.has(objectiveIds.directDefunding(channelId))) throw new EngineError('not-allowed', `channel ${channelId} is closing: no more updates`);
    if (this.actors.has(objectiveIds.challenge(channelId))) throw new EngineError('not-allowed', `channel ${channelId} is being challenged on chain: no updates until the challenge is cleared`);
    if (states.some((ss) => ss.state.appData === LEDGER_APP_DATA)) throw new EngineError('invalid', 'an update may not carry the ledger mark as its appData');
    const result = receiveUpdates(stored, states, this.deps.key);
    let peerBehind = false;
    for (const { turnNum, error } of result.invalid) {
      this.reject(from, error, objectiveIds.update(channelId, turnNum));
      if (/in the past/.test(error.message)) peerBehind = true;
    }
    const { channel } = result;
    if (channel !== stored) this.write({ channel });
    // Our answer: countersignatures, refusals, and our copy of any state whose signatures the peer lacks.
    const replies = new Map<number, Payload>();
    for (const ss of result.countersigned) replies.set(ss.state.turnNum, { type: 'state', objectiveId: objectiveIds.update(channelId, ss.state.turnNum), signedState: ss });
    for (const theirs of states) {
      const ours = channel.states.find((s) => s.state.turnNum === theirs.state.turnNum);
      if (ours && !replies.has(ours.state.turnNum) && ours.signatures.some((sig, i) => sig !== null && theirs.signatures[i] === null)) {
        replies.set(ours.state.turnNum, { type: 'state', objectiveId: objectiveIds.update(channelId, ours.state.turnNum), signedState: ours });
      }
    }
    for (const { turnNum, reason } of result.refused) {
      replies.set(turnNum, { type: 'reject', objectiveId: objectiveIds.update(channelId, turnNum), channelId, reason });
      this.log('update.refused', { from, channel: channelId, turnNum, reason: reason.slice(0, 200) });
    }
    if (replies.size) this.post(from, { payloads: [...replies.values()] });
    if (peerBehind) this.sendLatest(channel, from, objectiveIds.update(channelId, latestSupported(channel)!.state.turnNum));
    for (const turnNum of result.abandoned) this.failUpdate(channelId, turnNum, new EngineError('invalid', 'conflict: the counterparty proposed the same turn first'));
    if (channel !== stored) {
      const summary = await this.summary(channel);
      const supportedTurn = latestSupported(channel)!.state.turnNum;
      const waiters = this.updateWaiters.get(channelId);
      if (waiters) {
        const done: ((s: ChannelSummary) => void)[] = [];
        for (const [turn, w] of waiters) {
          if (turn > supportedTurn) continue;
          waiters.delete(turn);
          done.push(w.resolve);
        }
        if (waiters.size === 0) this.updateWaiters.delete(channelId);
        if (done.length) this.afterCommit(() => done.forEach((resolve) => resolve(summary)));
      }
      const notify = this.deps.onChannelUpdated;
      if (notify) this.afterCommit(() => notify(summary));
    }
    if (this.queuedProposals.length) this.scheduleProposals();
  }

  private failUpdate(channelId: Bytes32, turnNum: number, error: Error): void {
    const waiters = this.updateWaiters.get(channelId);
    const w = waiters?.get(turnNum);
    if (!w) return;
    waiters!.delete(turnNum);
    if (waiters!.size === 0) this.updateWaiters.delete(channelId);
    w.reject(error);
  }

  /** Our in-flight update proposals (and the supported state they build on), for a peer that may lack them. */
  private sendUpdates(channel: Channel, to: Address): void {
    const payloads: Payload[] = this.statesPeerMayLack(channel).map((signedState) => ({ type: 'state', objectiveId: objectiveIds.update(channel.id, signedState.state.turnNum), signedState }));
    this.post(to, { payloads });
  }

  // ---- Waiting for objectives ---------------------------------------------------------------------

  private waiters = new Map<string, ((status: ObjectiveStatus) => void)[]>();

  private settle(id: string) {
    const status = this.committed.get(id)?.status ?? 'done';
    const waiting = this.waiters.get(id) ?? [];
    this.waiters.delete(id);
    if (waiting.length) this.afterCommit(() => waiting.forEach((w) => w(status)));
    // Keep the outcome of recent updates for callers still to ask; forget old ones.
    if (this.committed.size > 2000) {
      for (const key of this.committed.keys()) {
        if (this.committed.size <= 1000) break;
        if (key.startsWith('Update-')) this.committed.delete(key);
      }
    }
  }

  /** Resolves with the objective's final status. */
  async objectiveSettled(id: string): Promise<ObjectiveStatus> {
    const known = this.committed.get(id) ?? (await this.store.getObjective(id));
    if (known && known.status !== 'active') {
      await this.durable();
      return known.status;
    }
    return new Promise((resolve) => this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]));
  }

  private async waitFor(id: string, channelId: Bytes32): Promise<ChannelSummary> {
    const status = await this.objectiveSettled(id);
    if (status !== 'done') throw new EngineError('invalid', this.committed.get(id)?.error ?? `the update ended ${status}`);
    const summary = await this.getChannel(channelId);
    if (!summary) throw new EngineError('unknown-channel', `no channel ${channelId}`);
    return summary;
  }

  // ---- Views ---------------------------------------------------------------------------------

  async summary(c: Channel): Promise<ChannelSummary> {
    const supported = latestSupported(c);
    const shown = supported ?? latest(c);
    const lookup = async (id: string) => {
      const known = this.committed.get(id);
      if (known) return { status: known.status, snapshot: { value: known.value } };
      if (this.absent.has(id)) return undefined;
      const o = await this.store.getObjective(id);
      if (o) this.committed.set(id, { status: o.status, value: String((o.snapshot as { value?: unknown }).value) });
      else this.absent.add(id);
      return o;
    };
    const [funding, defunding, dispute] = await Promise.all([lookup(objectiveIds.directFunding(c.id)), lookup(objectiveIds.directDefunding(c.id)), lookup(objectiveIds.challenge(c.id))]);
    let status: ChannelSummary['status'] = 'proposed';
    const disputeValue = (dispute?.snapshot as { value?: string } | undefined)?.value;
    if (dispute?.status === 'active') status = 'challenged';
    else if (disputeValue === 'done') status = 'closed';
    else if (defunding) status = defunding.status === 'done' ? 'closed' : defunding.status === 'failed' ? 'failed' : 'closing';
    else if (funding?.status === 'rejected') status = 'rejected';
    else if (funding?.status === 'failed') status = 'failed';
    else if (supported && supported.state.turnNum >= POSTFUND_TURN) status = 'running';
    else if (funding && (funding.snapshot as { value?: string }).value !== 'awaitingApproval') status = 'funding';
    const exit = shown.state.outcome[0]!;
    return {
      channelId: c.id,
      participants: c.fixedPart.participants,
      appDefinition: c.fixedPart.appDefinition,
      turnNum: shown.state.turnNum,
      status,
      asset: exit.asset,
      balances: c.fixedPart.participants.map((p) => exit.allocations.filter((a) => a.destination === addressToDestination(p)).reduce((t, a) => t + a.amount, 0n)),
      challengeDuration: c.fixedPart.challengeDuration,
    };
  }
}

function isThenable<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

function channelIdOf(ss: SignedState): Bytes32 {
  return computeChannelId(ss.state);
}

/** Whether `ss` carries a signature our copy of that turn lacks (or a state we do not hold at all). */
function addsSignatures(channel: Channel, ss: SignedState): boolean {
  const ours = stateAt(channel, ss.state.turnNum);
  if (!ours) return true;
  return ss.signatures.some((sig, i) => {
    if (sig === null) return false;
    const mine = ours.signatures[i];
    return !mine || mine.r !== sig.r || mine.s !== sig.s || mine.v !== sig.v;
  });
}
