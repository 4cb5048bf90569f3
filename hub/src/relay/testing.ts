/**
 * Test helpers: a raw relay client that records every frame and lets a test await the next one of
 * a type (with a timeout that fails the test), and a log that records lines and lets a test await
 * an event. Nothing here sleeps.
 */
import { WebSocket } from 'ws';
import { type PrivateKey, signRelayLogin, type Bytes32 } from '../../../core/src/index.ts';
import { type ServerFrame, binaryFrame, parseBinaryFrame } from './protocol.ts';
import type { LogFields, RelayLog } from './server.ts';

export const WAIT_MS = 5_000;

/** A binary frame as received: who it is from, and its payload. */
export type BinaryFrame = { type: 'binary'; from: string; payload: Buffer };
type Frame = ServerFrame | BinaryFrame;
type FrameOf<T extends Frame['type']> = Extract<Frame, { type: T }>;

interface Waiter {
  type: Frame['type'];
  resolve: (frame: Frame) => void;
}

export class RawClient {
  readonly ws: WebSocket;
  /** Frames received and not yet taken by `next`, in order. */
  readonly inbox: Frame[] = [];
  /** Resolves with the close code and reason when the socket closes. */
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters: Waiter[] = [];
  #idCounter = 0;

  private constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data, isBinary) => {
      const binary = isBinary ? parseBinaryFrame(data as Buffer) : undefined;
      const frame: Frame = binary ? { type: 'binary', from: binary.address, payload: binary.payload } : (JSON.parse(String(data)) as ServerFrame);
      const i = this.#waiters.findIndex((w) => w.type === frame.type);
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(frame);
      else this.inbox.push(frame);
    });
    this.closed = new Promise((resolve) => this.ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
    this.ws.on('error', () => {}); // the close event follows
  }

  /** Connects and waits for the challenge. */
  static async connect(url: string): Promise<{ client: RawClient; challenge: Bytes32 }> {
    const client = new RawClient(url);
    const { challenge } = await client.next('challenge');
    return { client, challenge: challenge as Bytes32 };
  }

  /** Connects and logs in as `key` for `origin`. */
  static async login(url: string, origin: string, key: PrivateKey): Promise<RawClient> {
    const { client, challenge } = await RawClient.connect(url);
    client.send({ type: 'login', address: key.address, signature: signRelayLogin(key, origin, challenge) });
    const welcome = await client.next('welcome');
    if (welcome.address !== key.address) throw new Error(`welcomed as ${welcome.address}, expected ${key.address}`);
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a binary frame: `to`'s 20 address bytes, then `payload`. */
  sendBinary(to: string, payload: Uint8Array): void {
    this.ws.send(binaryFrame(to, payload), { binary: true });
  }

  /** Sends a message with an id and waits for its acknowledgement. */
  async sendMessage(to: string, message: string): Promise<FrameOf<'sent'>> {
    const id = `t${++this.#idCounter}`;
    this.send({ type: 'send', to, message, id });
    const ack = await this.next('sent');
    if (ack.id !== id) throw new Error(`acknowledgement for ${ack.id}, expected ${id}`);
    return ack;
  }

  /** The next frame of `type` (an earlier one already received, or the next to arrive). */
  next<T extends Frame['type']>(type: T, timeoutMs = WAIT_MS): Promise<FrameOf<T>> {
    const i = this.inbox.findIndex((f) => f.type === type);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as FrameOf<T>);
    return new Promise<FrameOf<T>>((resolve, reject) => {
      const waiter: Waiter = {
        type,
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame as FrameOf<T>);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no "${type}" frame within ${timeoutMs} ms; waiting: ${JSON.stringify(this.inbox.map((f) => f.type))}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The next `n` message frames, in order. */
  async messages(n: number): Promise<FrameOf<'message'>[]> {
    const out: FrameOf<'message'>[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next('message'));
    return out;
  }

  /**
   * Waits until the relay has handled everything this client sent before: a round trip (a `send`
   * to `self` with an id) that the relay answers in order.
   */
  async barrier(self: string): Promise<void> {
    const marker = `barrier-${++this.#idCounter}`;
    await this.sendMessage(self, marker);
    const frame = await this.next('message');
    if (frame.message !== marker) throw new Error('a message arrived before the barrier');
  }

  /** Waits for the socket to close and returns the close code. */
  async closeCode(timeoutMs = WAIT_MS): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the socket did not close within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return (await Promise.race([this.closed, timeout])).code;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

/** A relay log that keeps its lines and lets a test await an event. */
export function recordingLog(): {
  log: RelayLog;
  lines: { event: string; fields: LogFields }[];
  next(event: string, match?: (fields: LogFields) => boolean, timeoutMs?: number): Promise<LogFields>;
} {
  const lines: { event: string; fields: LogFields }[] = [];
  const waiters: { event: string; match: (fields: LogFields) => boolean; resolve: (fields: LogFields) => void }[] = [];
  const log: RelayLog = (event, fields = {}) => {
    lines.push({ event, fields });
    for (const w of [...waiters]) {
      if (w.event === event && w.match(fields)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(fields);
      }
    }
  };
  const next = (event: string, match: (fields: LogFields) => boolean = () => true, timeoutMs = WAIT_MS) =>
    new Promise<LogFields>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${event}" log line within ${timeoutMs} ms`)), timeoutMs);
      waiters.push({
        event,
        match,
        resolve: (fields) => {
          clearTimeout(timer);
          resolve(fields);
        },
      });
    });
  return { log, lines, next };
}
