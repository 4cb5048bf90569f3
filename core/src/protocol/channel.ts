import { fail } from '../errors.ts';
import type { Address, Bytes32 } from '../hex.ts';
import { requireOutcomeConserved } from '../funding.ts';
import { sameOutcome } from '../outcome.ts';
import { type SignedState, signState, signedBy } from '../signed-state.ts';
import type { PrivateKey } from '../signature.ts';
import { type FixedPart, type State, channelId, fixedPartOf, hashStateBytes } from '../state.ts';
import { bytesToHex } from '../hex.ts';

/**
 * A channel as one participant holds it: the fixed part, our index, and the signed states we
 * keep — the latest supported state and anything newer that is partly signed. Pure data with a
 * JSON-friendly shape (the engine stores it); these functions return new values.
 *
 * The rules for a direct or ledger channel (ConsensusApp): a state is supported when every
 * participant signed it; an update proposes a turn above every state held (at most
 * MAX_IN_FLIGHT past the supported one), conserves each asset's total, and is countersigned by
 * the others. Prefund is turn 0, postfund turn 1, and nothing skips the postfund.
 */
export interface Channel {
  id: Bytes32;
  fixedPart: FixedPart;
  myIndex: number;
  /** Signed states by ascending turn number; at most one per turn. */
  states: SignedState[];
}

export const PREFUND_TURN = 0;
export const POSTFUND_TURN = 1;
/**
 * How far past the supported turn a running channel's states may go: a proposer may have this
 * many updates in flight, each signed on its own turn and countersigned in the order received.
 */
export const MAX_IN_FLIGHT = 1024;

export function newChannel(prefund: State, me: Address): Channel {
  const myIndex = prefund.participants.indexOf(me);
  if (myIndex < 0) fail('not-a-participant', 'participants', `${me} is not a participant`);
  if (prefund.turnNum !== PREFUND_TURN) fail('unsupported-state', 'turnNum', 'a channel starts with its prefund state (turn 0)');
  return { id: channelId(prefund), fixedPart: fixedPartOf(prefund), myIndex, states: [{ state: prefund, signatures: prefund.participants.map(() => null) }] };
}

export function isSupported(ss: SignedState): boolean {
  return ss.signatures.every((s) => s !== null);
}

/** The highest-turn state every participant signed, if any. */
export function latestSupported(c: Channel): SignedState | undefined {
  for (let i = c.states.length - 1; i >= 0; i--) if (isSupported(c.states[i]!)) return c.states[i];
  return undefined;
}

export function stateAt(c: Channel, turnNum: number): SignedState | undefined {
  return c.states.find((s) => s.state.turnNum === turnNum);
}

export function latest(c: Channel): SignedState {
  return c.states[c.states.length - 1]!;
}

/** Everyone in the channel but us: whom our messages go to. */
export function counterparties(c: Channel): Address[] {
  return c.fixedPart.participants.filter((_, i) => i !== c.myIndex);
}

export function signedByMe(ss: SignedState, c: Channel): boolean {
  return ss.signatures[c.myIndex] !== null;
}

function sameFixedPart(c: Channel, s: State): boolean {
  return channelId(s) === c.id;
}

function hashHex(s: State, id: Bytes32): string {
  return bytesToHex(hashStateBytes(s, id));
}

/** Drops states older than the latest supported one: they can never be needed again. */
function prune(states: SignedState[]): SignedState[] {
  let supportedAt = -1;
  states.forEach((s, i) => {
    if (isSupported(s)) supportedAt = i;
  });
  return supportedAt > 0 ? states.slice(supportedAt) : states;
}

function insert(c: Channel, ss: SignedState): Channel {
  const states = c.states.filter((s) => s.state.turnNum !== ss.state.turnNum);
  states.push(ss);
  states.sort((a, b) => a.state.turnNum - b.state.turnNum);
  return { ...c, states: prune(states) };
}

/**
 * Signs `state` as us and adds it. Refuses to sign two different states for one turn, to sign
 * below the latest supported turn, or anything that breaks the update rules.
 */
export function signAndAdd(c: Channel, state: State, key: PrivateKey): { channel: Channel; signed: SignedState } {
  if (!sameFixedPart(c, state)) fail('invalid-outcome', 'state', `state is not for channel ${c.id}`);
  checkProposal(c, state, 'state');
  const existing = stateAt(c, state.turnNum);
  let ss: SignedState = existing ?? { state, signatures: state.participants.map(() => null) };
  if (existing && hashHex(existing.state, c.id) !== hashHex(state, c.id)) {
    if (signedByMe(existing, c)) fail('unsupported-state', 'turnNum', `already signed a different state for turn ${state.turnNum}`);
    ss = { state, signatures: state.participants.map(() => null) };
  }
  if (!signedByMe(ss, c)) {
    const { signature } = signState(state, key, c.id);
    ss = { state: ss.state, signatures: ss.signatures.map((s, i) => (i === c.myIndex ? signature : s)) };
  }
  return { channel: insert(c, ss), signed: ss };
}

/**
 * Checks a state proposed for this channel against what we hold: turn number neither stale
 * nor skipping ahead, the fixed rules of prefund and postfund, and conservation of funds.
 */
function checkProposal(c: Channel, s: State, field: string): void {
  const supported = latestSupported(c);
  if (supported === undefined) {
    if (s.turnNum !== PREFUND_TURN) fail('unsupported-state', `${field}.turnNum`, `expected the prefund state (turn 0) first, got turn ${s.turnNum}`);
    return;
  }
  const base = supported.state;
  if (s.turnNum < base.turnNum) fail('unsupported-state', `${field}.turnNum`, `turn ${s.turnNum} is in the past: turn ${base.turnNum} is already supported`);
  // Before the postfund only the next turn (or a close); a running channel may have several
  // proposals in flight.
  const window = base.turnNum >= POSTFUND_TURN || s.isFinal ? MAX_IN_FLIGHT : 1;
  if (s.turnNum > base.turnNum + window) fail('unsupported-state', `${field}.turnNum`, `turn ${s.turnNum} skips ahead of the supported turn ${base.turnNum} by more than ${window}`);
  if (s.turnNum === base.turnNum) return; // a countersignature on the supported state itself
  if (base.isFinal) fail('unsupported-state', `${field}.turnNum`, 'the channel is final: no further states');
  requireOutcomeConserved(base.outcome, s.outcome, `${field}.outcome`);
  if (s.turnNum === POSTFUND_TURN && !sameOutcome(s.outcome, base.outcome)) {
    fail('invalid-outcome', `${field}.outcome`, 'the postfund state must carry the prefund outcome');
  }
}


/**
 * Adds a signed state received from a peer. Every signature must recover to its participant
 * (a wrong signature is refused), the state must be for this channel, and the proposal rules
 * hold. Signatures on a state we already have are merged.
 *
 * Two participants may propose the same turn at once. The proposal of the lower-indexed
 * participant wins: if ours loses, it is dropped (returned as `abandoned`, so the caller can
 * propose it again on top) and the winner is kept for us to countersign; if ours wins, theirs
 * is refused. Throws a CoreError and leaves the channel as it was on any problem.
 */
export function receiveSignedState(c: Channel, incoming: SignedState, field = 'signedState'): { channel: Channel; abandoned?: SignedState } {
  if (!sameFixedPart(c, incoming.state)) fail('invalid-outcome', `${field}.state`, `state is for channel ${channelId(incoming.state)}, not ${c.id}`);
  const hash = hashStateBytes(incoming.state, c.id);
  const mask = signedBy(incoming, hash, `${field}.signatures`);
  if (mask === 0n) fail('invalid-signature', `${field}.signatures`, 'carries no signature');
  checkProposal(c, incoming.state, `${field}.state`);
  const existing = stateAt(c, incoming.state.turnNum);
  let merged: SignedState = incoming;
  let abandoned: SignedState | undefined;
  if (existing) {
    if (bytesToHex(hashStateBytes(existing.state, c.id)) === bytesToHex(hash)) {
      merged = { state: existing.state, signatures: existing.signatures.map((s, i) => s ?? incoming.signatures[i] ?? null) };
    } else if (signedByMe(existing, c)) {
      const theirLowest = incoming.signatures.findIndex((s) => s !== null);
      if (isSupported(existing) || theirLowest > c.myIndex) {
        fail('unsupported-state', `${field}.state.turnNum`, `conflicting proposal for turn ${incoming.state.turnNum}: ours takes precedence`);
      }
      abandoned = existing;
    } else if (incoming.state.turnNum === PREFUND_TURN && existing.signatures.some((sig, i) => sig !== null && incoming.signatures[i] !== null)) {
      // A proposer may not swap its proposal for another while we hold it (the user may be
      // looking at it in the join dialog): the first one it signed stands.
      fail('unsupported-state', `${field}.state`, `a different proposal for turn ${incoming.state.turnNum} from a participant who signed the one we hold`);
    }
  }
  return abandoned ? { channel: insert(c, merged), abandoned } : { channel: insert(c, merged) };
}

