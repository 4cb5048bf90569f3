import { NotificationEmitter } from './emitter.ts';
import { FundingBridge } from './funding.ts';
import { disconnectedError, fromRpcError, timeoutError, WalletRpcError } from './errors.ts';
import { defaultParams, isInteractive, isKnownMethod } from './methods.ts';
import {
  ErrorCode,
  JSONRPC_VERSION,
  type MethodName,
  methods,
  notifications,
  type MethodParams,
  type MethodResult,
  type NotificationName,
  type NotificationParams,
  type RpcRequest,
} from './schema.ts';
import { SchemaError, validate, type Schema } from './schema-types.ts';
import type { ClientState, Eip1193Like, FundingAccount, NotificationListener, RequestArguments, RequestOptions, ResultByMethod, WalletClient } from './types.ts';
import { parseInbound } from './wire.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_INTERACTIVE_TIMEOUT_MS = 300_000;
export const DEFAULT_READY_TIMEOUT_MS = 15_000;
/** setTimeout's largest delay; anything above it fires at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * What the client needs from the wallet's side: somewhere to post requests, and the overlay to
 * show and hide. The iframe (frame.ts) is one; tests use a fake wallet.
 */
export interface WalletConnection {
  /** Posts one request to the wallet. Throws if it cannot (the frame is gone, the params cannot be cloned). */
  post(message: RpcRequest): void;
  /** Shows or hides the wallet's UI. */
  setVisible(visible: boolean): void;
  /** Stops delivering messages and removes the frame. */
  close(): void;
}

/**
 * Opens the connection. `onMessage` must only ever be given messages that came from the wallet
 * (right window, right origin); the client checks that they are well-formed JSON-RPC.
 */
export type OpenConnection = (onMessage: (data: unknown) => void) => WalletConnection;

export interface ClientSettings {
  walletOrigin: string;
  timeoutMs: number;
  interactiveTimeoutMs: number;
  readyTimeoutMs: number;
  /** See `WalletClientOptions.fundingProvider`. */
  fundingProvider?: Eip1193Like;
}

function checkTimeout(value: unknown, name: string): number {
  if (typeof value !== 'number' || !(value > 0) || value > MAX_TIMEOUT_MS) {
    throw new TypeError(`${name} must be a number of milliseconds between 1 and ${MAX_TIMEOUT_MS}`);
  }
  return value;
}

/** The timeouts with their defaults filled in; throws a TypeError for one that is not a sensible number of ms. */
export function resolveTimeouts(options: { timeoutMs?: number; interactiveTimeoutMs?: number; readyTimeoutMs?: number }) {
  return {
    timeoutMs: checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs'),
    interactiveTimeoutMs: checkTimeout(options.interactiveTimeoutMs ?? DEFAULT_INTERACTIVE_TIMEOUT_MS, 'interactiveTimeoutMs'),
    readyTimeoutMs: checkTimeout(options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, 'readyTimeoutMs'),
  };
}

/**
 * `validate` for a schema picked at run time: its inferred result type cannot be computed for the
 * general `Schema` (the recursion is unbounded), and the caller knows the type anyway.
 */
const validateAny = validate as unknown as (schema: Schema, value: unknown, path: string) => unknown;

interface Call {
  method: string;
  params: unknown;
  timeoutMs: number;
  resolve: (result: unknown) => void;
  reject: (error: WalletRpcError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

type ReadyParams = NotificationParams<'wallet_ready'>;

/** Each client's registration of its `fundingProvider` when the wallet became ready (see `fundingRegistered`). */
const initialFunding = new WeakMap<WalletClient, Promise<void>>();

/**
 * Resolves once the client's `fundingProvider` (if any) has been registered with the wallet after
 * it became ready (or was found not needed: the site is not connected yet); rejects with the
 * registration's error. Resolves at once for a client without one. `connect()` waits for it.
 */
export function fundingRegistered(client: WalletClient): Promise<void> {
  return initialFunding.get(client) ?? Promise.resolve();
}

class Client implements WalletClient {
  readonly walletOrigin: string;
  readonly ready: Promise<ReadyParams>;

  readonly #settings: ClientSettings;
  readonly #connection: WalletConnection;
  readonly #emitter = new NotificationEmitter();
  readonly #funding: FundingBridge;
  /** Calls made before the wallet was ready, in order. */
  readonly #queue: Call[] = [];
  /** Calls sent and not yet answered, by request id. */
  readonly #pending = new Map<number, Call>();
  #state: ClientState = 'connecting';
  #nextId = 1;
  #warned = false;
  #readyTimer: ReturnType<typeof setTimeout> | undefined;
  #resolveReady!: (params: ReadyParams) => void;
  #rejectReady!: (error: WalletRpcError) => void;

  constructor(open: OpenConnection, settings: ClientSettings) {
    this.#settings = settings;
    // `const { request } = client` works too, as EIP-1193 wrappers sometimes assume.
    this.request = this.request.bind(this);
    this.walletOrigin = settings.walletOrigin;
    this.#funding = new FundingBridge(this, settings.fundingProvider);
    this.ready = new Promise<ReadyParams>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // A caller of createWalletClient may never look at `ready`; its rejection is not an unhandled one.
    this.ready.catch(() => {});
    this.#connection = open((data) => this.#receive(data));
    this.#readyTimer = setTimeout(() => {
      this.#readyTimer = undefined;
      const ms = settings.readyTimeoutMs;
      this.#close(
        disconnectedError(`The wallet at ${settings.walletOrigin} did not become ready within ${ms} ms`),
        (method) => disconnectedError(`${method}: the wallet at ${settings.walletOrigin} did not become ready within ${ms} ms`),
      );
    }, settings.readyTimeoutMs);
  }

  get state(): ClientState {
    return this.#state;
  }

  request<M extends MethodName>(args: RequestArguments<M>, options?: RequestOptions): Promise<ResultByMethod[M]> {
    const call = this.#request(args, options) as Promise<ResultByMethod[M]>;
    const method: unknown = (args as { method?: unknown } | null | undefined)?.method;
    if (method !== 'eth_requestAccounts' && method !== 'wallet_requestPermissions') return call;
    // Connected: the funding provider is registered before the caller goes on to fund anything.
    return call.then(async (result) => {
      const provider = this.#funding.provider;
      if (provider) await this.#funding.use(provider);
      return result;
    });
  }

  get fundingProvider(): Eip1193Like | undefined {
    return this.#funding.provider;
  }

  useFundingProvider(provider: Eip1193Like, options?: RequestOptions): Promise<FundingAccount> {
    return this.#funding.use(provider, options);
  }

  setFundingAccount(request: MethodParams<'wallet_useFundingProvider'>[0], options?: RequestOptions): Promise<MethodResult<'wallet_useFundingProvider'>> {
    return this.request({ method: 'wallet_useFundingProvider', params: [request] }, options);
  }

  sendTransactionResult(request: MethodParams<'wallet_transactionResult'>[0], options?: RequestOptions): Promise<MethodResult<'wallet_transactionResult'>> {
    return this.request({ method: 'wallet_transactionResult', params: [request] }, options);
  }

  requestAccounts(options?: RequestOptions): Promise<MethodResult<'eth_requestAccounts'>> {
    return this.request({ method: 'eth_requestAccounts' }, options);
  }

  accounts(options?: RequestOptions): Promise<MethodResult<'eth_accounts'>> {
    return this.request({ method: 'eth_accounts' }, options);
  }

  chainId(options?: RequestOptions): Promise<MethodResult<'eth_chainId'>> {
    return this.request({ method: 'eth_chainId' }, options);
  }

  getPermissions(options?: RequestOptions): Promise<MethodResult<'wallet_getPermissions'>> {
    return this.request({ method: 'wallet_getPermissions' }, options);
  }

  requestPermissions(request: MethodParams<'wallet_requestPermissions'>[0] = { eth_accounts: {} }, options?: RequestOptions): Promise<MethodResult<'wallet_requestPermissions'>> {
    return this.request({ method: 'wallet_requestPermissions', params: [request] }, options);
  }

  revokePermissions(request: MethodParams<'wallet_revokePermissions'>[0] = { eth_accounts: {} }, options?: RequestOptions): Promise<MethodResult<'wallet_revokePermissions'>> {
    return this.request({ method: 'wallet_revokePermissions', params: [request] }, options);
  }

  getInfo(options?: RequestOptions): Promise<MethodResult<'wallet_getInfo'>> {
    return this.request({ method: 'wallet_getInfo' }, options);
  }

  listChannels(options?: RequestOptions): Promise<MethodResult<'channel_list'>> {
    return this.request({ method: 'channel_list' }, options);
  }

  signRelayChallenge(request: MethodParams<'wallet_signRelayChallenge'>[0], options?: RequestOptions): Promise<MethodResult<'wallet_signRelayChallenge'>> {
    return this.request({ method: 'wallet_signRelayChallenge', params: [request] }, options);
  }

  requestBudget(request: MethodParams<'budget_request'>[0], options?: RequestOptions): Promise<MethodResult<'budget_request'>> {
    return this.request({ method: 'budget_request', params: [request] }, options);
  }

  getBudget(request: MethodParams<'budget_get'>[0], options?: RequestOptions): Promise<MethodResult<'budget_get'>> {
    return this.request({ method: 'budget_get', params: [request] }, options);
  }

  closeBudget(request: MethodParams<'budget_close'>[0], options?: RequestOptions): Promise<MethodResult<'budget_close'>> {
    return this.request({ method: 'budget_close', params: [request] }, options);
  }

  exitBudget(request: MethodParams<'budget_exit'>[0], options?: RequestOptions): Promise<MethodResult<'budget_exit'>> {
    return this.request({ method: 'budget_exit', params: [request] }, options);
  }

  getBudgetExit(request: MethodParams<'budget_getExit'>[0], options?: RequestOptions): Promise<MethodResult<'budget_getExit'>> {
    return this.request({ method: 'budget_getExit', params: [request] }, options);
  }

  createVirtualChannel(request: MethodParams<'virtual_create'>[0], options?: RequestOptions): Promise<MethodResult<'virtual_create'>> {
    return this.request({ method: 'virtual_create', params: [request] }, options);
  }

  pay(request: MethodParams<'virtual_pay'>[0], options?: RequestOptions): Promise<MethodResult<'virtual_pay'>> {
    return this.request({ method: 'virtual_pay', params: [request] }, options);
  }

  closeVirtualChannel(request: MethodParams<'virtual_close'>[0], options?: RequestOptions): Promise<MethodResult<'virtual_close'>> {
    return this.request({ method: 'virtual_close', params: [request] }, options);
  }

  getVirtualChannel(request: MethodParams<'virtual_get'>[0], options?: RequestOptions): Promise<MethodResult<'virtual_get'>> {
    return this.request({ method: 'virtual_get', params: [request] }, options);
  }

  listVirtualChannels(options?: RequestOptions): Promise<MethodResult<'virtual_list'>> {
    return this.request({ method: 'virtual_list' }, options);
  }

  /** Has the wallet connect to a message relay itself (see `connectRelay` for the page-carried alternative). */
  useRelay(request: MethodParams<'wallet_useRelay'>[0], options?: RequestOptions): Promise<MethodResult<'wallet_useRelay'>> {
    return this.request({ method: 'wallet_useRelay', params: [request] }, options);
  }

  getChannel(request: MethodParams<'channel_get'>[0], options?: RequestOptions): Promise<MethodResult<'channel_get'>> {
    return this.request({ method: 'channel_get', params: [request] }, options);
  }

  createChannel(request: MethodParams<'channel_create'>[0], options?: RequestOptions): Promise<MethodResult<'channel_create'>> {
    return this.request({ method: 'channel_create', params: [request] }, options);
  }

  joinChannel(request: MethodParams<'channel_join'>[0], options?: RequestOptions): Promise<MethodResult<'channel_join'>> {
    return this.request({ method: 'channel_join', params: [request] }, options);
  }

  updateChannel(request: MethodParams<'channel_update'>[0], options?: RequestOptions): Promise<MethodResult<'channel_update'>> {
    return this.request({ method: 'channel_update', params: [request] }, options);
  }

  closeChannel(request: MethodParams<'channel_close'>[0], options?: RequestOptions): Promise<MethodResult<'channel_close'>> {
    return this.request({ method: 'channel_close', params: [request] }, options);
  }

  challengeChannel(request: MethodParams<'channel_challenge'>[0], options?: RequestOptions): Promise<MethodResult<'channel_challenge'>> {
    return this.request({ method: 'channel_challenge', params: [request] }, options);
  }

  getChallenge(request: MethodParams<'channel_getChallenge'>[0], options?: RequestOptions): Promise<MethodResult<'channel_getChallenge'>> {
    return this.request({ method: 'channel_getChallenge', params: [request] }, options);
  }

  receiveMessage(request: MethodParams<'channel_receiveMessage'>[0], options?: RequestOptions): Promise<MethodResult<'channel_receiveMessage'>> {
    return this.request({ method: 'channel_receiveMessage', params: [request] }, options);
  }

  on<N extends NotificationName>(name: N, listener: NotificationListener<N>): () => void {
    return this.#emitter.on(name, listener);
  }

  off<N extends NotificationName>(name: N, listener: NotificationListener<N>): void {
    this.#emitter.off(name, listener);
  }

  destroy(): void {
    this.#close(disconnectedError('The wallet client was destroyed before the wallet was ready'), (method) =>
      disconnectedError(`${method}: the wallet client was destroyed`),
    );
  }

  #request(args: RequestArguments | undefined, options: RequestOptions | undefined): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const method: unknown = (args as { method?: unknown } | null | undefined)?.method;
      if (typeof method !== 'string' || method === '') {
        reject(new WalletRpcError(ErrorCode.invalidRequest, 'request: method must be a non-empty string'));
        return;
      }
      if (this.#state === 'closed') {
        reject(disconnectedError(`${method}: the wallet client is closed (destroyed, or the wallet was not ready in time)`));
        return;
      }
      let timeoutMs: number;
      try {
        const fallback = isInteractive(method) ? this.#settings.interactiveTimeoutMs : this.#settings.timeoutMs;
        timeoutMs = checkTimeout(options?.timeoutMs ?? fallback, 'timeoutMs');
      } catch (error) {
        reject(error);
        return;
      }
      const params = args?.params === undefined ? defaultParams(method) : args.params;
      const call: Call = { method, params, timeoutMs, resolve, reject };
      if (this.#state === 'ready') this.#send(call);
      else this.#queue.push(call);
    });
  }

  #send(call: Call): void {
    const id = this.#nextId++;
    const message: RpcRequest = { jsonrpc: JSONRPC_VERSION, id, method: call.method, params: call.params };
    this.#pending.set(id, call);
    call.timer = setTimeout(() => {
      this.#pending.delete(id);
      call.reject(timeoutError(call.method, call.timeoutMs));
    }, call.timeoutMs);
    try {
      this.#connection.post(message);
    } catch (error) {
      clearTimeout(call.timer);
      this.#pending.delete(id);
      call.reject(
        error instanceof WalletRpcError
          ? error
          : new WalletRpcError(ErrorCode.invalidParams, `${call.method}: the params could not be sent (${(error as Error | undefined)?.name ?? 'error'})`),
      );
    }
  }

  #receive(data: unknown): void {
    if (this.#state === 'closed') return;
    const message = parseInbound(data);
    if (!message) return;
    if (message.kind === 'notification') {
      this.#notify(message.method, message.params);
      return;
    }
    if (typeof message.id !== 'number') return;
    const call = this.#pending.get(message.id);
    if (!call) return;
    this.#pending.delete(message.id);
    clearTimeout(call.timer);
    if (message.kind === 'error') {
      call.reject(fromRpcError(message.error));
      return;
    }
    if (!isKnownMethod(call.method)) {
      // Not in the schema (a JS caller): nothing to check it against.
      call.resolve(message.result);
      return;
    }
    try {
      call.resolve(validateAny(methods[call.method].result, message.result, 'result'));
    } catch (error) {
      if (!(error instanceof SchemaError)) throw error;
      call.reject(
        new WalletRpcError(ErrorCode.internalError, `${call.method} returned a malformed result (${error.message})`, { field: error.field }),
      );
    }
  }

  #notify(method: string, raw: unknown): void {
    if (!Object.hasOwn(notifications, method)) return; // a newer wallet's notification
    const name = method as NotificationName;
    let params: NotificationParams<NotificationName>;
    try {
      params = validateAny(notifications[name], raw, 'params') as NotificationParams<NotificationName>;
    } catch (error) {
      if (!(error instanceof SchemaError)) throw error;
      if (!this.#warned) {
        this.#warned = true;
        console.warn(`[channel-wallet] ignored a malformed ${name} notification from the wallet`);
      }
      return;
    }

    if (name === 'wallet_ready' && this.#state === 'connecting') {
      this.#state = 'ready';
      clearTimeout(this.#readyTimer);
      this.#readyTimer = undefined;
      this.#resolveReady(params as ReadyParams);
      for (const call of this.#queue.splice(0)) this.#send(call);
      this.#registerFundingProvider();
    } else if (name === 'wallet_uiRequest') {
      this.#connection.setVisible((params as NotificationParams<'wallet_uiRequest'>).visible);
    } else if (name === 'wallet_transactionRequest') {
      this.#funding.onRequest(params as NotificationParams<'wallet_transactionRequest'>);
    }
    this.#emitter.emit(name, params);
  }

  /** On ready: if the site is connected already (a reload), tells the wallet again about the funding provider. */
  #registerFundingProvider(): void {
    const provider = this.#funding.provider;
    if (!provider) return;
    const registration = (async () => {
      const accounts = await this.accounts();
      if (accounts.length > 0 && this.#funding.provider === provider) await this.#funding.use(provider);
    })();
    registration.catch((e: unknown) => {
      if (this.#state === 'closed') return;
      console.warn(`[channel-wallet] the funding provider could not be registered with the wallet (${e instanceof WalletRpcError ? `${e.code}: ${e.message}` : 'error'})`);
    });
    initialFunding.set(this, registration);
  }

  #close(readyError: WalletRpcError, callError: (method: string) => WalletRpcError): void {
    if (this.#state === 'closed') return;
    const wasReady = this.#state === 'ready';
    this.#state = 'closed';
    clearTimeout(this.#readyTimer);
    this.#readyTimer = undefined;
    try {
      this.#connection.close();
    } finally {
      const calls = [...this.#pending.values(), ...this.#queue.splice(0)];
      this.#pending.clear();
      for (const call of calls) {
        clearTimeout(call.timer);
        call.reject(callError(call.method));
      }
      if (!wasReady) this.#rejectReady(readyError);
      this.#emitter.clear();
    }
  }
}

/** A client over any connection to the wallet; `createWalletClient` gives it the iframe. */
export function createClient(open: OpenConnection, settings: ClientSettings): WalletClient {
  return new Client(open, settings);
}
