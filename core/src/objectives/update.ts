import { assign, setup } from 'xstate';
import { fail } from '../errors.ts';
import type { Address } from '../hex.ts';
import { type Exit, addressToDestination } from '../outcome.ts';
import { type Channel, isSupported, latestSupported, receiveSignedState, signAndAdd, stateAt } from '../protocol/channel.ts';
import { type Payload, objectiveIds } from '../protocol/message.ts';
import type { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import type { State } from '../state.ts';
import type { Effect } from './effects.ts';

/**
 * An update of a running channel. The proposer signs turn `supported + 1` and sends it; the
 * others countersign it, but only if it takes nothing from them: a wallet never signs away its
 * own funds for someone else's proposal (the payer proposes a payment, the payee countersigns).
 */
export interface UpdateContext {
  objectiveId: string;
  channel: Channel;
  turnNum: number;
  role: 'proposer' | 'responder';
  outbox: Effect[];
  error?: string;
}

export type UpdateEvent = { type: 'STATE_RECEIVED'; signedState: SignedState } | { type: 'EFFECTS_DONE' };

export type UpdateInput = { channel: Channel; propose: State } | { channel: Channel; received: SignedState };

function others(c: Channel): Address[] {
  return c.fixedPart.participants.filter((_, i) => i !== c.myIndex);
}

function totalTo(outcome: Exit, asset: Address, destination: string): bigint {
  let t = 0n;
  for (const e of outcome) if (e.asset === asset) for (const a of e.allocations) if (a.destination === destination) t += a.amount;
  return t;
}

/** Throws unless `next` leaves participant `index` with at least what it had in `base`, for every asset. */
export function requireNoLossFor(base: State, next: State, index: number): void {
  const me = addressToDestination(base.participants[index]!);
  for (const e of base.outcome) {
    const before = totalTo(base.outcome, e.asset, me);
    const after = totalTo(next.outcome, e.asset, me);
    if (after < before) fail('invalid-outcome', 'outcome', `the proposal takes ${before - after} of ${e.asset} from us; only the payer proposes a payment`);
  }
}

export function updateMachine(key: PrivateKey) {
  return setup({
    types: { context: {} as UpdateContext, events: {} as UpdateEvent, input: {} as UpdateInput },
    guards: {
      isProposer: ({ context }) => context.role === 'proposer',
      supported: ({ context }) => {
        const s = stateAt(context.channel, context.turnNum);
        return s !== undefined && isSupported(s);
      },
    },
    actions: {
      propose: assign(({ context }) => {
        const proposal = stateAt(context.channel, context.turnNum)!.state;
        const { channel, signed } = signAndAdd(context.channel, proposal, key);
        const payloads: Payload[] = [{ type: 'state', objectiveId: context.objectiveId, signedState: signed }];
        return { channel, outbox: [...context.outbox, { kind: 'send', to: others(channel), payloads }] };
      }),
      countersign: assign(({ context }) => {
        const proposal = stateAt(context.channel, context.turnNum)!.state;
        const base = latestSupported(context.channel)!.state;
        try {
          requireNoLossFor(base, proposal, context.channel.myIndex);
          const { channel, signed } = signAndAdd(context.channel, proposal, key);
          const payloads: Payload[] = [{ type: 'state', objectiveId: context.objectiveId, signedState: signed }];
          return {
            channel,
            outbox: [...context.outbox, { kind: 'send', to: others(channel), payloads }, { kind: 'progress', objectiveId: context.objectiveId, channelId: channel.id, stage: 'updated' }],
          };
        } catch (e) {
          const reason = e instanceof Error ? e.message : 'refused';
          const payloads: Payload[] = [{ type: 'reject', objectiveId: context.objectiveId, channelId: context.channel.id, reason }];
          return { error: reason, outbox: [...context.outbox, { kind: 'send', to: others(context.channel), payloads }] };
        }
      }),
      merge: assign(({ context, event }) => {
        if (event.type !== 'STATE_RECEIVED') return {};
        const { channel, abandoned } = receiveSignedState(context.channel, event.signedState);
        return abandoned && abandoned.state.turnNum === context.turnNum ? { channel, error: 'conflict: the counterparty proposed the same turn first' } : { channel };
      }),
      announce: assign(({ context }) => ({ outbox: [...context.outbox, { kind: 'progress', objectiveId: context.objectiveId, channelId: context.channel.id, stage: 'updated' }] })),
      clearOutbox: assign({ outbox: () => [] }),
    },
  }).createMachine({
    id: 'update',
    context: ({ input }) => {
      if ('propose' in input) {
        const base = latestSupported(input.channel);
        if (!base) fail('unsupported-state', 'channel', 'the channel has no supported state to update');
        const turnNum = base.state.turnNum + 1;
        if (input.propose.turnNum !== turnNum) fail('unsupported-state', 'turnNum', `an update must be turn ${turnNum}`);
        // Record the proposal unsigned; the entry action signs it (checking every rule).
        const channel = { ...input.channel, states: [...input.channel.states.filter((s) => s.state.turnNum < turnNum), { state: input.propose, signatures: input.propose.participants.map(() => null) }] };
        return { objectiveId: objectiveIds.update(input.channel.id, turnNum), channel, turnNum, role: 'proposer' as const, outbox: [] };
      }
      const channel = receiveSignedState(input.channel, input.received).channel;
      const turnNum = input.received.state.turnNum;
      return { objectiveId: objectiveIds.update(input.channel.id, turnNum), channel, turnNum, role: 'responder' as const, outbox: [] };
    },
    initial: 'start',
    on: { EFFECTS_DONE: { actions: 'clearOutbox' } },
    states: {
      start: {
        always: [{ guard: 'isProposer', target: 'awaitingCountersignature', actions: 'propose' }, { target: 'answered', actions: 'countersign' }],
      },
      awaitingCountersignature: {
        on: { STATE_RECEIVED: { actions: 'merge' } },
        always: [
          { guard: 'supported', target: 'done', actions: 'announce' },
          { guard: ({ context }) => context.error !== undefined, target: 'failed' },
        ],
      },
      answered: {
        always: [{ guard: ({ context }) => context.error !== undefined, target: 'refused' }, { target: 'done' }],
      },
      done: { tags: ['terminal'], on: { STATE_RECEIVED: { actions: 'merge' } } },
      refused: { tags: ['terminal'] },
      failed: { tags: ['terminal'] },
    },
  });
}
