/**
 * The relay transport against the real relay server (hub/src/relay), with a stand-in wallet that
 * signs with a real key: the wallet is not what is under test here. The peer on the other side
 * is a raw relay client.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { PrivateKey, signRelayLogin } from '../../core/src/index.ts';
import { type Relay, startRelay } from '../../hub/src/relay/index.ts';
import { RawClient, recordingLog, WAIT_MS } from '../../hub/src/relay/testing.ts';
import { connectRelay, type RelayConnection, type RelayOptions, type RelayState, relayOriginOf } from './index.ts';
import { ErrorCode } from './schema.ts';
import { WalletRpcError } from './errors.ts';

type Outbound = { to: `0x${string}`; message: string };
type Inbound = { from: `0x${string}`; message: string };

/** Resolves when `check()` holds, re-checking whenever `subscribe`'s callback fires; fails after WAIT_MS. */
function until(subscribe: (wake: () => void) => () => void, check: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out waiting for ${what}`));
    }, WAIT_MS);
    const stop = subscribe(() => {
      if (!check()) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

/** A stand-in wallet: signs relay logins with a real key, records what it is handed. */
class FakeWallet {
  readonly received: Inbound[] = [];
  readonly listeners = new Set<(params: Outbound) => void>();
  readonly #wakers = new Set<() => void>();
  inFlight = 0;
  maxInFlight = 0;
  signCalls = 0;
  /** Replaces the signer (to sign wrongly, or never). */
  sign: (relayOrigin: string, challenge: `0x${string}`) => Promise<ReturnType<typeof signRelayLogin>>;
  /** Replaces the receiver's behaviour per message (e.g. throw). */
  onReceive: (m: Inbound) => Promise<void> = async () => {
    // Take a turn of the event loop, as the real wallet (a postMessage round trip) does.
    await new Promise<void>((resolve) => setImmediate(resolve));
  };

  constructor(readonly key: PrivateKey) {
    this.sign = async (relayOrigin, challenge) => signRelayLogin(key, relayOrigin, challenge);
  }

  readonly signRelayChallenge = async ({ relayOrigin, challenge }: { relayOrigin: string; challenge: `0x${string}` }) => {
    this.signCalls++;
    return { address: this.key.address, signature: await this.sign(relayOrigin, challenge) };
  };

  readonly receiveMessage = async (m: Inbound): Promise<null> => {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.onReceive(m);
      this.received.push(m);
      return null;
    } finally {
      this.inFlight--;
      for (const wake of this.#wakers) wake();
    }
  };

  on(_name: 'channel_outboundMessage', listener: (params: Outbound) => void): () => void {
    this.listeners.add(listener);
    return () => this.off(_name, listener);
  }

  off(_name: 'channel_outboundMessage', listener: (params: Outbound) => void): void {
    this.listeners.delete(listener);
  }

  /** The wallet posts `channel_outboundMessage`. */
  emit(to: string, message: string): void {
    for (const listener of [...this.listeners]) listener({ to: to as `0x${string}`, message });
  }

  /** Resolves once the wallet has been handed (or has refused) `n` messages in all. */
  handled(n: number, refused = () => 0): Promise<void> {
    return until(
      (wake) => {
        this.#wakers.add(wake);
        return () => this.#wakers.delete(wake);
      },
      () => this.received.length + refused() >= n,
      `${n} messages handed to the wallet`,
    );
  }
}

function nextState(relay: RelayConnection, state: RelayState): Promise<void> {
  return until(
    (wake) => relay.on('state', wake),
    () => relay.state === state,
    `relay state ${state}`,
  );
}

let server: Relay;
const serverLog = recordingLog();
const open: { close(): unknown }[] = [];
const lines: { event: string; fields: Record<string, unknown> }[] = [];

function options(wallet: FakeWallet, extra: Partial<RelayOptions> = {}): RelayOptions {
  return {
    client: wallet,
    relayUrl: server.url,
    WebSocketImpl: WebSocket,
    log: (event, fields = {}) => lines.push({ event, fields }),
    ...extra,
  };
}

async function connected(wallet: FakeWallet, extra: Partial<RelayOptions> = {}): Promise<RelayConnection> {
  const relay = await connectRelay(options(wallet, extra));
  open.push(relay);
  return relay;
}

async function peer(key = PrivateKey.random()): Promise<RawClient> {
  const client = await RawClient.login(server.url, server.origin, key);
  open.push(client);
  return client;
}

beforeAll(async () => {
  server = await startRelay({ log: serverLog.log });
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await server.close();
  for (const line of lines) expect(JSON.stringify(line)).not.toContain('secret');
});

describe('relayOriginOf', () => {
  it('is the URL origin of a ws(s) URL', () => {
    expect(relayOriginOf('ws://127.0.0.1:7100/relay')).toBe('ws://127.0.0.1:7100');
    expect(relayOriginOf('WSS://Hub.Example:443/relay?x=1')).toBe('wss://hub.example');
    expect(relayOriginOf('ws://[::1]:7100/relay')).toBe('ws://[::1]:7100');
  });

  it('refuses anything else', () => {
    expect(() => relayOriginOf('https://hub.example/relay')).toThrowError(TypeError);
    expect(() => relayOriginOf('not a url')).toThrowError(TypeError);
  });
});

describe('connectRelay', () => {
  it('logs the wallet in with a signature for the relay origin, and reports its state', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    let signedFor = '';
    wallet.sign = async (origin, challenge) => {
      signedFor = origin;
      return signRelayLogin(wallet.key, origin, challenge);
    };
    const relay = await connected(wallet);
    expect(relay.state).toBe('open');
    expect(relay.address).toBe(wallet.key.address);
    expect(relay.relayOrigin).toBe(server.origin);
    expect(signedFor).toBe(server.origin);
    expect(wallet.listeners.size).toBe(1);

    const states: RelayState[] = [];
    relay.on('state', (s) => states.push(s));
    relay.close();
    relay.close();
    expect(relay.state).toBe('closed');
    expect(states).toEqual(['closed']);
    expect(wallet.listeners.size).toBe(0);
  });

  it('forwards the wallet’s outbound messages in order', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    const b = PrivateKey.random();
    const other = await peer(b);
    await connected(wallet);
    for (let i = 0; i < 50; i++) wallet.emit(b.address, `{"n":${i},"secret":true}`);
    const got = await other.messages(50);
    expect(got.map((m) => m.message)).toEqual(Array.from({ length: 50 }, (_, i) => `{"n":${i},"secret":true}`));
    expect(got.every((m) => m.from === wallet.key.address)).toBe(true);
  });

  it('hands inbound messages to the wallet in order, several in flight, past a message it refuses', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    let refused = 0;
    const base = wallet.onReceive;
    wallet.onReceive = async (m) => {
      await base(m);
      if (m.message === 'bad secret') {
        refused++;
        throw new WalletRpcError(ErrorCode.invalidParams, 'no');
      }
    };
    await connected(wallet);
    const b = PrivateKey.random();
    const other = await peer(b);
    const sent = Array.from({ length: 30 }, (_, i) => (i === 10 ? 'bad secret' : `m${i}`));
    for (const m of sent) other.send({ type: 'send', to: wallet.key.address, message: m });
    await wallet.handled(30, () => refused);
    expect(wallet.received.map((m) => m.message)).toEqual(sent.filter((m) => m !== 'bad secret'));
    expect(wallet.received.every((m) => m.from === b.address)).toBe(true);
    expect(wallet.maxInFlight).toBeGreaterThan(1);
    expect(wallet.maxInFlight).toBeLessThanOrEqual(64);
    expect(lines.some((l) => l.event === 'wallet-refused-message' && l.fields.error === 'WalletRpcError -32602')).toBe(true);
  });

  it('gets messages queued while the wallet was offline, right after login', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    const other = await peer();
    for (let i = 0; i < 3; i++) expect(await other.sendMessage(wallet.key.address, `early ${i}`)).toMatchObject({ queued: true });
    await connected(wallet);
    await wallet.handled(3);
    expect(wallet.received.map((m) => m.message)).toEqual(['early 0', 'early 1', 'early 2']);
  });

  it('buffers outbound messages while reconnecting after the relay drops it, and sends them after', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    const b = PrivateKey.random();
    const other = await peer(b);
    const relay = await connected(wallet);
    wallet.emit(b.address, 'before');
    expect((await other.next('message')).message).toBe('before');

    // The relay drops the wallet's socket; while it reconnects the wallet keeps talking, and the
    // peer writes to it (the relay queues that).
    const reconnecting = nextState(relay, 'connecting');
    expect(server.disconnect(wallet.key.address)).toBe(1);
    await reconnecting;
    wallet.emit(b.address, 'during 1');
    wallet.emit(b.address, 'during 2');
    expect(await other.sendMessage(wallet.key.address, 'to the wallet while away')).toMatchObject({ queued: true });

    await nextState(relay, 'open');
    expect(wallet.signCalls).toBe(2);
    wallet.emit(b.address, 'after');
    expect((await other.messages(3)).map((m) => m.message)).toEqual(['during 1', 'during 2', 'after']);
    await wallet.handled(1);
    expect(wallet.received.map((m) => m.message)).toEqual(['to the wallet while away']);
  });

  it('rides out a relay restart with backoff, logging in again', async () => {
    const local = await startRelay({ log: () => {} });
    const port = local.port;
    let restarted: Relay | undefined;
    try {
      const wallet = new FakeWallet(PrivateKey.random());
      const b = PrivateKey.random();
      const relay = await connected(wallet, { relayUrl: local.url });
      const states: RelayState[] = [];
      relay.on('state', (s) => states.push(s));
      const down = nextState(relay, 'connecting');
      await local.close();
      await down;
      wallet.emit(b.address, 'while the relay was down');
      restarted = await startRelay({ port, log: () => {} });
      await nextState(relay, 'open');
      const other = await RawClient.login(restarted.url, restarted.origin, b);
      open.push(other);
      // The message went out after the login, so the new relay queued it for b.
      expect((await other.next('message')).message).toBe('while the relay was down');
      expect(states[0]).toBe('connecting');
      expect(states.at(-1)).toBe('open');
      expect(lines.some((l) => l.event === 'reconnecting')).toBe(true);
      relay.close();
    } finally {
      await restarted?.close();
    }
  });

  it('closes for good with reconnect: false', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    const relay = await connected(wallet, { reconnect: false });
    const closed = nextState(relay, 'closed');
    server.disconnect(wallet.key.address);
    await closed;
    expect(wallet.listeners.size).toBe(0);
  });

  it('stops when the wallet is gone (4900) at a reconnect', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    const relay = await connected(wallet);
    wallet.sign = async () => {
      throw new WalletRpcError(ErrorCode.disconnected, 'gone');
    };
    const closed = nextState(relay, 'closed');
    server.disconnect(wallet.key.address);
    await closed;
    expect(wallet.listeners.size).toBe(0);
  });

  it('rejects when the relay refuses the login, and unsubscribes', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    wallet.sign = async (_origin, challenge) => signRelayLogin(wallet.key, 'ws://elsewhere.example', challenge);
    await expect(connectRelay(options(wallet))).rejects.toThrowError(/^relay: login failed: login\.signature: does not recover/);
    expect(wallet.listeners.size).toBe(0);
  });

  it('rejects when the wallet does not sign in time', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    wallet.sign = () => new Promise(() => {});
    await expect(connectRelay(options(wallet, { loginTimeoutMs: 200 }))).rejects.toThrowError(/no login at .* within 200 ms/);
    expect(wallet.listeners.size).toBe(0);
  });

  it('rejects when nothing listens at the URL', async () => {
    const gone = await startRelay({ log: () => {} });
    await gone.close();
    const wallet = new FakeWallet(PrivateKey.random());
    await expect(connectRelay(options(wallet, { relayUrl: gone.url }))).rejects.toThrowError(/could not log in at ws:\/\/127\.0\.0\.1:\d+\/relay/);
  });

  it('refuses a relayUrl that is not ws(s), or no WebSocket class', async () => {
    const wallet = new FakeWallet(PrivateKey.random());
    await expect(connectRelay(options(wallet, { relayUrl: 'https://hub.example/relay' }))).rejects.toThrowError(TypeError);
    vi.stubGlobal('WebSocket', undefined);
    try {
      await expect(connectRelay({ client: wallet, relayUrl: server.url })).rejects.toThrowError(/no global WebSocket/);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
