/**
 * Test helpers for the hub service: a user's engine in Node (MemoryStore, its own key, its own
 * relay connection through the sdk's `connectRelay`), polling waits, and chain queries (who
 * deposited into a channel). Nothing here is used outside tests.
 */
import { Contract, type JsonRpcProvider, id as eventTopic } from 'ethers';
import { type Address, type Bytes32, PrivateKey } from '../../../../core/src/index.ts';
import type { ChainConfig } from '../../../../chain/deploy.ts';
import { ADJUDICATOR_ABI, createEthersChainService, createJsonRpcProvider, signerFromPrivateKey } from '../../../../engine/src/chain/index.ts';
import { Engine } from '../../../../engine/src/engine.ts';
import { MemoryStore } from '../../../../engine/src/store/memory-store.ts';
import { type RelayLink, connectRelayLink } from '../relay-link.ts';

export const ETH: Address = '0x0000000000000000000000000000000000000000';

export interface TestUser {
  key: PrivateKey;
  store: MemoryStore;
  engine: Engine;
  link: RelayLink;
  provider: JsonRpcProvider;
  /** Reasons of peer messages the user's engine refused. */
  rejections: string[];
  close(): void;
}

/** A user's engine logged into the relay at `relayUrl` with its own key, started. */
export async function startUser(keyHex: string, chain: ChainConfig, relayUrl: string, opts: { resendIntervalMs?: number } = {}): Promise<TestUser> {
  const key = PrivateKey.fromHex(keyHex);
  const provider = createJsonRpcProvider(chain.rpcUrl, chain.chainId, { pollingIntervalMs: 100 });
  const service = createEthersChainService({ provider, signer: signerFromPrivateKey(key, provider), addresses: { adjudicator: chain.adjudicator, token: chain.token }, pollIntervalMs: 100 });
  const store = new MemoryStore();
  const rejections: string[] = [];
  const ref: { link?: RelayLink } = {};
  const engine = new Engine({
    key,
    store,
    chain: service,
    sendMessage: (to, text) => ref.link?.send(to, text),
    resendIntervalMs: opts.resendIntervalMs ?? 200,
    log: (event, fields) => {
      if (event === 'peer.rejected') rejections.push(String(fields?.reason));
    },
  });
  const link = await connectRelayLink({ key, relayUrl, receive: (from, text) => engine.receiveMessage(from, text), log: () => undefined });
  ref.link = link;
  await engine.start();
  return {
    key,
    store,
    engine,
    link,
    provider,
    rejections,
    close: () => {
      link.close();
      engine.stop();
      provider.destroy();
    },
  };
}

export { until } from '../../../../engine/src/testing/until.ts';

/** The Deposited events of a channel, with the account that sent each deposit and the amount it added. */
export async function depositsInto(provider: JsonRpcProvider, adjudicator: string, channelId: Bytes32): Promise<{ from: Address; amount: bigint; holdings: bigint }[]> {
  const logs = await provider.getLogs({ address: adjudicator, topics: [eventTopic('Deposited(bytes32,address,uint256)'), channelId], fromBlock: 0 });
  const iface = new Contract(adjudicator, ADJUDICATOR_ABI).interface;
  const out: { from: Address; amount: bigint; holdings: bigint }[] = [];
  let before = 0n;
  for (const log of logs) {
    const tx = await provider.getTransaction(log.transactionHash);
    const holdings = iface.parseLog(log)!.args.getValue('destinationHoldings') as bigint;
    out.push({ from: tx!.from.toLowerCase() as Address, amount: holdings - before, holdings });
    before = holdings;
  }
  return out;
}

export async function holdingsOf(provider: JsonRpcProvider, adjudicator: string, channelId: Bytes32, asset: Address = ETH): Promise<bigint> {
  return (await new Contract(adjudicator, ADJUDICATOR_ABI, provider).getFunction('holdings')(asset, channelId)) as bigint;
}

/** A log that keeps its lines (event and fields), for assertions. */
export function recordingHubLog(echo = false): { log: (event: string, fields?: Record<string, string | number | boolean | undefined>) => void; lines: { event: string; fields: Record<string, string | number | boolean | undefined> }[] } {
  const lines: { event: string; fields: Record<string, string | number | boolean | undefined> }[] = [];
  return {
    lines,
    log: (event, fields = {}) => {
      lines.push({ event, fields });
      if (echo) console.log(`[hub] ${event} ${JSON.stringify(fields)}`);
    },
  };
}
