/**
 * @channel-wallet/sdk-client: embed the Channel Wallet iframe in a dapp and call it by JSON-RPC
 * 2.0 over postMessage, typed from the wallet's schema.
 */
import { createClient, fundingRegistered, resolveTimeouts } from './client.ts';
import { assertEip1193 } from './funding.ts';
import { mountWalletFrame } from './frame.ts';
import type { WalletClient, WalletClientOptions } from './types.ts';
import { resolveWalletUrl } from './url.ts';

export { DEFAULT_INTERACTIVE_TIMEOUT_MS, DEFAULT_READY_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from './client.ts';
export { WalletRpcError } from './errors.ts';
export { FRAME_ATTRIBUTE, FRAME_TITLE } from './frame.ts';
export { methodAliases } from './methods.ts';
export { ErrorCode, methods, notifications } from './schema.ts';
export { connectRelay, RELAY_BACKOFF_MAX_MS, RELAY_BACKOFF_MIN_MS, RELAY_BUFFER_LIMIT, RELAY_LOGIN_TIMEOUT_MS, relayOriginOf } from './relay.ts';
export type { RelayConnection, RelayLogFields, RelayOptions, RelaySocket, RelaySocketConstructor, RelayState, RelayWallet } from './relay.ts';
export type { MethodName, MethodParams, MethodResult, NotificationName, NotificationParams } from './schema.ts';
export type { HexString } from './schema-types.ts';
export type {
  ClientState,
  Eip1193Like,
  FundingAccount,
  NotificationListener,
  ParamsByMethod,
  RequestArguments,
  RequestOptions,
  ResultByMethod,
  WalletClient,
  WalletClientOptions,
  WalletMethods,
} from './types.ts';

/**
 * Mounts the wallet iframe (hidden) and returns the client at once; `client.ready` resolves when
 * the wallet is ready. Calls made before then are queued and sent in order. Throws a TypeError
 * for a walletUrl that is not http(s) or an invalid timeout.
 */
export function createWalletClient(options: WalletClientOptions): WalletClient {
  const timeouts = resolveTimeouts(options);
  if (options.fundingProvider !== undefined) assertEip1193(options.fundingProvider);
  const hostOrigin = globalThis.location?.origin;
  if (typeof hostOrigin !== 'string') throw new TypeError('The sdk-client runs in a browser page: there is no location.origin here');
  const { walletOrigin, frameSrc } = resolveWalletUrl(options.walletUrl, hostOrigin);
  return createClient(
    (onMessage) => mountWalletFrame({ frameSrc, walletOrigin, container: options.container, onMessage }),
    { walletOrigin, ...timeouts, ...(options.fundingProvider !== undefined && { fundingProvider: options.fundingProvider }) },
  );
}

/**
 * Mounts the wallet iframe and resolves with the client once the wallet is ready — and, with a
 * `fundingProvider` on a site that is already connected, once that provider is registered with
 * the wallet again. Rejects (and removes the iframe) with a WalletRpcError: 4900 if the wallet is
 * not ready within `readyTimeoutMs`, or the registration's error (e.g. 4001 when the extension's
 * user refused the connection); with a TypeError for bad options.
 */
export async function connect(options: WalletClientOptions): Promise<WalletClient> {
  const client = createWalletClient(options);
  try {
    await client.ready;
    await fundingRegistered(client);
  } catch (error) {
    client.destroy();
    throw error;
  }
  return client;
}
