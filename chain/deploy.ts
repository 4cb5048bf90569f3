// Deploys the Nitro v2 contracts and the test token to a chain, and reads/writes the chain config.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ContractFactory, JsonRpcProvider, Wallet, getAddress, getCreateAddress, type BaseContract } from 'ethers';
import { ANVIL_KEYS } from './anvil.ts';
import { nitroArtifacts, testTokenArtifact, type Artifact } from './artifacts.ts';

export type ContractAddresses = {
  chainId: number;
  adjudicator: string;
  consensusApp: string;
  virtualPaymentApp: string;
  token: string;
};

/** What the wallet, hub and tests need to reach a chain. Serialized to .local/chain.json. */
/** What the wallet, the hub and the tests need to know about a chain and the dev services beside it. */
export type ChainConfig = { rpcUrl: string } & ContractAddresses & {
  /** The dev faucet (local chains only): POST /faucet {address}. */
  faucetUrl?: string;
  /** The hub's message relay (ws://…/relay). */
  relayUrl?: string;
};

export const DEFAULT_CHAIN_CONFIG_PATH = '.local/chain.json';

/**
 * Deploys NitroAdjudicator, ConsensusApp, VirtualPaymentApp and TestToken(owner = deployer).
 * Nonces are assigned explicitly, so the four transactions go out at once and, on a fresh
 * chain, the addresses are deterministic.
 */
export async function deployContracts(rpcUrl: string, deployerKey: string = ANVIL_KEYS[0]): Promise<ContractAddresses> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
  try {
    const deployer = new Wallet(deployerKey, provider);
    const [network, nonce] = await Promise.all([
      provider.getNetwork(),
      provider.getTransactionCount(deployer.address, 'pending'),
    ]);
    const nitro = nitroArtifacts();
    const token = testTokenArtifact();

    const deploy = async (artifact: Artifact, offset: number, args: unknown[] = []): Promise<string> => {
      const factory = new ContractFactory(artifact.abi, artifact.bytecode, deployer);
      let contract: BaseContract;
      try {
        contract = await factory.deploy(...args, { nonce: nonce + offset });
        await contract.waitForDeployment();
      } catch (err) {
        throw new Error(`Deploying ${artifact.contractName} to ${rpcUrl} failed: ${(err as Error).message}`, { cause: err });
      }
      const address = await contract.getAddress();
      const expected = getCreateAddress({ from: deployer.address, nonce: nonce + offset });
      if (address !== expected) throw new Error(`${artifact.contractName} deployed at ${address}, expected ${expected}`);
      return address;
    };

    const [adjudicator, consensusApp, virtualPaymentApp, tokenAddress] = await Promise.all([
      deploy(nitro.NitroAdjudicator, 0),
      deploy(nitro.ConsensusApp, 1),
      deploy(nitro.VirtualPaymentApp, 2),
      deploy(token, 3, [deployer.address]),
    ]);
    return { chainId: Number(network.chainId), adjudicator, consensusApp, virtualPaymentApp, token: tokenAddress };
  } finally {
    provider.destroy();
  }
}

/** Writes the chain config as JSON (atomically), creating the directory if needed. */
export function writeChainConfig(cfg: ChainConfig, path: string = DEFAULT_CHAIN_CONFIG_PATH): void {
  const file = resolve(path);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(cfg, null, 2)}\n`);
  renameSync(tmp, file);
}

/** Reads and validates a chain config written by writeChainConfig. */
export function readChainConfig(path: string = DEFAULT_CHAIN_CONFIG_PATH): ChainConfig {
  const file = resolve(path);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`Cannot read chain config ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseChainConfig(raw, file);
}

export function parseChainConfig(raw: unknown, source = 'chain config'): ChainConfig {
  if (typeof raw !== 'object' || raw === null) throw new Error(`${source}: expected a JSON object`);
  const obj = raw as Record<string, unknown>;
  const { rpcUrl, chainId } = obj;
  if (typeof rpcUrl !== 'string' || !/^https?:\/\//.test(rpcUrl)) throw new Error(`${source}: rpcUrl must be an http(s) URL`);
  if (typeof chainId !== 'number' || !Number.isSafeInteger(chainId) || chainId <= 0) {
    throw new Error(`${source}: chainId must be a positive integer`);
  }
  const address = (key: keyof ContractAddresses): string => {
    const value = obj[key];
    try {
      if (typeof value !== 'string') throw new Error('not a string');
      return getAddress(value);
    } catch {
      throw new Error(`${source}: ${key} must be an address, got ${JSON.stringify(value)}`);
    }
  };
  const optionalUrl = (key: 'faucetUrl' | 'relayUrl', schemes: RegExp): string | undefined => {
    const value = obj[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !schemes.test(value)) throw new Error(`${source}: ${key} must be a URL matching ${schemes}`);
    return value;
  };
  const faucetUrl = optionalUrl('faucetUrl', /^https?:\/\//);
  const relayUrl = optionalUrl('relayUrl', /^wss?:\/\//);
  return {
    rpcUrl,
    chainId,
    adjudicator: address('adjudicator'),
    consensusApp: address('consensusApp'),
    virtualPaymentApp: address('virtualPaymentApp'),
    token: address('token'),
    ...(faucetUrl !== undefined && { faucetUrl }),
    ...(relayUrl !== undefined && { relayUrl }),
  };
}
