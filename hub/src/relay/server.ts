/**
 * The message relay: delivers opaque protocol messages between wallets by wallet address.
 * A wallet proves its address by signing a fresh per-connection challenge under the relay-login
 * domain, bound to this relay's public origin (core `signRelayLogin`). Messages for an address
 * with no connection are queued in memory (see queue.ts) and delivered, in order, when it logs in.
 * Delivery is at most once: a message is written to every open connection of the address, with no
 * acknowledgement from the wallet.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { recoverRelayLogin, type Bytes32 } from '../../../core/src/index.ts';
import { CloseCode, type ErrorCode, FrameError, MAX_FRAME_BYTES, parseBinaryFrame, parseClientFrame, type ClientFrame, type ServerFrame } from './protocol.ts';
import { OfflineQueue, type QueueLimits } from './queue.ts';

export const RELAY_PATH = '/relay';
export const HEALTH_PATH = '/health';

export type LogFields = Record<string, string | number | boolean | undefined>;
/** One line per event, with primitive fields only: never a message body or a signature. */
export type RelayLog = (event: string, fields?: LogFields) => void;

export interface RelayOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /**
   * The relay's origin as clients see it, e.g. `wss://relay.example`: logins are signed for it.
   * Default `ws://<host>:<port>`. Set it when the relay is reached through a proxy or a name.
   */
  publicOrigin?: string;
  /** Default: a `[relay] event k=v` line on the console. */
  log?: RelayLog;
  /** How long a connection may take to log in, in ms. Default 10 000. */
  loginTimeoutMs?: number;
  /** Frames a connection may send per second before frames are dropped. Default 2 000. */
  maxFramesPerSecond?: number;
  /** How often to ping connections; one that has not answered the last ping is dropped. Default 30 000. */
  pingIntervalMs?: number;
  /** Bytes that may wait to be written to one connection before it is dropped as too slow. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Offline queue bounds (defaults: 1 000 messages and 4 MiB per address, 10 minute TTL, 256 MiB in all). */
  queue?: Partial<QueueLimits>;
  /**
   * Addresses whose logged-in connections are not rate-limited (`maxFramesPerSecond`): the hub's
   * own engine, which sends to every user through one connection. Compared lower-case.
   */
  unthrottled?: readonly string[];
  /**
   * More JSON endpoints on the same HTTP server, by path (e.g. `/hub/health`), answering GET and
   * HEAD with `200` and what the handler returns (or `503` with `{ error }` if it throws). The
   * handler must return nothing secret: the answer is served to anyone, with CORS `*`.
   */
  routes?: Readonly<Record<string, () => unknown>>;
}

export interface Relay {
  /** The WebSocket URL clients connect to: `<origin>/relay`. */
  url: string;
  /** The public origin logins are signed for. */
  origin: string;
  /** The port the relay listens on. */
  port: number;
  /** `http://<host>:<port>/health`. */
  healthUrl: string;
  /** What `/health` answers. */
  health(): RelayHealth;
  /**
   * Closes every connection logged in as `address` (close code 4005), e.g. to kick a client;
   * returns how many. The clients may reconnect and log in again.
   */
  disconnect(address: string): number;
  /** Closes every connection (1001), stops listening and drops the queue. Idempotent. */
  close(): Promise<void>;
}

export interface RelayHealth {
  status: 'ok';
  /** Open WebSocket connections, logged in or not. */
  connections: number;
  /** Distinct addresses with at least one logged-in connection. */
  addresses: number;
  uptimeMs: number;
}

interface Connection {
  id: number;
  ws: WebSocket;
  challenge: Bytes32;
  address: string | undefined;
  loginTimer: ReturnType<typeof setTimeout> | undefined;
  alive: boolean;
  windowStart: number;
  frames: number;
}

function formatLine(event: string, fields: LogFields = {}): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v) : String(v)}`);
  return `[relay] ${event}${parts.length ? ' ' + parts.join(' ') : ''}`;
}

export const consoleRelayLog: RelayLog = (event, fields) => console.log(formatLine(event, fields));

/** `ws://host:port` for a listening address (IPv6 hosts in brackets), normalised as URL.origin does. */
function defaultOrigin(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return new URL(`ws://${h}:${port}`).origin;
}

/** The origin of a ws(s) URL, as `new URL(url).origin` gives it. Throws a TypeError for anything else. */
export function relayOriginOf(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`publicOrigin ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`publicOrigin must be a ws: or wss: origin, got ${url.protocol}`);
  return `${url.protocol}//${url.host}`;
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export async function startRelay(options: RelayOptions = {}): Promise<Relay> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? consoleRelayLog;
  const loginTimeoutMs = options.loginTimeoutMs ?? 10_000;
  const maxFramesPerSecond = options.maxFramesPerSecond ?? 2_000;
  const pingIntervalMs = options.pingIntervalMs ?? 30_000;
  const maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
  // Checked before listening, so a bad origin fails fast.
  const configuredOrigin = options.publicOrigin === undefined ? undefined : relayOriginOf(options.publicOrigin);
  const unthrottled = new Set((options.unthrottled ?? []).map((a) => a.toLowerCase()));
  const routes = new Map(Object.entries(options.routes ?? {}));
  for (const path of routes.keys()) {
    if (!path.startsWith('/') || path === HEALTH_PATH || path === RELAY_PATH) throw new TypeError(`routes: ${JSON.stringify(path)} must be a path starting with "/", other than ${HEALTH_PATH} and ${RELAY_PATH}`);
  }

  const startedAt = Date.now();
  const queue = new OfflineQueue(options.queue);
  const connections = new Set<Connection>();
  const byAddress = new Map<string, Set<Connection>>();
  let nextId = 1;
  let origin = configuredOrigin ?? '';

  const health = (): RelayHealth => ({ status: 'ok', connections: connections.size, addresses: byAddress.size, uptimeMs: Date.now() - startedAt });

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'access-control-allow-origin': '*' });
      res.end(text);
    };
    const json = (status: number, body: unknown) => reply(status, JSON.stringify(body));
    const route = path === undefined ? undefined : routes.get(path);
    if (path === HEALTH_PATH) {
      if (req.method === 'GET' || req.method === 'HEAD') json(200, health());
      else json(405, { error: 'method not allowed' });
    } else if (route) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        json(405, { error: 'method not allowed' });
        return;
      }
      Promise.resolve()
        .then(route)
        .then((body) => JSON.stringify(body))
        .then(
          (text) => reply(200, text),
          (error: unknown) => {
            log('route-error', { path, error: (error as Error | undefined)?.name ?? 'unknown' });
            json(503, { error: 'unavailable' });
          },
        );
    } else {
      json(404, { error: 'not found' });
    }
  });
  const wss = new WebSocketServer({ server, path: RELAY_PATH, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });

  function send(conn: Connection, frame: ServerFrame): void {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(JSON.stringify(frame));
  }

  function reject(conn: Connection, code: ErrorCode, reason: string, id?: string): void {
    log('rejected', { conn: conn.id, address: conn.address, code, reason });
    send(conn, id === undefined ? { type: 'error', code, message: reason } : { type: 'error', code, message: reason, id });
  }

  function login(conn: Connection, frame: Extract<ClientFrame, { type: 'login' }>): void {
    if (conn.address !== undefined) {
      reject(conn, 'bad-request', 'already logged in');
      return;
    }
    let signer: string | undefined;
    try {
      signer = recoverRelayLogin(origin, conn.challenge, frame.signature);
    } catch {
      signer = undefined;
    }
    if (signer !== frame.address) {
      const reason = `login.signature: does not recover to login.address for this connection's challenge and relay origin ${origin}`;
      reject(conn, 'login-failed', reason);
      conn.ws.close(CloseCode.loginFailed, 'login failed');
      return;
    }
    clearTimeout(conn.loginTimer);
    conn.loginTimer = undefined;
    conn.address = frame.address;
    let set = byAddress.get(frame.address);
    if (!set) byAddress.set(frame.address, (set = new Set()));
    set.add(conn);
    send(conn, { type: 'welcome', address: frame.address });
    const waiting = queue.take(frame.address);
    for (const m of waiting) send(conn, { type: 'message', from: m.from, message: m.message });
    log('login', { conn: conn.id, address: frame.address, queued: waiting.length || undefined });
  }

  function deliver(conn: Connection, from: string, frame: Extract<ClientFrame, { type: 'send' }>): void {
    let delivered = 0;
    let text: string | undefined;
    for (const target of byAddress.get(frame.to) ?? []) {
      if (target.ws.readyState !== WebSocket.OPEN) continue;
      if (target.ws.bufferedAmount > maxBufferedBytes) {
        log('dropped-slow-connection', { conn: target.id, address: target.address, buffered: target.ws.bufferedAmount });
        target.ws.terminate();
        continue;
      }
      text ??= JSON.stringify({ type: 'message', from, message: frame.message } satisfies ServerFrame);
      target.ws.send(text);
      delivered++;
    }
    let queued = false;
    if (delivered === 0) {
      const result = queue.enqueue(frame.to, from, frame.message);
      queued = result.queued;
      if (!result.queued) log('queue-refused', { conn: conn.id, from, to: frame.to, reason: result.reason });
      else if (result.dropped > 0) log('queue-dropped-oldest', { to: frame.to, dropped: result.dropped });
    }
    if (frame.id !== undefined) send(conn, { type: 'sent', id: frame.id, delivered, queued });
  }

  /** Passes a binary frame on to the connections of its address, as is but for the address: never queued. */
  function onBinaryFrame(conn: Connection, data: Buffer): void {
    if (conn.address === undefined) {
      reject(conn, 'not-logged-in', 'log in before sending');
      return;
    }
    let to: string;
    try {
      to = parseBinaryFrame(data).address;
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      reject(conn, error.code, error.message);
      return;
    }
    let delivered = 0;
    // The sender's address goes where the recipient's was: the frame is reused, not copied.
    Buffer.from(conn.address.slice(2), 'hex').copy(data, 0);
    for (const target of byAddress.get(to) ?? []) {
      if (target.ws.readyState !== WebSocket.OPEN) continue;
      if (target.ws.bufferedAmount > maxBufferedBytes) {
        log('dropped-slow-connection', { conn: target.id, address: target.address, buffered: target.ws.bufferedAmount });
        target.ws.terminate();
        continue;
      }
      target.ws.send(data, { binary: true });
      delivered++;
    }
    if (delivered === 0) reject(conn, 'not-connected', `binary frame for ${to}: no connection is logged in as that address (binary frames are not queued)`);
  }

  function onFrame(conn: Connection, data: RawData, isBinary: boolean): void {
    const now = Date.now();
    if (now - conn.windowStart >= 1_000) {
      conn.windowStart = now;
      conn.frames = 0;
    }
    conn.frames++;
    if (conn.frames > maxFramesPerSecond && !(conn.address !== undefined && unthrottled.has(conn.address))) {
      // One answer (and one log line) per second of flooding; the rest are dropped silently.
      if (conn.frames === maxFramesPerSecond + 1) reject(conn, 'rate-limited', `more than ${maxFramesPerSecond} frames in a second; frames are dropped until the next second`);
      return;
    }
    if (isBinary) {
      onBinaryFrame(conn, rawToBuffer(data));
      return;
    }
    let frame: ClientFrame;
    try {
      frame = parseClientFrame(rawToString(data));
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      reject(conn, error.code, error.message, error.id);
      return;
    }
    if (frame.type === 'login') {
      login(conn, frame);
    } else if (conn.address === undefined) {
      reject(conn, 'not-logged-in', 'log in before sending', frame.id);
    } else {
      deliver(conn, conn.address, frame);
    }
  }

  wss.on('connection', (ws: WebSocket) => {
    const conn: Connection = {
      id: nextId++,
      ws,
      challenge: `0x${randomBytes(32).toString('hex')}`,
      address: undefined,
      loginTimer: undefined,
      alive: true,
      windowStart: Date.now(),
      frames: 0,
    };
    connections.add(conn);
    conn.loginTimer = setTimeout(() => {
      conn.loginTimer = undefined;
      if (conn.address !== undefined) return;
      log('rejected', { conn: conn.id, code: 'login-timeout', reason: `no login within ${loginTimeoutMs} ms` });
      ws.close(CloseCode.loginTimeout, 'login timeout');
    }, loginTimeoutMs);
    ws.on('message', (data, isBinary) => {
      try {
        onFrame(conn, data, isBinary);
      } catch (error) {
        // A bug here must not take the relay down; the connection goes, the rest keep going.
        log('internal-error', { conn: conn.id, error: (error as Error | undefined)?.name ?? 'unknown' });
        ws.terminate();
      }
    });
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        log('rejected', { conn: conn.id, address: conn.address, code: 'too-large', reason: `frame larger than ${MAX_FRAME_BYTES} bytes; closed with 1009` });
      } else {
        log('socket-error', { conn: conn.id, address: conn.address, error: error.code ?? error.name });
      }
    });
    ws.on('close', (code: number) => {
      clearTimeout(conn.loginTimer);
      connections.delete(conn);
      if (conn.address !== undefined) {
        const set = byAddress.get(conn.address);
        set?.delete(conn);
        if (set?.size === 0) byAddress.delete(conn.address);
      }
      log('disconnected', { conn: conn.id, address: conn.address, code });
    });
    send(conn, { type: 'challenge', challenge: conn.challenge });
  });
  wss.on('error', (error: Error) => log('server-error', { error: error.name }));

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error: Error) => log('server-error', { error: error.name }));
  const port = (server.address() as AddressInfo).port;
  origin = configuredOrigin ?? defaultOrigin(host, port);
  const httpHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;

  const heartbeat = setInterval(() => {
    for (const conn of connections) {
      try {
        if (!conn.alive) {
          log('dropped-unresponsive', { conn: conn.id, address: conn.address });
          conn.ws.terminate();
          continue;
        }
        conn.alive = false;
        conn.ws.ping();
      } catch (error) {
        log('internal-error', { conn: conn.id, error: (error as Error | undefined)?.name ?? 'unknown' });
      }
    }
  }, pingIntervalMs);
  heartbeat.unref();
  const sweeper = setInterval(() => {
    const dropped = queue.sweep();
    if (dropped > 0) log('queue-expired', { dropped });
  }, 60_000);
  sweeper.unref();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      clearInterval(heartbeat);
      clearInterval(sweeper);
      await Promise.all(
        [...connections].map(
          (conn) =>
            new Promise<void>((resolve) => {
              clearTimeout(conn.loginTimer);
              if (conn.ws.readyState === WebSocket.CLOSED) return resolve();
              const force = setTimeout(() => conn.ws.terminate(), 1_000);
              conn.ws.once('close', () => {
                clearTimeout(force);
                resolve();
              });
              conn.ws.close(CloseCode.goingAway, 'relay shutting down');
            }),
        ),
      );
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      queue.clear();
      log('closed');
    })());

  const disconnect = (address: string): number => {
    const set = byAddress.get(address.toLowerCase());
    let closed = 0;
    for (const conn of set ?? []) {
      if (conn.ws.readyState !== WebSocket.OPEN) continue;
      log('disconnecting', { conn: conn.id, address: conn.address });
      conn.ws.close(CloseCode.disconnected, 'disconnected by the relay');
      closed++;
    }
    return closed;
  };

  log('listening', { url: `${origin}${RELAY_PATH}`, health: `http://${httpHost}:${port}${HEALTH_PATH}` });
  return { url: `${origin}${RELAY_PATH}`, origin, port, healthUrl: `http://${httpHost}:${port}${HEALTH_PATH}`, health, disconnect, close };
}
