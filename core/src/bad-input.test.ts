import { describe, expect, it } from 'vitest';
import { virtualPaymentAppStateIsSupported } from './apps/virtual-payment-app.ts';
import { requireOutcomeConserved } from './funding.ts';
import { CoreError } from './errors.ts';
import { parseAddress, parseUint, quantityToHex } from './hex.ts';
import { AllocationType, addressToDestination, parseExit } from './outcome.ts';
import { PrivateKey } from './signature.ts';
import { addSignature, parseSignedState, signState, signedStateToJSON, unsigned } from './signed-state.ts';
import { type State, channelId, encodeState, parseState, stateToJSON } from './state.ts';
import { encodeVoucherAppData, signVoucher } from './voucher.ts';

const alice = PrivateKey.fromHex('0x0000000000000000000000000000000000000000000000000000000000000a11');
const bob = PrivateKey.fromHex('0x0000000000000000000000000000000000000000000000000000000000000b0b');
const mallory = PrivateKey.fromHex('0x00000000000000000000000000000000000000000000000000000000000bad0e');
const ETH = '0x0000000000000000000000000000000000000000';

function baseState(): State {
  return {
    participants: [alice.address, bob.address],
    channelNonce: 7n,
    appDefinition: '0x00000000000000000000000000000000000000aa',
    challengeDuration: 86400,
    outcome: [
      {
        asset: ETH,
        assetMetadata: { assetType: 0, metadata: '0x' },
        allocations: [
          { destination: addressToDestination(alice.address), amount: 5n, allocationType: AllocationType.simple, metadata: '0x' },
          { destination: addressToDestination(bob.address), amount: 3n, allocationType: AllocationType.simple, metadata: '0x' },
        ],
      },
    ],
    appData: '0x',
    turnNum: 5,
    isFinal: false,
  };
}

function expectCoreError(f: () => unknown, field: string, code?: string) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CoreError);
    expect((e as CoreError).field).toBe(field);
    if (code) expect((e as CoreError).code).toBe(code);
    return;
  }
  throw new Error(`expected a CoreError for ${field}`);
}

describe('bad input to the core is rejected with a typed error naming the field', () => {
  const json = () => JSON.parse(JSON.stringify(stateToJSON(baseState())));

  it('wrong lengths', () => {
    const j = json();
    j.participants[1] = '0x1234';
    expectCoreError(() => parseState(j), 'state.participants[1]', 'invalid-length');
    const k = json();
    k.outcome[0].allocations[0].destination = '0x' + '00'.repeat(31);
    expectCoreError(() => parseState(k), 'state.outcome[0].allocations[0].destination', 'invalid-length');
    // the encoder checks too, for values built in code
    const s = baseState();
    s.appDefinition = '0xabcd';
    expectCoreError(() => encodeState(s), 'appDefinition', 'invalid-length');
  });

  it('non-hex', () => {
    const j = json();
    j.appData = '0xzz';
    expectCoreError(() => parseState(j), 'state.appData', 'invalid-hex');
    const k = json();
    k.outcome[0].asset = 'not an address';
    expectCoreError(() => parseState(k), 'state.outcome[0].asset', 'invalid-hex');
    const s = baseState();
    s.outcome[0]!.allocations[1]!.metadata = '0x0g';
    expectCoreError(() => encodeState(s), 'outcome[0].allocations[1].metadata', 'invalid-hex');
    expectCoreError(() => parseAddress('0x' + 'Ab'.repeat(20), 'to'), 'to', 'invalid-checksum');
  });

  it('negative or overflowing amounts', () => {
    const j = json();
    j.outcome[0].allocations[1].amount = '-0x1';
    expectCoreError(() => parseState(j), 'state.outcome[0].allocations[1].amount', 'out-of-range');
    const k = json();
    k.outcome[0].allocations[0].amount = quantityToHex(1n << 256n);
    expectCoreError(() => parseState(k), 'state.outcome[0].allocations[0].amount', 'out-of-range');
    const s = baseState();
    s.outcome[0]!.allocations[0]!.amount = -1n;
    expectCoreError(() => encodeState(s), 'outcome[0].allocations[0].amount', 'out-of-range');
    s.outcome[0]!.allocations[0]!.amount = 1n << 256n;
    expectCoreError(() => encodeState(s), 'outcome[0].allocations[0].amount', 'out-of-range');
    expectCoreError(() => parseUint('0x01', 'amount'), 'amount', 'invalid-hex');
    expectCoreError(() => parseUint(5, 'amount'), 'amount', 'invalid-type');
    const t = json();
    t.channelNonce = quantityToHex(1n << 64n);
    expectCoreError(() => parseState(t), 'state.channelNonce', 'out-of-range');
    const u = json();
    u.turnNum = 2 ** 48;
    expectCoreError(() => parseState(u), 'state.turnNum', 'out-of-range');
  });

  it('wrong types and shapes', () => {
    expectCoreError(() => parseExit({}), 'outcome', 'invalid-type');
    const j = json();
    j.isFinal = 'yes';
    expectCoreError(() => parseState(j), 'state.isFinal', 'invalid-type');
    const k = json();
    k.participants = [k.participants[0], k.participants[0]];
    expectCoreError(() => parseState(k), 'state.participants');
  });

  it('a signature by a non-participant', () => {
    const s = baseState();
    const forged = mallory.signHash(new Uint8Array(32));
    expectCoreError(() => signState(s, mallory), 'signer', 'not-a-participant');
    const { signature } = signState({ ...s, participants: [mallory.address, bob.address] }, mallory);
    expectCoreError(() => addSignature(unsigned(s), signature), 'signature', 'not-a-participant');
    // and a signature placed in someone else's slot is caught when parsing a signed state
    const ss = addSignature(unsigned(s), signState(s, alice).signature);
    const j = signedStateToJSON(ss);
    j.signatures[1] = j.signatures[0]!;
    expectCoreError(() => parseSignedState(j), 'signedState.signatures[1]', 'invalid-signature');
    expect(forged.v === 27 || forged.v === 28).toBe(true);
  });

  it('an outcome whose total changes where the app forbids it', () => {
    // VirtualPaymentApp: the payee may receive exactly the voucher, not more
    const payer = alice;
    const payee = bob;
    const hub = mallory;
    const v: State = { ...baseState(), participants: [payer.address, hub.address, payee.address], turnNum: 1 };
    v.outcome[0]!.allocations[1]!.destination = addressToDestination(payee.address);
    v.outcome[0]!.allocations[1]!.amount = 0n;
    const voucher = signVoucher(channelId(v), 2n, payer);
    const redemption: State = structuredClone(v);
    redemption.turnNum = 2;
    redemption.appData = encodeVoucherAppData(voucher);
    redemption.outcome[0]!.allocations[0]!.amount = 3n;
    redemption.outcome[0]!.allocations[1]!.amount = 4n; // creates 2 wei from nothing
    expectCoreError(
      () => virtualPaymentAppStateIsSupported(v, [{ variablePart: v, signedBy: 7n }], { variablePart: redemption, signedBy: 4n }),
      'outcome[0].allocations[1].amount',
      'invalid-outcome',
    );
    // ledger and direct channels: an update must conserve each asset's total
    const next = structuredClone(baseState().outcome);
    next[0]!.allocations[0]!.amount += 1n;
    expectCoreError(() => requireOutcomeConserved(baseState().outcome, next), 'outcome[0]', 'invalid-outcome');
  });
});
