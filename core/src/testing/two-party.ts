import { AllocationType, type Exit, addressToDestination } from '../outcome.ts';
import { type Channel, newChannel, receiveSignedState, signAndAdd } from '../protocol/channel.ts';
import { PrivateKey } from '../signature.ts';
import type { State } from '../state.ts';

/**
 * A two-party direct channel for tests: Alice (participant 0) and Bob, an ETH outcome `[a, b]`,
 * and both views of the channel once its prefund and postfund are fully signed.
 */
export function twoParty(channelNonce = 5n) {
  const alice = PrivateKey.random();
  const bob = PrivateKey.random();
  const ETH = '0x0000000000000000000000000000000000000000' as const;
  const split = (a: bigint, b: bigint): Exit => [
    {
      asset: ETH,
      assetMetadata: { assetType: 0, metadata: '0x' },
      allocations: [
        { destination: addressToDestination(alice.address), amount: a, allocationType: AllocationType.simple, metadata: '0x' },
        { destination: addressToDestination(bob.address), amount: b, allocationType: AllocationType.simple, metadata: '0x' },
      ],
    },
  ];
  const state = (turnNum: number, a: bigint, b: bigint, isFinal = false): State => ({
    participants: [alice.address, bob.address],
    channelNonce,
    appDefinition: '0x00000000000000000000000000000000000000cc',
    challengeDuration: 100,
    outcome: split(a, b),
    appData: '0x',
    turnNum,
    isFinal,
  });
  /** Alice's and Bob's views of the channel with its prefund and postfund fully signed (outcome [5, 3]). */
  const running = (): { a: Channel; b: Channel } => {
    let a = newChannel(state(0, 5n, 3n), alice.address);
    let b = newChannel(state(0, 5n, 3n), bob.address);
    for (const turn of [0, 1]) {
      const sa = signAndAdd(a, state(turn, 5n, 3n), alice);
      const sb = signAndAdd(b, state(turn, 5n, 3n), bob);
      a = receiveSignedState(sa.channel, sb.signed).channel;
      b = receiveSignedState(sb.channel, sa.signed).channel;
    }
    return { a, b };
  };
  return { alice, bob, ETH, split, state, running };
}
