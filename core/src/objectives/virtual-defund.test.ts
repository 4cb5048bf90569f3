import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { virtualPaymentAppStateIsSupported } from '../apps/virtual-payment-app.ts';
import { CoreError } from '../errors.ts';
import type { Bytes32 } from '../hex.ts';
import { AllocationType, addressToDestination } from '../outcome.ts';
import { type Channel, isSupported, latestSupported } from '../protocol/channel.ts';
import { objectiveIds } from '../protocol/message.ts';
import { pay } from '../protocol/payments.ts';
import { FINAL_TURN, virtualFinalState } from '../protocol/virtual.ts';
import { PrivateKey } from '../signature.ts';
import { signState } from '../signed-state.ts';
import { type State, channelId } from '../state.ts';
import { runningLedger, signedBy, virtualPrefund } from '../testing/virtual-fixture.ts';
import { VirtualWorld, type WorldOptions } from '../testing/virtual-world.ts';
import { decodeVoucherAppData, encodeVoucherAppData, signVoucher } from '../voucher.ts';
import { type VirtualDefundContext, checkDefundingLedgerUpdate, checkVirtualDefundState, virtualDefundMachine } from './virtual-defund.ts';

const alice = PrivateKey.random();
const hub = PrivateKey.random();
const bob = PrivateKey.random();
const mallory = PrivateKey.random();
const [A, H, B] = [alice.address, hub.address, bob.address];
const DEPOSIT = 1_000n;

/** A world where `amounts.length` virtual channels are funded and running. */
function funded(amounts: bigint[], opts: WorldOptions = {}) {
  const w = new VirtualWorld([alice, hub, bob], opts);
  const left = w.addLedger(runningLedger(hub, alice, 1n, [DEPOSIT, DEPOSIT]));
  const right = w.addLedger(runningLedger(hub, bob, 2n, [DEPOSIT, DEPOSIT]));
  const vs = amounts.map((amount, i) => virtualPrefund(A, H, B, 50n + BigInt(i), amount));
  for (const v of vs) for (const k of [alice, hub, bob]) w.startFund(k.address, v);
  expect(w.run({ maxTicks: 300 })).toBe(true);
  return { w, left, right, vs, ids: vs.map((v) => channelId(v)) };
}

const ctxOf = (a: { getSnapshot(): { context: unknown } }) => a.getSnapshot().context as VirtualDefundContext;
const balance = (w: VirtualWorld, at: `0x${string}`, ledger: Bytes32, who: `0x${string}`) =>
  w.ledgerState(at, ledger).state.outcome[0]!.allocations.find((a) => a.destination === addressToDestination(who))!.amount;

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

/** Every objective for V is done; both ledgers hold no guarantee and pay out `paid` across the hub. */
function expectDefunded(w: VirtualWorld, left: Bytes32, right: Bytes32, ids: Bytes32[], totalPaid: bigint, turns: number) {
  for (const id of ids) for (const p of [A, H, B]) expect(w.actor(p, objectiveIds.virtualDefunding(id)).getSnapshot().value).toBe('done');
  for (const [id, parties] of [
    [left, [A, H]],
    [right, [H, B]],
  ] as const) {
    const [x, y] = parties.map((p) => w.ledgerState(p, id));
    expect(x).toEqual(y);
    expect(x!.state.turnNum).toBe(turns);
    expect(x!.state.outcome[0]!.allocations.every((a) => a.allocationType === AllocationType.simple)).toBe(true);
  }
  expect(balance(w, A, left, A)).toBe(DEPOSIT - totalPaid);
  expect(balance(w, A, left, H)).toBe(DEPOSIT + totalPaid);
  expect(balance(w, B, right, H)).toBe(DEPOSIT - totalPaid);
  expect(balance(w, B, right, B)).toBe(DEPOSIT + totalPaid);
}

describe('virtual defunding', () => {
  it('the payee claims its largest voucher: all three sign the final state, and each ledger pays out by it', () => {
    const { w, left, right, ids } = funded([100n]);
    const vId = ids[0]!;
    for (const amount of [10n, 25n, 5n]) w.pay(vId, amount);
    const proposer = w.startDefund(B, vId);
    expect(w.run()).toBe(true);
    expectDefunded(w, left, right, [vId], 40n, 3);
    // The final state is V's redemption made final: the voucher for 40, exactly 40 moved.
    const final = latestSupported(ctxOf(proposer).channel)!;
    expect(isSupported(final)).toBe(true);
    expect(final.state).toMatchObject({ turnNum: FINAL_TURN, isFinal: true });
    expect(final.state.outcome[0]!.allocations.map((a) => a.amount)).toEqual([60n, 40n]);
    expect(decodeVoucherAppData(final.state.appData, vId).amount).toBe(40n);
    const postfund = ctxOf(proposer).postfund;
    expect(() => virtualPaymentAppStateIsSupported(final.state, [{ variablePart: postfund, signedBy: 7n }], { variablePart: final.state, signedBy: 7n })).not.toThrow();
  });

  it('nothing paid: the final state returns everything to the payer', () => {
    const { w, left, right, ids } = funded([100n]);
    const proposer = w.startDefund(A, ids[0]!);
    expect(w.run()).toBe(true);
    expectDefunded(w, left, right, ids, 0n, 3);
    const final = latestSupported(ctxOf(proposer).channel)!.state;
    expect(final.appData).toBe('0x');
    expect(final.outcome[0]!.allocations.map((a) => a.amount)).toEqual([100n, 0n]);
  });

  it('payer and payee propose at once: the payer’s proposal wins, and the payee takes it since it pays at least its vouchers', () => {
    const { w, left, right, ids } = funded([100n], { seed: 9, shuffle: true, duplicatePercent: 20 });
    const vId = ids[0]!;
    w.pay(vId, 30n);
    // Alice's last voucher (45) has not reached Bob yet: she claims 45, he claims 30.
    const payerNode = w.node(A);
    payerNode.books.set(vId, pay(payerNode.books.get(vId)!, 15n, alice).book);
    const fromBob = w.startDefund(B, vId);
    const fromAlice = w.startDefund(A, vId);
    expect(w.run()).toBe(true);
    expectDefunded(w, left, right, [vId], 45n, 3);
    for (const a of [fromAlice, fromBob]) expect(decodeVoucherAppData(latestSupported(ctxOf(a).channel)!.state.appData, vId).amount).toBe(45n);
  });

  it('defunds 5 virtual channels concurrently over the same two ledgers, over a lossy network', () => {
    const { w, left, right, ids } = funded([100n, 20n, 30n, 40n, 50n], { seed: 11, shuffle: true, duplicatePercent: 25, dropPercent: 15 });
    const paid = [7n, 20n, 0n, 1n, 33n];
    ids.forEach((id, i) => {
      if (paid[i]! > 0n) w.pay(id, paid[i]!);
    });
    ids.forEach((id, i) => w.startDefund(i % 2 === 0 ? B : A, id));
    expect(w.run({ maxTicks: 300 })).toBe(true);
    expectDefunded(w, left, right, ids, 61n, 11);
  });

  it('resumes from a persisted snapshot part-way through', () => {
    const { w, left, right, ids } = funded([100n], { seed: 5, shuffle: true });
    const vId = ids[0]!;
    w.pay(vId, 12n);
    w.startDefund(B, vId);
    w.run({ maxDeliveries: 4 });
    const id = objectiveIds.virtualDefunding(vId);
    w.resume(H, id, structuredClone(w.actor(H, id).getPersistedSnapshot()));
    expect(w.run()).toBe(true);
    expectDefunded(w, left, right, [vId], 12n, 3);
  });
});

describe('virtual defunding refuses bad input and changes nothing', () => {
  function running() {
    const { w, left, right, ids, vs } = funded([100n]);
    const vId = ids[0]!;
    w.pay(vId, 40n);
    const channelAt = (p: `0x${string}`): Channel => w.node(p).channels.get(vId)!;
    const postfund = latestSupported(channelAt(H))!.state;
    return { w, left, right, vId, v: vs[0]!, channelAt, postfund };
  }
  const finalWith = (postfund: State, amount: bigint, signer = alice) => virtualFinalState(postfund, signVoucher(channelId(postfund), amount, signer));

  it('a final state whose voucher is not the payer’s, or whose outcome is not exactly the voucher', () => {
    const { w, channelAt, postfund } = running();
    const ctx = { channel: channelAt(H), postfund };
    // a voucher signed by the payee (or anyone but the payer)
    const forged = { ...finalWith(postfund, 40n), appData: encodeVoucherAppData(signVoucher(channelId(postfund), 40n, bob)) };
    expectCoreError(() => checkVirtualDefundState(ctx, signedBy(forged, bob)), { code: 'invalid-voucher', field: 'voucher.signature' });
    // an honest voucher for 40 but an outcome paying 50
    const greedy = finalWith(postfund, 40n);
    greedy.outcome = [{ ...greedy.outcome[0]!, allocations: [{ ...greedy.outcome[0]!.allocations[0]!, amount: 50n }, { ...greedy.outcome[0]!.allocations[1]!, amount: 50n }] }];
    expectCoreError(() => checkVirtualFundStateless(ctx, greedy), { code: 'invalid-outcome', field: 'signedState.state.outcome' });
    // a voucher for another channel
    const elsewhere = { ...finalWith(postfund, 40n), appData: encodeVoucherAppData(signVoucher(channelId({ ...postfund, channelNonce: 999n }), 40n, alice)) };
    expectCoreError(() => checkVirtualDefundState(ctx, signedBy(elsewhere, bob)), { code: 'invalid-voucher', field: 'voucher.signature' });
    // overdrawn: more than the payer put in
    expectCoreError(() => finalWith(postfund, 101n), { code: 'insufficient-funds', field: 'voucher.amount' });
    // not final, or not turn 2
    expectCoreError(() => checkVirtualDefundState(ctx, signedBy({ ...finalWith(postfund, 40n), isFinal: false }, bob)), { code: 'unsupported-state' });
    // a forged participant signature on an otherwise good final state
    const good = finalWith(postfund, 40n);
    const forgedSig = { state: good, signatures: [null, null, signState({ ...good, participants: [A, H, mallory.address] }, mallory).signature] };
    expectCoreError(() => checkVirtualDefundState(ctx, forgedSig), { code: 'invalid-signature', field: 'signedState.signatures[2]' });
    // the objective ignores all of them
    const hubActor = createActor(virtualDefundMachine(hub), { input: { channel: channelAt(H), ledgers: w.ledgersFor(postfund, H), role: 'responder', received: signedBy(good, bob) } }).start();
    const before = ctxOf(hubActor);
    for (const ss of [signedBy(forged, bob), signedBy(greedy, bob), forgedSig]) hubActor.send({ type: 'STATE_RECEIVED', signedState: ss });
    expect(ctxOf(hubActor)).toEqual(before);
  });

  it('the payee refuses a final state paying less than its largest voucher; the payer one claiming more than it paid', () => {
    const { channelAt, postfund } = running();
    const short = signedBy(finalWith(postfund, 30n), alice);
    expectCoreError(() => checkVirtualDefundState({ channel: channelAt(B), postfund, paid: 40n }, short), { code: 'invalid-voucher', message: /less than the 40/ });
    const more = signedBy(finalWith(postfund, 41n), bob);
    expectCoreError(() => checkVirtualDefundState({ channel: channelAt(A), postfund, paid: 40n }, more), { code: 'invalid-voucher', message: /more than the 40 we paid/ });
  });

  it('a final state for another channel, and a ledger that is not ours', () => {
    const { w, channelAt, postfund, right } = running();
    const other = { ...finalWith(postfund, 40n), channelNonce: 999n };
    expectCoreError(() => checkVirtualDefundState({ channel: channelAt(H), postfund }, signedBy(other, bob)), { code: 'invalid-outcome', field: 'signedState.state' });
    const ledgers = w.ledgersFor(postfund, A);
    expectCoreError(() => checkDefundingLedgerUpdate({ ledgers, postfund }, right, w.ledgerState(B, right)), { code: 'invalid-outcome', field: 'ledgerId' });
    const forged = w.ledgerState(A, ledgers.left!);
    expectCoreError(() => checkDefundingLedgerUpdate({ ledgers, postfund }, ledgers.left!, { ...forged, signatures: [forged.signatures[0]!, mallory.signHash(new Uint8Array(32))] }), { code: 'invalid-signature' });
  });

  it('a hub removing the guarantee with payouts other than the final state’s: the follower refuses, the guarantee stays', () => {
    const { w, left, vId } = running();
    // The hub (leading L(hub, alice)) tries to pay itself 5 more than Bob earned.
    w.node(H).ledgers.get(left)!.leader!.propose({ type: 'remove', target: vId, leftPayout: 55n, rightPayout: 45n });
    const b = w.startDefund(B, vId);
    expect(w.run({ maxTicks: 5 })).toBe(false);
    expect(w.rejected.some((r) => r.at === A && /refused by policy/.test(r.reason))).toBe(true);
    expect(w.ledgerState(A, left).state.outcome[0]!.allocations.some((x) => x.destination === vId)).toBe(true);
    expect(w.actor(A, objectiveIds.virtualDefunding(vId)).getSnapshot().value).toBe('defunding');
    // (The hub's own request cannot apply on top of its bad proposal: its objective fails.)
    expect(w.actor(H, objectiveIds.virtualDefunding(vId)).getSnapshot().value).toBe('failed');
    expect(ctxOf(w.actor(H, objectiveIds.virtualDefunding(vId))).error).toMatch(/no guarantee/);
    // Bob's ledger is not affected: his side is done.
    expect(b.getSnapshot().value).toBe('done');
  });

  it('the hub cannot propose, and nobody defunds a channel that is not running', () => {
    const { w, channelAt, v } = running();
    const hubChannel = channelAt(H);
    const errors: string[] = [];
    const tryStart = (input: Parameters<typeof createActor<ReturnType<typeof virtualDefundMachine>>>[1]) => {
      const actor = createActor(virtualDefundMachine(hub), input);
      actor.subscribe({ error: (e) => errors.push((e as CoreError).field) });
      actor.start();
    };
    tryStart({ input: { channel: hubChannel, ledgers: w.ledgersFor(v, H), role: 'proposer' } });
    tryStart({ input: { channel: { ...hubChannel, states: [{ state: v, signatures: [null, null, null] }] }, ledgers: w.ledgersFor(v, H), role: 'proposer' } });
    expect(errors).toEqual(['role', 'channel']);
  });
});

/** Runs the final-state check on an unsigned state (the outcome check comes before any signature check). */
function checkVirtualFundStateless(ctx: Pick<VirtualDefundContext, 'channel' | 'postfund'>, s: State) {
  return checkVirtualDefundState(ctx, { state: s, signatures: [null, null, null] });
}
