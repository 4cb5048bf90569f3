/**
 * One signer per storage partition. Every wallet instance of a dapp site (one per tab) shares
 * the IndexedDB store and the key, so only one of them may run the channel engine: the one
 * holding the Web Lock `channel-wallet-engine`. It holds the lock for as long as it lives, so
 * its engine (the only thing that signs states) has stopped — its document is gone — before
 * the next instance in the lock's queue gets it and starts the engine from the store.
 *
 * The others (followers) never start an engine. Everything that needs one — channel and budget
 * calls, virtual channels, peers' messages, the relay connection — goes to the leader on the
 * wallet origin's BroadcastChannel (protocol.ts); the leader answers, and passes on its engine's
 * notifications so each instance tells its own dapp. Dialogs are not forwarded: a follower's RPC
 * handlers ask their own user, in their own iframe, before they forward the approved call.
 *
 * When the leader goes (its tab closed or reloaded) the next instance takes the lock, announces
 * itself and starts the engine (which resumes unfinished objectives from the store) and the
 * relay connection the old leader had. Calls still waiting on the old leader go to the new one
 * if they had not started there, or if running them twice is harmless; otherwise the caller
 * hears that the outcome is unknown (the engine resumes whatever the call had stored).
 */
import type { Logger } from '../log.ts';
import { RpcError } from '../rpc/rpc-error.ts';
import { ErrorCode } from '../../../sdk-client/src/schema.ts';
import { ProtocolError } from './checks.ts';
import {
  type EngineHost,
  type EngineNotification,
  type InstanceMessage,
  type MethodPath,
  type MethodSpec,
  PROTOCOL_VERSION,
  errorFromWire,
  errorToWire,
  invoke,
  methods,
  parseMessage,
  specOf,
} from './protocol.ts';

export const ENGINE_LOCK = 'channel-wallet-engine';
export const INSTANCES_CHANNEL = 'channel-wallet-instances';

/** The part of `navigator.locks` used here. */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<void>;
}

/** The part of a BroadcastChannel used here. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  close(): void;
}

export interface CoordinatorOptions {
  locks: LockManagerLike;
  channel: ChannelLike;
  /**
   * This instance's own engine and relay connection, used only while it leads: its methods may
   * start the engine (lazily), and are never called before the lock is held.
   */
  local: EngineHost;
  /** Called once this instance leads: resume the engine if there is anything to resume, reconnect the relay. */
  onLeader: (context: { relayUrl: string | undefined }) => Promise<void> | void;
  /** Stops the engine; `close()` calls it before it lets the lock go. */
  stopLocal: () => Promise<void> | void;
  /** A notification of the leader's engine, for this instance's dapp (a follower's only source of them). */
  deliver: (notification: EngineNotification) => void;
  log: Logger;
  /** Unique per instance; a random UUID unless given. */
  instanceId?: string;
}

interface Pending {
  path: MethodPath;
  args: unknown[];
  spec: MethodSpec<never>;
  /** The leader it was sent to, if sent. */
  sentTo: string | undefined;
  accepted: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Fn = (...a: unknown[]) => Promise<unknown>;

export class WalletCoordinator {
  readonly instanceId: string;
  /** What the RPC handlers use: this instance's engine while it leads, the leader's otherwise. */
  readonly engine: EngineHost;
  private leading = false;
  private leaderId: string | undefined;
  private relayUrl: string | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly abort = new AbortController();
  private release: (() => void) | undefined;
  private closed = false;
  private readonly leadership: Promise<void>;

  constructor(private readonly opts: CoordinatorOptions) {
    this.instanceId = opts.instanceId ?? crypto.randomUUID();
    const engine: Record<string, Record<string, Fn>> = {};
    for (const [group, table] of Object.entries(methods)) {
      engine[group] = {};
      for (const name of Object.keys(table)) engine[group][name] = (...a: unknown[]) => this.call(`${group}.${name}` as MethodPath, a);
    }
    this.engine = engine as unknown as EngineHost;
    // Listen before asking for the lock, so a leader always hears its followers.
    opts.channel.addEventListener('message', (event) => this.receive(event.data));
    this.post({ v: PROTOCOL_VERSION, kind: 'hello', from: this.instanceId });
    this.leadership = opts.locks
      .request(ENGINE_LOCK, { signal: this.abort.signal }, () => this.lead())
      .catch((e: unknown) => {
        if (!this.closed) opts.log.warn('wallet.lock-failed', { error: e instanceof Error ? e.name : 'unknown' });
      });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The leader's instance id, once known (this instance's own while it leads). */
  get leader(): string | undefined {
    return this.leaderId;
  }

  /** Passes a notification of this (leading) instance's engine to every follower. */
  publish(notification: EngineNotification): void {
    if (!this.leading) return;
    this.post({ v: PROTOCOL_VERSION, kind: 'notify', from: this.instanceId, ...notification } as InstanceMessage);
  }

  /**
   * Stops taking part: a leader stops its engine first and only then lets the lock go; a
   * follower leaves the lock's queue. Calls still waiting fail. (A closing tab needs none of
   * this: the browser releases the lock once the document, and the engine with it, is gone.)
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.leading) await this.opts.stopLocal();
    this.leading = false;
    this.abort.abort();
    this.release?.();
    await this.leadership;
    this.opts.channel.close();
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new RpcError(ErrorCode.disconnected, 'the wallet is closing'));
    }
  }

  // ---- Leading ---------------------------------------------------------------------------

  /** Runs while this instance holds the lock: the lock is let go only when this resolves. */
  private async lead(): Promise<void> {
    if (this.closed) return;
    const held = new Promise<void>((resolve) => (this.release = resolve));
    this.leading = true;
    this.leaderId = this.instanceId;
    this.opts.log.info('wallet.leader', { instance: this.instanceId });
    this.announce();
    // Calls that were waiting on a leader that has gone now run here — except one that cannot be
    // repeated and was already sent: the old leader's "accepted" (or even its result) may still be
    // on its way (the lock and the channel are not ordered), so it may have run; it fails as of
    // unknown outcome rather than risk running twice.
    for (const [id, p] of [...this.pending]) {
      if (p.sentTo !== undefined && !p.spec.idempotent) {
        this.pending.delete(id);
        p.reject(unknownOutcome());
        continue;
      }
      this.pending.delete(id);
      this.runLocal(p.path, p.args).then(p.resolve, p.reject);
    }
    try {
      await this.opts.onLeader({ relayUrl: this.relayUrl });
    } catch (e) {
      this.opts.log.warn('wallet.leader-start-failed', { error: e instanceof Error ? e.name : 'unknown' });
    }
    await held;
  }

  private announce(): void {
    this.post(this.relayUrl === undefined ? { v: PROTOCOL_VERSION, kind: 'leader', from: this.instanceId } : { v: PROTOCOL_VERSION, kind: 'leader', from: this.instanceId, relayUrl: this.relayUrl });
  }

  private async runLocal(path: MethodPath, args: unknown[]): Promise<unknown> {
    const value = await invoke(this.opts.local, path, args);
    if (path === 'peers.useRelay' && this.leading) {
      // The next leader reconnects to the same relay.
      this.relayUrl = args[0] as string;
      this.announce();
    }
    return value;
  }

  private serve(m: Extract<InstanceMessage, { kind: 'call' }>): void {
    this.post({ v: PROTOCOL_VERSION, kind: 'accepted', from: this.instanceId, to: m.from, id: m.id });
    const spec = specOf(m.method)!;
    this.runLocal(m.method, m.args).then(
      (value) => {
        let out: unknown;
        try {
          // Only what the method's result type says crosses (a runtime object may hold more).
          out = spec.result(value, 'result', 'pick');
        } catch (e) {
          this.opts.log.warn('wallet.instance-result-invalid', { method: m.method, field: e instanceof ProtocolError ? e.field : undefined });
          this.post({ v: PROTOCOL_VERSION, kind: 'failure', from: this.instanceId, to: m.from, id: m.id, error: { kind: 'other', name: 'ProtocolError' } });
          return;
        }
        this.post({ v: PROTOCOL_VERSION, kind: 'result', from: this.instanceId, to: m.from, id: m.id, value: out });
      },
      (e: unknown) => this.post({ v: PROTOCOL_VERSION, kind: 'failure', from: this.instanceId, to: m.from, id: m.id, error: errorToWire(e) }),
    );
  }

  // ---- Following -------------------------------------------------------------------------

  private call(path: MethodPath, args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new RpcError(ErrorCode.disconnected, 'the wallet is closing'));
    if (this.leading) return this.runLocal(path, args);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const p: Pending = { path, args, spec: specOf(path)!, sentTo: undefined, accepted: false, resolve, reject };
      this.pending.set(id, p);
      if (this.leaderId !== undefined) this.send(id, p, this.leaderId);
    });
  }

  private send(id: number, p: Pending, to: string): void {
    p.sentTo = to;
    p.accepted = false;
    this.post({ v: PROTOCOL_VERSION, kind: 'call', from: this.instanceId, to, id, method: p.path, args: p.args });
  }

  /** Another instance leads now: calls go to it; those the old leader started and cannot be repeated fail. */
  private followLeader(leader: string): void {
    const previous = this.leaderId;
    this.leaderId = leader;
    this.opts.log.info(previous === undefined ? 'wallet.follower' : 'wallet.leader-changed', { instance: this.instanceId, leader });
    for (const [id, p] of [...this.pending]) {
      if (p.sentTo === leader) continue;
      // Sent to an instance that no longer leads: it may have run it (see lead()).
      if (p.sentTo !== undefined && !p.spec.idempotent) {
        this.pending.delete(id);
        p.reject(unknownOutcome());
        continue;
      }
      this.send(id, p, leader);
    }
  }

  private settle(m: Extract<InstanceMessage, { kind: 'result' | 'failure' }>): void {
    const p = this.pending.get(m.id);
    if (!p || p.sentTo !== m.from) return;
    this.pending.delete(m.id);
    if (m.kind === 'failure') {
      p.reject(errorFromWire(m.error));
      return;
    }
    try {
      p.resolve(p.spec.result(m.value, 'result'));
    } catch (e) {
      this.opts.log.warn('wallet.instance-refused', { kind: 'result', method: p.path, field: e instanceof ProtocolError ? e.field : undefined });
      p.reject(new RpcError(ErrorCode.internalError, `${p.path} failed inside the wallet`));
    }
  }

  // ---- The channel -------------------------------------------------------------------------

  private post(message: InstanceMessage): void {
    if (this.closed && message.kind !== 'failure' && message.kind !== 'result') return;
    try {
      this.opts.channel.postMessage(message);
    } catch (e) {
      // A value the channel cannot clone is a bug here, not the peer's: say which kind.
      this.opts.log.warn('wallet.instance-post-failed', { kind: message.kind, error: e instanceof Error ? e.name : 'unknown' });
    }
  }

  private receive(data: unknown): void {
    if (this.closed) return;
    let m: InstanceMessage;
    try {
      m = parseMessage(data);
    } catch (e) {
      this.opts.log.warn('wallet.instance-refused', { field: e instanceof ProtocolError ? e.field : undefined });
      return;
    }
    if (m.from === this.instanceId) return;
    switch (m.kind) {
      case 'hello':
        if (this.leading) this.announce();
        return;
      case 'leader':
        if (m.relayUrl !== undefined) this.relayUrl = m.relayUrl;
        if (!this.leading && m.from !== this.leaderId) this.followLeader(m.from);
        return;
      case 'call':
        if (this.leading && m.to === this.instanceId) this.serve(m);
        return;
      case 'accepted': {
        const p = m.to === this.instanceId ? this.pending.get(m.id) : undefined;
        if (p && p.sentTo === m.from) p.accepted = true;
        return;
      }
      case 'result':
      case 'failure':
        if (m.to === this.instanceId) this.settle(m);
        return;
      case 'notify':
        if (!this.leading && m.from === this.leaderId) this.opts.deliver({ method: m.method, params: m.params } as EngineNotification);
        return;
    }
  }
}

function unknownOutcome(): RpcError {
  return new RpcError(
    ErrorCode.invalidChannelState,
    'the wallet tab that was running this call closed before it finished; whatever it stored continues in this tab — check the channel before trying again',
  );
}
