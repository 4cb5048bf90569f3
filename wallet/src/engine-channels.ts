/**
 * The wallet's channels: the shared engine over the wallet's Dexie store, the chain through
 * ethers, and peers reached through the dapp (outbound messages are notifications; inbound ones
 * arrive by channel_receiveMessage). The funding account — who sends deposits and conclusions —
 * is the wallet's own key, or a browser extension on the dapp page once the dapp registered one
 * (wallet_useFundingProvider): it is decided per transaction, so a registration takes effect
 * at once, even for an engine already running. Loaded after the wallet is ready, so ethers is
 * not on the start-up path.
 */
import { type Address, type Bytes32, type PrivateKey } from '../../core/src/index.ts';
import { type ChainService, createEthersChainService, createJsonRpcProvider, signerFromPrivateKey } from '../../engine/src/chain/index.ts';
import { fundFromFaucet } from '../../chain/faucet.ts';
import { Engine, EngineError, type ChannelSummary } from '../../engine/src/engine.ts';
import type { ChainFailure, ChallengeUpdate } from '../../core/src/objectives/effects.ts';
import type { ChannelApi } from './channels.ts';
import { BridgeSigner } from './funding/bridge-signer.ts';
import type { FundingChoice } from './funding/funding-account.ts';
import type { TransactionBridge } from './funding/transaction-bridge.ts';
import type { Logger } from './log.ts';
import type { WalletDatabase } from './store/db.ts';
import { DexieStore } from './store/dexie-store.ts';
import type { BudgetExitSummary, BudgetSummary, VirtualApi, VirtualSummary } from './virtual.ts';
import type { ExitUpdate } from '../../core/src/objectives/virtual-exit.ts';
import { objectiveIds } from '../../core/src/protocol/message.ts';

export interface WalletChainConfig {
  rpcUrl: string;
  chainId: number;
  adjudicator: string;
  consensusApp: string;
  virtualPaymentApp: string;
  token: string;
  faucetUrl?: string;
}

export interface ChannelEvents {
  sendMessage: (to: Address, text: string) => void;
  onChannelUpdated: (s: ChannelSummary) => void;
  onChannelProposed: (s: ChannelSummary) => void;
  onProgress: (p: { objectiveId: string; channelId: Bytes32; stage: string; detail?: string; failure?: ChainFailure }) => void;
  /** A deposit or the conclusion failed on chain: the channel as it now stands, why (in fields) and the chain's message. */
  onChainFailure?: (channel: ChannelSummary, failure: ChainFailure, detail: string | undefined) => void;
  onBudgetUpdated?: (b: BudgetSummary) => void;
  onVirtualUpdated?: (v: VirtualSummary) => void;
  /** A budget's exit on chain without the hub moved on. */
  onBudgetExitUpdated?: (e: BudgetExitSummary) => void;
  /** A challenge of one of our channels changed stage (ours, or a counterparty's seen on chain). */
  onChallengeUpdated?: (u: ChallengeUpdate) => void;
  /** Called only after the voucher is stored. */
  onPaymentReceived?: (p: { channelId: Bytes32; from: Address; amount: bigint; total: bigint }) => void;
}

/** The funding account choice (read per transaction) and the way to the page's provider. */
export interface FundingSource {
  current: () => FundingChoice;
  bridge: TransactionBridge;
}

/**
 * One ChainService whose transactions go out from the current funding account: reads, events and
 * the own-key transactions use the own-key service; deposits and conclusions use the service of
 * the extension account while that is the choice (one per extension address: a service keeps its
 * account's address and its queue of transactions).
 */
function fundedChainService(own: ChainService, funding: FundingSource, forExtension: (address: Address) => ChainService): ChainService {
  let extension: { address: Address; service: ChainService } | undefined;
  const payer = (): ChainService => {
    const choice = funding.current();
    if (choice.kind === 'own') return own;
    if (extension?.address !== choice.address) extension = { address: choice.address, service: forExtension(choice.address) };
    return extension.service;
  };
  return {
    getHoldings: (asset, channelId) => own.getHoldings(asset, channelId),
    deposit: (args) => payer().deposit(args),
    concludeAndTransferAllAssets: (signed) => payer().concludeAndTransferAllAssets(signed),
    challenge: (args) => payer().challenge(args),
    checkpoint: (args) => payer().checkpoint(args),
    transferAllAssets: (args) => payer().transferAllAssets(args),
    reclaim: (args) => {
      const service = payer();
      if (!service.reclaim) throw new Error('this chain service cannot reclaim a guarantee');
      return service.reclaim(args);
    },
    statusOf: (channelId) => own.statusOf(channelId),
    registeredChallenge: (channelId) => (own.registeredChallenge ? own.registeredChallenge(channelId) : Promise.resolve(undefined)),
    watch: (channelIds, listener, opts) => own.watch(channelIds, listener, opts),
    fundingAccount: () => payer().fundingAccount(),
    tokenBalance: (token, owner) => own.tokenBalance(token, owner),
  };
}

export async function startChannels(key: PrivateKey, db: WalletDatabase, chain: WalletChainConfig, events: ChannelEvents, log: Logger, funding: FundingSource): Promise<{ api: ChannelApi; virtual: VirtualApi; engine: Engine }> {
  const provider = createJsonRpcProvider(chain.rpcUrl, chain.chainId, { pollingIntervalMs: 250 });
  const addresses = { adjudicator: chain.adjudicator, token: chain.token };
  const own = createEthersChainService({ provider, signer: signerFromPrivateKey(key, provider), addresses, pollIntervalMs: 250 });
  const service = fundedChainService(own, funding, (address) =>
    createEthersChainService({ provider, signer: new BridgeSigner(address, funding.bridge, provider), addresses, pollIntervalMs: 250 }),
  );
  const engine = new Engine({
    key,
    apps: { consensusApp: chain.consensusApp.toLowerCase() as Address, virtualPaymentApp: chain.virtualPaymentApp.toLowerCase() as Address },
    store: new DexieStore(db),
    chain: service,
    sendMessage: events.sendMessage,
    onChannelUpdated: (summary) => {
      events.onChannelUpdated(summary);
      // A ledger channel with a hub is a budget: say so too.
      const hub = summary.participants[0]!;
      if (events.onBudgetUpdated && summary.participants[1] === key.address) {
        void engine.getBudget(hub).then((b) => b && b.ledgerId === summary.channelId && events.onBudgetUpdated?.(b), () => undefined);
      }
    },
    onVirtualChannelUpdated: (v) => events.onVirtualUpdated?.(v),
    onPaymentReceived: (p) => events.onPaymentReceived?.(p),
    onChallengeUpdated: (u) => events.onChallengeUpdated?.(u),
    onExitUpdated: (u) => {
      if (events.onBudgetExitUpdated) void exitSummary(u).then((e) => e && events.onBudgetExitUpdated?.(e), () => undefined);
    },
    onChannelProposed: events.onChannelProposed,
    onProgress: (p) => {
      events.onProgress(p);
      const { failure, detail } = p;
      if (p.stage !== 'failed' || !failure || !events.onChainFailure) return;
      void engine.getChannel(p.channelId).then(
        (channel) => channel && events.onChainFailure?.(channel, failure, detail),
        () => undefined,
      );
    },
    log: (event, fields) => log.info(event, fields),
  });
  /** The hub leads its ledgers: participant 0. */
  async function exitSummary(u: ExitUpdate): Promise<BudgetExitSummary | undefined> {
    const ledger = await engine.getChannel(u.ledgerId);
    if (!ledger) return undefined;
    const e: BudgetExitSummary = { hub: ledger.participants[0]!, ledgerId: u.ledgerId, stage: u.stage, finalizesAt: u.finalizesAt };
    return u.detail === undefined ? e : { ...e, detail: u.detail };
  }
  await engine.start();
  const fund = async () => {
    // The dev faucet tops up the wallet's own key only when that key pays; an extension account is the user's own.
    if (funding.current().kind === 'own' && chain.faucetUrl && chain.chainId === 31337) await fundFromFaucet(chain.faucetUrl, key.address);
  };
  const mustGet = async (id: Bytes32) => {
    const s = await engine.getChannel(id);
    if (!s) throw new Error(`no channel ${id}`);
    return s;
  };
  const api: ChannelApi = {
    list: () => engine.listChannels(),
    get: (id) => engine.getChannel(id),
    create: async (args) => {
      await fund();
      const id = await engine.createChannel({
        counterparty: args.counterparty,
        asset: args.asset,
        myAmount: args.amount,
        theirAmount: args.counterpartyAmount,
        challengeDuration: args.challengeDuration,
        appDefinition: chain.consensusApp.toLowerCase() as Address,
      });
      return mustGet(id);
    },
    join: async (id) => {
      await fund();
      await engine.joinChannel(id, true);
      return mustGet(id);
    },
    reject: (id, reason) => engine.joinChannel(id, { reject: reason }),
    update: (id, balances, appData) => engine.updateBalances(id, balances, appData),
    close: async (id) => {
      await engine.closeChannel(id);
      return mustGet(id);
    },
  };
  const mustBudget = async (hub: Address) => {
    const b = await engine.getBudget(hub);
    if (!b) throw new Error(`no budget with ${hub}`);
    return b;
  };
  const mustVirtual = async (id: Bytes32) => {
    const v = await engine.getVirtualChannel(id);
    if (!v) throw new Error(`no virtual channel ${id}`);
    return v;
  };
  const virtual: VirtualApi = {
    requestBudget: async (args) => {
      await fund();
      const ledgerId = await engine.createLedgerChannel({ hub: args.hub, asset: args.asset, myAmount: args.sendAmount, hubAmount: args.receiveAmount, challengeDuration: args.challengeDuration });
      // The budget is there once the ledger is funded (deposits in turn, progress meanwhile).
      const status = await engine.objectiveSettled(objectiveIds.directFunding(ledgerId));
      if (status !== 'done') throw new EngineError('invalid', `the budget's ledger channel ${ledgerId} was not funded: ${status}`);
      return mustBudget(args.hub);
    },
    getBudget: (hub) => engine.getBudget(hub),
    closeBudget: async (hub) => {
      const b = await mustBudget(hub);
      await engine.closeLedgerChannel(b.ledgerId);
      return mustBudget(hub);
    },
    exitBudget: async (hub) => {
      await engine.exitBudget(hub);
      const u = await engine.getBudgetExit(hub);
      const e = u && (await exitSummary(u));
      if (!e) throw new EngineError('failed', `the exit of the budget with ${hub} did not start`);
      return e;
    },
    getBudgetExit: async (hub) => {
      const u = await engine.getBudgetExit(hub);
      return u && exitSummary(u);
    },
    create: async (args) => mustVirtual(await engine.createVirtualChannel(args)),
    pay: (id, amount) => engine.pay(id, amount),
    close: async (id) => {
      await engine.closeVirtualChannel(id);
      return mustVirtual(id);
    },
    get: (id) => engine.getVirtualChannel(id),
    list: () => engine.listVirtualChannels(),
  };
  return { api, virtual, engine };
}
