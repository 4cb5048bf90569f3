/**
 * @channel-wallet/sdk-client: embed the Channel Wallet iframe in a dapp and call it by JSON-RPC
 * 2.0 over postMessage, typed from the wallet's schema.
 */
import { createClient, resolveTimeouts } from './client.ts';
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
  const hostOrigin = globalThis.location?.origin;
  if (typeof hostOrigin !== 'string') throw new TypeError('The sdk-client runs in a browser page: there is no location.origin here');
  const { walletOrigin, frameSrc } = resolveWalletUrl(options.walletUrl, hostOrigin);
  return createClient(
    (onMessage) => mountWalletFrame({ frameSrc, walletOrigin, container: options.container, onMessage }),
    { walletOrigin, ...timeouts },
  );
}

/**
 * Mounts the wallet iframe and resolves with the client once the wallet is ready. Rejects with a
 * WalletRpcError 4900 (and removes the iframe) if it is not ready within `readyTimeoutMs`, or with
 * a TypeError for bad options.
 */
export async function connect(options: WalletClientOptions): Promise<WalletClient> {
  const client = createWalletClient(options);
  try {
    await client.ready;
  } catch (error) {
    client.destroy();
    throw error;
  }
  return client;
}
