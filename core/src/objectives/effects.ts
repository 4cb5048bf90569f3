import type { Address, Bytes32 } from '../hex.ts';
import type { LedgerChange } from '../protocol/ledger.ts';
import type { Payload } from '../protocol/message.ts';
import type { SignedState } from '../signed-state.ts';

/**
 * What an objective asks the engine to do. Objectives decide; the engine performs these, after
 * it has stored the objective's new snapshot (so a crash between the two repeats an effect at
 * worst, and every effect is safe to repeat: messages merge, and a deposit carries the
 * `expectedHeld` that makes the adjudicator refuse a second one).
 */
export type Effect =
  | { kind: 'send'; to: Address[]; payloads: Payload[] }
  | { kind: 'deposit'; objectiveId: string; asset: Address; channelId: Bytes32; expectedHeld: bigint; amount: bigint }
  | { kind: 'conclude'; objectiveId: string; signedState: SignedState }
  | { kind: 'progress'; objectiveId: string; channelId: Bytes32; stage: ProgressStage; detail?: string; failure?: ChainFailure }
  /**
   * Virtual funding: asks the engine's ledger manager for `change` on ledger `ledgerId`. If we
   * lead the ledger it proposes the change (once: a repeated request for the same change is a
   * no-op); if we follow, it countersigns a proposal equal to the change when it comes (and
   * nothing else that concerns this channel). Either way the manager answers with
   * LEDGER_UPDATED (the ledger's supported state) now and whenever the ledger's supported state
   * changes, until the objective ends; a change the leader cannot make (e.g. unaffordable) is
   * answered with LEDGER_FAILED.
   */
  | { kind: 'ledgerRequest'; objectiveId: string; ledgerId: Bytes32; change: LedgerChange };

/**
 * Why an objective's chain transaction failed, in fields, for the user's notice: set only on the
 * `failed` progress of a deposit or a conclusion the chain refused (the `detail` then carries the
 * chain's message). The engine fills it in from its ChainError; objectives only pass it on.
 */
export interface ChainFailure {
  operation: 'deposit' | 'conclude';
  /** The chain boundary's error code (engine/src/chain/errors.ts): insufficient-funds, reverted, unreachable, wrong-chain, rejected-by-user, timeout. */
  code: string;
  /** A deposit's asset and amount, and what the channel held before it (the deposits of those before us). */
  asset?: Address;
  amount?: bigint;
  held?: bigint;
  /** For `reverted`: the contract's reason, when known. */
  reason?: string;
  /** The transaction concerned, when one was sent (`timeout`, a revert on chain). */
  txHash?: string;
  /** For `insufficient-funds` found by the balance check: what the funding account holds of `asset` and needs (`amount`, plus up to `gas` wei of ETH when known). */
  shortfall?: { account: Address; asset: Address; balance: bigint; amount: bigint; gas?: bigint };
}

export type ProgressStage =
  | 'awaiting-approval'
  | 'waiting-for-counterparty'
  | 'waiting-for-counterparty-deposit'
  | 'depositing'
  | 'deposit-mined'
  | 'funded'
  | 'running'
  | 'waiting-for-ledger'
  | 'updated'
  | 'closing'
  | 'concluded'
  | 'rejected'
  | 'failed';

/** The progress effect of an objective on its channel (`detail` and `failure` only when given). */
export function progressOf(ctx: { objectiveId: string; channel: { id: Bytes32 } }, stage: ProgressStage, detail?: string, failure?: ChainFailure): Effect {
  const base: Effect = detail === undefined ? { kind: 'progress', objectiveId: ctx.objectiveId, channelId: ctx.channel.id, stage } : { kind: 'progress', objectiveId: ctx.objectiveId, channelId: ctx.channel.id, stage, detail };
  return failure === undefined ? base : { ...base, failure };
}
