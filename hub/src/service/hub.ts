/**
 * The hub service: the same engine as the wallet's, run headless with the hub's key, a durable
 * FileStore and an ethers chain service, beside the message relay it hosts. The hub's engine
 * reaches its users through that relay as a client logged in with the hub's key, exactly as a
 * wallet does (relay-link.ts).
 *
 * Channel proposals are judged by the policy (policy.ts) twice:
 *   - at the door: an inbound message that proposes a new channel (a DirectFunding prefund for a
 *     channel the hub does not hold) is checked before the engine sees it. A refused proposal is
 *     answered with a `reject` payload carrying the reason and logged (`policy.rejected`); the
 *     engine never sees it, so nothing is stored for it — a flood of bad proposals costs no disk.
 *   - by the engine's `onChannelProposed`, one decision at a time (so two proposals from one user
 *     cannot both fit in what is left of its limit): the hub joins (`joinChannel(id, true)`) or
 *     rejects with the reason (`joinChannel(id, { reject })`). After a restart, proposals stored
 *     but not yet answered are decided again.
 */
import { installNativeSecp256k1 } from '../../../engine/src/node/native-secp256k1.ts';
import { type Address, type Bytes32, type PrivateKey, ZERO_ADDRESS, channelId as channelIdOf } from '../../../core/src/index.ts';
import { type Payload, type ProtocolMessage, objectiveIds, parseMessage, serializeMessage } from '../../../core/src/protocol/message.ts';
import { fundFromFaucet } from '../../../chain/faucet.ts';
import type { ChainConfig } from '../../../chain/deploy.ts';
import { type ChainService, createEthersChainService, createJsonRpcProvider, signerFromPrivateKey } from '../../../engine/src/chain/index.ts';
import { type ChannelSummary, Engine, EngineError } from '../../../engine/src/engine.ts';
import { type Relay, type RelayHealth, startRelay } from '../relay/index.ts';
import { FileStore, type RecoveryReport } from '../store/file-store.ts';
import { describePolicy } from './config.ts';
import { type HubPolicy, checkDirectChannel, checkVirtualChannel, lockedWithUser, proposalFromState } from './policy.ts';
import { type RelayLink, connectRelayLink } from './relay-link.ts';

export const HUB_HEALTH_PATH = '/hub/health';

export type HubLogFields = Record<string, string | number | boolean | undefined>;
/** One line per event with primitive fields: never a key, a signature or a message body. */
export type HubLog = (event: string, fields?: HubLogFields) => void;

export interface HubOptions {
  key: PrivateKey;
  chain: ChainConfig;
  /** The FileStore's directory (created if missing). It is bound to the chain it was first used with. */
  dataDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** The relay's public origin (logins are signed for it); default `ws://host:port`. */
  publicOrigin?: string;
  policy: HubPolicy;
  /** Default: `[hub] event k=v` lines on the console. */
  log?: HubLog;
  /** How often the chain is polled for events and receipts. Default 250 ms. */
  chainPollIntervalMs?: number;
  /** How often the engine re-sends what a peer may lack. Default 2 000 ms. */
  resendIntervalMs?: number;
}

export interface HubHealth {
  status: 'ok' | 'starting' | 'degraded';
  address: Address;
  chainId: number;
  /** Whether the chain RPC answers (its URL is left out: it may carry an API key). */
  chain: { rpc: 'ok' | 'unreachable' | 'wrong-chain'; blockNumber?: number; latencyMs?: number };
  engine: 'starting' | 'running' | 'stopped';
  /** The relay, and the state of the hub's own connection to it. */
  relay: RelayHealth & { hubConnection: 'connecting' | 'open' | 'closed' };
  channels: { total: number; byStatus: Partial<Record<ChannelSummary['status'], number>> };
  store: { recovery: RecoveryReport; commits: number; seq: number; journalBytes: number; snapshotBytes: number; compactions: number };
  policy: ReturnType<typeof describePolicy>;
  uptimeMs: number;
}

export interface Hub {
  address: Address;
  /** The relay's WebSocket URL (users connect and log in here). */
  url: string;
  /** The relay's public origin, which logins are signed for. */
  origin: string;
  /** `http://host:port/hub/health`. */
  healthUrl: string;
  /** The relay's own `/health`. */
  relayHealthUrl: string;
  engine: Engine;
  store: FileStore;
  health(): Promise<HubHealth>;
  /** Stops the engine, the relay connection and the relay, then closes the store. Idempotent. */
  close(): Promise<void>;
}

/** The hub could not start: the chain, the data directory or the port. */
export class HubStartError extends Error {
  override readonly name = 'HubStartError';
}

const CHAIN_TABLE = 'hub';
const CHAIN_RECORD = 'chain';
const HEALTH_RPC_TIMEOUT_MS = 2_000;
/** On the local chain, the hub tops itself up from the dev faucet when it has less than a deposit plus this for gas. */
const LOCAL_GAS_RESERVE = 10n ** 17n;

function formatLine(event: string, fields: HubLogFields = {}): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v) : String(v)}`);
  return `[hub] ${event}${parts.length ? ' ' + parts.join(' ') : ''}`;
}

export const consoleHubLog: HubLog = (event, fields) => console.log(formatLine(event, fields));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** `ws://127.0.0.1:port/relay` for a relay listening on every interface, else on its host. */
function localRelayUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '[::]' ? '[::1]' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `ws://${h}:${port}/relay`;
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const { key, chain, policy } = options;
  const log = options.log ?? consoleHubLog;
  // libsecp256k1 for signing and checking signatures, when the native addon loads.
  log('hub.crypto', { native: installNativeSecp256k1() });
  const address = key.address;
  const consensusApp = chain.consensusApp.toLowerCase() as Address;
  const startedAt = Date.now();
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanUp = async () => {
    for (const f of cleanups.splice(0).reverse()) {
      try {
        await f();
      } catch (error) {
        log('hub.cleanup-failed', { error: (error as Error | undefined)?.name ?? 'unknown' });
      }
    }
  };

  try {
    // ---- the chain: the configured one, answering ------------------------------------------
    const provider = createJsonRpcProvider(chain.rpcUrl, chain.chainId, { pollingIntervalMs: options.chainPollIntervalMs ?? 250, requestTimeoutMs: 10_000 });
    cleanups.push(() => provider.destroy());
    let genesis: string;
    try {
      const [rpcChainId, code, block0] = await Promise.all([provider.send('eth_chainId', []) as Promise<string>, provider.getCode(chain.adjudicator), provider.getBlock(0)]);
      if (Number(rpcChainId) !== chain.chainId) throw new HubStartError(`the chain RPC answers chain id ${Number(rpcChainId)}, but the chain config says ${chain.chainId}`);
      if (code === '0x') throw new HubStartError(`there is no contract at the adjudicator address ${chain.adjudicator} on chain ${chain.chainId}: the chain config is for another chain (or the chain was restarted)`);
      genesis = block0?.hash ?? 'unknown';
    } catch (error) {
      if (error instanceof HubStartError) throw error;
      throw new HubStartError(`the chain RPC in the chain config does not answer (${(error as Error).message.split('\n')[0]?.slice(0, 200)})`, { cause: error });
    }

    // ---- the store: bound to the chain it was first used with -----------------------------
    const store = await FileStore.open(options.dataDir, { log: (event, fields) => log(event, fields) });
    cleanups.push(() => store.close());
    const identity = { chainId: chain.chainId, adjudicator: chain.adjudicator.toLowerCase(), genesis };
    const bound = store.log.get(CHAIN_TABLE, CHAIN_RECORD) as typeof identity | undefined;
    if (!bound) {
      await store.log.commit([{ table: CHAIN_TABLE, id: CHAIN_RECORD, value: identity }]);
    } else if (bound.chainId !== identity.chainId || bound.adjudicator !== identity.adjudicator || bound.genesis !== identity.genesis) {
      throw new HubStartError(
        `the data directory ${options.dataDir} belongs to another chain (chain ${bound.chainId}, adjudicator ${bound.adjudicator}, genesis ${bound.genesis.slice(0, 10)}…), ` +
          `not to chain ${identity.chainId} (adjudicator ${identity.adjudicator}, genesis ${genesis.slice(0, 10)}…). Use another data directory (HUB_DATA_DIR) for this chain.`,
      );
    }
    log('hub.store', { channels: (await store.listChannels()).length, active: (await store.activeObjectives()).length });

    const chainService: ChainService = createEthersChainService({
      provider,
      signer: signerFromPrivateKey(key, provider),
      addresses: { adjudicator: chain.adjudicator, token: chain.token },
      pollIntervalMs: options.chainPollIntervalMs ?? 250,
      onError: (error) => log('chain.poll-error', { error: (error as { code?: string } | undefined)?.code ?? (error as Error | undefined)?.name ?? 'unknown' }),
    });

    // ---- the engine, its relay link, and the policy ---------------------------------------
    /** The hub's own connection to its relay, once made. */
    const hubLink: { current?: RelayLink } = {};
    let engineState: HubHealth['engine'] = 'starting';
    let resolveStarted!: () => void;
    const started = new Promise<void>((resolve) => (resolveStarted = resolve));
    let decisions: Promise<void> = Promise.resolve();

    const send = (to: Address, text: string) => {
      if (hubLink.current) hubLink.current.send(to, text);
      else log('link.dropped-outbound', { to, reason: 'not connected to the relay yet' });
    };

    const engine: Engine = new Engine({
      key,
      store,
      apps: { consensusApp, virtualPaymentApp: chain.virtualPaymentApp.toLowerCase() as Address },
      approveVirtualChannel: (proposal) => {
        if (proposal.role !== 'hub') return true;
        const decision = checkVirtualChannel(policy, proposal);
        if (decision !== true) log('policy.rejected', { stage: 'virtual', channel: proposal.channelId, reason: decision.reject });
        return decision;
      },
      chain: chainService,
      sendMessage: send,
      onChannelProposed: (summary) => decide(summary.channelId),
      onProgress: (p) => log('channel.progress', { channel: p.channelId, stage: p.stage, detail: p.detail?.slice(0, 200) }),
      log: (event, fields) => log(event, fields),
      ...(options.resendIntervalMs !== undefined && { resendIntervalMs: options.resendIntervalMs }),
    });

    /** On the local chain, tops the hub up from the dev faucet when it could not afford a deposit. */
    const topUp = async (asset: Address, amount: bigint): Promise<void> => {
      if (chain.chainId !== 31337 || !chain.faucetUrl || amount === 0n) return;
      try {
        const account = await chainService.fundingAccount();
        const short = asset === ZERO_ADDRESS ? account.ethBalance < amount + LOCAL_GAS_RESERVE : account.ethBalance < LOCAL_GAS_RESERVE || (await chainService.tokenBalance(asset, address)) < amount;
        if (short) {
          await fundFromFaucet(chain.faucetUrl, address);
          log('hub.faucet-top-up', { asset });
        }
      } catch (error) {
        log('hub.faucet-failed', { reason: (error as Error).message.slice(0, 200) });
      }
    };

    /** The authoritative decision on a stored proposal, one at a time. */
    const decideNow = async (channelId: Bytes32): Promise<void> => {
      const channel = await store.getChannel(channelId);
      const prefund = channel?.states.find((s) => s.state.turnNum === 0);
      if (!channel || !prefund) return;
      const proposal = proposalFromState(prefund.state);
      const user = (proposal.participants.find((p) => p !== address) ?? address) as Address;
      const locked = lockedWithUser(await engine.listChannels(), address, user, channelId);
      const decision = checkDirectChannel(policy, proposal, { hub: address, consensusApp, lockedWithUser: locked });
      try {
        if (decision.accept) {
          await topUp(decision.asset, decision.hubAmount);
          await engine.joinChannel(channelId, true);
          log('policy.joined', { channel: channelId, user, asset: decision.asset, hubAmount: decision.hubAmount.toString() });
        } else {
          await engine.joinChannel(channelId, { reject: decision.reason });
          log('policy.rejected', { channel: channelId, user, stage: 'proposal', reason: decision.reason });
        }
      } catch (error) {
        // Answered already (e.g. closed by the peer meanwhile): nothing to decide.
        if (!(error instanceof EngineError)) throw error;
        log('policy.not-answered', { channel: channelId, reason: error.message.slice(0, 200) });
      }
    };
    const decide = (channelId: Bytes32): void => {
      decisions = decisions.then(
        () => decideNow(channelId),
      ).catch((error: unknown) => log('policy.decision-failed', { channel: channelId, error: (error as Error | undefined)?.message?.slice(0, 200) ?? 'unknown' }));
    };

    /**
     * The door: a message proposing a channel the hub does not hold is checked against the policy
     * before the engine sees it. Returns the text for the engine (without refused proposals), or
     * undefined when nothing is left.
     */
    const screen = async (from: Address, text: string): Promise<string | undefined> => {
      if (!text.includes('"DirectFunding-')) return text;
      let message: ProtocolMessage;
      try {
        message = parseMessage(text, { from, to: address });
      } catch {
        return text; // the engine rejects it and logs why
      }
      const kept: Payload[] = [];
      const refused: Payload[] = [];
      for (const payload of message.payloads) {
        if (payload.type === 'state' && payload.objectiveId.startsWith('DirectFunding-') && payload.signedState.state.turnNum === 0) {
          const { state } = payload.signedState;
          const id = channelIdOf(state);
          const participants = state.participants.map((p) => p.toLowerCase());
          if (participants.includes(address) && participants.includes(from) && !(await store.getChannel(id))) {
            const decision = checkDirectChannel(policy, proposalFromState(state), { hub: address, consensusApp, lockedWithUser: lockedWithUser(await engine.listChannels(), address, from) });
            if (!decision.accept) {
              log('policy.rejected', { channel: id, user: from, stage: 'door', reason: decision.reason });
              refused.push({ type: 'reject', objectiveId: objectiveIds.directFunding(id), channelId: id, reason: decision.reason });
              continue;
            }
          }
        }
        kept.push(payload);
      }
      if (refused.length > 0) send(from, serializeMessage({ from: address, to: from, payloads: refused }));
      if (kept.length === message.payloads.length) return text;
      if (kept.length === 0 && !message.ledger?.length) return undefined;
      return serializeMessage({ ...message, payloads: kept });
    };

    /** Inbound messages: screened in arrival order, then handed to the engine (which batches them). */
    let inboundOrder: Promise<unknown> = Promise.resolve();
    const receive = (from: Address, text: string): Promise<void> => {
      const handed = inboundOrder.then(async () => {
        await started;
        const screened = await screen(from, text);
        // Wrapped, so the chain does not wait for the engine to handle it (it batches what arrives together).
        return screened === undefined ? undefined : { handled: engine.receiveMessage(from, screened) };
      });
      inboundOrder = handed.catch(() => undefined);
      return handed.then((h) => h?.handled);
    };

    // ---- the relay, the hub's own connection to it, then the engine -----------------------
    let relay: Relay;
    const checkChain = (): Promise<HubHealth['chain']> => {
      const t0 = Date.now();
      return withTimeout(Promise.all([provider.send('eth_chainId', []) as Promise<string>, provider.getBlockNumber()]), HEALTH_RPC_TIMEOUT_MS, 'eth_chainId').then(
        ([id, blockNumber]): HubHealth['chain'] => (Number(id) === chain.chainId ? { rpc: 'ok', blockNumber, latencyMs: Date.now() - t0 } : { rpc: 'wrong-chain' }),
        (): HubHealth['chain'] => ({ rpc: 'unreachable' }),
      );
    };
    // Served to anyone: computed at most once a second, however often it is asked.
    let lastHealth: { at: number; value: Promise<HubHealth> } | undefined;
    const health = (): Promise<HubHealth> => {
      if (lastHealth && Date.now() - lastHealth.at < 1_000) return lastHealth.value;
      const value = computeHealth();
      lastHealth = { at: Date.now(), value };
      value.catch(() => (lastHealth = undefined));
      return value;
    };
    const computeHealth = async (): Promise<HubHealth> => {
      const [chainHealth, channels] = await Promise.all([checkChain(), engineState === 'running' ? engine.listChannels() : Promise.resolve([])]);
      const byStatus: HubHealth['channels']['byStatus'] = {};
      for (const c of channels) byStatus[c.status] = (byStatus[c.status] ?? 0) + 1;
      const hubConnection = hubLink.current?.connection.state ?? 'connecting';
      const { commits, seq, journalBytes, snapshotBytes, compactions } = store.stats;
      return {
        status: engineState === 'starting' ? 'starting' : engineState === 'running' && chainHealth.rpc === 'ok' && hubConnection === 'open' ? 'ok' : 'degraded',
        address,
        chainId: chain.chainId,
        chain: chainHealth,
        engine: engineState,
        relay: { ...relay.health(), hubConnection },
        channels: { total: channels.length, byStatus },
        store: { recovery: store.recovery, commits, seq, journalBytes, snapshotBytes, compactions },
        policy: describePolicy(policy),
        uptimeMs: Date.now() - startedAt,
      };
    };

    try {
      relay = await startRelay({
        host: options.host ?? '127.0.0.1',
        port: options.port ?? 0,
        ...(options.publicOrigin !== undefined && { publicOrigin: options.publicOrigin }),
        log: (event, fields) => log(`relay.${event}`, fields),
        unthrottled: [address],
        routes: { [HUB_HEALTH_PATH]: health },
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new HubStartError(`the relay cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}${code ? ` (${code})` : ''}: ${(error as Error).message}`, { cause: error });
    }
    cleanups.push(() => relay.close());

    const link = await connectRelayLink({
      key,
      relayUrl: localRelayUrl(options.host ?? '127.0.0.1', relay.port),
      loginOrigin: relay.origin,
      receive,
      log: (event, fields) => log(`link.${event}`, fields),
    });
    hubLink.current = link;
    cleanups.push(() => link.close());

    cleanups.push(async () => {
      link.close(); // nothing new comes in while the engine finishes what it is doing
      engineState = 'stopped';
      engine.stop();
      await engine.idle();
      await decisions;
    });
    await engine.start();
    engineState = 'running';
    resolveStarted();

    // Proposals stored but not answered before a restart.
    for (const c of await engine.listChannels()) if (c.status === 'proposed') decide(c.channelId);

    let closing: Promise<void> | undefined;
    const healthUrl = new URL(HUB_HEALTH_PATH, relay.healthUrl).toString();
    log('hub.started', { address, url: relay.url, health: healthUrl, chainId: chain.chainId });
    return {
      address,
      url: relay.url,
      origin: relay.origin,
      healthUrl,
      relayHealthUrl: relay.healthUrl,
      engine,
      store,
      health,
      close: () => (closing ??= cleanUp().then(() => log('hub.closed'))),
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

