/**
 * Fuzzing the engine's peer-message input (`Engine.receiveMessage(from, text)`) with real parties.
 *
 * The world: a hub H and two users P (payer) and Q (payee), engines over MemoryStores with no
 * chain, each user with a funded ledger with the hub (`fundedLedger`), and a funded direct channel
 * D between P and Q. They then really run: P and Q update D both ways, P opens a virtual channel V
 * to Q through H and pays through it, and a second virtual channel is opened and closed (so the
 * corpus also holds ledger removals and final states). Every message they exchange is captured:
 * that corpus of real, valid messages is what most inputs are mutated from.
 *
 * The fuzz: the network stops delivering (what the engines send is only recorded), and each input
 * goes to one of the three engines, from the address the input's kind calls for, one at a time.
 * Kinds: a JSON-tree mutation of a real message to that engine (1–3 mutations); a verbatim replay;
 * a real message meant for another party; a signature bit flip; text damage; random or huge JSON;
 * a real message from a sender that is not its author; and re-signed states of D and vouchers of V
 * whose fields are changed (turn past / next / far future, amounts shifted, totals changed,
 * wrong channel, wrong objective, ledger mark), signed by the real sender's key, a stranger's, or
 * both (the stranger in the receiver's slot).
 *
 * Holding P's and Q's keys, the fuzzer could make either key sign two different states of D for
 * one turn — one through its engine, one itself — and each engine would then countersign its own
 * (seeds 20240614, 20240623, 20240625, 20240634 did: P's fuzzed state for turn 17 countersigned
 * by Q's engine, then Q's fuzzed state for turn 17 countersigned by P's engine), leaving P and Q
 * with different supported states for one turn. That is equivocation by a stolen key, which no
 * engine can prevent or repair (it is settled on chain); the liveness step would fail on it for no
 * fault of the engines. So the fuzzer keeps, by turn, every state of D each key signed (`SignedTurns`:
 * what the engines sent and stored, and its own signatures), and signs a state above the
 * receiver's supported turn with the real key only if neither that key nor the receiver's (which
 * may countersign it) has signed another state for that turn; otherwise a stranger signs. At or
 * below the receiver's supported turn it still may — the receiver must refuse such a state (stale,
 * or in conflict with the one it holds supported), and the oracle checks that it does. An engine
 * may still later propose on a turn the fuzzer signed with its key and the other refused (kept,
 * never countersigned): the other then takes the engine's proposal in its place, so only one of
 * the two is ever supported.
 *
 * Oracles, after each input (and `idle()`):
 *  - `receiveMessage` resolved (never rejected), no unhandled rejection or uncaught exception,
 *    no `store.failed`;
 *  - the store (channels, objectives, vouchers, compared deeply) equals the one before, except for
 *    inputs carrying a fresh signature of D's real counterparty; for those the only change allowed
 *    is D gaining states: same fixed part and index; every signature in it recovers to its slot's
 *    participant; the supported turn does not go back, nor is the supported state replaced by
 *    another for the same turn; each asset's total is conserved; and the
 *    receiver's own balance in the supported state does not fall (a wallet countersigns only what
 *    takes nothing from it). A new channel may appear only as a bare proposal: its prefund signed
 *    by the sender alone, with an active DirectFunding objective awaiting approval; once there,
 *    it must not change (see the report: a second prefund currently replaces the first). Ledgers, V, objectives and vouchers must not change at all: the fuzzer
 *    never signs a V or ledger state with a participant's key, and signs vouchers with the payer's
 *    key only for amounts that may not be taken (not above the one stored, or above V's amount),
 *    nor a final state of D (a real close would end D, which the engine tests cover);
 *  - every input is accounted for: refused with a logged reason (`peer.rejected`,
 *    `update.refused`, …), answered with a message, accepted (a valid change), or harmless
 *    (nothing stored changed, e.g. a state already held).
 * After the fuzz the network delivers again (first what the engines sent during the fuzz) and the
 * parties must still work: an update of D each way and a payment through V succeed, and P and Q
 * end with the same supported state of D.
 */
import {
  type Address,
  type Bytes32,
  type Hex,
  PrivateKey,
  ZERO_ADDRESS,
  addressToDestination,
  AllocationType,
  type Exit,
  bytesToHex,
  channelId as channelIdOf,
  hashStateBytes,
  isSignatureBy,
  keccakReady,
  signVoucher,
  type State,
  type Voucher,
} from '../../../core/src/index.ts';
import { type Channel, latestSupported } from '../../../core/src/protocol/channel.ts';
import { objectiveIds, parseMessage, serializeMessage, type Payload, type ProtocolMessage } from '../../../core/src/protocol/message.ts';
import { signState, type SignedState } from '../../../core/src/signed-state.ts';
import { type FuzzCounts, type Json, Rng, canonical, emptyCounts, flipHexBit, hugeJsonText, mutateJson, mutateText, randomJson, weighted } from '../../../core/src/testing/fuzz.ts';
import { Engine } from '../engine.ts';
import { LEDGER_APP_DATA } from '../ledger-manager.ts';
import { MemoryStore } from '../store/memory-store.ts';
import type { ObjectiveRecord } from '../store/types.ts';
import { TEST_APPS, fundedLedger, noChain } from './hub-capacity.ts';

/** Log events that are a refusal of a peer's input, with its reason. */
const REJECTION_EVENTS = new Set(['peer.rejected', 'update.refused', 'virtual.refused', 'virtual.reject-ignored', 'voucher.repeated']);

interface Party {
  name: 'H' | 'P' | 'Q';
  key: PrivateKey;
  store: MemoryStore;
  engine: Engine;
  logs: { event: string; fields?: Record<string, unknown> }[];
  payments: bigint[];
}

interface Captured {
  from: Address;
  to: Address;
  text: string;
}

export interface PeerFuzzFailure {
  seed: number;
  input: number;
  kind: string;
  to: string;
  what: string;
  text: string;
}

export interface PeerFuzzResult {
  seed: number;
  counts: FuzzCounts;
  byKind: Record<string, number>;
  /** Of each kind, the inputs that were neither refused nor answered and changed nothing. */
  harmlessByKind: Record<string, number>;
  failures: PeerFuzzFailure[];
  corpus: number;
}

const key = (r: Rng) => PrivateKey.fromHex(bytesToHex(r.bytes(32)));

function exitOf(a: Address, b: Address, x: bigint, y: bigint): Exit {
  return [
    {
      asset: ZERO_ADDRESS,
      assetMetadata: { assetType: 0, metadata: '0x' },
      allocations: [
        { destination: addressToDestination(a), amount: x, allocationType: AllocationType.simple, metadata: '0x' },
        { destination: addressToDestination(b), amount: y, allocationType: AllocationType.simple, metadata: '0x' },
      ],
    },
  ];
}

/** A funded running direct channel [a, b] (postfund signed by both), as each side stores it. */
function fundedDirect(a: PrivateKey, b: PrivateKey, amounts: [bigint, bigint]): { id: Bytes32; a: Channel; b: Channel } {
  const state: State = {
    participants: [a.address, b.address],
    channelNonce: 77n,
    appDefinition: TEST_APPS.consensusApp,
    challengeDuration: 600,
    outcome: exitOf(a.address, b.address, amounts[0], amounts[1]),
    appData: '0x',
    turnNum: 1,
    isFinal: false,
  };
  const id = channelIdOf(state);
  const signatures = [signState(state, a, id).signature, signState(state, b, id).signature];
  const base = { id, fixedPart: { participants: state.participants, channelNonce: state.channelNonce, appDefinition: state.appDefinition, challengeDuration: state.challengeDuration }, states: [{ state, signatures }] };
  return { id, a: { ...base, myIndex: 0 }, b: { ...structuredClone(base), myIndex: 1 } };
}

/** The three parties, their channels, and the corpus of real messages they exchanged. */
export async function peerWorld(seed: number) {
  await keccakReady;
  const r = new Rng(seed ^ 0x5eed);
  const [hKey, pKey, qKey, stranger] = [key(r), key(r), key(r), key(r)];
  const corpus: Captured[] = [];
  const outbox: Captured[] = [];
  let delivering = true;
  const parties = new Map<Address, Party>();
  const send = (from: Address) => (to: Address, text: string) => {
    const m = { from, to, text };
    if (!delivering) return void outbox.push(m);
    corpus.push(m);
    queueMicrotask(() => void parties.get(to)?.engine.receiveMessage(from, text));
  };
  const party = (name: Party['name'], k: PrivateKey, extra: Partial<ConstructorParameters<typeof Engine>[0]> = {}): Party => {
    const p: Party = { name, key: k, store: new MemoryStore(), logs: [], payments: [], engine: undefined as unknown as Engine };
    p.engine = new Engine({
      key: k,
      store: p.store,
      chain: noChain(),
      apps: TEST_APPS,
      resendIntervalMs: 0,
      sendMessage: send(k.address),
      log: (event, fields) => p.logs.push({ event, fields }),
      onPaymentReceived: (pay) => p.payments.push(pay.total),
      ...extra,
    });
    parties.set(k.address, p);
    return p;
  };
  const H = party('H', hKey, { approveVirtualChannel: () => true });
  const P = party('P', pKey);
  const Q = party('Q', qKey);
  const left = fundedLedger(hKey, pKey, [10_000n, 10_000n], { nonce: 1n });
  const right = fundedLedger(hKey, qKey, [10_000n, 10_000n], { nonce: 2n });
  const D = fundedDirect(pKey, qKey, [1000n, 1000n]);
  await H.store.commit({ channel: left.hub });
  await H.store.commit({ channel: right.hub });
  await P.store.commit({ channel: left.user });
  await Q.store.commit({ channel: right.user });
  await P.store.commit({ channel: D.a });
  await Q.store.commit({ channel: D.b });
  for (const p of [H, P, Q]) await p.engine.start();
  const Pa = pKey.address;
  const Qa = qKey.address;
  const paid = 23n;
  // Real traffic: D both ways (pipelined too), a virtual channel paid through and left running, another opened and closed.
  const traffic = async () => {
    await P.engine.updateChannel(D.id, exitOf(Pa, Qa, 990n, 1010n));
    await Promise.all([P.engine.updateChannel(D.id, exitOf(Pa, Qa, 980n, 1020n)), P.engine.updateChannel(D.id, exitOf(Pa, Qa, 970n, 1030n))]);
    await Q.engine.updateChannel(D.id, exitOf(Pa, Qa, 975n, 1025n));
    const V = await P.engine.createVirtualChannel({ payee: Qa, hub: hKey.address, amount: 500n });
    for (const x of [5n, 7n, 11n]) await P.engine.pay(V, x);
    const W = await P.engine.createVirtualChannel({ payee: Qa, hub: hKey.address, amount: 100n });
    await P.engine.pay(W, 40n);
    await settle([H, P, Q]);
    await Q.engine.closeVirtualChannel(W);
    await settle([H, P, Q]);
    if ((await Q.store.getVoucher(V))?.amount !== paid) throw new Error('setup: the payee does not hold the vouchers paid');
    return { V, W };
  };
  // The engine draws channel nonces from crypto.getRandomValues: seeded while the corpus is made, so a seed gives the same messages.
  const random = globalThis.crypto.getRandomValues;
  globalThis.crypto.getRandomValues = (<T extends ArrayBufferView | null>(array: T): T => {
    if (array) new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(r.bytes(array.byteLength));
    return array;
  }) as typeof random;
  let ids: { V: Bytes32; W: Bytes32 };
  try {
    ids = await traffic();
  } finally {
    globalThis.crypto.getRandomValues = random;
  }
  const { V, W } = ids;
  delivering = false;

  return {
    H,
    P,
    Q,
    stranger,
    ids: { D: D.id, V, W, left: left.id, right: right.id },
    corpus,
    outbox,
    paid,
    vAmount: 500n,
    /** Delivers again, first what the engines sent while the network only recorded. */
    async reconnect(): Promise<void> {
      delivering = true;
      const held = outbox.splice(0);
      for (const m of held) void parties.get(m.to)?.engine.receiveMessage(m.from, m.text);
      await settle([H, P, Q]);
    },
    stop(): void {
      for (const p of [H, P, Q]) p.engine.stop();
    },
  };
}

/** Waits until no engine has anything queued and no delivery is pending (deliveries are timers). */
async function settle(parties: Party[]): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    for (const p of parties) await p.engine.idle();
  }
}

type World = Awaited<ReturnType<typeof peerWorld>>;

function storeSnapshot(s: MemoryStore): string {
  return canonical({ channels: s.channels, objectives: s.objectives, vouchers: s.vouchers });
}

/**
 * Every D state each real key is known to have signed, by turn: the engines' own signatures (in
 * what they sent, and in their stores) and the fuzzer's, made with a party's key behind its
 * engine's back. The fuzzer consults it so that its signatures with a party's key, and the
 * countersignatures they may draw from the receiver, never make a key sign two different states
 * for one turn (see the module comment).
 */
class SignedTurns {
  private readonly hashes = new Map<string, Set<string>>();

  constructor(private readonly channel: Bytes32) {}

  private note(signer: Address, turnNum: number, hash: string): void {
    const k = `${signer}:${turnNum}`;
    let set = this.hashes.get(k);
    if (!set) this.hashes.set(k, (set = new Set()));
    set.add(hash);
  }

  /** Notes every signature on D's states in `states` (all of them valid: an engine sent or stored them, or the fuzzer made them). */
  noteStates(states: readonly SignedState[]): void {
    for (const ss of states) {
      if (channelIdOf(ss.state) !== this.channel) continue;
      const hash = bytesToHex(hashStateBytes(ss.state, this.channel));
      ss.signatures.forEach((sig, i) => sig && this.note(ss.state.participants[i]!, ss.state.turnNum, hash));
    }
  }

  /** Notes the D states in a message a party sent. */
  noteMessage(m: Captured): void {
    let message: ProtocolMessage;
    try {
      message = parseMessage(m.text, m);
    } catch {
      return;
    }
    this.noteStates(message.payloads.flatMap((p) => (p.type === 'state' ? [p.signedState] : [])));
  }

  /** Whether `signer` has signed a state of D other than the one hashed `hash` for `turnNum`. */
  signedOther(signer: Address, turnNum: number, hash: string): boolean {
    const set = this.hashes.get(`${signer}:${turnNum}`);
    return set !== undefined && [...set].some((h) => h !== hash);
  }
}

const KINDS = {
  mutate: 30,
  resignD: 22,
  voucher: 10,
  replay: 5,
  misdirect: 5,
  flipSig: 8,
  text: 6,
  garbage: 5,
  huge: 1,
  spoof: 4,
  reject: 4,
} as const;
type Kind = keyof typeof KINDS;

interface Input {
  kind: Kind;
  to: Party;
  from: Address;
  text: string;
  /** Carries a fresh signature of the real sender (D's counterparty of `to`): may change D, or propose a channel, within the rules. */
  freshSignature: boolean;
}

function parseJson(text: string): Json {
  return JSON.parse(text) as Json;
}

/** Fields meaningful in this world, for mutations that stay well-formed. */
function extras(w: World): Json[] {
  return [w.H.key.address, w.P.key.address, w.Q.key.address, w.stranger.address, w.ids.D, w.ids.V, w.ids.W, w.ids.left, w.ids.right, objectiveIds.update(w.ids.D, 9), objectiveIds.directDefunding(w.ids.D), objectiveIds.virtualFunding(w.ids.V), objectiveIds.virtualDefunding(w.ids.V), '0x0', '0x1', 0, 1, 2, 1 << 20];
}

/** A changed copy of D's supported state, as `to`'s counterparty might sign it. */
function changedD(r: Rng, w: World, to: Party, supported: State): { state: State; objectiveId: string } {
  const s: State = structuredClone(supported);
  const [a, b] = [s.outcome[0]!.allocations[0]!, s.outcome[0]!.allocations[1]!];
  const turn = supported.turnNum;
  s.turnNum = r.pick([turn + 1, turn + 1, turn + 2, turn, turn - 1, 0, 1, turn + 1024, turn + 1025, turn + 100_000, 2 ** 48 - 1]);
  if (s.turnNum < 0) s.turnNum = 0;
  const shift = BigInt(r.pick([1, 5, 100, 975, 1025, 5000]));
  switch (r.int(7)) {
    case 0: // to the receiver (P is allocation 0)
      if (to.name === 'P') [a.amount, b.amount] = [a.amount + shift, b.amount - shift];
      else [a.amount, b.amount] = [a.amount - shift, b.amount + shift];
      break;
    case 1: // from the receiver
      if (to.name === 'P') [a.amount, b.amount] = [a.amount - shift, b.amount + shift];
      else [a.amount, b.amount] = [a.amount + shift, b.amount - shift];
      break;
    case 2:
      a.amount += shift; // money from nowhere
      break;
    case 3:
      s.appData = r.pick<Hex>([LEDGER_APP_DATA, '0x01', r.hex(32)]);
      break;
    case 4:
      s.channelNonce += 1n; // another channel
      break;
    case 5:
      s.participants = [s.participants[0]!, w.stranger.address];
      break;
    default:
      break; // same outcome
  }
  if (a.amount < 0n) a.amount = 0n;
  if (b.amount < 0n) b.amount = 0n;
  const id = channelIdOf(s);
  const objectiveId = r.pick([objectiveIds.update(id, s.turnNum), objectiveIds.update(id, s.turnNum), objectiveIds.update(w.ids.D, s.turnNum + 1), objectiveIds.directFunding(id), objectiveIds.directDefunding(id), objectiveIds.virtualFunding(id)]);
  return { state: s, objectiveId };
}

function makeInput(r: Rng, w: World, signed: SignedTurns): Input {
  const parties = [w.H, w.P, w.Q];
  const kind = weighted(r, KINDS);
  const toMe = (p: Party) => w.corpus.filter((m) => m.to === p.key.address);
  switch (kind) {
    case 'mutate': {
      const to = r.pick(parties);
      const m = r.pick(toMe(to));
      let v = parseJson(m.text);
      for (let i = 1 + r.int(3); i > 0; i--) v = mutateJson(r, v, extras(w)).value;
      return { kind, to, from: m.from, text: JSON.stringify(v), freshSignature: false };
    }
    case 'replay': {
      const to = r.pick(parties);
      const m = r.pick(toMe(to));
      return { kind, to, from: m.from, text: m.text, freshSignature: false };
    }
    case 'misdirect': {
      // A real message, to someone else: readdressed to `to` (so only its payloads are wrong for it).
      const to = r.pick(parties);
      const m = r.pick(w.corpus.filter((c) => c.to !== to.key.address && c.from !== to.key.address));
      const v = parseJson(m.text) as { to: string };
      v.to = to.key.address;
      return { kind, to, from: m.from, text: JSON.stringify(v), freshSignature: false };
    }
    case 'flipSig': {
      const to = r.pick(parties);
      const m = r.pick(toMe(to));
      // Flip a bit of one signature's r or s (every message to a party carries at least one).
      const sigs = [...m.text.matchAll(/"(r|s)":"(0x[0-9a-f]+)"/g)];
      const target = sigs.length ? r.int(sigs.length) : -1;
      let n = 0;
      const text = m.text.replace(/"(r|s)":"(0x[0-9a-f]+)"/g, (whole, k: string, hex: string) => (n++ === target ? `"${k}":"${flipHexBit(r, hex)}"` : whole));
      return { kind, to, from: m.from, text, freshSignature: false };
    }
    case 'text': {
      const to = r.pick(parties);
      const m = r.pick(toMe(to));
      return { kind, to, from: m.from, text: mutateText(r, m.text), freshSignature: false };
    }
    case 'garbage': {
      const to = r.pick(parties);
      const from = r.pick(parties.filter((p) => p !== to)).key.address;
      const v = r.int(2) ? randomJson(r, 4) : { v: 1, from, to: to.key.address, payloads: randomJson(r, 3), ...(r.int(2) ? { ledger: randomJson(r, 3) } : {}), ...(r.int(2) ? { vouchers: randomJson(r, 3) } : {}) };
      return { kind, to, from, text: JSON.stringify(v), freshSignature: false };
    }
    case 'huge': {
      const to = r.pick(parties);
      const from = r.pick(parties.filter((p) => p !== to)).key.address;
      const body = hugeJsonText(r, 3 << 20);
      const text = r.int(2) ? body : `{"v":1,"from":"${from}","to":"${to.key.address}","payloads":${body}}`;
      return { kind, to, from, text, freshSignature: false };
    }
    case 'spoof': {
      // A real message for `to`, arriving from someone who did not write it (claimed `from` left as written, or rewritten).
      const to = r.pick(parties);
      const m = r.pick(toMe(to));
      const from = r.pick([w.stranger.address, to.key.address, ...parties.map((p) => p.key.address).filter((a) => a !== m.from)]);
      const v = parseJson(m.text) as { from: string };
      if (r.int(2)) v.from = from;
      return { kind, to, from, text: JSON.stringify(v), freshSignature: false };
    }
    case 'reject': {
      const to = r.pick(parties);
      const from = r.pick(parties.filter((p) => p !== to)).key.address;
      const channelId = r.pick([w.ids.D, w.ids.V, w.ids.W, w.ids.left, w.ids.right, r.bytes32()]);
      const objectiveId = r.pick([objectiveIds.directFunding(channelId), objectiveIds.directDefunding(channelId), objectiveIds.virtualFunding(channelId), objectiveIds.virtualDefunding(channelId), objectiveIds.update(channelId, 5)]);
      const payloads: Payload[] = [{ type: 'reject', objectiveId, channelId: r.int(4) ? channelId : r.bytes32(), reason: 'fuzz' }];
      return { kind, to, from, text: serializeMessage({ from, to: to.key.address, payloads }), freshSignature: false };
    }
    case 'voucher': {
      // Vouchers for V (or W, closed, or an unknown channel), to any party, from any party.
      const to = r.pick(parties);
      const from = r.pick([w.P.key.address, w.P.key.address, w.H.key.address, w.Q.key.address, w.stranger.address].filter((a) => a !== to.key.address));
      const channelId = r.pick([w.ids.V, w.ids.V, w.ids.V, w.ids.W, w.ids.D, r.bytes32()]);
      const signer = r.pick([w.P.key, w.P.key, w.stranger, w.H.key, w.Q.key]);
      let amount = r.pick([0n, 1n, w.paid - 1n, w.paid, w.vAmount + 1n, w.vAmount * 1000n, 2n ** 256n - 1n]);
      if (signer === w.P.key && amount > w.paid && amount <= w.vAmount) amount = w.paid; // never a payment the payer did not make (see above)
      const vouchers: Voucher[] = Array.from({ length: 1 + r.int(3) }, () => signVoucher(channelId, amount, signer));
      if (r.int(4) === 0) vouchers[0] = { ...vouchers[0]!, amount: amount + 1n }; // signed for another amount
      return { kind, to, from, text: serializeMessage({ from, to: to.key.address, payloads: [], vouchers }), freshSignature: false };
    }
    case 'resignD': {
      const to = r.pick([w.P, w.Q]);
      const peer = to === w.P ? w.Q : w.P;
      const supported = latestSupported(to.store.channels.get(w.ids.D)!)!.state;
      const { state, objectiveId } = changedD(r, w, to, supported);
      let signer = weighted(r, { peer: 6, stranger: 2, both: 2 });
      // A refused proposal is kept (its turn is never signed again), so one the real peer's engine
      // never made, far ahead, would leave the two engines' next turns over 1024 apart: the real
      // peer's key signs only turns near the supported one (far ones are refused before storing).
      if (signer !== 'stranger' && state.turnNum > supported.turnNum + 2 && state.turnNum <= supported.turnNum + 1024) signer = 'stranger';
      const id = channelIdOf(state);
      const hash = hashStateBytes(state, id);
      // Never make the peer's key, or the receiver's by its countersignature, sign a second state
      // for a turn either already signed (by its engine or by us): that is equivocation by a
      // stolen key, which no engine can prevent, and it would leave P and Q each holding a
      // different supported state for one turn. Below and at the receiver's supported turn it
      // may still: the receiver must refuse that state (stale, or in conflict with what it holds
      // supported), which is worth trying, and the state then goes nowhere.
      if (signer !== 'stranger' && state.turnNum > supported.turnNum && [peer, to].some((p) => signed.signedOther(p.key.address, state.turnNum, bytesToHex(hash)))) signer = 'stranger';
      const signatures = state.participants.map(() => null) as SignedState['signatures'];
      const peerIndex = state.participants.indexOf(peer.key.address);
      const toIndex = state.participants.indexOf(to.key.address);
      if (signer !== 'stranger' && peerIndex >= 0) {
        signatures[peerIndex] = signState(state, peer.key, id).signature;
        signed.noteStates([{ state, signatures }]);
      }
      if (signer === 'stranger' && peerIndex >= 0) signatures[peerIndex] = w.stranger.signHash(hash);
      if (signer === 'both' && toIndex >= 0) signatures[toIndex] = w.stranger.signHash(hash);
      const message: ProtocolMessage = { from: peer.key.address, to: to.key.address, payloads: [{ type: 'state', objectiveId, signedState: { state, signatures } }] };
      let text = serializeMessage(message);
      if (r.int(8) === 0) text = JSON.stringify(mutateJson(r, parseJson(text), extras(w)).value);
      return { kind, to, from: peer.key.address, text, freshSignature: signer === 'peer' };
    }
  }
}

/**
 * What an objective record has decided: its status and snapshot without the housekeeping a
 * harmless input may cause — `updatedAt`, and the outbox, which an engine step empties once its
 * effects (progress reports, re-sent states) are performed.
 */
function decision(o: ObjectiveRecord | undefined): unknown {
  if (!o) return o;
  const snapshot = o.snapshot as { context?: Record<string, unknown> };
  const context = snapshot.context ? { ...snapshot.context, outbox: undefined } : undefined;
  return { ...o, updatedAt: undefined, snapshot: { ...snapshot, context } };
}

/**
 * What may change in `to`'s store for an input carrying its D counterparty's fresh signature: D
 * only, within the rules (see the module comment). Returns what is wrong, or undefined.
 */
function checkAllowedChange(w: World, to: Party, from: Address, before: MemoryStore, after: MemoryStore): string | undefined {
  if (canonical(before.vouchers) !== canonical(after.vouchers)) return 'vouchers changed';
  for (const [id, c] of before.channels) {
    const now = after.channels.get(id);
    if (!now) return `channel ${id} disappeared`;
    if (id !== w.ids.D && canonical(c) !== canonical(now)) return `channel ${id} (not D) changed`;
  }
  for (const [id, o] of before.objectives) if (canonical(decision(o)) !== canonical(decision(after.objectives.get(id)))) return `objective ${id} changed`;
  // A new channel is allowed only as a proposal: its prefund signed by the sender alone, awaiting our approval.
  for (const [id, c] of after.channels) {
    if (before.channels.has(id)) continue;
    const [prefund, ...rest] = c.states;
    if (!prefund || rest.length > 0 || prefund.state.turnNum !== 0) return `new channel ${id} is not a bare proposal`;
    const senderIndex = c.fixedPart.participants.indexOf(from);
    if (senderIndex < 0 || c.fixedPart.participants[c.myIndex] !== to.key.address) return `new channel ${id}: sender or receiver not a participant`;
    const hash = hashStateBytes(prefund.state);
    for (const [i, sig] of prefund.signatures.entries()) {
      if (sig && i !== senderIndex) return `new channel ${id} carries a signature not the sender's`;
      if (sig && !isSignatureBy(hash, sig, from)) return `new channel ${id}: the sender's signature does not recover`;
    }
    const objective = after.objectives.get(objectiveIds.directFunding(id));
    if (!objective || objective.status !== 'active') return `new channel ${id} has no active funding objective`;
  }
  for (const [id, o] of after.objectives) {
    if (before.objectives.has(id)) continue;
    if (id !== objectiveIds.directFunding(o.channelId) || before.channels.has(o.channelId)) return `new objective ${id} not for a new proposal`;
    if ((o.snapshot as { value?: unknown }).value !== 'awaitingApproval') return `new objective ${id} is past awaiting approval (${String((o.snapshot as { value?: unknown }).value)})`;
  }
  const was = before.channels.get(w.ids.D)!;
  const now = after.channels.get(w.ids.D)!;
  if (canonical(was.fixedPart) !== canonical(now.fixedPart) || was.myIndex !== now.myIndex) return "D's fixed part or index changed";
  for (const ss of now.states) {
    const hash = hashStateBytes(ss.state);
    for (const [i, sig] of ss.signatures.entries()) if (sig && !isSignatureBy(hash, sig, now.fixedPart.participants[i]!)) return `D turn ${ss.state.turnNum}: signature ${i} is not its participant's`;
    if (channelIdOf(ss.state) !== w.ids.D) return `D holds a state of another channel`;
  }
  const s0 = latestSupported(was)!.state;
  const s1 = latestSupported(now)!.state;
  if (s1.turnNum < s0.turnNum) return `D's supported turn went back from ${s0.turnNum} to ${s1.turnNum}`;
  if (s1.turnNum === s0.turnNum && canonical(s1) !== canonical(s0)) return `D's supported state for turn ${s0.turnNum} was replaced by another`;
  const total = (s: State) => s.outcome[0]!.allocations.reduce((t, a) => t + a.amount, 0n);
  if (total(s1) !== total(s0)) return `D's total changed from ${total(s0)} to ${total(s1)}`;
  const mine = (s: State) => s.outcome[0]!.allocations.filter((a) => a.destination === addressToDestination(to.key.address)).reduce((t, a) => t + a.amount, 0n);
  if (mine(s1) < mine(s0)) return `D: ${to.name}'s balance fell from ${mine(s0)} to ${mine(s1)}`;
  if (s1.isFinal) return 'D became final';
  return undefined;
}

function cloneStore(s: MemoryStore): MemoryStore {
  const c = new MemoryStore();
  for (const [k, v] of s.channels) c.channels.set(k, structuredClone(v));
  for (const [k, v] of s.objectives) c.objectives.set(k, structuredClone(v));
  for (const [k, v] of s.vouchers) c.vouchers.set(k, structuredClone(v));
  return c;
}

/** Runs `inputs` fuzz inputs against a fresh world built from `seed`. */
export async function runPeerFuzz(opts: { seed: number; inputs: number; onProgress?: (done: number) => void }): Promise<PeerFuzzResult> {
  const { seed } = opts;
  const w = await peerWorld(seed);
  const r = new Rng(seed);
  const signed = new SignedTurns(w.ids.D);
  for (const m of w.corpus) signed.noteMessage(m);
  for (const p of [w.P, w.Q]) signed.noteStates(p.store.channels.get(w.ids.D)!.states);
  const counts = emptyCounts();
  const byKind: Record<string, number> = {};
  const harmlessByKind: Record<string, number> = {};
  const failures: PeerFuzzFailure[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  try {
    for (let i = 0; i < opts.inputs; i++) {
      const input = makeInput(r, w, signed);
      const { to } = input;
      counts.inputs++;
      byKind[input.kind] = (byKind[input.kind] ?? 0) + 1;
      const before = cloneStore(to.store);
      const beforeText = storeSnapshot(to.store);
      const logsBefore = to.logs.length;
      const sentBefore = w.outbox.length;
      const fail = (what: string) => failures.push({ seed, input: i, kind: input.kind, to: to.name, what, text: input.text.length > 2000 ? `${input.text.slice(0, 2000)}… (${input.text.length} chars)` : input.text });
      try {
        await to.engine.receiveMessage(input.from, input.text);
        await to.engine.idle();
      } catch (e) {
        counts.crashes++;
        fail(`receiveMessage threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        continue;
      }
      // What the receiver's key signed of D in this step: in what it sent, and in what it holds.
      for (const m of w.outbox.slice(sentBefore)) signed.noteMessage(m);
      if (to !== w.H) signed.noteStates(to.store.channels.get(w.ids.D)!.states);
      if (unhandled.length > 0) {
        counts.crashes++;
        fail(`unhandled: ${unhandled.splice(0).map(String).join('; ')}`);
      }
      const newLogs = to.logs.slice(logsBefore);
      const storeFailed = newLogs.find((l) => l.event === 'store.failed');
      if (storeFailed) {
        counts.crashes++;
        fail(`store failed: ${String(storeFailed.fields?.reason)}`);
      }
      const changed = storeSnapshot(to.store) !== beforeText;
      if (changed) {
        const wrong = input.freshSignature ? checkAllowedChange(w, to, input.from, before, to.store) : 'the store changed on an input with no fresh valid signature';
        if (wrong) {
          counts.wrongStoreChanges++;
          fail(wrong);
          // Go on from the changed store: later inputs are judged against it.
        }
      }
      const logged = newLogs.some((l) => REJECTION_EVENTS.has(l.event));
      const answered = w.outbox.length > sentBefore;
      if (logged) counts.rejectedLogged++;
      else if (answered) counts.answered++;
      else if (changed) counts.accepted++;
      else {
        counts.harmless++;
        harmlessByKind[input.kind] = (harmlessByKind[input.kind] ?? 0) + 1;
        if (process.env.FUZZ_DEBUG) console.log('harmless', input.kind, to.name, input.text.slice(0, 600));
      }
      opts.onProgress?.(i + 1);
    }
    // Liveness: the parties still work with each other (a watchdog turns a hang into a failure).
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<never>((_, reject) => {
      watchdog = setTimeout(() => reject(new Error('timed out: an update or payment after the fuzz never settled')), 15_000);
    });
    await w.reconnect();
    const Pa = w.P.key.address;
    const Qa = w.Q.key.address;
    const live = async () => {
      // The payer proposes each payment: one each way (whoever has something pays first). States
      // the fuzz signed with a party's own key behind its engine's back (it holds that key) may
      // have been countersigned by the other: the first proposal then meets them as a conflict,
      // the engines exchange what each lacks, and the payment is proposed again on what is now
      // supported — as a dapp does when a call fails with a conflict.
      const payOne = async (payer: typeof w.P) => {
        for (let attempt = 0; ; attempt++) {
          // On the latest supported state (a summary's balances may be of a proposal still in flight).
          const bal = latestSupported(payer.store.channels.get(w.ids.D)!)!.state.outcome[0]!.allocations.map((a) => a.amount);
          const d = payer === w.P ? -1n : 1n;
          try {
            return await payer.engine.updateChannel(w.ids.D, exitOf(Pa, Qa, bal[0]! + d, bal[1]! - d));
          } catch (e) {
            if (attempt >= 2) throw e;
            await settle([w.P, w.Q]);
          }
        }
      };
      const bal = (await w.P.engine.getChannel(w.ids.D))!.balances;
      const [first, second] = bal[0]! > 0n ? [w.P, w.Q] : [w.Q, w.P];
      await payOne(first);
      await payOne(second);
      const paymentsBefore = w.Q.payments.length;
      const { total } = await w.P.engine.pay(w.ids.V, 2n);
      await settle([w.H, w.P, w.Q]);
      if (w.Q.payments.length <= paymentsBefore || w.Q.payments[w.Q.payments.length - 1] !== total) throw new Error(`the payee did not receive the payment (total ${total})`);
      const dP = latestSupported(w.P.store.channels.get(w.ids.D)!)!;
      const dQ = latestSupported(w.Q.store.channels.get(w.ids.D)!)!;
      if (canonical(dP.state) !== canonical(dQ.state)) throw new Error(`P and Q hold different supported states of D (turns ${dP.state.turnNum} and ${dQ.state.turnNum})`);
    };
    try {
      await Promise.race([live(), hang]);
    } catch (e) {
      counts.crashes++;
      const heldP = w.P.store.channels.get(w.ids.D)!.states.map((x) => x.state.turnNum);
      const heldQ = w.Q.store.channels.get(w.ids.D)!.states.map((x) => x.state.turnNum);
      failures.push({ seed, input: -1, kind: 'liveness', to: '-', what: `after the fuzz: ${e instanceof Error ? e.message : String(e)} (D turns held: P ${heldP.join(',')}; Q ${heldQ.join(',')}; Q's last log ${JSON.stringify(w.Q.logs.slice(-2))})`, text: '' });
    } finally {
      clearTimeout(watchdog);
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    w.stop();
  }
  return { seed, counts, byKind, harmlessByKind, failures, corpus: w.corpus.length };
}
