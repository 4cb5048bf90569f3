/**
 * The funding-provider bridge: the wallet iframe cannot reach the page's EIP-1193 provider (a
 * browser extension such as `window.ethereum`: it lives in another origin's window), so the sdk
 * carries its transactions. The wallet sends `wallet_transactionRequest`; the bridge asks the
 * provider to send the transaction (`eth_sendTransaction`: the extension asks its user as usual)
 * and answers `wallet_transactionResult` with the hash or the provider's error. The dapp sees
 * transactions, never a key.
 */
import { WalletRpcError } from './errors.ts';
import { ErrorCode, type NotificationParams } from './schema.ts';
import type { HexString } from './schema-types.ts';
import type { Eip1193Like, FundingAccount, ParamsByMethod, RequestOptions, ResultByMethod } from './types.ts';

/** What the bridge needs from the wallet client. */
export interface FundingWallet {
  setFundingAccount(request: ParamsByMethod['wallet_useFundingProvider'][0], options?: RequestOptions): Promise<ResultByMethod['wallet_useFundingProvider']>;
  sendTransactionResult(request: ParamsByMethod['wallet_transactionResult'][0]): Promise<ResultByMethod['wallet_transactionResult']>;
}

type TransactionRequest = NotificationParams<'wallet_transactionRequest'>;
type TransactionResult = ParamsByMethod['wallet_transactionResult'][0];

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
/** Answers remembered by request id, so a request the wallet repeats is answered again, not sent twice. */
const ANSWERED_LIMIT = 1_000;
const MAX_ERROR_MESSAGE = 512;

/** Throws a TypeError unless `provider` looks like an EIP-1193 provider. */
export function assertEip1193(provider: unknown, name = 'fundingProvider'): asserts provider is Eip1193Like {
  if (typeof provider !== 'object' || provider === null || typeof (provider as { request?: unknown }).request !== 'function') {
    throw new TypeError(`${name} must be an EIP-1193 provider (an object with a request({ method, params }) function)`);
  }
}

/** The code and message of whatever a provider threw, in the shape EIP-1193 prescribes. */
export function providerErrorOf(e: unknown): { code: number; message: string } {
  const err = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
  // ethers wraps a rejection as code 'ACTION_REJECTED'; anything else without a numeric code is internal.
  const code = typeof err.code === 'number' && Number.isInteger(err.code) ? err.code : err.code === 'ACTION_REJECTED' ? ErrorCode.userRejected : ErrorCode.internalError;
  const message = typeof err.message === 'string' && err.message !== '' ? err.message : typeof e === 'string' && e !== '' ? e : 'the funding provider failed';
  return { code, message: message.slice(0, MAX_ERROR_MESSAGE) };
}

/** A canonical hex quantity (`0x7a69`) from what a provider reports as a chain id. */
function quantity(value: unknown): HexString | undefined {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint') return undefined;
  try {
    const n = BigInt(value);
    return n < 0n ? undefined : `0x${n.toString(16)}`;
  } catch {
    return undefined;
  }
}

async function ask(provider: Eip1193Like, method: string): Promise<unknown> {
  try {
    return await provider.request({ method, params: [] });
  } catch (e) {
    const { code, message } = providerErrorOf(e);
    throw new WalletRpcError(code, `The funding provider refused ${method}: ${message}`);
  }
}

export class FundingBridge {
  #provider: Eip1193Like | undefined;
  #queue: Promise<void> = Promise.resolve();
  readonly #answered = new Map<string, TransactionResult>();
  #warned = false;

  constructor(
    private readonly wallet: FundingWallet,
    provider?: Eip1193Like,
  ) {
    this.#provider = provider;
  }

  get provider(): Eip1193Like | undefined {
    return this.#provider;
  }

  /** Registers `provider` with the wallet as its funding account (see `WalletClient.useFundingProvider`). */
  async use(provider: Eip1193Like, options?: RequestOptions): Promise<FundingAccount> {
    assertEip1193(provider, 'provider');
    const accounts = await ask(provider, 'eth_requestAccounts');
    const first: unknown = Array.isArray(accounts) ? accounts[0] : undefined;
    if (typeof first !== 'string' || !ADDRESS.test(first)) {
      throw new WalletRpcError(ErrorCode.internalError, 'The funding provider gave no account for eth_requestAccounts');
    }
    const reported = await ask(provider, 'eth_chainId');
    const chainId = quantity(reported);
    if (chainId === undefined) throw new WalletRpcError(ErrorCode.internalError, 'The funding provider reported an invalid chain id');
    const account: FundingAccount = { address: first.toLowerCase() as HexString, chainId };
    // Answer with this provider from now on: the wallet repeats its unanswered requests as soon as
    // it takes the registration, and those must find the new provider.
    const previous = this.#provider;
    this.#provider = provider;
    try {
      await this.wallet.setFundingAccount(account, options);
    } catch (e) {
      if (this.#provider === provider) this.#provider = previous;
      throw e;
    }
    return account;
  }

  /** Takes a `wallet_transactionRequest`: handled after the ones before it. */
  onRequest(request: TransactionRequest): void {
    this.#queue = this.#queue.then(() => this.#handle(request));
  }

  /** Resolves when every request taken so far has been answered (or left for a later provider). */
  idle(): Promise<void> {
    return this.#queue;
  }

  async #handle({ requestId, tx }: TransactionRequest): Promise<void> {
    const provider = this.#provider;
    // No provider here yet: leave the request; the wallet repeats it when one is registered.
    if (!provider) return;
    let result = this.#answered.get(requestId);
    if (!result) {
      result = await this.#send(provider, requestId, tx);
      this.#answered.set(requestId, result);
      if (this.#answered.size > ANSWERED_LIMIT) this.#answered.delete(this.#answered.keys().next().value!);
    }
    try {
      await this.wallet.sendTransactionResult(result);
    } catch (e) {
      // The wallet went away (a reload) or no longer waits: it asks again if it still needs it.
      if (!this.#warned) {
        this.#warned = true;
        console.warn(`[channel-wallet] could not hand a transaction result to the wallet (${e instanceof WalletRpcError ? e.code : 'error'})`);
      }
    }
  }

  async #send(provider: Eip1193Like, requestId: string, tx: TransactionRequest['tx']): Promise<TransactionResult> {
    try {
      // As EIP-1193 asks before sending: connects the site to the extension if this page has not
      // yet (after a reload the wallet may ask before the registration is through), and shows
      // whether the funding account is still the extension's.
      const accounts = await provider.request({ method: 'eth_requestAccounts', params: [] });
      if (!Array.isArray(accounts) || !accounts.some((a) => typeof a === 'string' && a.toLowerCase() === tx.from)) {
        return { requestId, error: { code: 4100, message: `The browser wallet does not offer the funding account ${tx.from} (switched accounts?). Register the provider again.` } };
      }
      const chainId = quantity(await provider.request({ method: 'eth_chainId', params: [] }));
      if (chainId !== tx.chainId) {
        const on = chainId === undefined ? 'an unknown chain' : `chain ${BigInt(chainId)}`;
        return { requestId, error: { code: 4901, message: `The browser wallet is on ${on}, but the transaction is for chain ${BigInt(tx.chainId)}. Switch it to chain ${BigInt(tx.chainId)}.` } };
      }
      const hash = await provider.request({ method: 'eth_sendTransaction', params: [{ from: tx.from, to: tx.to, data: tx.data, value: tx.value, chainId: tx.chainId }] });
      if (typeof hash !== 'string' || !BYTES32.test(hash)) return { requestId, error: { code: ErrorCode.internalError, message: 'The browser wallet returned no transaction hash' } };
      return { requestId, hash: hash.toLowerCase() as HexString };
    } catch (e) {
      return { requestId, error: providerErrorOf(e) };
    }
  }
}
