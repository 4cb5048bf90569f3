import { describe, expect, it } from 'vitest';
import { AllocationType, addressToDestination } from '../outcome.ts';
import { PrivateKey } from '../signature.ts';
import { type State, channelId } from '../state.ts';
import { encodeVoucherAppData, signVoucher } from '../voucher.ts';
import { consensusAppStateIsSupported } from './consensus-app.ts';
import { virtualPaymentAppStateIsSupported } from './virtual-payment-app.ts';

const [payer, hub, payee] = [PrivateKey.random(), PrivateKey.random(), PrivateKey.random()];
const ETH = '0x0000000000000000000000000000000000000000';

function vState(turnNum: number, payerAmount: bigint, payeeAmount: bigint, appData: `0x${string}` = '0x'): State {
  return {
    participants: [payer.address, hub.address, payee.address],
    channelNonce: 1n,
    appDefinition: '0x00000000000000000000000000000000000000ee',
    challengeDuration: 60,
    outcome: [
      {
        asset: ETH,
        assetMetadata: { assetType: 0, metadata: '0x' },
        allocations: [
          { destination: addressToDestination(payer.address), amount: payerAmount, allocationType: AllocationType.simple, metadata: '0x' },
          { destination: addressToDestination(payee.address), amount: payeeAmount, allocationType: AllocationType.simple, metadata: '0x' },
        ],
      },
    ],
    appData,
    turnNum,
    isFinal: false,
  };
}

describe('ConsensusApp rules', () => {
  const s = vState(3, 1n, 1n);
  it('supports only unanimously signed states with no proof', () => {
    expect(() => consensusAppStateIsSupported(s, [], { variablePart: s, signedBy: 0b111n })).not.toThrow();
    expect(() => consensusAppStateIsSupported(s, [], { variablePart: s, signedBy: 0b011n })).toThrow(/unanimous/);
    expect(() => consensusAppStateIsSupported(s, [{ variablePart: s, signedBy: 0b111n }], { variablePart: s, signedBy: 0b111n })).toThrow(/proof/);
  });
});

describe('VirtualPaymentApp rules', () => {
  const postfund = vState(1, 10n, 0n);
  const id = channelId(postfund);
  it('supports unanimous prefund and postfund, nothing else without proof', () => {
    expect(() => virtualPaymentAppStateIsSupported(postfund, [], { variablePart: vState(0, 10n, 0n), signedBy: 7n })).not.toThrow();
    expect(() => virtualPaymentAppStateIsSupported(postfund, [], { variablePart: postfund, signedBy: 7n })).not.toThrow();
    expect(() => virtualPaymentAppStateIsSupported(postfund, [], { variablePart: vState(2, 10n, 0n), signedBy: 7n })).toThrow(/turnNum/);
    expect(() => virtualPaymentAppStateIsSupported(postfund, [], { variablePart: postfund, signedBy: 5n })).toThrow(/unanimous/);
  });

  it('supports a payee-signed redemption carrying a payer voucher that moves exactly its amount', () => {
    const voucher = encodeVoucherAppData(signVoucher(id, 4n, payer));
    const proof = [{ variablePart: postfund, signedBy: 7n }];
    expect(() => virtualPaymentAppStateIsSupported(postfund, proof, { variablePart: vState(2, 6n, 4n, voucher), signedBy: 4n })).not.toThrow();
    expect(() => virtualPaymentAppStateIsSupported(postfund, proof, { variablePart: vState(2, 6n, 4n, voucher), signedBy: 1n })).toThrow(/payee/);
    expect(() => virtualPaymentAppStateIsSupported(postfund, proof, { variablePart: vState(2, 5n, 4n, voucher), signedBy: 4n })).toThrow(/payer not adjusted/);
    const forged = encodeVoucherAppData(signVoucher(id, 4n, payee));
    expect(() => virtualPaymentAppStateIsSupported(postfund, proof, { variablePart: vState(2, 6n, 4n, forged), signedBy: 4n })).toThrow(/not the payer/);
    const overdrawn = encodeVoucherAppData(signVoucher(id, 11n, payer));
    expect(() => virtualPaymentAppStateIsSupported(postfund, proof, { variablePart: vState(2, 0n, 11n, overdrawn), signedBy: 4n })).toThrow(/payer not adjusted/);
  });
});
