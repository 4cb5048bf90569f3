/**
 * Direct channels between two users, each in their own browser context on their own dapp site,
 * their wallets talking through the hub's relay, against a real anvil: open, fund by deposits
 * from both, 100 updates, close, and on-chain balances exact to the wei.
 */
import { Contract, Interface, JsonRpcProvider, id as topicOf } from 'ethers';
import { ETH, type User, config, ethBalance, open, proposedTo, reopen, status, user } from './direct.ts';
import { answerDialog, expect, test, wallet, walletIframe } from './support.ts';

test.describe.configure({ timeout: 120_000 });

async function close(closer: User, other: User, channelId: string, opts: { reload?: User; site?: 'A' | 'B' } = {}): Promise<void> {
  const closing = closer.page.evaluate((channelId) => window.dapp.client!.closeChannel({ channelId: channelId as `0x${string}` }), channelId);
  await expect(wallet(closer.page).getByTestId('close-dialog')).toBeVisible();
  await answerDialog(closer.page, 'close-approve');
  await closing;
  if (opts.reload) await reopen(opts.reload, opts.site!);
  await expect.poll(() => status(closer, channelId), { timeout: 60_000 }).toBe('closed');
  await expect.poll(() => status(other, channelId), { timeout: 60_000 }).toBe('closed');
}

const adjudicatorEvents = new Interface(['event Deposited(bytes32 indexed destination, address asset, uint256 destinationHoldings)', 'event Concluded(bytes32 indexed channelId, uint48 finalizesAt)']);

async function chainFacts(channelId: string) {
  const c = config();
  const provider = new JsonRpcProvider(c.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const logs = await provider.getLogs({ address: c.adjudicator, fromBlock: 0, toBlock: 'latest', topics: [null, channelId] });
  const deposits = logs.filter((l) => l.topics[0] === topicOf('Deposited(bytes32,address,uint256)'));
  const concluded = logs.filter((l) => l.topics[0] === topicOf('Concluded(bytes32,uint48)'));
  const holdings = async (asset: string) => (await new Contract(c.adjudicator, ['function holdings(address,bytes32) view returns (uint256)'], provider).getFunction('holdings')(asset, channelId)) as bigint;
  const concludeCost = async () => {
    const r = await provider.getTransactionReceipt(concluded[0]!.transactionHash);
    return r!.gasUsed * r!.gasPrice;
  };
  return { provider, deposits, concluded, holdings, concludeCost, adjudicatorEvents };
}

async function tokenBalance(address: string) {
  const c = config();
  const provider = new JsonRpcProvider(c.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  return (await new Contract(c.token, ['function balanceOf(address) view returns (uint256)'], provider).getFunction('balanceOf')(address)) as bigint;
}

/** 100 updates: Alice pays Bob varied amounts; every fifth update Bob pays some back. */
async function hundredUpdates(a: User, b: User, channelId: string, start: [bigint, bigint]): Promise<[bigint, bigint]> {
  let [x, y] = start;
  for (let i = 1; i <= 100; i++) {
    const bobPays = i % 5 === 0;
    const amount = BigInt(i * 1_000 + (i % 7));
    if (bobPays) {
      x += amount;
      y -= amount;
    } else {
      x -= amount;
      y += amount;
    }
    const payer = bobPays ? b : a;
    const result = await payer.page.evaluate(
      ({ channelId, balances }) => window.dapp.client!.updateChannel({ channelId: channelId as `0x${string}`, balances: balances as `0x${string}`[] }),
      { channelId, balances: [`0x${x.toString(16)}`, `0x${y.toString(16)}`] },
    );
    expect(result.balances).toEqual([`0x${x.toString(16)}`, `0x${y.toString(16)}`]);
  }
  return [x, y];
}

test('ETH: open, deposits by both, 100 updates, cooperative close; payouts equal the final outcome to the wei', async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  const start: [bigint, bigint] = [10n ** 17n + 123n, 5n * 10n ** 16n + 7n];
  const channelId = await open(alice, bob, ETH, start);
  const [x, y] = await hundredUpdates(alice, bob, channelId, start);
  const before = [await ethBalance(alice.address), await ethBalance(bob.address)];
  await close(bob, alice, channelId);
  const facts = await chainFacts(channelId);
  const after = [await ethBalance(alice.address), await ethBalance(bob.address)];
  expect(facts.deposits).toHaveLength(2);
  expect(await facts.holdings(ETH)).toBe(0n);
  // Alice only received; Bob received and paid for the conclude transaction.
  expect(after[0]! - before[0]!).toBe(x);
  expect(after[1]! - before[1]! + (await facts.concludeCost())).toBe(y);
  await expect(walletIframe(alice.page)).toBeHidden();
});

test('ERC20: the same with the test token, the messages carried by the dapp pages (sdk relay transport)', async ({ browser }) => {
  const alice = await user(browser, 'A', 'page');
  const bob = await user(browser, 'B', 'page');
  const token = config().token.toLowerCase();
  const start: [bigint, bigint] = [7n * 10n ** 18n, 3n * 10n ** 18n];
  const channelId = await open(alice, bob, token, start);
  const [x, y] = await hundredUpdates(alice, bob, channelId, start);
  const before = [await tokenBalance(alice.address), await tokenBalance(bob.address)];
  await close(alice, bob, channelId);
  const after = [await tokenBalance(alice.address), await tokenBalance(bob.address)];
  expect(after[0]! - before[0]!).toBe(x);
  expect(after[1]! - before[1]!).toBe(y);
  expect(await (await chainFacts(channelId)).holdings(token)).toBe(0n);
});

test('reloading a wallet during funding and during closing still completes, with one deposit each', async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  const channelId = await open(alice, bob, ETH, [10n ** 15n, 2n * 10n ** 15n], { reloadDuringFunding: bob, site: 'B' });
  await alice.page.evaluate(({ channelId, balances }) => window.dapp.client!.updateChannel({ channelId: channelId as `0x${string}`, balances: balances as `0x${string}`[] }), {
    channelId,
    balances: [`0x${(10n ** 15n - 5n).toString(16)}`, `0x${(2n * 10n ** 15n + 5n).toString(16)}`],
  });
  await close(alice, bob, channelId, { reload: alice, site: 'A' });
  const facts = await chainFacts(channelId);
  expect(facts.deposits).toHaveLength(2);
  expect(facts.concluded).toHaveLength(1);
  expect(await facts.holdings(ETH)).toBe(0n);
});

test('a user rejecting the funding ends it cleanly on both sides', async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  const created = alice.page.evaluate(
    ({ b, asset }) => window.dapp.client!.createChannel({ counterparty: b as `0x${string}`, asset: asset as `0x${string}`, amount: '0x64', counterpartyAmount: '0x64' }),
    { b: bob.address, asset: ETH },
  );
  await answerDialog(alice.page, 'fund-approve');
  const { channelId } = await created;
  expect(await proposedTo(bob)).toBe(channelId);
  const joined = bob.page.evaluate((channelId) => window.dapp.client!.joinChannel({ channelId: channelId as `0x${string}` }).then(() => 0, (e: { code: number }) => e.code), channelId);
  await answerDialog(bob.page, 'fund-reject');
  expect(await joined).toBe(4001);
  await expect.poll(() => status(bob, channelId)).toBe('rejected');
  await expect.poll(() => status(alice, channelId)).toBe('rejected');
  expect((await chainFacts(channelId)).deposits).toHaveLength(0);
});
