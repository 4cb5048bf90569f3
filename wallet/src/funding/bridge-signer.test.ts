/**
 * The funding account as a browser extension on the dapp page, end to end without a browser:
 * the chain service with a BridgeSigner, the wallet's TransactionBridge, the sdk's FundingBridge
 * answering for the page, and an injected provider that signs with its own key and sends to anvil
 * (the way an extension does). Deposits (ETH and ERC20) and a conclusion go out from the
 * extension account; rejections, silence and wrong answers fail with clear ChainErrors.
 */
import { type JsonRpcProvider } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_KEYS } from '../../../chain/anvil.ts';
import { ETH, type NitroChain, mined, signedBy, simpleExit, startNitroChain } from '../../../chain/testing/nitro-fixture.ts';
import { type Address, type Hex, type State, channelId } from '../../../core/src/index.ts';
import { ChainError } from '../../../engine/src/chain/errors.ts';
import { createEthersChainService, createJsonRpcProvider } from '../../../engine/src/chain/ethers-chain.ts';
import { type InjectedProviderOptions, createInjectedAnvilProvider } from '../../../engine/src/chain/testing/injected-provider.ts';
import type { ChainService } from '../../../engine/src/chain/types.ts';
import { FundingBridge } from '../../../sdk-client/src/funding.ts';
import { BridgeSigner, describeTransaction } from './bridge-signer.ts';
import { type TransactionRequestParams, type TransactionResultParams, TransactionBridge } from './transaction-bridge.ts';

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

interface Setup {
  service: ChainService;
  signer: BridgeSigner;
  /** What the page was asked to send, in order. */
  requests: TransactionRequestParams['tx'][];
  address: Address;
}

/**
 * The wallet (chain service + bridge signer + transaction bridge) and the page (the sdk's bridge
 * over an injected provider for party `partyIndex`), joined the way postMessage joins them.
 * `answer` replaces the page's answer (to play a misbehaving page); `silent` gives none at all.
 */
async function setup(partyIndex: number, opts: InjectedProviderOptions & { answer?: (r: TransactionRequestParams) => TransactionResultParams; silent?: boolean; timeoutMs?: number } = {}): Promise<Setup> {
  const provider = createJsonRpcProvider(chain.anvil.url, 31337);
  providers.push(provider);
  const injected = createInjectedAnvilProvider(chain.anvil.url, ANVIL_KEYS[partyIndex + 1]!, opts);
  const requests: TransactionRequestParams['tx'][] = [];
  const answer = (result: TransactionResultParams) => {
    if (!bridge.answer(structuredClone(result))) throw new Error('nothing waiting');
    return Promise.resolve(null);
  };
  const page = new FundingBridge({ setFundingAccount: async () => null, sendTransactionResult: answer }, injected);
  const bridge = new TransactionBridge((params) => {
    requests.push(structuredClone(params.tx));
    if (opts.silent) return;
    if (opts.answer) void answer(opts.answer(params));
    else page.onRequest(structuredClone(params));
  }, opts.timeoutMs);
  await page.use(injected);
  const signer = new BridgeSigner(injected.address, bridge, provider, { lookupTimeoutMs: 1_000, lookupIntervalMs: 20 });
  const service = createEthersChainService({ provider, signer, addresses: { adjudicator: chain.addresses.adjudicator, token: chain.addresses.token }, pollIntervalMs: 20 });
  return { service, signer, requests, address: injected.address.toLowerCase() as Address };
}

function state(nonce: bigint, asset: Address, a: bigint, b: bigint, turnNum = 0, isFinal = false): State {
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
    turnNum,
    isFinal,
  };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

const nonceOf = (address: string) => chain.provider.getTransactionCount(address, 'latest');

describe('deposits and a conclusion through the page', () => {
  it('ETH: deposits from two extension accounts, then one concludes; the page is asked for to/data/value/chainId/from only', async () => {
    const [alice, bob] = chain.parties;
    const a = await setup(0);
    const b = await setup(1);
    expect(await a.signer.getAddress()).toBe(alice!.address);
    expect((await a.service.fundingAccount()).address).toBe(alice!.address);
    const s = state(1n, ETH, 7n * 10n ** 16n, 3n * 10n ** 16n);
    const id = channelId(s);
    const before = await chain.provider.getBalance(alice!.address);
    const nonce = await nonceOf(alice!.address);

    const receipt = await a.service.deposit({ asset: ETH, channelId: id, expectedHeld: 0n, amount: 7n * 10n ** 16n });
    expect(receipt.hash).toMatch(/^0x[0-9a-f]{64}$/);
    await b.service.deposit({ asset: ETH, channelId: id, expectedHeld: 7n * 10n ** 16n, amount: 3n * 10n ** 16n });
    expect(await chain.holdings(ETH, id)).toBe(10n ** 17n);
    expect(await nonceOf(alice!.address)).toBe(nonce + 1);
    expect(before - (await chain.provider.getBalance(alice!.address))).toBeGreaterThan(7n * 10n ** 16n);
    expect(a.requests).toHaveLength(1);
    expect(Object.keys(a.requests[0]!).sort()).toEqual(['chainId', 'data', 'from', 'to', 'value']);
    expect(a.requests[0]).toMatchObject({ to: chain.addresses.adjudicator.toLowerCase(), value: '0xf8b0a10e470000', chainId: '0x7a69', from: alice!.address });
    expect(describeTransaction(a.requests[0]!.data)).toBe('Deposit');

    const final = state(1n, ETH, 4n * 10n ** 16n, 6n * 10n ** 16n, 3, true);
    const bobBefore = await chain.provider.getBalance(bob!.address);
    await b.service.concludeAndTransferAllAssets(signedBy(final, alice!.key, bob!.key));
    expect(await chain.holdings(ETH, id)).toBe(0n);
    expect(describeTransaction(b.requests.at(-1)!.data)).toBe('Concluding the channel');
    // Bob paid the gas and received his 0.06 ETH.
    const bobDelta = (await chain.provider.getBalance(bob!.address)) - bobBefore;
    expect(bobDelta).toBeLessThan(6n * 10n ** 16n);
    expect(bobDelta).toBeGreaterThan(5n * 10n ** 16n);
  });

  it('ERC20: the approval and the deposit are two requests, in order', async () => {
    const token = chain.addresses.token.toLowerCase() as Address;
    const c = await setup(2);
    const id = channelId(state(2n, token, 5n, 0n));
    await c.service.deposit({ asset: token, channelId: id, expectedHeld: 0n, amount: 5n });
    expect(await chain.holdings(token, id)).toBe(5n);
    expect(c.requests.map((r) => describeTransaction(r.data))).toEqual(['Approving the token for the deposit', 'Deposit']);
    expect(c.requests.map((r) => r.to)).toEqual([token, chain.addresses.adjudicator.toLowerCase()]);
  });
});

describe('failures', () => {
  it("the extension's user rejects the deposit: rejected-by-user, and nothing is sent", async () => {
    const [alice] = chain.parties;
    const a = await setup(0, { approveTransaction: () => false });
    const nonce = await nonceOf(alice!.address);
    const e = await failure(a.service.deposit({ asset: ETH, channelId: channelId(state(3n, ETH, 1n, 1n)), expectedHeld: 0n, amount: 1n }));
    expect(e).toBeInstanceOf(ChainError);
    expect(e).toMatchObject({ code: 'rejected-by-user', message: 'Deposit was rejected in the browser wallet.' });
    expect(await nonceOf(alice!.address)).toBe(nonce);
  });

  it("the provider's other errors: a ChainError quoting it", async () => {
    const a = await setup(0, { answer: ({ requestId }) => ({ requestId, error: { code: -32603, message: 'Internal JSON-RPC error.' } }) });
    const e = await failure(a.service.deposit({ asset: ETH, channelId: channelId(state(4n, ETH, 1n, 1n)), expectedHeld: 0n, amount: 1n }));
    expect(e).toBeInstanceOf(ChainError);
    expect((e as ChainError).message).toBe('Deposit failed in the browser wallet (error -32603: Internal JSON-RPC error.)');
    const w = await setup(0, { answer: ({ requestId }) => ({ requestId, error: { code: 4901, message: 'The browser wallet is on chain 1' } }) });
    expect(await failure(w.service.deposit({ asset: ETH, channelId: channelId(state(4n, ETH, 1n, 1n)), expectedHeld: 0n, amount: 1n }))).toMatchObject({ code: 'wrong-chain' });
  });

  it('nobody answers: a timeout ChainError once the request expires', async () => {
    const a = await setup(0, { silent: true, timeoutMs: 100 });
    const e = await failure(a.service.deposit({ asset: ETH, channelId: channelId(state(5n, ETH, 1n, 1n)), expectedHeld: 0n, amount: 1n }));
    expect(e).toMatchObject({ code: 'timeout' });
    expect((e as Error).message).toMatch(/^Deposit was not sent: the page did not answer/);
  });

  it('a page answering with another transaction, or one the chain does not know, is not believed', async () => {
    const [, , carol] = chain.parties;
    const other = (await mined(chain.token.getFunction('mint')(carol!.address, 1n))) as unknown as { hash: string };
    const lying = await setup(0, { answer: ({ requestId }) => ({ requestId, hash: other.hash as Hex }) });
    const e = await failure(lying.service.deposit({ asset: ETH, channelId: channelId(state(6n, ETH, 1n, 1n)), expectedHeld: 0n, amount: 1n }));
    expect(e).not.toBeInstanceOf(ChainError);
    expect((e as Error).message).toMatch(/^Deposit: the page answered with transaction 0x[0-9a-f]{64}, which is not the one requested/);

    const unknown = `0x${'77'.repeat(32)}` as Hex;
    const inventing = await setup(0, { answer: ({ requestId }) => ({ requestId, hash: unknown }) });
    const f = await failure(inventing.service.deposit({ asset: ETH, channelId: channelId(state(7n, ETH, 1n, 1n)), expectedHeld: 0n, amount: 1n }));
    expect(f).toMatchObject({ code: 'timeout', txHash: unknown });
  });

  it('signs nothing itself, and sends only from its own account', async () => {
    const a = await setup(0);
    await expect(a.signer.signMessage()).rejects.toThrow(/cannot sign messages/);
    await expect(a.signer.signTransaction()).rejects.toThrow(/cannot sign transactions/);
    await expect(a.signer.signTypedData()).rejects.toThrow(/cannot sign typed data/);
    await expect(a.signer.sendTransaction({ to: chain.addresses.adjudicator, from: chain.parties[1]!.address, value: 1n })).rejects.toThrow();
    expect(a.requests).toEqual([]);
  });
});
