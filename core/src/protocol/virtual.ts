import { fail } from '../errors.ts';
import { type Address, type Bytes32, ZERO_ADDRESS } from '../hex.ts';
import { type GuaranteeRequest, encodeGuaranteeMetadata } from '../guarantee.ts';
import { type Allocation, AllocationType, addressToDestination } from '../outcome.ts';
import { type SignedState, signedBy } from '../signed-state.ts';
import { type FixedPart, type State, channelId, hashState } from '../state.ts';
import { type Voucher, decodeVoucherAppData, encodeVoucherAppData, verifyVoucher } from '../voucher.ts';
import type { LedgerChange } from './ledger.ts';

/**
 * A virtual payment channel V through one intermediary, and the two ledger channels that fund it.
 *
 * V's participants are `[payer, hub, payee]` (VirtualPaymentApp); its outcome is
 * `[payer: deposit, payee: 0]` in the native asset. The **left** ledger is L(payer, hub), the
 * **right** ledger L(hub, payee); each funds V with a guarantee whose `left` is the ledger party
 * on the payer's side and `right` the one on the payee's side, so that on `reclaim` the left party
 * gets what V's payer ends with and the right party what V's payee ends with. The payer uses only
 * the left ledger, the payee only the right, the hub both.
 *
 * V has three states that matter: the prefund (turn 0) and postfund (turn 1), both signed by all
 * three, and the final state (turn 2, `isFinal`), which is also a VirtualPaymentApp redemption:
 * it carries the payer's largest voucher as appData and moves exactly its amount to the payee, so
 * the contracts support it two ways (unanimous final for `conclude`; a payee-signed redemption
 * proved from the postfund for `challenge`).
 */
export const PAYER = 0;
export const HUB = 1;
export const PAYEE = 2;
export const FINAL_TURN = 2;

export type LedgerSide = 'left' | 'right';

/** The ledgers a participant of V uses, by id: the payer has `left`, the payee `right`, the hub both. */
export interface VirtualLedgers {
  left?: Bytes32;
  right?: Bytes32;
}

/** Which ledger sides participant `index` of V takes part in. */
export function sidesOf(index: number): LedgerSide[] {
  return index === PAYER ? ['left'] : index === HUB ? ['left', 'right'] : ['right'];
}

/** Throws unless `ledgers` names exactly the ledgers participant `index` needs. */
export function requireLedgersFor(index: number, ledgers: VirtualLedgers): void {
  for (const side of ['left', 'right'] as const) {
    const needed = sidesOf(index).includes(side);
    if (needed && ledgers[side] === undefined) fail('invalid-type', `ledgers.${side}`, `participant ${index} of a virtual channel needs its ${side} ledger`);
    if (!needed && ledgers[side] !== undefined) fail('invalid-type', `ledgers.${side}`, `participant ${index} is not in the ${side} ledger`);
  }
  if (ledgers.left !== undefined && ledgers.left === ledgers.right) fail('invalid-type', 'ledgers.right', 'the left and right ledgers must differ');
}

/** The two parties of the ledger on `side`: [payer's side, payee's side]. */
export function ledgerParties(v: FixedPart, side: LedgerSide): [Address, Address] {
  const [payer, hub, payee] = v.participants as [Address, Address, Address];
  return side === 'left' ? [payer, hub] : [hub, payee];
}

/**
 * Throws unless `s` is a prefund V this core can fund: three distinct participants, turn 0, not
 * final, no appData, one native-asset exit of two simple allocations `[payer, payee]` with the
 * payee at zero (VirtualPaymentApp pays the payee exactly the voucher, so anything the payee
 * brought would be lost on a redemption).
 */
export function requireVirtualPrefund(s: State, field = 'prefund'): void {
  if (s.participants.length !== 3) fail('out-of-range', `${field}.participants`, 'a virtual payment channel has three participants: payer, hub, payee');
  if (new Set(s.participants).size !== 3) fail('invalid-type', `${field}.participants`, 'participants must be distinct');
  if (s.turnNum !== 0) fail('unsupported-state', `${field}.turnNum`, 'virtual funding starts from the prefund state (turn 0)');
  if (s.isFinal) fail('unsupported-state', `${field}.isFinal`, 'the prefund state is not final');
  if (s.appData !== '0x') fail('invalid-type', `${field}.appData`, 'the prefund state carries no voucher');
  if (s.outcome.length !== 1) fail('invalid-outcome', `${field}.outcome`, 'a virtual payment channel holds one asset');
  const exit = s.outcome[0]!;
  if (exit.asset !== ZERO_ADDRESS) fail('invalid-outcome', `${field}.outcome[0].asset`, 'VirtualPaymentApp redeems only the native asset');
  if (exit.allocations.length !== 2) fail('invalid-outcome', `${field}.outcome[0].allocations`, 'expected two allocations: payer, payee');
  const expected = [addressToDestination(s.participants[PAYER]!), addressToDestination(s.participants[PAYEE]!)];
  exit.allocations.forEach((a, i) => {
    const f = `${field}.outcome[0].allocations[${i}]`;
    if (a.destination !== expected[i]) fail('invalid-outcome', `${f}.destination`, i === 0 ? 'the first allocation is the payer’s' : 'the second allocation is the payee’s');
    if (a.allocationType !== AllocationType.simple || a.metadata !== '0x') fail('invalid-outcome', `${f}.allocationType`, 'expected a simple allocation');
  });
  if (exit.allocations[1]!.amount !== 0n) fail('invalid-outcome', `${field}.outcome[0].allocations[1].amount`, 'the payee starts with nothing: a redemption pays it exactly the voucher');
  if (exit.allocations[0]!.amount === 0n) fail('invalid-outcome', `${field}.outcome[0].allocations[0].amount`, 'the payer puts nothing in');
}

/** What the payer put into V: the most any voucher can pay. */
export function capacityOf(v: State): bigint {
  return v.outcome[0]!.allocations[0]!.amount;
}

/** The guarantee the ledger on `side` must hold for V: the left party funds V's payer share, the right party V's payee share. */
export function guaranteeFor(prefund: State, side: LedgerSide): GuaranteeRequest {
  const [left, right] = ledgerParties(prefund, side);
  const [a0, a1] = prefund.outcome[0]!.allocations.map((a) => a.amount) as [bigint, bigint];
  return { target: channelId(prefund), left: addressToDestination(left), right: addressToDestination(right), leftAmount: a0, rightAmount: a1 };
}

/** The ledger change that removes V's guarantee once V's final state pays `[payer, payee]`. */
export function removalFor(final: State): LedgerChange {
  const [a0, a1] = final.outcome[0]!.allocations.map((a) => a.amount) as [bigint, bigint];
  return { type: 'remove', target: channelId(final), leftPayout: a0, rightPayout: a1 };
}

export function sameLedgerChange(a: LedgerChange, b: LedgerChange): boolean {
  if (a.type === 'add' && b.type === 'add') {
    const [x, y] = [a.guarantee, b.guarantee];
    return x.target === y.target && x.left === y.left && x.right === y.right && x.leftAmount === y.leftAmount && x.rightAmount === y.rightAmount;
  }
  if (a.type === 'remove' && b.type === 'remove') return a.target === b.target && a.leftPayout === b.leftPayout && a.rightPayout === b.rightPayout;
  return false;
}

/** V's guarantee in a ledger state, as far as a virtual objective is concerned. */
export type LedgerView = { turnNum: number; guarantee: 'absent' | 'present' };

/**
 * Checks a ledger's supported state reported for V: it is ledger `ledgerId`, between the two
 * parties of `side`, signed by both, in V's asset; and if it holds anything for V, that is
 * exactly the guarantee V needs (else a CoreError: a guarantee that does not match V).
 */
export function checkLedgerState(prefund: State, side: LedgerSide, ledgerId: Bytes32, ss: SignedState, field = 'ledger'): LedgerView {
  const s = ss.state;
  if (channelId(s) !== ledgerId) fail('invalid-outcome', `${field}.state`, `state is for channel ${channelId(s)}, not ledger ${ledgerId}`);
  const parties = ledgerParties(prefund, side);
  if (s.participants.length !== 2 || !parties.every((p) => s.participants.includes(p))) {
    fail('not-a-participant', `${field}.state.participants`, `the ${side} ledger of a virtual channel is between ${parties[0]} and ${parties[1]}`);
  }
  if (signedBy(ss, undefined, `${field}.signatures`) !== 3n) fail('invalid-signature', `${field}.signatures`, 'a ledger state must be signed by both parties');
  if (s.outcome.length !== 1 || s.outcome[0]!.asset !== prefund.outcome[0]!.asset) fail('invalid-outcome', `${field}.state.outcome`, 'the ledger must hold the virtual channel’s asset');
  const target = channelId(prefund);
  const expected = guaranteeFor(prefund, side);
  const allocations = s.outcome[0]!.allocations;
  const indices = allocations.flatMap((a, i) => (a.destination === target ? [i] : []));
  if (indices.length === 0) return { turnNum: s.turnNum, guarantee: 'absent' };
  const i = indices[0]!;
  const a = allocations[i]!;
  const f = `${field}.state.outcome[0].allocations[${i}]`;
  if (indices.length > 1) fail('invalid-outcome', f, 'the ledger allocates to the virtual channel more than once');
  if (a.allocationType !== AllocationType.guarantee) fail('invalid-outcome', `${f}.allocationType`, 'the allocation to the virtual channel is not a guarantee');
  if (a.amount !== expected.leftAmount + expected.rightAmount) fail('invalid-outcome', `${f}.amount`, `the guarantee does not match the virtual channel: ${a.amount}, expected ${expected.leftAmount + expected.rightAmount}`);
  if (a.metadata !== encodeGuaranteeMetadata({ left: expected.left, right: expected.right })) fail('invalid-outcome', `${f}.metadata`, 'the guarantee does not match the virtual channel: wrong left/right');
  return { turnNum: s.turnNum, guarantee: 'present' };
}

/**
 * V's final state: turn 2, final, the postfund outcome with `voucher.amount` moved from payer to
 * payee, carrying the voucher as appData (a VirtualPaymentApp redemption). With no voucher
 * (nothing paid) the appData is empty and the outcome is the postfund's.
 */
export function virtualFinalState(postfund: State, voucher?: Voucher): State {
  const amount = voucher?.amount ?? 0n;
  const exit = postfund.outcome[0]!;
  const [payer, payee] = exit.allocations as [Allocation, Allocation];
  if (amount > payer.amount) fail('insufficient-funds', 'voucher.amount', `overdrawn: ${amount} exceeds the channel's ${payer.amount}`);
  return {
    ...postfund,
    turnNum: FINAL_TURN,
    isFinal: true,
    appData: voucher ? encodeVoucherAppData(voucher) : '0x',
    outcome: [{ ...exit, allocations: [{ ...payer, amount: payer.amount - amount }, { ...payee, amount: payee.amount + amount }] }],
  };
}

/**
 * Checks a proposed final state of V against its postfund: exactly `virtualFinalState` of a
 * voucher signed by the payer for V (or of none). Returns the amount it pays the payee.
 */
export function checkVirtualFinal(postfund: State, proposed: State, field = 'signedState.state'): bigint {
  const id = channelId(postfund);
  if (channelId(proposed) !== id) fail('invalid-outcome', field, `state is for channel ${channelId(proposed)}, not ${id}`);
  if (proposed.turnNum !== FINAL_TURN || !proposed.isFinal) fail('unsupported-state', `${field}.turnNum`, `the final state of a virtual channel is turn ${FINAL_TURN}, final`);
  let voucher: Voucher | undefined;
  if (proposed.appData !== '0x') {
    voucher = decodeVoucherAppData(proposed.appData, id);
    verifyVoucher(voucher, postfund.participants[PAYER]!);
  }
  const expected = virtualFinalState(postfund, voucher);
  if (hashState(expected, id) !== hashState(proposed, id)) fail('invalid-outcome', `${field}.outcome`, 'the final outcome must move exactly the voucher’s amount from payer to payee');
  return voucher?.amount ?? 0n;
}
