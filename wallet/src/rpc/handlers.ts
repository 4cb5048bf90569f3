import { toChecksumAddress } from '../../../core/src/index.ts';
import { ErrorCode, type MethodResult, type NotificationName, type NotificationParams } from '../../../sdk-client/src/schema.ts';
import type { Permissions } from '../store/permissions.ts';
import { RpcError, userRejected } from './rpc-error.ts';
import type { CallContext, Handlers } from './server.ts';
import { type ChannelApi, assetLabel as labelAsset, formatAmount, toWire } from '../channels.ts';
import type { Dialogs } from '../ui/connect-dialog.ts';
import { ChainError } from '../../../engine/src/chain/errors.ts';
import { EngineError } from '../../../engine/src/engine.ts';
import { CoreError } from '../../../core/src/index.ts';
import type { TransactionResultParams } from '../funding/transaction-bridge.ts';
import { type VirtualApi, budgetExitToWire, budgetToWire, virtualToWire } from '../virtual.ts';
import { CHALLENGE_UNDER_WAY, type DisputeApi, challengeToWire } from '../disputes.ts';

const ETH = '0x0000000000000000000000000000000000000000';

export interface ChainInfo {
  chainId: number;
  adjudicator: string;
  consensusApp: string;
  virtualPaymentApp: string;
  token: string;
}

export interface HandlerDeps {
  address: `0x${string}`;
  version: string;
  chain: ChainInfo | null;
  permissions: Permissions;
  /** Shows the connect dialog; resolves with the user's decision. */
  askToConnect: (request: { origin: string; address: string }) => Promise<boolean>;
  notify: <N extends NotificationName>(method: N, params: NotificationParams<N>) => void;
  /** Signs a relay's login challenge with the wallet key (relay-login domain only). */
  signRelayChallenge: (relayOrigin: string, challenge: `0x${string}`) => { v: 27 | 28; r: `0x${string}`; s: `0x${string}` };
  /** Hands a peer's protocol message to the engine. */
  receivePeerMessage: (from: `0x${string}`, message: string) => Promise<void>;
  channels: ChannelApi;
  askToFund: Dialogs['askToFund'];
  askToClose: Dialogs['askToClose'];
  tokenSymbol?: string;
  /** Makes the page's extension account the funding account (persisted), and repeats the transaction requests still waiting. */
  useFundingProvider: (address: `0x${string}`, chainId: number) => Promise<void>;
  /** Settles the waiting transaction request `result` answers; false when none is waiting with its id. */
  answerTransactionRequest: (result: TransactionResultParams) => boolean;
  /** Budgets with hubs and virtual payment channels (see wallet/src/virtual.ts). */
  virtual: VirtualApi;
  askForBudget: (req: { origin: string; hub: string; deposit: string; receive: string }) => Promise<boolean>;
  askToCloseBudget: (req: { origin: string; hub: string; payout: string }) => Promise<boolean>;
  /** Without it budget_exit answers -32603. */
  askToExitBudget?: Dialogs['askToExitBudget'];
  /** Connects the wallet to a message relay itself (see wallet/src/peers.ts). */
  useRelay: (relayUrl: string) => Promise<{ address: `0x${string}`; relayOrigin: string }>;
  /** Challenges on chain (see wallet/src/disputes.ts); without them channel_challenge and channel_getChallenge answer -32603. */
  disputes?: DisputeApi;
  askToChallenge?: Dialogs['askToChallenge'];
}

type Permission = MethodResult<'wallet_getPermissions'>[number];

const lower = (a: string) => a.toLowerCase() as `0x${string}`;

/** A challenge duration in words: "10 minutes", "1 day". */
function describeDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} day${seconds === 86_400 ? '' : 's'}`;
  if (seconds % 3600 === 0) return `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}`;
  if (seconds % 60 === 0) return `${seconds / 60} minute${seconds === 60 ? '' : 's'}`;
  return `${seconds} seconds`;
}

export function createHandlers(deps: HandlerDeps): Handlers {
  /** One dialog at a time per origin: concurrent connect calls share the user's answer. */
  const pending = new Map<string, Promise<boolean>>();

  async function connect(ctx: CallContext): Promise<void> {
    if (await deps.permissions.isGranted(ctx.origin)) return;
    let decision = pending.get(ctx.origin);
    if (!decision) {
      decision = (async () => {
        const approved = await deps.askToConnect({ origin: ctx.origin, address: toChecksumAddress(deps.address) });
        await deps.permissions.decide(ctx.origin, approved);
        if (approved) deps.notify('wallet_accountsChanged', [deps.address]);
        return approved;
      })().finally(() => pending.delete(ctx.origin));
      pending.set(ctx.origin, decision);
    }
    if (!(await decision)) throw userRejected('the connection request');
  }

  async function permissionsOf(origin: string): Promise<Permission[]> {
    const record = await deps.permissions.get(origin);
    if (!record?.granted) return [];
    return [{ invoker: origin, parentCapability: 'eth_accounts', caveats: [{ type: 'restrictReturnedAccounts', value: [deps.address] }], date: record.date }];
  }

  async function knownBudget(hub: `0x${string}`) {
    const b = await deps.virtual.getBudget(hub);
    if (!b) throw new RpcError(ErrorCode.unknownChannel, `this wallet has no budget with hub ${hub}`);
    return b;
  }

  async function knownVirtual(channelId: `0x${string}`) {
    const v = await deps.virtual.get(lower(channelId));
    if (!v) throw new RpcError(ErrorCode.unknownChannel, `this wallet has no virtual channel ${channelId}`);
    return v;
  }

  async function known(channelId: `0x${string}`) {
    const c = await deps.channels.get(lower(channelId));
    if (!c) throw new RpcError(ErrorCode.unknownChannel, `this wallet has no channel ${channelId}`);
    return c;
  }

  /** Runs an engine call, turning its typed failures into the matching RPC errors. */
  async function guard<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof ChainError) throw new RpcError(ErrorCode.chainError, e.message);
      if (e instanceof EngineError) throw new RpcError(e.code === 'unknown-channel' ? ErrorCode.unknownChannel : ErrorCode.invalidChannelState, e.message);
      if (e instanceof CoreError) throw new RpcError(ErrorCode.invalidParams, `invalid params: ${e.message}`, { field: e.field });
      throw e;
    }
  }

  const assetLabel = (asset: `0x${string}`) => labelAsset(asset, deps.tokenSymbol);

  function chain(): ChainInfo {
    if (!deps.chain) throw new RpcError(ErrorCode.internalError, 'the wallet has no chain configured');
    return deps.chain;
  }

  return {
    eth_requestAccounts: async (_params, ctx) => {
      await connect(ctx);
      return [deps.address];
    },
    eth_accounts: async (_params, ctx) => ((await deps.permissions.isGranted(ctx.origin)) ? [deps.address] : []),
    eth_chainId: async () => `0x${chain().chainId.toString(16)}`,
    wallet_getPermissions: async (_params, ctx) => permissionsOf(ctx.origin),
    wallet_requestPermissions: async (_params, ctx) => {
      await connect(ctx);
      return permissionsOf(ctx.origin);
    },
    wallet_revokePermissions: async (_params, ctx) => {
      const wasGranted = await deps.permissions.isGranted(ctx.origin);
      await deps.permissions.revoke(ctx.origin);
      if (wasGranted) deps.notify('wallet_accountsChanged', []);
      return null;
    },
    wallet_getInfo: async () => {
      const c = chain();
      return {
        address: deps.address,
        version: deps.version,
        chainId: `0x${c.chainId.toString(16)}`,
        contracts: { adjudicator: lower(c.adjudicator), consensusApp: lower(c.consensusApp), virtualPaymentApp: lower(c.virtualPaymentApp), token: lower(c.token) },
      };
    },
    channel_list: async () => (await deps.channels.list()).map(toWire),
    channel_get: async ([{ channelId }]) => toWire(await known(channelId)),
    channel_create: async ([args], ctx) => {
      const amount = BigInt(args.amount);
      const counterpartyAmount = BigInt(args.counterpartyAmount);
      const counterparty = lower(args.counterparty);
      if (counterparty === deps.address) throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].counterparty: cannot open a channel with this wallet itself', { field: 'params[0].counterparty' });
      if (amount + counterpartyAmount === 0n) throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].amount: the channel would hold nothing', { field: 'params[0].amount' });
      const asset = lower(args.asset);
      const approved = await deps.askToFund({
        origin: ctx.origin,
        counterparty: toChecksumAddress(counterparty),
        asset,
        assetLabel: assetLabel(asset),
        deposit: formatAmount(amount, asset, deps.tokenSymbol),
        total: formatAmount(amount + counterpartyAmount, asset, deps.tokenSymbol),
        role: 'open',
      });
      if (!approved) throw userRejected('the channel');
      return toWire(await guard(() => deps.channels.create({ counterparty, asset, amount, counterpartyAmount, challengeDuration: args.challengeDuration ?? 86_400 })));
    },
    channel_join: async ([{ channelId }], ctx) => {
      const proposal = await known(channelId);
      if (proposal.status !== 'proposed') throw new RpcError(ErrorCode.invalidChannelState, `channel ${channelId} is ${proposal.status}, not awaiting an answer`);
      const myIndex = proposal.participants.indexOf(deps.address);
      const total = proposal.balances.reduce((a, b) => a + b, 0n);
      const approved = await deps.askToFund({
        origin: ctx.origin,
        counterparty: toChecksumAddress(proposal.participants[myIndex === 0 ? 1 : 0]!),
        asset: proposal.asset,
        assetLabel: assetLabel(proposal.asset),
        deposit: formatAmount(proposal.balances[myIndex] ?? 0n, proposal.asset, deps.tokenSymbol),
        total: formatAmount(total, proposal.asset, deps.tokenSymbol),
        role: 'join',
      });
      if (!approved) {
        await deps.channels.reject(channelId, 'the user rejected the channel');
        throw userRejected('the channel');
      }
      return toWire(await guard(() => deps.channels.join(channelId)));
    },
    channel_update: async ([{ channelId, balances, appData }]) => {
      await known(channelId);
      return toWire(await guard(() => deps.channels.update(channelId, balances.map((b) => BigInt(b)), appData)));
    },
    channel_close: async ([{ channelId }], ctx) => {
      const c = await known(channelId);
      // A running channel closes normally; one whose funding failed part-way closes from its
      // prefund state, which pays back whatever was deposited.
      if (c.status !== 'running' && c.status !== 'failed' && c.status !== 'funding') {
        throw new RpcError(ErrorCode.invalidChannelState, `channel ${channelId} is ${c.status}: there is nothing to close`);
      }
      const myIndex = c.participants.indexOf(deps.address);
      const approved = await deps.askToClose({
        origin: ctx.origin,
        channelId,
        payout: formatAmount(c.balances[myIndex] ?? 0n, c.asset, deps.tokenSymbol),
        counterpartyPayout: formatAmount(c.balances[myIndex === 0 ? 1 : 0] ?? 0n, c.asset, deps.tokenSymbol),
      });
      if (!approved) throw userRejected('closing the channel');
      return toWire(await guard(() => deps.channels.close(channelId)));
    },
    channel_challenge: async ([{ channelId }], ctx) => {
      const disputes = deps.disputes;
      const ask = deps.askToChallenge;
      if (!disputes || !ask) throw new RpcError(ErrorCode.internalError, 'this wallet cannot challenge channels');
      const c = await known(channelId);
      if (c.status !== 'running') throw new RpcError(ErrorCode.invalidChannelState, `channel ${channelId} is ${c.status}: only a running channel can be challenged`);
      const current = await disputes.get(lower(channelId));
      if (current && CHALLENGE_UNDER_WAY.includes(current.stage)) throw new RpcError(ErrorCode.invalidChannelState, `channel ${channelId} is already challenged (${current.stage})`);
      const myIndex = c.participants.indexOf(deps.address);
      const approved = await ask({
        origin: ctx.origin,
        channelId,
        payout: formatAmount(c.balances[myIndex] ?? 0n, c.asset, deps.tokenSymbol),
        counterpartyPayout: formatAmount(c.balances[myIndex === 0 ? 1 : 0] ?? 0n, c.asset, deps.tokenSymbol),
        challengeDuration: describeDuration(c.challengeDuration),
      });
      if (!approved) throw userRejected('the challenge');
      return challengeToWire(await guard(() => disputes.challenge(lower(channelId))));
    },
    channel_getChallenge: async ([{ channelId }]) => {
      if (!deps.disputes) throw new RpcError(ErrorCode.internalError, 'this wallet cannot challenge channels');
      await known(channelId);
      const u = await deps.disputes.get(lower(channelId));
      if (!u) throw new RpcError(ErrorCode.unknownChannel, `channel ${channelId} was never challenged`);
      return challengeToWire(u);
    },
    wallet_signRelayChallenge: async ([{ relayOrigin, challenge }]) => {
      let origin: string;
      try {
        origin = new URL(relayOrigin).origin;
      } catch {
        throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].relayOrigin: expected a ws(s) or http(s) origin', { field: 'params[0].relayOrigin' });
      }
      if (origin !== relayOrigin || !/^(wss?|https?):$/.test(new URL(relayOrigin).protocol)) {
        throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].relayOrigin: expected a ws(s) or http(s) origin', { field: 'params[0].relayOrigin' });
      }
      return { address: deps.address, signature: deps.signRelayChallenge(relayOrigin, challenge) };
    },
    budget_request: async ([args], ctx) => {
      const hub = lower(args.hub);
      const asset = lower(args.asset);
      if (asset !== ETH) throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].asset: budgets are in ETH (the zero address) for now', { field: 'params[0].asset' });
      if (hub === deps.address) throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].hub: this wallet cannot be its own hub', { field: 'params[0].hub' });
      const sendAmount = BigInt(args.sendAmount);
      const receiveAmount = BigInt(args.receiveAmount);
      if (sendAmount + receiveAmount === 0n) throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].sendAmount: the budget would hold nothing', { field: 'params[0].sendAmount' });
      const existing = await deps.virtual.getBudget(hub);
      if (existing && existing.status !== 'closed' && existing.status !== 'failed') throw new RpcError(ErrorCode.invalidChannelState, `there is already a budget with hub ${hub} (${existing.status})`);
      const approved = await deps.askForBudget({ origin: ctx.origin, hub: toChecksumAddress(hub), deposit: formatAmount(sendAmount, asset, deps.tokenSymbol), receive: formatAmount(receiveAmount, asset, deps.tokenSymbol) });
      if (!approved) throw userRejected('the budget');
      return budgetToWire(await guard(() => deps.virtual.requestBudget({ hub, asset, sendAmount, receiveAmount, challengeDuration: args.challengeDuration ?? 86_400 })));
    },
    budget_get: async ([{ hub }]) => budgetToWire(await knownBudget(lower(hub))),
    budget_close: async ([{ hub }], ctx) => {
      const budget = await knownBudget(lower(hub));
      if (budget.status !== 'running') throw new RpcError(ErrorCode.invalidChannelState, `the budget with hub ${hub} is ${budget.status}: there is nothing to close`);
      if (budget.locked > 0n) throw new RpcError(ErrorCode.invalidChannelState, `the budget with hub ${hub} still funds open virtual channels: close them first`);
      const approved = await deps.askToCloseBudget({ origin: ctx.origin, hub: toChecksumAddress(budget.hub), payout: formatAmount(budget.send, budget.asset, deps.tokenSymbol) });
      if (!approved) throw userRejected('closing the budget');
      return budgetToWire(await guard(() => deps.virtual.closeBudget(budget.hub)));
    },
    budget_exit: async ([{ hub }], ctx) => {
      const ask = deps.askToExitBudget;
      if (!ask) throw new RpcError(ErrorCode.internalError, 'this wallet cannot exit budgets on chain');
      const budget = await knownBudget(lower(hub));
      const under = await guard(() => deps.virtual.getBudgetExit(budget.hub));
      if (under && under.stage !== 'failed') return budgetExitToWire(under); // asking again: the exit under way
      if (budget.status !== 'running') throw new RpcError(ErrorCode.invalidChannelState, `the budget with hub ${hub} is ${budget.status}: there is nothing to exit`);
      const ledger = await deps.channels.get(budget.ledgerId);
      const open = (await deps.virtual.list()).filter((v) => v.hub === budget.hub && v.status !== 'closed').length;
      const approved = await ask({
        origin: ctx.origin,
        hub: toChecksumAddress(budget.hub),
        payout: budget.locked > 0n ? `${formatAmount(budget.send, budget.asset, deps.tokenSymbol)} and your share of ${formatAmount(budget.locked, budget.asset, deps.tokenSymbol)} in payment channels` : formatAmount(budget.send, budget.asset, deps.tokenSymbol),
        virtualChannels: open,
        challengeDuration: describeDuration(ledger?.challengeDuration ?? 0),
      });
      if (!approved) throw userRejected('the exit of the budget');
      return budgetExitToWire(await guard(() => deps.virtual.exitBudget(budget.hub)));
    },
    budget_getExit: async ([{ hub }]) => {
      const budget = await knownBudget(lower(hub));
      const e = await guard(() => deps.virtual.getBudgetExit(budget.hub));
      if (!e) throw new RpcError(ErrorCode.unknownChannel, `the budget with hub ${hub} was never exited on chain`);
      return budgetExitToWire(e);
    },
    virtual_create: async ([args]) => {
      const payee = lower(args.payee);
      const hub = lower(args.hub);
      if (payee === deps.address) throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].payee: cannot pay this wallet itself', { field: 'params[0].payee' });
      const amount = BigInt(args.amount);
      if (amount === 0n) throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].amount: must be more than 0', { field: 'params[0].amount' });
      const budget = await knownBudget(hub);
      if (budget.status !== 'running') throw new RpcError(ErrorCode.invalidChannelState, `the budget with hub ${hub} is ${budget.status}`);
      if (amount > budget.send) throw new RpcError(ErrorCode.invalidParams, `invalid params: params[0].amount: ${amount} is more than the budget has left (${budget.send})`, { field: 'params[0].amount' });
      return virtualToWire(await guard(() => deps.virtual.create({ payee, hub, amount })));
    },
    virtual_pay: async ([{ channelId, amount }]) => {
      const value = BigInt(amount);
      if (value === 0n) throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].amount: must be more than 0', { field: 'params[0].amount' });
      const { total } = await guard(() => deps.virtual.pay(lower(channelId), value));
      return { channelId: lower(channelId), paid: `0x${total.toString(16)}` as const };
    },
    virtual_close: async ([{ channelId }]) => {
      await knownVirtual(channelId);
      return virtualToWire(await guard(() => deps.virtual.close(lower(channelId))));
    },
    virtual_get: async ([{ channelId }]) => virtualToWire(await knownVirtual(channelId)),
    virtual_list: async () => (await deps.virtual.list()).map(virtualToWire),
    wallet_useRelay: async ([{ relayUrl }]) => {
      try {
        return await deps.useRelay(relayUrl);
      } catch (e) {
        if (e instanceof TypeError) throw new RpcError(ErrorCode.invalidParams, `invalid params: params[0].relayUrl: ${e.message}`, { field: 'params[0].relayUrl' });
        throw new RpcError(ErrorCode.internalError, `could not connect to the relay: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
    channel_receiveMessage: async ([{ from, message }]) => {
      await deps.receivePeerMessage(lower(from), message);
      return null;
    },
    wallet_useFundingProvider: async ([{ address, chainId }]) => {
      const c = chain();
      if (BigInt(chainId) !== BigInt(c.chainId)) {
        throw new RpcError(
          ErrorCode.invalidParams,
          `invalid params: params[0].chainId: the funding provider is on chain ${BigInt(chainId)}, but this wallet's channels are on chain ${c.chainId}. Switch it to chain ${c.chainId}.`,
          { field: 'params[0].chainId' },
        );
      }
      await deps.useFundingProvider(lower(address), c.chainId);
      return null;
    },
    wallet_transactionResult: async ([result]) => {
      if ((result.hash === undefined) === (result.error === undefined)) {
        throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0]: give exactly one of hash and error', { field: 'params[0]' });
      }
      if (!deps.answerTransactionRequest(result)) {
        throw new RpcError(ErrorCode.invalidParams, 'invalid params: params[0].requestId: no transaction request with this id is waiting (answered already, timed out, or from before a reload)', { field: 'params[0].requestId' });
      }
      return null;
    },
  };
}
