import { fail } from '../errors.ts';
import type { FixedPart } from '../state.ts';
import { type RecoveredVariablePart, countSigners } from './recovered.ts';

/**
 * ConsensusApp (ledger channels): a state is supported only when every participant signed it,
 * with no proof. Mirrors the contract's `stateIsSupported`; throws a CoreError where it reverts.
 */
export function consensusAppStateIsSupported(fixedPart: FixedPart, proof: RecoveredVariablePart[], candidate: RecoveredVariablePart): void {
  if (proof.length !== 0) fail('unsupported-state', 'proof', '|proof|!=0: ConsensusApp takes no proof');
  if (countSigners(candidate.signedBy) !== fixedPart.participants.length) {
    fail('unsupported-state', 'candidate.signedBy', '!unanimous: every participant must sign');
  }
}
