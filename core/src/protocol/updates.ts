import { CoreError, fail } from '../errors.ts';
import type { Hex } from '../hex.ts';
import { type Exit, addressToDestination } from '../outcome.ts';
import type { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import type { State } from '../state.ts';
import { type Channel, POSTFUND_TURN, isSupported, latest, latestSupported, receiveSignedState, signAndAdd, signedByMe, stateAt } from './channel.ts';

/**
 * Updates of a running channel, pipelined. Like go-nitro's consensus-channel proposals these are
 * not objectives: an update is one signed state, and its whole progress is the channel itself
 * (stored before anything is sent). A proposer signs each update on a turn above every state it
 * holds, without waiting for the previous one to be countersigned, so many can be in flight.
 * Every proposal carries the full outcome, so each one is judged on its own against the latest
 * supported state: a counterparty countersigns, in the order received, any proposal that
 * conserves the funds and takes nothing from it (the payer proposes a payment, the payee
 * countersigns). A countersignature on a later turn supersedes earlier ones.
 */

function totalTo(outcome: Exit, asset: string, destination: string): bigint {
  let t = 0n;
  for (const e of outcome) if (e.asset === asset) for (const a of e.allocations) if (a.destination === destination) t += a.amount;
  return t;
}

/** Throws unless `next` leaves participant `index` with at least what it had in `base`, for every asset. */
export function requireNoLossFor(base: State, next: State, index: number): void {
  const me = addressToDestination(base.participants[index]!);
  for (const e of base.outcome) {
    const before = totalTo(base.outcome, e.asset, me);
    const after = totalTo(next.outcome, e.asset, me);
    if (after < before) fail('invalid-outcome', 'outcome', `the proposal takes ${before - after} of ${e.asset} from us; only the payer proposes a payment`);
  }
}

/** The channel's latest supported state, if the channel is running (funded, not final). */
export function runningState(c: Channel): SignedState | undefined {
  const supported = latestSupported(c);
  return supported && supported.state.turnNum >= POSTFUND_TURN && !supported.state.isFinal ? supported : undefined;
}

/** How many of our proposals wait for a countersignature. */
export function inFlight(c: Channel): number {
  const supported = latestSupported(c);
  const from = supported ? supported.state.turnNum : -1;
  return c.states.filter((s) => s.state.turnNum > from && signedByMe(s, c) && !isSupported(s)).length;
}

/**
 * Signs an update with `outcome` (and `appData`, else the supported state's) on the turn above
 * every state we hold, and adds it. Throws a CoreError if the channel is not running or the
 * outcome breaks the rules (funds not conserved).
 */
export function proposeUpdate(c: Channel, outcome: Exit, appData: Hex | undefined, key: PrivateKey): { channel: Channel; signed: SignedState } {
  const supported = runningState(c);
  if (!supported) fail('unsupported-state', 'channel', `channel ${c.id} is not running`);
  const state: State = { ...supported.state, outcome, appData: appData ?? supported.state.appData, turnNum: latest(c).state.turnNum + 1, isFinal: false };
  return signAndAdd(c, state, key);
}

export interface UpdatesReceived {
  channel: Channel;
  /** Proposals we countersigned, to send back. */
  countersigned: SignedState[];
  /** Proposals we refuse by policy (they take our funds): the proposer should be told why. */
  refused: { turnNum: number; reason: string }[];
  /** Our own proposals dropped because the counterparty's proposal for the same turn wins. */
  abandoned: number[];
  /** States that broke the rules (bad signature, stale, …): logged, nothing kept. */
  invalid: { turnNum: number; error: CoreError }[];
}

/**
 * Takes a peer's update states for a running channel, in order: proposals to countersign and
 * countersignatures on our proposals. Pure; the channel returned holds everything accepted.
 */
export function receiveUpdates(c: Channel, incoming: SignedState[], key: PrivateKey): UpdatesReceived {
  let channel = c;
  const out: UpdatesReceived = { channel, countersigned: [], refused: [], abandoned: [], invalid: [] };
  // Fully signed states (countersignatures on our proposals): the highest valid one supersedes
  // the others, which the channel would drop at once, so take it first and skip the rest — one
  // signature check per batch instead of one per update.
  let top: SignedState | undefined;
  for (const ss of incoming) if (isSupported(ss) && !ss.state.isFinal && (!top || ss.state.turnNum > top.state.turnNum)) top = ss;
  let skipUpTo = -1;
  if (top && runningState(channel) && top.state.turnNum > latestSupported(channel)!.state.turnNum) {
    try {
      channel = receiveSignedState(channel, top).channel;
      skipUpTo = top.state.turnNum;
    } catch (e) {
      if (!(e instanceof CoreError)) throw e;
      // Not valid: every state is checked in order below, this one included.
    }
  }
  for (const ss of incoming) {
    if (isSupported(ss) && ss.state.turnNum <= skipUpTo) continue;
    try {
      if (!runningState(channel)) fail('unsupported-state', 'channel', `channel ${c.id} is not running`);
      if (ss.state.isFinal) fail('unsupported-state', 'isFinal', 'a final state is a close, not an update');
      const received = receiveSignedState(channel, ss);
      channel = received.channel;
      if (received.abandoned) out.abandoned.push(received.abandoned.state.turnNum);
    } catch (e) {
      if (!(e instanceof CoreError)) throw e;
      out.invalid.push({ turnNum: ss.state.turnNum, error: e });
      continue;
    }
    const held = stateAt(channel, ss.state.turnNum);
    if (!held || isSupported(held) || signedByMe(held, channel)) continue;
    try {
      requireNoLossFor(latestSupported(channel)!.state, held.state, channel.myIndex);
      const signed = signAndAdd(channel, held.state, key);
      channel = signed.channel;
      out.countersigned.push(signed.signed);
    } catch (e) {
      if (!(e instanceof CoreError)) throw e;
      out.refused.push({ turnNum: ss.state.turnNum, reason: e.message });
    }
  }
  out.channel = channel;
  return out;
}
