import { describe, expect, it } from 'vitest';
import { computeTransferEffects, depositDecision, depositSafetyThreshold, finalPayouts, fundingTarget, isFullyFunded, requireOutcomeConserved } from './funding.ts';
import { addGuarantee, decodeGuaranteeMetadata, findGuarantee, removeGuarantee } from './guarantee.ts';
import { AllocationType, type SingleAssetExit, addressToDestination, totalAllocated } from './outcome.ts';
import { ZERO_ADDRESS } from './hex.ts';

const A = addressToDestination('0x00000000000000000000000000000000000000a1');
const B = addressToDestination('0x00000000000000000000000000000000000000b2');
const I = addressToDestination('0x00000000000000000000000000000000000000c3');
const V = '0x1111111111111111111111111111111111111111111111111111111111111111';

function exit(...allocs: [string, bigint][]): SingleAssetExit {
  return {
    asset: ZERO_ADDRESS,
    assetMetadata: { assetType: 0, metadata: '0x' },
    allocations: allocs.map(([destination, amount]) => ({ destination: destination as `0x${string}`, amount, allocationType: AllocationType.simple, metadata: '0x' })),
  };
}

describe('direct funding arithmetic', () => {
  const e = exit([A, 5n], [B, 3n]);
  it('orders deposits by allocation: each waits for everything before it', () => {
    expect(depositSafetyThreshold(e, A)).toBe(0n);
    expect(depositSafetyThreshold(e, B)).toBe(5n);
    expect(fundingTarget(e, B)).toBe(8n);
    expect(depositDecision(e, A, 0n)).toEqual({ kind: 'deposit', amount: 5n, expectedHeld: 0n });
    expect(depositDecision(e, B, 0n)).toMatchObject({ kind: 'wait', threshold: 5n });
    expect(depositDecision(e, B, 5n)).toEqual({ kind: 'deposit', amount: 3n, expectedHeld: 5n });
    // a partial deposit by someone else only tops up the remainder; a repeat after a reload deposits nothing
    expect(depositDecision(e, B, 6n)).toEqual({ kind: 'deposit', amount: 2n, expectedHeld: 6n });
    expect(depositDecision(e, A, 5n)).toEqual({ kind: 'done' });
    expect(depositDecision(e, B, 8n)).toEqual({ kind: 'done' });
    expect(isFullyFunded(e, 7n)).toBe(false);
    expect(isFullyFunded(e, 8n)).toBe(true);
    expect(() => depositSafetyThreshold(e, I)).toThrowError(expect.objectContaining({ field: 'destination' }));
  });

  it('pays out in allocation order, as the adjudicator does, when under-funded', () => {
    expect(computeTransferEffects(6n, e.allocations)).toEqual({ payouts: [5n, 1n], remaining: [0n, 2n], totalPayouts: 6n });
    expect(finalPayouts([e], new Map([[ZERO_ADDRESS, 8n]])).get(ZERO_ADDRESS)).toEqual(new Map([[A, 5n], [B, 3n]]));
  });

  it('refuses an update that changes the total', () => {
    expect(() => requireOutcomeConserved([e], [exit([A, 4n], [B, 4n])])).not.toThrow();
    expect(() => requireOutcomeConserved([e], [exit([A, 5n], [B, 4n])])).toThrow(/total changed/);
  });
});

describe('guarantees', () => {
  const ledger = exit([A, 10n], [I, 10n]);
  it('adding a guarantee moves left and right amounts into one guarantee allocation, total unchanged', () => {
    const funded = addGuarantee(ledger, { target: V, left: A, right: I, leftAmount: 4n, rightAmount: 0n });
    expect(totalAllocated(funded)).toBe(20n);
    expect(funded.allocations.map((a) => a.amount)).toEqual([6n, 10n, 4n]);
    const g = findGuarantee(funded, V);
    expect(g.allocation.allocationType).toBe(AllocationType.guarantee);
    expect(decodeGuaranteeMetadata(g.allocation.metadata)).toEqual({ left: A, right: I });
    expect(() => addGuarantee(funded, { target: V, left: A, right: I, leftAmount: 1n, rightAmount: 0n })).toThrow(/already funds/);
    expect(() => addGuarantee(ledger, { target: V, left: A, right: I, leftAmount: 11n, rightAmount: 0n })).toThrowError(
      expect.objectContaining({ code: 'insufficient-funds', field: 'leftAmount' }),
    );
  });

  it('removing it credits left and right with the virtual channel’s final amounts', () => {
    const funded = addGuarantee(ledger, { target: V, left: A, right: I, leftAmount: 4n, rightAmount: 0n });
    // 3 of the 4 were paid to the far side (credited to the intermediary on this ledger)
    const closed = removeGuarantee(funded, V, 1n, 3n);
    expect(closed.allocations.map((a) => [a.destination, a.amount])).toEqual([
      [A, 7n],
      [I, 13n],
    ]);
    expect(() => removeGuarantee(funded, V, 1n, 1n)).toThrow(/do not add up/);
    expect(() => removeGuarantee(ledger, V, 0n, 0n)).toThrow(/no guarantee/);
  });
});
