/**
 * Direct channels between two users in e2e: each user a fresh browser context on a dapp site,
 * the wallet connected and on the hub's relay; opening and funding a channel between two users.
 * Shared by the specs that need a funded direct channel.
 */
import { type Browser, type Page, expect } from '@playwright/test';
import { config } from './chain.ts';
import { E2E_DAPP_A_URL, E2E_DAPP_B_URL, E2E_WALLET_URL } from './paths.ts';
import { answerDialog, wallet } from './support.ts';

export { config, ethBalance } from './chain.ts';
export const ETH = '0x0000000000000000000000000000000000000000';

export interface User {
  page: Page;
  address: string;
}

/**
 * A user: a fresh browser context on a dapp site, wallet connected and on the relay. `via`: who
 * carries the wallet's protocol messages to the relay (see the dapp's connectRelay).
 */
export async function user(browser: Browser, site: 'A' | 'B', via: 'wallet' | 'page' = 'wallet'): Promise<User> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const base = site === 'A' ? E2E_DAPP_A_URL : E2E_DAPP_B_URL;
  await page.goto(`${base}/?wallet=${encodeURIComponent(`${E2E_WALLET_URL}/`)}&relay=${encodeURIComponent(config().relayUrl)}`);
  await page.evaluate(() => window.dapp.connect());
  const accounts = page.evaluate(() => window.dapp.client!.requestAccounts());
  await answerDialog(page, 'connect-approve');
  const [address] = await accounts;
  await page.evaluate((via) => window.dapp.connectRelay(via), via);
  return { page, address: address! };
}

export async function reopen(u: User, site: 'A' | 'B'): Promise<void> {
  await u.page.reload();
  const base = site === 'A' ? E2E_DAPP_A_URL : E2E_DAPP_B_URL;
  await expect(u.page).toHaveURL(new RegExp(`^${base}`));
  await u.page.evaluate(() => window.dapp.connect());
  await u.page.evaluate(() => window.dapp.connectRelay());
}

export const status = (u: User, channelId: string) => u.page.evaluate((channelId) => window.dapp.client!.getChannel({ channelId: channelId as `0x${string}` }).then((c) => c.status), channelId);

export async function proposedTo(u: User): Promise<string> {
  await expect.poll(() => u.page.evaluate(() => window.dapp.notifications.filter((n) => n.method === 'channel_proposed').length)).toBeGreaterThan(0);
  return u.page.evaluate(() => (window.dapp.notifications.filter((n) => n.method === 'channel_proposed').at(-1)!.params as { channelId: string }).channelId);
}

/** Opens a channel from `a` to `b` and returns its id once both see it running. */
export async function open(a: User, b: User, asset: string, amounts: [bigint, bigint], opts: { reloadDuringFunding?: User; site?: 'A' | 'B' } = {}): Promise<string> {
  const created = a.page.evaluate(
    ({ counterparty, asset, amount, counterpartyAmount }) => window.dapp.client!.createChannel({ counterparty: counterparty as `0x${string}`, asset: asset as `0x${string}`, amount: amount as `0x${string}`, counterpartyAmount: counterpartyAmount as `0x${string}` }),
    { counterparty: b.address, asset, amount: `0x${amounts[0].toString(16)}`, counterpartyAmount: `0x${amounts[1].toString(16)}` },
  );
  await expect(wallet(a.page).getByTestId('fund-dialog')).toBeVisible();
  await expect(wallet(a.page).getByTestId('fund-counterparty')).toHaveText(new RegExp(b.address.slice(2), 'i'));
  await answerDialog(a.page, 'fund-approve');
  const { channelId } = await created;
  expect(await proposedTo(b)).toBe(channelId);
  const joined = b.page.evaluate((channelId) => window.dapp.client!.joinChannel({ channelId: channelId as `0x${string}` }), channelId);
  await expect(wallet(b.page).getByTestId('fund-dialog')).toBeVisible();
  await answerDialog(b.page, 'fund-approve');
  await joined;
  if (opts.reloadDuringFunding) await reopen(opts.reloadDuringFunding, opts.site!);
  await expect.poll(() => status(a, channelId), { timeout: 60_000 }).toBe('running');
  await expect.poll(() => status(b, channelId), { timeout: 60_000 }).toBe('running');
  return channelId;
}


