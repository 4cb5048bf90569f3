import { bytesTailSize, writeBytesTail, writeFixedHex, writeSmallUint, writeUint256 } from './abi.ts';
import { fail } from './errors.ts';
import {
  type Address,
  type Bytes32,
  type Hex,
  MAX_UINT48,
  bytesToHex,
  parseAddress,
  parseArray,
  parseBoolean,
  parseHexBytes,
  parseObject,
  parseSafeUint,
  parseUint,
  quantityToHex,
} from './hex.ts';
import { keccak256 } from './keccak.ts';
import { type Exit, type ExitJSON, exitTailSize, exitToJSON, parseExit, writeExitTail } from './outcome.ts';

/** The part of a state that never changes over a channel's life; it determines the channel id. */
export interface FixedPart {
  participants: Address[];
  /** uint64 */
  channelNonce: bigint;
  appDefinition: Address;
  /** Seconds; uint48. */
  challengeDuration: number;
}

/** The part of a state that changes with each update. */
export interface VariablePart {
  outcome: Exit;
  appData: Hex;
  /** uint48 */
  turnNum: number;
  isFinal: boolean;
}

export type State = FixedPart & VariablePart;

export const MAX_UINT64 = (1n << 64n) - 1n;
/** The contracts index participants in a uint256 bitmask but loop with uint8; keep it sane. */
export const MAX_PARTICIPANTS = 255;

export function fixedPartOf(s: State): FixedPart {
  return { participants: s.participants, channelNonce: s.channelNonce, appDefinition: s.appDefinition, challengeDuration: s.challengeDuration };
}

export function variablePartOf(s: State): VariablePart {
  return { outcome: s.outcome, appData: s.appData, turnNum: s.turnNum, isFinal: s.isFinal };
}

function checkSafeUint(n: number, max: number, field: string): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) fail('out-of-range', field, `must be an integer between 0 and ${max}`);
}

/** `abi.encode(address[] participants, uint256 channelNonce, address appDefinition, uint48 challengeDuration)` */
export function encodeFixedPart(f: FixedPart): Uint8Array {
  if (!Array.isArray(f.participants)) fail('invalid-type', 'participants', 'expected an array of addresses');
  if (f.participants.length > MAX_PARTICIPANTS) fail('out-of-range', 'participants', `at most ${MAX_PARTICIPANTS} participants`);
  if (typeof f.channelNonce !== 'bigint' || f.channelNonce < 0n || f.channelNonce > MAX_UINT64) {
    fail('out-of-range', 'channelNonce', 'must be a uint64 bigint');
  }
  checkSafeUint(f.challengeDuration, MAX_UINT48, 'challengeDuration');
  const n = f.participants.length;
  const out = new Uint8Array(128 + 32 + 32 * n);
  writeSmallUint(out, 0, 128);
  writeUint256(out, 32, f.channelNonce, () => 'channelNonce');
  writeFixedHex(out, 64, f.appDefinition, 20, () => 'appDefinition');
  writeSmallUint(out, 96, f.challengeDuration);
  writeSmallUint(out, 128, n);
  for (let i = 0; i < n; i++) writeFixedHex(out, 160 + 32 * i, f.participants[i]!, 20, () => `participants[${i}]`);
  return out;
}

export function channelIdBytes(f: FixedPart): Uint8Array {
  return keccak256(encodeFixedPart(f));
}

/**
 * The last id computed for a participants array (states derived by spreading share theirs), with
 * the fields it was computed from: a hit is re-checked field by field, so a changed fixed part
 * is never answered from the memo.
 */
const idMemo = new WeakMap<readonly string[], { parts: string; nonce: bigint; app: string; duration: number; id: Bytes32 }>();

/** The channel id: keccak256 of the encoded fixed part. */
export function channelId(f: FixedPart): Bytes32 {
  const p = f.participants;
  if (!Array.isArray(p)) return bytesToHex(channelIdBytes(f));
  const parts = p.join();
  const m = idMemo.get(p);
  if (m && m.parts === parts && m.nonce === f.channelNonce && m.app === f.appDefinition && m.duration === f.challengeDuration) return m.id;
  const id = bytesToHex(channelIdBytes(f));
  idMemo.set(p, { parts, nonce: f.channelNonce, app: f.appDefinition, duration: f.challengeDuration, id });
  return id;
}

/**
 * `abi.encode(bytes32 channelId, bytes appData, Exit outcome, uint256 turnNum, bool isFinal)`:
 * the preimage of the state hash that participants sign and the adjudicator checks.
 */
export function encodeState(s: State, id: Bytes32 = channelId(s)): Uint8Array {
  checkSafeUint(s.turnNum, MAX_UINT48, 'turnNum');
  if (typeof s.isFinal !== 'boolean') fail('invalid-type', 'isFinal', 'expected a boolean');
  const appDataSize = bytesTailSize(s.appData, () => 'appData');
  const out = new Uint8Array(160 + appDataSize + exitTailSize(s.outcome));
  writeFixedHex(out, 0, id, 32, () => 'channelId');
  writeSmallUint(out, 32, 160);
  writeBytesTail(out, 160, s.appData, () => 'appData');
  writeSmallUint(out, 64, 160 + appDataSize);
  writeExitTail(out, 160 + appDataSize, s.outcome);
  writeSmallUint(out, 96, s.turnNum);
  if (s.isFinal) out[159] = 1;
  return out;
}

/**
 * Hashes already computed, by state object: a state is hashed many times on its way (signed,
 * checked, countersigned, stored), and the core never changes a state once made (every change
 * is a new object), so the object identifies its hash. Callers must not mutate a State.
 */
const hashes = new WeakMap<State, { id: Bytes32 | undefined; hash: Uint8Array }>();

export function hashStateBytes(s: State, id?: Bytes32): Uint8Array {
  const hit = hashes.get(s);
  if (hit && hit.id === id) return hit.hash;
  const hash = keccak256(encodeState(s, id));
  hashes.set(s, { id, hash });
  return hash;
}

/** The state hash (pass the channel id if you have it, to skip recomputing it). */
export function hashState(s: State, id?: Bytes32): Bytes32 {
  return bytesToHex(hashStateBytes(s, id));
}

// ---- JSON form -------------------------------------------------------------------------------

export interface FixedPartJSON {
  participants: string[];
  channelNonce: string;
  appDefinition: string;
  challengeDuration: number;
}
export interface VariablePartJSON {
  outcome: ExitJSON;
  appData: string;
  turnNum: number;
  isFinal: boolean;
}
export type StateJSON = FixedPartJSON & VariablePartJSON;

export function stateToJSON(s: State): StateJSON {
  return {
    participants: [...s.participants],
    channelNonce: quantityToHex(s.channelNonce),
    appDefinition: s.appDefinition,
    challengeDuration: s.challengeDuration,
    outcome: exitToJSON(s.outcome),
    appData: s.appData,
    turnNum: s.turnNum,
    isFinal: s.isFinal,
  };
}

export function parseFixedPart(value: unknown, field = 'state'): FixedPart {
  const o = parseObject(value, field);
  const participants = parseArray(o.participants, `${field}.participants`).map((p, i) => parseAddress(p, `${field}.participants[${i}]`));
  if (participants.length < 2) fail('out-of-range', `${field}.participants`, 'a channel needs at least two participants');
  if (participants.length > MAX_PARTICIPANTS) fail('out-of-range', `${field}.participants`, `at most ${MAX_PARTICIPANTS} participants`);
  if (new Set(participants).size !== participants.length) fail('invalid-type', `${field}.participants`, 'participants must be distinct');
  return {
    participants,
    channelNonce: parseUint(o.channelNonce, `${field}.channelNonce`, 64),
    appDefinition: parseAddress(o.appDefinition, `${field}.appDefinition`),
    challengeDuration: parseSafeUint(o.challengeDuration, `${field}.challengeDuration`, MAX_UINT48),
  };
}

export function parseVariablePart(value: unknown, field = 'state'): VariablePart {
  const o = parseObject(value, field);
  return {
    outcome: parseExit(o.outcome, `${field}.outcome`),
    appData: parseHexBytes(o.appData, `${field}.appData`),
    turnNum: parseSafeUint(o.turnNum, `${field}.turnNum`, MAX_UINT48),
    isFinal: parseBoolean(o.isFinal, `${field}.isFinal`),
  };
}

export function parseState(value: unknown, field = 'state'): State {
  return { ...parseFixedPart(value, field), ...parseVariablePart(value, field) };
}
