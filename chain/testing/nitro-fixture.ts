/**
 * A fresh anvil with the Nitro contracts deployed, for contract-level tests: participants are
 * anvil's funded dev accounts, as core PrivateKeys (to sign states) and ethers Wallets (to send
 * transactions). Every test file starts its own chain on a free port and stops it afterwards.
 */
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import {
  AllocationType,
  type Address,
  type Exit,
  PrivateKey,
  type SignedState,
  type State,
  addSignature,
  addressToDestination,
  signState,
  unsigned,
} from '../../core/src/index.ts';
import { ANVIL_KEYS, type Anvil, startAnvil } from '../anvil.ts';
import { nitroArtifacts, testTokenArtifact } from '../artifacts.ts';
import { type ContractAddresses, deployContracts } from '../deploy.ts';

export const ETH: Address = '0x0000000000000000000000000000000000000000';

export interface Party {
  key: PrivateKey;
  address: Address;
  wallet: Wallet;
}

export interface NitroChain {
  anvil: Anvil;
  provider: JsonRpcProvider;
  addresses: ContractAddresses;
  /** Adjudicator connected to a third account, so participants' balances change only by payouts. */
  adjudicator: Contract;
  token: Contract;
  parties: Party[];
  adjudicatorAs(p: Party): Contract;
  tokenAs(p: Party): Contract;
  holdings(asset: Address, channelId: string): Promise<bigint>;
  balanceOf(asset: Address, who: Address): Promise<bigint>;
  /** anvil time travel: advance the clock and mine a block. */
  increaseTime(seconds: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startNitroChain(): Promise<NitroChain> {
  const anvil = await startAnvil();
  const addresses = await deployContracts(anvil.url);
  // cacheTimeout -1: ethers otherwise answers a repeated balance or nonce query from a 250 ms cache,
  // which reads stale values between back-to-back transactions on an automining chain.
  const provider = new JsonRpcProvider(anvil.url, undefined, { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 });
  const abi = nitroArtifacts().NitroAdjudicator.abi;
  const tokenAbi = testTokenArtifact().abi;
  // Plain wallets: each send reads the pending nonce, so a send refused at estimateGas consumes none.
  const submitter = new Wallet(ANVIL_KEYS[0], provider);
  const parties: Party[] = ANVIL_KEYS.slice(1, 4).map((k) => {
    const key = PrivateKey.fromHex(k);
    return { key, address: key.address, wallet: new Wallet(k, provider) };
  });
  const tokenAs = (p: Party | Wallet) => new Contract(addresses.token, tokenAbi, p instanceof Wallet ? p : p.wallet);
  return {
    anvil,
    provider,
    addresses,
    adjudicator: new Contract(addresses.adjudicator, abi, submitter),
    token: tokenAs(submitter),
    parties,
    adjudicatorAs: (p) => new Contract(addresses.adjudicator, abi, p.wallet),
    tokenAs,
    holdings: async (asset, channelId) => (await new Contract(addresses.adjudicator, abi, provider).getFunction('holdings')(asset, channelId)) as bigint,
    balanceOf: async (asset, who) =>
      asset === ETH ? await provider.getBalance(who) : ((await new Contract(addresses.token, tokenAbi, provider).getFunction('balanceOf')(who)) as bigint),
    increaseTime: async (seconds) => {
      await provider.send('evm_increaseTime', [seconds]);
      await provider.send('evm_mine', []);
    },
    stop: async () => {
      provider.destroy();
      await anvil.stop();
    },
  };
}

export function simpleExit(asset: Address, allocations: [Address, bigint][]): Exit {
  return [
    {
      asset,
      assetMetadata: { assetType: 0, metadata: '0x' },
      allocations: allocations.map(([who, amount]) => ({ destination: addressToDestination(who), amount, allocationType: AllocationType.simple, metadata: '0x' })),
    },
  ];
}

/** Signs `state` by each of `signers`, each signature checked as it is added. */
export function signedBy(state: State, ...signers: PrivateKey[]): SignedState {
  let ss = unsigned(state);
  for (const k of signers) ss = addSignature(ss, signState(state, k).signature);
  return ss;
}

/** Waits for a transaction and returns its receipt, failing loudly on revert. */
export async function mined(tx: Promise<{ wait(): Promise<unknown> }>): Promise<{ blockNumber: number; gasUsed: bigint }> {
  const receipt = (await (await tx).wait()) as { blockNumber: number; gasUsed: bigint; status: number };
  if (receipt.status !== 1) throw new Error('transaction reverted');
  return receipt;
}
