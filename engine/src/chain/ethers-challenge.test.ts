/**
 * The chain service's dispute calls against a real anvil with the real NitroAdjudicator:
 * `challenge`, `statusOf` (the adjudicator's status word, unpacked, with the block's time),
 * `checkpoint` clearing a stale challenge, and `transferAllAssets` after the timeout paying the
 * challenged outcome to the wei. Refusals are ChainErrors that send nothing.
 */
import { type JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_KEYS } from '../../../chain/anvil.ts';
import { ETH, type NitroChain, type Party, signedBy, simpleExit, startNitroChain } from '../../../chain/testing/nitro-fixture.ts';
import { type Address, PrivateKey, type State, channelId, hashState, signChallenge } from '../../../core/src/index.ts';
import { ChainError } from './errors.ts';
import { createEthersChainService, createJsonRpcProvider } from './ethers-chain.ts';
import type { ChainService } from './types.ts';

let chain: NitroChain;
const providers: JsonRpcProvider[] = [];

beforeAll(async () => {
  chain = await startNitroChain();
});
afterAll(async () => {
  for (const p of providers) p.destroy();
  await chain?.stop();
});

function serviceFor(key: string): ChainService {
  const p = createJsonRpcProvider(chain.anvil.url, 31337);
  providers.push(p);
  return createEthersChainService({ provider: p, signer: new Wallet(key, p), addresses: { adjudicator: chain.addresses.adjudicator }, pollIntervalMs: 20 });
}

const keyOf = (p: Party): string => ANVIL_KEYS[chain.parties.indexOf(p) + 1]!;
const nonceOf = (address: string): Promise<number> => chain.provider.getTransactionCount(address, 'pending');

async function chainError(p: Promise<unknown>): Promise<ChainError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChainError);
  return e as ChainError;
}

describe('challenge, checkpoint, statusOf and transferAllAssets through the chain service', () => {
  it('a stale challenge is cleared by a checkpoint; a later challenge finalizes and pays out exactly', async () => {
    const [alice, bob] = chain.parties as [Party, Party];
    const aliceService = serviceFor(keyOf(alice));
    const bobService = serviceFor(keyOf(bob));
    const total = 10n ** 16n;
    const at = (turnNum: number, toBob: bigint): State => ({
      participants: [alice.address, bob.address],
      channelNonce: 77n,
      appDefinition: chain.addresses.consensusApp.toLowerCase() as Address,
      challengeDuration: 600,
      outcome: simpleExit(ETH, [
        [alice.address, total - toBob],
        [bob.address, toBob],
      ]),
      appData: '0x',
      turnNum,
      isFinal: false,
    });
    const id = channelId(at(0, 0n));
    await aliceService.deposit({ asset: ETH, channelId: id, expectedHeld: 0n, amount: total });
    expect(await aliceService.statusOf(id)).toMatchObject({ turnNumRecord: 0, finalizesAt: 0, fingerprint: 0n });

    // Bob challenges with a stale state (turn 3).
    const stale = signedBy(at(3, 100n), alice.key, bob.key);
    const receipt = await bobService.challenge({ candidate: stale, challengerSig: signChallenge(hashState(stale.state), bob.key) });
    const block = await chain.provider.getBlock(receipt.blockNumber);
    const registered = await aliceService.statusOf(id);
    expect(registered).toMatchObject({ turnNumRecord: 3, finalizesAt: block!.timestamp + 600 });
    expect(registered.blockTimestamp).toBeGreaterThanOrEqual(block!.timestamp);
    expect(registered.fingerprint).not.toBe(0n);

    // A challenge signed by someone outside the channel is refused before anything is sent.
    const mallory = PrivateKey.random();
    const before = await nonceOf(bob.address);
    const refused = await chainError(bobService.challenge({ candidate: signedBy(at(4, 100n), alice.key, bob.key), challengerSig: signChallenge(hashState(at(4, 100n)), mallory) }));
    expect(refused.code).toBe('reverted');
    expect(await nonceOf(bob.address)).toBe(before);

    // Alice answers with the newer supported state (turn 8).
    const newer = signedBy(at(8, 5000n), alice.key, bob.key);
    await aliceService.checkpoint({ candidate: newer });
    expect(await aliceService.statusOf(id)).toMatchObject({ turnNumRecord: 8, finalizesAt: 0 });
    // A checkpoint with a state not newer than the record is refused.
    const again = await chainError(aliceService.checkpoint({ candidate: newer }));
    expect(again.code).toBe('reverted');
    expect(again.reason).toMatch(/turnNumRecord not increased/);

    // Alice challenges with the latest state; not finalized yet: the withdrawal is refused.
    const latest = signedBy(at(9, 6000n), alice.key, bob.key);
    const stateHash = hashState(latest.state);
    await aliceService.challenge({ candidate: latest, challengerSig: signChallenge(stateHash, alice.key) });
    const early = await chainError(aliceService.transferAllAssets({ channelId: id, outcome: latest.state.outcome, stateHash }));
    expect(early.reason).toMatch(/not finalized/);

    await chain.increaseTime(601);
    const status = await aliceService.statusOf(id);
    expect(status.finalizesAt).toBeGreaterThan(0);
    expect(status.finalizesAt).toBeLessThanOrEqual(status.blockTimestamp);
    const balances = await Promise.all([chain.balanceOf(ETH, alice.address), chain.balanceOf(ETH, bob.address)]);
    // Bob withdraws (he pays the gas; Alice's balance changes by exactly her share).
    const paid = await bobService.transferAllAssets({ channelId: id, outcome: latest.state.outcome, stateHash });
    const tx = await chain.provider.getTransactionReceipt(paid.hash);
    const after = await Promise.all([chain.balanceOf(ETH, alice.address), chain.balanceOf(ETH, bob.address)]);
    expect(after[0]! - balances[0]!).toBe(total - 6000n);
    expect(after[1]! - balances[1]! + tx!.gasUsed * tx!.gasPrice).toBe(6000n);
    expect(await aliceService.getHoldings(ETH, id)).toBe(0n);
    // Paid out in full: the adjudicator deletes the status.
    expect(await aliceService.statusOf(id)).toMatchObject({ turnNumRecord: 0, finalizesAt: 0, fingerprint: 0n });
  });

  it('a key with no ETH for the gas: insufficient-funds, nothing sent', async () => {
    const [alice, bob] = chain.parties as [Party, Party];
    const broke = PrivateKey.random();
    const service = serviceFor(`0x${Buffer.from(broke.exportBytes()).toString('hex')}`);
    const state: State = {
      participants: [alice.address, bob.address],
      channelNonce: 78n,
      appDefinition: chain.addresses.consensusApp.toLowerCase() as Address,
      challengeDuration: 600,
      outcome: simpleExit(ETH, [[alice.address, 0n]]),
      appData: '0x',
      turnNum: 2,
      isFinal: false,
    };
    const e = await chainError(service.challenge({ candidate: signedBy(state, alice.key, bob.key), challengerSig: signChallenge(hashState(state), alice.key) }));
    expect(e.code).toBe('insufficient-funds');
    expect(await nonceOf(broke.address)).toBe(0);
  });
});
