import { fail } from './errors.ts';
import type { Address, Bytes32 } from './hex.ts';
import { type Allocation, AllocationType, type Exit, type SingleAssetExit, totalAllocated } from './outcome.ts';

/**
 * Outcome arithmetic for direct funding and for paying out. Participants deposit in the order
 * of the outcome's allocations: my deposit is safe once the channel already holds everything
 * allocated before mine, so nothing I add can be claimed by someone ahead of me who has not paid.
 */

/** Sum of the allocations ordered before the first one to `destination`. */
export function depositSafetyThreshold(exit: SingleAssetExit, destination: Bytes32): bigint {
  let sum = 0n;
  for (const a of exit.allocations) {
    if (a.destination === destination) return sum;
    sum += a.amount;
  }
  fail('invalid-outcome', 'destination', `${destination} has no allocation in this outcome`);
}

/** What the channel must hold once my deposit is in: the threshold plus my allocation. */
export function fundingTarget(exit: SingleAssetExit, destination: Bytes32): bigint {
  const threshold = depositSafetyThreshold(exit, destination);
  const mine = exit.allocations.find((a) => a.destination === destination)!.amount;
  return threshold + mine;
}

export type DepositDecision =
  | { kind: 'wait'; reason: 'earlier-deposits-missing'; threshold: bigint; holdings: bigint }
  | { kind: 'deposit'; amount: bigint; expectedHeld: bigint }
  | { kind: 'done' };

/**
 * Whether and how much to deposit now, given the channel's on-chain holdings for this asset.
 * `expectedHeld` is passed to the adjudicator's `deposit` so that a deposit raced by another
 * (or repeated after a reload) reverts instead of overpaying.
 */
export function depositDecision(exit: SingleAssetExit, destination: Bytes32, holdings: bigint): DepositDecision {
  if (holdings < 0n) fail('out-of-range', 'holdings', 'holdings must not be negative');
  const threshold = depositSafetyThreshold(exit, destination);
  const target = fundingTarget(exit, destination);
  if (holdings >= target) return { kind: 'done' };
  if (holdings < threshold) return { kind: 'wait', reason: 'earlier-deposits-missing', threshold, holdings };
  return { kind: 'deposit', amount: target - holdings, expectedHeld: holdings };
}

/** A channel is fully funded for an asset once it holds the outcome's total for it. */
export function isFullyFunded(exit: SingleAssetExit, holdings: bigint): boolean {
  return holdings >= totalAllocated(exit);
}

/**
 * Mirrors the adjudicator's `compute_transfer_effects_and_interactions` with all indices:
 * each allocation in turn is paid `min(amount, what is left of holdings)`.
 * Returns what each allocation is paid and what it is still owed.
 */
export function computeTransferEffects(holdings: bigint, allocations: Allocation[]): { payouts: bigint[]; remaining: bigint[]; totalPayouts: bigint } {
  let surplus = holdings;
  const payouts: bigint[] = [];
  const remaining: bigint[] = [];
  allocations.forEach((a, i) => {
    if (a.allocationType === AllocationType.guarantee) fail('invalid-outcome', `allocations[${i}]`, 'cannot transfer a guarantee; reclaim it first');
    const pay = a.amount < surplus ? a.amount : surplus;
    payouts.push(pay);
    remaining.push(a.amount - pay);
    surplus -= pay;
  });
  return { payouts, remaining, totalPayouts: holdings - surplus };
}

/**
 * Final payouts of a concluded channel: per asset, what each destination receives, given the
 * channel's holdings per asset (keyed by asset address).
 */
export function finalPayouts(outcome: Exit, holdings: Map<Address, bigint>): Map<Address, Map<Bytes32, bigint>> {
  const result = new Map<Address, Map<Bytes32, bigint>>();
  outcome.forEach((e) => {
    const { payouts } = computeTransferEffects(holdings.get(e.asset) ?? 0n, e.allocations);
    const perDestination = result.get(e.asset) ?? new Map<Bytes32, bigint>();
    e.allocations.forEach((a, i) => perDestination.set(a.destination, (perDestination.get(a.destination) ?? 0n) + payouts[i]!));
    result.set(e.asset, perDestination);
  });
  return result;
}

/**
 * A protocol rule for ledger and direct channels: an update may move money between
 * allocations but not create or destroy it. Same assets, in the same order, same totals.
 */
export function requireOutcomeConserved(previous: Exit, next: Exit, field = 'outcome'): void {
  if (previous.length !== next.length) fail('invalid-outcome', field, `asset count changed from ${previous.length} to ${next.length}`);
  previous.forEach((p, i) => {
    const n = next[i]!;
    if (n.asset !== p.asset) fail('invalid-outcome', `${field}[${i}].asset`, 'asset changed');
    const before = totalAllocated(p);
    const after = totalAllocated(n);
    if (before !== after) fail('invalid-outcome', `${field}[${i}]`, `total changed from ${before} to ${after}`);
  });
}
