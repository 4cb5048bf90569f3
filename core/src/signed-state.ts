import { fail } from './errors.ts';
import { type Address, type Bytes32, parseArray, parseObject } from './hex.ts';
import { type Signature, type PrivateKey, type SignatureJSON, isSignatureBy, parseSignature, recoverSigner, signatureToJSON } from './signature.ts';
import { type State, type StateJSON, channelId, hashStateBytes, parseState, stateToJSON } from './state.ts';

/**
 * A state with a slot per participant for that participant's signature.
 * `signatures[i]` is participant i's, or null when we do not have it yet.
 */
export interface SignedState {
  state: State;
  signatures: (Signature | null)[];
}

export function unsigned(state: State): SignedState {
  return { state, signatures: state.participants.map(() => null) };
}

/** Signs a state as `key`, who must be a participant. Returns the signature and the slot it fills. */
export function signState(state: State, key: PrivateKey, id: Bytes32 = channelId(state)): { index: number; signature: Signature } {
  const index = state.participants.indexOf(key.address);
  if (index < 0) fail('not-a-participant', 'signer', `${key.address} is not a participant of channel ${id}`);
  return { index, signature: key.signHash(hashStateBytes(state, id)) };
}

/**
 * Adds a signature to a signed state after checking it: it must recover to a participant.
 * Returns a new SignedState; the input is not modified. A signature by a non-participant,
 * or over a different state, is rejected with a CoreError.
 */
export function addSignature(ss: SignedState, signature: Signature, hash: Uint8Array = hashStateBytes(ss.state), field = 'signature'): SignedState {
  const signer = recoverSigner(hash, signature, field);
  const index = ss.state.participants.indexOf(signer);
  if (index < 0) fail('not-a-participant', field, `signed by ${signer}, who is not a participant`);
  const signatures = ss.signatures.slice();
  signatures[index] = signature;
  return { state: ss.state, signatures };
}

/**
 * Recovers who signed: the bitmask the contracts call `signedBy`. Every present signature must
 * recover to the participant in whose slot it sits.
 */
export function signedBy(ss: SignedState, hash: Uint8Array = hashStateBytes(ss.state), field = 'signatures'): bigint {
  if (ss.signatures.length !== ss.state.participants.length) {
    fail('invalid-length', field, `expected ${ss.state.participants.length} signature slots, got ${ss.signatures.length}`);
  }
  let mask = 0n;
  ss.signatures.forEach((sig, i) => {
    if (sig === null) return;
    if (!isSignatureBy(hash, sig, ss.state.participants[i]!, `${field}[${i}]`)) {
      const signer: Address = recoverSigner(hash, sig, `${field}[${i}]`);
      fail('invalid-signature', `${field}[${i}]`, `recovers to ${signer}, not participant ${i}`);
    }
    mask |= 1n << BigInt(i);
  });
  return mask;
}

export function isFullySigned(ss: SignedState): boolean {
  return ss.signatures.every((s) => s !== null);
}

/** The signatures present, in participant order: the `sigs` array the contracts take. */
export function presentSignatures(ss: SignedState): Signature[] {
  return ss.signatures.filter((s): s is Signature => s !== null);
}

export interface SignedStateJSON {
  state: StateJSON;
  signatures: (SignatureJSON | null)[];
}

export function signedStateToJSON(ss: SignedState): SignedStateJSON {
  return { state: stateToJSON(ss.state), signatures: ss.signatures.map((s) => (s === null ? null : signatureToJSON(s))) };
}

/** Parses a signed state and verifies every signature present against its slot. */
export function parseSignedState(value: unknown, field = 'signedState'): SignedState {
  const o = parseObject(value, field);
  const state = parseState(o.state, `${field}.state`);
  const signatures = parseArray(o.signatures, `${field}.signatures`).map((s, i) => (s === null ? null : parseSignature(s, `${field}.signatures[${i}]`)));
  const ss = { state, signatures };
  signedBy(ss, hashStateBytes(state), `${field}.signatures`);
  return ss;
}
