import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.ts';
import { encodeGuaranteeMetadata, findGuarantee } from '../guarantee.ts';
import { AllocationType, addressToDestination, totalAllocated } from '../outcome.ts';
import { isSupported, latestSupported, newChannel } from '../protocol/channel.ts';
import { objectiveIds, serializeMessage } from '../protocol/message.ts';
import { applyChange } from '../protocol/ledger.ts';
import { guaranteeFor } from '../protocol/virtual.ts';
import { PrivateKey } from '../signature.ts';
import { addSignature, signState, unsigned } from '../signed-state.ts';
import { type State, channelId } from '../state.ts';
import { runningLedger, signedBy, simpleExit, virtualPrefund } from '../testing/virtual-fixture.ts';
import { VirtualWorld, type WorldOptions } from '../testing/virtual-world.ts';
import { type VirtualFundContext, checkFundingLedgerUpdate, checkVirtualFundInput, checkVirtualFundState, virtualFundMachine } from './virtual-fund.ts';

const alice = PrivateKey.random();
const hub = PrivateKey.random();
const bob = PrivateKey.random();
const mallory = PrivateKey.random();
const [A, H, B] = [alice.address, hub.address, bob.address];
const DEPOSIT = 1_000n;

/** Three parties and two running ledgers, L(hub, alice) and L(hub, bob): the hub leads both. */
function setup(opts: WorldOptions = {}, ledgers: 'hub-leads' | 'users-lead' = 'hub-leads', hubDeposit = DEPOSIT) {
  const w = new VirtualWorld([alice, hub, bob], opts);
  const left = ledgers === 'hub-leads' ? w.addLedger(runningLedger(hub, alice, 1n, [hubDeposit, DEPOSIT])) : w.addLedger(runningLedger(alice, hub, 1n, [DEPOSIT, hubDeposit]));
  const right = ledgers === 'hub-leads' ? w.addLedger(runningLedger(hub, bob, 2n, [hubDeposit, DEPOSIT])) : w.addLedger(runningLedger(bob, hub, 2n, [DEPOSIT, hubDeposit]));
  return { w, left, right };
}

const v = (nonce = 10n, amount = 100n) => virtualPrefund(A, H, B, nonce, amount);

function fundAll(w: VirtualWorld, prefund: State) {
  return [alice, hub, bob].map((k) => w.startFund(k.address, prefund));
}

const ctxOf = (a: { getSnapshot(): { context: unknown } }) => a.getSnapshot().context as VirtualFundContext;

function expectCoreError(f: () => unknown, expected: { code?: string; field?: string; message?: RegExp }) {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(CoreError);
  const e = error as CoreError;
  if (expected.code) expect(e.code).toBe(expected.code);
  if (expected.field) expect(e.field).toBe(expected.field);
  if (expected.message) expect(e.message).toMatch(expected.message);
}

/** Both ledgers, as both of their parties hold them, carry exactly V's guarantees. */
function expectGuarantees(w: VirtualWorld, left: `0x${string}`, right: `0x${string}`, vs: State[]) {
  for (const [id, parties, side] of [
    [left, [H, A], 'left'],
    [right, [H, B], 'right'],
  ] as const) {
    const [x, y] = parties.map((p) => w.ledgerState(p, id));
    expect(x).toEqual(y);
    expect(x!.state.turnNum).toBe(1 + vs.length);
    const exit = x!.state.outcome[0]!;
    expect(totalAllocated(exit)).toBe(2n * DEPOSIT);
    for (const prefund of vs) {
      const g = guaranteeFor(prefund, side);
      const { allocation } = findGuarantee(exit, channelId(prefund));
      expect(allocation).toEqual({ destination: channelId(prefund), amount: g.leftAmount, allocationType: AllocationType.guarantee, metadata: encodeGuaranteeMetadata({ left: g.left, right: g.right }) });
    }
  }
}

describe('virtual funding through a hub', () => {
  it('prefund, a guarantee in each ledger, postfund: all three end running and each ledger funds V exactly', () => {
    const { w, left, right } = setup();
    const prefund = v();
    const actors = fundAll(w, prefund);
    expect(w.run()).toBe(true);
    for (const a of actors) {
      expect(a.getSnapshot().value).toBe('done');
      const postfund = latestSupported(ctxOf(a).channel)!;
      expect(postfund.state).toEqual({ ...prefund, turnNum: 1 });
      expect(isSupported(postfund)).toBe(true);
    }
    expectGuarantees(w, left, right, [prefund]);
    // Left: Alice's 100 went into the guarantee; right: the hub's.
    const l = w.ledgerState(A, left).state.outcome[0]!.allocations;
    expect(l.find((x) => x.destination === addressToDestination(A))!.amount).toBe(DEPOSIT - 100n);
    const r = w.ledgerState(B, right).state.outcome[0]!.allocations;
    expect(r.find((x) => x.destination === addressToDestination(H))!.amount).toBe(DEPOSIT - 100n);
    expect(w.rejected).toEqual([]);
  });

  it('nobody signs the postfund before its own ledgers hold the guarantee', () => {
    // Bob never gets the hub's ledger proposals: the right ledger stays unfunded.
    const { w, left, right } = setup({ block: (m) => m.to === B && m.text.includes('"ledger"') });
    const prefund = v();
    const [a, h, b] = fundAll(w, prefund);
    expect(w.run({ maxTicks: 5 })).toBe(false);
    expect(w.ledgerState(A, left).state.turnNum).toBe(2);
    expect(w.ledgerState(B, right).state.turnNum).toBe(1);
    // Alice's ledger is funded, so she signed the postfund; the hub and Bob did not.
    expect(a!.getSnapshot().value).toBe('postfund');
    expect(h!.getSnapshot().value).toBe('funding');
    expect(b!.getSnapshot().value).toBe('funding');
    for (const x of [a!, h!, b!]) {
      const post = ctxOf(x).channel.states.find((s) => s.state.turnNum === 1);
      expect(post?.signatures[1] ?? null).toBeNull();
      expect(post?.signatures[2] ?? null).toBeNull();
    }
  });

  it('completes over a network that shuffles, duplicates and loses messages', () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const { w, left, right } = setup({ seed, shuffle: true, duplicatePercent: 30, dropPercent: 25 });
      const prefund = v();
      const actors = fundAll(w, prefund);
      expect(w.run({ maxTicks: 200 }), `seed ${seed}`).toBe(true);
      for (const a of actors) expect(a.getSnapshot().value).toBe('done');
      expectGuarantees(w, left, right, [prefund]);
    }
  });

  it('funds 5 virtual channels concurrently over the same two ledgers', () => {
    const { w, left, right } = setup({ seed: 42, shuffle: true, duplicatePercent: 20, dropPercent: 10 });
    const vs = [1, 2, 3, 4, 5].map((i) => v(100n + BigInt(i), 10n * BigInt(i)));
    const actors = vs.flatMap((prefund) => fundAll(w, prefund));
    expect(w.run({ maxTicks: 300 })).toBe(true);
    for (const a of actors) expect(a.getSnapshot().value).toBe('done');
    expectGuarantees(w, left, right, vs);
    const l = w.ledgerState(A, left).state.outcome[0]!.allocations;
    expect(l.find((x) => x.destination === addressToDestination(A))!.amount).toBe(DEPOSIT - 150n);
  });

  it('works whichever party leads a ledger (here the users lead)', () => {
    const { w, left, right } = setup({ seed: 7, shuffle: true, duplicatePercent: 20 }, 'users-lead');
    const vs = [v(1n), v(2n, 7n)];
    const actors = vs.flatMap((prefund) => fundAll(w, prefund));
    expect(w.run()).toBe(true);
    for (const a of actors) expect(a.getSnapshot().value).toBe('done');
    for (const [id, p] of [
      [left, A],
      [right, B],
    ] as const) {
      expect(w.ledgerState(p, id).state.turnNum).toBe(3);
      for (const prefund of vs) expect(findGuarantee(w.ledgerState(H, id).state.outcome[0]!, channelId(prefund)).allocation.amount).toBe(prefund.outcome[0]!.allocations[0]!.amount);
    }
  });

  it('resumes from a persisted snapshot (plain data) part-way through', () => {
    const { w, left, right } = setup({ seed: 3, shuffle: true });
    const prefund = v();
    fundAll(w, prefund);
    w.run({ maxDeliveries: 6 });
    const id = objectiveIds.virtualFunding(channelId(prefund));
    const snapshot = structuredClone(w.actor(H, id).getPersistedSnapshot());
    expect(JSON.stringify(snapshot, (_, x) => (typeof x === 'bigint' ? x.toString() : x))).not.toMatch(/privateKey|#bytes/);
    w.resume(H, id, snapshot);
    expect(w.run()).toBe(true);
    for (const p of [A, H, B]) expect(w.actor(p, id).getSnapshot().value).toBe('done');
    expectGuarantees(w, left, right, [prefund]);
  });

  it('a participant that rejects ends the objective for all three, and no ledger moves', () => {
    const { w, left } = setup();
    const prefund = v();
    const a = w.startFund(A, prefund);
    const h = w.startFund(H, prefund);
    const b = w.startFund(B, prefund, { approve: false });
    w.send(B, objectiveIds.virtualFunding(channelId(prefund)), { type: 'REJECT', reason: 'no thanks' });
    expect(w.run()).toBe(true);
    for (const x of [a, h, b]) expect(x.getSnapshot().value).toBe('rejected');
    expect(w.ledgerState(A, left).state.turnNum).toBe(1);
  });

  it('fails when the ledger leader cannot afford the guarantee', () => {
    const { w } = setup({}, 'hub-leads', 50n);
    const prefund = v(10n, 100n);
    const [, h] = fundAll(w, prefund);
    w.run({ maxTicks: 3 });
    expect(h!.getSnapshot().value).toBe('failed');
    expect(ctxOf(h!).error).toMatch(/needs 100/);
  });
});

describe('virtual funding refuses bad input and changes nothing', () => {
  /** Alice's objective with V's prefund signed by all three (so she waits on her ledger). */
  function aliceFunding() {
    const { w, left, right } = setup();
    const prefund = v();
    const a = createActor(virtualFundMachine(alice), { input: { channel: newChannel(prefund, A), ledgers: { left } } }).start();
    a.send({ type: 'APPROVE' });
    a.send({ type: 'STATE_RECEIVED', signedState: signedBy(prefund, hub, bob) });
    a.send({ type: 'EFFECTS_DONE' });
    expect(a.getSnapshot().value).toBe('funding');
    return { w, a, left, right, prefund };
  }

  /** A ledger state L(hub, alice) at turn 2 with `change` applied, signed by `signers`. */
  function ledgerWith(prefund: State, guarantee: ReturnType<typeof guaranteeFor>, signers = [hub, alice]) {
    const base = runningLedger(hub, alice, 1n, [DEPOSIT, DEPOSIT]).state;
    const next = applyChange(base, { type: 'add', guarantee });
    return { state: next, signatures: signers.map((k) => signState(next, k).signature) };
  }

  it('a ledger state whose guarantee does not match V', () => {
    const { a, left, prefund } = aliceFunding();
    const good = guaranteeFor(prefund, 'left');
    const before = ctxOf(a);
    for (const [bad, field] of [
      [{ ...good, leftAmount: 150n }, 'ledger.state.outcome[0].allocations[2].amount'],
      [{ ...good, left: good.right, right: good.left, leftAmount: 0n, rightAmount: 100n }, 'ledger.state.outcome[0].allocations[2].metadata'],
    ] as const) {
      const ss = ledgerWith(prefund, bad);
      expectCoreError(() => checkFundingLedgerUpdate(before, left, ss), { code: 'invalid-outcome', field, message: /does not match the virtual channel/ });
      a.send({ type: 'LEDGER_UPDATED', ledgerId: left, signedState: ss });
      expect(ctxOf(a)).toEqual(before);
      expect(a.getSnapshot().value).toBe('funding');
    }
    // The right one is taken.
    a.send({ type: 'LEDGER_UPDATED', ledgerId: left, signedState: ledgerWith(prefund, good) });
    expect(a.getSnapshot().value).toBe('postfund');
  });

  it('a hub proposing a guarantee that does not match V: the follower refuses it and the ledger stays', () => {
    const { w, left } = setup();
    const prefund = v();
    const [a] = fundAll(w, prefund);
    // Before its objective does, the hub proposes a guarantee taking 150 of Alice's for V.
    const end = w.node(H).ledgers.get(left)!;
    end.leader!.propose({ type: 'add', guarantee: { ...guaranteeFor(prefund, 'left'), leftAmount: 150n } });
    expect(w.run({ maxTicks: 5 })).toBe(false);
    expect(w.rejected.some((r) => r.at === A && /refused by policy/.test(r.reason))).toBe(true);
    expect(w.ledgerState(A, left).state.turnNum).toBe(1);
    expect(a!.getSnapshot().value).toBe('funding');
  });

  it('forged signatures: on V’s prefund, on a ledger state, on a ledger proposal', () => {
    const { w, a, left, prefund } = aliceFunding();
    const before = ctxOf(a);
    // mallory's signature in the hub's slot
    const forged = { state: { ...prefund, turnNum: 1 }, signatures: [null, signState({ ...prefund, participants: [A, mallory.address, B] }, mallory).signature, null] };
    expectCoreError(() => checkVirtualFundState(before, forged), { code: 'invalid-signature', field: 'signedState.signatures[1]' });
    a.send({ type: 'STATE_RECEIVED', signedState: forged });
    expect(ctxOf(a)).toEqual(before);
    // a ledger state "countersigned" by mallory
    const good = guaranteeFor(prefund, 'left');
    const ss = ledgerWith(prefund, good, [hub, alice]);
    const badLedger = { ...ss, signatures: [ss.signatures[0]!, mallory.signHash(new Uint8Array(32))] };
    expectCoreError(() => checkFundingLedgerUpdate(before, left, badLedger), { code: 'invalid-signature', field: 'ledger.signatures[1]' });
    a.send({ type: 'LEDGER_UPDATED', ledgerId: left, signedState: badLedger });
    expect(ctxOf(a)).toEqual(before);
    // a ledger proposal whose leader signature is mallory's, over the network
    const proposal = { ledgerId: left, turnNum: 2, change: { type: 'add' as const, guarantee: good }, signature: mallory.signHash(new Uint8Array(32)) };
    w.inject(H, A, serializeMessage({ from: H, to: A, payloads: [], ledger: [{ type: 'ledgerProposal', proposal }] }));
    w.run({ maxTicks: 0 });
    expect(w.rejected.some((r) => r.code === 'invalid-signature' && /not signed by the leader/.test(r.reason))).toBe(true);
    expect(w.ledgerState(A, left).state.turnNum).toBe(1);
  });

  it('wrong channel: a state for another V, a different prefund for this V, a ledger that is not ours', () => {
    const { a, right, prefund } = aliceFunding();
    const before = ctxOf(a);
    const other = v(11n);
    expectCoreError(() => checkVirtualFundState(before, signedBy({ ...other, turnNum: 1 }, hub)), { code: 'invalid-outcome', field: 'signedState.state', message: /not 0x/ });
    const sameIdOtherOutcome = { ...prefund, outcome: simpleExit([[A, 90n], [B, 0n]]) };
    expectCoreError(() => checkVirtualFundState(before, signedBy(sameIdOtherOutcome, hub)), { code: 'unsupported-state', message: /prefund or postfund/ });
    const finalState = { ...prefund, turnNum: 1, isFinal: true };
    expectCoreError(() => checkVirtualFundState(before, signedBy(finalState, hub)), { code: 'unsupported-state' });
    for (const ss of [signedBy({ ...other, turnNum: 1 }, hub), signedBy(sameIdOtherOutcome, hub), signedBy(finalState, hub)]) a.send({ type: 'STATE_RECEIVED', signedState: ss });
    expect(ctxOf(a)).toEqual(before);
    // Bob's ledger reported to Alice's objective
    const bobs = runningLedger(hub, bob, 2n, [DEPOSIT, DEPOSIT]);
    expectCoreError(() => checkFundingLedgerUpdate(before, right, bobs), { code: 'invalid-outcome', field: 'ledgerId' });
    a.send({ type: 'LEDGER_UPDATED', ledgerId: right, signedState: bobs });
    // a ledger state between other parties, claimed to be our left ledger
    const strangers = runningLedger(hub, mallory, 1n, [DEPOSIT, DEPOSIT]);
    expectCoreError(() => checkFundingLedgerUpdate(before, before.ledgers.left!, strangers), { code: 'invalid-outcome', message: /not ledger/ });
    a.send({ type: 'LEDGER_UPDATED', ledgerId: before.ledgers.left!, signedState: strangers });
    a.send({ type: 'LEDGER_FAILED', ledgerId: right, error: 'not ours' });
    expect(ctxOf(a)).toEqual(before);
    expect(a.getSnapshot().value).toBe('funding');
  });

  it('refuses to start for a V it cannot fund, or without the ledgers its role needs', () => {
    const { left, right } = setup();
    const start = (prefund: State, me: PrivateKey, ledgers: { left?: `0x${string}`; right?: `0x${string}` }) => () => checkVirtualFundInput({ channel: newChannel(prefund, me.address), ledgers });
    const errors: unknown[] = [];
    const grab = (f: () => unknown) => {
      try {
        f();
        errors.push(undefined);
      } catch (e) {
        errors.push(e);
      }
    };
    grab(start({ ...v(), outcome: simpleExit([[A, 100n], [B, 5n]]) }, alice, { left }));
    grab(start({ ...v(), participants: [A, B], outcome: simpleExit([[A, 100n], [B, 0n]]) }, alice, { left }));
    grab(start({ ...v(), outcome: simpleExit([[A, 100n], [B, 0n]], '0x00000000000000000000000000000000000000aa') }, alice, { left }));
    grab(start({ ...v(), outcome: simpleExit([[B, 0n], [A, 100n]]) }, alice, { left }));
    grab(start(v(), alice, { right }));
    grab(start(v(), hub, { left }));
    expect(errors.map((e) => (e instanceof CoreError ? e.field : String(e)))).toEqual([
      'prefund.outcome[0].allocations[1].amount',
      'prefund.participants',
      'prefund.outcome[0].asset',
      'prefund.outcome[0].allocations[0].destination',
      'ledgers.left',
      'ledgers.right',
    ]);
  });

  it('a ledger state with both signatures but only one party of ours', () => {
    const { a, left } = aliceFunding();
    const unsignedByAlice = addSignature(unsigned(runningLedger(hub, alice, 1n, [DEPOSIT, DEPOSIT]).state), signState(runningLedger(hub, alice, 1n, [DEPOSIT, DEPOSIT]).state, hub).signature);
    expectCoreError(() => checkFundingLedgerUpdate(ctxOf(a), left, unsignedByAlice), { code: 'invalid-signature', message: /both parties/ });
  });
});
