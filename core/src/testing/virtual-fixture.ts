/**
 * States for virtual-channel tests: running ledger channels signed by both parties, and V's
 * prefund. App addresses are parameters so the contract tests can use the deployed ones.
 */
import { type Address, ZERO_ADDRESS } from '../hex.ts';
import { AllocationType, type Exit, addressToDestination } from '../outcome.ts';
import type { PrivateKey } from '../signature.ts';
import { type SignedState, addSignature, signState, unsigned } from '../signed-state.ts';
import type { State } from '../state.ts';

export const CONSENSUS_APP: Address = '0x00000000000000000000000000000000000000cc';
export const VIRTUAL_PAYMENT_APP: Address = '0x00000000000000000000000000000000000000ee';

export function simpleExit(allocations: [Address, bigint][], asset: Address = ZERO_ADDRESS): Exit {
  return [
    {
      asset,
      assetMetadata: { assetType: 0, metadata: '0x' },
      allocations: allocations.map(([who, amount]) => ({ destination: addressToDestination(who), amount, allocationType: AllocationType.simple, metadata: '0x' })),
    },
  ];
}

export function signedBy(state: State, ...keys: PrivateKey[]): SignedState {
  return keys.reduce((ss, k) => addSignature(ss, signState(state, k).signature), unsigned(state));
}

/** A running ledger (its postfund, turn 1, signed by both): `first` is participant 0 and leads it. */
export function runningLedger(first: PrivateKey, second: PrivateKey, nonce: bigint, amounts: [bigint, bigint], opts: { app?: Address; challengeDuration?: number } = {}): SignedState {
  const state: State = {
    participants: [first.address, second.address],
    channelNonce: nonce,
    appDefinition: opts.app ?? CONSENSUS_APP,
    challengeDuration: opts.challengeDuration ?? 600,
    outcome: simpleExit([
      [first.address, amounts[0]],
      [second.address, amounts[1]],
    ]),
    appData: '0x',
    turnNum: 1,
    isFinal: false,
  };
  return signedBy(state, first, second);
}

/** V's prefund: [payer, hub, payee], the payer putting in `amount`. */
export function virtualPrefund(payer: Address, hub: Address, payee: Address, nonce: bigint, amount: bigint, opts: { app?: Address; challengeDuration?: number } = {}): State {
  return {
    participants: [payer, hub, payee],
    channelNonce: nonce,
    appDefinition: opts.app ?? VIRTUAL_PAYMENT_APP,
    challengeDuration: opts.challengeDuration ?? 600,
    outcome: simpleExit([
      [payer, amount],
      [payee, 0n],
    ]),
    appData: '0x',
    turnNum: 0,
    isFinal: false,
  };
}
