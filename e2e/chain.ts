/**
 * The e2e chain as the specs read it: its config (written by the global setup), a provider that
 * never caches, and the facts specs check balances against.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonRpcProvider } from 'ethers';
import { E2E_CHAIN_CONFIG, REPO_ROOT } from './paths.ts';

export type Config = { rpcUrl: string; adjudicator: string; token: string; relayUrl: string };
export const config = (): Config => JSON.parse(readFileSync(join(REPO_ROOT, E2E_CHAIN_CONFIG), 'utf8')) as Config;
export const provider = () => new JsonRpcProvider(config().rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });

export async function ethBalance(address: string): Promise<bigint> {
  return provider().getBalance(address);
}

/** The gas `address` paid for the transactions it sent in the blocks after `block`. */
export async function gasPaidAfter(address: string, block: number): Promise<bigint> {
  const p = provider();
  const latest = await p.getBlockNumber();
  let paid = 0n;
  for (let n = block + 1; n <= latest; n++) {
    for (const tx of (await p.getBlock(n, true))!.prefetchedTransactions) {
      if (tx.from.toLowerCase() !== address.toLowerCase()) continue;
      const r = await p.getTransactionReceipt(tx.hash);
      paid += r!.gasUsed * r!.gasPrice;
    }
  }
  return paid;
}
