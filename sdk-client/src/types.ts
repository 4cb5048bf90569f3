import type { MethodName, MethodParams, MethodResult, NotificationName, NotificationParams } from './schema.ts';
import type { HexString } from './schema-types.ts';

/**
 * Every method's params and result, resolved once. The API indexes these with its type parameter
 * (`ResultByMethod[M]`) where the schema writes `MethodResult<M>`: the same types once M is known,
 * but tsc can compare generic signatures over these, while over the schema's deferred conditional
 * types it gives up (TS2589) — e.g. when a client is assigned to an EIP-1193 provider type.
 */
export type ParamsByMethod = { [M in MethodName]: MethodParams<M> };
export type ResultByMethod = { [M in MethodName]: MethodResult<M> };

export interface WalletClientOptions {
  /** Where the wallet is served, e.g. `https://wallet.example/`. Must be http(s). */
  walletUrl: string;
  /** Where to mount the wallet's overlay; `document.body` when omitted. */
  container?: HTMLElement;
  /** How long a non-interactive call may take, in ms. Default 10 000. */
  timeoutMs?: number;
  /** How long a call that may wait on the user (schema `interactive: true`) may take, in ms. Default 300 000. */
  interactiveTimeoutMs?: number;
  /** How long the wallet may take to load and post `wallet_ready`, in ms. Default 15 000. */
  readyTimeoutMs?: number;
  /**
   * A browser extension (`window.ethereum`, any EIP-1193 provider) to pay for the wallet's
   * deposits and conclusions instead of the wallet's own key. The sdk registers it with the
   * wallet (`useFundingProvider`) whenever this site is connected: when the wallet becomes ready
   * (if the site was connected before: every page load re-registers it, which `connect()` waits
   * for) and after every successful `requestAccounts()` / `requestPermissions()` (which resolve
   * only once it is registered). From the start it answers the wallet's transaction requests
   * through it, one at a time, in order.
   */
  fundingProvider?: Eip1193Like;
}

/** What the sdk needs of an EIP-1193 provider, such as a browser extension's `window.ethereum`. */
export interface Eip1193Like {
  request(args: { method: string; params?: readonly unknown[] | object }): Promise<unknown>;
}

/** The funding account a provider was registered with: the extension's account and chain. */
export interface FundingAccount {
  /** Lower-case 0x-hex. */
  address: HexString;
  /** A canonical hex quantity, e.g. `0x7a69`. */
  chainId: HexString;
}

export interface RequestOptions {
  /** Overrides the client's timeout for this call, in ms. It runs from when the call is sent to the wallet. */
  timeoutMs?: number;
}

/** EIP-1193 style request arguments, typed from the schema. */
export interface RequestArguments<M extends MethodName = MethodName> {
  method: M;
  /** Omitted: `[]` is sent (the form of every parameterless method). */
  params?: ParamsByMethod[M];
}

export type NotificationListener<N extends NotificationName> = (params: NotificationParams<N>) => void;

/** `connecting` until the wallet posts `wallet_ready`; `closed` after `destroy()` or a ready timeout. */
export type ClientState = 'connecting' | 'ready' | 'closed';

/**
 * A typed method for every method of the schema (see `methodAliases`, which the compiler checks
 * covers every `MethodName`).
 */
export interface WalletMethods {
  /** `eth_requestAccounts`: asks the user to connect this site (once), then the wallet address. Interactive. */
  requestAccounts(options?: RequestOptions): Promise<MethodResult<'eth_requestAccounts'>>;
  /** `eth_accounts`: the wallet address if this site is connected, else `[]`. */
  accounts(options?: RequestOptions): Promise<MethodResult<'eth_accounts'>>;
  /** `eth_chainId`: the wallet's chain as a hex quantity. */
  chainId(options?: RequestOptions): Promise<MethodResult<'eth_chainId'>>;
  /** `wallet_getPermissions`: this site's permissions (EIP-2255). */
  getPermissions(options?: RequestOptions): Promise<MethodResult<'wallet_getPermissions'>>;
  /** `wallet_requestPermissions`: EIP-2255 connect; asks the user. Interactive. */
  requestPermissions(
    request?: MethodParams<'wallet_requestPermissions'>[0],
    options?: RequestOptions,
  ): Promise<MethodResult<'wallet_requestPermissions'>>;
  /** `wallet_revokePermissions`: disconnects this site. */
  revokePermissions(
    request?: MethodParams<'wallet_revokePermissions'>[0],
    options?: RequestOptions,
  ): Promise<MethodResult<'wallet_revokePermissions'>>;
  /** `wallet_getInfo`: address, version, chain id and contract addresses. Needs permission. */
  getInfo(options?: RequestOptions): Promise<MethodResult<'wallet_getInfo'>>;
  /** `channel_list`: the channels this wallet is in. Needs permission. */
  listChannels(options?: RequestOptions): Promise<MethodResult<'channel_list'>>;
  /** `budget_request`: Asks the user to approve a budget with a hub (a funded ledger channel). Interactive. */
  requestBudget(request: MethodParams<'budget_request'>[0], options?: RequestOptions): Promise<MethodResult<'budget_request'>>;
  /** `budget_get`: The budget with a hub. Needs permission. */
  getBudget(request: MethodParams<'budget_get'>[0], options?: RequestOptions): Promise<MethodResult<'budget_get'>>;
  /** `budget_close`: Closes the budget with a hub and withdraws everything; the user approves. Interactive. */
  closeBudget(request: MethodParams<'budget_close'>[0], options?: RequestOptions): Promise<MethodResult<'budget_close'>>;
  /** `budget_exit`: exits the budget on chain without the hub (it does not answer); the user approves. Interactive. */
  exitBudget(request: MethodParams<'budget_exit'>[0], options?: RequestOptions): Promise<MethodResult<'budget_exit'>>;
  /** `budget_getExit`: where the budget's exit stands (with `finalizesAt` for a countdown). */
  getBudgetExit(request: MethodParams<'budget_getExit'>[0], options?: RequestOptions): Promise<MethodResult<'budget_getExit'>>;
  /** `virtual_create`: Opens a virtual payment channel through a hub, within the budget. Needs permission. */
  createVirtualChannel(request: MethodParams<'virtual_create'>[0], options?: RequestOptions): Promise<MethodResult<'virtual_create'>>;
  /** `virtual_pay`: Pays more to a virtual channel's payee (one voucher). Needs permission. */
  pay(request: MethodParams<'virtual_pay'>[0], options?: RequestOptions): Promise<MethodResult<'virtual_pay'>>;
  /** `virtual_close`: Closes a virtual channel; the ledgers credit payer and payee. Needs permission. */
  closeVirtualChannel(request: MethodParams<'virtual_close'>[0], options?: RequestOptions): Promise<MethodResult<'virtual_close'>>;
  /** `virtual_get`: One virtual channel. Needs permission. */
  getVirtualChannel(request: MethodParams<'virtual_get'>[0], options?: RequestOptions): Promise<MethodResult<'virtual_get'>>;
  /** `virtual_list`: The virtual channels this wallet is in. Needs permission. */
  listVirtualChannels(options?: RequestOptions): Promise<MethodResult<'virtual_list'>>;
  /** `wallet_useRelay`: the wallet connects to a message relay itself and carries its own protocol messages. Needs permission. */
  useRelay(request: MethodParams<'wallet_useRelay'>[0], options?: RequestOptions): Promise<MethodResult<'wallet_useRelay'>>;
  /** `wallet_signRelayChallenge`: proves the wallet's address to a message relay. Needs permission. */
  signRelayChallenge(
    request: MethodParams<'wallet_signRelayChallenge'>[0],
    options?: RequestOptions,
  ): Promise<MethodResult<'wallet_signRelayChallenge'>>;
  /** `channel_get`: one channel. Needs permission. */
  getChannel(request: MethodParams<'channel_get'>[0], options?: RequestOptions): Promise<MethodResult<'channel_get'>>;
  /** `channel_create`: opens and funds a direct channel; the user approves the deposit. Interactive. */
  createChannel(request: MethodParams<'channel_create'>[0], options?: RequestOptions): Promise<MethodResult<'channel_create'>>;
  /** `channel_join`: joins a proposed channel; the user approves the deposit. Interactive. */
  joinChannel(request: MethodParams<'channel_join'>[0], options?: RequestOptions): Promise<MethodResult<'channel_join'>>;
  /** `channel_update`: new balances for a running channel, resolved once countersigned. */
  updateChannel(request: MethodParams<'channel_update'>[0], options?: RequestOptions): Promise<MethodResult<'channel_update'>>;
  /** `channel_close`: closes and withdraws; the user approves. Interactive. */
  closeChannel(request: MethodParams<'channel_close'>[0], options?: RequestOptions): Promise<MethodResult<'channel_close'>>;
  /** `channel_challenge`: challenges the channel on chain (the counterparty is gone); the user approves. Interactive. */
  challengeChannel(request: MethodParams<'channel_challenge'>[0], options?: RequestOptions): Promise<MethodResult<'channel_challenge'>>;
  /** `channel_getChallenge`: where the channel's latest challenge stands (with `finalizesAt` for a countdown). */
  getChallenge(request: MethodParams<'channel_getChallenge'>[0], options?: RequestOptions): Promise<MethodResult<'channel_getChallenge'>>;
  /** `channel_receiveMessage`: hands the wallet a peer's protocol message. Needs permission. */
  receiveMessage(request: MethodParams<'channel_receiveMessage'>[0], options?: RequestOptions): Promise<MethodResult<'channel_receiveMessage'>>;
  /**
   * `wallet_useFundingProvider`, bare: tells the wallet that its funding account is this
   * extension account. Use `useFundingProvider(provider)`, which also answers the wallet's
   * transaction requests: with this alone they go unanswered. Needs permission.
   */
  setFundingAccount(request: MethodParams<'wallet_useFundingProvider'>[0], options?: RequestOptions): Promise<MethodResult<'wallet_useFundingProvider'>>;
  /** `wallet_transactionResult`: answers a `wallet_transactionRequest` (the sdk does this for a funding provider). Needs permission. */
  sendTransactionResult(request: MethodParams<'wallet_transactionResult'>[0], options?: RequestOptions): Promise<MethodResult<'wallet_transactionResult'>>;
}

export interface WalletClient extends WalletMethods {
  /** The wallet's origin, normalised (`new URL(walletUrl).origin`). */
  readonly walletOrigin: string;
  readonly state: ClientState;
  /**
   * Resolves with `wallet_ready`'s params when the wallet is ready; rejects with a
   * WalletRpcError 4900 if it is not ready within `readyTimeoutMs` or the client is destroyed first.
   */
  readonly ready: Promise<NotificationParams<'wallet_ready'>>;
  /**
   * Calls a wallet method. Calls made before the wallet is ready are queued and sent, in order,
   * when it is. Rejects with a WalletRpcError.
   */
  request<M extends MethodName>(args: RequestArguments<M>, options?: RequestOptions): Promise<ResultByMethod[M]>;
  /** Listens to a wallet notification; returns a function that removes the listener. */
  on<N extends NotificationName>(name: N, listener: NotificationListener<N>): () => void;
  off<N extends NotificationName>(name: N, listener: NotificationListener<N>): void;
  /**
   * Makes `provider` (a browser extension) the wallet's funding account: asks it for its account
   * (`eth_requestAccounts`, which may prompt its user) and chain (`eth_chainId`), tells the wallet
   * (`wallet_useFundingProvider`), and from then on answers every `wallet_transactionRequest` by
   * `eth_sendTransaction` on it, one at a time, in order. Call it once this site is connected
   * (after `requestAccounts()`); the `fundingProvider` option does it automatically. Rejects with
   * a WalletRpcError: the provider's own code and message (4001: its user refused), -32602 from
   * the wallet when the provider is on another chain, 4100 when the site is not connected.
   */
  useFundingProvider(provider: Eip1193Like, options?: RequestOptions): Promise<FundingAccount>;
  /** The provider answering the wallet's transaction requests, if any. */
  readonly fundingProvider: Eip1193Like | undefined;
  /** Removes the iframe and the message listener; pending and queued calls reject with 4900. Idempotent. */
  destroy(): void;
}
