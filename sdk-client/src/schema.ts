/**
 * The wallet's JSON-RPC 2.0 interface, in one place: every method's params, result and whether
 * it needs the user's permission, every notification the wallet sends, and the error codes.
 * The wallet validates every inbound message against it; the sdk's types are inferred from it.
 * Names follow Ethereum JSON-RPC conventions (`eth_`, `wallet_` as in EIP-1193/EIP-2255) and,
 * for channels, a `channel_` namespace. They are stable: add, never rename.
 */
import { type Infer, s } from './schema-types.ts';

export const JSONRPC_VERSION = '2.0';

/** Error codes: JSON-RPC 2.0's own, and EIP-1193's provider errors. */
export const ErrorCode = {
  /** The message is not valid JSON. */
  parseError: -32700,
  /** The message is not a valid JSON-RPC 2.0 request. */
  invalidRequest: -32600,
  /** No such method. */
  methodNotFound: -32601,
  /** The params do not match the method's schema; the message and `data.field` name the field. */
  invalidParams: -32602,
  /** The wallet failed; nothing was changed. */
  internalError: -32603,
  /** The call got no answer in time (raised by the sdk, not the wallet). */
  timeout: -32001,
  /** The user rejected the request. */
  userRejected: 4001,
  /** The calling origin has not been given permission (connect first). */
  unauthorized: 4100,
  /** The wallet is not reachable (the iframe was removed or never became ready). */
  disconnected: 4900,
  /** No such channel in this wallet. */
  unknownChannel: -32010,
  /** The request does not fit the channel's state (not running, busy with another step, refused by the counterparty). */
  invalidChannelState: -32011,
  /** The chain refused or could not be reached (insufficient funds, a reverted transaction, an unreachable RPC); nothing was left half done. */
  chainError: -32012,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

// ---- Shared shapes ---------------------------------------------------------------------------

export const Permission = s.object({
  /** The origin the permission was given to. */
  invoker: s.string({ maxLength: 2048 }),
  parentCapability: s.literal('eth_accounts'),
  caveats: s.array(s.object({ type: s.string(), value: s.array(s.address()) }), 8),
  /** When the user granted it, in ms since the epoch. */
  date: s.number({ integer: true, min: 0 }),
});

export const WalletInfo = s.object({
  address: s.address(),
  version: s.string(),
  chainId: s.quantity(),
  contracts: s.object({
    adjudicator: s.address(),
    consensusApp: s.address(),
    virtualPaymentApp: s.address(),
    token: s.address(),
  }),
});

export const ChannelSummary = s.object({
  channelId: s.bytes32(),
  participants: s.array(s.address(), 255),
  appDefinition: s.address(),
  turnNum: s.number({ integer: true, min: 0 }),
  /** proposed | funding | running | challenged | closing | closed | rejected | failed (`challenged`: a challenge is under way on chain; see challenge_updated) */
  status: s.string({ maxLength: 64 }),
  /** The asset (the zero address for ETH). */
  asset: s.address(),
  /** Each participant's balance in the latest supported state, in the order of `participants`. */
  balances: s.array(s.quantity(), 255),
  challengeDuration: s.number({ integer: true, min: 0 }),
});

/** A budget with a hub: the ledger channel this wallet shares with it. Amounts in wei (ETH). */
export const Budget = s.object({
  hub: s.address(),
  ledgerId: s.bytes32(),
  asset: s.address(),
  /** What this wallet can still lock in new virtual channels (pay with). */
  send: s.quantity(),
  /** What the hub can still lock toward this wallet (be paid with). */
  receive: s.quantity(),
  /** What is locked in guarantees for open virtual channels. */
  locked: s.quantity(),
  /** funding | running | closing | closed | failed */
  status: s.string({ maxLength: 64 }),
});

/** A virtual payment channel through a hub. */
export const VirtualChannel = s.object({
  channelId: s.bytes32(),
  payer: s.address(),
  payee: s.address(),
  hub: s.address(),
  /** What the payer locked (the most that can be paid). */
  amount: s.quantity(),
  /** Paid so far (the largest voucher). */
  paid: s.quantity(),
  /** funding | running | closing | closed | failed */
  status: s.string({ maxLength: 64 }),
});

const VirtualRef = s.object({ channelId: s.bytes32() });
const HubRef = s.object({ hub: s.address() });

/** A budget's exit on chain without the hub, as it stands. */
export const BudgetExit = s.object(
  {
    hub: s.address(),
    ledgerId: s.bytes32(),
    /**
     * challenging (the ledger and its payment channels are being registered on chain) | waiting
     * (registered: they finalize at `finalizesAt`) | reclaiming (the payment channels' amounts are
     * being moved back into the ledger by what the vouchers prove) | withdrawing | withdrawn | failed
     */
    stage: s.string({ maxLength: 32 }),
    /** When the last of the challenges finalizes, in unix seconds of chain time (0: not yet registered): for a countdown. */
    finalizesAt: s.number({ integer: true, min: 0 }),
    detail: s.string({ maxLength: 512 }),
  },
  ['detail'],
);

export const ObjectiveProgress = s.object(
  {
    objectiveId: s.string({ maxLength: 128 }),
    channelId: s.bytes32(),
    /** e.g. awaiting-approval, waiting-for-counterparty-deposit, depositing, deposit-mined, funded, running, updated, closing, concluded, rejected, failed */
    stage: s.string({ maxLength: 64 }),
    detail: s.string({ maxLength: 512 }),
  },
  ['detail'],
);

const ChannelRef = s.object({ channelId: s.bytes32() });

/** A dispute of a channel on the adjudicator, as it stands. */
export const Challenge = s.object(
  {
    channelId: s.bytes32(),
    /**
     * challenging (our challenge is being sent) | registered (on chain: the channel finalizes at
     * `finalizesAt` unless a newer state is registered) | checkpointing (answering a stale
     * challenge with our newer state) | cleared (a newer state cleared it: the channel runs again)
     * | withdrawing (finalized: paying out) | withdrawn | failed
     */
    stage: s.string({ maxLength: 32 }),
    /** us | counterparty: who registered the challenge. */
    challenger: s.string({ maxLength: 32 }),
    /** The turn of the state registered (or being registered). */
    turnNum: s.number({ integer: true, min: 0 }),
    /** When the registered challenge finalizes, in unix seconds of chain time (0: none registered): for a countdown. */
    finalizesAt: s.number({ integer: true, min: 0 }),
    detail: s.string({ maxLength: 512 }),
  },
  ['detail'],
);

const EthAccountsRequest = s.object({ eth_accounts: s.object({}) });

/** How a method may be called. `public`: by any connected page; `permitted`: only by an origin the user approved. */
type Access = 'public' | 'permitted';

interface MethodDefinition {
  params: ReturnType<typeof s.tuple> | ReturnType<typeof s.object>;
  result: unknown;
  access: Access;
  /** Whether the call may wait on the user (a dialog): the sdk gives these a long timeout. */
  interactive: boolean;
  description: string;
}

// ---- Methods ---------------------------------------------------------------------------------

export const methods = {
  eth_requestAccounts: {
    params: s.tuple(),
    result: s.array(s.address(), 1),
    access: 'public',
    interactive: true,
    description: 'Connect: asks the user to let this site use the wallet (once per site), then returns the wallet address.',
  },
  eth_accounts: {
    params: s.tuple(),
    result: s.array(s.address(), 1),
    access: 'public',
    interactive: false,
    description: 'The wallet address if this site is connected, else an empty list (EIP-1193).',
  },
  eth_chainId: {
    params: s.tuple(),
    result: s.quantity(),
    access: 'public',
    interactive: false,
    description: 'The chain the wallet is configured for, as a hex quantity.',
  },
  wallet_getPermissions: {
    params: s.tuple(),
    result: s.array(Permission, 8),
    access: 'public',
    interactive: false,
    description: "This site's permissions (EIP-2255); empty when not connected.",
  },
  wallet_requestPermissions: {
    params: s.tuple(EthAccountsRequest),
    result: s.array(Permission, 8),
    access: 'public',
    interactive: true,
    description: 'EIP-2255 form of connect: asks the user, then returns the permissions granted.',
  },
  wallet_revokePermissions: {
    params: s.tuple(EthAccountsRequest),
    result: s.null(),
    access: 'public',
    interactive: false,
    description: "Revokes this site's permission; later calls get 4100 until it connects again.",
  },
  wallet_getInfo: {
    params: s.tuple(),
    result: WalletInfo,
    access: 'permitted',
    interactive: false,
    description: 'The signing address, wallet version, chain id and contract addresses.',
  },
  channel_list: {
    params: s.tuple(),
    result: s.array(ChannelSummary),
    access: 'permitted',
    interactive: false,
    description: 'The channels this wallet is in.',
  },
  channel_get: {
    params: s.tuple(ChannelRef),
    result: ChannelSummary,
    access: 'permitted',
    interactive: false,
    description: 'One channel.',
  },
  channel_create: {
    params: s.tuple(
      s.object(
        {
          counterparty: s.address(),
          /** The zero address for ETH, or an ERC20 token address. */
          asset: s.address(),
          /** What this wallet deposits, in the asset's smallest unit. */
          amount: s.quantity(),
          /** What the counterparty deposits. */
          counterpartyAmount: s.quantity(),
          /** Seconds a challenge waits before the channel finalizes (default 86400). */
          challengeDuration: s.number({ integer: true, min: 60, max: 31_536_000 }),
        },
        ['challengeDuration'],
      ),
    ),
    result: ChannelSummary,
    access: 'permitted',
    interactive: true,
    description:
      'Opens a direct channel with a counterparty: the user approves the deposit in the wallet, then the channel is funded on chain by deposits in turn (progress arrives as objective_progress).',
  },
  channel_join: {
    params: s.tuple(ChannelRef),
    result: ChannelSummary,
    access: 'permitted',
    interactive: true,
    description: 'Joins a channel a counterparty proposed (see channel_proposed): the user approves the deposit in the wallet.',
  },
  channel_update: {
    params: s.tuple(
      s.object(
        {
          channelId: s.bytes32(),
          /** The new balance of each participant, in the order of `participants`; the total must not change. */
          balances: s.array(s.quantity(), 255),
          appData: s.hex(),
        },
        ['appData'],
      ),
    ),
    result: ChannelSummary,
    access: 'permitted',
    interactive: false,
    description:
      "Proposes new balances for a running channel and resolves once the counterparty countersigned. A wallet countersigns only updates that take nothing from it, so the payer proposes payments.",
  },
  channel_close: {
    params: s.tuple(ChannelRef),
    result: ChannelSummary,
    access: 'permitted',
    interactive: true,
    description: 'Closes a channel cooperatively and withdraws: the user approves, then a final state is countersigned and concluded on chain.',
  },
  channel_challenge: {
    params: s.tuple(ChannelRef),
    result: Challenge,
    access: 'permitted',
    interactive: true,
    description:
      'Challenges a running channel on chain with its latest supported state, for when the counterparty is gone: the user approves in the wallet; resolves once the challenge is registered (stage registered, with finalizesAt). After the challenge duration the wallet withdraws by the channel’s outcome with transferAllAssets (challenge_updated reports each stage). -32011 if the channel is not running or a challenge is already under way.',
  },
  channel_getChallenge: {
    params: s.tuple(ChannelRef),
    result: Challenge,
    access: 'permitted',
    interactive: false,
    description: 'Where the latest challenge of a channel stands (ours or the counterparty’s). -32010 if the channel was never challenged.',
  },
  wallet_signRelayChallenge: {
    params: s.tuple(s.object({ relayOrigin: s.string({ maxLength: 2048 }), challenge: s.bytes32() })),
    result: s.object({ address: s.address(), signature: s.object({ v: s.number({ integer: true, min: 27, max: 28 }), r: s.bytes32(), s: s.bytes32() }) }),
    access: 'permitted',
    interactive: false,
    description:
      "Proves the wallet's address to a message relay: signs the relay's challenge under a relay-login domain that cannot be mistaken for a state or a voucher.",
  },
  budget_request: {
    params: s.tuple(
      s.object(
        {
          hub: s.address(),
          /** ETH only (the zero address) for now. */
          asset: s.address(),
          /** What this wallet deposits: the most it can pay through the hub at once. */
          sendAmount: s.quantity(),
          /** What the hub deposits: the most this wallet can be paid at once. */
          receiveAmount: s.quantity(),
          challengeDuration: s.number({ integer: true, min: 60, max: 31_536_000 }),
        },
        ['challengeDuration'],
      ),
    ),
    result: Budget,
    access: 'permitted',
    interactive: true,
    description:
      'Asks the user to approve a budget with a hub: the wallet opens a ledger channel with it and both deposit (in turn). Resolves once it is funded. Virtual channels within the budget then open with no further prompt and no on-chain transaction.',
  },
  budget_get: {
    params: s.tuple(HubRef),
    result: Budget,
    access: 'permitted',
    interactive: false,
    description: "The budget with a hub: what can still be sent and received, and what is locked. -32010 if there is none.",
  },
  budget_exit: {
    params: s.tuple(HubRef),
    result: BudgetExit,
    access: 'permitted',
    interactive: true,
    description:
      'Exits the budget with a hub on chain without the hub, for when it does not answer: the user approves; the ledger channel and every payment channel it funds are challenged (a payee with the largest voucher it holds), reclaimed after the challenge duration, and withdrawn. Resolves once started (stage challenging); budget_exit_updated reports each stage with finalizesAt for a countdown. -32010 if there is no budget with the hub; -32011 if the budget is not running.',
  },
  budget_getExit: {
    params: s.tuple(HubRef),
    result: BudgetExit,
    access: 'permitted',
    interactive: false,
    description: 'Where the exit of the budget with a hub stands. -32010 if it was never exited on chain.',
  },
  budget_close: {
    params: s.tuple(HubRef),
    result: Budget,
    access: 'permitted',
    interactive: true,
    description: 'Asks the user to close the budget with a hub and withdraw everything in one step (a cooperative close of the ledger channel). Refused while virtual channels are open on it.',
  },
  virtual_create: {
    params: s.tuple(s.object({ payee: s.address(), hub: s.address(), amount: s.quantity() })),
    result: VirtualChannel,
    access: 'permitted',
    interactive: false,
    description: 'Opens a virtual payment channel to a payee through a hub, within the approved budget: no prompt and no on-chain transaction. Resolves once it is funded.',
  },
  virtual_pay: {
    params: s.tuple(s.object({ channelId: s.bytes32(), amount: s.quantity() })),
    result: s.object({ channelId: s.bytes32(), paid: s.quantity() }),
    access: 'permitted',
    interactive: false,
    description: 'Pays `amount` more to the payee: one voucher (cumulative), stored by this wallet before it is sent. Resolves with the total paid.',
  },
  virtual_close: {
    params: s.tuple(VirtualRef),
    result: VirtualChannel,
    access: 'permitted',
    interactive: false,
    description: "Closes a virtual channel (payer or payee): the final state from the largest voucher, then both ledgers credit payer and payee. No on-chain transaction. Resolves once this wallet's ledger is updated.",
  },
  virtual_get: {
    params: s.tuple(VirtualRef),
    result: VirtualChannel,
    access: 'permitted',
    interactive: false,
    description: 'One virtual channel. -32010 if this wallet is not in it.',
  },
  virtual_list: {
    params: s.tuple(),
    result: s.array(VirtualChannel, 10_000),
    access: 'permitted',
    interactive: false,
    description: 'The virtual channels this wallet is in.',
  },
  wallet_useRelay: {
    params: s.tuple(s.object({ relayUrl: s.string({ maxLength: 2048 }) })),
    result: s.object({ address: s.address(), relayOrigin: s.string({ maxLength: 2048 }) }),
    access: 'permitted',
    interactive: false,
    description:
      "Connects the wallet itself to a message relay (the hub's `/relay`, a ws: or wss: URL), logging in with its own key. From then on the wallet sends and receives protocol messages there, and stops sending `channel_outboundMessage`: messages no longer pass through the page. Resolves once the relay accepted the login.",
  },
  channel_receiveMessage: {
    params: s.tuple(s.object({ from: s.address(), message: s.string({ maxLength: 1 << 20 }) })),
    result: s.null(),
    access: 'permitted',
    interactive: false,
    description: 'Hands the wallet a protocol message from a peer (as carried by any transport, e.g. the relay).',
  },
  wallet_useFundingProvider: {
    params: s.tuple(
      s.object({
        /** The extension account that pays for the wallet's deposits and conclusions. */
        address: s.address(),
        /** The chain the extension is on; it must be the wallet's. */
        chainId: s.quantity(),
      }),
    ),
    result: s.null(),
    access: 'permitted',
    interactive: false,
    description:
      "Makes the page's EIP-1193 provider (a browser extension) this wallet's funding account: from now on (and after reloads) the wallet's deposits and conclusions are sent from `address` through the page (see wallet_transactionRequest). The chain id must be the wallet's. The sdk sends it for `fundingProvider` / `useFundingProvider()`.",
  },
  wallet_transactionResult: {
    params: s.tuple(
      s.object(
        {
          /** The `requestId` of the wallet_transactionRequest answered. */
          requestId: s.string({ maxLength: 64 }),
          /** The hash the provider returned for the sent transaction. */
          hash: s.bytes32(),
          /** The provider's error (e.g. 4001 when the user rejected the transaction). */
          error: s.object({ code: s.number({ integer: true }), message: s.string({ maxLength: 512 }) }),
        },
        ['hash', 'error'],
      ),
    ),
    result: s.null(),
    access: 'permitted',
    interactive: false,
    description:
      "Answers a wallet_transactionRequest with exactly one of `hash` (the page's provider sent the transaction) or `error` (it refused or failed, e.g. code 4001: the user rejected it). The sdk sends it.",
  },
} as const satisfies Record<string, MethodDefinition>;

export type MethodName = keyof typeof methods;
export type MethodParams<M extends MethodName> = Infer<(typeof methods)[M]['params']>;
export type MethodResult<M extends MethodName> = Infer<(typeof methods)[M]['result']>;

// ---- Notifications (wallet → dapp) ----------------------------------------------------------

export const notifications = {
  /** The wallet has loaded its store and key and will answer calls. */
  wallet_ready: s.object({ version: s.string() }),
  /** The wallet needs the user (a dialog) and asks the host to show the iframe, or is done and asks to hide it. */
  wallet_uiRequest: s.object({ visible: s.boolean() }),
  /** This site's view of the accounts changed (connect, revoke): EIP-1193 `accountsChanged`. */
  wallet_accountsChanged: s.array(s.address(), 1),
  /** A protocol message for a peer: deliver `message` (opaque JSON text) to the wallet at `to`. */
  channel_outboundMessage: s.object({ to: s.address(), message: s.string({ maxLength: 1 << 20 }) }),
  /** A channel changed (status, turn, balances). */
  channel_updated: ChannelSummary,
  /** A counterparty proposed a channel: call channel_join to approve and fund it. */
  channel_proposed: ChannelSummary,
  /** Progress of an objective (funding, update, close), e.g. waiting for the counterparty's deposit. */
  objective_progress: ObjectiveProgress,
  /**
   * A challenge of one of this wallet's channels changed stage: ours, or a counterparty's that the
   * wallet saw on chain (a stale one is answered at once with a checkpoint). `finalizesAt` is for
   * a countdown.
   */
  challenge_updated: Challenge,
  /** A budget changed (funded, locked or freed by a virtual channel, closed). */
  budget_updated: Budget,
  /** An exit of a budget on chain without the hub moved on (budget_exit): its stage, and `finalizesAt` for a countdown. */
  budget_exit_updated: BudgetExit,
  /** A virtual channel changed (funded, paid, closing, closed). */
  virtual_updated: VirtualChannel,
  /** The payee's wallet verified and stored a voucher: `amount` this payment, `total` so far. */
  payment_received: s.object({ channelId: s.bytes32(), from: s.address(), amount: s.quantity(), total: s.quantity() }),
  /**
   * The wallet asks the page's funding provider (see wallet_useFundingProvider) to send a
   * transaction (`eth_sendTransaction`; the provider picks the gas and the fees) and to answer
   * with wallet_transactionResult quoting `requestId`.
   */
  wallet_transactionRequest: s.object({
    requestId: s.string({ maxLength: 64 }),
    tx: s.object({ to: s.address(), data: s.hex(), value: s.quantity(), chainId: s.quantity(), from: s.address() }),
  }),
} as const;

export type NotificationName = keyof typeof notifications;
export type NotificationParams<N extends NotificationName> = Infer<(typeof notifications)[N]>;

// ---- Wire shapes ---------------------------------------------------------------------------

export type RequestId = string | number;

export interface RpcRequest {
  jsonrpc: '2.0';
  id: RequestId;
  method: string;
  params?: unknown;
}

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: { field?: string };
}

export type RpcResponse = { jsonrpc: '2.0'; id: RequestId | null; result: unknown } | { jsonrpc: '2.0'; id: RequestId | null; error: RpcErrorObject };

export interface RpcNotification {
  jsonrpc: '2.0';
  method: string;
  params: unknown;
}

/** Cap on the size of one inbound message, in characters of its JSON form. */
export const MAX_MESSAGE_CHARS = 1 << 20;
