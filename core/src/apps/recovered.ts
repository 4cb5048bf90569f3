import type { VariablePart } from '../state.ts';

/** A variable part with a bitmask of who signed it, as the adjudicator hands it to an app. */
export interface RecoveredVariablePart {
  variablePart: VariablePart;
  signedBy: bigint;
}

export function countSigners(signedBy: bigint): number {
  let n = 0;
  for (let m = signedBy; m > 0n; m &= m - 1n) n++;
  return n;
}

export function isSignedBy(signedBy: bigint, index: number): boolean {
  return ((signedBy >> BigInt(index)) & 1n) === 1n;
}
