/**
 * The relay transport: connects the wallet to a message relay (the hub's `/relay`) so a dapp
 * needs no routing code. It logs in with the wallet's signature over the relay's challenge,
 * forwards the wallet's `channel_outboundMessage` notifications as `send` frames, hands inbound
 * `message` frames to the wallet with `channel_receiveMessage` in arrival order (several in flight),
 * and reconnects (logging in again) when the socket drops.
 */
import { ErrorCode, type NotificationParams } from './schema.ts';
import type { ParamsByMethod, ResultByMethod } from './types.ts';

/** What the transport needs from the wallet client; a `WalletClient` is one. */
export interface RelayWallet {
  signRelayChallenge(request: ParamsByMethod['wallet_signRelayChallenge'][0]): Promise<ResultByMethod['wallet_signRelayChallenge']>;
  receiveMessage(request: ParamsByMethod['channel_receiveMessage'][0]): Promise<ResultByMethod['channel_receiveMessage']>;
  on(name: 'channel_outboundMessage', listener: (params: NotificationParams<'channel_outboundMessage'>) => void): () => void;
}

/**
 * The part of a WebSocket the transport uses: the browser's `WebSocket` and the `ws` package's
 * both fit. (Handlers are typed `never` so that any event type is accepted.)
 */
export interface RelaySocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}
export type RelaySocketConstructor = new (url: string) => RelaySocket;

export type RelayState = 'connecting' | 'open' | 'closed';
export type RelayLogFields = Record<string, string | number | boolean | undefined>;

export interface RelayOptions {
  /** The wallet client (or anything with the three methods the transport uses). */
  client: RelayWallet;
  /** The relay's WebSocket URL, e.g. `wss://hub.example/relay`. */
  relayUrl: string;
  /** The WebSocket class; default `globalThis.WebSocket` (Node 20 has none: pass `ws`'s). */
  WebSocketImpl?: RelaySocketConstructor;
  /** Reconnect (and log in again) when the socket drops after the first login. Default true. */
  reconnect?: boolean;
  /** How long one connect-and-login may take, in ms. Default 10 000. */
  loginTimeoutMs?: number;
  /** Lines with an event name and primitive fields; never a message body. Default: `console.info`. */
  log?: (event: string, fields?: RelayLogFields) => void;
}

export interface RelayConnection {
  readonly state: RelayState;
  /** The relay origin the wallet signed for: `new URL(relayUrl).origin`. */
  readonly relayOrigin: string;
  /** The wallet address the relay accepted. */
  readonly address: string;
  /** Listens to state changes; returns a function that removes the listener. */
  on(event: 'state', listener: (state: RelayState) => void): () => void;
  /** Closes the socket, stops reconnecting and unsubscribes from the wallet. Idempotent. */
  close(): void;
}

export const RELAY_LOGIN_TIMEOUT_MS = 10_000;
export const RELAY_BACKOFF_MIN_MS = 250;
export const RELAY_BACKOFF_MAX_MS = 5_000;
/** Outbound messages held while (re)connecting, and inbound ones waiting for the wallet; past it the oldest go. */
export const RELAY_BUFFER_LIMIT = 1_000;
/** The relay's cap on one message (the schema's), in characters. */
const MAX_MESSAGE_CHARS = 1 << 20;
const OPEN = 1;
const ADDRESS = /^0x[0-9a-f]{40}$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/**
 * The origin a relay URL's logins are signed for: `new URL(relayUrl).origin`, or, in a runtime
 * that gives `null` for ws: URLs, the same `ws(s)://host[:port]` built by hand. Throws a TypeError
 * for anything but a ws: or wss: URL.
 */
export function relayOriginOf(relayUrl: string): string {
  let url: URL;
  try {
    url = new URL(relayUrl);
  } catch {
    throw new TypeError(`relayUrl ${JSON.stringify(relayUrl)} is not a URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`relayUrl must be a ws: or wss: URL, got ${url.protocol}`);
  return url.origin !== 'null' ? url.origin : `${url.protocol}//${url.host}`;
}

const defaultLog = (event: string, fields: RelayLogFields = {}) => {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`);
  console.info(`[channel-wallet relay] ${event}${parts.length ? ' ' + parts.join(' ') : ''}`);
};

function describeError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const name = (error as { name?: unknown } | null)?.name;
  return typeof code === 'number' || typeof code === 'string' ? `${String(name ?? 'Error')} ${code}` : String(name ?? typeof error);
}

interface Outgoing {
  to: string;
  message: string;
}

class Relay implements RelayConnection {
  readonly relayOrigin: string;
  address = '';
  readonly ready: Promise<void>;

  readonly #client: RelayWallet;
  readonly #url: string;
  readonly #WebSocket: RelaySocketConstructor;
  readonly #reconnect: boolean;
  readonly #loginTimeoutMs: number;
  readonly #log: (event: string, fields?: RelayLogFields) => void;
  readonly #stateListeners = new Set<(state: RelayState) => void>();
  readonly #unsubscribe: () => void;

  #state: RelayState = 'connecting';
  #everOpen = false;
  #socket: RelaySocket | undefined;
  /** Incremented per socket: events from an older socket are ignored. */
  #attempt = 0;
  #loginTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #backoffMs = RELAY_BACKOFF_MIN_MS;
  /** Messages not yet written to a logged-in socket, in order. */
  #outbox: Outgoing[] = [];
  /** Messages written but not yet acknowledged by the relay, by id in send order; sent again after a reconnect. */
  readonly #unacked = new Map<string, Outgoing>();
  #nextId = 1;
  /** Inbound messages waiting for the wallet, in arrival order. */
  #inbox: { from: `0x${string}`; message: string }[] = [];
  #delivering = 0;
  #resolveReady!: () => void;
  #rejectReady!: (error: Error) => void;

  constructor(options: RelayOptions, relayOrigin: string, WebSocketImpl: RelaySocketConstructor) {
    this.#client = options.client;
    this.#url = options.relayUrl;
    this.relayOrigin = relayOrigin;
    this.#WebSocket = WebSocketImpl;
    this.#reconnect = options.reconnect ?? true;
    this.#loginTimeoutMs = options.loginTimeoutMs ?? RELAY_LOGIN_TIMEOUT_MS;
    this.#log = options.log ?? defaultLog;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.#unsubscribe = this.#client.on('channel_outboundMessage', (params) => this.#outbound(params));
    this.#open();
  }

  get state(): RelayState {
    return this.#state;
  }

  on(event: 'state', listener: (state: RelayState) => void): () => void {
    if (event !== 'state') throw new TypeError(`Unknown relay event ${JSON.stringify(String(event))}; the event is "state"`);
    if (typeof listener !== 'function') throw new TypeError('The listener must be a function');
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  close(): void {
    this.#shutdown('closed by the dapp');
  }

  // ---- the socket ----------------------------------------------------------------------------

  #open(): void {
    const attempt = ++this.#attempt;
    this.#setState('connecting');
    let socket: RelaySocket;
    try {
      socket = new this.#WebSocket(this.#url);
    } catch (error) {
      this.#attemptFailed(new Error(`relay: could not open a WebSocket to ${this.#url} (${describeError(error)})`));
      return;
    }
    this.#socket = socket;
    let challenged = false;
    socket.onmessage = (event: { data: unknown }) => {
      if (attempt !== this.#attempt) return;
      const frame = parseFrame(event.data);
      if (!frame) {
        this.#log('ignored-frame', { reason: 'not a JSON object with a type' });
        return;
      }
      if (frame.type === 'challenge' && !challenged) {
        challenged = true;
        this.#login(attempt, frame.challenge);
      } else {
        this.#frame(frame);
      }
    };
    socket.onclose = (event: { code?: number }) => {
      if (attempt !== this.#attempt) return;
      this.#socket = undefined;
      const reason = `the socket closed (${event.code ?? 'no code'})`;
      if (this.#state === 'open') {
        this.#log('disconnected', { code: event.code });
        if (this.#reconnect) this.#scheduleReconnect();
        else this.#shutdown('the socket closed and reconnect is off');
      } else {
        this.#attemptFailed(new Error(`relay: could not log in at ${this.#url}: ${reason}`));
      }
    };
    socket.onerror = () => {
      // A close event follows; it decides what happens.
    };
    this.#loginTimer = setTimeout(() => {
      if (attempt !== this.#attempt) return;
      this.#attemptFailed(new Error(`relay: no login at ${this.#url} within ${this.#loginTimeoutMs} ms`));
    }, this.#loginTimeoutMs);
  }

  #login(attempt: number, challenge: `0x${string}`): void {
    this.#client.signRelayChallenge({ relayOrigin: this.relayOrigin, challenge }).then(
      ({ address, signature }) => {
        if (attempt !== this.#attempt || this.#state === 'closed') return;
        this.address = address.toLowerCase();
        this.#write({ type: 'login', address, signature });
      },
      (error: unknown) => {
        if (attempt !== this.#attempt || this.#state === 'closed') return;
        const code = (error as { code?: unknown } | null)?.code;
        // The wallet is gone or no longer lets this site in: another attempt would fail the same way.
        const permanent = code === ErrorCode.disconnected || code === ErrorCode.unauthorized;
        this.#attemptFailed(new Error(`relay: the wallet did not sign the relay login (${describeError(error)})`), permanent);
      },
    );
  }

  #frame(frame: InboundFrame): void {
    switch (frame.type) {
      case 'welcome':
        if (this.#state !== 'connecting') return;
        if (frame.address !== this.address) {
          this.#attemptFailed(new Error(`relay: logged in as ${frame.address}, expected ${this.address}`), true);
          return;
        }
        clearTimeout(this.#loginTimer);
        this.#loginTimer = undefined;
        this.#backoffMs = RELAY_BACKOFF_MIN_MS;
        this.#everOpen = true;
        this.#log('open', { address: this.address, resending: this.#unacked.size || undefined, buffered: this.#outbox.length || undefined });
        this.#setState('open');
        this.#resolveReady();
        // Unacknowledged messages first: they are older than anything in the outbox.
        for (const [id, m] of this.#unacked) this.#write({ type: 'send', to: m.to, message: m.message, id });
        for (const m of this.#outbox.splice(0)) this.#transmit(m);
        return;
      case 'message':
        if (this.#inbox.length >= RELAY_BUFFER_LIMIT) {
          this.#inbox.shift();
          this.#log('dropped-inbound', { reason: 'the wallet is not keeping up' });
        }
        this.#inbox.push({ from: frame.from, message: frame.message });
        this.#drain();
        return;
      case 'sent':
        this.#unacked.delete(frame.id);
        return;
      case 'error':
        if (frame.code === 'login-failed') {
          this.#attemptFailed(new Error(`relay: login failed: ${frame.message}`));
        } else if (frame.id !== undefined && this.#unacked.has(frame.id)) {
          const m = this.#unacked.get(frame.id)!;
          this.#unacked.delete(frame.id);
          this.#log('send-refused', { to: m.to, code: frame.code, reason: frame.message });
        } else {
          this.#log('relay-error', { code: frame.code, reason: frame.message });
        }
        return;
      case 'challenge':
        return; // only the first one counts
    }
  }

  #attemptFailed(error: Error, permanent = false): void {
    if (this.#state === 'closed') return;
    this.#dropSocket();
    if (!this.#everOpen) {
      this.#shutdown(error.message);
      this.#rejectReady(error);
    } else if (permanent || !this.#reconnect) {
      this.#log('stopped', { reason: error.message });
      this.#shutdown(error.message);
    } else {
      this.#log('login-failed', { reason: error.message });
      this.#scheduleReconnect();
    }
  }

  #scheduleReconnect(): void {
    this.#dropSocket();
    this.#setState('connecting');
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, RELAY_BACKOFF_MAX_MS);
    this.#log('reconnecting', { inMs: delay });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#state !== 'closed') this.#open();
    }, delay);
  }

  /** Forgets the current socket (its events are ignored from now on) and closes it. */
  #dropSocket(): void {
    this.#attempt++;
    clearTimeout(this.#loginTimer);
    this.#loginTimer = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      try {
        socket.close(1000);
      } catch {
        // already closing
      }
    }
  }

  #shutdown(reason: string): void {
    if (this.#state === 'closed') return;
    this.#dropSocket();
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#unsubscribe();
    this.#outbox = [];
    this.#unacked.clear();
    this.#inbox = [];
    if (this.#everOpen) this.#log('closed', { reason });
    this.#setState('closed');
    this.#stateListeners.clear();
  }

  #setState(state: RelayState): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const listener of [...this.#stateListeners]) {
      try {
        listener(state);
      } catch (error) {
        this.#log('state-listener-threw', { error: describeError(error) });
      }
    }
  }

  // ---- messages -------------------------------------------------------------------------------

  #outbound({ to, message }: NotificationParams<'channel_outboundMessage'>): void {
    if (this.#state === 'closed') return;
    if (message.length > MAX_MESSAGE_CHARS) {
      this.#log('dropped-outbound', { to, reason: `longer than ${MAX_MESSAGE_CHARS} characters` });
      return;
    }
    const m = { to: to.toLowerCase(), message };
    if (this.#state === 'open') {
      this.#transmit(m);
      return;
    }
    if (this.#outbox.length >= RELAY_BUFFER_LIMIT) {
      const dropped = this.#outbox.shift()!;
      this.#log('dropped-outbound', { to: dropped.to, reason: 'too many messages waiting for the relay' });
    }
    this.#outbox.push(m);
  }

  #transmit(m: Outgoing): void {
    const id = String(this.#nextId++);
    if (this.#unacked.size >= RELAY_BUFFER_LIMIT) {
      // The relay has stopped acknowledging; forget the oldest rather than grow without bound.
      const oldest = this.#unacked.keys().next().value as string;
      this.#unacked.delete(oldest);
    }
    this.#unacked.set(id, m);
    this.#write({ type: 'send', to: m.to, message: m.message, id });
  }

  /** Writes a frame; if the socket has just gone, the close handler (and a resend) takes over. */
  #write(frame: object): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== OPEN) return;
    try {
      socket.send(JSON.stringify(frame));
    } catch (error) {
      this.#log('write-failed', { error: describeError(error) });
    }
  }

  /**
   * Hands inbound messages to the wallet in arrival order without waiting for each to be
   * handled (postMessage keeps the order, and the wallet handles messages that arrive together
   * as one batch), with at most DELIVERIES_IN_FLIGHT outstanding so a slow wallet pushes back.
   */
  #drain(): void {
    while (this.#inbox.length > 0 && this.#delivering < DELIVERIES_IN_FLIGHT && this.#state !== 'closed') {
      const m = this.#inbox.shift()!;
      this.#delivering++;
      this.#client.receiveMessage(m).then(
        () => undefined,
        (error: unknown) => this.#log('wallet-refused-message', { from: m.from, error: describeError(error) }),
      ).finally(() => {
        this.#delivering--;
        this.#drain();
      });
    }
  }
}

/** How many inbound messages may be with the wallet at once. */
const DELIVERIES_IN_FLIGHT = 64;

type InboundFrame =
  | { type: 'challenge'; challenge: `0x${string}` }
  | { type: 'welcome'; address: string }
  | { type: 'message'; from: `0x${string}`; message: string }
  | { type: 'sent'; id: string }
  | { type: 'error'; code: string; message: string; id: string | undefined };

/** Reads one relay frame; undefined for anything malformed. */
function parseFrame(data: unknown): InboundFrame | undefined {
  if (typeof data !== 'string') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const f = value as Record<string, unknown>;
  const str = (v: unknown): v is string => typeof v === 'string';
  switch (f.type) {
    case 'challenge':
      return str(f.challenge) && BYTES32.test(f.challenge) ? { type: 'challenge', challenge: f.challenge.toLowerCase() as `0x${string}` } : undefined;
    case 'welcome':
      return str(f.address) ? { type: 'welcome', address: f.address.toLowerCase() } : undefined;
    case 'message': {
      const from = str(f.from) ? f.from.toLowerCase() : '';
      return ADDRESS.test(from) && str(f.message) ? { type: 'message', from: from as `0x${string}`, message: f.message } : undefined;
    }
    case 'sent':
      return str(f.id) ? { type: 'sent', id: f.id } : undefined;
    case 'error':
      return str(f.code) && str(f.message) ? { type: 'error', code: f.code, message: f.message, id: str(f.id) ? f.id : undefined } : undefined;
    default:
      return undefined;
  }
}

/**
 * Connects the wallet to a message relay and resolves once the relay has accepted the wallet's
 * login. Rejects with an Error if the socket cannot be opened, the wallet does not sign, the relay
 * refuses the login, or all that takes longer than `loginTimeoutMs`; and with a TypeError for a
 * relayUrl that is not ws(s) or when there is no WebSocket class.
 */
export async function connectRelay(options: RelayOptions): Promise<RelayConnection> {
  const relayOrigin = relayOriginOf(options.relayUrl);
  const WebSocketImpl = options.WebSocketImpl ?? (globalThis as { WebSocket?: RelaySocketConstructor }).WebSocket;
  if (typeof WebSocketImpl !== 'function') throw new TypeError('There is no global WebSocket here: pass WebSocketImpl (e.g. the ws package)');
  const relay = new Relay(options, relayOrigin, WebSocketImpl);
  await relay.ready;
  return relay;
}
