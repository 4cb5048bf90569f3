/**
 * The sad path of a direct channel on the real adjudicator: a challenge with a supported state,
 * a checkpoint with a newer state that clears a stale challenge, and, after the challenge
 * duration has passed (anvil time travel), transferAllAssets paying the challenged outcome.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Address,
  type Bytes32,
  type State,
  bytesToHex,
  channelId,
  channelStatus,
  fixedPartArg,
  hashOutcome,
  hashState,
  outcomeArg,
  signChallenge,
  signedVariablePartArg,
  unpackStatus,
} from '../core/src/index.ts';
import { ETH, type NitroChain, mined, signedBy, simpleExit, startNitroChain } from './testing/nitro-fixture.ts';

let chain: NitroChain;
beforeAll(async () => {
  chain = await startNitroChain();
});
afterAll(async () => chain?.stop());

describe.each([
  ['ETH', () => ETH],
  ['ERC20', () => chain.addresses.token.toLowerCase() as Address],
])('challenge, checkpoint and exit with %s', (_label, assetOf) => {
  it('clears a stale challenge with a checkpoint, then exits on a later challenge after the timeout', async () => {
    const asset = assetOf();
    const [alice, bob] = chain.parties;
    const total = 10n ** 16n;
    const at = (turnNum: number, toBob: bigint): State => ({
      participants: [alice!.address, bob!.address],
      channelNonce: asset === ETH ? 30n : 31n,
      appDefinition: chain.addresses.consensusApp.toLowerCase() as Address,
      challengeDuration: 1000,
      outcome: simpleExit(asset, [
        [alice!.address, total - toBob],
        [bob!.address, toBob],
      ]),
      appData: '0x',
      turnNum,
      isFinal: false,
    });
    const id = channelId(at(0, 0n));
    // Alice funds the whole channel.
    if (asset === ETH) {
      await mined(chain.adjudicatorAs(alice!).getFunction('deposit')(asset, id, 0n, total, { value: total }));
    } else {
      await mined(chain.token.getFunction('mint')(alice!.address, total));
      await mined(chain.tokenAs(alice!).getFunction('approve')(chain.addresses.adjudicator, total));
      await mined(chain.adjudicatorAs(alice!).getFunction('deposit')(asset, id, 0n, total));
    }

    // Alice challenges with a stale state (turn 3: Bob has 100 wei).
    const stale = at(3, 100n);
    await mined(chain.adjudicatorAs(alice!).getFunction('challenge')(fixedPartArg(stale), [], signedVariablePartArg(signedBy(stale, alice!.key, bob!.key)), signChallenge(hashState(stale), alice!.key)));
    expect(unpackStatus(await chain.adjudicator.getFunction('statusOf')(id)).turnNumRecord).toBe(3);
    expect(unpackStatus(await chain.adjudicator.getFunction('statusOf')(id)).finalizesAt).toBeGreaterThan(0);

    // Bob answers with a newer supported state (turn 8: Bob has 5000 wei): the challenge is cleared.
    const newer = at(8, 5000n);
    await mined(chain.adjudicatorAs(bob!).getFunction('checkpoint')(fixedPartArg(newer), [], signedVariablePartArg(signedBy(newer, alice!.key, bob!.key))));
    const cleared = unpackStatus(await chain.adjudicator.getFunction('statusOf')(id));
    expect(cleared).toMatchObject({ turnNumRecord: 8, finalizesAt: 0 });
    // The stale state can no longer be used to challenge.
    await expect(
      chain.adjudicatorAs(alice!).getFunction('challenge')(fixedPartArg(stale), [], signedVariablePartArg(signedBy(stale, alice!.key, bob!.key)), signChallenge(hashState(stale), alice!.key)),
    ).rejects.toThrow(/turnNumRecord decreased/);

    // Bob challenges with the newest state and nobody answers.
    const latest = at(9, 6000n);
    const latestHash = hashState(latest);
    const receipt = await mined(chain.adjudicatorAs(bob!).getFunction('challenge')(fixedPartArg(latest), [], signedVariablePartArg(signedBy(latest, alice!.key, bob!.key)), signChallenge(latestHash, bob!.key)));
    const block = await chain.provider.getBlock(receipt.blockNumber);
    expect(await chain.adjudicator.getFunction('statusOf')(id)).toBe(
      channelStatus({ turnNumRecord: 9, finalizesAt: block!.timestamp + 1000, stateHash: latestHash, outcomeHash: bytesToHex(hashOutcome(latest.outcome)) as Bytes32 }),
    );
    // Not finalized yet: transfer is refused.
    await expect(chain.adjudicator.getFunction('transferAllAssets')(id, outcomeArg(latest.outcome), latestHash)).rejects.toThrow(/not finalized/);

    await chain.increaseTime(1001);
    const before = await Promise.all([chain.balanceOf(asset, alice!.address), chain.balanceOf(asset, bob!.address)]);
    await mined(chain.adjudicator.getFunction('transferAllAssets')(id, outcomeArg(latest.outcome), latestHash));
    const after = await Promise.all([chain.balanceOf(asset, alice!.address), chain.balanceOf(asset, bob!.address)]);
    expect(after[0]! - before[0]!).toBe(total - 6000n);
    expect(after[1]! - before[1]!).toBe(6000n);
    expect(await chain.holdings(asset, id)).toBe(0n);
    // Everything paid out: the adjudicator deletes the status.
    expect(BigInt(await chain.adjudicator.getFunction('statusOf')(id))).toBe(0n);
  });
});
