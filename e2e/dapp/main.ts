/**
 * A minimal dapp for the e2e flows: it embeds the wallet with the sdk-client and exposes the
 * client to Playwright as `window.dapp`. It also records every message posted to this window,
 * so a test can check that nothing secret ever reaches the host page.
 */
import { type FundingAccount, type WalletClient, connect, connectRelay, createWalletClient } from '../../sdk-client/src/index.ts';
import type { InjectedAnvilProvider } from '../../engine/src/chain/testing/injected-provider.ts';

declare global {
  interface Window {
    dapp: {
      walletUrl: string;
      received: string[];
      notifications: { method: string; params: unknown }[];
      client: WalletClient | null;
      connect: () => Promise<void>;
      /**
       * Connects the wallet to the hub's relay (after the user connected the site): by default the
       * wallet holds the connection itself (wallet_useRelay); `via: 'page'` has this page carry
       * the messages with the sdk's relay transport instead.
       */
      connectRelay: (via?: 'wallet' | 'page') => Promise<void>;
      /** Creates the client without waiting, so calls can be made before the wallet is ready. */
      createClient: () => WalletClient;
      /**
       * Plays a browser extension on this page: an EIP-1193 provider over the RPC that holds
       * `privateKeyHex` and signs and sends its own transactions (`rejectTransactions`: its user
       * rejects every one, 4001; `holdTransactions`: its user decides only once
       * `releaseTransactions()` is called). If the client exists it is registered as the wallet's
       * funding provider at once (resolving with the account); later `connect()` calls pass it as
       * `fundingProvider`, so after a reload call this before `connect()`.
       */
      useInjectedProvider: (rpcUrl: string, privateKeyHex: string, opts?: { rejectTransactions?: boolean; holdTransactions?: boolean }) => Promise<FundingAccount | null>;
      /** Lets the injected provider's user decide the transactions held so far (and all later ones). */
      releaseTransactions: () => void;
      /** The injected provider, once `useInjectedProvider` made one. */
      fundingProvider: InjectedAnvilProvider | null;
      /** Every transaction the injected provider asked its (scripted) user about, approved or not. */
      transactionPrompts: unknown[];
    };
  }
}

const received: string[] = [];
window.addEventListener('message', (event) => {
  received.push(JSON.stringify({ origin: event.origin, data: event.data }));
});

const walletUrl = new URLSearchParams(location.search).get('wallet') ?? 'http://127.0.0.1:5183/';
const status = document.getElementById('status')!;

/** The injected provider's user, when told to hold: the decisions waiting for `releaseTransactions()`. */
const held: (() => void)[] = [];
let holding = false;

function watch(client: WalletClient): WalletClient {
  for (const name of ['wallet_ready', 'wallet_uiRequest', 'wallet_accountsChanged', 'channel_updated', 'channel_proposed', 'objective_progress', 'budget_updated', 'virtual_updated', 'payment_received', 'challenge_updated', 'budget_exit_updated'] as const) {
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
    const fundingProvider = window.dapp.fundingProvider ?? undefined;
    window.dapp.client = watch(await connect({ walletUrl, ...(fundingProvider && { fundingProvider }) }));
    status.textContent = 'wallet ready';
  },
  connectRelay: async (via = 'wallet') => {
    const relayUrl = new URLSearchParams(location.search).get('relay');
    if (!relayUrl) throw new Error('no ?relay= given');
    if (via === 'page') await connectRelay({ client: window.dapp.client!, relayUrl });
    else await window.dapp.client!.useRelay({ relayUrl });
  },
  createClient: () => {
    const client = watch(createWalletClient({ walletUrl }));
    window.dapp.client = client;
    return client;
  },
  fundingProvider: null,
  transactionPrompts: [],
  releaseTransactions: () => {
    for (const release of held.splice(0)) release();
    holding = false;
  },
  useInjectedProvider: async (rpcUrl, privateKeyHex, opts = {}) => {
    holding = opts.holdTransactions ?? false;
    // Loaded on demand: it brings ethers, which the other flows' page loads need not wait for.
    const { createInjectedAnvilProvider } = await import('../../engine/src/chain/testing/injected-provider.ts');
    const provider = createInjectedAnvilProvider(rpcUrl, privateKeyHex, {
      approveTransaction: async (tx) => {
        window.dapp.transactionPrompts.push(tx);
        if (holding) await new Promise<void>((resolve) => held.push(resolve));
        return !opts.rejectTransactions;
      },
    });
    window.dapp.fundingProvider = provider;
    return window.dapp.client ? await window.dapp.client.useFundingProvider(provider) : null;
  },
};
status.textContent = 'dapp loaded';
