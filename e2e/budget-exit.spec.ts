/**
 * The hub vanishes in the middle of a virtual channel: each user exits their budget on chain
 * without it — the ledger and the virtual channel challenged (the payee with the largest voucher
 * it holds), reclaimed and withdrawn — approving it once in the wallet. The payee gets exactly
 * what the vouchers prove, the payer the rest. The hub is killed for the test and started again
 * on its store afterwards (other specs use it).
 */
import { E18, type User, approveBudget, createVirtual, getVirtual, hex, pay, provider, user } from './budgets.ts';
import { gasPaidAfter } from './chain.ts';
import { hubState, startHubProcess } from './hub-process.ts';
import { answerDialog, expect, test, wallet } from './support.ts';

test.describe.configure({ timeout: 240_000 });

type ExitNotice = { stage: string; finalizesAt: number };
const exitNotices = (u: User) => u.page.evaluate(() => window.dapp.notifications.filter((n) => n.method === 'budget_exit_updated').map((n) => n.params as { stage: string; finalizesAt: number }));

/** The user's dapp asks to exit the budget; the user approves in the wallet. */
async function exitBudget(u: User): Promise<ExitNotice> {
  const exit = u.page.evaluate((hub) => window.dapp.client!.exitBudget({ hub: hub as `0x${string}` }), hubState().address);
  await expect(wallet(u.page).getByTestId('budget-exit-payout')).toBeVisible();
  await answerDialog(u.page, 'budget-exit-approve');
  return exit;
}


test('the hub is gone: payee and payer exit their budgets on chain; the payee gets what the vouchers prove, the payer the rest', async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  const deposit = E18 / 10n;
  await approveBudget(alice, deposit, 0n);
  await approveBudget(bob, 0n, deposit);
  const channelId = await createVirtual(alice, bob, deposit / 2n);
  const paid = await pay(alice, channelId, 25);
  await expect.poll(async () => BigInt((await getVirtual(bob, channelId)).paid), { timeout: 30_000 }).toBe(paid);

  const hub = hubState();
  process.kill(hub.pid, 'SIGKILL');
  try {
    const p = provider();
    const startBlock = await p.getBlockNumber();
    const before = { alice: await p.getBalance(alice.address), bob: await p.getBalance(bob.address) };

    // The payee first: its redemption of the largest voucher is what V pays out by.
    expect(await exitBudget(bob)).toMatchObject({ hub: hub.address, stage: 'challenging' });
    await expect.poll(async () => (await exitNotices(bob)).map((e) => e.stage), { timeout: 60_000 }).toContain('waiting');
    await expect(wallet(bob.page).getByTestId('budget-exit-countdown')).toHaveText(/Finalizes in about/);
    await answerDialog(bob.page, 'budget-exit-status-dismiss');
    // Asking again returns the exit under way, without a second dialog.
    expect(await bob.page.evaluate((hub) => window.dapp.client!.exitBudget({ hub: hub as `0x${string}` }), hub.address)).toMatchObject({ stage: 'waiting' });
    // A budget being exited funds no new virtual channel.
    const refused = await alice.page.evaluate(({ payee, hub }) => window.dapp.client!.createVirtualChannel({ payee: payee as `0x${string}`, hub: hub as `0x${string}`, amount: '0x1' }).then(() => 0, (e: { code: number }) => e.code), { payee: bob.address, hub: hub.address });
    expect(refused).not.toBe(0);

    expect(await exitBudget(alice)).toMatchObject({ stage: 'challenging' });
    await expect.poll(async () => (await exitNotices(alice)).map((e) => e.stage), { timeout: 60_000 }).toContain('waiting');

    // Every challenge finalizes; the wallets reclaim and withdraw by themselves.
    const finalizesAt = Math.max(...[...(await exitNotices(alice)), ...(await exitNotices(bob))].map((e) => e.finalizesAt));
    const now = (await p.getBlock('latest'))!.timestamp;
    await p.send('evm_increaseTime', [finalizesAt - now + 1]);
    await p.send('evm_mine', []);
    for (const u of [alice, bob]) await expect.poll(async () => (await exitNotices(u)).map((e) => e.stage), { timeout: 90_000 }).toContain('withdrawn');

    const gas = { alice: await gasPaidAfter(alice.address, startBlock), bob: await gasPaidAfter(bob.address, startBlock) };
    expect((await p.getBalance(bob.address)) - before.bob + gas.bob).toBe(paid);
    expect((await p.getBalance(alice.address)) - before.alice + gas.alice).toBe(deposit - paid);
    expect(hex(paid)).toBe((await getVirtual(bob, channelId)).paid);
  } finally {
    await startHubProcess(hub);
    // Their wallets would go on polling the chain through the specs after this one.
    await Promise.all([alice, bob].map((u) => u.page.context().close()));
  }
});
