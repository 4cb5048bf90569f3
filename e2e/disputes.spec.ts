/**
 * Disputes in the browser: a user whose counterparty has vanished challenges the channel from the
 * dapp, approves it in the wallet, watches the countdown, and gets the channel's latest outcome
 * paid out on chain once the challenge period is over — with no step of their own after the
 * approval. A real anvil; its clock is moved forward instead of waiting out the period.
 */
import { gasPaidAfter, provider } from './chain.ts';
import { ETH, ethBalance, open, user } from './direct.ts';
import { answerDialog, expect, test, wallet } from './support.ts';

test.describe.configure({ timeout: 120_000 });


async function nonce(address: string): Promise<number> {
  return provider().getTransactionCount(address);
}

test('the counterparty vanishes: the user challenges, sees the countdown, and is paid the latest outcome after the period', async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  const start: [bigint, bigint] = [3n * 10n ** 16n, 10n ** 16n];
  const channelId = await open(alice, bob, ETH, start);
  // One update: Alice pays Bob; both store it countersigned.
  const latest: [bigint, bigint] = [start[0] - 12_345n, start[1] + 12_345n];
  await alice.page.evaluate(({ channelId, balances }) => window.dapp.client!.updateChannel({ channelId: channelId as `0x${string}`, balances: balances as `0x${string}`[] }), {
    channelId,
    balances: latest.map((b) => `0x${b.toString(16)}`),
  });
  const { challengeDuration } = await alice.page.evaluate((channelId) => window.dapp.client!.getChannel({ channelId: channelId as `0x${string}` }), channelId);

  // Bob is gone for good.
  await bob.page.context().close();
  const before = { alice: await ethBalance(alice.address), bob: await ethBalance(bob.address), nonce: await nonce(alice.address), block: await provider().getBlockNumber() };

  // Alice's dapp asks; the wallet shows what she gets and how long it takes; she approves.
  const challenged = alice.page.evaluate((channelId) => window.dapp.client!.challengeChannel({ channelId: channelId as `0x${string}` }), channelId);
  await expect(wallet(alice.page).getByTestId('challenge-payout')).toBeVisible();
  await answerDialog(alice.page, 'challenge-approve');
  const registered = await challenged;
  expect(registered).toMatchObject({ channelId, stage: 'registered', challenger: 'us', turnNum: 2 });
  expect(registered.finalizesAt).toBeGreaterThan(0);
  // The wallet tells her, with a countdown; the dapp heard it too.
  await expect(wallet(alice.page).getByTestId('challenge-countdown')).toHaveText(/Finalizes in about/);
  await expect.poll(() => alice.page.evaluate(() => window.dapp.notifications.filter((n) => n.method === 'challenge_updated').map((n) => (n.params as { stage: string }).stage))).toContain('registered');
  expect(await alice.page.evaluate((channelId) => window.dapp.client!.getChannel({ channelId: channelId as `0x${string}` }).then((c) => c.status), channelId)).toBe('challenged');
  await answerDialog(alice.page, 'challenge-status-dismiss');

  // The period passes on chain; the wallet withdraws by itself.
  await provider().send('evm_increaseTime', [challengeDuration + 1]);
  await provider().send('evm_mine', []);
  await expect
    .poll(() => alice.page.evaluate(() => window.dapp.notifications.filter((n) => n.method === 'challenge_updated').map((n) => (n.params as { stage: string }).stage)), { timeout: 60_000 })
    .toContain('withdrawn');
  await expect.poll(() => alice.page.evaluate((channelId) => window.dapp.client!.getChannel({ channelId: channelId as `0x${string}` }).then((c) => c.status), channelId)).toBe('closed');

  // Exactly two transactions from Alice (the challenge and the transfer), and both paid exactly.
  expect(await nonce(alice.address)).toBe(before.nonce + 2);
  const gas = await gasPaidAfter(alice.address, before.block);
  expect((await ethBalance(alice.address)) - before.alice + gas).toBe(latest[0]);
  expect((await ethBalance(bob.address)) - before.bob).toBe(latest[1]);
  await alice.page.context().close();
});
