import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { ANVIL_KEYS, startAnvil, type Anvil } from './anvil.ts';
import { testTokenArtifact } from './artifacts.ts';
import { deployContracts, type ContractAddresses } from './deploy.ts';

describe('deployContracts on a fresh anvil', () => {
  let anvil: Anvil;
  let provider: JsonRpcProvider;
  let addresses: ContractAddresses;

  beforeAll(async () => {
    anvil = await startAnvil();
    provider = new JsonRpcProvider(anvil.url, undefined, { staticNetwork: true });
    addresses = await deployContracts(anvil.url);
  });

  afterAll(async () => {
    provider?.destroy();
    await anvil?.stop();
  });

  it('ANVIL_KEYS are the keys of anvil\'s default accounts', async () => {
    const accounts = (await provider.send('eth_accounts', [])) as string[];
    const derived = ANVIL_KEYS.map((key) => new Wallet(key).address.toLowerCase());
    expect(accounts.slice(0, derived.length).map((a) => a.toLowerCase())).toEqual(derived);
  });

  it('reports chain id 31337', () => {
    expect(addresses.chainId).toBe(31337);
  });

  it('deploys code at every address', async () => {
    const { adjudicator, consensusApp, virtualPaymentApp, token } = addresses;
    const all = [adjudicator, consensusApp, virtualPaymentApp, token];
    expect(new Set(all).size).toBe(4);
    for (const address of all) {
      const code = await provider.getCode(address);
      expect(code.length, `code at ${address}`).toBeGreaterThan(2);
    }
  });

  it('mints 10^30 test tokens to the deployer', async () => {
    const deployer = new Wallet(ANVIL_KEYS[0]).address;
    const token = new Contract(addresses.token, testTokenArtifact().abi, provider);
    const balance = (await token.getFunction('balanceOf')(deployer)) as bigint;
    expect(balance).toBe(10n ** 30n);
    expect(await token.getFunction('symbol')()).toBe('CWT');
  });
});
