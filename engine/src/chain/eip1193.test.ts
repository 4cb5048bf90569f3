/**
 * The funding account as a browser extension: the same chain service, with its signer from
 * `signerFromEip1193` over an EIP-1193 provider that signs with its own key and forwards to anvil
 * (the way an extension does). Deposits in turn (ETH and ERC20), the chain-id check, and the
 * user rejecting a connection or a transaction.
 */
import { type JsonRpcProvider } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_KEYS } from '../../../chain/anvil.ts';
import { ETH, type NitroChain, mined, simpleExit, startNitroChain } from '../../../chain/testing/nitro-fixture.ts';
import { type Address, type State, addressToDestination, channelId, depositDecision } from '../../../core/src/index.ts';
import { signerFromEip1193 } from './eip1193.ts';
import { ChainError } from './errors.ts';
import { createEthersChainService, createJsonRpcProvider } from './ethers-chain.ts';
import { type InjectedProviderOptions, createInjectedAnvilProvider } from './testing/injected-provider.ts';
import type { ChainService } from './types.ts';

let chain: NitroChain;
const providers: JsonRpcProvider[] = [];

beforeAll(async () => {
  chain = await startNitroChain();
  for (const p of chain.parties) await mined(chain.token.getFunction('mint')(p.address, 10n ** 21n));
});
afterAll(async () => {
  for (const p of providers) p.destroy();
  await chain?.stop();
});

/** The service as the wallet builds it with an extension: reads on the wallet's RPC, signing by the extension. */
async function extensionService(partyIndex: number, opts: InjectedProviderOptions = {}): Promise<ChainService> {
  const provider = createJsonRpcProvider(chain.anvil.url, 31337);
  providers.push(provider);
  const signer = await signerFromEip1193(createInjectedAnvilProvider(chain.anvil.url, ANVIL_KEYS[partyIndex + 1]!, opts), 31337);
  return createEthersChainService({ provider, signer, addresses: { adjudicator: chain.addresses.adjudicator }, pollIntervalMs: 20 });
}

function state(nonce: bigint, asset: Address, a: bigint, b: bigint): State {
  const [alice, bob] = chain.parties;
  return {
    participants: [alice!.address, bob!.address],
    channelNonce: nonce,
    appDefinition: chain.addresses.consensusApp.toLowerCase() as Address,
    challengeDuration: 300,
    outcome: simpleExit(asset, [
      [alice!.address, a],
      [bob!.address, b],
    ]),
    appData: '0x',
    turnNum: 0,
    isFinal: false,
  };
}

async function depositMyShare(service: ChainService, s: State, me: Address): Promise<void> {
  const asset = s.outcome[0]!.asset;
  const id = channelId(s);
  const decision = depositDecision(s.outcome[0]!, addressToDestination(me), await service.getHoldings(asset, id));
  if (decision.kind !== 'deposit') throw new Error(`expected a deposit, got ${decision.kind}`);
  await service.deposit({ asset, channelId: id, expectedHeld: decision.expectedHeld, amount: decision.amount });
}

async function rejection(p: Promise<unknown>): Promise<ChainError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChainError);
  return e as ChainError;
}

describe.each([
  ['ETH', () => ETH, 10n],
  ['ERC20', () => chain.addresses.token.toLowerCase() as Address, 20n],
])('deposits through an EIP-1193 provider (%s)', (_label, assetOf, nonce) => {
  it('two parties deposit in turn; holdings read back; a stale expectedHeld is reverted', async () => {
    const [alice, bob] = chain.parties;
    const aliceService = await extensionService(0);
    const bobService = await extensionService(1);
    expect((await aliceService.fundingAccount()).address).toBe(alice!.address);
    const s = state(nonce, assetOf(), 7n * 10n ** 16n, 3n * 10n ** 16n);
    const id = channelId(s);

    await depositMyShare(aliceService, s, alice!.address);
    expect(await bobService.getHoldings(assetOf(), id)).toBe(7n * 10n ** 16n);
    await depositMyShare(bobService, s, bob!.address);
    expect(await aliceService.getHoldings(assetOf(), id)).toBe(10n ** 17n);
    expect(await chain.holdings(assetOf(), id)).toBe(10n ** 17n);

    const e = await rejection(aliceService.deposit({ asset: assetOf(), channelId: id, expectedHeld: 0n, amount: 7n * 10n ** 16n }));
    expect(e).toMatchObject({ code: 'reverted', reason: 'held != expectedHeld' });
    expect(await chain.holdings(assetOf(), id)).toBe(10n ** 17n);
  });
});

describe('the extension and the user', () => {
  it('an extension on another chain: wrong-chain, naming both chain ids', async () => {
    const injected = createInjectedAnvilProvider(chain.anvil.url, ANVIL_KEYS[1]);
    const e = await rejection(signerFromEip1193(injected, 1));
    expect(e.code).toBe('wrong-chain');
    expect(e.message).toBe("The browser wallet is on chain 31337, but this wallet's channels are on chain 1. Switch the browser wallet to chain 1 and try again.");
    // Nothing was asked of the user: the site is still not connected.
    expect(await injected.request({ method: 'eth_accounts' })).toEqual([]);
  });

  it('the user refuses to connect: rejected-by-user', async () => {
    const injected = createInjectedAnvilProvider(chain.anvil.url, ANVIL_KEYS[1], { approveConnection: () => false });
    expect((await rejection(signerFromEip1193(injected, 31337))).code).toBe('rejected-by-user');
  });

  it('the user rejects the deposit: rejected-by-user, and nothing is sent', async () => {
    const [alice] = chain.parties;
    const service = await extensionService(0, { approveTransaction: () => false });
    const before = await chain.provider.getTransactionCount(alice!.address, 'pending');
    const e = await rejection(service.deposit({ asset: ETH, channelId: channelId(state(30n, ETH, 1n, 1n)), expectedHeld: 0n, amount: 1n }));
    expect(e.code).toBe('rejected-by-user');
    expect(e.message).toBe('Deposit was rejected in the browser wallet.');
    expect(await chain.provider.getTransactionCount(alice!.address, 'pending')).toBe(before);
  });

  it('the user switches the extension to another network after connecting: the deposit fails with wrong-chain, nothing sent', async () => {
    const [alice] = chain.parties;
    const provider = createJsonRpcProvider(chain.anvil.url, 31337);
    providers.push(provider);
    const injected = createInjectedAnvilProvider(chain.anvil.url, ANVIL_KEYS[1]);
    const signer = await signerFromEip1193(injected, 31337);
    const service = createEthersChainService({ provider, signer, addresses: { adjudicator: chain.addresses.adjudicator } });
    const changes: unknown[] = [];
    injected.on('chainChanged', (id) => changes.push(id));
    await injected.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: '0x1' }] });
    expect(changes).toEqual(['0x1']);

    const before = await chain.provider.getTransactionCount(alice!.address, 'pending');
    const e = await rejection(service.deposit({ asset: ETH, channelId: channelId(state(31n, ETH, 1n, 1n)), expectedHeld: 0n, amount: 1n }));
    expect(e.code).toBe('wrong-chain');
    expect(e.message).toMatch(/switched to another network/);
    expect(await chain.provider.getTransactionCount(alice!.address, 'pending')).toBe(before);
  });

  it('the injected provider: accounts only after connecting, chain id and reads forwarded to anvil', async () => {
    const injected = createInjectedAnvilProvider(chain.anvil.url, ANVIL_KEYS[2]);
    expect(await injected.request({ method: 'eth_accounts' })).toEqual([]);
    expect(await injected.request({ method: 'eth_requestAccounts' })).toEqual([injected.address.toLowerCase()]);
    expect(await injected.request({ method: 'eth_accounts' })).toEqual([injected.address.toLowerCase()]);
    expect(await injected.request({ method: 'eth_chainId' })).toBe('0x7a69');
    expect(BigInt((await injected.request({ method: 'eth_getBalance', params: [injected.address, 'latest'] })) as string)).toBe(
      await chain.provider.getBalance(injected.address),
    );
    await expect(injected.request({ method: 'eth_noSuchMethod' })).rejects.toMatchObject({ code: -32601 });
  });
});
