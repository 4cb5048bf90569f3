/**
 * The wallet's side of the funding-provider bridge. The wallet cannot reach the page's EIP-1193
 * provider (another origin's window), so it asks the page: a `wallet_transactionRequest`
 * notification with a fresh request id, answered by `wallet_transactionResult` (the hash, or
 * the provider's error). The sdk answers; a request nobody answers fails after `timeoutMs` (10
 * minutes by default: the extension's user may be slow). No ethers here: it is on the wallet's
 * start-up path (bridge-signer.ts is the ethers side).
 */
import type { Address, Hex } from '../../../core/src/index.ts';
import type { MethodParams, NotificationParams } from '../../../sdk-client/src/schema.ts';

export type TransactionRequestParams = NotificationParams<'wallet_transactionRequest'>;
export type TransactionResultParams = MethodParams<'wallet_transactionResult'>[0];

/** A transaction as the page's provider takes it (`eth_sendTransaction`; it picks gas and fees). */
export interface BridgedTransaction {
  to: Address;
  data: Hex;
  /** Hex quantities. */
  value: Hex;
  chainId: Hex;
  from: Address;
}

export const TRANSACTION_REQUEST_TIMEOUT_MS = 600_000;

/** The page's provider refused or failed (its EIP-1193 error: 4001 when its user rejected). */
export class ProviderRequestError extends Error {
  override readonly name = 'ProviderRequestError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Nobody answered the request in time (the page has no provider registered, or the user never decided). */
export class TransactionRequestTimeout extends Error {
  override readonly name = 'TransactionRequestTimeout';
}

interface Pending {
  params: TransactionRequestParams;
  resolve: (hash: Hex) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class TransactionBridge {
  readonly #pending = new Map<string, Pending>();

  constructor(
    private readonly notify: (params: TransactionRequestParams) => void,
    private readonly timeoutMs = TRANSACTION_REQUEST_TIMEOUT_MS,
  ) {}

  /** Asks the page to send `tx`; resolves with its hash, rejects with a ProviderRequestError or a TransactionRequestTimeout. */
  request(tx: BridgedTransaction): Promise<Hex> {
    const requestId = newRequestId();
    const params: TransactionRequestParams = { requestId, tx: { ...tx } };
    return new Promise<Hex>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new TransactionRequestTimeout(`the page did not answer the transaction request within ${Math.round(this.timeoutMs / 1000)} s`));
      }, this.timeoutMs);
      this.#pending.set(requestId, { params, resolve, reject, timer });
      this.notify(params);
    });
  }

  /** Settles the request `result` answers; false when no such request is waiting (answered, timed out, or from before a reload). */
  answer(result: TransactionResultParams): boolean {
    const pending = this.#pending.get(result.requestId);
    if (!pending) return false;
    this.#pending.delete(result.requestId);
    clearTimeout(pending.timer);
    if (result.hash !== undefined) pending.resolve(result.hash.toLowerCase() as Hex);
    else pending.reject(new ProviderRequestError(result.error?.code ?? -32603, result.error?.message ?? 'the funding provider failed'));
    return true;
  }

  /** Asks again for every request still waiting: a provider was just registered (the page may not have had one). */
  repeatPending(): void {
    for (const { params } of this.#pending.values()) this.notify(params);
  }

  get pendingCount(): number {
    return this.#pending.size;
  }
}
