/**
 * Two tabs of one dapp site in one browser context: one user, one storage partition, so both
 * wallet iframes share the store and the key. Only the tab holding the engine lock runs the
 * engine; the other's calls go to it, its dialogs stay its own, and when the first tab closes
 * the second takes over and carries on with the channels — against a real anvil, with the
 * counterparty in its own context on another site and both wallets on the hub's relay.
 */
import { type Browser, type Page } from '@playwright/test';
import { Contract, id as topicOf } from 'ethers';
import { config, provider as chainProvider } from './chain.ts';
import { E2E_DAPP_A_URL, E2E_DAPP_B_URL, E2E_WALLET_URL } from './paths.ts';
import { answerDialog, expect, test, wallet, walletFrame } from './support.ts';

const ETH = '0x0000000000000000000000000000000000000000';
const hex = (n: bigint) => `0x${n.toString(16)}` as `0x${string}`;

test.describe.configure({ timeout: 180_000 });

interface Tab {
  page: Page;
  /** The wallet's log lines printed in this tab (its iframe's console). */
  logs: string[];
}

async function openTab(page: Page, site: 'A' | 'B'): Promise<Tab> {
  const logs: string[] = [];
  page.on('console', (m) => {
    if (m.text().startsWith('[channel-wallet]')) logs.push(m.text());
  });
  const base = site === 'A' ? E2E_DAPP_A_URL : E2E_DAPP_B_URL;
  await page.goto(`${base}/?wallet=${encodeURIComponent(`${E2E_WALLET_URL}/`)}&relay=${encodeURIComponent(config().relayUrl)}`);
  await page.evaluate(() => window.dapp.connect());
  return { page, logs };
}

async function connectWithDialog(tab: Tab): Promise<string> {
  const accounts = tab.page.evaluate(() => window.dapp.client!.requestAccounts());
  await answerDialog(tab.page, 'connect-approve');
  const [address] = await accounts;
  await tab.page.evaluate(() => window.dapp.connectRelay());
  return address!.toLowerCase();
}

async function bobUser(browser: Browser): Promise<Tab & { address: string }> {
  const page = await (await browser.newContext()).newPage();
  const tab = await openTab(page, 'B');
  return { ...tab, address: await connectWithDialog(tab) };
}

const count = (tab: Tab, event: string) => tab.logs.filter((l) => l.startsWith(`[channel-wallet] ${event}`)).length;
const status = (tab: Tab, channelId: string) => tab.page.evaluate((channelId) => window.dapp.client!.getChannel({ channelId: channelId as `0x${string}` }), channelId);
const update = (tab: Tab, channelId: string, balances: bigint[]) =>
  tab.page.evaluate(({ channelId, balances }) => window.dapp.client!.updateChannel({ channelId: channelId as `0x${string}`, balances: balances as `0x${string}`[] }), { channelId, balances: balances.map(hex) });

async function proposedTo(tab: Tab, after: number): Promise<string> {
  await expect.poll(() => tab.page.evaluate(() => window.dapp.notifications.filter((n) => n.method === 'channel_proposed').length)).toBeGreaterThan(after);
  return tab.page.evaluate(() => (window.dapp.notifications.filter((n) => n.method === 'channel_proposed').at(-1)!.params as { channelId: string }).channelId);
}

/** `opener` asks for a channel with `bob` (the fund dialog shows in the opener's tab and only there); Bob joins. */
async function openChannel(opener: Tab, other: Tab, bob: Tab & { address: string }, amounts: [bigint, bigint]): Promise<string> {
  const proposalsBefore = await bob.page.evaluate(() => window.dapp.notifications.filter((n) => n.method === 'channel_proposed').length);
  const created = opener.page.evaluate(
    ({ counterparty, amount, counterpartyAmount }) => window.dapp.client!.createChannel({ counterparty: counterparty as `0x${string}`, asset: '0x0000000000000000000000000000000000000000', amount: amount as `0x${string}`, counterpartyAmount: counterpartyAmount as `0x${string}` }),
    { counterparty: bob.address, amount: hex(amounts[0]), counterpartyAmount: hex(amounts[1]) },
  );
  await expect(wallet(opener.page).getByTestId('fund-dialog')).toBeVisible();
  await expect(wallet(opener.page).getByTestId('fund-counterparty')).toHaveText(new RegExp(bob.address.slice(2), 'i'));
  await expect(wallet(other.page).getByTestId('fund-dialog')).toHaveCount(0);
  await answerDialog(opener.page, 'fund-approve');
  const { channelId } = await created;
  expect(await proposedTo(bob, proposalsBefore)).toBe(channelId);
  const joined = bob.page.evaluate((channelId) => window.dapp.client!.joinChannel({ channelId: channelId as `0x${string}` }), channelId);
  await answerDialog(bob.page, 'fund-approve');
  await joined;
  return channelId;
}

/**
 * The signed states a wallet stored for a channel, read in its iframe (the wallet's own origin
 * and partition): per turn, the state and the signatures, as text.
 */
function storedStates(tab: Tab, channelId: string): Promise<{ turnNum: number; state: string; signatures: string[] }[]> {
  return walletFrame(tab.page).evaluate(async (channelId) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('channel-wallet');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const rows = await new Promise<{ turnNum: number; signedState: { state: unknown; signatures: unknown[] } }[]>((resolve, reject) => {
      const r = db.transaction('channelStates').objectStore('channelStates').index('channelId').getAll(channelId);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    db.close();
    const text = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Array.from(x).join(',') : x));
    return rows.map((r) => ({ turnNum: r.turnNum, state: text(r.signedState.state), signatures: r.signedState.signatures.map(text) }));
  }, channelId);
}

/** No turn holds two different states between the two wallets, and Alice's signature on each turn both hold is the same. */
async function expectOneStatePerTurn(alice: Tab, bob: Tab, channelId: string, aliceIndex: number): Promise<number> {
  const mine = await storedStates(alice, channelId);
  const theirs = new Map((await storedStates(bob, channelId)).map((s) => [s.turnNum, s]));
  let shared = 0;
  for (const s of mine) {
    const t = theirs.get(s.turnNum);
    if (!t) continue;
    shared++;
    expect(t.state, `turn ${s.turnNum}`).toBe(s.state);
    if (s.signatures[aliceIndex] !== 'null' && t.signatures[aliceIndex] !== 'null') expect(t.signatures[aliceIndex], `Alice's signature on turn ${s.turnNum}`).toBe(s.signatures[aliceIndex]);
  }
  return shared;
}

async function chainFacts(channelId: string) {
  const c = config();
  const provider = chainProvider();
  const logs = await provider.getLogs({ address: c.adjudicator, fromBlock: 0, toBlock: 'latest', topics: [null, channelId] });
  const holdings = (await new Contract(c.adjudicator, ['function holdings(address,bytes32) view returns (uint256)'], provider).getFunction('holdings')(ETH, channelId)) as bigint;
  return {
    deposits: logs.filter((l) => l.topics[0] === topicOf('Deposited(bytes32,address,uint256)')).length,
    concluded: logs.filter((l) => l.topics[0] === topicOf('Concluded(bytes32,uint48)')).length,
    holdings,
  };
}

test('two tabs of one site: one engine, the second tab forwards its calls and keeps its own dialogs, and takes over when the first closes', async ({ browser }) => {
  const bob = await bobUser(browser);
  const context = await browser.newContext();
  const one = await openTab(await context.newPage(), 'A');
  const alice = await connectWithDialog(one);
  await expect.poll(() => count(one, 'wallet.leader')).toBe(1);

  // The second tab: same site, same wallet (already connected: no dialog), a follower.
  const two = await openTab(await context.newPage(), 'A');
  expect((await two.page.evaluate(() => window.dapp.client!.requestAccounts())).map((a) => a.toLowerCase())).toEqual([alice]);
  await two.page.evaluate(() => window.dapp.connectRelay());
  await expect.poll(() => count(two, 'wallet.follower')).toBe(1);
  expect(count(two, 'wallet.leader')).toBe(0);

  // A channel opened in tab 1; both tabs' dapps hear it.
  const c1 = await openChannel(one, two, bob, [10n ** 15n, 10n ** 15n]);
  await expect.poll(async () => (await status(one, c1)).status, { timeout: 60_000 }).toBe('running');
  await expect.poll(async () => (await status(bob, c1)).status, { timeout: 60_000 }).toBe('running');
  expect((await status(two, c1)).status).toBe('running');
  expect(count(one, 'wallet.engine-started')).toBe(1);
  expect(count(two, 'wallet.engine-started')).toBe(0);

  // Tab 2 updates it: the call runs on tab 1's engine, and tab 2's dapp hears channel_updated.
  let balances: [bigint, bigint] = [10n ** 15n - 1_234n, 10n ** 15n + 1_234n];
  const updated = await update(two, c1, balances);
  expect(updated.balances).toEqual(balances.map(hex));
  await expect
    .poll(() => two.page.evaluate((c1) => window.dapp.notifications.filter((n) => n.method === 'channel_updated' && (n.params as { channelId: string }).channelId === c1).map((n) => (n.params as { turnNum: number }).turnNum), c1))
    .toContain(updated.turnNum);
  await expect.poll(async () => (await status(bob, c1)).balances).toEqual(balances.map(hex));
  // Several at once from both tabs (the same outcome, so any order is one Bob countersigns):
  // one engine signs each on its own turn, so the channel moves exactly four turns.
  balances = [balances[0] - 10n, balances[1] + 10n];
  const results = await Promise.all([update(one, c1, balances), update(two, c1, balances), update(one, c1, balances), update(two, c1, balances)]);
  for (const r of results) expect(r.balances).toEqual(balances.map(hex));
  const last = await status(two, c1);
  expect(last.turnNum).toBe(updated.turnNum + 4);
  await expect.poll(async () => (await status(bob, c1)).turnNum).toBe(last.turnNum);
  expect((await status(bob, c1)).balances).toEqual(balances.map(hex));

  // Tab 2 opens a second channel: the dialog shows in tab 2 (where the user acted), not tab 1.
  const c2 = await openChannel(two, one, bob, [2n * 10n ** 15n, 10n ** 15n]);
  expect(count(two, 'wallet.engine-started')).toBe(0);

  // Tab 1 closes while the second channel is being funded: tab 2 takes the lock, starts the
  // engine from the store, resumes the funding, and carries on with the relay connection.
  await one.page.close();
  await expect.poll(() => count(two, 'wallet.leader')).toBe(1);
  await expect.poll(() => count(two, 'wallet.engine-started')).toBe(1);
  await expect.poll(async () => (await status(two, c2)).status, { timeout: 90_000 }).toBe('running');
  await expect.poll(async () => (await status(bob, c2)).status, { timeout: 90_000 }).toBe('running');
  expect((await chainFacts(c2)).deposits).toBe(2);

  // The first channel goes on from tab 2, above every turn tab 1's engine signed.
  balances = [balances[0] - 777n, balances[1] + 777n];
  const after = await update(two, c1, balances);
  expect(after.turnNum, 'the update after the takeover').toBeGreaterThan(last.turnNum);
  await expect.poll(async () => (await status(bob, c1)).turnNum).toBe(after.turnNum);
  expect((await status(bob, c1)).balances).toEqual(balances.map(hex));

  // Never two states for one turn: every turn both wallets stored is the same state, with the same signature of Alice's.
  const aliceIndex = (await status(two, c1)).participants.indexOf(alice as `0x${string}`);
  expect(await expectOneStatePerTurn(two, bob, c1, aliceIndex), 'turns both wallets stored').toBeGreaterThan(0);
  // (Re-sent states a wallet already holds are refused as stale, as always; a second state for a turn would be a conflict.)
  expect([...bob.logs, ...one.logs, ...two.logs].filter((l) => /conflict|different state/.test(l))).toEqual([]);

  // And closes from tab 2, with its dialog there.
  const closing = two.page.evaluate((c1) => window.dapp.client!.closeChannel({ channelId: c1 as `0x${string}` }), c1);
  await answerDialog(two.page, 'close-approve');
  await closing;
  await expect.poll(async () => (await status(two, c1)).status, { timeout: 60_000 }).toBe('closed');
  await expect.poll(async () => (await status(bob, c1)).status, { timeout: 60_000 }).toBe('closed');
  const facts = await chainFacts(c1);
  expect(facts).toEqual({ deposits: 2, concluded: 1, holdings: 0n });
  // Exactly one engine ran at any time: one start per tab, the second after the first tab was gone.
  expect(count(two, 'wallet.engine-started')).toBe(1);
});

test('the follower tab\'s page carries the messages (sdk relay transport): a channel it opens and updates completes', async ({ browser }) => {
  const bob = await bobUser(browser);
  const context = await browser.newContext();
  const one = await openTab(await context.newPage(), 'A');
  const accounts = one.page.evaluate(() => window.dapp.client!.requestAccounts());
  await answerDialog(one.page, 'connect-approve');
  await accounts;
  // Only the follower's page carries the messages: the leader's page is just open.
  await expect.poll(() => count(one, 'wallet.leader')).toBe(1);
  const two = await openTab(await context.newPage(), 'A');
  await two.page.evaluate(() => window.dapp.client!.requestAccounts());
  await two.page.evaluate(() => window.dapp.connectRelay('page'));
  await expect.poll(() => count(two, 'wallet.follower')).toBe(1);

  // The follower's dapp asks; the leader's engine signs; the messages go out through the pages.
  const c = await openChannel(two, one, bob, [10n ** 15n, 10n ** 15n]);
  await expect.poll(async () => (await status(two, c)).status, { timeout: 60_000 }).toBe('running');
  await expect.poll(async () => (await status(bob, c)).status, { timeout: 60_000 }).toBe('running');
  const updated = await update(two, c, [10n ** 15n - 9n, 10n ** 15n + 9n]);
  expect(updated.balances).toEqual([hex(10n ** 15n - 9n), hex(10n ** 15n + 9n)]);
  await expect.poll(async () => (await status(bob, c)).turnNum).toBe(updated.turnNum);
  expect(count(two, 'wallet.engine-started')).toBe(0);
});
