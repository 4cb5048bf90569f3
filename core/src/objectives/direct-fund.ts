import { assign, setup } from 'xstate';
import type { Address, Bytes32 } from '../hex.ts';
import { depositDecision, isFullyFunded } from '../funding.ts';
import { addressToDestination } from '../outcome.ts';
import { type Channel, POSTFUND_TURN, PREFUND_TURN, isSupported, latestSupported, receiveSignedState, signAndAdd, stateAt, counterparties } from '../protocol/channel.ts';
import { type Payload, objectiveIds } from '../protocol/message.ts';
import type { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import { type ChainFailure, type Effect, progressOf } from './effects.ts';

/**
 * Direct funding (Nitro): sign the prefund state, deposit in turn (each participant waits until
 * the channel holds everything allocated before it, then tops it up to its own share, passing
 * `expectedHeld`), and once the channel is fully funded sign the postfund state.
 */
export interface DepositRecord {
  /** `submitting` is stored before the transaction is sent; `sent` once we have its hash. */
  status: 'none' | 'submitting' | 'sent' | 'mined';
  expectedHeld: bigint;
  amount: bigint;
  txHash?: string;
}

export interface DirectFundContext {
  objectiveId: string;
  channel: Channel;
  /** On-chain holdings per asset, as last read. */
  holdings: Record<Address, bigint>;
  deposits: Record<Address, DepositRecord>;
  outbox: Effect[];
  error?: string;
}

export type DirectFundEvent =
  | { type: 'APPROVE' }
  | { type: 'REJECT'; reason: string }
  | { type: 'STATE_RECEIVED'; signedState: SignedState }
  | { type: 'PEER_REJECTED'; reason: string }
  | { type: 'HOLDINGS'; asset: Address; amount: bigint }
  | { type: 'DEPOSIT_SENT'; asset: Address; txHash: string }
  | { type: 'DEPOSIT_MINED'; asset: Address }
  /** `retryable`: the chain moved under us (e.g. someone else deposited: held != expectedHeld); plan again from fresh holdings. */
  | { type: 'DEPOSIT_FAILED'; asset: Address; error: string; retryable: boolean; failure?: ChainFailure }
  /** The channel is being closed before funding completed (e.g. our deposit failed): stop. */
  | { type: 'ABANDON'; reason: string }
  | { type: 'EFFECTS_DONE' };

export interface DirectFundInput {
  channel: Channel;
}

function send(c: Channel, objectiveId: string, signedState: SignedState): Effect {
  const payloads: Payload[] = [{ type: 'state', objectiveId, signedState }];
  return { kind: 'send', to: counterparties(c), payloads };
}

const progress = progressOf;

const prefundOf = (c: Channel) => stateAt(c, PREFUND_TURN);
const postfundOf = (c: Channel) => stateAt(c, POSTFUND_TURN);

/** Deposit decisions for every asset, recording any deposit we start (status `submitting`). */
function planDeposits(ctx: DirectFundContext): Pick<DirectFundContext, 'deposits' | 'outbox'> {
  const prefund = prefundOf(ctx.channel) ?? latestSupported(ctx.channel)!;
  const me = addressToDestination(ctx.channel.fixedPart.participants[ctx.channel.myIndex]!);
  const deposits = { ...ctx.deposits };
  const outbox = [...ctx.outbox];
  for (const exit of prefund.state.outcome) {
    const held = ctx.holdings[exit.asset];
    if (held === undefined) continue; // not read yet
    const record = deposits[exit.asset] ?? { status: 'none', expectedHeld: 0n, amount: 0n };
    if (!exit.allocations.some((a) => a.destination === me)) continue;
    const decision = depositDecision(exit, me, held);
    if (decision.kind === 'deposit') {
      // A deposit already on its way is not repeated here. (After a crash the engine re-performs
      // the stored outbox; the adjudicator refuses a repeat whose expectedHeld is stale.)
      if (record.status === 'none') {
        deposits[exit.asset] = { status: 'submitting', expectedHeld: decision.expectedHeld, amount: decision.amount };
        outbox.push({ kind: 'deposit', objectiveId: ctx.objectiveId, asset: exit.asset, channelId: ctx.channel.id, expectedHeld: decision.expectedHeld, amount: decision.amount });
        outbox.push(progress(ctx, 'depositing', `${decision.amount}`));
      }
    } else if (decision.kind === 'wait' && record.status === 'none') {
      outbox.push(progress(ctx, 'waiting-for-counterparty-deposit'));
    }
  }
  return { deposits, outbox };
}

function fullyFunded(ctx: DirectFundContext): boolean {
  const prefund = prefundOf(ctx.channel) ?? latestSupported(ctx.channel)!;
  return prefund.state.outcome.every((e) => isFullyFunded(e, ctx.holdings[e.asset] ?? 0n));
}

/** The direct-funding objective for the holder of `key`. */
export function directFundMachine(key: PrivateKey) {
  return setup({
    types: { context: {} as DirectFundContext, events: {} as DirectFundEvent, input: {} as DirectFundInput },
    guards: {
      prefundSupported: ({ context }) => prefundOf(context.channel) !== undefined && isSupported(prefundOf(context.channel)!),
      postfundSupported: ({ context }) => postfundOf(context.channel) !== undefined && isSupported(postfundOf(context.channel)!),
      fullyFunded: ({ context }) => fullyFunded(context),
    },
    actions: {
      signPrefund: assign(({ context }) => {
        const { channel, signed } = signAndAdd(context.channel, prefundOf(context.channel)!.state, key);
        return { channel, outbox: [...context.outbox, send(channel, context.objectiveId, signed), progress(context, 'waiting-for-counterparty')] };
      }),
      signPostfund: assign(({ context }) => {
        const prefund = prefundOf(context.channel) ?? latestSupported(context.channel)!;
        const postfund = { ...prefund.state, turnNum: POSTFUND_TURN };
        const { channel, signed } = signAndAdd(context.channel, postfund, key);
        return { channel, outbox: [...context.outbox, send(channel, context.objectiveId, signed)] };
      }),
      merge: assign(({ context, event }) => {
        if (event.type !== 'STATE_RECEIVED') return {};
        return { channel: receiveSignedState(context.channel, event.signedState).channel };
      }),
      recordHoldings: assign(({ context, event }) => {
        if (event.type !== 'HOLDINGS') return {};
        const holdings = { ...context.holdings, [event.asset]: event.amount };
        const deposits = { ...context.deposits };
        const record = deposits[event.asset];
        if (record && record.status !== 'none' && event.amount >= record.expectedHeld + record.amount) deposits[event.asset] = { ...record, status: 'mined' };
        return { holdings, deposits };
      }),
      plan: assign(({ context }) => planDeposits(context)),
      depositSent: assign(({ context, event }) => {
        if (event.type !== 'DEPOSIT_SENT') return {};
        const record = context.deposits[event.asset];
        return record ? { deposits: { ...context.deposits, [event.asset]: { ...record, status: 'sent', txHash: event.txHash } } } : {};
      }),
      depositMined: assign(({ context, event }) => {
        if (event.type !== 'DEPOSIT_MINED') return {};
        const record = context.deposits[event.asset];
        return record ? { deposits: { ...context.deposits, [event.asset]: { ...record, status: 'mined' } }, outbox: [...context.outbox, progress(context, 'deposit-mined')] } : {};
      }),
      resetDeposit: assign(({ context, event }) => {
        if (event.type !== 'DEPOSIT_FAILED') return {};
        const { [event.asset]: _dropped, ...deposits } = context.deposits;
        return { deposits };
      }),
      fail: assign(({ context, event }) => {
        const error = event.type === 'DEPOSIT_FAILED' || event.type === 'ABANDON' ? (event.type === 'ABANDON' ? event.reason : event.error) : 'failed';
        const failure = event.type === 'DEPOSIT_FAILED' ? event.failure : undefined;
        return { error, outbox: [...context.outbox, progress(context, 'failed', error, failure)] };
      }),
      rejectByUs: assign(({ context, event }) => {
        const reason = event.type === 'REJECT' ? event.reason : 'rejected';
        const payloads: Payload[] = [{ type: 'reject', objectiveId: context.objectiveId, channelId: context.channel.id, reason }];
        return { error: reason, outbox: [...context.outbox, { kind: 'send', to: counterparties(context.channel), payloads }, progress(context, 'rejected', reason)] };
      }),
      rejectedByPeer: assign(({ context, event }) => {
        const reason = event.type === 'PEER_REJECTED' ? event.reason : 'rejected';
        return { error: `the counterparty rejected: ${reason}`, outbox: [...context.outbox, progress(context, 'rejected', reason)] };
      }),
      announceFunded: assign(({ context }) => ({ outbox: [...context.outbox, progress(context, 'funded')] })),
      announceRunning: assign(({ context }) => ({ outbox: [...context.outbox, progress(context, 'running')] })),
      clearOutbox: assign({ outbox: () => [] }),
    },
  }).createMachine({
    id: 'direct-fund',
    context: ({ input }) => ({ objectiveId: objectiveIds.directFunding(input.channel.id), channel: input.channel, holdings: {}, deposits: {}, outbox: [] }),
    initial: 'awaitingApproval',
    on: {
      EFFECTS_DONE: { actions: 'clearOutbox' },
      // A peer's signatures are merged in every state (and re-sent states merge idempotently).
      STATE_RECEIVED: { actions: 'merge' },
      HOLDINGS: { actions: 'recordHoldings' },
      ABANDON: { target: '.failed', actions: 'fail' },
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
        entry: 'plan',
        always: { guard: 'fullyFunded', target: 'postfund', actions: ['announceFunded', 'signPostfund'] },
        on: {
          HOLDINGS: { actions: ['recordHoldings', 'plan'] },
          DEPOSIT_SENT: { actions: 'depositSent' },
          DEPOSIT_MINED: { actions: 'depositMined' },
          DEPOSIT_FAILED: [
            { guard: ({ event }) => event.retryable, actions: 'resetDeposit' },
            { target: 'failed', actions: 'fail' },
          ],
        },
      },
      postfund: {
        always: { guard: 'postfundSupported', target: 'done', actions: 'announceRunning' },
      },
      // Terminal, but not xstate-final: the actor stays alive so the engine can drain the
      // effects of the last step the same way as any other (EFFECTS_DONE).
      done: { tags: ['terminal'] },
      rejected: { tags: ['terminal'] },
      failed: { tags: ['terminal'] },
    },
  });
}

export type DirectFundMachine = ReturnType<typeof directFundMachine>;
export type { Bytes32 };
