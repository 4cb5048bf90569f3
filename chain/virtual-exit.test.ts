/**
 * A virtual payment channel funded by guarantees in two ledger channels, exited on chain when
 * the hub vanishes: the payee challenges its ledger and the virtual channel (with a redemption
 * state backed by the payer's voucher), reclaims the guarantee and transfers; the payer does the
 * same on its side. Every outcome the contracts end with is the one our core computes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Address,
  type Exit,
  type State,
  addGuarantee,
  addressToDestination,
  bytesToHex,
  channelId,
  encodeOutcome,
  encodeVoucherAppData,
  findGuarantee,
  fixedPartArg,
  hashState,
  outcomeArg,
  removeGuarantee,
  signChallenge,
  signVoucher,
  signedVariablePartArg,
} from '../core/src/index.ts';
import { ETH, type NitroChain, type Party, mined, signedBy, simpleExit, startNitroChain } from './testing/nitro-fixture.ts';

let chain: NitroChain;
beforeAll(async () => {
  chain = await startNitroChain();
});
afterAll(async () => chain?.stop());

const DURATION = 500;

describe('virtual payment channel exit through reclaim', () => {
  it('pays the payee what the voucher proves and returns the rest to the payer, with no hub', async () => {
    const [alice, irene, bob] = chain.parties as [Party, Party, Party];
    const deposit = 10n ** 16n;
    const vAmount = 4n * 10n ** 15n; // Alice puts this into the virtual channel
    const paid = 1_234_567_890n; // what Alice's largest voucher pays Bob

    const ledger = (left: Party, right: Party, nonce: bigint, turnNum: number, outcome: Exit): State => ({
      participants: [left.address, right.address],
      channelNonce: nonce,
      appDefinition: chain.addresses.consensusApp.toLowerCase() as Address,
      challengeDuration: DURATION,
      outcome,
      appData: '0x',
      turnNum,
      isFinal: false,
    });
    const fund = (l: Party, r: Party) => simpleExit(ETH, [[l.address, deposit], [r.address, deposit]]);

    // Two ledger channels, Alice–Irene and Irene–Bob, each funded on chain by deposits in turn.
    const lA0 = ledger(alice, irene, 100n, 1, fund(alice, irene));
    const lB0 = ledger(irene, bob, 101n, 1, fund(irene, bob));
    for (const [s, first, second] of [[lA0, alice, irene], [lB0, irene, bob]] as const) {
      await mined(chain.adjudicatorAs(first).getFunction('deposit')(ETH, channelId(s), 0n, deposit, { value: deposit }));
      await mined(chain.adjudicatorAs(second).getFunction('deposit')(ETH, channelId(s), deposit, deposit, { value: deposit }));
    }

    // The virtual channel V = [Alice, Irene, Bob] with outcome [Alice vAmount, Bob 0].
    const v = (turnNum: number, toBob: bigint, appData: `0x${string}` = '0x'): State => ({
      participants: [alice.address, irene.address, bob.address],
      channelNonce: 102n,
      appDefinition: chain.addresses.virtualPaymentApp.toLowerCase() as Address,
      challengeDuration: DURATION,
      outcome: simpleExit(ETH, [[alice.address, vAmount - toBob], [bob.address, toBob]]),
      appData,
      turnNum,
      isFinal: false,
    });
    const vId = channelId(v(0, 0n));

    // Each ledger adds a guarantee for V: on Alice–Irene Alice gives vAmount; on Irene–Bob Irene does.
    const dA = addressToDestination(alice.address);
    const dI = addressToDestination(irene.address);
    const dB = addressToDestination(bob.address);
    const lA1 = ledger(alice, irene, 100n, 2, [addGuarantee(lA0.outcome[0]!, { target: vId, left: dA, right: dI, leftAmount: vAmount, rightAmount: 0n })]);
    const lB1 = ledger(irene, bob, 101n, 2, [addGuarantee(lB0.outcome[0]!, { target: vId, left: dI, right: dB, leftAmount: vAmount, rightAmount: 0n })]);
    const lA1signed = signedBy(lA1, alice.key, irene.key);
    const lB1signed = signedBy(lB1, irene.key, bob.key);

    // V's postfund is signed by all three; Alice pays by voucher; Bob's redemption state carries it.
    const postfund = signedBy(v(1, 0n), alice.key, irene.key, bob.key);
    const voucher = signVoucher(vId, paid, alice.key);
    const redemption = v(2, paid, encodeVoucherAppData(voucher));
    const redemptionSigned = signedBy(redemption, bob.key);

    // Irene vanishes. Bob challenges his ledger with the latest state and V with the redemption.
    await mined(chain.adjudicatorAs(bob).getFunction('challenge')(fixedPartArg(lB1), [], signedVariablePartArg(lB1signed), signChallenge(hashState(lB1), bob.key)));
    await mined(
      chain.adjudicatorAs(bob).getFunction('challenge')(fixedPartArg(redemption), [signedVariablePartArg(postfund)], signedVariablePartArg(redemptionSigned), signChallenge(hashState(redemption), bob.key)),
    );
    // Alice challenges hers too.
    await mined(chain.adjudicatorAs(alice).getFunction('challenge')(fixedPartArg(lA1), [], signedVariablePartArg(lA1signed), signChallenge(hashState(lA1), alice.key)));
    await chain.increaseTime(DURATION + 1);

    // Reclaim on each ledger: the guarantee is replaced by V's final amounts, as our removeGuarantee computes.
    const vFinal = redemption.outcome[0]!;
    for (const [l, ls] of [[lB1, 'Irene–Bob'], [lA1, 'Alice–Irene']] as const) {
      const guarantee = findGuarantee(l.outcome[0]!, vId);
      await mined(
        chain.adjudicator.getFunction('reclaim')({
          sourceChannelId: channelId(l),
          sourceStateHash: hashState(l),
          sourceOutcomeBytes: bytesToHex(encodeOutcome(l.outcome)),
          sourceAssetIndex: 0,
          indexOfTargetInSource: guarantee.index,
          targetStateHash: hashState(redemption),
          targetOutcomeBytes: bytesToHex(encodeOutcome(redemption.outcome)),
          targetAssetIndex: 0,
        }),
      );
      const reclaimed = [removeGuarantee(l.outcome[0]!, vId, vFinal.allocations[0]!.amount, vFinal.allocations[1]!.amount)];
      // transferAllAssets only succeeds if the outcome we pass matches the fingerprint the
      // contract stored after reclaim: proof that our arithmetic equals the adjudicator's.
      const payees = l.participants;
      const before = await Promise.all(payees.map((p) => chain.balanceOf(ETH, p)));
      await mined(chain.adjudicator.getFunction('transferAllAssets')(channelId(l), outcomeArg(reclaimed), hashState(l)));
      const after = await Promise.all(payees.map((p) => chain.balanceOf(ETH, p)));
      const expected = reclaimed[0]!.allocations.map((a) => a.amount);
      expect(after.map((x, i) => x - before[i]!), ls).toEqual(expected);
      expect(await chain.holdings(ETH, channelId(l))).toBe(0n);
    }

    // In the end Bob gained exactly the voucher; Alice lost exactly the voucher; Irene is whole.
    const expectedBob = deposit + paid;
    const lBreclaimed = removeGuarantee(lB1.outcome[0]!, vId, vAmount - paid, paid);
    expect(lBreclaimed.allocations.find((a) => a.destination === dB)!.amount).toBe(expectedBob);
    const lAreclaimed = removeGuarantee(lA1.outcome[0]!, vId, vAmount - paid, paid);
    expect(lAreclaimed.allocations.find((a) => a.destination === dA)!.amount).toBe(deposit - paid);
    const ireneTotal = lBreclaimed.allocations.find((a) => a.destination === dI)!.amount + lAreclaimed.allocations.find((a) => a.destination === dI)!.amount;
    expect(ireneTotal).toBe(2n * deposit);
  });
});
