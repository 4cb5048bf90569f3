import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2E_CHAIN_CONFIG, REPO_ROOT } from './paths.ts';
import { expect, test } from './support.ts';

type ChainConfigFile = { rpcUrl: string; chainId: number; adjudicator: string };

test('wallet page shows its version and the live chain', async ({ page }) => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const chain = JSON.parse(readFileSync(join(REPO_ROOT, E2E_CHAIN_CONFIG), 'utf8')) as ChainConfigFile;

  await page.goto('/');

  await expect(page).toHaveTitle('Channel Wallet');
  await expect(page.getByTestId('wallet-version')).toHaveText(pkg.version);
  // Read live from anvil by the page (ethers JsonRpcProvider in the browser).
  await expect(page.getByTestId('chain-id')).toHaveText('31337');
  await expect(page.getByTestId('adjudicator-address')).toHaveText(chain.adjudicator);
  await expect(page.getByTestId('rpc-url')).toHaveText(chain.rpcUrl);
});
