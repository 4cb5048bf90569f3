/**
 * Every failure of the chain boundary that a user or a dapp should hear about is a ChainError
 * with a code to branch on and a message to show. Programming errors (a malformed argument)
 * are not wrapped: they surface as they are.
 */
import type { Address } from '../../../core/src/index.ts';
import type { ChainFailure } from '../../../core/src/objectives/effects.ts';
/**
 * `dropped`: a transaction that was mined left the chain in a reorganisation and is no longer
 * known to the node (neither mined nor pending): nothing it did stands, and it can be planned again.
 */
export type ChainErrorCode = 'insufficient-funds' | 'reverted' | 'unreachable' | 'wrong-chain' | 'rejected-by-user' | 'timeout' | 'dropped';

export interface Shortfall {
  account: Address;
  /** The zero address for ETH. */
  asset: Address;
  balance: bigint;
  amount: bigint;
  gas?: bigint;
}

export class ChainError extends Error {
  override readonly name = 'ChainError';
  /** For `reverted`: the contract's revert reason (e.g. `held != expectedHeld`), when known. */
  readonly reason?: string;
  /**
   * The transaction concerned, when one was sent: for `timeout` (it may still be mined later) and
   * for a revert on chain.
   */
  readonly txHash?: string;
  /**
   * For `insufficient-funds` found by the balance check before sending: the funding account, what
   * it holds of `asset` and what it needed (`amount`, plus up to `gas` wei of ETH when estimated).
   */
  readonly shortfall?: Shortfall;
  constructor(
    readonly code: ChainErrorCode,
    message: string,
    opts: { reason?: string; txHash?: string; shortfall?: Shortfall; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    if (opts.reason !== undefined) this.reason = opts.reason;
    if (opts.txHash !== undefined) this.txHash = opts.txHash;
    if (opts.shortfall !== undefined) this.shortfall = opts.shortfall;
  }
}

export function isChainError(e: unknown, code?: ChainErrorCode): e is ChainError {
  return e instanceof ChainError && (code === undefined || e.code === code);
}

/** Where a failure happened, for the message: "Deposit", "Concluding channel 0x…", "Reading holdings". */
export interface ErrorContext {
  /** What was being done, capitalised: the message starts with it. */
  action: string;
  /** Label of the RPC endpoint for `unreachable` messages (its URL when known). */
  rpc: string;
}

interface EthersishError {
  code?: unknown;
  reason?: unknown;
  shortMessage?: unknown;
  message?: unknown;
  revert?: { name?: unknown; args?: unknown } | null;
  info?: { error?: { code?: unknown; message?: unknown } } | null;
  error?: { code?: unknown; message?: unknown } | null;
  cause?: unknown;
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  // ethers: a request timeout, an HTTP error status or unparsable body, a dropped connection
  'TIMEOUT',
  'SERVER_ERROR',
  'NETWORK_ERROR',
]);

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function isUserRejection(e: EthersishError): boolean {
  return e.code === 'ACTION_REJECTED' || e.code === 4001 || e.info?.error?.code === 4001 || e.error?.code === 4001;
}

function isNetworkChanged(e: EthersishError): boolean {
  return e.code === 'NETWORK_ERROR' && /network changed/i.test(String(e.message ?? ''));
}

function unreachableDetail(e: unknown, depth = 0): string | undefined {
  if (typeof e !== 'object' || e === null || depth > 4) return undefined;
  const err = e as EthersishError;
  if (typeof err.code === 'string' && UNREACHABLE_CODES.has(err.code)) return str(err.shortMessage) ?? str(err.message) ?? err.code;
  // Browsers: fetch() rejects with a bare TypeError ("Failed to fetch", "NetworkError when attempting to fetch resource", "Load failed").
  if (e instanceof TypeError && /fetch|network|load failed/i.test(e.message)) return e.message;
  return unreachableDetail(err.cause, depth + 1);
}

/** The revert reason of an ethers CALL_EXCEPTION: the Error(string) text, a custom error's name, or ethers' summary. */
export function revertReason(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const err = e as EthersishError;
  if (err.code !== 'CALL_EXCEPTION') return undefined;
  return str(err.reason) ?? str(err.revert?.name) ?? str(err.shortMessage);
}

/**
 * Maps an ethers / EIP-1193 / network failure to a ChainError. Returns the error unchanged when
 * it is already a ChainError or is none of the known kinds (the caller rethrows it as it is).
 */
export function toChainError(e: unknown, ctx: ErrorContext): unknown {
  if (e instanceof ChainError) return e;
  if (typeof e !== 'object' || e === null) return e;
  const err = e as EthersishError;
  if (isUserRejection(err)) return new ChainError('rejected-by-user', `${ctx.action} was rejected in the browser wallet.`, { cause: e });
  if (isNetworkChanged(err)) {
    return new ChainError('wrong-chain', `${ctx.action} failed: the browser wallet switched to another network. Switch it back to continue.`, { cause: e });
  }
  if (err.code === 'CALL_EXCEPTION') {
    const reason = revertReason(e);
    return new ChainError('reverted', `${ctx.action} reverted${reason ? `: ${reason}` : ''}`, { cause: e, ...(reason !== undefined && { reason }) });
  }
  if (err.code === 'INSUFFICIENT_FUNDS') {
    return new ChainError('insufficient-funds', `${ctx.action} failed: the funding account does not have enough ETH for the amount and the gas.`, { cause: e });
  }
  const detail = unreachableDetail(e);
  if (detail !== undefined) return new ChainError('unreachable', `The chain RPC at ${ctx.rpc} is unreachable (${detail}).`, { cause: e });
  return e;
}

/**
 * The fields of a ChainError an objective passes on to the user's notice when its deposit or
 * conclusion fails (`extra`: the deposit's asset, amount and the holdings before it).
 */
export function chainFailureOf(e: ChainError, operation: ChainFailure['operation'], extra: Pick<ChainFailure, 'asset' | 'amount' | 'held'> = {}): ChainFailure {
  return {
    operation,
    code: e.code,
    ...extra,
    ...(e.reason !== undefined && { reason: e.reason }),
    ...(e.txHash !== undefined && { txHash: e.txHash }),
    ...(e.shortfall !== undefined && { shortfall: { ...e.shortfall } }),
  };
}
