/**
 * The straightforward ethers v6 implementation of Nitro's encodings, as the reference
 * TypeScript helpers do it with the generic AbiCoder. Tests check our core against it byte
 * for byte; the benchmark uses it as the baseline.
 */
import { AbiCoder, keccak256 } from 'ethers';
import type { Exit } from '../outcome.ts';
import type { FixedPart, State } from '../state.ts';

const coder = AbiCoder.defaultAbiCoder();
export const EXIT_TYPE =
  'tuple(address asset, tuple(uint8 assetType, bytes metadata) assetMetadata, tuple(bytes32 destination, uint256 amount, uint8 allocationType, bytes metadata)[] allocations)[]';

function exitValue(exit: Exit) {
  return exit.map((e) => [e.asset, [e.assetMetadata.assetType, e.assetMetadata.metadata], e.allocations.map((a) => [a.destination, a.amount, a.allocationType, a.metadata])]);
}

export function ethersChannelId(f: FixedPart): string {
  return keccak256(coder.encode(['address[]', 'uint256', 'address', 'uint48'], [f.participants, f.channelNonce, f.appDefinition, f.challengeDuration]));
}

export function ethersEncodeState(s: State, channelId = ethersChannelId(s)): string {
  return coder.encode(['bytes32', 'bytes', EXIT_TYPE, 'uint256', 'bool'], [channelId, s.appData, exitValue(s.outcome), s.turnNum, s.isFinal]);
}

export function ethersHashState(s: State): string {
  return keccak256(ethersEncodeState(s));
}

export function ethersEncodeOutcome(exit: Exit): string {
  return coder.encode([EXIT_TYPE], [exitValue(exit)]);
}

export function ethersVoucherHash(channelId: string, amount: bigint): string {
  return keccak256(coder.encode(['bytes32', 'uint256'], [channelId, amount]));
}
