/**
 * Waits for a condition the code under test makes true by itself (a message delivered, a block
 * mined, an objective settled), polling it; fails naming what it waited for. Not a sleep: it
 * returns as soon as the condition holds.
 */
export async function until(check: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
