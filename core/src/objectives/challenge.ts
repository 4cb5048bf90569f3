import { assign, setup } from 'xstate';
import { signChallenge } from '../adjudicator.ts';
import { fail } from '../errors.ts';
import { type Channel, latestSupported } from '../protocol/channel.ts';
import { objectiveIds } from '../protocol/message.ts';
import type { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import { type VariablePart, hashState } from '../state.ts';
import { type ChainFailure, type ChallengeStage, type ChallengeUpdate, type Effect, progressOf } from './effects.ts';

/**
 * A dispute of a direct (or ledger) channel on the adjudicator, from our side:
 *
 * - **We challenge** (`challenger: 'us'`, the user asked): the `challenge` with our latest
 *   supported state and our challenger signature; once it is registered the channel finalizes at
 *   `finalizesAt` unless someone registers a newer supported state.
 * - **A counterparty challenged** (`challenger: 'counterparty'`, the engine saw
 *   `ChallengeRegistered`): if the registered state is older than our latest supported state we
 *   answer with a `checkpoint` of ours, which clears it; otherwise (it is our latest state, or a
 *   newer one we signed) we let it finalize.
 *
 * Either way, once finalized: `transferAllAssets` by the registered outcome, and the objective is
 * done (`withdrawn`). A challenge cleared by a newer state ends it too (`cleared`: the channel runs
 * again; the user may challenge again). The engine checks the channel's on-chain status and
 * holdings before it submits any transaction this asks for, and tells the objective what the
 * chain shows — so after a reload at any step nothing is submitted twice.
 *
 * Leaves room for virtual channels whose hub is gone: their exit challenges the ledger and V with
 * their own candidates and `reclaim`s before the transfer; that is another objective built on the
 * same effects.
 */

/** A challenge as the adjudicator registered it: the candidate's variable part and when it finalizes. */
export interface RegisteredChallenge {
  turnNum: number;
  finalizesAt: number;
  state: VariablePart;
}

export interface ChallengeContext {
  objectiveId: string;
  channel: Channel;
  challenger: 'us' | 'counterparty';
  /** Ours: the supported state we challenged with. */
  candidate?: SignedState;
  registered?: RegisteredChallenge;
  /** The chain transaction asked for and not yet answered: after a reload the engine checks the chain and, if its work is not there, performs it again. */
  pending?: DisputeTransaction;
  /** What a retried transaction last failed with. */
  lastError?: string;
  ending?: 'withdrawn' | 'cleared';
  outbox: Effect[];
  error?: string;
}

export type ChallengeEvent =
  /** The adjudicator registered a challenge (from its event, or from its status after our own challenge). */
  | { type: 'CHALLENGE_REGISTERED'; turnNum: number; finalizesAt: number; state: VariablePart }
  /** The registered challenge was cleared by a checkpoint (or a newer challenge was registered over it, seen as a clear first). */
  | { type: 'CHALLENGE_CLEARED'; turnNumRecord: number }
  /** Chain time has reached the registered challenge's `finalizesAt`. */
  | { type: 'FINALIZED' }
  /** The channel's holdings are all paid out. */
  | { type: 'WITHDRAWN' }
  | { type: 'TX_FAILED'; operation: 'challenge' | 'checkpoint' | 'transfer'; error: string; failure?: ChainFailure }
  /** The engine's current copy of the channel (newer states may have been stored since we started). */
  | { type: 'CHANNEL_UPDATED'; channel: Channel }
  /** A periodic look: answer a stale challenge again if our checkpoint failed before. */
  | { type: 'CHECK' }
  | { type: 'EFFECTS_DONE' };

/** The chain transactions a dispute asks for. */
export type DisputeTransaction = Extract<Effect, { kind: 'challenge' | 'checkpoint' | 'transferAllAssets' }>;

export type ChallengeInput = { channel: Channel; challenger: 'us' } | { channel: Channel; challenger: 'counterparty'; registered: RegisteredChallenge };

/** Whether the registered challenge is older than our latest supported state (so we can and must answer it). */
export function isStale(channel: Channel, registered: RegisteredChallenge | undefined): boolean {
  const ours = latestSupported(channel);
  return registered !== undefined && ours !== undefined && registered.turnNum < ours.state.turnNum;
}

/** Where the dispute stands, from the objective's context. */
export function challengeUpdateOf(ctx: ChallengeContext, stage: ChallengeStage, detail?: string): ChallengeUpdate {
  const turnNum = ctx.registered?.turnNum ?? ctx.candidate?.state.turnNum ?? 0;
  const finalizesAt = stage === 'challenging' || stage === 'cleared' ? 0 : (ctx.registered?.finalizesAt ?? 0);
  const update: ChallengeUpdate = { channelId: ctx.channel.id, stage, challenger: ctx.challenger, turnNum, finalizesAt };
  return detail === undefined ? update : { ...update, detail };
}

/** The stage a stored objective's state value stands for. */
export function challengeStageOf(value: string): ChallengeStage {
  if (value === 'done') return 'withdrawn';
  if (value === 'start' || value === 'judging') return 'registered';
  return value as ChallengeStage;
}

export function challengeMachine(key: PrivateKey) {
  const report = (ctx: ChallengeContext, stage: ChallengeStage, detail?: string): Effect => ({ kind: 'challengeUpdated', objectiveId: ctx.objectiveId, channelId: ctx.channel.id, update: challengeUpdateOf(ctx, stage, detail) });
  const registeredOf = (event: ChallengeEvent): RegisteredChallenge | undefined =>
    event.type === 'CHALLENGE_REGISTERED' ? { turnNum: event.turnNum, finalizesAt: event.finalizesAt, state: event.state } : undefined;
  return setup({
    types: { context: {} as ChallengeContext, events: {} as ChallengeEvent, input: {} as ChallengeInput },
    guards: {
      stale: ({ context }) => isStale(context.channel, context.registered),
      /** A registration we do not know yet (the same one delivered again, by the event and by the status, changes nothing). */
      newRegistration: ({ context, event }) =>
        event.type === 'CHALLENGE_REGISTERED' && (context.registered?.turnNum !== event.turnNum || context.registered.finalizesAt !== event.finalizesAt),
      clearsRegistered: ({ context, event }) => event.type === 'CHALLENGE_CLEARED' && (context.registered === undefined || event.turnNumRecord > context.registered.turnNum),
    },
    actions: {
      submitChallenge: assign(({ context }) => {
        const candidate = latestSupported(context.channel)!;
        const challengerSig = signChallenge(hashState(candidate.state, context.channel.id), key);
        const tx: DisputeTransaction = { kind: 'challenge', objectiveId: context.objectiveId, candidate, challengerSig };
        return { candidate, pending: tx, outbox: [...context.outbox, tx, report({ ...context, candidate }, 'challenging')] };
      }),
      register: assign(({ event }) => ({ registered: registeredOf(event) })),
      reportRegistered: assign(({ context }) => ({ pending: undefined, outbox: [...context.outbox, report(context, 'registered', context.lastError)] })),
      submitCheckpoint: assign(({ context }) => {
        const tx: DisputeTransaction = { kind: 'checkpoint', objectiveId: context.objectiveId, candidate: latestSupported(context.channel)! };
        return { pending: tx, outbox: [...context.outbox, tx, report(context, 'checkpointing')] };
      }),
      submitTransfer: assign(({ context }) => {
        const r = context.registered!;
        const stateHash = hashState({ ...context.channel.fixedPart, ...r.state }, context.channel.id);
        const tx: DisputeTransaction = { kind: 'transferAllAssets', objectiveId: context.objectiveId, channelId: context.channel.id, outcome: r.state.outcome, stateHash };
        return { pending: tx, outbox: [...context.outbox, tx, report(context, 'withdrawing')] };
      }),
      retried: assign(({ context, event }) => {
        const error = event.type === 'TX_FAILED' ? event.error : 'failed';
        return { pending: undefined, lastError: error, outbox: [...context.outbox, report(context, 'registered', error)] };
      }),
      cleared: assign(({ context }) => ({ pending: undefined, ending: 'cleared' as const, outbox: [...context.outbox, report(context, 'cleared')] })),
      withdrawn: assign(({ context }) => ({ pending: undefined, ending: 'withdrawn' as const, outbox: [...context.outbox, report(context, 'withdrawn'), progressOf(context, 'concluded')] })),
      failed: assign(({ context, event }) => {
        const error = event.type === 'TX_FAILED' ? event.error : 'failed';
        const failure = event.type === 'TX_FAILED' ? event.failure : undefined;
        return { pending: undefined, error, outbox: [...context.outbox, report(context, 'failed', error), progressOf(context, 'failed', error, failure)] };
      }),
      channel: assign(({ context, event }) => (event.type === 'CHANNEL_UPDATED' && event.channel.id === context.channel.id ? { channel: event.channel } : {})),
      clearOutbox: assign({ outbox: () => [] }),
    },
  }).createMachine({
    id: 'challenge',
    context: ({ input }) => {
      if (!latestSupported(input.channel)) fail('unsupported-state', 'channel', 'the channel has no supported state to challenge or answer with');
      const base = { objectiveId: objectiveIds.challenge(input.channel.id), channel: input.channel, challenger: input.challenger, outbox: [] };
      return input.challenger === 'us' ? base : { ...base, registered: input.registered };
    },
    initial: 'start',
    on: { EFFECTS_DONE: { actions: 'clearOutbox' }, CHANNEL_UPDATED: { actions: 'channel' } },
    states: {
      start: {
        always: [{ guard: ({ context }) => context.challenger === 'us', target: 'challenging', actions: 'submitChallenge' }, { target: 'judging' }],
      },
      challenging: {
        on: {
          CHALLENGE_REGISTERED: { target: 'judging', actions: 'register' },
          TX_FAILED: { target: 'failed', actions: 'failed' },
        },
      },
      /** A challenge is registered: answer it if it is stale, else wait for it to finalize. */
      judging: {
        always: [
          { guard: 'stale', target: 'checkpointing', actions: 'submitCheckpoint' },
          { target: 'registered', actions: 'reportRegistered' },
        ],
      },
      registered: {
        on: {
          FINALIZED: { target: 'withdrawing', actions: 'submitTransfer' },
          CHALLENGE_CLEARED: { guard: 'clearsRegistered', target: 'cleared', actions: 'cleared' },
          CHALLENGE_REGISTERED: { guard: 'newRegistration', target: 'judging', actions: 'register' },
          CHECK: { guard: 'stale', target: 'checkpointing', actions: 'submitCheckpoint' },
        },
      },
      checkpointing: {
        on: {
          CHALLENGE_CLEARED: { guard: 'clearsRegistered', target: 'cleared', actions: 'cleared' },
          CHALLENGE_REGISTERED: { guard: 'newRegistration', target: 'judging', actions: 'register' },
          // Refused (no ETH for gas, …): the challenge stands; the next check tries again.
          TX_FAILED: { target: 'registered', actions: 'retried' },
          // Too late: the stale state finalized. Its outcome is all there is left to withdraw.
          FINALIZED: { target: 'withdrawing', actions: 'submitTransfer' },
        },
      },
      withdrawing: {
        on: {
          WITHDRAWN: { target: 'done', actions: 'withdrawn' },
          // Refused (no ETH for gas, an RPC down): still finalized; the next check withdraws again.
          TX_FAILED: { target: 'registered', actions: 'retried' },
        },
      },
      /** Withdrawn: the channel is paid out. */
      done: { tags: ['terminal'] },
      /** A newer state cleared the challenge: the channel runs again (the engine counts this objective done). */
      cleared: { tags: ['terminal'] },
      failed: { tags: ['terminal'] },
    },
  });
}
