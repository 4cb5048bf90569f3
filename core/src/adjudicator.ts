import { writeFixedHex, writeSmallUint } from './abi.ts';
import { type Bytes32, type Hex, bytesToHex } from './hex.ts';
import { keccak256 } from './keccak.ts';
import type { Exit } from './outcome.ts';
import type { PrivateKey, Signature } from './signature.ts';
import { type SignedState, presentSignatures } from './signed-state.ts';
import type { FixedPart, VariablePart } from './state.ts';

/**
 * What the adjudicator stores and checks, computed off chain: the status word, the challenger's
 * signature, and the argument shapes its functions take (plain objects any ABI encoder accepts).
 */

/** uint160(keccak256(abi.encode(stateHash, outcomeHash))) */
export function fingerprint(stateHash: Bytes32, outcomeHash: Bytes32): bigint {
  const buf = new Uint8Array(64);
  writeFixedHex(buf, 0, stateHash, 32, () => 'stateHash');
  writeFixedHex(buf, 32, outcomeHash, 32, () => 'outcomeHash');
  return BigInt(bytesToHex(keccak256(buf), 12, 32));
}

/** `statusOf(channelId)`: turnNumRecord (48 bits) ‖ finalizesAt (48 bits) ‖ fingerprint (160 bits). */
export function channelStatus(s: { turnNumRecord: number; finalizesAt: number; stateHash: Bytes32; outcomeHash: Bytes32 }): Bytes32 {
  const word = (BigInt(s.turnNumRecord) << 208n) | (BigInt(s.finalizesAt) << 160n) | fingerprint(s.stateHash, s.outcomeHash);
  return `0x${word.toString(16).padStart(64, '0')}`;
}

export function unpackStatus(status: Bytes32): { turnNumRecord: number; finalizesAt: number; fingerprint: bigint } {
  const w = BigInt(status);
  return { turnNumRecord: Number(w >> 208n), finalizesAt: Number((w >> 160n) & ((1n << 48n) - 1n)), fingerprint: w & ((1n << 160n) - 1n) };
}

const FORCE_MOVE = new TextEncoder().encode('forceMove');

/** The challenger's signature: EIP-191 over keccak256(abi.encode(bytes32 stateHash, string "forceMove")). */
export function signChallenge(stateHash: Bytes32, key: PrivateKey): Signature {
  const buf = new Uint8Array(128);
  writeFixedHex(buf, 0, stateHash, 32, () => 'stateHash');
  writeSmallUint(buf, 32, 64);
  writeSmallUint(buf, 64, FORCE_MOVE.length);
  buf.set(FORCE_MOVE, 96);
  return key.signHash(keccak256(buf));
}

// ---- Argument shapes ---------------------------------------------------------------------------

export interface FixedPartArg {
  participants: Hex[];
  channelNonce: bigint;
  appDefinition: Hex;
  challengeDuration: number;
}
export interface VariablePartArg {
  outcome: ReturnType<typeof outcomeArg>;
  appData: Hex;
  turnNum: number;
  isFinal: boolean;
}
export interface SignedVariablePartArg {
  variablePart: VariablePartArg;
  sigs: Signature[];
}

export function fixedPartArg(f: FixedPart): FixedPartArg {
  return { participants: f.participants, channelNonce: f.channelNonce, appDefinition: f.appDefinition, challengeDuration: f.challengeDuration };
}

export function outcomeArg(exit: Exit) {
  return exit.map((e) => ({
    asset: e.asset,
    assetMetadata: { assetType: e.assetMetadata.assetType, metadata: e.assetMetadata.metadata },
    allocations: e.allocations.map((a) => ({ destination: a.destination, amount: a.amount, allocationType: a.allocationType, metadata: a.metadata })),
  }));
}

export function variablePartArg(v: VariablePart): VariablePartArg {
  return { outcome: outcomeArg(v.outcome), appData: v.appData, turnNum: v.turnNum, isFinal: v.isFinal };
}

export function signedVariablePartArg(ss: SignedState): SignedVariablePartArg {
  return { variablePart: variablePartArg(ss.state), sigs: presentSignatures(ss) };
}

