/**
 * Budgets and virtual channels in e2e: users on their dapp sites with the wallet connected and on
 * the hub's relay, budgets approved with the hub (ledger channels funded on chain), virtual
 * channels opened and paid. Shared by the specs that need them.
 */
import { type Browser, type Page, expect } from '@playwright/test';
import { config } from './chain.ts';
import { hubState } from './hub-process.ts';
import { E2E_DAPP_A_URL, E2E_DAPP_B_URL, E2E_WALLET_URL } from './paths.ts';
import { answerDialog, wallet } from './support.ts';

export { config, provider } from './chain.ts';
export const E18 = 10n ** 18n;
export const hex = (n: bigint) => `0x${n.toString(16)}` as `0x${string}`;

export interface User {
  page: Page;
  address: `0x${string}`;
  site: 'A' | 'B';
}

export async function user(browser: Browser, site: 'A' | 'B'): Promise<User> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await open(page, site);
  const accounts = page.evaluate(() => window.dapp.client!.requestAccounts());
  await answerDialog(page, 'connect-approve');
  const [address] = await accounts;
  await page.evaluate(() => window.dapp.connectRelay());
  return { page, address: address!.toLowerCase() as `0x${string}`, site };
}

export async function open(page: Page, site: 'A' | 'B'): Promise<void> {
  const base = site === 'A' ? E2E_DAPP_A_URL : E2E_DAPP_B_URL;
  await page.goto(`${base}/?wallet=${encodeURIComponent(`${E2E_WALLET_URL}/`)}&relay=${encodeURIComponent(config().relayUrl)}`);
  await page.evaluate(() => window.dapp.connect());
}

/** The user approves a budget with the hub in the wallet's dialog; resolves when it is funded. */
export async function approveBudget(u: User, send: bigint, receive: bigint) {
  const hub = hubState().address;
  const budget = u.page.evaluate(({ hub, send, receive }) => window.dapp.client!.requestBudget({ hub: hub as `0x${string}`, asset: '0x0000000000000000000000000000000000000000', sendAmount: send as `0x${string}`, receiveAmount: receive as `0x${string}`, challengeDuration: 600 }), { hub, send: hex(send), receive: hex(receive) });
  await expect(wallet(u.page).getByTestId('budget-deposit')).toContainText('ETH');
  await answerDialog(u.page, 'budget-approve');
  const b = await budget;
  expect(b.status).toBe('running');
  return b;
}

export const getBudget = (u: User) => u.page.evaluate((hub) => window.dapp.client!.getBudget({ hub: hub as `0x${string}` }), hubState().address);
export const getVirtual = (u: User, id: string) => u.page.evaluate((id) => window.dapp.client!.getVirtualChannel({ channelId: id as `0x${string}` }), id);

export async function createVirtual(payer: User, payee: User, amount: bigint): Promise<`0x${string}`> {
  const v = await payer.page.evaluate(({ payee, hub, amount }) => window.dapp.client!.createVirtualChannel({ payee: payee as `0x${string}`, hub: hub as `0x${string}`, amount: amount as `0x${string}` }), { payee: payee.address, hub: hubState().address, amount: hex(amount) });
  expect(v.status).toBe('running');
  return v.channelId;
}

/** `count` payments of varied sizes (in wei), one voucher each; returns their total. */
export async function pay(payer: User, channelId: string, count: number, from = 0): Promise<bigint> {
  const total = await payer.page.evaluate(
    async ({ id, count, from }) => {
      let t = 0n;
      for (let i = from; i < from + count; i++) {
        const amount = BigInt(1 + ((i * 7919) % 997)) * 1_000_000_000_000n;
        t += amount;
        await window.dapp.client!.pay({ channelId: id as `0x${string}`, amount: `0x${amount.toString(16)}` });
      }
      return `0x${t.toString(16)}`;
    },
    { id: channelId, count, from },
  );
  return BigInt(total);
}

