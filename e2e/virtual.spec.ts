/**
 * Virtual payment channels through the hub: two users in their own browser contexts on their own
 * dapp sites, plus the hub as its own process, against a real anvil. Both approve budgets (ledger
 * channels with the hub, funded on chain); from then on the payer opens channels to the payee,
 * pays and closes with no on-chain transaction at all, and the ledgers, then the withdrawals,
 * match to the wei.
 */
import { E18, type User, approveBudget, createVirtual, getBudget, getVirtual, hex, open, pay, provider, user } from './budgets.ts';
import { gasPaidAfter } from './chain.ts';
import { hubState, restartHub } from './hub-process.ts';
import { answerDialog, expect, test } from './support.ts';

test.describe.configure({ timeout: 240_000 });

/** The last budget_updated notification the user's dapp got. */
const lastBudgetNotice = (u: User) => u.page.evaluate(() => window.dapp.notifications.filter((n) => n.method === 'budget_updated').at(-1)?.params as { locked: string; send: string } | undefined);

/** What the payee's dapp was told it received on `channelId`: the last payment_received total. */
const receivedTotal = (payee: User, channelId: string) =>
  payee.page.evaluate((id) => {
    const last = window.dapp.notifications.filter((n) => n.method === 'payment_received' && (n.params as { channelId: string }).channelId === id).at(-1);
    return last ? BigInt((last.params as { total: string }).total).toString() : '0';
  }, channelId);

async function nonces(addresses: string[]): Promise<number[]> {
  const p = provider();
  return Promise.all(addresses.map((a) => p.getTransactionCount(a)));
}

test('budgets, then a virtual channel with 1,000 payments and a close with no on-chain transaction; ledgers and withdrawals exact', async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  await approveBudget(alice, E18, 0n);
  await approveBudget(bob, 0n, E18);
  const hub = hubState().address;
  const p = provider();
  const blockBefore = await p.getBlockNumber();
  const noncesBefore = await nonces([alice.address, bob.address, hub]);

  const channelId = await createVirtual(alice, bob, E18 / 2n);
  expect((await getBudget(alice)).locked).toBe(hex(E18 / 2n));
  // The dapp hears of the budget change too.
  await expect.poll(() => lastBudgetNotice(alice)).toMatchObject({ locked: hex(E18 / 2n), send: hex(E18 / 2n) });
  const total = await pay(alice, channelId, 1_000);
  await expect.poll(() => receivedTotal(bob, channelId), { timeout: 30_000 }).toBe(total.toString());
  expect(BigInt((await getVirtual(bob, channelId)).paid)).toBe(total);
  await bob.page.evaluate((id) => window.dapp.client!.closeVirtualChannel({ channelId: id as `0x${string}` }), channelId);
  await expect.poll(async () => (await getVirtual(alice, channelId)).status, { timeout: 30_000 }).toBe('closed');

  // Not one transaction from open to close.
  expect(await p.getBlockNumber()).toBe(blockBefore);
  expect(await nonces([alice.address, bob.address, hub])).toEqual(noncesBefore);
  // The ledgers credit the payer and the payee exactly.
  await expect.poll(async () => BigInt((await getBudget(alice)).send)).toBe(E18 - total);
  await expect.poll(async () => BigInt((await getBudget(bob)).send)).toBe(total);
  expect((await getBudget(alice)).locked).toBe('0x0');
  await expect.poll(() => lastBudgetNotice(bob)).toMatchObject({ locked: '0x0', send: hex(total) });

  // Closing the budgets withdraws exactly that on chain (less the gas of whoever concludes).
  for (const [u, expected] of [[alice, E18 - total], [bob, total]] as const) {
    const before = await p.getBalance(u.address);
    const closing = u.page.evaluate((hub) => window.dapp.client!.closeBudget({ hub: hub as `0x${string}` }), hub);
    await answerDialog(u.page, 'budget-close-approve');
    await closing;
    await expect.poll(async () => (await getBudget(u)).status, { timeout: 30_000 }).toBe('closed');
    const after = await p.getBalance(u.address);
    const gas = await gasPaidAfter(u.address, blockBefore);
    expect(after - before + gas).toBe(expected);
  }
});


test('five virtual channels opened at once over the same ledgers all complete', async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  await approveBudget(alice, E18, 0n);
  await approveBudget(bob, 0n, E18);
  const ids = await Promise.all(Array.from({ length: 5 }, () => createVirtual(alice, bob, E18 / 10n)));
  expect(new Set(ids).size).toBe(5);
  expect(BigInt((await getBudget(alice)).locked)).toBe(E18 / 2n);
  const paid = await Promise.all(ids.map((id, i) => pay(alice, id, 5, i * 100)));
  for (const [i, id] of ids.entries()) await expect.poll(() => receivedTotal(bob, id)).toBe(paid[i]!.toString());
  await Promise.all(ids.map((id) => alice.page.evaluate((id) => window.dapp.client!.closeVirtualChannel({ channelId: id as `0x${string}` }), id)));
  const sum = paid.reduce((a, b) => a + b, 0n);
  await expect.poll(async () => BigInt((await getBudget(bob)).send), { timeout: 30_000 }).toBe(sum);
  expect(BigInt((await getBudget(alice)).send)).toBe(E18 - sum);
});

test("reloading the payee's wallet during the stream loses no voucher", async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  await approveBudget(alice, E18, 0n);
  await approveBudget(bob, 0n, E18);
  const channelId = await createVirtual(alice, bob, E18 / 2n);
  const streaming = pay(alice, channelId, 300);
  await expect.poll(async () => BigInt(await receivedTotal(bob, channelId)) > 0n).toBe(true);
  await bob.page.reload();
  await open(bob.page, bob.site);
  await bob.page.evaluate(() => window.dapp.connectRelay());
  const total = await streaming;
  await expect.poll(async () => BigInt((await getVirtual(bob, channelId)).paid), { timeout: 30_000 }).toBe(total);
  await bob.page.evaluate((id) => window.dapp.client!.closeVirtualChannel({ channelId: id as `0x${string}` }), channelId);
  await expect.poll(async () => BigInt((await getBudget(bob)).send), { timeout: 30_000 }).toBe(total);
});

test('restarting the hub midway loses nothing: payments go on, and the close credits both ledgers', async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  await approveBudget(alice, E18, 0n);
  await approveBudget(bob, 0n, E18);
  const channelId = await createVirtual(alice, bob, E18 / 2n);
  const first = await pay(alice, channelId, 100);
  await restartHub();
  const second = await pay(alice, channelId, 100, 100);
  await expect.poll(async () => BigInt((await getVirtual(bob, channelId)).paid), { timeout: 30_000 }).toBe(first + second);
  await alice.page.evaluate((id) => window.dapp.client!.closeVirtualChannel({ channelId: id as `0x${string}` }), channelId);
  await expect.poll(async () => BigInt((await getBudget(bob)).send), { timeout: 60_000 }).toBe(first + second);
  expect(BigInt((await getBudget(alice)).send)).toBe(E18 - first - second);
});
