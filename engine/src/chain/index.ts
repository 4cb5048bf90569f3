/**
 * The chain boundary: the only module in the wallet and the hub that talks to the chain.
 * The engine depends on `ChainService`; `createEthersChainService` is the real one.
 */
export * from './types.ts';
export * from './errors.ts';
export { ADJUDICATOR_ABI, ERC20_ABI, WATCHED_EVENTS, type WatchedEventName } from './abi.ts';
export { decodeAdjudicatorLog } from './event-poller.ts';
export { createEthersChainService, createJsonRpcProvider, signerFromPrivateKey, type EthersChainServiceOptions } from './ethers-chain.ts';
export { signerFromEip1193, type Eip1193Provider } from './eip1193.ts';
