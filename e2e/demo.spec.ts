/**
 * The demo, end to end, driven through its pages as a user would: two seeders and a leecher,
 * each in its own browser context (its own wallet), the seeders on two sites. Real wallet
 * iframes, the real hub process and its relay, real anvil. The leecher downloads a 10 MiB file
 * from both seeders, paying per piece through one virtual channel per seeder; then the bytes,
 * the payments, the channels, the budgets and the on-chain withdrawals are checked to the wei.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { type Browser, type Page } from '@playwright/test';
import { config, gasPaidAfter, provider } from './chain.ts';
import { E2E_HUB_LOG } from './hub-process.ts';
import { E2E_DEMO_A_URL, E2E_DEMO_B_URL, E2E_WALLET_URL } from './paths.ts';
import { answerDialog, expect, test, wallet } from './support.ts';

test.describe.configure({ timeout: 300_000 });

const SIZE = 10 * 1024 * 1024;
const PRICE = 1_000_000_000n; // wei per byte, the seeder page's default
const E18 = 10n ** 18n;

async function openDemo(browser: Browser, site: 'A' | 'B', role: 'seed' | 'leech', extra = ''): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const base = site === 'A' ? E2E_DEMO_A_URL : E2E_DEMO_B_URL;
  await page.goto(`${base}/${role}.html?wallet=${encodeURIComponent(`${E2E_WALLET_URL}/`)}&relay=${encodeURIComponent(config().relayUrl)}${extra}`);
  return page;
}

/** Connects the wallet (approved in its dialog) and approves a budget of `eth` in the wallet's dialog. */
async function connectAndBudget(page: Page, eth: string): Promise<`0x${string}`> {
  await page.getByTestId('wallet-connect').click();
  await answerDialog(page, 'connect-approve');
  await expect(page.getByTestId('wallet-status')).toContainText('connected: 0x');
  await page.getByTestId('budget-amount').fill(eth);
  await page.getByTestId('budget-request').click();
  await expect(wallet(page).getByTestId('budget-deposit')).toContainText('ETH');
  await answerDialog(page, 'budget-approve');
  await expect(page.getByTestId('budget-status')).toHaveText('running', { timeout: 60_000 });
  return ((await page.getByTestId('wallet-status').textContent())!.split(' ').at(-1)!.toLowerCase()) as `0x${string}`;
}

/** Where the hub's log stood when the test began. */
let hubLogAtStart = 0;
test.beforeEach(() => {
  hubLogAtStart = existsSync(E2E_HUB_LOG) ? statSync(E2E_HUB_LOG).size : 0;
});

/**
 * Waits for the leecher's download to end. A failure fails the test at once, and a download that
 * does not end in time fails it, with the pages' logs, the seeders' rows and the hub's
 * complaints either way: a CI log keeps only that.
 */
async function downloaded(leecher: Page, seeders: Page[], timeout: number): Promise<void> {
  const ended = await leecher
    .waitForFunction(() => window.leechDemo.result !== null || window.leechDemo.error !== null, null, { timeout, polling: 250 })
    .then(() => true, () => false);
  const state = await leecher.evaluate(() => ({
    error: window.leechDemo.error,
    done: window.leechDemo.result !== null,
    got: window.leechDemo.download?.bytesReceived ?? 0,
    seeders: [...(window.leechDemo.download?.views.values() ?? [])].map((v) => `${v.peer} ${v.path} ${v.status}: ${v.pieces} piece(s), paid ${v.paid}, ahead ${v.ahead}`),
    log: document.querySelector<HTMLElement>('[data-testid="log"]')?.innerText ?? '',
  }));
  if (state.done) return;
  const seederLogs = await Promise.all(seeders.filter((p) => !p.isClosed()).map((p) => p.evaluate(() => document.querySelector<HTMLElement>('[data-testid="log"]')?.innerText ?? '').catch(() => '')));
  const hubTrouble = readFileSync(E2E_HUB_LOG).subarray(hubLogAtStart).toString().split('\n').filter((l) => /rejected|dropped|error|not-connected|rate-limited/.test(l)).slice(-20);
  const why = ended ? `the download failed: ${state.error}` : `the download did not end in ${timeout / 1000} s (${state.got} bytes in)`;
  throw new Error(`${why}\nseeders:\n  ${state.seeders.join('\n  ')}\nlog:\n${state.log.slice(-3000)}${seederLogs.map((l, i) => `\nseeder page ${i + 1}'s log:\n${l.slice(-1500)}`).join('')}\nthe hub's log, its troubles in this test:\n${hubTrouble.join('\n') || '(none)'}`);
}

const seedState = (page: Page) => page.evaluate(() => ({ file: window.seedDemo.file, received: window.seedDemo.received, earned: window.seedDemo.seeder?.earned.toString() }));
const virtualOf = (page: Page, channelId: string, demo: 'seedDemo' | 'leechDemo') =>
  page.evaluate(({ id, demo }) => (demo === 'seedDemo' ? window.seedDemo.panel : window.leechDemo.panel).client!.getVirtualChannel({ channelId: id as `0x${string}` }), { id: channelId, demo });
const budgetOf = (page: Page, demo: 'seedDemo' | 'leechDemo') => page.evaluate((demo) => (demo === 'seedDemo' ? window.seedDemo.panel : window.leechDemo.panel).budget, demo);

test('a leecher downloads a 10 MiB file from two seeders, paying per piece: bytes, payments, channels and withdrawals exact', async ({ browser }) => {
  const seeders = [await openDemo(browser, 'A', 'seed'), await openDemo(browser, 'B', 'seed')];
  const leecher = await openDemo(browser, 'A', 'leech');

  // Each user connects and approves a budget in the wallet's dialog, on the demo's page.
  const seederWallets = [await connectAndBudget(seeders[0]!, '0.05'), await connectAndBudget(seeders[1]!, '0.05')];
  const leecherWallet = await connectAndBudget(leecher, '0.05');
  const p = provider();
  const blockBefore = await p.getBlockNumber();

  // The seeders offer the same sample file (the page generates it) at the default price.
  const ids: `0x${string}`[] = [];
  for (const page of seeders) {
    await page.getByTestId('sample').click();
    await expect(page.getByTestId('file-info')).toContainText('40 pieces of 256.0 KiB');
    await page.getByTestId('seed-start').click();
    await expect(page.getByTestId('peer-id')).toHaveText(/^0x[0-9a-f]{40}$/);
    ids.push((await page.getByTestId('peer-id').textContent()) as `0x${string}`);
  }
  const fileSha = (await seedState(seeders[0]!)).file!.sha256;
  expect((await seedState(seeders[1]!)).file!.sha256).toBe(fileSha);

  // The leecher names both seeders and downloads.
  await leecher.getByTestId('seeders').fill(ids.join('\n'));
  await leecher.getByTestId('buffer').fill('4');
  await leecher.getByTestId('download').click();
  await downloaded(leecher, seeders, 180_000);
  const result = (await leecher.evaluate(() => window.leechDemo.result))!;
  await expect(leecher.getByTestId('result')).toContainText('matches');
  await expect(leecher.getByTestId('progress')).toHaveAttribute('style', /width: 100%/);

  // The bytes hash-match (sha256 by WebCrypto on both sides, not the exchange's own hashing).
  expect(result.sha256).toBe(fileSha);

  // The payments equal size × price to the wei: the leecher's view, each seeder's
  // payment_received, and virtual_get on both ends of each channel.
  const total = BigInt(SIZE) * PRICE;
  expect(BigInt(result.pricePerByte)).toBe(PRICE);
  const paid = ids.map((id) => BigInt(result.paid[id]!));
  expect(paid[0]! + paid[1]!).toBe(total);
  expect(result.vouchers).toBe(40); // one voucher per piece
  expect(result.direct).toBe(0); // the relay, by default
  for (const [i, id] of ids.entries()) {
    expect(paid[i]!).toBeGreaterThan(0n); // both seeders served
    expect(paid[i]! % (256n * 1024n * PRICE)).toBe(0n); // whole pieces
    const channelId = result.channels[id]!;
    await expect.poll(async () => (await seedState(seeders[i]!)).received[channelId]).toBe(paid[i]!.toString());
    expect(BigInt((await virtualOf(seeders[i]!, channelId, 'seedDemo')).paid)).toBe(paid[i]);
    const v = await virtualOf(leecher, channelId, 'leechDemo');
    expect(BigInt(v.paid)).toBe(paid[i]);
    expect(v.payee.toLowerCase()).toBe(seederWallets[i]);
    expect(v.payer.toLowerCase()).toBe(leecherWallet);
    // The channels close (no transaction: the ledgers are credited off chain).
    expect(v.status).toBe('closed');
    await expect.poll(async () => (await virtualOf(seeders[i]!, channelId, 'seedDemo')).status, { timeout: 30_000 }).toBe('closed');
  }
  expect(await p.getBlockNumber()).toBe(blockBefore);

  // The budgets: the ledgers credit the leecher and the seeders exactly.
  await expect.poll(async () => (await budgetOf(leecher, 'leechDemo'))?.send).toBe(E18 / 20n - total);
  for (const [i, page] of seeders.entries()) await expect.poll(async () => (await budgetOf(page, 'seedDemo'))?.send).toBe(paid[i]);

  // Closing the budgets withdraws exactly that on chain (less the gas of whoever concludes).
  const users = [
    { page: leecher, address: leecherWallet, expected: E18 / 20n - total },
    ...seeders.map((page, i) => ({ page, address: seederWallets[i]!, expected: paid[i]! })),
  ];
  for (const u of users) {
    const before = await p.getBalance(u.address);
    const since = await p.getBlockNumber();
    await u.page.getByTestId('budget-close').click();
    await answerDialog(u.page, 'budget-close-approve');
    await expect(u.page.getByTestId('budget-status')).toHaveText('closed', { timeout: 60_000 });
    const after = await p.getBalance(u.address);
    expect(after - before + (await gasPaidAfter(u.address, since))).toBe(u.expected);
  }
});

test('bad input gets clear errors on both pages: a seeder id that is not one, a price that is not whole wei, seeding before connecting', async ({ browser }) => {
  const leecher = await openDemo(browser, 'B', 'leech');
  await leecher.getByTestId('seeders').fill('0x1234');
  await leecher.getByTestId('download').click();
  await expect(leecher.getByTestId('log')).toContainText('"0x1234" is not a seeder id: expected 0x followed by 40 hex digits');
  const seeder = await openDemo(browser, 'A', 'seed');
  await expect(seeder.getByTestId('seed-start')).toBeDisabled(); // no file yet
  await seeder.getByTestId('price').fill('0');
  await seeder.getByTestId('sample').click();
  await seeder.getByTestId('price').fill('1.5');
  await seeder.getByTestId('seed-start').click();
  await expect(seeder.getByTestId('log')).toContainText('price "1.5" is not a whole number of wei per byte');
  await seeder.getByTestId('price').fill('1000');
  await seeder.getByTestId('seed-start').click();
  await expect(seeder.getByTestId('log')).toContainText('connect the wallet first');
});


test('a seeder whose page closes mid-download is dropped: the leecher finishes from the other, and the gone seeder’s channel closes when it is back', async ({ browser }) => {
  const seeders = [await openDemo(browser, 'A', 'seed'), await openDemo(browser, 'B', 'seed')];
  const leecher = await openDemo(browser, 'A', 'leech');
  await connectAndBudget(seeders[0]!, '0.05');
  const goneWallet = await connectAndBudget(seeders[1]!, '0.05');
  await connectAndBudget(leecher, '0.05');
  const ids: `0x${string}`[] = [];
  for (const page of seeders) {
    await page.getByTestId('sample').click();
    await expect(page.getByTestId('file-info')).toContainText('40 pieces');
    // A buffer of one piece: each seeder waits for payment after two pieces, so B is still
    // owing most of its share when its page closes below.
    await page.getByTestId('buffer').fill('1');
    await page.getByTestId('seed-start').click();
    await expect(page.getByTestId('peer-id')).toHaveText(/^0x[0-9a-f]{40}$/);
    ids.push((await page.getByTestId('peer-id').textContent()) as `0x${string}`);
  }
  const [a, b] = ids as [`0x${string}`, `0x${string}`];
  await leecher.getByTestId('seeders').fill(ids.join('\n'));
  await leecher.getByTestId('buffer').fill('1');
  await leecher.getByTestId('download').click();

  // B's page closes (its wallet with it) once its first piece is in.
  await leecher.waitForFunction((b) => (window.leechDemo.download?.views.get(b)?.pieces ?? 0) >= 1, b, { polling: 'raf', timeout: 60_000 });
  const goneContext = seeders[1]!.context();
  const goneUrl = seeders[1]!.url();
  await seeders[1]!.close();

  // After 15 s of silence B is taken for gone and A serves the rest; the file is whole.
  await downloaded(leecher, seeders, 90_000);
  const result = (await leecher.evaluate(() => window.leechDemo.result))!;
  expect(result.sha256).toBe((await seedState(seeders[0]!)).file!.sha256);
  await expect(leecher.getByTestId('log')).toContainText(`seeder ${b} sent nothing for 15 s`);
  const views = await leecher.evaluate(() => Object.fromEntries([...window.leechDemo.download!.views].map(([k, v]) => [k, { pieces: v.pieces, status: v.status }])));
  const fromB = views[b]!.pieces;
  expect(fromB).toBeGreaterThanOrEqual(1);
  expect(fromB).toBeLessThan(20);
  expect(views[a]!.pieces).toBe(40 - fromB);
  expect(views[b]!.status).toBe('closing (when the seeder is back)');

  // A is paid exactly for what it delivered; B for what it delivered and at most the buffer (one
  // piece) paid ahead, which is B's to keep.
  const piece = 256n * 1024n * PRICE;
  expect(BigInt(result.paid[a]!)).toBe(BigInt(40 - fromB) * piece);
  const paidB = BigInt(result.paid[b]!);
  expect(paidB - BigInt(fromB) * piece >= 0n && paidB - BigInt(fromB) * piece <= piece).toBe(true);
  const channelB = result.channels[b]!;
  expect((await virtualOf(leecher, channelB, 'leechDemo')).status).not.toBe('closed');

  // B's user opens the page again and connects: its wallet picks up the close, and both sides
  // see the channel closed with what was paid; B's budget is credited with it.
  const back = await goneContext.newPage();
  await back.goto(goneUrl);
  await back.getByTestId('wallet-connect').click();
  await expect(back.getByTestId('wallet-status')).toContainText(`connected: ${goneWallet}`, { ignoreCase: true, timeout: 30_000 });
  await expect.poll(async () => (await virtualOf(leecher, channelB, 'leechDemo')).status, { timeout: 60_000 }).toBe('closed');
  const atB = await virtualOf(back, channelB, 'seedDemo');
  expect(BigInt(atB.paid)).toBe(paidB);
  await expect.poll(async () => (await virtualOf(back, channelB, 'seedDemo')).status, { timeout: 30_000 }).toBe('closed');
  await expect.poll(async () => (await budgetOf(back, 'seedDemo'))?.send, { timeout: 30_000 }).toBe(paidB);
  await expect.poll(async () => (await budgetOf(leecher, 'leechDemo'))?.send).toBe(E18 / 20n - BigInt(result.paid[a]!) - paidB);
});

test('with ?direct=1 the pieces travel over WebRTC data channels signalled through the hub (a free file: no wallet needed)', async ({ browser }) => {
  const seeders = [await openDemo(browser, 'A', 'seed'), await openDemo(browser, 'B', 'seed')];
  const leecher = await openDemo(browser, 'B', 'leech', '&direct=1');
  const ids: `0x${string}`[] = [];
  for (const page of seeders) {
    await page.getByTestId('sample').click();
    await page.getByTestId('price').fill('0');
    await page.getByTestId('seed-start').click();
    await expect(page.getByTestId('peer-id')).toHaveText(/^0x[0-9a-f]{40}$/);
    ids.push((await page.getByTestId('peer-id').textContent()) as `0x${string}`);
  }
  await leecher.getByTestId('seeders').fill(ids.join('\n'));
  await leecher.getByTestId('download').click();
  await downloaded(leecher, seeders, 120_000);
  const result = (await leecher.evaluate(() => window.leechDemo.result))!;
  expect(result.sha256).toBe((await seedState(seeders[0]!)).file!.sha256);
  expect(result.direct).toBe(40);
  expect(result.vouchers).toBe(0);
  const paths = await leecher.evaluate(() => [...window.leechDemo.download!.views.values()].map((v) => v.path));
  expect(paths).toEqual(['direct', 'direct']);
  await expect(leecher.getByTestId('peers')).toContainText('direct');
});
