import type { Address, Bytes32 } from '../hex.ts';
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
  | { kind: 'progress'; objectiveId: string; channelId: Bytes32; stage: ProgressStage; detail?: string };

export type ProgressStage =
  | 'awaiting-approval'
  | 'waiting-for-counterparty'
  | 'waiting-for-counterparty-deposit'
  | 'depositing'
  | 'deposit-mined'
  | 'funded'
  | 'running'
  | 'updated'
  | 'closing'
  | 'concluded'
  | 'rejected'
  | 'failed';
