/**
 * A tiny in-memory world for virtual-channel objectives: parties with their keys, ledger
 * channels run by LedgerLeader/LedgerFollower (participant 0 leads), and a network that carries
 * serialized protocol messages between them — in order, or shuffled, duplicated and lossy (seeded).
 * It plays the engine's part: performs each objective's outbox, answers `ledgerRequest`s (the
 * leader proposes, the follower accepts exactly the requested change), reports LEDGER_UPDATED,
 * and on each idle "tick" re-sends what peers may lack (unacknowledged ledger proposals, our
 * newest signed V states), as the engine does every 2 s.
 */
import { type AnyActorRef, createActor } from 'xstate';
import { CoreError } from '../errors.ts';
import type { Address, Bytes32 } from '../hex.ts';
import { type Effect } from '../objectives/effects.ts';
import { type VirtualDefundContext, checkVirtualDefundState, virtualDefundMachine } from '../objectives/virtual-defund.ts';
import { type VirtualFundContext, checkVirtualFundState, virtualFundMachine } from '../objectives/virtual-fund.ts';
import { type Channel, latestSupported, newChannel, signedByMe } from '../protocol/channel.ts';
import { LedgerFollower, LedgerLeader, type LedgerChange } from '../protocol/ledger.ts';
import { type LedgerPayload, type Payload, objectiveIds, parseMessage, serializeMessage } from '../protocol/message.ts';
import { type VoucherBook, newVoucherBook, pay, receiveVoucher } from '../protocol/payments.ts';
import { type VirtualLedgers, sameLedgerChange, sidesOf, ledgerParties } from '../protocol/virtual.ts';
import type { PrivateKey, Signature } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import { type State, channelId } from '../state.ts';
import type { Voucher } from '../voucher.ts';
import { Rng } from './arbitrary.ts';

export interface WorldOptions {
  seed?: number;
  /** Deliver queued messages in random order. */
  shuffle?: boolean;
  /** Percent of deliveries that are also queued again (duplicated). */
  duplicatePercent?: number;
  /** Percent of deliveries that are lost. */
  dropPercent?: number;
  /** Messages for which this returns true are never delivered (a partition). */
  block?: (m: { from: Address; to: Address; text: string }) => boolean;
}

export interface LedgerEnd {
  id: Bytes32;
  leader?: LedgerLeader;
  follower?: LedgerFollower;
  counterparty: Address;
  /** Changes our objectives asked for: the leader proposes each once; the follower accepts only these. */
  requested: LedgerChange[];
  watchers: Set<string>;
}

export interface Node {
  key: PrivateKey;
  ledgers: Map<Bytes32, LedgerEnd>;
  actors: Map<string, AnyActorRef>;
  /** V channels as the funding objective left them. */
  channels: Map<Bytes32, Channel>;
  books: Map<Bytes32, VoucherBook>;
  progress: Effect[];
}

type Message = { from: Address; to: Address; text: string };

const isTerminal = (a: AnyActorRef) => a.getSnapshot().hasTag('terminal');
const outboxOf = (a: AnyActorRef) => (a.getSnapshot().context as { outbox: Effect[] }).outbox;
const contextOf = <T>(a: AnyActorRef) => a.getSnapshot().context as T;

export class VirtualWorld {
  readonly nodes = new Map<Address, Node>();
  /** Everything a node refused, with the reason (CoreError message). */
  readonly rejected: { at: Address; reason: string; code?: string; field?: string }[] = [];
  readonly queue: Message[] = [];
  delivered = 0;
  private readonly rng: Rng;

  constructor(
    keys: PrivateKey[],
    private readonly opts: WorldOptions = {},
  ) {
    this.rng = new Rng(opts.seed ?? 1);
    for (const key of keys) this.nodes.set(key.address, { key, ledgers: new Map(), actors: new Map(), channels: new Map(), books: new Map(), progress: [] });
  }

  node(address: Address): Node {
    const n = this.nodes.get(address);
    if (!n) throw new Error(`no party ${address}`);
    return n;
  }

  /** A running ledger, signed by both: participant 0 leads it, participant 1 follows. */
  addLedger(supported: SignedState): Bytes32 {
    const id = channelId(supported.state);
    const [p0, p1] = supported.state.participants as [Address, Address];
    const signed = { state: supported.state, signatures: [supported.signatures[0]!, supported.signatures[1]!] as [Signature, Signature] };
    const leaderEnd: LedgerEnd = { id, counterparty: p1, requested: [], watchers: new Set() };
    leaderEnd.leader = new LedgerLeader(signed, this.node(p0).key);
    const followerEnd: LedgerEnd = { id, counterparty: p0, requested: [], watchers: new Set() };
    followerEnd.follower = new LedgerFollower(signed, this.node(p1).key, (change) => followerEnd.requested.some((r) => sameLedgerChange(r, change)));
    this.node(p0).ledgers.set(id, leaderEnd);
    this.node(p1).ledgers.set(id, followerEnd);
    return id;
  }

  /** The supported state of a ledger as `at` holds it. */
  ledgerState(at: Address, ledgerId: Bytes32): SignedState {
    const end = this.node(at).ledgers.get(ledgerId)!;
    const s = (end.leader ?? end.follower)!.supported;
    return { state: s.state, signatures: [...s.signatures] };
  }

  /** The ledgers `me` uses for V, found by their parties. */
  ledgersFor(v: State, me: Address): VirtualLedgers {
    const index = v.participants.indexOf(me);
    const out: VirtualLedgers = {};
    for (const side of sidesOf(index)) {
      const [a, b] = ledgerParties(v, side);
      for (const end of this.node(me).ledgers.values()) {
        const parties = (end.leader ?? end.follower)!.supported.state.participants;
        if (parties.includes(a) && parties.includes(b)) out[side] = end.id;
      }
    }
    return out;
  }

  // ---- Objectives -----------------------------------------------------------------------------

  startFund(me: Address, prefund: State, opts: { approve?: boolean } = {}): AnyActorRef {
    const node = this.node(me);
    const actor = createActor(virtualFundMachine(node.key), { input: { channel: newChannel(prefund, me), ledgers: this.ledgersFor(prefund, me) } }).start();
    const id = objectiveIds.virtualFunding(channelId(prefund));
    node.actors.set(id, actor);
    this.drain(node, id);
    if (opts.approve ?? true) this.send(me, id, { type: 'APPROVE' });
    return actor;
  }

  /** Resumes an objective from a persisted snapshot (as after a reload). */
  resume(me: Address, id: string, snapshot: unknown): AnyActorRef {
    const node = this.node(me);
    node.actors.get(id)?.stop();
    const machine = id.startsWith('VirtualFund-') ? virtualFundMachine(node.key) : virtualDefundMachine(node.key);
    const actor = createActor(machine, { snapshot } as never).start();
    node.actors.set(id, actor);
    this.drain(node, id);
    return actor;
  }

  /** The payer or the payee proposes V's final state from its largest voucher. */
  startDefund(me: Address, vId: Bytes32): AnyActorRef {
    const node = this.node(me);
    const channel = node.channels.get(vId)!;
    const book = node.books.get(vId);
    const voucher: Voucher | undefined = book?.largest;
    const input = voucher ? { channel, ledgers: this.ledgersFor(channel.states[0]!.state, me), role: 'proposer' as const, voucher } : { channel, ledgers: this.ledgersFor(channel.states[0]!.state, me), role: 'proposer' as const };
    const actor = createActor(virtualDefundMachine(node.key), { input }).start();
    const id = objectiveIds.virtualDefunding(vId);
    node.actors.set(id, actor);
    this.drain(node, id);
    return actor;
  }

  send(me: Address, id: string, event: { type: string; [k: string]: unknown }): void {
    const node = this.node(me);
    node.actors.get(id)!.send(event);
    this.drain(node, id);
  }

  actor(me: Address, id: string): AnyActorRef {
    return this.node(me).actors.get(id)!;
  }

  // ---- Payments -----------------------------------------------------------------------------

  /** The payer pays `amount` more; the payee takes the voucher into its book. */
  pay(vId: Bytes32, amount: bigint): Voucher {
    const v = [...this.nodes.values()].find((n) => n.channels.has(vId))!.channels.get(vId)!.states[0]!.state;
    const [payer, , payee] = v.participants as [Address, Address, Address];
    const p = this.node(payer);
    const q = this.node(payee);
    const paid = pay(p.books.get(vId) ?? newVoucherBook(v), amount, p.key);
    p.books.set(vId, paid.book);
    q.books.set(vId, receiveVoucher(q.books.get(vId) ?? newVoucherBook(v), paid.voucher).book);
    return paid.voucher;
  }

  // ---- The network --------------------------------------------------------------------------

  private post(from: Address, to: Address, payloads: Payload[], ledger: LedgerPayload[] = []): void {
    this.queue.push({ from, to, text: serializeMessage({ from, to, payloads, ...(ledger.length ? { ledger } : {}) }) });
  }

  /** Queues a raw message, as if `from` sent it. */
  inject(from: Address, to: Address, text: string): void {
    this.queue.push({ from, to, text });
  }

  /** Every objective is terminal, nothing is in flight, and no ledger proposal waits. */
  settled(): boolean {
    if (this.queue.length > 0) return false;
    for (const n of this.nodes.values()) {
      for (const a of n.actors.values()) if (!isTerminal(a) || outboxOf(a).length > 0) return false;
      for (const end of n.ledgers.values()) if (end.leader && end.leader.pending.length > 0) return false;
    }
    return true;
  }

  /** Delivers messages (re-sending on idle ticks) until settled; false if it could not settle. */
  run(opts: { maxTicks?: number; maxDeliveries?: number } = {}): boolean {
    const maxTicks = opts.maxTicks ?? 100;
    const maxDeliveries = opts.maxDeliveries ?? 200_000;
    let ticks = 0;
    for (let n = 0; n < maxDeliveries; n++) {
      if (this.queue.length === 0) {
        if (this.settled()) return true;
        if (ticks++ >= maxTicks) return false;
        this.tick();
        if (this.queue.length === 0) return this.settled();
        continue;
      }
      const i = this.opts.shuffle ? this.rng.int(this.queue.length) : 0;
      const [m] = this.queue.splice(i, 1);
      if (this.rng.int(100) < (this.opts.dropPercent ?? 0) || this.opts.block?.(m!)) continue;
      if (this.rng.int(100) < (this.opts.duplicatePercent ?? 0)) this.queue.push(m!);
      this.deliver(m!);
    }
    return false;
  }

  /** What the engine re-sends periodically: unacknowledged ledger proposals and our newest signed V states. */
  tick(): void {
    for (const node of this.nodes.values()) {
      const me = node.key.address;
      for (const end of node.ledgers.values()) {
        if (end.leader && end.leader.pending.length > 0) {
          this.post(me, end.counterparty, [], end.leader.unacknowledged().map((proposal) => ({ type: 'ledgerProposal', proposal })));
        }
      }
      for (const [id, actor] of node.actors) {
        const channel = contextOf<{ channel: Channel }>(actor).channel;
        const from = latestSupported(channel)?.state.turnNum ?? 0;
        const states = channel.states.filter((s) => s.state.turnNum >= from && signedByMe(s, channel));
        if (states.length === 0) continue;
        for (const to of channel.fixedPart.participants) if (to !== me) this.post(me, to, states.map((signedState) => ({ type: 'state', objectiveId: id, signedState })));
      }
    }
  }

  private reject(at: Address, e: unknown): void {
    if (!(e instanceof CoreError)) throw e;
    this.rejected.push({ at, reason: e.message, code: e.code, field: e.field });
  }

  private deliver(m: Message): void {
    this.delivered++;
    const node = this.nodes.get(m.to);
    if (!node) return;
    let message;
    try {
      message = parseMessage(m.text, { from: m.from, to: m.to });
    } catch (e) {
      this.reject(m.to, e);
      return;
    }
    for (const p of message.payloads) {
      try {
        this.onPayload(node, m.from, p);
      } catch (e) {
        this.reject(m.to, e);
      }
    }
    for (const l of message.ledger ?? []) {
      try {
        this.onLedgerPayload(node, m.from, l);
      } catch (e) {
        this.reject(m.to, e);
      }
    }
  }

  private onPayload(node: Node, from: Address, p: Payload): void {
    let actor = node.actors.get(p.objectiveId);
    if (p.type === 'reject') {
      if (actor && !isTerminal(actor)) this.send(node.key.address, p.objectiveId, { type: 'PEER_REJECTED', reason: p.reason });
      return;
    }
    if (!p.signedState.state.participants.includes(from)) throw new CoreError('not-a-participant', 'from', 'the sender is not a participant');
    if (!actor && p.objectiveId.startsWith('VirtualDefund-')) {
      // A final state proposed by a peer: answer it with a responder objective (if it passes).
      const vId = channelId(p.signedState.state);
      const channel = node.channels.get(vId);
      if (!channel) throw new CoreError('invalid-outcome', 'channelId', `no virtual channel ${vId} here`);
      const paid = node.books.get(vId)?.paid;
      const input = { channel, ledgers: this.ledgersFor(channel.states[0]!.state, node.key.address), role: 'responder' as const, received: p.signedState, ...(paid === undefined ? {} : { paid }) };
      const postfund = latestSupported(channel)!.state;
      checkVirtualDefundState({ channel, postfund, ...(paid === undefined ? {} : { paid }) }, p.signedState);
      actor = createActor(virtualDefundMachine(node.key), { input }).start();
      node.actors.set(p.objectiveId, actor);
      this.drain(node, p.objectiveId);
      return;
    }
    if (!actor) throw new CoreError('invalid-outcome', 'objectiveId', `no objective ${p.objectiveId}`);
    if (isTerminal(actor)) return;
    // Check first, as the engine does, so the reason is logged; the machine ignores it anyway.
    if (p.objectiveId.startsWith('VirtualFund-')) checkVirtualFundState(contextOf<VirtualFundContext>(actor), p.signedState);
    else checkVirtualDefundState(contextOf<VirtualDefundContext>(actor), p.signedState);
    this.send(node.key.address, p.objectiveId, { type: 'STATE_RECEIVED', signedState: p.signedState });
  }

  private onLedgerPayload(node: Node, from: Address, l: LedgerPayload): void {
    const id = l.type === 'ledgerProposal' ? l.proposal.ledgerId : l.countersignature.ledgerId;
    const end = node.ledgers.get(id);
    if (!end || end.counterparty !== from) throw new CoreError('not-a-participant', 'ledgerId', `no ledger ${id} with ${from}`);
    if (l.type === 'ledgerProposal') {
      if (!end.follower) throw new CoreError('unsupported-state', 'ledgerProposal', 'we lead this ledger');
      const countersignatures = end.follower.receive(l.proposal);
      if (countersignatures.length > 0) {
        this.post(node.key.address, from, [], countersignatures.map((countersignature) => ({ type: 'ledgerCountersignature', countersignature })));
        this.notify(node, end);
      }
    } else {
      if (!end.leader) throw new CoreError('unsupported-state', 'ledgerCountersignature', 'we follow this ledger');
      if (end.leader.receive(l.countersignature).length > 0) this.notify(node, end);
    }
  }

  private notify(node: Node, end: LedgerEnd): void {
    const supported = this.ledgerState(node.key.address, end.id);
    for (const id of [...end.watchers]) {
      const actor = node.actors.get(id);
      if (!actor || isTerminal(actor)) {
        end.watchers.delete(id);
        continue;
      }
      this.send(node.key.address, id, { type: 'LEDGER_UPDATED', ledgerId: end.id, signedState: supported });
    }
  }

  /** Performs an objective's outbox until it is empty, as the engine does after each commit. */
  private drain(node: Node, id: string): void {
    for (let guard = 0; guard < 1000; guard++) {
      const actor = node.actors.get(id)!;
      const effects = outboxOf(actor);
      if (effects.length === 0) break;
      actor.send({ type: 'EFFECTS_DONE' });
      for (const e of effects) this.perform(node, id, e);
    }
    const actor = node.actors.get(id)!;
    if (id.startsWith('VirtualFund-') && actor.getSnapshot().value === 'done') {
      const channel = contextOf<VirtualFundContext>(actor).channel;
      node.channels.set(channel.id, channel);
    }
  }

  private perform(node: Node, id: string, e: Effect): void {
    const me = node.key.address;
    if (e.kind === 'send') {
      for (const to of e.to) this.post(me, to, e.payloads);
    } else if (e.kind === 'progress') {
      node.progress.push(e);
    } else if (e.kind === 'ledgerRequest') {
      const end = node.ledgers.get(e.ledgerId);
      const actor = node.actors.get(id)!;
      if (!end) {
        actor.send({ type: 'LEDGER_FAILED', ledgerId: e.ledgerId, error: 'no such ledger' });
        return;
      }
      end.watchers.add(id);
      if (!end.requested.some((r) => sameLedgerChange(r, e.change))) {
        if (end.leader) {
          try {
            end.leader.propose(e.change);
          } catch (err) {
            if (!(err instanceof CoreError)) throw err;
            actor.send({ type: 'LEDGER_FAILED', ledgerId: e.ledgerId, error: err.message });
            return;
          }
          this.post(me, end.counterparty, [], end.leader.unacknowledged().map((proposal) => ({ type: 'ledgerProposal', proposal })));
        }
        end.requested.push(e.change);
      }
      actor.send({ type: 'LEDGER_UPDATED', ledgerId: e.ledgerId, signedState: this.ledgerState(me, e.ledgerId) });
    }
  }
}
