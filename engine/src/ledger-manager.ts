/**
 * The engine's ledger manager: runs every ledger channel the engine is in, for the virtual
 * channels funded through them (core/src/objectives/virtual-*.ts).
 *
 * A ledger channel is a two-party ConsensusApp channel opened by `createLedgerChannel` as
 * `[hub, user]` and funded by deposits (DirectFunding) like any direct channel; what marks it is
 * its `appData`, `LEDGER_APP_DATA` in every state (the prefund carries it, and ledger changes keep
 * it), so both parties — and either after a reload — know it from the channel alone. Once funded
 * (its postfund supported) the engine hands it here; from then on it changes only by ledger
 * proposals (`protocol/ledger.ts`) — the engine refuses direct updates on it — until a close
 * starts, which needs it to hold no guarantee and nothing in flight.
 *
 * Participant 0 leads (`LedgerLeader`: proposes each change an objective asks for, once, many in
 * flight); participant 1 follows (`LedgerFollower`: countersigns in turn order, and only changes
 * one of its own objectives asked for; a proposal it has not been asked for yet is held until it
 * is, so the follower's objective may lag the leader's without a re-send). Every new ledger state
 * is committed to the store before the proposal or countersignature that makes it is sent, and
 * the stored channel is all a reload needs: the leader's proposals in flight are its partly signed
 * states, each change read back from the difference to the state before.
 *
 * The manager tells objectives (by returning events for the engine to feed them) the ledger's
 * supported state when they ask, and again whenever it changes whether their virtual channel's
 * guarantee is in it.
 */
import {
  type Address,
  AllocationType,
  type Bytes32,
  CoreError,
  type Hex,
  type PrivateKey,
  type SignedState,
  type State,
  addressToDestination,
  decodeGuaranteeMetadata,
  hashState,
  hashStateBytes,
  isSignatureBy,
} from '../../core/src/index.ts';
import { type Channel, POSTFUND_TURN, isSupported, latest, latestSupported } from '../../core/src/protocol/channel.ts';
import { type Countersignature, type LedgerChange, LedgerFollower, LedgerLeader, type LedgerProposal, applyChange } from '../../core/src/protocol/ledger.ts';
import type { LedgerPayload } from '../../core/src/protocol/message.ts';
import { sameLedgerChange } from '../../core/src/protocol/virtual.ts';
import { EngineError } from './errors.ts';

/** `appData` of every state of a ledger channel: "ledger" in ASCII. ConsensusApp ignores appData. */
export const LEDGER_APP_DATA: Hex = '0x6c6564676572';

/** How many proposals a follower holds (ahead of its turn, or not yet asked for) per ledger. */
const MAX_HELD = 1024;

/** Whether `c` is a ledger channel: two participants, the ConsensusApp, and the ledger mark. */
export function isLedgerChannel(c: Channel, consensusApp: Address | undefined): boolean {
  // Judged by a state both signed (or, before any, the prefund): a peer's unsupported state carrying the mark must not make a direct channel a ledger.
  const judged = latestSupported(c) ?? c.states[0] ?? latest(c);
  return consensusApp !== undefined && c.fixedPart.participants.length === 2 && c.fixedPart.appDefinition === consensusApp && judged.state.appData === LEDGER_APP_DATA;
}

/** Whether a ledger channel is running: funded (postfund or later supported) and not final. */
export function isRunningLedger(c: Channel): boolean {
  const s = latestSupported(c);
  return s !== undefined && s.state.turnNum >= POSTFUND_TURN && !s.state.isFinal;
}

function guaranteeTargets(s: State): Set<Bytes32> {
  const out = new Set<Bytes32>();
  for (const a of s.outcome[0]?.allocations ?? []) if (a.allocationType === AllocationType.guarantee) out.add(a.destination);
  return out;
}

function simpleAmount(s: State, destination: Bytes32): bigint {
  let t = 0n;
  for (const a of s.outcome[0]?.allocations ?? []) if (a.allocationType === AllocationType.simple && a.destination === destination) t += a.amount;
  return t;
}

/**
 * The change that turns ledger state `prev` into `next` (one guarantee added or removed), read
 * from the two outcomes; throws unless applying it to `prev` gives exactly `next`.
 */
export function inferLedgerChange(prev: State, next: State): LedgerChange {
  const before = guaranteeTargets(prev);
  const after = guaranteeTargets(next);
  const added = [...after].filter((t) => !before.has(t));
  const removed = [...before].filter((t) => !after.has(t));
  let change: LedgerChange;
  if (added.length === 1 && removed.length === 0) {
    const g = next.outcome[0]!.allocations.find((a) => a.destination === added[0])!;
    const { left, right } = decodeGuaranteeMetadata(g.metadata);
    change = {
      type: 'add',
      guarantee: { target: added[0]!, left, right, leftAmount: simpleAmount(prev, left) - simpleAmount(next, left), rightAmount: simpleAmount(prev, right) - simpleAmount(next, right) },
    };
  } else if (removed.length === 1 && added.length === 0) {
    const g = prev.outcome[0]!.allocations.find((a) => a.destination === removed[0])!;
    const { left, right } = decodeGuaranteeMetadata(g.metadata);
    change = { type: 'remove', target: removed[0]!, leftPayout: simpleAmount(next, left) - simpleAmount(prev, left), rightPayout: simpleAmount(next, right) - simpleAmount(prev, right) };
  } else {
    throw new EngineError('invalid', `ledger turn ${next.turnNum} is not one guarantee added or removed`);
  }
  const applied = applyChange(prev, change);
  if (hashState(applied) !== hashState(next)) throw new EngineError('invalid', `ledger turn ${next.turnNum} is not exactly one change applied to turn ${prev.turnNum}`);
  return change;
}

function targetOf(change: LedgerChange): Bytes32 {
  return change.type === 'add' ? change.guarantee.target : change.target;
}

type Signed = { state: State; signatures: [SignedState['signatures'][number], SignedState['signatures'][number]] };

function toSigned(ss: SignedState): Signed {
  return { state: ss.state, signatures: [ss.signatures[0] ?? null, ss.signatures[1] ?? null] };
}

/** One ledger as we hold it: our role, and everything needed to go on after a reload. */
class LedgerEnd {
  readonly id: Bytes32;
  readonly counterparty: Address;
  readonly role: 'leader' | 'follower';
  readonly leader?: LedgerLeader;
  readonly follower?: LedgerFollower;
  /** Follower: proposals not yet countersigned (ahead of their turn, or not asked for yet), by turn. */
  readonly held = new Map<number, LedgerProposal>();
  /** Changes our objectives asked for, by objective (the follower countersigns only these). */
  readonly requests = new Map<string, LedgerChange[]>();
  /** Objectives waiting on this ledger: the virtual channel each cares about, and whether its guarantee was in the state we last told it of. */
  readonly watchers = new Map<string, { target: Bytes32; told?: boolean }>();
  closing = false;

  constructor(
    private readonly base: Channel,
    key: PrivateKey,
  ) {
    this.id = base.id;
    this.role = base.myIndex === 0 ? 'leader' : 'follower';
    this.counterparty = base.fixedPart.participants[1 - base.myIndex]!;
    const supported = latestSupported(base);
    if (!supported) throw new EngineError('invalid', `ledger ${base.id} has no supported state`);
    if (this.role === 'leader') {
      const leader = new LedgerLeader(toSigned(supported), key);
      // Our proposals in flight, re-made from the stored states (signing is deterministic, so the
      // signatures are the ones already sent).
      let prev = supported.state;
      for (const ss of base.states) {
        if (ss.state.turnNum <= supported.state.turnNum || isSupported(ss) || ss.signatures[0] === null) continue;
        if (ss.state.turnNum !== prev.turnNum + 1) break;
        const proposal = leader.propose(inferLedgerChange(prev, ss.state));
        if (proposal.signature.r !== ss.signatures[0]!.r || proposal.signature.s !== ss.signatures[0]!.s) throw new EngineError('invalid', `ledger ${base.id}: turn ${ss.state.turnNum} re-signed differently`);
        prev = ss.state;
      }
      this.leader = leader;
    } else {
      this.follower = new LedgerFollower(toSigned(supported), key);
    }
  }

  supported(): SignedState {
    const s = (this.leader ?? this.follower)!.supported;
    return { state: s.state, signatures: [...s.signatures] };
  }

  /** The latest state: the leader's last proposal in flight, else the supported state. */
  tip(): State {
    const pending = this.leader?.pending;
    return pending && pending.length > 0 ? pending[pending.length - 1]!.state : this.supported().state;
  }

  inFlight(): number {
    return this.leader ? this.leader.pending.length : this.held.size;
  }

  /** The channel as it is to be stored: the supported state and our proposals in flight. */
  channel(): Channel {
    const states: SignedState[] = [this.supported()];
    for (const p of this.leader?.pending ?? []) states.push({ state: p.state, signatures: [p.proposal.signature, null] });
    return { id: this.id, fixedPart: this.base.fixedPart, myIndex: this.base.myIndex, states };
  }

  isRequested(change: LedgerChange): boolean {
    for (const list of this.requests.values()) if (list.some((c) => sameLedgerChange(c, change))) return true;
    return false;
  }

  /** A request for the same virtual channel that differs: the proposal is not what we agreed to. */
  conflicts(change: LedgerChange): boolean {
    const target = targetOf(change);
    for (const list of this.requests.values()) if (list.some((c) => c.type === change.type && targetOf(c) === target && !sameLedgerChange(c, change))) return true;
    return false;
  }
}

export type LedgerEvent =
  | { objectiveId: string; event: { type: 'LEDGER_UPDATED'; ledgerId: Bytes32; signedState: SignedState } }
  | { objectiveId: string; event: { type: 'LEDGER_FAILED'; ledgerId: Bytes32; error: string } };

export interface LedgerHost {
  key: PrivateKey;
  /** Stores a ledger channel. Whatever is sent after this waits until it is durable. */
  commit(channel: Channel): Promise<void>;
  /** Sends ledger payloads to the ledger's counterparty. */
  send(to: Address, payloads: LedgerPayload[]): void;
  /** A peer's payload we refuse: logged with the reason. */
  reject(from: Address, error: Error, context?: string): void;
}

export interface LedgerBalances {
  ledgerId: Bytes32;
  asset: Address;
  /** Free (simple) balance per participant, in the latest state we hold (the leader counts its proposals in flight). */
  free: [bigint, bigint];
  /** In guarantees for virtual channels. */
  locked: bigint;
  /** Proposals not yet countersigned. */
  inFlight: number;
}

export class LedgerManager {
  private readonly ends = new Map<Bytes32, LedgerEnd>();
  /** The same, by counterparty (a hub has one or a few ledgers with each of many users). */
  private readonly byCounterparty = new Map<Address, Set<LedgerEnd>>();

  constructor(private readonly host: LedgerHost) {}

  /** Takes over a funded ledger channel (at start, or when its funding completes). */
  adopt(channel: Channel): void {
    if (this.ends.has(channel.id)) return;
    const end = new LedgerEnd(channel, this.host.key);
    this.ends.set(channel.id, end);
    const set = this.byCounterparty.get(end.counterparty) ?? new Set();
    set.add(end);
    this.byCounterparty.set(end.counterparty, set);
  }

  has(ledgerId: Bytes32): boolean {
    return this.ends.has(ledgerId);
  }

  /** Running ledgers (not closing) with `counterparty`, lowest id first. */
  ledgersWith(counterparty: Address, opts: { leader?: 'us' | 'them'; asset?: Address } = {}): Bytes32[] {
    const out: Bytes32[] = [];
    for (const end of this.byCounterparty.get(counterparty) ?? []) {
      if (end.closing) continue;
      if (opts.leader === 'us' && end.role !== 'leader') continue;
      if (opts.leader === 'them' && end.role !== 'follower') continue;
      if (opts.asset !== undefined && end.supported().state.outcome[0]?.asset !== opts.asset) continue;
      out.push(end.id);
    }
    return out.sort();
  }

  balances(ledgerId: Bytes32): LedgerBalances | undefined {
    const end = this.ends.get(ledgerId);
    if (!end) return undefined;
    const tip = end.tip();
    const [p0, p1] = tip.participants as [Address, Address];
    let locked = 0n;
    for (const a of tip.outcome[0]!.allocations) if (a.allocationType === AllocationType.guarantee) locked += a.amount;
    return { ledgerId, asset: tip.outcome[0]!.asset, free: [simpleAmount(tip, addressToDestination(p0)), simpleAmount(tip, addressToDestination(p1))], locked, inFlight: end.inFlight() };
  }

  /** Whether the latest state we hold of the ledger has a guarantee for `target`. */
  holds(ledgerId: Bytes32, target: Bytes32): boolean {
    const end = this.ends.get(ledgerId);
    return end !== undefined && guaranteeTargets(end.tip()).has(target);
  }

  /** Why the ledger cannot be closed now, if it cannot: guarantees held or changes in flight. */
  closeBlocker(ledgerId: Bytes32): string | undefined {
    const end = this.ends.get(ledgerId);
    if (!end) return undefined;
    if (guaranteeTargets(end.tip()).size > 0) return `ledger ${ledgerId} still holds guarantees for virtual channels`;
    if (end.inFlight() > 0) return `ledger ${ledgerId} has changes in flight`;
    if (end.requests.size > 0) return `ledger ${ledgerId} has a change requested by a running objective`;
    return undefined;
  }

  /** The ledger is being closed: no more changes. Objectives still waiting on it are failed. */
  retire(ledgerId: Bytes32): LedgerEvent[] {
    const end = this.ends.get(ledgerId);
    if (!end) return [];
    end.closing = true;
    const events: LedgerEvent[] = [...end.watchers.keys()].map((objectiveId) => ({ objectiveId, event: { type: 'LEDGER_FAILED', ledgerId, error: 'the ledger is being closed' } }));
    this.ends.delete(ledgerId);
    this.byCounterparty.get(end.counterparty)?.delete(end);
    return events;
  }

  /** The ledgers each objective asked something of. */
  private readonly asked = new Map<string, Set<LedgerEnd>>();

  /** An objective ended: its requests and watches go. */
  forget(objectiveId: string): void {
    for (const end of this.asked.get(objectiveId) ?? []) {
      end.requests.delete(objectiveId);
      end.watchers.delete(objectiveId);
    }
    this.asked.delete(objectiveId);
  }

  /**
   * An objective's `ledgerRequest`s (all of one step). As leader, proposes each change not yet
   * proposed — after checking that every one of them applies, so that an objective that cannot be
   * funded proposes nothing anywhere; as follower, records the change and countersigns any held
   * proposal it unblocks. Commits before sending. Returns the events for objectives: the
   * requester gets each ledger's supported state (or LEDGER_FAILED), watchers any change.
   */
  async request(objectiveId: string, requests: { ledgerId: Bytes32; change: LedgerChange }[]): Promise<LedgerEvent[]> {
    for (const { ledgerId, change } of requests) {
      const end = this.ends.get(ledgerId);
      const problem = !end ? 'no such ledger is running' : this.cannotPropose(end, change);
      if (problem) return [{ objectiveId, event: { type: 'LEDGER_FAILED', ledgerId, error: problem } }];
    }
    const touched = new Set<LedgerEnd>();
    const replies: [LedgerEnd, Countersignature[]][] = [];
    const proposals: [LedgerEnd, LedgerProposal][] = [];
    const before = new Map<LedgerEnd, number>();
    for (const { ledgerId, change } of requests) {
      const end = this.ends.get(ledgerId)!;
      if (!before.has(end)) before.set(end, end.supported().state.turnNum);
      const list = end.requests.get(objectiveId) ?? [];
      if (!list.some((c) => sameLedgerChange(c, change))) end.requests.set(objectiveId, [...list, change]);
      end.watchers.set(objectiveId, { target: targetOf(change) });
      const asked = this.asked.get(objectiveId) ?? new Set();
      asked.add(end);
      this.asked.set(objectiveId, asked);
      if (end.leader) {
        if (!this.proposed(end, change)) {
          proposals.push([end, end.leader.propose(change)]);
          touched.add(end);
        }
      } else {
        const countersignatures = this.advance(end);
        if (countersignatures.length > 0) {
          touched.add(end);
          replies.push([end, countersignatures]);
        }
      }
    }
    await this.commitAll(touched);
    for (const [end, proposal] of proposals) this.host.send(end.counterparty, [{ type: 'ledgerProposal', proposal }]);
    for (const [end, countersignatures] of replies) this.host.send(end.counterparty, countersignatures.map((countersignature) => ({ type: 'ledgerCountersignature', countersignature })));
    const events: LedgerEvent[] = [];
    for (const { ledgerId } of requests) {
      const end = this.ends.get(ledgerId)!;
      const supported = end.supported();
      const watcher = end.watchers.get(objectiveId)!;
      watcher.told = guaranteeTargets(supported.state).has(watcher.target);
      events.push({ objectiveId, event: { type: 'LEDGER_UPDATED', ledgerId, signedState: supported } });
    }
    for (const [end, turn] of before) if (end.supported().state.turnNum !== turn) events.push(...this.notify(end, objectiveId));
    return events;
  }

  /** Why the leader cannot propose `change` now (undefined if it can, or has already). */
  private cannotPropose(end: LedgerEnd, change: LedgerChange): string | undefined {
    if (end.closing) return 'the ledger is being closed';
    if (!end.leader || this.proposed(end, change)) return undefined;
    try {
      applyChange(end.tip(), change);
      return undefined;
    } catch (e) {
      if (e instanceof CoreError) return e.message;
      throw e;
    }
  }

  /** Whether the leader has already proposed (or applied) `change`. */
  private proposed(end: LedgerEnd, change: LedgerChange): boolean {
    if (end.leader!.pending.some((p) => sameLedgerChange(p.proposal.change, change))) return true;
    const present = guaranteeTargets(end.tip()).has(targetOf(change));
    return change.type === 'add' ? present : !present;
  }

  /**
   * Ledger payloads from `from` (all of one batch of messages). Checks the sender is the ledger's
   * counterparty; takes countersignatures (leader) and proposals (follower); commits each changed
   * ledger once, then answers. Returns the events for the objectives watching.
   */
  async receive(from: Address, payloads: LedgerPayload[]): Promise<LedgerEvent[]> {
    const touched = new Set<LedgerEnd>();
    const proposed = new Set<LedgerEnd>();
    const before = new Map<LedgerEnd, number>();
    const replies = new Map<LedgerEnd, Countersignature[]>();
    for (const p of payloads) {
      const ledgerId = p.type === 'ledgerProposal' ? p.proposal.ledgerId : p.countersignature.ledgerId;
      const end = this.ends.get(ledgerId);
      try {
        if (!end) throw new EngineError('invalid', `no running ledger ${ledgerId} here`);
        if (end.counterparty !== from) throw new EngineError('invalid', `the sender is not the counterparty of ledger ${ledgerId}`);
        if (!before.has(end)) before.set(end, end.supported().state.turnNum);
        if (p.type === 'ledgerCountersignature') {
          if (!end.leader) throw new EngineError('invalid', `a countersignature for ledger ${ledgerId}, which we follow`);
          if (end.leader.receive(p.countersignature).length > 0) touched.add(end);
        } else {
          if (!end.follower) throw new EngineError('invalid', `a proposal for ledger ${ledgerId}, which we lead`);
          const supportedTurn = end.supported().state.turnNum;
          if (p.proposal.turnNum <= supportedTurn) {
            // A re-sent proposal: our countersignature was lost; send the latest again.
            const again = end.follower.receive(p.proposal);
            if (again.length) replies.set(end, [...(replies.get(end) ?? []), ...again]);
            continue;
          }
          if (!end.held.has(p.proposal.turnNum) && end.held.size >= MAX_HELD) throw new EngineError('invalid', `too many proposals ahead on ledger ${ledgerId}`);
          end.held.set(p.proposal.turnNum, p.proposal);
          proposed.add(end);
        }
      } catch (e) {
        this.host.reject(from, e as Error, `ledger ${ledgerId}`);
      }
    }
    for (const end of proposed) {
      const countersignatures = this.advance(end);
      if (countersignatures.length > 0) {
        touched.add(end);
        replies.set(end, [...(replies.get(end) ?? []), ...countersignatures]);
      }
    }
    await this.commitAll(touched);
    for (const [end, countersignatures] of replies) this.host.send(end.counterparty, countersignatures.map((countersignature) => ({ type: 'ledgerCountersignature', countersignature })));
    const events: LedgerEvent[] = [];
    for (const [end, turn] of before) if (end.supported().state.turnNum !== turn) events.push(...this.notify(end));
    return events;
  }

  /**
   * Follower: countersigns held proposals in turn order while the next one is a change we asked
   * for. A proposal that does not apply, is not signed by the leader, or differs from what we
   * asked for the same virtual channel is dropped (logged); one not asked for yet waits.
   */
  private advance(end: LedgerEnd): Countersignature[] {
    const out: Countersignature[] = [];
    for (;;) {
      const next = end.held.get(end.supported().state.turnNum + 1);
      if (!next) break;
      try {
        const state = applyChange(end.supported().state, next.change);
        if (!isSignatureBy(hashStateBytes(state, end.id), next.signature, end.counterparty, 'signature')) throw new EngineError('invalid', `ledger turn ${next.turnNum} is not signed by the leader`);
        if (!end.isRequested(next.change)) {
          if (end.conflicts(next.change)) throw new EngineError('invalid', `ledger turn ${next.turnNum}: the change differs from what the virtual channel needs`);
          break; // not asked for yet: wait for our objective
        }
        out.push(...end.follower!.receive(next));
        end.held.delete(next.turnNum);
      } catch (e) {
        end.held.delete(next.turnNum);
        this.host.reject(end.counterparty, e as Error, `ledger ${end.id}`);
        break;
      }
    }
    // Drop what can never apply (below the supported turn).
    for (const turn of end.held.keys()) if (turn <= end.supported().state.turnNum) end.held.delete(turn);
    return out;
  }

  /** Events for watchers whose virtual channel's guarantee came or went (except `skip`, already told). */
  private notify(end: LedgerEnd, skip?: string): LedgerEvent[] {
    const supported = end.supported();
    const targets = guaranteeTargets(supported.state);
    const events: LedgerEvent[] = [];
    for (const [objectiveId, w] of end.watchers) {
      if (objectiveId === skip) continue;
      const present = targets.has(w.target);
      if (w.told === present) continue;
      w.told = present;
      events.push({ objectiveId, event: { type: 'LEDGER_UPDATED', ledgerId: end.id, signedState: supported } });
    }
    return events;
  }

  private async commitAll(ends: Set<LedgerEnd>): Promise<void> {
    await Promise.all([...ends].map((end) => this.host.commit(end.channel())));
  }

  /** Leader: every proposal not yet countersigned, to its follower again (lost messages, a reload). */
  resend(): void {
    for (const end of this.ends.values()) {
      if (end.leader && end.leader.pending.length > 0) this.host.send(end.counterparty, end.leader.unacknowledged().map((proposal) => ({ type: 'ledgerProposal', proposal })));
    }
  }
}
