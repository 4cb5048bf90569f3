import { type AnyActorRef, createActor } from 'xstate';
import {
  type Address,
  type Bytes32,
  CoreError,
  type Exit,
  type PrivateKey,
  type SignedState,
  type State,
  addressToDestination,
  AllocationType,
  channelId as computeChannelId,
} from '../../core/src/index.ts';
import { type Channel, POSTFUND_TURN, latest, latestSupported, newChannel, receiveSignedState } from '../../core/src/protocol/channel.ts';
import { type Payload, type ProtocolMessage, objectiveIds, parseMessage, serializeMessage } from '../../core/src/protocol/message.ts';
import { checkCloseProposal, directDefundMachine } from '../../core/src/objectives/direct-defund.ts';
import { directFundMachine } from '../../core/src/objectives/direct-fund.ts';
import type { ChainFailure, Effect, ProgressStage } from '../../core/src/objectives/effects.ts';
import { inFlight, proposeUpdate, receiveUpdates, runningState } from '../../core/src/protocol/updates.ts';
import { ChainError, chainFailureOf } from './chain/errors.ts';
import type { ChainEvent, ChainService } from './chain/types.ts';
import { ChannelCache } from './store/channel-cache.ts';
import type { ObjectiveRecord, ObjectiveStatus, ObjectiveType, Store } from './store/types.ts';

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
}

export interface ChannelSummary {
  channelId: Bytes32;
  participants: Address[];
  appDefinition: Address;
  turnNum: number;
  status: 'proposed' | 'funding' | 'running' | 'closing' | 'closed' | 'rejected' | 'failed';
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

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: 'unknown-channel' | 'not-allowed' | 'busy' | 'invalid',
    message: string,
  ) {
    super(message);
  }
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

const TERMINAL: Record<string, ObjectiveStatus> = { done: 'done', rejected: 'rejected', refused: 'refused', failed: 'failed' };

function typeOf(objectiveId: string): ObjectiveType {
  return objectiveId.split('-')[0] as ObjectiveType;
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
  readonly address: Address;
  private readonly store: ChannelCache;

  constructor(private readonly deps: EngineDeps) {
    this.address = deps.key.address;
    this.store = new ChannelCache(deps.store);
  }

  private machineFor(type: ObjectiveType) {
    const { key } = this.deps;
    if (type === 'DirectFunding') return directFundMachine(key);
    if (type === 'DirectDefunding') return directDefundMachine(key);
    throw new EngineError('invalid', `no objective machine for ${type}`);
  }

  private log(event: string, fields?: Record<string, string | number | boolean | undefined>) {
    this.deps.log?.(event, fields);
  }

  /** Runs `f` after everything queued before it; events never interleave. */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f, f);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Resumes every unfinished objective from the store and starts watching the chain. */
  async start(): Promise<void> {
    await this.serial(async () => {
      for (const record of await this.store.activeObjectives()) {
        const actor = createActor(this.machineFor(record.type), { snapshot: record.snapshot } as never);
        actor.start();
        this.actors.set(record.id, actor);
        this.log('objective.resumed', { objective: record.id });
      }
    });
    this.stopWatching = this.deps.chain.watch(
      () => [...this.actors.values()].map((a) => (a.getSnapshot().context as { channel: Channel }).channel.id),
      (event) => void this.serial(() => this.onChainEvent(event)),
    );
    // Perform what a crash may have left unperformed, and refresh what the chain says.
    await this.serial(async () => {
      for (const [id, actor] of [...this.actors]) {
        await this.performOutbox(id, actor);
        await this.resumeChainWork(id, actor);
        await this.refreshHoldings(id, actor);
      }
    });
    const interval = this.deps.resendIntervalMs ?? 2000;
    if (interval > 0) this.resendTimer = setInterval(() => void this.serial(() => this.resendPending()), interval);
  }

  stop(): void {
    this.stopWatching?.();
    if (this.resendTimer) clearInterval(this.resendTimer);
    for (const a of this.actors.values()) a.stop();
    this.actors.clear();
  }

  /** Resolves when every event queued so far has been handled. */
  idle(): Promise<void> {
    return this.serial(async () => undefined);
  }

  // ---- API ---------------------------------------------------------------------------------

  /** Proposes and (already approved by the user) starts funding a direct channel. */
  createChannel(args: CreateChannelArgs): Promise<Bytes32> {
    return this.serial(async () => {
      const me = this.address;
      const prefund: State = {
        participants: [me, args.counterparty],
        channelNonce: args.channelNonce ?? BigInt(Date.now()) * 1000n + BigInt(Math.floor(Math.random() * 1000)),
        appDefinition: args.appDefinition,
        challengeDuration: args.challengeDuration,
        outcome: [
          {
            asset: args.asset,
            assetMetadata: { assetType: 0, metadata: '0x' },
            allocations: [
              { destination: addressToDestination(me), amount: args.myAmount, allocationType: AllocationType.simple, metadata: '0x' },
              { destination: addressToDestination(args.counterparty), amount: args.theirAmount, allocationType: AllocationType.simple, metadata: '0x' },
            ],
          },
        ],
        appData: '0x',
        turnNum: 0,
        isFinal: false,
      };
      const channel = newChannel(prefund, me);
      if (await this.store.getChannel(channel.id)) throw new EngineError('invalid', `channel ${channel.id} exists already`);
      const actor = this.spawn('DirectFunding', { channel });
      actor.send({ type: 'APPROVE' });
      await this.step(objectiveIds.directFunding(channel.id), actor);
      return channel.id;
    });
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

  async getChannel(channelId: Bytes32): Promise<ChannelSummary | undefined> {
    const c = await this.store.getChannel(channelId);
    return c && this.summary(c);
  }

  async listChannels(): Promise<ChannelSummary[]> {
    return Promise.all((await this.store.listChannels()).map((c) => this.summary(c)));
  }

  /**
   * A protocol message from `from` (authenticated by the transport). Invalid input is logged and
   * dropped; nothing is stored. Messages that arrive while the engine is busy are handled
   * together: update states for one channel across all of them are checked, committed and
   * answered at once.
   */
  receiveMessage(from: Address, text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.inbox.push({ from, text, resolve, reject });
      if (this.inboxScheduled) return;
      this.inboxScheduled = true;
      nextTask(() => void this.serial(() => this.drainInbox()));
    });
  }

  private readonly inbox: { from: Address; text: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private inboxScheduled = false;

  private async drainInbox(): Promise<void> {
    this.inboxScheduled = false;
    const messages = this.inbox.splice(0);
    const batches = new Map<string, { from: Address; channelId: Bytes32; states: SignedState[] }>();
    // Update states wait in `batches`; any other payload first flushes them, so order is kept.
    const flush = async () => {
      for (const b of batches.values()) {
        try {
          await this.onUpdates(b.from, b.channelId, b.states);
        } catch (e) {
          this.reject(b.from, e);
        }
      }
      batches.clear();
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
      }
      await flush();
      for (const m of messages) m.resolve();
    } catch (e) {
      for (const m of messages) m.reject(e);
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
    const supported = latestSupported(channel);
    if (!supported || supported.state.turnNum < POSTFUND_TURN || supported.state.isFinal) throw new EngineError('not-allowed', `channel ${channelId} is not running`);
    for (const id of this.actors.keys()) if (id.includes(channelId)) throw new EngineError('busy', `channel ${channelId} is busy with ${id}`);
    return channel;
  }

  private async closableChannel(channelId: Bytes32): Promise<Channel> {
    const channel = await this.store.getChannel(channelId);
    if (!channel) throw new EngineError('unknown-channel', `no channel ${channelId}`);
    const supported = latestSupported(channel);
    if (!supported || supported.state.isFinal) throw new EngineError('not-allowed', `channel ${channelId} has nothing to close`);
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
    await this.store.commit({ channel: ctx.channel, objective: record });
    this.committed.set(id, { status, value: String(snap.value) });
  }

  private async performOutbox(id: string, actor: AnyActorRef): Promise<void> {
    const effects = [...(actor.getSnapshot().context as { outbox: Effect[] }).outbox];
    if (effects.length === 0) return this.retireIfDone(id, actor);
    actor.send({ type: 'EFFECTS_DONE' });
    const followUps: (() => Promise<void>)[] = [];
    for (const e of effects) {
      if (e.kind === 'send') {
        for (const to of e.to) this.deps.sendMessage(to, serializeMessage({ from: this.address, to, payloads: e.payloads }));
      } else if (e.kind === 'progress') {
        const { kind: _kind, ...progress } = e;
        this.deps.onProgress?.(progress);
      } else if (e.kind === 'deposit') {
        followUps.push(() => this.deposit(id, e));
      } else if (e.kind === 'conclude') {
        followUps.push(() => this.conclude(id, e.signedState));
      }
    }
    // The cleared outbox needs storing only when it held chain work: messages and progress are
    // safe to perform again if we crash before the next commit (peers merge re-sent states).
    if (followUps.length > 0) await this.commit(id, actor);
    const ctx = actor.getSnapshot().context as { channel: Channel };
    this.deps.onChannelUpdated?.(await this.summary(ctx.channel));
    // Chain calls run outside the event queue (they take blocks); their results come back as events.
    for (const f of followUps) void f();
    this.retireIfDone(id, actor);
  }

  private retireIfDone(id: string, actor: AnyActorRef): void {
    if (actor.getSnapshot().hasTag('terminal') && (actor.getSnapshot().context as { outbox: Effect[] }).outbox.length === 0) {
      actor.stop();
      this.actors.delete(id);
      this.settle(id);
    }
  }

  /**
   * Chain work a reload may have cut short: a deposit planned but never confirmed is planned
   * again from fresh holdings (its old expectedHeld makes any copy already sent harmless), and a
   * conclusion not yet seen on chain is checked and, if still needed, submitted again.
   */
  private async resumeChainWork(id: string, actor: AnyActorRef): Promise<void> {
    const snap = actor.getSnapshot();
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
        if (final) void this.conclude(id, final);
      }
    }
  }

  private async deposit(id: string, e: Extract<Effect, { kind: 'deposit' }>): Promise<void> {
    try {
      await this.deps.chain.deposit({ asset: e.asset, channelId: e.channelId, expectedHeld: e.expectedHeld, amount: e.amount });
      await this.serial(() => this.toObjective(id, { type: 'DEPOSIT_MINED', asset: e.asset }));
    } catch (err) {
      const retryable = err instanceof ChainError && err.code === 'reverted' && /expectedHeld/.test(err.reason ?? err.message);
      const message = err instanceof Error ? err.message : String(err);
      this.log('chain.deposit-failed', { objective: id, retryable, reason: message.slice(0, 200) });
      const failure = !retryable && err instanceof ChainError ? chainFailureOf(err, 'deposit', { asset: e.asset, amount: e.amount, held: e.expectedHeld }) : undefined;
      await this.serial(() => this.toObjective(id, { type: 'DEPOSIT_FAILED', asset: e.asset, error: message, retryable, ...(failure && { failure }) }));
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

  private async refreshHoldings(id: string, actor: AnyActorRef): Promise<void> {
    if (typeOf(id) !== 'DirectFunding' || actor.getSnapshot().hasTag('terminal')) return;
    const channel = (actor.getSnapshot().context as { channel: Channel }).channel;
    for (const exit of channel.states[0]!.state.outcome) {
      const amount = await this.deps.chain.getHoldings(exit.asset, channel.id);
      actor.send({ type: 'HOLDINGS', asset: exit.asset, amount });
    }
    await this.step(id, actor);
  }

  private async onChainEvent(event: ChainEvent): Promise<void> {
    for (const [id, actor] of this.actors) {
      const channel = (actor.getSnapshot().context as { channel: Channel }).channel;
      if (channel.id !== event.channelId) continue;
      if (event.type === 'Concluded' && typeOf(id) === 'DirectDefunding') await this.toObjective(id, { type: 'CONCLUDED' });
      else if (typeOf(id) === 'DirectFunding') await this.refreshHoldings(id, actor);
    }
  }

  private async onPayload(from: Address, payload: Payload): Promise<void> {
    const stored = await this.store.getChannel(payload.type === 'state' ? channelIdOf(payload.signedState) : payload.channelId);
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
      this.deps.onChannelProposed?.(await this.summary(channel));
      return;
    }
    const supported = latestSupported(stored);
    if (supported && ss.state.turnNum < supported.state.turnNum) {
      // A stale state: refuse it, and since the peer is evidently behind, send what it lacks.
      this.sendLatest(stored, from, payload.objectiveId);
      throw new EngineError('invalid', `turn ${ss.state.turnNum} is in the past: turn ${supported.state.turnNum} is already supported`);
    }
    const type = typeOf(payload.objectiveId);
    if (type === 'DirectDefunding' && ss.state.isFinal) {
      checkCloseProposal(stored, ss);
      // Closing before funding completed ends the funding objective first.
      const funding = this.actors.get(objectiveIds.directFunding(stored.id));
      if (funding) {
        funding.send({ type: 'ABANDON', reason: 'the channel is being closed before its funding completed' });
        await this.step(objectiveIds.directFunding(stored.id), funding);
      }
      await this.step(payload.objectiveId, this.spawn('DirectDefunding', { channel: stored, role: 'responder', received: ss }));
    } else {
      // Signatures on a state we hold: merge them (idempotent).
      const { channel } = receiveSignedState(stored, ss);
      await this.store.commit({ channel });
      this.replyIfPeerLacks(channel, ss, from, payload.objectiveId);
    }
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
    const payloads: Payload[] = this.statesPeerMayLack(channel).map((signedState) => ({ type: 'state', objectiveId, signedState }));
    this.deps.sendMessage(to, serializeMessage({ from: this.address, to, payloads }));
  }

  /** Re-sends our latest signed state of every objective still waiting on a peer. */
  private async resendPending(): Promise<void> {
    // A close waiting on the chain: check it there too (an event may have been missed).
    for (const [id, actor] of [...this.actors]) {
      if (typeOf(id) === 'DirectDefunding' && actor.getSnapshot().value === 'concluding' && !this.concluding.has(id)) await this.resumeChainWork(id, actor);
    }
    // Update proposals not yet countersigned (also ones a reload interrupted).
    for (const channel of await this.store.listChannels()) {
      if (runningState(channel) && inFlight(channel) > 0) for (const to of this.othersIn(channel)) this.sendUpdates(channel, to);
    }
    for (const [id, actor] of this.actors) {
      if (actor.getSnapshot().hasTag('terminal') || actor.getSnapshot().value === 'awaitingApproval') continue;
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

  private othersIn(channel: Channel): Address[] {
    return channel.fixedPart.participants.filter((_, i) => i !== channel.myIndex);
  }

  /**
   * Proposes what is queued after the tasks already waiting have run, so calls that arrive
   * together (a dapp issuing several at once) are signed, committed and sent together.
   */
  private scheduleProposals(): void {
    if (this.proposalsScheduled) return;
    this.proposalsScheduled = true;
    nextTask(() => void this.serial(() => this.proposeQueued()));
  }

  /** Signs every queued update (up to the in-flight limit per channel), commits once per channel, sends once. */
  private async proposeQueued(): Promise<void> {
    this.proposalsScheduled = false;
    const byChannel = new Map<Bytes32, typeof this.queuedProposals>();
    for (const p of this.queuedProposals.splice(0)) byChannel.set(p.channelId, [...(byChannel.get(p.channelId) ?? []), p]);
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
      await this.store.commit({ channel });
      const waiters = this.updateWaiters.get(channelId) ?? new Map();
      for (const [turn, call] of waiting) waiters.set(turn, call);
      this.updateWaiters.set(channelId, waiters);
      const payloads: Payload[] = signed.map((signedState) => ({ type: 'state', objectiveId: objectiveIds.update(channelId, signedState.state.turnNum), signedState }));
      for (const to of this.othersIn(channel)) this.deps.sendMessage(to, serializeMessage({ from: this.address, to, payloads }));
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
    if (this.actors.has(objectiveIds.directDefunding(channelId))) throw new EngineError('not-allowed', `channel ${channelId} is closing: no more updates`);
    const result = receiveUpdates(stored, states, this.deps.key);
    let peerBehind = false;
    for (const { turnNum, error } of result.invalid) {
      this.reject(from, error, objectiveIds.update(channelId, turnNum));
      if (/in the past/.test(error.message)) peerBehind = true;
    }
    const { channel } = result;
    if (channel !== stored) await this.store.commit({ channel });
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
    if (replies.size) this.deps.sendMessage(from, serializeMessage({ from: this.address, to: from, payloads: [...replies.values()] }));
    if (peerBehind) this.sendLatest(channel, from, objectiveIds.update(channelId, latestSupported(channel)!.state.turnNum));
    for (const turnNum of result.abandoned) this.failUpdate(channelId, turnNum, new EngineError('invalid', 'conflict: the counterparty proposed the same turn first'));
    if (channel !== stored) {
      const summary = await this.summary(channel);
      const supportedTurn = latestSupported(channel)!.state.turnNum;
      const waiters = this.updateWaiters.get(channelId);
      if (waiters) {
        for (const [turn, w] of waiters) {
          if (turn > supportedTurn) continue;
          waiters.delete(turn);
          w.resolve(summary);
        }
        if (waiters.size === 0) this.updateWaiters.delete(channelId);
      }
      this.deps.onChannelUpdated?.(summary);
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
    this.deps.sendMessage(to, serializeMessage({ from: this.address, to, payloads }));
  }

  // ---- Waiting for objectives ---------------------------------------------------------------------

  private waiters = new Map<string, ((status: ObjectiveStatus) => void)[]>();

  private settle(id: string) {
    const status = this.committed.get(id)?.status ?? 'done';
    for (const w of this.waiters.get(id) ?? []) w(status);
    this.waiters.delete(id);
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
    if (known && known.status !== 'active') return known.status;
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
    const [funding, defunding] = await Promise.all([lookup(objectiveIds.directFunding(c.id)), lookup(objectiveIds.directDefunding(c.id))]);
    let status: ChannelSummary['status'] = 'proposed';
    if (defunding) status = defunding.status === 'done' ? 'closed' : defunding.status === 'failed' ? 'failed' : 'closing';
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

function channelIdOf(ss: SignedState): Bytes32 {
  return computeChannelId(ss.state);
}
