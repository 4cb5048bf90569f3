import { fail } from '../errors.ts';
import { ZERO_ADDRESS } from '../hex.ts';
import type { Exit } from '../outcome.ts';
import { type FixedPart, channelId } from '../state.ts';
import { decodeVoucherAppData, verifyVoucher } from '../voucher.ts';
import { type RecoveredVariablePart, countSigners, isSignedBy } from './recovered.ts';

/**
 * VirtualPaymentApp: participants [payer, intermediary…, payee]. Prefund (turn 0) and postfund
 * (turn 1) need everyone's signature. The only other supported state is the redemption
 * (turn 2), signed by the payee, carrying a voucher from the payer and moving exactly the
 * voucher's amount from payer to payee, proved from the unanimous postfund.
 * Mirrors the contract's `stateIsSupported`; throws a CoreError where it reverts.
 */
export function virtualPaymentAppStateIsSupported(fixedPart: FixedPart, proof: RecoveredVariablePart[], candidate: RecoveredVariablePart): void {
  const n = fixedPart.participants.length;
  const turnNum = candidate.variablePart.turnNum;
  if (proof.length === 0) {
    if (countSigners(candidate.signedBy) !== n) fail('unsupported-state', 'candidate.signedBy', '!unanimous; |proof|=0');
    if (turnNum === 0 || turnNum === 1) return;
    fail('unsupported-state', 'candidate.turnNum', 'bad candidate turnNum; |proof|=0');
  }
  if (proof.length === 1) {
    const postfund = proof[0]!;
    if (postfund.variablePart.turnNum !== 1) fail('unsupported-state', 'proof[0].turnNum', 'bad proof[0].turnNum; |proof|=1');
    if (countSigners(postfund.signedBy) !== n) fail('unsupported-state', 'proof[0].signedBy', 'postfund !unanimous; |proof|=1');
    if (turnNum !== 2) fail('unsupported-state', 'candidate.turnNum', 'bad candidate turnNum; |proof|=1');
    if (!isSignedBy(candidate.signedBy, n - 1)) fail('unsupported-state', 'candidate.signedBy', 'redemption not signed by the payee');
    const voucher = decodeVoucherAppData(candidate.variablePart.appData, channelId(fixedPart));
    verifyVoucher(voucher, fixedPart.participants[0]!);
    requireCorrectAdjustments(postfund.variablePart.outcome, candidate.variablePart.outcome, voucher.amount);
    return;
  }
  fail('unsupported-state', 'proof', 'bad proof length');
}

function requireCorrectAdjustments(oldOutcome: Exit, newOutcome: Exit, voucherAmount: bigint): void {
  const o = oldOutcome[0];
  const n = newOutcome[0];
  if (oldOutcome.length !== 1 || newOutcome.length !== 1 || o === undefined || n === undefined || o.asset !== ZERO_ADDRESS || n.asset !== ZERO_ADDRESS) {
    fail('invalid-outcome', 'outcome', 'only the native asset is allowed');
  }
  const oldPayer = o.allocations[0]?.amount;
  const newPayer = n.allocations[0]?.amount;
  const newPayee = n.allocations[1]?.amount;
  if (oldPayer === undefined || newPayer === undefined || newPayee === undefined) fail('invalid-outcome', 'outcome[0].allocations', 'expected payer and payee allocations');
  if (oldPayer < voucherAmount || newPayer !== oldPayer - voucherAmount) {
    fail('invalid-outcome', 'outcome[0].allocations[0].amount', 'payer not adjusted by exactly the voucher amount');
  }
  if (newPayee !== voucherAmount) fail('invalid-outcome', 'outcome[0].allocations[1].amount', 'payee must receive exactly the voucher amount');
}
