/**
 * The wallet iframe and the sdk-client across sites: a dapp on `localhost` (site A) and one on
 * `127.0.0.2` (site B) embedding the wallet from `127.0.0.1`, in Debian Chromium with storage
 * partitioning on, as in production.
 */
import { answerDialog, call, DAPP_A, DAPP_B, expect, mountWallet, openDapp, requestAccounts, test, wallet, WALLET_ORIGIN, walletFrame, walletIframe } from './support.ts';

test('connect: the user approves in the iframe dialog, which names the site and the wallet address', async ({ page }) => {
  await openDapp(page, 'A');
  await mountWallet(page);
  await expect(walletIframe(page)).toBeHidden();
  // Before connecting, permitted calls are refused.
  expect(await call(page, 'wallet_getInfo')).toMatchObject({ code: 4100 });

  const pending = page.evaluate(() => window.dapp.client!.requestAccounts());
  await expect(wallet(page).getByTestId('connect-site')).toHaveText(DAPP_A);
  const shownAddress = await wallet(page).getByTestId('connect-address').textContent();
  await answerDialog(page, 'connect-approve');
  const accounts = await pending;
  expect(accounts).toHaveLength(1);
  expect(shownAddress!.toLowerCase()).toBe(accounts[0]);
  await expect(walletIframe(page)).toBeHidden();

  const info = await call(page, 'wallet_getInfo');
  expect(info.result).toMatchObject({ address: accounts[0], chainId: '0x7a69' });
  // The wallet asked the page to show it for the dialog and to hide it after, and announced the account.
  const notified = await page.evaluate(() => window.dapp.notifications);
  expect(notified).toEqual([
    { method: 'wallet_uiRequest', params: { visible: true } },
    { method: 'wallet_uiRequest', params: { visible: false } },
    { method: 'wallet_accountsChanged', params: accounts },
  ]);
});

test('the same wallet address after a reload, with no second prompt', async ({ page }) => {
  await openDapp(page, 'A');
  await mountWallet(page);
  const first = await requestAccounts(page, 'approve');
  expect(first.ok).toBe(true);
  await page.reload();
  await openDapp(page, 'A');
  await mountWallet(page);
  expect(await call(page, 'eth_accounts')).toEqual({ result: (first as { accounts: string[] }).accounts });
  expect(await call(page, 'eth_requestAccounts')).toEqual({ result: (first as { accounts: string[] }).accounts });
  await expect(wallet(page).getByTestId('connect-dialog')).toHaveCount(0);
});

test('a second dapp site gets its own prompt and, by storage partitioning, its own wallet', async ({ page }) => {
  await openDapp(page, 'A');
  await mountWallet(page);
  const a = await requestAccounts(page, 'approve');
  await openDapp(page, 'B');
  await mountWallet(page);
  // Site B is not connected, even though site A is, in the same browser.
  expect(await call(page, 'eth_accounts')).toEqual({ result: [] });
  const pending = page.evaluate(() => window.dapp.client!.requestAccounts());
  await expect(wallet(page).getByTestId('connect-site')).toHaveText(DAPP_B);
  await answerDialog(page, 'connect-approve');
  const b = await pending;
  // Separate wallets: the browser gives the iframe under site B a different storage partition.
  expect(a.ok && b[0]).toBeTruthy();
  expect(b[0]).not.toBe((a as { accounts: string[] }).accounts[0]);
});

test('a site without permission gets 4100; a rejected prompt gets 4001; revoking takes permission away', async ({ page }) => {
  await openDapp(page, 'B');
  await mountWallet(page);
  expect(await call(page, 'wallet_getInfo')).toMatchObject({ code: 4100 });
  expect(await call(page, 'channel_list')).toMatchObject({ code: 4100 });
  expect(await requestAccounts(page, 'reject')).toEqual({ ok: false, code: 4001 });
  expect(await call(page, 'wallet_getInfo')).toMatchObject({ code: 4100 });
  expect((await requestAccounts(page, 'approve')).ok).toBe(true);
  expect(await call(page, 'channel_list')).toEqual({ result: [] });
  expect(await call(page, 'wallet_revokePermissions', [{ eth_accounts: {} }])).toEqual({ result: null });
  expect(await call(page, 'wallet_getInfo')).toMatchObject({ code: 4100 });
});

test('malformed requests get JSON-RPC errors naming the problem', async ({ page }) => {
  await openDapp(page, 'A');
  await mountWallet(page);
  expect(await call(page, 'eth_signTypedData_v4', [])).toMatchObject({ code: -32601 });
  expect(await call(page, 'wallet_revokePermissions', [{ eth_acounts: {} }])).toMatchObject({ code: -32602, message: expect.stringContaining('params[0].eth_acounts') });
  // Raw postMessages from the connected page, bypassing the sdk.
  const answers = await page.evaluate(async (walletOrigin) => {
    const iframe = [...document.querySelectorAll('iframe')].find((f) => f.src.startsWith(walletOrigin))!;
    const replies: unknown[] = [];
    const done = new Promise<void>((resolve) =>
      window.addEventListener('message', (e) => {
        if (e.origin !== walletOrigin || !(typeof e.data?.id === 'string' && e.data.id.startsWith('raw-')) && e.data?.id !== null) return;
        replies.push(e.data);
        if (replies.length === 3) resolve();
      }),
    );
    iframe.contentWindow!.postMessage({ jsonrpc: '1.0', id: 'raw-1', method: 'eth_accounts' }, walletOrigin);
    iframe.contentWindow!.postMessage('{"jsonrpc": "2.0", "id": ', walletOrigin);
    iframe.contentWindow!.postMessage({ jsonrpc: '2.0', id: 'raw-3', method: 'eth_chainId', params: { unexpected: 1 } }, walletOrigin);
    await done;
    return replies;
  }, WALLET_ORIGIN);
  expect(answers).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ id: 'raw-1', error: expect.objectContaining({ code: -32600 }) }),
      expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32700 }) }),
      expect.objectContaining({ id: 'raw-3', error: expect.objectContaining({ code: -32602 }) }),
    ]),
  );
});

test('calls made before the wallet is ready are queued, not lost', async ({ page }) => {
  await openDapp(page, 'A');
  const results = await page.evaluate(async () => {
    const client = window.dapp.createClient();
    // Sent immediately, while the iframe is still loading.
    return Promise.all([client.chainId(), client.accounts(), client.getPermissions()]);
  });
  expect(results).toEqual(['0x7a69', [], []]);
});

test("a hostile frame's forged messages are ignored by the wallet and by the sdk", async ({ page }) => {
  await openDapp(page, 'A');
  await mountWallet(page);
  const { accounts } = (await requestAccounts(page, 'approve')) as { accounts: string[] };
  // A third-party frame from another origin, beside the wallet iframe.
  await page.evaluate((src) => {
    const f = document.createElement('iframe');
    f.src = src;
    f.id = 'hostile';
    document.body.append(f);
    return new Promise((resolve) => f.addEventListener('load', resolve));
  }, `${DAPP_B}/hostile.html`);
  const hostile = page.frames().find((f) => f.url().startsWith(`${DAPP_B}/hostile.html`))!;
  const sent = await hostile.evaluate((walletOrigin) => window.forge(walletOrigin), WALLET_ORIGIN);
  expect(sent).toBeGreaterThan(0);
  // A real call after the forged ones: when it is answered, the forged ones have been handled.
  expect(await call(page, 'wallet_getPermissions')).toMatchObject({ result: [{ invoker: DAPP_A }] });
  expect(await call(page, 'eth_accounts')).toEqual({ result: accounts });
  await expect(wallet(page).getByTestId('connect-dialog')).toHaveCount(0);
  await expect(walletIframe(page)).toBeHidden();
  const { received, notifications } = await page.evaluate(() => ({ received: window.dapp.received, notifications: window.dapp.notifications }));
  // The wallet answered none of the forged requests.
  expect(received.filter((m) => m.includes('forged'))).toEqual([]);
  // The sdk did not act on the forged notifications.
  expect(notifications.filter((n) => JSON.stringify(n.params).includes('66666666'))).toEqual([]);
  expect(notifications.filter((n) => n.method === 'wallet_uiRequest').length % 2).toBe(0);
  // And nothing was ever posted to the page with targetOrigin '*' by the wallet (the hostile
  // frame's own forged notifications are the only messages from its origin).
  expect(received.every((m) => JSON.parse(m).origin === WALLET_ORIGIN || JSON.parse(m).origin === DAPP_B)).toBe(true);
});

test('the private key never appears in anything posted to the page or printed to any console', async ({ page }) => {
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(String(e)));
  await openDapp(page, 'A');
  await mountWallet(page);
  await requestAccounts(page, 'approve');
  // Exercise the surface, including errors the wallet logs.
  await call(page, 'wallet_getInfo');
  await call(page, 'channel_list');
  await call(page, 'no_such_method');
  await call(page, 'wallet_revokePermissions', [{ bad: {} }]);
  await call(page, 'wallet_revokePermissions', [{ eth_accounts: {} }]);
  await call(page, 'wallet_getInfo');

  // Recover the key inside the wallet's own origin: decrypt the vault with its non-extractable key.
  const keyHex = await walletFrame(page).evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('channel-wallet');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const record = await new Promise<{ wrappingKey: CryptoKey; iv: Uint8Array<ArrayBuffer>; ciphertext: Uint8Array<ArrayBuffer>; address: string }>((resolve, reject) => {
      const r = db.transaction('vault').objectStore('vault').get('signing-key');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const plain = new Uint8Array(
      await crypto.subtle.decrypt({ name: 'AES-GCM', iv: record.iv, additionalData: new TextEncoder().encode(record.address) }, record.wrappingKey, record.ciphertext),
    );
    return [...plain].map((b) => b.toString(16).padStart(2, '0')).join('');
  });
  expect(keyHex).toMatch(/^[0-9a-f]{64}$/);

  const received = await page.evaluate(() => window.dapp.received);
  expect(received.length).toBeGreaterThan(5);
  expect(logs.length).toBeGreaterThan(0);
  const haystack = [...received, ...logs].join('\n').toLowerCase();
  expect(haystack).not.toContain(keyHex);
  // Nor in base64 or as a byte list.
  const bytes = keyHex.match(/../g)!.map((h) => parseInt(h, 16));
  expect(haystack).not.toContain(Buffer.from(bytes).toString('base64').toLowerCase());
  expect(haystack).not.toContain(bytes.join(','));
});
