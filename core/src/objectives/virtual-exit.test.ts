import { type AnyActorRef, createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { virtualPaymentAppStateIsSupported } from '../apps/virtual-payment-app.ts';
import { fingerprint } from '../adjudicator.ts';
import { CoreError } from '../errors.ts';
import { type Bytes32, bytesToHex } from '../hex.ts';
import { addGuarantee, removeGuarantee } from '../guarantee.ts';
import { type Exit, addressToDestination, hashOutcome } from '../outcome.ts';
import type { Channel } from '../protocol/channel.ts';
import { guaranteeFor, virtualFinalState } from '../protocol/virtual.ts';
import { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import { type State, channelId, hashState } from '../state.ts';
import { runningLedger, signedBy, virtualPrefund } from '../testing/virtual-fixture.ts';
import { encodeVoucherAppData, signVoucher } from '../voucher.ts';
import type { Effect } from './effects.ts';
import { type ExitTransaction, type VirtualExitContext, requireExitable, virtualExitMachine } from './virtual-exit.ts';

const alice = PrivateKey.random();
const hub = PrivateKey.random();
const bob = PrivateKey.random();
const [A, H, B] = [alice.address, hub.address, bob.address];
const DEPOSIT = 1_000n;
const V_AMOUNT = 300n;
const PAID = 120n;

/** V = [alice, hub, bob] funded by a guarantee in the ledger L(hub, `party`); each party's view of both. */
function world(party: PrivateKey, nonce = 7n) {
  const prefund = virtualPrefund(A, H, B, 50n + nonce, V_AMOUNT);
  const vId = channelId(prefund);
  const postfund: State = { ...prefund, turnNum: 1 };
  const ledger1 = runningLedger(hub, party, nonce, [DEPOSIT, DEPOSIT]);
  const side = party === bob ? 'right' : 'left';
  const ledger2: State = { ...ledger1.state, turnNum: 2, outcome: [addGuarantee(ledger1.state.outcome[0]!, guaranteeFor(prefund, side))] };
  const lId = channelId(ledger1.state);
  const ledger: Channel = { id: lId, fixedPart: ledger1.state, myIndex: 1, states: [ledger1, signedBy(ledger2, hub, party)] };
  const v: Channel = { id: vId, fixedPart: prefund, myIndex: party === bob ? 2 : 0, states: [signedBy(prefund, alice, hub, bob), signedBy(postfund, alice, hub, bob)] };
  const voucher = signVoucher(vId, PAID, alice);
  return { prefund, postfund, vId, lId, ledger, ledger2, v, voucher };
}

function drain(actor: AnyActorRef): Effect[] {
  const effects = (actor.getSnapshot().context as { outbox: Effect[] }).outbox;
  actor.send({ type: 'EFFECTS_DONE' });
  return effects;
}
const txs = (effects: Effect[]): ExitTransaction[] => effects.flatMap((e) => (e.kind === 'exitTransaction' ? [e.tx] : []));
const stages = (effects: Effect[]) => effects.flatMap((e) => (e.kind === 'exitUpdated' ? [e.update.stage] : []));
const fp = (s: State, outcome: Exit = s.outcome) => fingerprint(hashState(s), bytesToHex(hashOutcome(outcome)));
const status = (channelId: Bytes32, s: State, finalizesAt: number, now: number, outcome?: Exit) => ({ type: 'STATUS' as const, channelId, turnNumRecord: s.turnNum, finalizesAt, fingerprint: fp(s, outcome), now });
const ctxOf = (a: AnyActorRef) => a.getSnapshot().context as VirtualExitContext;
const amountOf = (exit: Exit, who: `0x${string}`) => exit[0]!.allocations.find((a) => a.destination === addressToDestination(who))!.amount;

describe('virtual exit objective (budget exit without the hub)', () => {
  it('payee: challenges the ledger and V with a redemption of the largest voucher, reclaims after both finalize, then transfers', () => {
    const w = world(bob);
    const actor = createActor(virtualExitMachine(bob), { input: { ledger: w.ledger, virtuals: [{ channel: w.v, voucher: w.voucher }] } }).start();
    const first = drain(actor);
    expect(stages(first)).toEqual(['challenging']);
    const [cl, cv] = txs(first);
    if (cl?.type !== 'challenge' || cv?.type !== 'challenge') throw new Error('expected two challenges');
    expect(cl.channelId).toBe(w.lId);
    expect(cl.candidate.state.turnNum).toBe(2); // the ledger state that holds V's guarantee
    expect(cl.proof).toEqual([]);
    // V's candidate: turn 2, signed by the payee only, carrying the voucher, proved from the postfund.
    expect(cv.channelId).toBe(w.vId);
    const redemption = cv.candidate.state;
    expect(redemption).toEqual({ ...virtualFinalState(w.postfund, w.voucher), isFinal: false });
    expect(redemption.appData).toBe(encodeVoucherAppData(w.voucher));
    expect(cv.candidate.signatures.map((s) => s !== null)).toEqual([false, false, true]);
    expect(cv.proof.map((p: SignedState) => p.state.turnNum)).toEqual([1]);
    // VirtualPaymentApp (our reference of it) supports exactly that.
    expect(() => virtualPaymentAppStateIsSupported(w.v.fixedPart, [{ variablePart: cv.proof[0]!.state, signedBy: 7n }], { variablePart: redemption, signedBy: 4n })).not.toThrow();

    // Both registered: nothing asked again; the countdown runs to the later finalizesAt.
    actor.send(status(w.lId, w.ledger2, 1_000, 10));
    actor.send(status(w.vId, redemption, 1_020, 10));
    const waiting = drain(actor);
    expect(txs(waiting)).toEqual([]);
    expect(waiting.at(-1)).toMatchObject({ kind: 'exitUpdated', update: { stage: 'waiting', finalizesAt: 1_020 } });

    // The ledger alone finalized: still waiting for V.
    actor.send(status(w.lId, w.ledger2, 1_000, 1_010));
    expect(txs(drain(actor))).toEqual([]);
    actor.send(status(w.vId, redemption, 1_020, 1_030));
    const reclaim = txs(drain(actor));
    expect(reclaim).toEqual([
      {
        type: 'reclaim',
        channelId: w.vId,
        sourceChannelId: w.lId,
        sourceStateHash: hashState(w.ledger2),
        sourceOutcome: w.ledger2.outcome,
        sourceAssetIndex: 0,
        indexOfTargetInSource: 2,
        targetStateHash: hashState(redemption),
        targetOutcome: redemption.outcome,
        targetAssetIndex: 0,
      },
    ]);
    // A status read before the reclaim is mined asks nothing again.
    actor.send(status(w.lId, w.ledger2, 1_000, 1_031));
    expect(txs(drain(actor))).toEqual([]);

    // The ledger's fingerprint now shows the reclaimed outcome: transfer by it.
    const reclaimed = [removeGuarantee(w.ledger2.outcome[0]!, w.vId, V_AMOUNT - PAID, PAID)];
    actor.send(status(w.lId, w.ledger2, 1_000, 1_040, reclaimed));
    const transfer = txs(drain(actor));
    expect(transfer).toEqual([{ type: 'transfer', channelId: w.lId, outcome: reclaimed, stateHash: hashState(w.ledger2) }]);
    expect(amountOf(reclaimed, B)).toBe(DEPOSIT + PAID);
    expect(amountOf(reclaimed, H)).toBe(DEPOSIT - PAID);

    // Paid out, the ledger's status may be cleared: that is no reason to challenge it again.
    actor.send({ type: 'STATUS', channelId: w.lId, turnNumRecord: 0, finalizesAt: 0, fingerprint: 0n, now: 1_050 });
    expect(txs(drain(actor))).toEqual([]);
    actor.send({ type: 'WITHDRAWN' });
    const end = drain(actor);
    expect(stages(end)).toEqual(['withdrawn']);
    expect(end).toContainEqual({ kind: 'progress', objectiveId: `VirtualExit-${w.lId}`, channelId: w.lId, stage: 'concluded' });
    expect(actor.getSnapshot().value).toBe('done');
  });

  it('payer: challenges V with the postfund and recognises the payee’s redemption registered over it', () => {
    const w = world(alice, 8n);
    const actor = createActor(virtualExitMachine(alice), { input: { ledger: w.ledger, virtuals: [{ channel: w.v, voucher: w.voucher }] } }).start();
    const [, cv] = txs(drain(actor));
    expect(cv?.type === 'challenge' && cv.candidate.state).toEqual(w.postfund);
    expect(cv?.type === 'challenge' && cv.proof).toEqual([]);
    const redemption = { ...virtualFinalState(w.postfund, w.voucher), isFinal: false };
    actor.send(status(w.lId, w.ledger2, 500, 10));
    // The payee got there first (turn 2): our postfund challenge is not needed, and not asked again.
    actor.send(status(w.vId, redemption, 400, 10));
    expect(txs(drain(actor))).toEqual([]);
    expect(ctxOf(actor).virtuals[0]!.registered?.state.turnNum).toBe(2);
    actor.send(status(w.lId, w.ledger2, 500, 600));
    actor.send(status(w.vId, redemption, 400, 600));
    const [reclaim] = txs(drain(actor));
    expect(reclaim?.type === 'reclaim' && reclaim.targetOutcome).toEqual(redemption.outcome);
    // Alice's side of the left ledger gets V's rest; the hub the voucher.
    const reclaimed = [removeGuarantee(w.ledger2.outcome[0]!, w.vId, V_AMOUNT - PAID, PAID)];
    expect(amountOf(reclaimed, A)).toBe(DEPOSIT - PAID);
    actor.send(status(w.lId, w.ledger2, 500, 601, reclaimed));
    expect(txs(drain(actor))).toEqual([{ type: 'transfer', channelId: w.lId, outcome: reclaimed, stateHash: hashState(w.ledger2) }]);
  });

  it('after a reload asks again only for what the chain still lacks, and challenges over a stale registration', () => {
    const w = world(bob, 9n);
    const machine = virtualExitMachine(bob);
    const actor = createActor(machine, { input: { ledger: w.ledger, virtuals: [{ channel: w.v, voucher: w.voucher }] } }).start();
    const [, cv] = txs(drain(actor));
    const redemption = (cv as Extract<ExitTransaction, { type: 'challenge' }>).candidate.state;
    // The hub had challenged the ledger with its stale postfund: ours (turn 2) is still needed.
    actor.send(status(w.lId, w.ledger.states[0]!.state, 900, 10));
    actor.send(status(w.vId, redemption, 1_000, 10));
    expect(txs(drain(actor))).toEqual([]); // our ledger challenge is still in flight: not asked twice

    // A reload: the snapshot comes back; nothing is in flight any more.
    const restored = createActor(machine, { snapshot: actor.getPersistedSnapshot() } as never).start();
    actor.stop();
    restored.send({ type: 'CHECK' });
    const again = txs(drain(restored));
    expect(again.map((t) => `${t.type}:${t.channelId}`)).toEqual([`challenge:${w.lId}`]);
    // Our ledger challenge turns out to have been mined before the reload.
    restored.send(status(w.lId, w.ledger2, 1_100, 1_200));
    restored.send(status(w.vId, redemption, 1_000, 1_200));
    const [reclaim] = txs(drain(restored));
    expect(reclaim?.type).toBe('reclaim');
    // Reload again, with the reclaim mined meanwhile: the status shows it, so only the transfer is asked for.
    const again2 = createActor(machine, { snapshot: restored.getPersistedSnapshot() } as never).start();
    const reclaimed = [removeGuarantee(w.ledger2.outcome[0]!, w.vId, V_AMOUNT - PAID, PAID)];
    // It asks for the reclaim again (the engine finds the ledger's outcome already reclaimed and sends nothing) …
    again2.send({ type: 'CHECK' });
    expect(txs(drain(again2)).map((t) => t.type)).toEqual(['reclaim']);
    // … and the status read the engine reports instead moves it on to the transfer.
    again2.send(status(w.lId, w.ledger2, 1_100, 1_201, reclaimed));
    expect(txs(drain(again2)).map((t) => t.type)).toEqual(['transfer']);
  });

  it('a refused transaction is reported and asked again at the next status read', () => {
    const w = world(bob, 10n);
    const actor = createActor(virtualExitMachine(bob), { input: { ledger: w.ledger, virtuals: [{ channel: w.v, voucher: w.voucher }] } }).start();
    drain(actor);
    actor.send({ type: 'TX_FAILED', key: `challenge:${w.lId}`, error: 'no ETH for gas' });
    const failed = drain(actor);
    expect(failed).toEqual([expect.objectContaining({ kind: 'exitUpdated', update: expect.objectContaining({ stage: 'challenging', detail: 'no ETH for gas' }) })]);
    actor.send({ type: 'STATUS', channelId: w.lId, turnNumRecord: 0, finalizesAt: 0, fingerprint: 0n, now: 5 });
    expect(txs(drain(actor)).map((t) => `${t.type}:${t.channelId}`)).toEqual([`challenge:${w.lId}`]);
  });

  it('a payee with no voucher challenges with the postfund; a ledger guaranteeing a channel we do not hold is refused', () => {
    const w = world(bob, 11n);
    const actor = createActor(virtualExitMachine(bob), { input: { ledger: w.ledger, virtuals: [{ channel: w.v }] } }).start();
    const [, cv] = txs(drain(actor));
    expect(cv?.type === 'challenge' && cv.candidate.state).toEqual(w.postfund);
    expect(() => requireExitable({ ledger: w.ledger, virtuals: [] })).toThrow(CoreError);
    expect(() => requireExitable({ ledger: w.ledger, virtuals: [{ channel: w.v }] })).not.toThrow();
  });
});
