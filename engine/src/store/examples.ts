/**
 * Example records for tests and benchmarks of stores: channels with bigints in their outcomes
 * (some above 2^64) and objectives whose snapshots look like xstate persisted snapshots.
 * Deterministic: the same arguments give structurally equal records. No test framework here, so
 * scripts can use it too.
 */
import type { Address, Bytes32, Voucher } from '../../../core/src/index.ts';
import type { Channel } from '../../../core/src/protocol/channel.ts';
import type { ObjectiveRecord, ObjectiveStatus } from './types.ts';

const hex32 = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Bytes32;
const hex20 = (n: number) => `0x${n.toString(16).padStart(40, '0')}` as Address;

/** A two-party channel with its latest supported state (`turn`) and our signed proposal for the next. */
export function exampleChannel(n: number, turn = 1): Channel {
  const participants = [hex20(0xa000 + n), hex20(0xb000 + n)];
  const outcome = (paid: bigint) => [
    {
      asset: hex20(0),
      assetMetadata: { assetType: 0 as const, metadata: '0x' as const },
      allocations: [
        { destination: hex32(0xa000 + n), amount: 10n ** 18n - paid, allocationType: 0 as const, metadata: '0x' as const },
        // Above 2^64: only a bigint holds it exactly.
        { destination: hex32(0xb000 + n), amount: 123_456_789_012_345_678_901_234_567n + paid, allocationType: 0 as const, metadata: '0x' as const },
      ],
    },
  ];
  const state = (turnNum: number) => ({
    participants,
    channelNonce: BigInt(n) + (1n << 63n),
    appDefinition: hex20(0xc0de),
    challengeDuration: 86_400,
    outcome: outcome(BigInt(turnNum) * 1000n),
    appData: '0x' as const,
    turnNum,
    isFinal: false,
  });
  const sig = (k: number) => ({ v: (27 + (k % 2)) as 27 | 28, r: hex32(k * 7 + 1), s: hex32(k * 11 + 2) });
  return {
    id: hex32(0xc4a0000 + n),
    fixedPart: { participants, channelNonce: BigInt(n) + (1n << 63n), appDefinition: hex20(0xc0de), challengeDuration: 86_400 },
    myIndex: 0,
    states: [
      { state: state(turn), signatures: [sig(turn), sig(turn + 1)] },
      { state: state(turn + 1), signatures: [sig(turn + 2), null] },
    ],
  };
}

/** An objective for `channel` whose snapshot looks like an xstate persisted snapshot. */
export function exampleObjective(channel: Channel, status: ObjectiveStatus = 'active', n = 0): ObjectiveRecord {
  return {
    id: `DirectFunding-${channel.id}-${n}`,
    type: 'DirectFunding',
    channelId: channel.id,
    status,
    snapshot: {
      status: 'active',
      value: { funding: { deposits: 'waitingForTurn' } },
      historyValue: {},
      context: {
        channel,
        expectedHeld: 10n ** 18n,
        holdings: { [channel.fixedPart.participants[0]!]: 0n, total: -1n },
        outbox: [{ type: 'deposit', asset: hex20(0), amount: 10n ** 18n, expectedHeld: 0n }, { type: 'progress', step: n }],
        note: undefined,
      },
      children: {},
      output: undefined,
      error: undefined,
    },
    updatedAt: 1_700_000_000_000 + n,
  };
}

/** A voucher for virtual channel `n` (an amount above 2^64 by default); the signature is shaped right but not real. */
export function exampleVoucher(n: number, amount: bigint = 98_765_432_109_876_543_210_987n + BigInt(n)): Voucher {
  return { channelId: hex32(0x7a0000 + n), amount, signature: { v: (27 + (n % 2)) as 27 | 28, r: hex32(n * 13 + 3), s: hex32(n * 17 + 5) } };
}
