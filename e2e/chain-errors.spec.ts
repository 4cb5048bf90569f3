/**
 * A chain failure the user must hear about: Alice opens a channel whose deposit is above what
 * her funding account holds (the dev faucet tops her wallet up to 10 ETH; she deposits 20). Her
 * deposit fails the balance check before anything is sent; the dapp gets objective_progress
 * 'failed' with the chain's message, and Alice sees a notice in her wallet naming the channel,
 * the reason, where the money is and what she can do. She dismisses it (the iframe is hidden
 * again), then does what it says: closes the channel, which ends it with nothing on chain.
 */
import { JsonRpcProvider, getAddress, id as topicOf } from 'ethers';
import { config } from './chain.ts';
import { type User, proposedTo, status, user } from './direct.ts';
import { answerDialog, expect, test, wallet, walletIframe } from './support.ts';

const hex = (n: bigint) => `0x${n.toString(16)}` as `0x${string}`;

test.describe.configure({ timeout: 120_000 });

const failures = (u: User, channelId: string) =>
  u.page.evaluate(
    (channelId) =>
      window.dapp.notifications
        .filter((n) => n.method === 'objective_progress')
        .map((n) => n.params as { objectiveId: string; channelId: string; stage: string; detail?: string })
        .filter((p) => p.channelId === channelId && p.stage === 'failed'),
    channelId,
  );

const uiRequests = (u: User) => u.page.evaluate(() => window.dapp.notifications.filter((n) => n.method === 'wallet_uiRequest').map((n) => (n.params as { visible: boolean }).visible));

test('a deposit above the funding account balance: the user sees why in the wallet, dismisses it, and can close the channel', async ({ browser }) => {
  const alice = await user(browser, 'A');
  const bob = await user(browser, 'B');
  const deposit = 20n * 10n ** 18n;

  const created = alice.page.evaluate(
    ({ counterparty, amount, counterpartyAmount }) =>
      window.dapp.client!.createChannel({ counterparty: counterparty as `0x${string}`, asset: '0x0000000000000000000000000000000000000000', amount: amount as `0x${string}`, counterpartyAmount: counterpartyAmount as `0x${string}` }),
    { counterparty: bob.address, amount: hex(deposit), counterpartyAmount: hex(10n ** 15n) },
  );
  await answerDialog(alice.page, 'fund-approve');
  const { channelId } = await created;
  await expect(walletIframe(alice.page)).toBeHidden();
  expect(await proposedTo(bob)).toBe(channelId);
  const joined = bob.page.evaluate((channelId) => window.dapp.client!.joinChannel({ channelId: channelId as `0x${string}` }), channelId);
  await answerDialog(bob.page, 'fund-approve');
  await joined;

  // Alice deposits first; her wallet's account holds the faucet's 10 ETH, not 20.
  const notice = wallet(alice.page).getByTestId('chain-error-dialog');
  await expect(notice).toBeVisible({ timeout: 60_000 });
  await expect(walletIframe(alice.page)).toBeVisible();
  await expect(wallet(alice.page).getByTestId('chain-error-title')).toHaveText('Deposit failed');
  await expect(wallet(alice.page).getByTestId('chain-error-what')).toHaveText('Your deposit of 20 ETH into this channel did not complete.');
  await expect(wallet(alice.page).getByTestId('chain-error-counterparty')).toHaveText(getAddress(bob.address));
  await expect(wallet(alice.page).getByTestId('chain-error-asset')).toHaveText('ETH');
  await expect(wallet(alice.page).getByTestId('chain-error-reason')).toHaveText(`Your funding account (${getAddress(alice.address)}) has 10 ETH but the deposit needs 20 ETH plus gas.`);
  await expect(wallet(alice.page).getByTestId('chain-error-funds')).toHaveText('Nothing was deposited.');
  await expect(wallet(alice.page).getByTestId('chain-error-action')).toHaveText('You can close the channel to end it. To try again, add ETH to your funding account and open a new channel.');
  // The whole notice fits the wallet's frame: the user need not scroll to dismiss it.
  await expect(wallet(alice.page).getByTestId('chain-error-dismiss')).toBeInViewport({ ratio: 1 });
  await expect(notice).toHaveAttribute('role', 'alertdialog');

  // The dapp heard of it too, with the chain's own message.
  const failed = await failures(alice, channelId);
  expect(failed).toEqual([{ objectiveId: `DirectFunding-${channelId}`, channelId, stage: 'failed', detail: `The funding account ${alice.address.toLowerCase()} has 10.0 ETH but the deposit needs 20.0 ETH plus gas.` }]);
  expect(await status(alice, channelId)).toBe('failed');

  // Dismissed: the notice goes and the wallet asks the page to hide the iframe.
  await answerDialog(alice.page, 'chain-error-dismiss');
  await expect(notice).toHaveCount(0);
  await expect(walletIframe(alice.page)).toBeHidden();
  expect((await uiRequests(alice)).slice(-2)).toEqual([true, false]);

  // As the notice says: closing ends the channel. Bob's funding stops without a notice (not a chain failure).
  const closing = alice.page.evaluate((channelId) => window.dapp.client!.closeChannel({ channelId: channelId as `0x${string}` }), channelId);
  await answerDialog(alice.page, 'close-approve');
  await closing;
  await expect.poll(() => status(alice, channelId), { timeout: 60_000 }).toBe('closed');
  await expect.poll(() => status(bob, channelId), { timeout: 60_000 }).toBe('closed');
  await expect(wallet(bob.page).getByTestId('chain-error-dialog')).toHaveCount(0);
  await expect(walletIframe(bob.page)).toBeHidden();

  const provider = new JsonRpcProvider(config().rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const deposits = await provider.getLogs({ address: config().adjudicator, fromBlock: 0, toBlock: 'latest', topics: [topicOf('Deposited(bytes32,address,uint256)'), channelId] });
  expect(deposits).toEqual([]);
  expect(await provider.getTransactionCount(alice.address)).toBe(1); // the conclusion only
  provider.destroy();
});
