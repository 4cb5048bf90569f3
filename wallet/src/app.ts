import chainConfig from 'virtual:chain-config';
import { version } from '../../package.json';
import { Permissions } from './store/permissions.ts';
import { WalletDatabase } from './store/db.ts';
import { loadOrCreateSigningKey, prepareSigningKey } from './keys/vault.ts';
import { consoleLogger } from './log.ts';
import { createHandlers } from './rpc/handlers.ts';
import { RpcServer } from './rpc/server.ts';
import { parentTransport } from './rpc/window-transport.ts';
import { Dialogs } from './ui/connect-dialog.ts';
import { describeChainFailure, showChainError } from './ui/chain-error-dialog.ts';
import { signRelayLogin, useSecp256k1Backend, warmUpSecp256k1 } from '../../core/src/index.ts';
import { loadWasmSecp256k1 } from './keys/wasm-secp256k1.ts';
import { ErrorCode } from '../../sdk-client/src/schema.ts';
import { RpcError } from './rpc/rpc-error.ts';
import { toWire } from './channels.ts';
import { FundingAccount } from './funding/funding-account.ts';
import { TransactionBridge } from './funding/transaction-bridge.ts';
import { PeerMessaging } from './peers.ts';
import { budgetExitToWire, budgetToWire, virtualToWire } from './virtual.ts';
import { showBudgetExitStatus } from './ui/challenge-status.ts';
import { walletDisputes } from './disputes.ts';
import { ENGINE_LOCK, INSTANCES_CHANNEL, WalletCoordinator } from './leader/coordinator.ts';
import type { EngineNotification, ForwardedNotification } from './leader/protocol.ts';
import type { NotificationParams } from '../../sdk-client/src/schema.ts';

/** The test token's symbol, as the dialogs show it. */
const TOKEN_SYMBOL = 'CWT';

/**
 * The wallet inside its iframe: open the store, load (or create) the signing key, answer the
 * connected origin's calls, then tell it we are ready.
 */
export async function startWallet(peerOrigin: string, root: HTMLElement): Promise<void> {
  const log = consoleLogger;
  const db = new WalletDatabase();
  const opening = db.open();
  // Prepare a key while the database opens; it is used only if the store has none yet.
  const candidate = prepareSigningKey();
  candidate.catch(() => undefined);
  await opening;
  const funding = new FundingAccount(db);
  const [{ key, created }] = await Promise.all([loadOrCreateSigningKey(db, candidate), funding.load()]);
  const permissions = new Permissions(db);
  // Transactions for a browser extension on the page go out as notifications; the sdk answers.
  const bridge = new TransactionBridge((params) => server.notify('wallet_transactionRequest', params));
  const transport = parentTransport(peerOrigin);
  const dialogs = new Dialogs({ root, setVisible: (visible) => server.notify('wallet_uiRequest', { visible }) });
  const peers = new PeerMessaging({
    key,
    // Carried by the page (sdk connectRelay) until the wallet uses a relay itself: every connected
    // tab's page gets it, since any of them may be the one carrying messages.
    toPage: (to, message) => engineNotify('channel_outboundMessage', { to, message }),
    receive: async (from, message) => (await channels()).engine.receiveMessage(from, message),
    log,
  });
  /** Notifications for this tab's page, in order: each waits for the one before, and goes only if the page's origin is connected. */
  let toPage: Promise<void> = Promise.resolve();
  function notifyPage(method: ForwardedNotification, params: unknown): void {
    toPage = toPage.then(() => permissions.isGranted(peerOrigin)).then(
      (granted) => void (granted && server.notify(method, params as never)),
      () => undefined,
    );
  }
  // Tabs of this site share the store and the key: one instance (the Web Lock's holder) runs the
  // engine and the relay connection; the others forward to it (wallet/src/leader/).
  const coordinator = new WalletCoordinator({
    locks: navigator.locks,
    channel: new BroadcastChannel(INSTANCES_CHANNEL),
    local: {
      channels: {
        list: async () => (await channels()).api.list(),
        get: async (id) => (await channels()).api.get(id),
        create: async (args) => (await channels()).api.create(args),
        join: async (id) => (await channels()).api.join(id),
        reject: async (id, reason) => (await channels()).api.reject(id, reason),
        update: async (id, balances, appData) => (await channels()).api.update(id, balances, appData),
        close: async (id) => (await channels()).api.close(id),
      },
      virtual: {
        requestBudget: async (args) => (await channels()).virtual.requestBudget(args),
        getBudget: async (hub) => (await channels()).virtual.getBudget(hub),
        closeBudget: async (hub) => (await channels()).virtual.closeBudget(hub),
        exitBudget: async (hub) => (await channels()).virtual.exitBudget(hub),
        getBudgetExit: async (hub) => (await channels()).virtual.getBudgetExit(hub),
        create: async (args) => (await channels()).virtual.create(args),
        pay: async (id, amount) => (await channels()).virtual.pay(id, amount),
        close: async (id) => (await channels()).virtual.close(id),
        get: async (id) => (await channels()).virtual.get(id),
        list: async () => (await channels()).virtual.list(),
      },
      peers: {
        receiveMessage: async (from, message) => (await channels()).engine.receiveMessage(from, message),
        useRelay: (relayUrl) => peers.useRelay(relayUrl),
      },
      disputes: {
        challenge: (id) => disputes.disputes.challenge(id),
        get: (id) => disputes.disputes.get(id),
      },
    },
    onLeader: async ({ relayUrl }) => {
      // Resume unfinished objectives at once if there are any channels, and take over the
      // relay connection the previous leader held.
      if (chainConfig && (await db.channels.count()) > 0) void channels().catch(() => undefined);
      if (relayUrl !== undefined) {
        await peers.useRelay(relayUrl).catch((e: unknown) => log.warn('wallet.relay-resume-failed', { error: e instanceof Error ? e.name : 'unknown' }));
      }
    },
    stopLocal: async () => {
      peers.close();
      const running = await started?.catch(() => undefined);
      running?.engine.stop();
    },
    // A follower's dapp hears the leader's engine, as the leader's own dapp does.
    deliver: (n) => notifyPage(n.method, n.params),
    log,
  });
  const engine = coordinator.engine;
  /** A notification of this instance's engine: to its own dapp, and to the other instances' (it leads). */
  function engineNotify<N extends ForwardedNotification>(method: N, params: NotificationParams<N>): void {
    notifyPage(method, params);
    coordinator.publish({ method, params } as EngineNotification);
  }
  // Challenges on chain: the dialog, the handlers' calls into the engine, the notices (wallet/src/disputes.ts).
  const disputes = walletDisputes({ engine: async () => (await channels()).engine, dialogs, notify: (params) => engineNotify('challenge_updated', params) });
  const handlers = createHandlers({
    disputes: engine.disputes,
    askToChallenge: disputes.askToChallenge,
    address: key.address,
    version,
    chain: chainConfig,
    permissions,
    askToConnect: (request) => dialogs.askToConnect(request),
    notify: (method, params) => server.notify(method, params),
    signRelayChallenge: (relayOrigin, challenge) => signRelayLogin(key, relayOrigin, challenge),
    receivePeerMessage: (from, message) => engine.peers.receiveMessage(from, message),
    useRelay: (relayUrl) => engine.peers.useRelay(relayUrl),
    virtual: engine.virtual,
    askForBudget: (req) => dialogs.askForBudget(req),
    askToCloseBudget: (req) => dialogs.askToCloseBudget(req),
    askToExitBudget: (req) => dialogs.askToExitBudget(req),
    channels: engine.channels,
    askToFund: (req) => dialogs.askToFund(req),
    askToClose: (req) => dialogs.askToClose(req),
    tokenSymbol: TOKEN_SYMBOL,
    useFundingProvider: async (address, chainId) => {
      await funding.useEip1193(address, chainId);
      log.info('wallet.funding-provider', { chainId });
      bridge.repeatPending();
    },
    answerTransactionRequest: (result) => bridge.answer(result),
  });
  const server: RpcServer = new RpcServer({ origin: peerOrigin, post: transport.post, handlers, isPermitted: (o) => permissions.isGranted(o), log });
  transport.listen((data) => void server.handle(data));
  server.notify('wallet_ready', { version });
  log.info('wallet.ready', { origin: peerOrigin, keyCreated: created });
  // Sign and check with libsecp256k1 (WebAssembly) once it has loaded, off the start path; until
  // then, and if it cannot load, our JavaScript curve does the same work (its tables are built
  // while the page is idle rather than on the first signature).
  loadWasmSecp256k1().then(
    (backend) => {
      useSecp256k1Backend(backend);
      log.info('wallet.secp256k1', { backend: 'wasm' });
    },
    (error: unknown) => {
      log.warn('wallet.secp256k1', { backend: 'js', reason: error instanceof Error ? error.message : String(error) });
      setTimeout(warmUpSecp256k1, 0);
    },
  );

  /**
   * The channel engine, started on first use (it loads ethers; not needed to say ready), and only
   * ever by the instance holding the engine lock (the coordinator calls this only while leading).
   */
  let started: Promise<Awaited<ReturnType<typeof import('./engine-channels.ts').startChannels>>> | undefined;
  function channels() {
    if (!chainConfig) return Promise.reject(new RpcError(ErrorCode.internalError, 'the wallet has no chain configured'));
    if (!coordinator.isLeader) return Promise.reject(new RpcError(ErrorCode.internalError, 'another tab of this site runs the channels'));
    const config = chainConfig;
    started ??= import('./engine-channels.ts').then(({ startChannels }) =>
      startChannels(key, db, config, {
        sendMessage: (to, message) => peers.send(to, message),
        onChannelUpdated: (s) => engineNotify('channel_updated', toWire(s)),
        onChannelProposed: (s) => engineNotify('channel_proposed', toWire(s)),
        onBudgetUpdated: (b) => engineNotify('budget_updated', budgetToWire(b)),
        onVirtualUpdated: (v) => engineNotify('virtual_updated', virtualToWire(v)),
        onChallengeUpdated: disputes.onChallengeUpdated,
        onBudgetExitUpdated: (e) => {
          engineNotify('budget_exit_updated', budgetExitToWire(e));
          void showBudgetExitStatus(dialogs, e);
        },
        onPaymentReceived: (p) => engineNotify('payment_received', { channelId: p.channelId, from: p.from, amount: `0x${p.amount.toString(16)}`, total: `0x${p.total.toString(16)}` }),
        onProgress: (p) => engineNotify('objective_progress', p.detail === undefined ? { objectiveId: p.objectiveId, channelId: p.channelId, stage: p.stage } : { objectiveId: p.objectiveId, channelId: p.channelId, stage: p.stage, detail: p.detail }),
        // The dapp hears of a failure by objective_progress; the user, by a notice in the wallet.
        onChainFailure: (channel, failure, detail) => {
          log.info('wallet.chain-failure', { channel: channel.channelId, operation: failure.operation, code: failure.code });
          const notice = describeChainFailure({ failure, channel, me: key.address, detail, rpcUrl: config.rpcUrl, chainId: config.chainId, tokenSymbol: TOKEN_SYMBOL });
          void showChainError(dialogs, notice);
        },
      }, log, { current: () => funding.current, bridge }).then((running) => {
        log.info('wallet.engine-started', { instance: coordinator.instanceId, lock: ENGINE_LOCK });
        return running;
      }),
    );
    return started;
  }
}
