import type { Address, PrivateKey } from '../../core/src/index.ts';
import { signRelayLogin } from '../../core/src/relay-login.ts';
import { type RelayConnection, type RelaySocketConstructor, type RelayWallet, connectRelay, relayOriginOf } from '../../sdk-client/src/relay.ts';
import type { NotificationParams } from '../../sdk-client/src/schema.ts';
import type { Logger } from './log.ts';

type Outbound = (params: NotificationParams<'channel_outboundMessage'>) => void;

export interface PeerMessagingOptions {
  key: PrivateKey;
  /** Hands an outbound message to the page (the `channel_outboundMessage` notification). */
  toPage: (to: Address, message: string) => void;
  /** Hands an inbound message to the engine. */
  receive: (from: Address, message: string) => Promise<void>;
  log: Logger;
  WebSocketImpl?: RelaySocketConstructor;
}

/**
 * The wallet's one boundary for peer messages. By default outbound protocol messages go to the
 * page as notifications and inbound ones come back by `channel_receiveMessage`, so any app can
 * carry them. After `wallet_useRelay` the wallet holds its own relay connection, logged in with
 * its own key: messages go straight between the wallet and the relay, never through the page,
 * which saves two page hops per message and keeps them out of the page's sight.
 */
export class PeerMessaging {
  private connection: RelayConnection | undefined;
  private url: string | undefined;
  private connecting: Promise<RelayConnection> | undefined;
  private outbound: Outbound | undefined;

  constructor(private readonly opts: PeerMessagingOptions) {}

  send(to: Address, message: string): void {
    if (this.outbound) this.outbound({ to, message });
    else this.opts.toPage(to, message);
  }

  /** Connects to the relay at `relayUrl` (once; a different URL replaces the connection). */
  async useRelay(relayUrl: string): Promise<{ address: Address; relayOrigin: string }> {
    const relayOrigin = relayOriginOf(relayUrl);
    if (this.url !== relayUrl || !this.connecting) {
      this.connection?.close();
      this.connection = undefined;
      this.url = relayUrl;
      const { key, receive, log } = this.opts;
      const wallet: RelayWallet = {
        signRelayChallenge: async ({ relayOrigin: origin, challenge }) => ({ address: key.address, signature: signRelayLogin(key, origin, challenge) }),
        receiveMessage: async ({ from, message }) => {
          await receive(from.toLowerCase() as Address, message);
          return null;
        },
        on: (_name, listener) => {
          this.outbound = listener;
          return () => {
            if (this.outbound === listener) this.outbound = undefined;
          };
        },
      };
      this.connecting = connectRelay({ client: wallet, relayUrl, log: (event, fields) => log.info(`relay.${event}`, fields), ...(this.opts.WebSocketImpl ? { WebSocketImpl: this.opts.WebSocketImpl } : {}) });
      this.connecting.then(
        (c) => {
          if (this.url === relayUrl) this.connection = c;
          else c.close();
        },
        () => {
          if (this.url !== relayUrl) return;
          this.connecting = undefined;
          this.outbound = undefined; // back to the page until a relay takes us
        },
      );
    }
    await this.connecting;
    return { address: this.opts.key.address, relayOrigin };
  }

  close(): void {
    this.connection?.close();
    this.connection = undefined;
    this.connecting = undefined;
    this.url = undefined;
  }
}
