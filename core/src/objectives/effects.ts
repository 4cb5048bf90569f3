import type { Address, Bytes32 } from '../hex.ts';
import type { Exit } from '../outcome.ts';
import type { LedgerChange } from '../protocol/ledger.ts';
import type { Payload } from '../protocol/message.ts';
import type { Signature } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import type { ExitTransaction, ExitUpdate } from './virtual-exit.ts';

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
  | { kind: 'ledgerRequest'; objectiveId: string; ledgerId: Bytes32; change: LedgerChange }
  /**
   * Disputes (objectives/challenge.ts): the adjudicator's `challenge` with a supported state and
   * our challenger signature, `checkpoint` with a newer supported state, `transferAllAssets` of a
   * finalized channel by its registered outcome. The engine checks the channel's on-chain status
   * (or holdings) before it submits any of them, so one performed again after a reload sends
   * nothing when its work is already on chain.
   */
  | { kind: 'challenge'; objectiveId: string; candidate: SignedState; challengerSig: Signature }
  | { kind: 'checkpoint'; objectiveId: string; candidate: SignedState }
  | { kind: 'transferAllAssets'; objectiveId: string; channelId: Bytes32; outcome: Exit; stateHash: Bytes32 }
  /** Where a dispute on the channel stands, for the app and the user (a countdown to `finalizesAt`). */
  | { kind: 'challengeUpdated'; objectiveId: string; channelId: Bytes32; update: ChallengeUpdate }
  /**
   * The exit of a budget whose hub is gone (objectives/virtual-exit.ts): a challenge, a `reclaim`
   * or the ledger's `transferAllAssets`. The engine reads the channel's status first and submits
   * only what the chain still lacks, then reports the status back.
   */
  | { kind: 'exitTransaction'; objectiveId: string; tx: ExitTransaction }
  /** Where the exit stands (the countdown runs to `finalizesAt`). */
  | { kind: 'exitUpdated'; objectiveId: string; channelId: Bytes32; update: ExitUpdate };

/**
 * A dispute's stage: `challenging` (our challenge is being submitted), `registered` (a challenge is
 * on chain: the channel finalizes at `finalizesAt` with the state of turn `turnNum` unless a newer
 * supported state is registered), `checkpointing` (answering a stale challenge with our newer
 * state), `cleared` (a newer state cleared the challenge: the channel runs again), `withdrawing`
 * (finalized: `transferAllAssets` is being submitted), `withdrawn` (paid out), `failed`.
 */
export type ChallengeStage = 'challenging' | 'registered' | 'checkpointing' | 'cleared' | 'withdrawing' | 'withdrawn' | 'failed';

export interface ChallengeUpdate {
  channelId: Bytes32;
  stage: ChallengeStage;
  /** Who registered the challenge: we did, or a counterparty did (we watch for it). */
  challenger: 'us' | 'counterparty';
  /** The turn of the state registered on chain (our candidate's while challenging). */
  turnNum: number;
  /** When the registered challenge finalizes (unix seconds, chain time); 0 when none is registered. */
  finalizesAt: number;
  /** Why it failed, or what went wrong on the way (a refused transaction, retried). */
  detail?: string;
}

/**
 * Why an objective's chain transaction failed, in fields, for the user's notice: set on the
 * `failed` progress of a deposit or a conclusion the chain refused (the `detail` then carries the
 * chain's message), and on a `retrying` progress (what failed, retried by the engine). The engine fills it in from its ChainError; objectives only pass it on.
 */
export interface ChainFailure {
  operation: 'deposit' | 'conclude' | 'challenge' | 'checkpoint' | 'transfer' | 'reclaim';
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
  /**
   * A chain call failed in a way the engine retries by itself (the RPC is unreachable, a deposit
   * left the chain in a reorganisation): `detail` says what happened and `failure` carries the
   * fields; the objective goes on once the chain answers again.
   */
  | 'retrying'
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
