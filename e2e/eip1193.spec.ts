/**
 * The EIP-1193 funding path: each user's dapp page has a browser extension (an injected provider
 * over anvil, holding one of anvil's dev accounts) and registers it as the wallet's funding
 * account. The wallets' deposits and conclusions are then sent by the extensions, through the
 * sdk, while the wallets' own keys send nothing. Also: a reload keeps the choice (the page
 * registers its provider again), and an extension user rejecting the deposit fails the funding
 * cleanly with nothing on chain.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page } from '@playwright/test';
import { Contract, JsonRpcProvider, Wallet, id as topicOf } from 'ethers';
import { ANVIL_KEYS } from '../chain/anvil.ts';
import { E2E_CHAIN_CONFIG, E2E_DAPP_A_URL, E2E_DAPP_B_URL, E2E_WALLET_URL, REPO_ROOT } from './paths.ts';
import { answerDialog, expect, test } from './support.ts';

type Config = { rpcUrl: string; adjudicator: string; relayUrl: string };
const config = (): Config => JSON.parse(readFileSync(join(REPO_ROOT, E2E_CHAIN_CONFIG), 'utf8')) as Config;
const ETH = '0x0000000000000000000000000000000000000000';
const hex = (n: bigint) => `0x${n.toString(16)}` as `0x${string}`;

test.describe.configure({ timeout: 120_000 });

interface User {
  page: Page;
  site: 'A' | 'B';
  /** The wallet's own address: the channel participant. */
  address: string;
  /** The extension's account: the funding account. */
  extension: string;
  extensionKey: string;
  rejectTransactions: boolean;
}

interface ExtensionOptions {
  /** Its user rejects every transaction (4001). */
  rejectTransactions?: boolean;
  /** Its user decides only once `window.dapp.releaseTransactions()` is called. */
  holdTransactions?: boolean;
}

const chain = () => new JsonRpcProvider(config().rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
const url = (site: 'A' | 'B') => `${site === 'A' ? E2E_DAPP_A_URL : E2E_DAPP_B_URL}/?wallet=${encodeURIComponent(`${E2E_WALLET_URL}/`)}&relay=${encodeURIComponent(config().relayUrl)}`;

/** Gives an extension account a known balance from anvil (100 ETH). */
async function fundExtension(key: string): Promise<string> {
  const address = new Wallet(key).address.toLowerCase();
  const provider = chain();
  await provider.send('anvil_setBalance', [address, hex(100n * 10n ** 18n)]);
  provider.destroy();
  return address;
}

/** A user on a dapp site: wallet connected, on the relay, and the page's extension registered as the funding provider. */
async function user(browser: Browser, site: 'A' | 'B', extensionKey: string, opts: ExtensionOptions = {}): Promise<User> {
  const extension = await fundExtension(extensionKey);
  const page = await (await browser.newContext()).newPage();
  await page.goto(url(site));
  await page.evaluate(() => window.dapp.connect());
  const accounts = page.evaluate(() => window.dapp.client!.requestAccounts());
  await answerDialog(page, 'connect-approve');
  const [address] = await accounts;
  await page.evaluate(() => window.dapp.connectRelay());
  const rejectTransactions = opts.rejectTransactions ?? false;
  const account = await page.evaluate(({ rpcUrl, key, rejectTransactions, holdTransactions }) => window.dapp.useInjectedProvider(rpcUrl, key, { rejectTransactions, holdTransactions }), {
    rpcUrl: config().rpcUrl,
    key: extensionKey,
    rejectTransactions,
    holdTransactions: opts.holdTransactions ?? false,
  });
  expect(account).toEqual({ address: extension, chainId: '0x7a69' });
  return { page, site, address: address!, extension, extensionKey, rejectTransactions };
}

/** Reloads the page: the extension is injected again and the dapp connects with it as `fundingProvider`. */
async function reopen(u: User): Promise<void> {
  await u.page.reload();
  await expect(u.page.getByTestId('dapp-status')).toHaveText('dapp loaded');
  await u.page.evaluate(({ rpcUrl, key, rejectTransactions }) => window.dapp.useInjectedProvider(rpcUrl, key, { rejectTransactions }), {
    rpcUrl: config().rpcUrl,
    key: u.extensionKey,
    rejectTransactions: u.rejectTransactions,
  });
  await u.page.evaluate(() => window.dapp.connect());
  await u.page.evaluate(() => window.dapp.connectRelay());
}

const status = (u: User, channelId: string) => u.page.evaluate((channelId) => window.dapp.client!.getChannel({ channelId: channelId as `0x${string}` }).then((c) => c.status), channelId);
const prompts = (u: User) => u.page.evaluate(() => window.dapp.transactionPrompts.length);

async function proposedTo(u: User): Promise<string> {
  await expect.poll(() => u.page.evaluate(() => window.dapp.notifications.filter((n) => n.method === 'channel_proposed').length)).toBeGreaterThan(0);
  return u.page.evaluate(() => (window.dapp.notifications.filter((n) => n.method === 'channel_proposed').at(-1)!.params as { channelId: string }).channelId);
}

/** `a` proposes an ETH channel to `b`, both approve in their wallets; returns the id (funding runs on). */
async function propose(a: User, b: User, amounts: [bigint, bigint]): Promise<string> {
  const created = a.page.evaluate(
    ({ counterparty, amount, counterpartyAmount }) =>
      window.dapp.client!.createChannel({ counterparty: counterparty as `0x${string}`, asset: '0x0000000000000000000000000000000000000000', amount: amount as `0x${string}`, counterpartyAmount: counterpartyAmount as `0x${string}` }),
    { counterparty: b.address, amount: hex(amounts[0]), counterpartyAmount: hex(amounts[1]) },
  );
  await answerDialog(a.page, 'fund-approve');
  const { channelId } = await created;
  expect(await proposedTo(b)).toBe(channelId);
  const joined = b.page.evaluate((channelId) => window.dapp.client!.joinChannel({ channelId: channelId as `0x${string}` }), channelId);
  await answerDialog(b.page, 'fund-approve');
  await joined;
  return channelId;
}

async function update(payer: User, channelId: string, balances: [bigint, bigint]): Promise<void> {
  const result = await payer.page.evaluate(({ channelId, balances }) => window.dapp.client!.updateChannel({ channelId: channelId as `0x${string}`, balances: balances as `0x${string}`[] }), {
    channelId,
    balances: balances.map(hex),
  });
  expect(result.balances).toEqual(balances.map(hex));
}

/** The adjudicator's logs about a channel, with the sender of each transaction. */
async function chainFacts(channelId: string) {
  const c = config();
  const provider = chain();
  const logs = await provider.getLogs({ address: c.adjudicator, fromBlock: 0, toBlock: 'latest', topics: [null, channelId] });
  const senders = async (topic: string) =>
    Promise.all(logs.filter((l) => l.topics[0] === topicOf(topic)).map(async (l) => (await provider.getTransaction(l.transactionHash))!.from.toLowerCase()));
  const facts = {
    depositedBy: await senders('Deposited(bytes32,address,uint256)'),
    concludedBy: await senders('Concluded(bytes32,uint48)'),
    holdings: (await new Contract(c.adjudicator, ['function holdings(address,bytes32) view returns (uint256)'], provider).getFunction('holdings')(ETH, channelId)) as bigint,
  };
  provider.destroy();
  return facts;
}

async function account(address: string): Promise<{ balance: bigint; nonce: number }> {
  const provider = chain();
  const [balance, nonce] = await Promise.all([provider.getBalance(address), provider.getTransactionCount(address, 'latest')]);
  provider.destroy();
  return { balance, nonce };
}

test('deposits and the conclusion are sent by the extensions; the wallet keys send nothing; a reload keeps the extension as the funder', async ({ browser }) => {
  // Alice's extension user decides only when told: Bob's reload below then surely comes before his deposit.
  const alice = await user(browser, 'A', ANVIL_KEYS[3], { holdTransactions: true });
  const bob = await user(browser, 'B', ANVIL_KEYS[4]);
  const start: [bigint, bigint] = [10n ** 17n + 11n, 5n * 10n ** 16n + 7n];
  const before = [await account(alice.extension), await account(bob.extension)];

  const channelId = await propose(alice, bob, start);
  // Bob's page reloads while the funding runs (Alice's deposit awaits her decision): his wallet
  // resumes, and its deposit goes to the reloaded page, which registered the extension again.
  await expect.poll(() => prompts(alice)).toBe(1);
  await reopen(bob);
  await alice.page.evaluate(() => window.dapp.releaseTransactions());
  await expect.poll(() => status(alice, channelId), { timeout: 60_000 }).toBe('running');
  await expect.poll(() => status(bob, channelId), { timeout: 60_000 }).toBe('running');
  expect(await prompts(bob)).toBe(1);

  const funded = await chainFacts(channelId);
  expect(funded.depositedBy).toEqual([alice.extension, bob.extension]);
  expect(funded.holdings).toBe(start[0] + start[1]);
  const after = [await account(alice.extension), await account(bob.extension)];
  expect(before[0]!.balance - after[0]!.balance).toBeGreaterThanOrEqual(start[0]);
  expect(before[1]!.balance - after[1]!.balance).toBeGreaterThanOrEqual(start[1]);
  expect(after[0]!.nonce - before[0]!.nonce).toBe(1);
  expect(after[1]!.nonce - before[1]!.nonce).toBe(1);
  // The wallets' own accounts sent nothing and were not topped up by the dev faucet.
  expect(await account(alice.address)).toEqual({ balance: 0n, nonce: 0 });
  expect(await account(bob.address)).toEqual({ balance: 0n, nonce: 0 });

  // A couple of updates, both ways.
  const x = start[0] - 3n * 10n ** 16n;
  const y = start[1] + 3n * 10n ** 16n;
  await update(alice, channelId, [start[0] - 4n * 10n ** 16n, start[1] + 4n * 10n ** 16n]);
  await update(bob, channelId, [x, y]);

  // Alice reloads; her page registers the extension again on connect, and the conclusion goes out through it.
  await reopen(alice);
  const closing = alice.page.evaluate((channelId) => window.dapp.client!.closeChannel({ channelId: channelId as `0x${string}` }), channelId);
  await answerDialog(alice.page, 'close-approve');
  await closing;
  await expect.poll(() => status(alice, channelId), { timeout: 60_000 }).toBe('closed');
  await expect.poll(() => status(bob, channelId), { timeout: 60_000 }).toBe('closed');

  const closed = await chainFacts(channelId);
  expect(closed.concludedBy).toEqual([alice.extension]);
  expect(closed.holdings).toBe(0n);
  expect(await prompts(alice)).toBe(1); // the conclusion (the page was reloaded after the deposit)
  // The payouts go to the channel's participants: the wallets' own addresses, which never sent a transaction.
  expect(await account(alice.address)).toEqual({ balance: x, nonce: 0 });
  expect(await account(bob.address)).toEqual({ balance: y, nonce: 0 });
});

test("an extension user rejecting the deposit fails the funding cleanly: a clear 'failed' progress, nothing on chain", async ({ browser }) => {
  // Alice proposes, so she deposits first; her extension's user rejects it.
  const alice = await user(browser, 'A', ANVIL_KEYS[3], { rejectTransactions: true });
  const bob = await user(browser, 'B', ANVIL_KEYS[4]);
  const before = await account(alice.extension);

  const channelId = await propose(alice, bob, [10n ** 15n, 10n ** 15n]);
  const failed = async () =>
    alice.page.evaluate(
      (channelId) =>
        window.dapp.notifications
          .filter((n) => n.method === 'objective_progress')
          .map((n) => n.params as { channelId: string; stage: string; detail?: string })
          .filter((p) => p.channelId === channelId && p.stage === 'failed'),
      channelId,
    );
  await expect.poll(async () => (await failed()).length, { timeout: 60_000 }).toBe(1);
  expect((await failed())[0]!.detail).toBe('Deposit was rejected in the browser wallet.');
  await expect.poll(() => status(alice, channelId)).toBe('failed');
  expect(await prompts(alice)).toBe(1);
  expect(await prompts(bob)).toBe(0);

  const facts = await chainFacts(channelId);
  expect(facts.depositedBy).toEqual([]);
  expect(facts.holdings).toBe(0n);
  expect((await account(alice.extension)).nonce).toBe(before.nonce);
  expect(await account(alice.address)).toEqual({ balance: 0n, nonce: 0 });
  expect(await status(bob, channelId)).toBe('funding');
});
