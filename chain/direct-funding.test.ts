/**
 * Direct funding against the real adjudicator: deposits in turn (each participant waits until
 * the holdings reach its safety threshold, and passes expectedHeld), then a final state
 * countersigned by both and concludeAndTransferAllAssets pays out exactly the final outcome.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Address, type State, channelId, depositDecision, fixedPartArg, signedVariablePartArg } from '../core/src/index.ts';
import { addressToDestination } from '../core/src/outcome.ts';
import { ETH, type NitroChain, type Party, mined, signedBy, simpleExit, startNitroChain } from './testing/nitro-fixture.ts';

let chain: NitroChain;
beforeAll(async () => {
  chain = await startNitroChain();
});
afterAll(async () => chain?.stop());

async function depositInTurn(asset: Address, state: State, party: Party): Promise<'deposited' | 'waited'> {
  const id = channelId(state);
  const held = await chain.holdings(asset, id);
  const decision = depositDecision(state.outcome[0]!, addressToDestination(party.address), held);
  if (decision.kind !== 'deposit') return 'waited';
  if (asset !== ETH) await mined(chain.tokenAs(party).getFunction('approve')(chain.addresses.adjudicator, decision.amount));
  await mined(
    chain.adjudicatorAs(party).getFunction('deposit')(asset, id, decision.expectedHeld, decision.amount, asset === ETH ? { value: decision.amount } : {}),
  );
  return 'deposited';
}

describe.each([
  ['ETH', () => ETH],
  ['ERC20', () => chain.addresses.token.toLowerCase() as Address],
])('direct funding and cooperative close with %s', (_label, assetOf) => {
  it('deposits in turn, then concludeAndTransferAllAssets pays out the final outcome to the wei', async () => {
    const asset = assetOf();
    const [alice, bob] = chain.parties;
    const a = 3n * 10n ** 17n + 12345n;
    const b = 2n * 10n ** 17n + 678n;
    if (asset !== ETH) {
      for (const p of [alice!, bob!]) await mined(chain.token.getFunction('mint')(p.address, 10n ** 18n));
    }
    const base: State = {
      participants: [alice!.address, bob!.address],
      channelNonce: asset === ETH ? 10n : 11n,
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
    const id = channelId(base);

    // Bob is second: his deposit is not safe until Alice's is in.
    expect(await depositInTurn(asset, base, bob!)).toBe('waited');
    expect(await depositInTurn(asset, base, alice!)).toBe('deposited');
    expect(await chain.holdings(asset, id)).toBe(a);
    // A repeated attempt (say after a reload) deposits nothing more.
    expect(await depositInTurn(asset, base, alice!)).toBe('waited');
    expect(await depositInTurn(asset, base, bob!)).toBe('deposited');
    expect(await chain.holdings(asset, id)).toBe(a + b);

    // A stale expectedHeld is refused by the contract, so a raced deposit cannot overpay.
    await expect(
      chain.adjudicatorAs(bob!).getFunction('deposit')(asset, id, a, 1n, asset === ETH ? { value: 1n } : {}),
    ).rejects.toThrow(/held != expectedHeld/);

    // Updates move 1234 wei to Bob; the final state is countersigned and concluded by a third party.
    const final: State = { ...base, turnNum: 7, isFinal: true, outcome: simpleExit(asset, [[alice!.address, a - 1234n], [bob!.address, b + 1234n]]) };
    const before = await Promise.all([chain.balanceOf(asset, alice!.address), chain.balanceOf(asset, bob!.address)]);
    const receipt = await mined(chain.adjudicator.getFunction('concludeAndTransferAllAssets')(fixedPartArg(final), signedVariablePartArg(signedBy(final, alice!.key, bob!.key))));
    const after = await Promise.all([chain.balanceOf(asset, alice!.address), chain.balanceOf(asset, bob!.address)]);
    expect(after[0]! - before[0]!).toBe(a - 1234n);
    expect(after[1]! - before[1]!).toBe(b + 1234n);
    expect(await chain.holdings(asset, id)).toBe(0n);
    expect(receipt.gasUsed).toBeGreaterThan(0n);
  });

  it('refuses to conclude a final state missing a signature', async () => {
    const asset = assetOf();
    const [alice, bob] = chain.parties;
    const final: State = {
      participants: [alice!.address, bob!.address],
      channelNonce: asset === ETH ? 20n : 21n,
      appDefinition: chain.addresses.consensusApp.toLowerCase() as Address,
      challengeDuration: 300,
      outcome: simpleExit(asset, [[alice!.address, 1n], [bob!.address, 1n]]),
      appData: '0x',
      turnNum: 3,
      isFinal: true,
    };
    await expect(
      chain.adjudicator.getFunction('concludeAndTransferAllAssets')(fixedPartArg(final), signedVariablePartArg(signedBy(final, alice!.key))),
    ).rejects.toThrow(/unanimous/);
  });
});
