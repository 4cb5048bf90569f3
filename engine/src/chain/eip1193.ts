/**
 * A browser extension (an EIP-1193 provider such as `window.ethereum`) as the funding account.
 */
import { BrowserProvider, type Eip1193Provider, type JsonRpcSigner } from 'ethers';
import { ChainError, toChainError } from './errors.ts';

export type { Eip1193Provider };

const EXTENSION = 'the browser wallet';

/**
 * An ethers Signer for the extension's (first) account, after checking that the extension is on
 * `expectedChainId` — a clear `wrong-chain` ChainError otherwise. Asks the extension for the
 * account (`eth_requestAccounts`) if the site is not connected yet; a refusal is
 * `rejected-by-user`. Pass the result as `signer` to `createEthersChainService`, with a
 * `provider` on the wallet's own RPC for reads; if the user later switches the extension to
 * another chain, sends fail with `wrong-chain` instead of going to the wrong network.
 */
export async function signerFromEip1193(eip1193Provider: Eip1193Provider, expectedChainId: number | bigint): Promise<JsonRpcSigner> {
  const expected = BigInt(expectedChainId);
  let reported: unknown;
  try {
    reported = await eip1193Provider.request({ method: 'eth_chainId' });
  } catch (e) {
    throw toChainError(e, { action: 'Asking the browser wallet for its chain', rpc: EXTENSION });
  }
  let actual: bigint;
  try {
    actual = BigInt(reported as string);
  } catch {
    throw new ChainError('wrong-chain', `The browser wallet reported an invalid chain id (${String(reported)}); this wallet needs chain ${expected}.`);
  }
  if (actual !== expected) {
    throw new ChainError(
      'wrong-chain',
      `The browser wallet is on chain ${actual}, but this wallet's channels are on chain ${expected}. Switch the browser wallet to chain ${expected} and try again.`,
    );
  }
  // cacheTimeout -1: no stale reads between back-to-back transactions. The network is given but
  // not static, so ethers re-checks it and refuses ("network changed") if the extension switches.
  const browserProvider = new BrowserProvider(eip1193Provider, Number(expected), { cacheTimeout: -1 });
  try {
    return await browserProvider.getSigner();
  } catch (e) {
    throw toChainError(e, { action: 'Connecting the browser wallet account', rpc: EXTENSION });
  }
}
