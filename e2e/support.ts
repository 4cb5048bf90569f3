import { type Frame, type Page, test as base, expect } from '@playwright/test';
import { E2E_DAPP_A_URL, E2E_DAPP_B_URL, E2E_WALLET_URL } from './paths.ts';

/**
 * Playwright's `test` for every spec: when a test ends, every browser context it opened is closed.
 * A user's wallet left open would go on working (on the CPU, the hub and the chain) through the
 * specs after it.
 */
export const test = base.extend<{ closeContexts: void }>({
  closeContexts: [
    async ({ browser }, use) => {
      await use();
      await Promise.all(browser.contexts().map((c) => c.close()));
    },
    { auto: true },
  ],
});
export { expect };

export const WALLET_ORIGIN = new URL(E2E_WALLET_URL).origin;
export const DAPP_A = new URL(E2E_DAPP_A_URL).origin;
export const DAPP_B = new URL(E2E_DAPP_B_URL).origin;

/** Opens the test dapp on site A or B, pointed at the e2e wallet (with a trailing slash, as users type it). */
export async function openDapp(page: Page, site: 'A' | 'B' = 'A'): Promise<void> {
  const base = site === 'A' ? E2E_DAPP_A_URL : E2E_DAPP_B_URL;
  await page.goto(`${base}/?wallet=${encodeURIComponent(`${E2E_WALLET_URL}/`)}`);
  await expect(page.getByTestId('dapp-status')).toHaveText('dapp loaded');
}

export const walletIframe = (page: Page) => page.locator(`iframe[src^="${WALLET_ORIGIN}/"]`);
export const wallet = (page: Page) => page.frameLocator(`iframe[src^="${WALLET_ORIGIN}/"]`);

export function walletFrame(page: Page): Frame {
  const frame = page.frames().find((f) => f.url().startsWith(`${WALLET_ORIGIN}/`));
  if (!frame) throw new Error('the wallet iframe is not mounted');
  return frame;
}

/** Connects the dapp page to the wallet (mounts the iframe and waits for ready). */
export async function mountWallet(page: Page): Promise<void> {
  await page.evaluate(() => window.dapp.connect());
}

/** Starts eth_requestAccounts, approves (or rejects) in the wallet's dialog, returns the outcome. */
export async function requestAccounts(page: Page, answer: 'approve' | 'reject'): Promise<{ ok: true; accounts: string[] } | { ok: false; code: number }> {
  await page.evaluate(() => {
    const w = window as unknown as { pending: Promise<unknown> };
    w.pending = window.dapp.client!.requestAccounts().then(
      (accounts) => ({ ok: true, accounts }),
      (e: { code: number }) => ({ ok: false, code: e.code }),
    );
  });
  const dialog = wallet(page).getByTestId('connect-dialog');
  await expect(dialog).toBeVisible();
  await expect(walletIframe(page)).toBeVisible();
  await answerDialog(page, `connect-${answer}`);
  const outcome = await page.evaluate(() => (window as unknown as { pending: Promise<{ ok: true; accounts: string[] } | { ok: false; code: number }> }).pending);
  await expect(walletIframe(page)).toBeHidden();
  return outcome;
}

/** Calls a wallet method from the dapp and returns its result or its error code. */
export async function call(page: Page, method: string, params?: unknown): Promise<{ result?: unknown; code?: number; message?: string }> {
  return page.evaluate(
    ({ method, params }) =>
      window.dapp.client!.request({ method, params } as never).then(
        (result: unknown) => ({ result }),
        (e: { code: number; message: string }) => ({ code: e.code, message: e.message }),
      ),
    { method, params },
  );
}

/**
 * Clicks a button of a wallet dialog and waits until the dialog has taken it (the button is gone).
 * A click that lands while Chromium is still bringing a just re-shown cross-site iframe back into
 * hit-testing can be dropped (seen about once in ten runs when the iframe was hidden and shown
 * again in quick succession): the dialog stays open, as it would for a user, who would click
 * again — and so does this.
 */
export async function answerDialog(page: Page, testId: string): Promise<void> {
  const button = wallet(page).getByTestId(testId);
  await expect(button).toBeVisible();
  await expect(async () => {
    if (await button.isVisible()) await button.click({ timeout: 2_000 });
    await expect(button).toBeHidden({ timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
}
