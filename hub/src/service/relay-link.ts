/**
 * An engine's connection to a relay, as a user's wallet makes it (wallet/src/peers.ts): the sdk's
 * `connectRelay` with a `RelayWallet` adapter that signs the login with the engine's own key,
 * hands inbound messages to `receive` and takes the engine's outbound ones. The hub uses it to
 * reach its own relay, so the hub and its users speak the same way; tests use it for users.
 */
import { WebSocket } from 'ws';
import type { Address, PrivateKey } from '../../../core/src/index.ts';
import { signRelayLogin } from '../../../core/src/relay-login.ts';
import { type RelayConnection, type RelaySocketConstructor, type RelayWallet, connectRelay } from '../../../sdk-client/src/relay.ts';
import type { NotificationParams } from '../../../sdk-client/src/schema.ts';

export interface RelayLinkOptions {
  key: PrivateKey;
  /** The WebSocket URL to connect to. */
  relayUrl: string;
  /**
   * The origin to sign the login for, when it is not `relayUrl`'s: the hub connects to its relay
   * on the local interface, while the relay checks logins against its public origin.
   */
  loginOrigin?: string;
  /** Hands a message from a peer (authenticated by the relay) to the engine. */
  receive: (from: Address, message: string) => Promise<void>;
  log: (event: string, fields?: Record<string, string | number | boolean | undefined>) => void;
  WebSocketImpl?: RelaySocketConstructor;
}

export interface RelayLink {
  /** The engine's `sendMessage`: sent at once when connected, buffered (bounded) while reconnecting. */
  send(to: Address, message: string): void;
  readonly connection: RelayConnection;
  close(): void;
}

/** Connects and resolves once the relay accepted the login. */
export async function connectRelayLink(opts: RelayLinkOptions): Promise<RelayLink> {
  let outbound: ((params: NotificationParams<'channel_outboundMessage'>) => void) | undefined;
  const wallet: RelayWallet = {
    signRelayChallenge: async ({ relayOrigin, challenge }) => ({ address: opts.key.address, signature: signRelayLogin(opts.key, opts.loginOrigin ?? relayOrigin, challenge) }),
    receiveMessage: async ({ from, message }) => {
      await opts.receive(from.toLowerCase() as Address, message);
      return null;
    },
    on: (_name, listener) => {
      outbound = listener;
      return () => {
        if (outbound === listener) outbound = undefined;
      };
    },
  };
  const connection = await connectRelay({
    client: wallet,
    relayUrl: opts.relayUrl,
    WebSocketImpl: opts.WebSocketImpl ?? (WebSocket as unknown as RelaySocketConstructor),
    log: opts.log,
  });
  return {
    send(to, message) {
      if (outbound) outbound({ to, message });
      else opts.log('dropped-outbound', { to, reason: 'the relay connection is closed' });
    },
    connection,
    close: () => connection.close(),
  };
}
