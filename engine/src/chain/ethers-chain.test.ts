/**
 * The ethers chain service against a real anvil with the real NitroAdjudicator and test token:
 * deposits in turn (ETH and ERC20 with approval), the expectedHeld guard, balance checks that
 * send nothing, an unreachable RPC, event delivery (once each, per channel, after the configured
 * confirmations) and a cooperative close with its payouts.
 */
import { type JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_KEYS, freePort } from '../../../chain/anvil.ts';
import { ETH, type NitroChain, type Party, mined, signedBy, simpleExit, startNitroChain } from '../../../chain/testing/nitro-fixture.ts';
import {
  type Address,
  type Bytes32,
  type State,
  addressToDestination,
  channelId,
  depositDecision,
  fixedPartArg,
  hashState,
  signChallenge,
  signedVariablePartArg,
} from '../../../core/src/index.ts';
import { ChainError } from './errors.ts';
import { type EthersChainServiceOptions, createEthersChainService, createJsonRpcProvider } from './ethers-chain.ts';
import { Collector } from './testing/collector.ts';
import type { ChainEvent, ChainService } from './types.ts';
import { until } from '../testing/until.ts';

let chain: NitroChain;
const providers: JsonRpcProvider[] = [];
const unsubscribes: (() => void)[] = [];

beforeAll(async () => {
  chain = await startNitroChain();
  // Parties 0 and 1 hold test tokens for the ERC20 deposits.
  for (const p of chain.parties) await mined(chain.token.getFunction('mint')(p.address, 10n ** 21n));
});
afterAll(async () => {
  for (const u of unsubscribes) u();
  for (const p of providers) p.destroy();
  await chain?.stop();
});

function provider(url = chain.anvil.url): JsonRpcProvider {
  const p = createJsonRpcProvider(url, 31337);
  providers.push(p);
  return p;
}

function serviceFor(key: string, extra: Partial<EthersChainServiceOptions> = {}, url?: string): ChainService {
  const p = provider(url);
  return createEthersChainService({
    provider: p,
    signer: new Wallet(key, p),
    addresses: { adjudicator: chain.addresses.adjudicator, token: chain.addresses.token },
    pollIntervalMs: 20,
    ...extra,
  });
}

const keyOf = (p: Party): string => ANVIL_KEYS[chain.parties.indexOf(p) + 1]!;
const token = (): Address => chain.addresses.token.toLowerCase() as Address;

function twoPartyState(nonce: bigint, asset: Address, a: bigint, b: bigint): State {
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

/** What the engine will do: read holdings, decide with the core, deposit with expectedHeld. */
async function depositInTurn(service: ChainService, state: State, party: Party): Promise<'waited' | 'done' | bigint> {
  const asset = state.outcome[0]!.asset;
  const id = channelId(state);
  const held = await service.getHoldings(asset, id);
  const decision = depositDecision(state.outcome[0]!, addressToDestination(party.address), held);
  if (decision.kind === 'wait') return 'waited';
  if (decision.kind === 'done') return 'done';
  const receipt = await service.deposit({ asset, channelId: id, expectedHeld: decision.expectedHeld, amount: decision.amount });
  expect(receipt.hash).toMatch(/^0x[0-9a-f]{64}$/);
  expect(receipt.gasUsed).toBeGreaterThan(0n);
  return decision.amount;
}

async function expectChainError(p: Promise<unknown>, code: ChainError['code']): Promise<ChainError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected ChainError('${code}')`).toBeInstanceOf(ChainError);
  expect((e as ChainError).code, (e as Error).message).toBe(code);
  return e as ChainError;
}

const nonceOf = (address: string): Promise<number> => chain.provider.getTransactionCount(address, 'pending');

describe.each([
  ['ETH', () => ETH, 100n],
  ['ERC20', token, 200n],
])('deposits with %s', (_label, assetOf, nonceBase) => {
  it('two parties deposit in turn through their services; holdings read back', async () => {
    const [alice, bob] = chain.parties;
    const aliceService = serviceFor(keyOf(alice!));
    const bobService = serviceFor(keyOf(bob!));
    const a = 3n * 10n ** 17n + 11n;
    const b = 2n * 10n ** 17n + 7n;
    const state = twoPartyState(nonceBase, assetOf(), a, b);
    const id = channelId(state);
    const before = await chain.balanceOf(assetOf(), alice!.address);

    expect(await depositInTurn(bobService, state, bob!)).toBe('waited');
    const aliceNonce = await nonceOf(alice!.address);
    expect(await depositInTurn(aliceService, state, alice!)).toBe(a);
    // ERC20: one approval and one deposit; ETH: the deposit only.
    expect(await nonceOf(alice!.address)).toBe(aliceNonce + (assetOf() === ETH ? 1 : 2));
    expect(await aliceService.getHoldings(assetOf(), id)).toBe(a);
    expect(await depositInTurn(aliceService, state, alice!)).toBe('done');
    expect(await depositInTurn(bobService, state, bob!)).toBe(b);
    expect(await bobService.getHoldings(assetOf(), id)).toBe(a + b);
    expect(await chain.holdings(assetOf(), id)).toBe(a + b);
    const after = await chain.balanceOf(assetOf(), alice!.address);
    if (assetOf() === ETH) expect(before - after).toBeGreaterThan(a);
    else expect(before - after).toBe(a);
  });

  it('a stale expectedHeld (a repeated deposit after a reload) is refused as reverted, and nothing moves', async () => {
    const [alice] = chain.parties;
    const service = serviceFor(keyOf(alice!));
    const state = twoPartyState(nonceBase + 1n, assetOf(), 1000n, 1000n);
    const id = channelId(state);
    await service.deposit({ asset: assetOf(), channelId: id, expectedHeld: 0n, amount: 1000n });

    const nonce = await nonceOf(alice!.address);
    const balance = await chain.balanceOf(assetOf(), alice!.address);
    // The same deposit again, as if the wallet reloaded before recording it.
    const e = await expectChainError(service.deposit({ asset: assetOf(), channelId: id, expectedHeld: 0n, amount: 1000n }), 'reverted');
    expect(e.reason).toBe('held != expectedHeld');
    expect(e.message).toMatch(/^Deposit reverted: held != expectedHeld \(the channel holds 1000, not 0/);
    expect(await chain.holdings(assetOf(), id)).toBe(1000n);
    expect(await chain.balanceOf(assetOf(), alice!.address)).toBe(balance);
    expect(await nonceOf(alice!.address)).toBe(nonce);
  });

  it('two deposits racing with the same expectedHeld: the one mined second reverts on chain and is reported as reverted', async () => {
    const [alice, bob] = chain.parties;
    const aliceService = serviceFor(keyOf(alice!));
    const bobService = serviceFor(keyOf(bob!));
    const id = channelId(twoPartyState(nonceBase + 2n, assetOf(), 1000n, 1000n));
    if (assetOf() !== ETH) {
      // Allowances in place, so each service estimates and sends its deposit straight away.
      for (const p of [alice!, bob!]) await mined(chain.tokenAs(p).getFunction('approve')(chain.addresses.adjudicator, 10n ** 20n));
    }
    await chain.provider.send('evm_setAutomine', [false]);
    try {
      const results = [aliceService, bobService].map((s) =>
        s.deposit({ asset: assetOf(), channelId: id, expectedHeld: 0n, amount: 1000n }).then(
          (r) => ({ ok: true as const, r }),
          (e: unknown) => ({ ok: false as const, e }),
        ),
      );
      // Both were estimated against holdings 0 and are waiting in the mempool; mine them in one block.
      await until(async () => Number(((await chain.provider.send('txpool_status', [])) as { pending: string }).pending) >= 2, 'both deposits in the mempool');
      await chain.provider.send('evm_mine', []);
      const settled = await Promise.all(results);
      expect(settled.filter((x) => x.ok)).toHaveLength(1);
      const failed = settled.find((x) => !x.ok) as { e: unknown };
      expect(failed.e).toBeInstanceOf(ChainError);
      expect(failed.e).toMatchObject({ code: 'reverted', reason: 'held != expectedHeld', txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
      expect((failed.e as Error).message).toMatch(/^Deposit reverted: held != expectedHeld \(the channel holds 1000, not 0/);
      expect(await chain.holdings(assetOf(), id)).toBe(1000n);
    } finally {
      await chain.provider.send('evm_setAutomine', [true]);
    }
  });
});

/** Bounded wait on a condition of the chain itself (the mempool), which offers no notification. */

describe('a deposit that is not mined in time', () => {
  it('fails with timeout; if it is mined later, a retry with the old expectedHeld reverts instead of paying twice', async () => {
    const [alice] = chain.parties;
    const service = serviceFor(keyOf(alice!), { txTimeoutMs: 300 });
    const id = channelId(twoPartyState(350n, ETH, 1000n, 0n));
    await chain.provider.send('evm_setAutomine', [false]);
    try {
      const e = await expectChainError(service.deposit({ asset: ETH, channelId: id, expectedHeld: 0n, amount: 1000n }), 'timeout');
      expect(e.message).toMatch(/^Deposit: transaction 0x[0-9a-f]{64} was not mined within 300 ms\. It may still be mined later\.$/);
      expect(e.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    } finally {
      await chain.provider.send('evm_setAutomine', [true]);
    }
    await chain.provider.send('evm_mine', []);
    expect(await chain.holdings(ETH, id)).toBe(1000n);
    const retry = await expectChainError(service.deposit({ asset: ETH, channelId: id, expectedHeld: 0n, amount: 1000n }), 'reverted');
    expect(retry.reason).toBe('held != expectedHeld');
    expect(await chain.holdings(ETH, id)).toBe(1000n);
  });
});

describe('balance checks before a deposit', () => {
  it('a fresh key with no ETH: insufficient-funds, no transaction sent', async () => {
    const fresh = Wallet.createRandom();
    const service = serviceFor(fresh.privateKey);
    const id = channelId(twoPartyState(300n, ETH, 1n, 1n));
    const e = await expectChainError(service.deposit({ asset: ETH, channelId: id, expectedHeld: 0n, amount: 5n * 10n ** 17n }), 'insufficient-funds');
    expect(e.message).toBe(`The funding account ${fresh.address.toLowerCase()} has 0.0 ETH but the deposit needs 0.5 ETH plus gas.`);
    expect(await nonceOf(fresh.address)).toBe(0);
    expect(await chain.holdings(ETH, id)).toBe(0n);
  });

  it('enough ETH for the amount but not for the gas: insufficient-funds, nothing sent', async () => {
    const fresh = Wallet.createRandom();
    await chain.provider.send('anvil_setBalance', [fresh.address, '0x' + (10n ** 16n).toString(16)]);
    const service = serviceFor(fresh.privateKey);
    const id = channelId(twoPartyState(301n, ETH, 1n, 1n));
    const e = await expectChainError(service.deposit({ asset: ETH, channelId: id, expectedHeld: 0n, amount: 10n ** 16n }), 'insufficient-funds');
    expect(e.message).toMatch(/has 0\.01 ETH but the deposit needs 0\.01 ETH plus up to 0\.\d+ ETH for gas\.$/);
    expect(await nonceOf(fresh.address)).toBe(0);
  });

  it('a fresh key with ETH but no tokens: insufficient-funds, no approval sent', async () => {
    const fresh = Wallet.createRandom();
    await chain.provider.send('anvil_setBalance', [fresh.address, '0x' + (10n ** 18n).toString(16)]);
    const service = serviceFor(fresh.privateKey);
    const id = channelId(twoPartyState(302n, token(), 1n, 1n));
    const e = await expectChainError(service.deposit({ asset: token(), channelId: id, expectedHeld: 0n, amount: 1234n }), 'insufficient-funds');
    expect(e.message).toBe(`The funding account ${fresh.address.toLowerCase()} has 0 base units of token ${token()} but the deposit needs 1234.`);
    expect(await nonceOf(fresh.address)).toBe(0);
  });

  it('tokens but no ETH for the approval and deposit gas: insufficient-funds, nothing sent', async () => {
    const fresh = Wallet.createRandom();
    await mined(chain.token.getFunction('mint')(fresh.address, 10n ** 18n));
    const service = serviceFor(fresh.privateKey);
    const id = channelId(twoPartyState(303n, token(), 1n, 1n));
    const e = await expectChainError(service.deposit({ asset: token(), channelId: id, expectedHeld: 0n, amount: 10n ** 18n }), 'insufficient-funds');
    expect(e.message).toMatch(/has 0\.0 ETH but the approval and the deposit needs up to 0\.\d+ ETH for gas\.$/);
    expect(await nonceOf(fresh.address)).toBe(0);
  });

  it('fundingAccount and tokenBalance report the account and its balances', async () => {
    const fresh = Wallet.createRandom();
    await chain.provider.send('anvil_setBalance', [fresh.address, '0x1234']);
    await mined(chain.token.getFunction('mint')(fresh.address, 777n));
    const service = serviceFor(fresh.privateKey);
    expect(await service.fundingAccount()).toEqual({ address: fresh.address.toLowerCase(), ethBalance: 0x1234n, tokenBalance: 777n });
    expect(await service.tokenBalance(token(), fresh.address.toLowerCase() as Address)).toBe(777n);
  });
});

describe('an unreachable RPC', () => {
  it('every call fails with unreachable, naming the RPC URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const service = serviceFor(ANVIL_KEYS[4], {}, url);
    const id = channelId(twoPartyState(400n, ETH, 1n, 1n));
    const e = await expectChainError(service.getHoldings(ETH, id), 'unreachable');
    expect(e.message).toMatch(new RegExp(`^The chain RPC at ${url.replace(/\./g, '\\.')} is unreachable`));
    await expectChainError(service.deposit({ asset: ETH, channelId: id, expectedHeld: 0n, amount: 1n }), 'unreachable');
    await expectChainError(service.fundingAccount(), 'unreachable');
  });

  it('the event poller reports the failure through onError and does not throw', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const errors = new Collector<unknown>();
    const service = serviceFor(ANVIL_KEYS[4], { onError: errors.push }, url);
    const stop = service.watch(() => [], () => undefined);
    unsubscribes.push(stop);
    const e = await errors.waitFor(() => true, 'a poll error');
    expect(e).toBeInstanceOf(ChainError);
    expect((e as ChainError).code).toBe('unreachable');
    stop();
  });
});

describe('events', () => {
  it('Deposited events are delivered once each, for the watched channels only', async () => {
    const [alice, bob] = chain.parties;
    const aliceService = serviceFor(keyOf(alice!));
    const bobService = serviceFor(keyOf(bob!));
    const watched = twoPartyState(500n, ETH, 300n, 200n);
    const other = twoPartyState(501n, ETH, 50n, 50n);
    const later = twoPartyState(502n, ETH, 9n, 9n);
    const [x, y, z] = [channelId(watched), channelId(other), channelId(later)];

    const ids = new Set<Bytes32>([x]);
    const events = new Collector<ChainEvent>();
    const otherEvents = new Collector<ChainEvent>();
    const watcher = serviceFor(ANVIL_KEYS[4]);
    unsubscribes.push(watcher.watch(() => ids, events.push), watcher.watch(() => [y], otherEvents.push));

    await depositInTurn(aliceService, watched, alice!);
    await depositInTurn(aliceService, other, alice!);
    await depositInTurn(bobService, watched, bob!);
    const second = await events.waitFor((e) => e.type === 'Deposited' && e.destinationHoldings === 500n, 'the second deposit into the watched channel');
    expect(second).toMatchObject({ type: 'Deposited', channelId: x, asset: ETH });

    // A channel joins the watched set; its deposit arriving proves the poller went past the earlier blocks.
    ids.add(z);
    await aliceService.deposit({ asset: ETH, channelId: z, expectedHeld: 0n, amount: 9n });
    await events.waitFor((e) => e.channelId === z, 'the deposit into the added channel');
    await otherEvents.waitFor((e) => e.channelId === y, 'the deposit into the other channel (second watcher)');

    const deposited = events.items.filter((e) => e.channelId === x);
    expect(deposited.map((e) => e.type === 'Deposited' && e.destinationHoldings)).toEqual([300n, 500n]);
    expect(events.items.filter((e) => e.channelId === y)).toEqual([]);
    expect(otherEvents.items.map((e) => e.channelId)).toEqual([y]);
    const keys = events.items.map((e) => `${e.txHash}:${e.logIndex}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(events.items.map((e) => e.blockNumber)).toEqual([...events.items.map((e) => e.blockNumber)].sort((p, q) => p - q));
  });

  it('with confirmations = 2, reads lag one block and events arrive only after one more block is mined', async () => {
    const [alice] = chain.parties;
    const sender = serviceFor(keyOf(alice!));
    const polls = new Collector<{ head: number; confirmedHead: number }>();
    const events = new Collector<ChainEvent>();
    const deep = serviceFor(ANVIL_KEYS[4], { confirmations: 2, onPoll: polls.push });
    const id = channelId(twoPartyState(600n, ETH, 1000n, 0n));
    unsubscribes.push(deep.watch(() => [id], events.push));

    const receipt = await sender.deposit({ asset: ETH, channelId: id, expectedHeld: 0n, amount: 1000n });
    // The poller has seen the deposit's block as the head, and delivered nothing.
    await polls.waitFor((p) => p.head >= receipt.blockNumber, 'a poll that sees the deposit block');
    expect(events.items).toEqual([]);
    expect(await sender.getHoldings(ETH, id)).toBe(1000n);
    expect(await deep.getHoldings(ETH, id)).toBe(0n);

    await chain.provider.send('evm_mine', []);
    const event = await events.waitFor((e) => e.type === 'Deposited', 'the deposit, one block deeper');
    expect(event).toMatchObject({ type: 'Deposited', channelId: id, blockNumber: receipt.blockNumber, txHash: receipt.hash, destinationHoldings: 1000n });
    expect(await deep.getHoldings(ETH, id)).toBe(1000n);
  });

  it('with confirmations = 2, a deposit resolves only once another block is mined on top of it', async () => {
    const [alice] = chain.parties;
    const deep = serviceFor(keyOf(alice!), { confirmations: 2 });
    const shallow = new Collector<ChainEvent>();
    const id = channelId(twoPartyState(601n, ETH, 1000n, 0n));
    unsubscribes.push(serviceFor(ANVIL_KEYS[4]).watch(() => [id], shallow.push));

    let minedExtraBlock = false;
    const pending = deep.deposit({ asset: ETH, channelId: id, expectedHeld: 0n, amount: 1000n }).then((r) => ({ r, minedExtraBlock }));
    // The deposit is mined (a one-confirmation watcher sees it) before the extra block exists.
    const seen = await shallow.waitFor((e) => e.type === 'Deposited', 'the deposit being mined');
    minedExtraBlock = true;
    await chain.provider.send('evm_mine', []);
    const { r, minedExtraBlock: afterMine } = await pending;
    expect(afterMine).toBe(true);
    expect(r.blockNumber).toBe(seen.blockNumber);
  });

  it('challenge and checkpoint: ChallengeRegistered (finalizesAt, candidate) and ChallengeCleared are decoded', async () => {
    const [alice, bob] = chain.parties;
    const events = new Collector<ChainEvent>();
    const watcher = serviceFor(ANVIL_KEYS[4]);
    const at = (turnNum: number, toBob: bigint): State => ({ ...twoPartyState(700n, ETH, 1000n - toBob, toBob), turnNum });
    const id = channelId(at(0, 0n));
    unsubscribes.push(watcher.watch(() => [id], events.push));

    const challenged = at(4, 10n);
    const receipt = await mined(
      chain.adjudicatorAs(alice!).getFunction('challenge')(fixedPartArg(challenged), [], signedVariablePartArg(signedBy(challenged, alice!.key, bob!.key)), signChallenge(hashState(challenged), alice!.key)),
    );
    const block = await chain.provider.getBlock(receipt.blockNumber);
    const registered = await events.waitFor((e) => e.type === 'ChallengeRegistered', 'ChallengeRegistered');
    expect(registered).toMatchObject({
      type: 'ChallengeRegistered',
      channelId: id,
      finalizesAt: block!.timestamp + 300,
      candidateTurnNum: 4,
      candidate: { turnNum: 4, isFinal: false, appData: '0x', outcome: challenged.outcome },
    });

    const newer = at(6, 20n);
    await mined(chain.adjudicatorAs(bob!).getFunction('checkpoint')(fixedPartArg(newer), [], signedVariablePartArg(signedBy(newer, alice!.key, bob!.key))));
    expect(await events.waitFor((e) => e.type === 'ChallengeCleared', 'ChallengeCleared')).toMatchObject({ type: 'ChallengeCleared', channelId: id, newTurnNumRecord: 6 });
  });
});

describe('cooperative close', () => {
  it('concludeAndTransferAllAssets pays out the final outcome; Concluded and AllocationUpdated are delivered', async () => {
    const [alice, bob] = chain.parties;
    const a = 4n * 10n ** 17n;
    const b = 10n ** 17n;
    const base = twoPartyState(800n, ETH, a, b);
    const id = channelId(base);
    await depositInTurn(serviceFor(keyOf(alice!)), base, alice!);
    await depositInTurn(serviceFor(keyOf(bob!)), base, bob!);

    // A third account (say the hub) submits the countersigned final state.
    const closer = serviceFor(ANVIL_KEYS[4]);
    const events = new Collector<ChainEvent>();
    unsubscribes.push(closer.watch(() => [id], events.push));
    const final: State = { ...base, turnNum: 9, isFinal: true, outcome: simpleExit(ETH, [[alice!.address, a - 12345n], [bob!.address, b + 12345n]]) };

    // A final state missing Bob's signature is refused before anything is sent.
    const e = await expectChainError(closer.concludeAndTransferAllAssets(signedBy(final, alice!.key)), 'reverted');
    expect(e.reason).toMatch(/unanimous/);

    const before = await Promise.all([chain.balanceOf(ETH, alice!.address), chain.balanceOf(ETH, bob!.address)]);
    const receipt = await closer.concludeAndTransferAllAssets(signedBy(final, alice!.key, bob!.key));
    const after = await Promise.all([chain.balanceOf(ETH, alice!.address), chain.balanceOf(ETH, bob!.address)]);
    expect(after[0]! - before[0]!).toBe(a - 12345n);
    expect(after[1]! - before[1]!).toBe(b + 12345n);
    expect(await closer.getHoldings(ETH, id)).toBe(0n);

    const concluded = await events.waitFor((ev) => ev.type === 'Concluded', 'Concluded');
    const updated = await events.waitFor((ev) => ev.type === 'AllocationUpdated', 'AllocationUpdated');
    const block = await chain.provider.getBlock(receipt.blockNumber);
    expect(concluded).toMatchObject({ channelId: id, blockNumber: receipt.blockNumber, txHash: receipt.hash, finalizedAt: block!.timestamp });
    expect(updated).toMatchObject({ channelId: id, txHash: receipt.hash, assetIndex: 0, initialHoldings: a + b, finalHoldings: 0n });
    expect(updated.logIndex).toBeGreaterThan(concluded.logIndex);
  });
});
