import { assign, setup } from 'xstate';
import { fail } from '../errors.ts';
import { requireOutcomeConserved } from '../funding.ts';
import { sameOutcome } from '../outcome.ts';
import { type Channel, isSupported, latest, latestSupported, receiveSignedState, signAndAdd, stateAt, counterparties } from '../protocol/channel.ts';
import { type Payload, objectiveIds } from '../protocol/message.ts';
import type { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import { type ChainFailure, type Effect, progressOf } from './effects.ts';

/**
 * Direct defunding (cooperative close): the proposer signs a final state (the turn above every state held,
 * `isFinal`, the supported outcome unchanged), the others countersign it, and the proposer
 * submits `concludeAndTransferAllAssets`, which pays everyone out in one transaction. The
 * objective completes when the chain shows the channel concluded.
 */
export interface DirectDefundContext {
  objectiveId: string;
  channel: Channel;
  turnNum: number;
  role: 'proposer' | 'responder';
  concludeSubmitted: boolean;
  outbox: Effect[];
  error?: string;
}

export type DirectDefundEvent =
  | { type: 'STATE_RECEIVED'; signedState: SignedState }
  | { type: 'CONCLUDE_SENT'; txHash: string }
  | { type: 'CONCLUDE_FAILED'; error: string; failure?: ChainFailure }
  /** The chain shows the channel concluded (its holdings paid out). */
  | { type: 'CONCLUDED' }
  | { type: 'EFFECTS_DONE' };

export type DirectDefundInput = { channel: Channel; role: 'proposer' } | { channel: Channel; role: 'responder'; received: SignedState };

/**
 * Checks a peer's close proposal before we act on it: a final state, one turn after the
 * supported state, keeping its outcome exactly. Throws a CoreError naming what is wrong.
 */
export function checkCloseProposal(channel: Channel, received: SignedState): void {
  const base = latestSupported(channel);
  if (!base) fail('unsupported-state', 'channel', 'the channel has no supported state to close from');
  const proposal = received.state;
  if (!proposal.isFinal) fail('unsupported-state', 'isFinal', 'a close proposal must be a final state');
  requireOutcomeConserved(base.state.outcome, proposal.outcome);
  if (!sameOutcome(proposal.outcome, base.state.outcome)) fail('invalid-outcome', 'outcome', 'a close proposal must keep the supported outcome');
  receiveSignedState(channel, received);
}

export function directDefundMachine(key: PrivateKey) {
  const progress = progressOf;
  return setup({
    types: { context: {} as DirectDefundContext, events: {} as DirectDefundEvent, input: {} as DirectDefundInput },
    actions: {
      signFinal: assign(({ context }) => {
        const final = stateAt(context.channel, context.turnNum)!.state;
        const { channel, signed } = signAndAdd(context.channel, final, key);
        const payloads: Payload[] = [{ type: 'state', objectiveId: context.objectiveId, signedState: signed }];
        return { channel, outbox: [...context.outbox, { kind: 'send', to: counterparties(channel), payloads }, progress(context, 'closing')] };
      }),
      merge: assign(({ context, event }) => (event.type === 'STATE_RECEIVED' ? { channel: receiveSignedState(context.channel, event.signedState).channel } : {})),
      conclude: assign(({ context }) => ({
        concludeSubmitted: true,
        outbox: [...context.outbox, { kind: 'conclude', objectiveId: context.objectiveId, signedState: stateAt(context.channel, context.turnNum)! }],
      })),
      concluded: assign(({ context }) => ({ outbox: [...context.outbox, progress(context, 'concluded')] })),
      failed: assign(({ context, event }) => {
        const error = event.type === 'CONCLUDE_FAILED' ? event.error : 'failed';
        return { error, outbox: [...context.outbox, progress(context, 'failed', error, event.type === 'CONCLUDE_FAILED' ? event.failure : undefined)] };
      }),
      clearOutbox: assign({ outbox: () => [] }),
    },
  }).createMachine({
    id: 'direct-defund',
    context: ({ input }) => {
      const base = latestSupported(input.channel);
      if (!base) fail('unsupported-state', 'channel', 'the channel has no supported state to close from');
      let channel = input.channel;
      let turnNum: number;
      if (input.role === 'proposer') {
        // Above every state held: a refused proposal we signed keeps its turn, never re-signed.
        turnNum = base.state.isFinal ? base.state.turnNum : latest(channel).state.turnNum + 1;
        if (!base.state.isFinal) {
          const final = { ...base.state, turnNum, isFinal: true };
          channel = { ...channel, states: [...channel.states.filter((s) => s.state.turnNum < turnNum), { state: final, signatures: final.participants.map(() => null) }] };
        }
      } else {
        checkCloseProposal(channel, input.received);
        channel = receiveSignedState(channel, input.received).channel;
        turnNum = input.received.state.turnNum;
      }
      return { objectiveId: objectiveIds.directDefunding(input.channel.id), channel, turnNum, role: input.role, concludeSubmitted: false, outbox: [] };
    },
    initial: 'signing',
    on: { EFFECTS_DONE: { actions: 'clearOutbox' }, STATE_RECEIVED: { actions: 'merge' } },
    states: {
      signing: { always: { target: 'awaitingSignatures', actions: 'signFinal' } },
      awaitingSignatures: {
        always: [
          { guard: ({ context }) => context.role === 'proposer' && stateAt(context.channel, context.turnNum) !== undefined && isSupported(stateAt(context.channel, context.turnNum)!), target: 'concluding', actions: 'conclude' },
          { guard: ({ context }) => context.role === 'responder', target: 'concluding' },
        ],
        on: { CONCLUDED: { target: 'done', actions: 'concluded' } },
      },
      concluding: {
        on: {
          CONCLUDE_SENT: {},
          CONCLUDE_FAILED: { target: 'failed', actions: 'failed' },
          CONCLUDED: { target: 'done', actions: 'concluded' },
        },
      },
      done: { tags: ['terminal'] },
      failed: { tags: ['terminal'] },
    },
  });
}
