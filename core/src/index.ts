/**
 * The Nitro v2 protocol core, shared by the wallet iframe and the hub: states, outcomes,
 * encoding, signatures, app rules, vouchers and outcome arithmetic. Pure: no DOM, storage
 * or chain provider.
 */
export * from './errors.ts';
export * from './hex.ts';
export * from './keccak.ts';
export * from './outcome.ts';
export * from './state.ts';
export * from './signature.ts';
export { warmUpSecp256k1 } from './secp256k1.ts';
export { useSecp256k1Backend, type Secp256k1Backend } from './signature.ts';
export * from './signed-state.ts';
export * from './voucher.ts';
export * from './funding.ts';
export * from './guarantee.ts';
export * from './adjudicator.ts';
export * from './apps/recovered.ts';
export * from './apps/consensus-app.ts';
export * from './apps/virtual-payment-app.ts';
export * from './relay-login.ts';
