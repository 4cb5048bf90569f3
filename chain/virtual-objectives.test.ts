/**
 * The states our virtual-funding objectives produce, on the real contracts: each ledger's
 * guarantee state and V's postfund and final state (built from the payee's largest voucher) are
 * supported by NitroAdjudicator / ConsensusApp / VirtualPaymentApp; when the hub vanishes after
 * the final state is signed, challenge + reclaim + transfer pays exactly what the defunding
 * objectives would have agreed off chain; and the ledger states a completed defunding leaves
 * exit by challenge + transfer with exactly the balances the core computed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Address,
  type Bytes32,
  type SignedState,
  type State,
  bytesToHex,
  channelId,
  encodeOutcome,
  findGuarantee,
  fixedPartArg,
  hashState,
  outcomeArg,
  signChallenge,
  signedVariablePartArg,
} from '../core/src/index.ts';
import { type Channel, latestSupported } from '../core/src/protocol/channel.ts';
import { objectiveIds } from '../core/src/protocol/message.ts';
import { applyChange } from '../core/src/protocol/ledger.ts';
import { FINAL_TURN, removalFor } from '../core/src/protocol/virtual.ts';
import { runningLedger, virtualPrefund } from '../core/src/testing/virtual-fixture.ts';
import { VirtualWorld } from '../core/src/testing/virtual-world.ts';
import { ETH, type NitroChain, type Party, mined, startNitroChain } from './testing/nitro-fixture.ts';

let chain: NitroChain;
beforeAll(async () => {
  chain = await startNitroChain();
});
afterAll(async () => chain?.stop());

const DURATION = 500;
const DEPOSIT = 10n ** 16n;
const V_AMOUNT = 4n * 10n ** 15n;

const lower = (a: string) => a.toLowerCase() as Address;

async function isSupported(state: State, ss: SignedState, proof: SignedState[] = []): Promise<boolean> {
  const [ok] = (await chain.adjudicator.getFunction('stateIsSupported')(fixedPartArg(state), proof.map(signedVariablePartArg), signedVariablePartArg(ss))) as [boolean, string];
  return ok;
}

/**
 * Two ledgers, L(hub, alice) and L(hub, bob) — the hub leads both — deposited on chain in turn,
 * and a world where the three parties' objectives fund V over them.
 */
async function fundedOnChain(nonce: bigint, opts: { blockLedgers?: () => boolean } = {}) {
  const [alice, hub, bob] = chain.parties as [Party, Party, Party];
  const consensusApp = lower(chain.addresses.consensusApp);
  const left = runningLedger(hub.key, alice.key, nonce, [DEPOSIT, DEPOSIT], { app: consensusApp, challengeDuration: DURATION });
  const right = runningLedger(hub.key, bob.key, nonce + 1n, [DEPOSIT, DEPOSIT], { app: consensusApp, challengeDuration: DURATION });
  for (const [l, user] of [
    [left, alice],
    [right, bob],
  ] as const) {
    const id = channelId(l.state);
    await mined(chain.adjudicatorAs(hub).getFunction('deposit')(ETH, id, 0n, DEPOSIT, { value: DEPOSIT }));
    await mined(chain.adjudicatorAs(user).getFunction('deposit')(ETH, id, DEPOSIT, DEPOSIT, { value: DEPOSIT }));
  }
  const w = new VirtualWorld([alice.key, hub.key, bob.key], { seed: Number(nonce), shuffle: true, duplicatePercent: 20, ...(opts.blockLedgers ? { block: (m) => opts.blockLedgers!() && m.text.includes('"ledger"') } : {}) });
  const leftId = w.addLedger(left);
  const rightId = w.addLedger(right);
  const prefund = virtualPrefund(alice.address, hub.address, bob.address, nonce + 2n, V_AMOUNT, { app: lower(chain.addresses.virtualPaymentApp), challengeDuration: DURATION });
  const vId = channelId(prefund);
  for (const p of [alice, hub, bob]) w.startFund(p.address, prefund);
  expect(w.run()).toBe(true);
  for (const p of [alice, hub, bob]) expect(w.actor(p.address, objectiveIds.virtualFunding(vId)).getSnapshot().value).toBe('done');
  const postfund = latestSupported(w.node(bob.address).channels.get(vId)!)!;
  return { w, alice, hub, bob, leftId, rightId, vId, prefund, postfund };
}

/** Challenges `ss` (with `proof`) from the neutral submitter, signed as challenger by `by`. */
async function challenge(ss: SignedState, by: Party, proof: SignedState[] = []) {
  await mined(chain.adjudicator.getFunction('challenge')(fixedPartArg(ss.state), proof.map(signedVariablePartArg), signedVariablePartArg(ss), signChallenge(hashState(ss.state), by.key)));
}

/** transferAllAssets on a finalized ledger with `outcome`; returns what each participant received. */
async function transfer(ledger: State, outcome: State['outcome']): Promise<bigint[]> {
  const before = await Promise.all(ledger.participants.map((p) => chain.balanceOf(ETH, p)));
  await mined(chain.adjudicator.getFunction('transferAllAssets')(channelId(ledger), outcomeArg(outcome), hashState(ledger)));
  const after = await Promise.all(ledger.participants.map((p) => chain.balanceOf(ETH, p)));
  expect(await chain.holdings(ETH, channelId(ledger))).toBe(0n);
  return after.map((x, i) => x - before[i]!);
}

describe('virtual objectives on the real contracts', () => {
  it('guarantee states and V’s final state are supported; with the hub gone, challenge + reclaim + transfer pays exactly', async () => {
    let hubGone = false;
    const { w, alice, bob, leftId, rightId, vId, postfund } = await fundedOnChain(400n, { blockLedgers: () => hubGone });

    // The ledgers' guarantee states and V's postfund, as the objectives left them.
    const ledgers = [w.ledgerState(alice.address, leftId), w.ledgerState(bob.address, rightId)];
    for (const l of ledgers) {
      expect(l.state.turnNum).toBe(2);
      expect(findGuarantee(l.state.outcome[0]!, vId).allocation.amount).toBe(V_AMOUNT);
      expect(await isSupported(l.state, l)).toBe(true);
    }
    expect(await isSupported(postfund.state, postfund)).toBe(true);

    // Payments, then the payee's defunding: the final state gets signed by all three, but the hub
    // vanishes before either ledger removes the guarantee.
    for (const amount of [1_000_000n, 234_567_890n, 1n]) w.pay(vId, amount);
    const paid = 235_567_891n;
    hubGone = true;
    w.startDefund(bob.address, vId);
    expect(w.run({ maxTicks: 3 })).toBe(false);
    const defunding = w.actor(bob.address, objectiveIds.virtualDefunding(vId));
    expect(defunding.getSnapshot().value).toBe('defunding');
    const final = latestSupported((defunding.getSnapshot().context as { channel: Channel }).channel)!;
    expect(final.state).toMatchObject({ turnNum: FINAL_TURN, isFinal: true });
    expect(final.state.outcome[0]!.allocations.map((a) => a.amount)).toEqual([V_AMOUNT - paid, paid]);
    // Supported by VirtualPaymentApp as a redemption proved from the postfund...
    expect(await isSupported(final.state, final, [postfund])).toBe(true);
    // ...and the ledgers still hold the guarantee.
    expect(w.ledgerState(alice.address, leftId)).toEqual(ledgers[0]);

    // Exit: challenge both ledgers with their guarantee states, and V with its final state.
    await challenge(ledgers[0]!, alice);
    await challenge(ledgers[1]!, bob);
    await challenge(final, bob, [postfund]);
    await chain.increaseTime(DURATION + 1);

    for (const l of ledgers) {
      const { index } = findGuarantee(l.state.outcome[0]!, vId);
      await mined(
        chain.adjudicator.getFunction('reclaim')({
          sourceChannelId: channelId(l.state),
          sourceStateHash: hashState(l.state),
          sourceOutcomeBytes: bytesToHex(encodeOutcome(l.state.outcome)),
          sourceAssetIndex: 0,
          indexOfTargetInSource: index,
          targetStateHash: hashState(final.state),
          targetOutcomeBytes: bytesToHex(encodeOutcome(final.state.outcome)),
          targetAssetIndex: 0,
        }),
      );
      // What the defunding objectives would have agreed off chain is what the contract now holds:
      // transferAllAssets accepts only the outcome matching the fingerprint stored by reclaim.
      const offChain = applyChange(l.state, removalFor(final.state));
      const received = await transfer(l.state, offChain.outcome);
      expect(received).toEqual(offChain.outcome[0]!.allocations.map((a) => a.amount));
    }
    // Left ledger [hub, alice]: the hub earns what Bob was paid; right ledger [hub, bob]: Bob gets it.
    expect(applyChange(ledgers[0]!.state, removalFor(final.state)).outcome[0]!.allocations.map((a) => a.amount)).toEqual([DEPOSIT + paid, DEPOSIT - paid]);
    expect(applyChange(ledgers[1]!.state, removalFor(final.state)).outcome[0]!.allocations.map((a) => a.amount)).toEqual([DEPOSIT - paid, DEPOSIT + paid]);
  });

  it('after a completed defunding the ledgers’ states are supported and exit by challenge + transfer with exactly the balances computed', async () => {
    const { w, alice, bob, leftId, rightId, vId } = await fundedOnChain(500n);
    w.pay(vId, 777_777n);
    w.startDefund(bob.address, vId);
    expect(w.run()).toBe(true);
    const ledgers = [w.ledgerState(alice.address, leftId), w.ledgerState(bob.address, rightId)];
    for (const l of ledgers) {
      expect(l.state.turnNum).toBe(3);
      expect(l.state.outcome[0]!.allocations.some((a) => a.destination === (vId as Bytes32))).toBe(false);
      expect(await isSupported(l.state, l)).toBe(true);
    }
    // V's final state is also a unanimous final state: it concludes V directly.
    const final = latestSupported((w.actor(bob.address, objectiveIds.virtualDefunding(vId)).getSnapshot().context as { channel: Channel }).channel)!;
    await mined(chain.adjudicator.getFunction('conclude')(fixedPartArg(final.state), signedVariablePartArg(final)));
    expect(BigInt(await chain.adjudicator.getFunction('statusOf')(vId))).not.toBe(0n);
    await challenge(ledgers[0]!, alice);
    await challenge(ledgers[1]!, bob);
    await chain.increaseTime(DURATION + 1);
    expect(await transfer(ledgers[0]!.state, ledgers[0]!.state.outcome)).toEqual([DEPOSIT + 777_777n, DEPOSIT - 777_777n]);
    expect(await transfer(ledgers[1]!.state, ledgers[1]!.state.outcome)).toEqual([DEPOSIT - 777_777n, DEPOSIT + 777_777n]);
  });
});
