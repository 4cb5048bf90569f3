import { assign, setup } from 'xstate';
import { CoreError, fail } from '../errors.ts';
import type { Bytes32 } from '../hex.ts';
import { type Channel, POSTFUND_TURN, isSupported, latestSupported, receiveSignedState, signAndAdd, signedByMe, stateAt, counterparties } from '../protocol/channel.ts';
import { type Payload, objectiveIds } from '../protocol/message.ts';
import {
  FINAL_TURN,
  HUB,
  type LedgerSide,
  type LedgerView,
  PAYEE,
  PAYER,
  type VirtualLedgers,
  checkLedgerState,
  checkVirtualFinal,
  removalFor,
  requireLedgersFor,
  sidesOf,
  virtualFinalState,
} from '../protocol/virtual.ts';
import type { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import type { State } from '../state.ts';
import type { Voucher } from '../voucher.ts';
import { type Effect, progressOf } from './effects.ts';
import { sideOfLedger } from './virtual-fund.ts';

/**
 * Virtual defunding of a running payment channel V = [payer, hub, payee], one machine per
 * participant:
 *
 * 1. the payee (or the payer) proposes V's final state built from the largest voucher it holds
 *    (`virtualFinalState`: turn 2, final, the voucher as appData, exactly its amount moved to
 *    the payee); the others check the voucher (signed by the payer, for V, within the channel)
 *    and countersign. The payee refuses less than the largest voucher it received, the payer more
 *    than it paid. If both propose at once, the payer's proposal wins (the channel's rule: the
 *    lower participant index) and the payee countersigns it if it pays at least its vouchers;
 * 2. once the final state is signed by all three, each asks its ledger manager to remove V's
 *    guarantee from each ledger it is in, paying the ledger's left party what V's payer ends
 *    with and its right party what V's payee ends with (`ledgerRequest`, as in funding);
 * 3. done when every ledger it is in supports a state without V's guarantee.
 *
 * Defunding needs V running (its postfund supported). The engine closes V's voucher book when it
 * starts this objective.
 */
export interface VirtualDefundContext {
  objectiveId: string;
  channel: Channel;
  /** V's postfund: what the final state is built on. */
  postfund: State;
  ledgers: VirtualLedgers;
  role: 'proposer' | 'responder';
  /** What our voucher book says was paid: the payee accepts no less, the payer no more. */
  paid?: bigint;
  ledgerViews: Partial<Record<LedgerSide, LedgerView>>;
  outbox: Effect[];
  error?: string;
}

export type VirtualDefundEvent =
  | { type: 'STATE_RECEIVED'; signedState: SignedState }
  | { type: 'LEDGER_UPDATED'; ledgerId: Bytes32; signedState: SignedState }
  | { type: 'LEDGER_FAILED'; ledgerId: Bytes32; error: string }
  | { type: 'EFFECTS_DONE' };

export type VirtualDefundInput =
  /** The payer or the payee: `voucher` is the largest it sent or received (none: nothing paid). */
  | { channel: Channel; ledgers: VirtualLedgers; role: 'proposer'; voucher?: Voucher }
  /** Anyone, answering a received final state; `paid` from its voucher book (payer, payee). */
  | { channel: Channel; ledgers: VirtualLedgers; role: 'responder'; received: SignedState; paid?: bigint };

const progress = progressOf;

function postfundOf(channel: Channel): State {
  const supported = latestSupported(channel);
  if (!supported || supported.state.turnNum !== POSTFUND_TURN) fail('unsupported-state', 'channel', 'the virtual channel is not running: its latest supported state must be the postfund');
  return supported.state;
}

/**
 * Checks a final state of V received from a peer: exactly the final state of a voucher signed by
 * the payer for V (`checkVirtualFinal`), paying the payee at least what we received (payee) or at
 * most what we paid (payer), every signature by its participant, and the channel rules (of two
 * proposals, the payer's wins). Returns the amount it pays. Throws a CoreError naming what is wrong.
 */
export function checkVirtualDefundState(ctx: Pick<VirtualDefundContext, 'channel' | 'postfund' | 'paid'>, ss: SignedState, field = 'signedState'): bigint {
  const amount = checkVirtualFinal(ctx.postfund, ss.state, `${field}.state`);
  const me = ctx.channel.myIndex;
  if (ctx.paid !== undefined && me === PAYEE && amount < ctx.paid) fail('invalid-voucher', `${field}.state.appData`, `pays ${amount}, less than the ${ctx.paid} the payer’s vouchers already give us`);
  if (ctx.paid !== undefined && me === PAYER && amount > ctx.paid) fail('invalid-voucher', `${field}.state.appData`, `claims ${amount}, more than the ${ctx.paid} we paid`);
  receiveSignedState(ctx.channel, ss, field);
  return amount;
}

/** Checks a LEDGER_UPDATED event against V; returns the ledger's side and whether it still holds V's guarantee. */
export function checkDefundingLedgerUpdate(ctx: Pick<VirtualDefundContext, 'ledgers' | 'postfund'>, ledgerId: Bytes32, ss: SignedState): { side: LedgerSide; view: LedgerView } {
  const side = sideOfLedger(ctx.ledgers, ledgerId);
  // The guarantee was made from the prefund, whose outcome the postfund repeats.
  return { side, view: checkLedgerState({ ...ctx.postfund, turnNum: 0 }, side, ledgerId, ss) };
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

const finalOf = (c: Channel) => stateAt(c, FINAL_TURN);

/** The virtual-defunding objective for the holder of `key`. */
export function virtualDefundMachine(key: PrivateKey) {
  return setup({
    types: { context: {} as VirtualDefundContext, events: {} as VirtualDefundEvent, input: {} as VirtualDefundInput },
    guards: {
      validState: ({ context, event }) => event.type === 'STATE_RECEIVED' && passes(() => checkVirtualDefundState(context, event.signedState)),
      validLedger: ({ context, event }) => event.type === 'LEDGER_UPDATED' && passes(() => checkDefundingLedgerUpdate(context, event.ledgerId, event.signedState)),
      ourLedger: ({ context, event }) => event.type === 'LEDGER_FAILED' && passes(() => sideOfLedger(context.ledgers, event.ledgerId)),
      finalSupported: ({ context }) => {
        const f = finalOf(context.channel);
        return f !== undefined && isSupported(f);
      },
      needsMySignature: ({ context }) => {
        const f = finalOf(context.channel);
        return f !== undefined && !signedByMe(f, context.channel);
      },
      guaranteesRemoved: ({ context }) => sidesOf(context.channel.myIndex).every((side) => context.ledgerViews[side]?.guarantee === 'absent'),
    },
    actions: {
      signFinal: assign(({ context }) => {
        const { channel, signed } = signAndAdd(context.channel, finalOf(context.channel)!.state, key);
        const payloads: Payload[] = [{ type: 'state', objectiveId: context.objectiveId, signedState: signed }];
        return { channel, outbox: [...context.outbox, { kind: 'send', to: counterparties(channel), payloads }] };
      }),
      merge: assign(({ context, event }) => (event.type === 'STATE_RECEIVED' ? { channel: receiveSignedState(context.channel, event.signedState).channel } : {})),
      requestRemovals: assign(({ context }) => {
        const change = removalFor(finalOf(context.channel)!.state);
        const requests: Effect[] = sidesOf(context.channel.myIndex).map((side) => ({ kind: 'ledgerRequest', objectiveId: context.objectiveId, ledgerId: context.ledgers[side]!, change }));
        return { outbox: [...context.outbox, ...requests, progress(context, 'waiting-for-ledger')] };
      }),
      recordLedger: assign(({ context, event }) => {
        if (event.type !== 'LEDGER_UPDATED') return {};
        const { side, view } = checkDefundingLedgerUpdate(context, event.ledgerId, event.signedState);
        const seen = context.ledgerViews[side];
        if (seen && seen.turnNum > view.turnNum) return {};
        return { ledgerViews: { ...context.ledgerViews, [side]: view } };
      }),
      announceClosing: assign(({ context }) => ({ outbox: [...context.outbox, progress(context, 'closing')] })),
      announceDone: assign(({ context }) => ({ outbox: [...context.outbox, progress(context, 'concluded')] })),
      ledgerFailed: assign(({ context, event }) => {
        const error = event.type === 'LEDGER_FAILED' ? `ledger ${event.ledgerId}: ${event.error}` : 'failed';
        return { error, outbox: [...context.outbox, progress(context, 'failed', error)] };
      }),
      clearOutbox: assign({ outbox: () => [] }),
    },
  }).createMachine({
    id: 'virtual-defund',
    context: ({ input }) => {
      requireLedgersFor(input.channel.myIndex, input.ledgers);
      const postfund = postfundOf(input.channel);
      const base = { objectiveId: objectiveIds.virtualDefunding(input.channel.id), postfund, ledgers: { ...input.ledgers }, ledgerViews: {}, outbox: [] };
      if (input.role === 'proposer') {
        const me = input.channel.myIndex;
        if (me === HUB) fail('not-a-participant', 'role', 'the hub holds no voucher: the payer or the payee proposes the final state');
        const final = virtualFinalState(postfund, input.voucher);
        // Check our own claim as a peer would (a voucher not signed by the payer is refused here).
        checkVirtualFinal(postfund, final, 'final');
        const channel = { ...input.channel, states: [...input.channel.states.filter((s) => s.state.turnNum < FINAL_TURN), { state: final, signatures: final.participants.map(() => null) }] };
        return { ...base, channel, role: 'proposer' as const, paid: input.voucher?.amount ?? 0n };
      }
      const ctx = { channel: input.channel, postfund, ...(input.paid === undefined ? {} : { paid: input.paid }) };
      checkVirtualDefundState(ctx, input.received, 'received');
      const channel = receiveSignedState(input.channel, input.received, 'received').channel;
      return { ...base, channel, role: 'responder' as const, ...(input.paid === undefined ? {} : { paid: input.paid }) };
    },
    initial: 'closing',
    on: {
      EFFECTS_DONE: { actions: 'clearOutbox' },
      STATE_RECEIVED: { guard: 'validState', actions: 'merge' },
      LEDGER_FAILED: { guard: 'ourLedger', target: '.failed', actions: 'ledgerFailed' },
    },
    states: {
      closing: {
        entry: 'announceClosing',
        always: [
          { guard: 'finalSupported', target: 'defunding' },
          { guard: 'needsMySignature', actions: 'signFinal' },
        ],
      },
      defunding: {
        entry: 'requestRemovals',
        always: { guard: 'guaranteesRemoved', target: 'done', actions: 'announceDone' },
        on: { LEDGER_UPDATED: { guard: 'validLedger', actions: 'recordLedger' } },
      },
      done: { tags: ['terminal'], on: { LEDGER_FAILED: {} } },
      failed: { tags: ['terminal'], on: { LEDGER_FAILED: {} } },
    },
  });
}

export type VirtualDefundMachine = ReturnType<typeof virtualDefundMachine>;
