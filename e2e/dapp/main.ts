/**
 * A minimal dapp for the e2e flows: it embeds the wallet with the sdk-client and exposes the
 * client to Playwright as `window.dapp`. It also records every message posted to this window,
 * so a test can check that nothing secret ever reaches the host page.
 */
import { type WalletClient, connect, connectRelay, createWalletClient } from '../../sdk-client/src/index.ts';

declare global {
  interface Window {
    dapp: {
      walletUrl: string;
      received: string[];
      notifications: { method: string; params: unknown }[];
      client: WalletClient | null;
      connect: () => Promise<void>;
      /** Connects the wallet to the hub's relay (after the user connected the site). */
      connectRelay: () => Promise<void>;
      /** Creates the client without waiting, so calls can be made before the wallet is ready. */
      createClient: () => WalletClient;
    };
  }
}

const received: string[] = [];
window.addEventListener('message', (event) => {
  received.push(JSON.stringify({ origin: event.origin, data: event.data }));
});

const walletUrl = new URLSearchParams(location.search).get('wallet') ?? 'http://127.0.0.1:5183/';
const status = document.getElementById('status')!;

function watch(client: WalletClient): WalletClient {
  for (const name of ['wallet_ready', 'wallet_uiRequest', 'wallet_accountsChanged', 'channel_updated', 'channel_proposed', 'objective_progress'] as const) {
    client.on(name, (params: unknown) => window.dapp.notifications.push({ method: name, params }));
  }
  return client;
}

window.dapp = {
  walletUrl,
  received,
  notifications: [],
  client: null,
  connect: async () => {
    window.dapp.client = watch(await connect({ walletUrl }));
    status.textContent = 'wallet ready';
  },
  connectRelay: async () => {
    const relayUrl = new URLSearchParams(location.search).get('relay');
    if (!relayUrl) throw new Error('no ?relay= given');
    await connectRelay({ client: window.dapp.client!, relayUrl });
  },
  createClient: () => {
    const client = watch(createWalletClient({ walletUrl }));
    window.dapp.client = client;
    return client;
  },
};
status.textContent = 'dapp loaded';
