/**
 * The real NitroAdjudicator, ConsensusApp and VirtualPaymentApp on anvil accept what our core
 * signs and encodes, and reject tampered states; the status the adjudicator stores after a
 * challenge is the one we compute from our own hashes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Bytes32,
  type State,
  bytesToHex,
  channelId,
  channelStatus,
  encodeVoucherAppData,
  fixedPartArg,
  hashOutcome,
  hashState,
  signChallenge,
  signVoucher,
  signedVariablePartArg,
} from '../core/src/index.ts';
import { ETH, type NitroChain, mined, signedBy, simpleExit, startNitroChain } from './testing/nitro-fixture.ts';

let chain: NitroChain;
beforeAll(async () => {
  chain = await startNitroChain();
});
afterAll(async () => chain?.stop());

function ledgerState(asset: `0x${string}`, turnNum: number, nonce = 1n): State {
  const [a, b] = chain.parties;
  return {
    participants: [a!.address, b!.address],
    channelNonce: nonce,
    appDefinition: chain.addresses.consensusApp.toLowerCase() as `0x${string}`,
    challengeDuration: 600,
    outcome: simpleExit(asset, [
      [a!.address, 5n],
      [b!.address, 3n],
    ]),
    appData: '0x',
    turnNum,
    isFinal: false,
  };
}

async function isSupported(state: State, ss: ReturnType<typeof signedBy>, proof: ReturnType<typeof signedBy>[] = []): Promise<boolean> {
  const [ok] = (await chain.adjudicator.getFunction('stateIsSupported')(fixedPartArg(state), proof.map(signedVariablePartArg), signedVariablePartArg(ss))) as [boolean, string];
  return ok;
}

describe('stateIsSupported on the real adjudicator', () => {
  for (const [label, asset] of [
    ['ETH', () => ETH],
    ['ERC20', () => chain.addresses.token.toLowerCase() as `0x${string}`],
  ] as const) {
    it(`accepts a ledger (ConsensusApp) state signed by both participants (${label})`, async () => {
      const [a, b] = chain.parties;
      const s = ledgerState(asset(), 4);
      expect(await isSupported(s, signedBy(s, a!.key, b!.key))).toBe(true);
    });

    it(`rejects it tampered after signing, half signed, or signed by an outsider (${label})`, async () => {
      const [a, b, outsider] = chain.parties;
      const s = ledgerState(asset(), 4);
      const ss = signedBy(s, a!.key, b!.key);
      const tampered = { ...ss, state: { ...s, outcome: simpleExit(asset(), [[a!.address, 1n], [b!.address, 7n]]) } };
      await expect(isSupported(s, tampered)).rejects.toThrow(/unanimous/);
      await expect(isSupported(s, signedBy(s, a!.key))).rejects.toThrow(/unanimous/);
      const withOutsider = { ...ss, signatures: [ss.signatures[0]!, signedBy({ ...s, participants: [outsider!.address, b!.address] }, outsider!.key).signatures[0]!] };
      await expect(isSupported(s, withOutsider)).rejects.toThrow(/unanimous/);
    });
  }

  it('accepts VirtualPaymentApp postfund and a payee redemption backed by a payer voucher; rejects a bigger claim', async () => {
    const [payer, hub, payee] = chain.parties;
    const v = (turnNum: number, payerAmount: bigint, payeeAmount: bigint, appData: `0x${string}` = '0x'): State => ({
      participants: [payer!.address, hub!.address, payee!.address],
      channelNonce: 77n,
      appDefinition: chain.addresses.virtualPaymentApp.toLowerCase() as `0x${string}`,
      challengeDuration: 600,
      outcome: simpleExit(ETH, [
        [payer!.address, payerAmount],
        [payee!.address, payeeAmount],
      ]),
      appData,
      turnNum,
      isFinal: false,
    });
    const postfund = signedBy(v(1, 10n, 0n), payer!.key, hub!.key, payee!.key);
    expect(await isSupported(v(1, 10n, 0n), postfund)).toBe(true);
    const voucher = signVoucher(channelId(v(1, 10n, 0n)), 4n, payer!.key);
    const redemption = v(2, 6n, 4n, encodeVoucherAppData(voucher));
    expect(await isSupported(redemption, signedBy(redemption, payee!.key), [postfund])).toBe(true);
    const greedy = v(2, 5n, 5n, encodeVoucherAppData(voucher));
    await expect(isSupported(greedy, signedBy(greedy, payee!.key), [postfund])).rejects.toThrow(/not adjusted correctly/);
    const forged = v(2, 6n, 4n, encodeVoucherAppData(signVoucher(channelId(v(1, 10n, 0n)), 4n, payee!.key)));
    await expect(isSupported(forged, signedBy(forged, payee!.key), [postfund])).rejects.toThrow(/invalid signature for voucher/);
  });
});

describe('challenge status', () => {
  it('after a challenge, statusOf(channelId) holds the fingerprint we compute from our own state and outcome hashes', async () => {
    const [a, b] = chain.parties;
    const s = ledgerState(ETH, 9, 2n);
    const ss = signedBy(s, a!.key, b!.key);
    const stateHash = hashState(s);
    const receipt = await mined(chain.adjudicator.getFunction('challenge')(fixedPartArg(s), [], signedVariablePartArg(ss), signChallenge(stateHash, a!.key)));
    const block = await chain.provider.getBlock(receipt.blockNumber);
    const expected = channelStatus({
      turnNumRecord: 9,
      finalizesAt: block!.timestamp + s.challengeDuration,
      stateHash,
      outcomeHash: bytesToHex(hashOutcome(s.outcome)) as Bytes32,
    });
    expect(await chain.adjudicator.getFunction('statusOf')(channelId(s))).toBe(expected);
  });

  it('refuses a challenger signature from a non-participant', async () => {
    const [a, b, outsider] = chain.parties;
    const s = ledgerState(ETH, 3, 3n);
    const ss = signedBy(s, a!.key, b!.key);
    await expect(chain.adjudicator.getFunction('challenge')(fixedPartArg(s), [], signedVariablePartArg(ss), signChallenge(hashState(s), outsider!.key))).rejects.toThrow(
      /Challenger is not a participant/,
    );
  });
});
