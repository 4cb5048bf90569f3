import { assign, setup } from 'xstate';
import { CoreError, fail } from '../errors.ts';
import type { Bytes32 } from '../hex.ts';
import { type Channel, POSTFUND_TURN, PREFUND_TURN, latestSupported, receiveSignedState, signAndAdd, stateAt, counterparties } from '../protocol/channel.ts';
import { type Payload, objectiveIds } from '../protocol/message.ts';
import {
  type LedgerSide,
  type LedgerView,
  type VirtualLedgers,
  checkLedgerState,
  guaranteeFor,
  requireLedgersFor,
  requireVirtualPrefund,
  sidesOf,
} from '../protocol/virtual.ts';
import type { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import { type State, channelId, hashState } from '../state.ts';
import { type Effect, progressOf } from './effects.ts';

/**
 * Virtual funding of a payment channel V = [payer, hub, payee] through two ledger channels
 * (protocol/virtual.ts), one machine per participant:
 *
 * 1. every participant signs V's prefund (turn 0) — after its own approval;
 * 2. once the prefund is signed by all three, each asks its ledger manager for V's guarantee on
 *    each ledger it is in (`ledgerRequest`): the ledger's leader proposes it, the follower
 *    countersigns exactly that and nothing else for V;
 * 3. once every ledger it is in supports the guarantee (LEDGER_UPDATED, checked: signed by both
 *    ledger parties, the guarantee exactly V's), it signs V's postfund (turn 1);
 * 4. done when the postfund is signed by all three.
 *
 * Nobody signs the postfund before its own ledgers hold the guarantee, so V's only supported
 * states before then are the prefund (which returns everything to the payer) — nobody can lose.
 */
export interface VirtualFundContext {
  objectiveId: string;
  /** V as we hold it. */
  channel: Channel;
  /** V's prefund (kept: the channel drops it once the postfund is supported). */
  prefund: State;
  ledgers: VirtualLedgers;
  /** The latest supported state seen of each of our ledgers, as far as V is concerned. */
  ledgerViews: Partial<Record<LedgerSide, LedgerView>>;
  outbox: Effect[];
  error?: string;
}

export type VirtualFundEvent =
  | { type: 'APPROVE' }
  | { type: 'REJECT'; reason: string }
  | { type: 'STATE_RECEIVED'; signedState: SignedState }
  | { type: 'PEER_REJECTED'; reason: string }
  /** A ledger's latest supported state (from the ledger manager). */
  | { type: 'LEDGER_UPDATED'; ledgerId: Bytes32; signedState: SignedState }
  /** The ledger manager cannot make the change we asked for (e.g. the leader cannot afford it). */
  | { type: 'LEDGER_FAILED'; ledgerId: Bytes32; error: string }
  | { type: 'EFFECTS_DONE' };

export interface VirtualFundInput {
  /** V, holding its prefund (`newChannel(prefund, me)`). */
  channel: Channel;
  ledgers: VirtualLedgers;
}

const progress = progressOf;

/** Which of our ledgers `ledgerId` is; throws if it is none of them. */
export function sideOfLedger(ledgers: VirtualLedgers, ledgerId: Bytes32, field = 'ledgerId'): LedgerSide {
  if (ledgers.left === ledgerId) return 'left';
  if (ledgers.right === ledgerId) return 'right';
  fail('invalid-outcome', field, `${ledgerId} is not a ledger of this virtual channel`);
}

/**
 * Checks a V state received from a peer: for V, exactly our prefund or its postfund, every
 * signature by its participant, and the channel rules. Throws a CoreError naming what is wrong;
 * the machine ignores such an event (the engine calls this first to log and reject it).
 */
export function checkVirtualFundState(ctx: Pick<VirtualFundContext, 'channel' | 'prefund'>, ss: SignedState, field = 'signedState'): void {
  const id = ctx.channel.id;
  if (channelId(ss.state) !== id) fail('invalid-outcome', `${field}.state`, `state is for channel ${channelId(ss.state)}, not ${id}`);
  const expected = ss.state.turnNum === PREFUND_TURN ? ctx.prefund : ss.state.turnNum === POSTFUND_TURN ? { ...ctx.prefund, turnNum: POSTFUND_TURN } : undefined;
  if (!expected || hashState(expected, id) !== hashState(ss.state, id)) fail('unsupported-state', `${field}.state`, 'not this virtual channel’s prefund or postfund');
  receiveSignedState(ctx.channel, ss, field);
}

/** Checks a LEDGER_UPDATED event against V; returns the ledger's side and what it holds for V. */
export function checkFundingLedgerUpdate(ctx: Pick<VirtualFundContext, 'ledgers' | 'prefund'>, ledgerId: Bytes32, ss: SignedState): { side: LedgerSide; view: LedgerView } {
  const side = sideOfLedger(ctx.ledgers, ledgerId);
  return { side, view: checkLedgerState(ctx.prefund, side, ledgerId, ss) };
}

/**
 * Checks an objective's input before the engine starts it (the machine's context does the same,
 * but an actor cannot throw to its creator): V's prefund is one this core can fund, and the
 * ledgers are exactly those our role needs. Returns the prefund.
 */
export function checkVirtualFundInput(input: VirtualFundInput): State {
  const prefund = stateAt(input.channel, PREFUND_TURN)?.state;
  if (!prefund) fail('unsupported-state', 'channel', 'virtual funding starts from the prefund state');
  requireVirtualPrefund(prefund);
  requireLedgersFor(input.channel.myIndex, input.ledgers);
  return prefund;
}

function passes(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch (e) {
    if (e instanceof CoreError) return false;
    throw e;
  }
}

/** The virtual-funding objective for the holder of `key`. */
export function virtualFundMachine(key: PrivateKey) {
  return setup({
    types: { context: {} as VirtualFundContext, events: {} as VirtualFundEvent, input: {} as VirtualFundInput },
    guards: {
      validState: ({ context, event }) => event.type === 'STATE_RECEIVED' && passes(() => checkVirtualFundState(context, event.signedState)),
      validLedger: ({ context, event }) => event.type === 'LEDGER_UPDATED' && passes(() => checkFundingLedgerUpdate(context, event.ledgerId, event.signedState)),
      ourLedger: ({ context, event }) => event.type === 'LEDGER_FAILED' && passes(() => sideOfLedger(context.ledgers, event.ledgerId)),
      prefundSupported: ({ context }) => latestSupported(context.channel) !== undefined,
      ledgersFunded: ({ context }) => sidesOf(context.channel.myIndex).every((side) => context.ledgerViews[side]?.guarantee === 'present'),
      postfundSupported: ({ context }) => (latestSupported(context.channel)?.state.turnNum ?? -1) >= POSTFUND_TURN,
    },
    actions: {
      signPrefund: assign(({ context }) => {
        const { channel, signed } = signAndAdd(context.channel, context.prefund, key);
        const payloads: Payload[] = [{ type: 'state', objectiveId: context.objectiveId, signedState: signed }];
        return { channel, outbox: [...context.outbox, { kind: 'send', to: counterparties(channel), payloads }, progress(context, 'waiting-for-counterparty')] };
      }),
      requestGuarantees: assign(({ context }) => {
        const requests: Effect[] = sidesOf(context.channel.myIndex).map((side) => ({
          kind: 'ledgerRequest',
          objectiveId: context.objectiveId,
          ledgerId: context.ledgers[side]!,
          change: { type: 'add', guarantee: guaranteeFor(context.prefund, side) },
        }));
        return { outbox: [...context.outbox, ...requests, progress(context, 'waiting-for-ledger')] };
      }),
      recordLedger: assign(({ context, event }) => {
        if (event.type !== 'LEDGER_UPDATED') return {};
        const { side, view } = checkFundingLedgerUpdate(context, event.ledgerId, event.signedState);
        const seen = context.ledgerViews[side];
        if (seen && seen.turnNum > view.turnNum) return {}; // an older state than we already saw
        return { ledgerViews: { ...context.ledgerViews, [side]: view } };
      }),
      signPostfund: assign(({ context }) => {
        const { channel, signed } = signAndAdd(context.channel, { ...context.prefund, turnNum: POSTFUND_TURN }, key);
        const payloads: Payload[] = [{ type: 'state', objectiveId: context.objectiveId, signedState: signed }];
        return { channel, outbox: [...context.outbox, progress(context, 'funded'), { kind: 'send', to: counterparties(channel), payloads }] };
      }),
      merge: assign(({ context, event }) => (event.type === 'STATE_RECEIVED' ? { channel: receiveSignedState(context.channel, event.signedState).channel } : {})),
      announceRunning: assign(({ context }) => ({ outbox: [...context.outbox, progress(context, 'running')] })),
      rejectByUs: assign(({ context, event }) => {
        const reason = event.type === 'REJECT' ? event.reason : 'rejected';
        const payloads: Payload[] = [{ type: 'reject', objectiveId: context.objectiveId, channelId: context.channel.id, reason }];
        return { error: reason, outbox: [...context.outbox, { kind: 'send', to: counterparties(context.channel), payloads }, progress(context, 'rejected', reason)] };
      }),
      rejectedByPeer: assign(({ context, event }) => {
        const reason = event.type === 'PEER_REJECTED' ? event.reason : 'rejected';
        return { error: `a participant rejected: ${reason}`, outbox: [...context.outbox, progress(context, 'rejected', reason)] };
      }),
      ledgerFailed: assign(({ context, event }) => {
        const error = event.type === 'LEDGER_FAILED' ? `ledger ${event.ledgerId}: ${event.error}` : 'failed';
        return { error, outbox: [...context.outbox, progress(context, 'failed', error)] };
      }),
      clearOutbox: assign({ outbox: () => [] }),
    },
  }).createMachine({
    id: 'virtual-fund',
    context: ({ input }) => {
      const prefund = checkVirtualFundInput(input);
      return { objectiveId: objectiveIds.virtualFunding(input.channel.id), channel: input.channel, prefund, ledgers: { ...input.ledgers }, ledgerViews: {}, outbox: [] };
    },
    initial: 'awaitingApproval',
    on: {
      EFFECTS_DONE: { actions: 'clearOutbox' },
      // Peers' signatures are merged in every state; a state that fails the checks is ignored.
      STATE_RECEIVED: { guard: 'validState', actions: 'merge' },
    },
    states: {
      awaitingApproval: {
        entry: assign(({ context }) => ({ outbox: [...context.outbox, progress(context, 'awaiting-approval')] })),
        on: {
          APPROVE: { target: 'prefund', actions: 'signPrefund' },
          REJECT: { target: 'rejected', actions: 'rejectByUs' },
          PEER_REJECTED: { target: 'rejected', actions: 'rejectedByPeer' },
        },
      },
      prefund: {
        always: { guard: 'prefundSupported', target: 'funding' },
        on: { PEER_REJECTED: { target: 'rejected', actions: 'rejectedByPeer' } },
      },
      funding: {
        entry: 'requestGuarantees',
        always: { guard: 'ledgersFunded', target: 'postfund', actions: 'signPostfund' },
        on: {
          LEDGER_UPDATED: { guard: 'validLedger', actions: 'recordLedger' },
          LEDGER_FAILED: { guard: 'ourLedger', target: 'failed', actions: 'ledgerFailed' },
        },
      },
      postfund: {
        always: { guard: 'postfundSupported', target: 'done', actions: 'announceRunning' },
      },
      // Terminal, but not xstate-final: the engine drains the last step's outbox as any other.
      done: { tags: ['terminal'] },
      rejected: { tags: ['terminal'] },
      failed: { tags: ['terminal'] },
    },
  });
}

export type VirtualFundMachine = ReturnType<typeof virtualFundMachine>;
