import { writeFixedHex } from './abi.ts';
import { fail } from './errors.ts';
import { type Bytes32, type Hex, bytesToHex, hexToBytes } from './hex.ts';
import { type Allocation, AllocationType, type SingleAssetExit } from './outcome.ts';

/**
 * Guarantees: how a ledger channel funds a virtual channel. The ledger sets aside the virtual
 * channel's total in a guarantee allocation whose destination is the virtual channel's id and
 * whose metadata names who the funds return to: `left` gets what the virtual channel's first
 * allocation ends with, `right` what its second ends with (the adjudicator's `reclaim`).
 */
export interface GuaranteeMetadata {
  left: Bytes32;
  right: Bytes32;
}

export function encodeGuaranteeMetadata(g: GuaranteeMetadata): Hex {
  const buf = new Uint8Array(64);
  writeFixedHex(buf, 0, g.left, 32, () => 'guarantee.left');
  writeFixedHex(buf, 32, g.right, 32, () => 'guarantee.right');
  return bytesToHex(buf);
}

export function decodeGuaranteeMetadata(metadata: Hex, field = 'metadata'): GuaranteeMetadata {
  const b = hexToBytes(metadata, field);
  if (b.length !== 64) fail('invalid-length', field, `guarantee metadata must be 64 bytes, got ${b.length}`);
  return { left: bytesToHex(b, 0, 32), right: bytesToHex(b, 32, 64) };
}

export interface GuaranteeRequest {
  /** The virtual channel's id. */
  target: Bytes32;
  left: Bytes32;
  right: Bytes32;
  /** Taken from left's allocation: what left puts into the virtual channel. */
  leftAmount: bigint;
  /** Taken from right's allocation. */
  rightAmount: bigint;
}

function indexOfDestination(allocations: Allocation[], destination: Bytes32, field: string): number {
  const i = allocations.findIndex((a) => a.destination === destination && a.allocationType === AllocationType.simple);
  if (i < 0) fail('invalid-outcome', field, `no simple allocation to ${destination} in the ledger`);
  return i;
}

/** The ledger outcome after adding a guarantee for `g.target`. Totals are unchanged. */
export function addGuarantee(exit: SingleAssetExit, g: GuaranteeRequest): SingleAssetExit {
  if (g.leftAmount < 0n) fail('out-of-range', 'leftAmount', 'must not be negative');
  if (g.rightAmount < 0n) fail('out-of-range', 'rightAmount', 'must not be negative');
  if (exit.allocations.some((a) => a.destination === g.target)) fail('invalid-outcome', 'target', `the ledger already funds ${g.target}`);
  const allocations = exit.allocations.map((a) => ({ ...a }));
  const li = indexOfDestination(allocations, g.left, 'left');
  const ri = indexOfDestination(allocations, g.right, 'right');
  if (li === ri) fail('invalid-outcome', 'right', 'left and right must be different destinations');
  if (allocations[li]!.amount < g.leftAmount) fail('insufficient-funds', 'leftAmount', `left has ${allocations[li]!.amount}, needs ${g.leftAmount}`);
  if (allocations[ri]!.amount < g.rightAmount) fail('insufficient-funds', 'rightAmount', `right has ${allocations[ri]!.amount}, needs ${g.rightAmount}`);
  allocations[li]!.amount -= g.leftAmount;
  allocations[ri]!.amount -= g.rightAmount;
  allocations.push({
    destination: g.target,
    amount: g.leftAmount + g.rightAmount,
    allocationType: AllocationType.guarantee,
    metadata: encodeGuaranteeMetadata({ left: g.left, right: g.right }),
  });
  return { ...exit, allocations };
}

/** Finds the guarantee for `target`; throws when there is none. */
export function findGuarantee(exit: SingleAssetExit, target: Bytes32): { index: number; allocation: Allocation; metadata: GuaranteeMetadata } {
  const index = exit.allocations.findIndex((a) => a.destination === target && a.allocationType === AllocationType.guarantee);
  if (index < 0) fail('invalid-outcome', 'target', `the ledger has no guarantee for ${target}`);
  const allocation = exit.allocations[index]!;
  return { index, allocation, metadata: decodeGuaranteeMetadata(allocation.metadata, `allocations[${index}].metadata`) };
}

/**
 * The ledger outcome after the virtual channel `target` closed with `leftPayout` to its first
 * participant and `rightPayout` to its last: the guarantee is removed and left and right are
 * credited. The payouts must add up to the guarantee, as the adjudicator's `reclaim` requires.
 */
export function removeGuarantee(exit: SingleAssetExit, target: Bytes32, leftPayout: bigint, rightPayout: bigint): SingleAssetExit {
  if (leftPayout < 0n) fail('out-of-range', 'leftPayout', 'must not be negative');
  if (rightPayout < 0n) fail('out-of-range', 'rightPayout', 'must not be negative');
  const { index, allocation, metadata } = findGuarantee(exit, target);
  if (leftPayout + rightPayout !== allocation.amount) {
    fail('invalid-outcome', 'payouts', `payouts ${leftPayout} + ${rightPayout} do not add up to the guarantee's ${allocation.amount}`);
  }
  const allocations = exit.allocations.filter((_, i) => i !== index).map((a) => ({ ...a }));
  const li = indexOfDestination(allocations, metadata.left, 'left');
  const ri = indexOfDestination(allocations, metadata.right, 'right');
  allocations[li]!.amount += leftPayout;
  allocations[ri]!.amount += rightPayout;
  return { ...exit, allocations };
}
