/**
 * The chain service over ethers v6: the only code in the wallet and the hub that sends
 * transactions or reads the chain. Reads (holdings, balances, gas estimates, receipts, logs) go
 * to `provider`; transactions are signed and sent by `signer`, the funding account — either the
 * wallet's own key (`new Wallet(hex, provider)`, see `signerFromPrivateKey`) or a browser
 * extension (`signerFromEip1193`). Both are ethers Signers, so the code below is the same.
 *
 * The service logs nothing and never exposes the signer (nor, through it, a key).
 */
import {
  FetchRequest,
  Interface,
  JsonRpcApiProvider,
  JsonRpcProvider,
  JsonRpcSigner,
  Wallet,
  formatEther,
  type Provider,
  type Signer,
  type TransactionReceipt,
} from 'ethers';
import {
  type Address,
  type Bytes32,
  type Hex,
  type PrivateKey,
  type Signature,
  type SignedState,
  ZERO_ADDRESS,
  bytesToHex,
  channelId as channelIdOf,
  encodeOutcome,
  fixedPartArg,
  outcomeArg,
  signedVariablePartArg,
  unpackStatus,
} from '../../../core/src/index.ts';
import { ADJUDICATOR_ABI, ERC20_ABI } from './abi.ts';
import { ChainError, type ErrorContext, revertReason, toChainError } from './errors.ts';
import { EventPoller, decodeAdjudicatorLog } from './event-poller.ts';
import type { ChainEvent, ChainService, OnChainStatus, ReclaimArgs, TxReceiptInfo, WatchOptions } from './types.ts';

export interface EthersChainServiceOptions {
  /** For reads. Build it with `createJsonRpcProvider` (no read cache, fixed chain id). */
  provider: Provider;
  /** The funding account; must be connected to a provider (for a Wallet, normally `provider`). */
  signer: Signer;
  addresses: {
    adjudicator: string;
    /** The test/default token: when set, `fundingAccount()` also reports its balance. */
    token?: string;
  };
  /**
   * 1 = mined. Reads happen at `latest - (confirmations - 1)`, transactions resolve and events are
   * delivered once their block is that deep.
   */
  confirmations?: number;
  pollIntervalMs?: number;
  /** How long a sent transaction may take to be mined and confirmed before `timeout`. Default 5 min. */
  txTimeoutMs?: number;
  /** Default start of a watcher: this many blocks before the confirmed head (see WatchOptions). Default 8. */
  watchLookbackBlocks?: number;
  /** Most blocks per `eth_getLogs` call. Default 2000. */
  maxBlockRange?: number;
  /** Failures of the event poller (retried) and exceptions thrown by listeners. */
  onError?: (error: unknown) => void;
  /** After each poll of the event watcher: the head and the confirmed head it has processed. */
  onPoll?: (progress: { head: number; confirmedHead: number }) => void;
}

/** Gas an ERC20 deposit may take, for the balance check made before the approval (when it cannot be estimated yet). */
const ERC20_DEPOSIT_GAS_BOUND = 150_000n;
/** Estimates are raised by this much (percent) for the gas limit, in case state changes before inclusion. */
const GAS_MARGIN_PERCENT = 20n;

const adjudicatorIface = new Interface(ADJUDICATOR_ABI);
const erc20Iface = new Interface(ERC20_ABI);

/**
 * A JSON-RPC provider configured the way the chain service needs it: a fixed chain id (no
 * start-up network detection that would retry forever against a dead RPC), and no 250 ms read
 * cache (which returns stale balances and nonces between back-to-back transactions).
 */
export function createJsonRpcProvider(rpcUrl: string, chainId: number | bigint, opts: { requestTimeoutMs?: number; pollingIntervalMs?: number } = {}): JsonRpcProvider {
  const request = new FetchRequest(rpcUrl);
  request.timeout = opts.requestTimeoutMs ?? 30_000;
  return new JsonRpcProvider(request, Number(chainId), { staticNetwork: true, cacheTimeout: -1, pollingInterval: opts.pollingIntervalMs ?? 1_000 });
}

/** The wallet's own key as the funding account. The ethers Wallet holds the key: keep it inside the service. */
export function signerFromPrivateKey(key: PrivateKey, provider: Provider): Wallet {
  return new Wallet(bytesToHex(key.exportBytes()), provider);
}

function rpcLabel(provider: Provider): string {
  if (provider instanceof JsonRpcProvider) return provider._getConnection().url;
  return 'the configured chain RPC';
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const eth = (wei: bigint): string => `${formatEther(wei)} ETH`;
const duration = (ms: number): string => (ms < 1_000 ? `${ms} ms` : `${Math.round(ms / 1_000)} s`);
const lower = <T extends Hex>(s: string): T => s.toLowerCase() as T;

interface TxRequest {
  to: string;
  data: string;
  value: bigint;
}

export function createEthersChainService(opts: EthersChainServiceOptions): ChainService {
  const { provider, signer } = opts;
  const confirmations = opts.confirmations ?? 1;
  const pollIntervalMs = opts.pollIntervalMs ?? 250;
  const txTimeoutMs = opts.txTimeoutMs ?? 300_000;
  const adjudicator = lower<Address>(opts.addresses.adjudicator);
  const defaultToken = opts.addresses.token === undefined ? undefined : lower<Address>(opts.addresses.token);
  if (!Number.isSafeInteger(confirmations) || confirmations < 1) throw new RangeError('createEthersChainService: confirmations must be an integer ≥ 1');
  if (provider instanceof JsonRpcApiProvider && (provider._getOption('cacheTimeout') as number) >= 0) {
    throw new Error('createEthersChainService: the provider caches reads for 250 ms; build it with { cacheTimeout: -1 } (createJsonRpcProvider does)');
  }
  if (!signer.provider) throw new Error('createEthersChainService: the signer must be connected to a provider');
  const rpc = rpcLabel(provider);
  const ctx = (action: string): ErrorContext => ({ action, rpc });

  // ---- small helpers ------------------------------------------------------------------------

  let addressPromise: Promise<Address> | undefined;
  const account = (): Promise<Address> => {
    addressPromise ??= signer.getAddress().then(
      (a) => lower<Address>(a),
      (e: unknown) => {
        addressPromise = undefined;
        throw e;
      },
    );
    return addressPromise;
  };

  let chainIdPromise: Promise<bigint> | undefined;
  const chainId = (): Promise<bigint> => {
    chainIdPromise ??= provider.getNetwork().then(
      (n) => n.chainId,
      (e: unknown) => {
        chainIdPromise = undefined;
        throw e;
      },
    );
    return chainIdPromise;
  };

  /** The block reads are made at: `latest - (confirmations - 1)`. */
  const readTag = async (): Promise<number | 'latest'> => (confirmations === 1 ? 'latest' : Math.max(0, (await provider.getBlockNumber()) - (confirmations - 1)));

  const readHoldings = async (asset: Address, id: Bytes32, blockTag: number | 'latest'): Promise<bigint> => {
    const data = adjudicatorIface.encodeFunctionData('holdings', [asset, id]);
    const ret = await provider.call({ to: adjudicator, data, blockTag });
    return adjudicatorIface.decodeFunctionResult('holdings', ret)[0] as bigint;
  };

  const readErc20 = async (token: Address, fn: 'balanceOf' | 'allowance', args: unknown[], blockTag: number | 'latest' = 'latest'): Promise<bigint> => {
    const ret = await provider.call({ to: token, data: erc20Iface.encodeFunctionData(fn, args), blockTag });
    return erc20Iface.decodeFunctionResult(fn, ret)[0] as bigint;
  };

  const maxFeePerGas = async (): Promise<bigint> => {
    const fee = await provider.getFeeData();
    return fee.maxFeePerGas ?? fee.gasPrice ?? 0n;
  };

  /** Gas limit for `tx` from the funding account: the node's estimate plus a margin. Reverts surface here, before anything is sent. */
  const estimate = async (tx: TxRequest, action: string): Promise<bigint> => {
    const from = await account();
    try {
      const gas = await provider.estimateGas({ from, to: tx.to, data: tx.data, value: tx.value });
      return gas + (gas * GAS_MARGIN_PERCENT) / 100n;
    } catch (e) {
      throw toChainError(e, ctx(action));
    }
  };

  /** The signer's chain must be the provider's: a browser wallet may have switched networks. */
  const assertSignerChain = async (): Promise<void> => {
    const [expected, actual] = await Promise.all([chainId(), signer.provider!.getNetwork().then((n) => n.chainId)]);
    if (expected !== actual) {
      throw new ChainError('wrong-chain', `The funding account's wallet is on chain ${actual}, but the channels are on chain ${expected}. Switch it to chain ${expected} and try again.`);
    }
  };

  // Transactions from the funding account go one at a time (nonces, and balance checks that see earlier spending).
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const waitForReceipt = async (hash: string, deadline: number, action: string): Promise<TransactionReceipt> => {
    for (;;) {
      try {
        const receipt = await provider.getTransactionReceipt(hash);
        if (receipt) return receipt;
      } catch (e) {
        // The transaction is out: keep waiting through RPC hiccups until the deadline.
        const mapped = toChainError(e, ctx(action));
        if (!(mapped instanceof ChainError && mapped.code === 'unreachable') || Date.now() > deadline) throw mapped;
      }
      if (Date.now() > deadline) {
        throw new ChainError('timeout', `${action}: transaction ${hash} was not mined within ${duration(txTimeoutMs)}. It may still be mined later.`, { txHash: hash });
      }
      await delay(pollIntervalMs);
    }
  };

  /** Sends `tx` and waits until it is mined (one confirmation); a revert on chain is a `reverted` ChainError. */
  const sendAndMine = async (tx: TxRequest, gasLimit: bigint, action: string): Promise<{ receipt: TransactionReceipt; deadline: number }> => {
    await assertSignerChain();
    const from = await account();
    const request = { from, to: tx.to, data: tx.data, value: tx.value, gasLimit };
    // A JsonRpcSigner (browser extension) returns the hash as soon as the extension accepts the
    // transaction; its sendTransaction would poll for it through the extension first.
    const hash = signer instanceof JsonRpcSigner ? await signer.sendUncheckedTransaction(request) : (await signer.sendTransaction(request)).hash;
    const deadline = Date.now() + txTimeoutMs;
    const receipt = await waitForReceipt(hash, deadline, action);
    if (receipt.status !== 1) {
      // Re-run the call on the state after that block for the reason (best effort: it usually reproduces a race).
      let reason: string | undefined;
      try {
        await provider.call({ from, to: tx.to, data: tx.data, value: tx.value, blockTag: receipt.blockNumber });
      } catch (e) {
        reason = revertReason(e);
      }
      throw new ChainError('reverted', `${action} reverted on chain (transaction ${hash})${reason ? `: ${reason}` : ''}`, { txHash: hash, ...(reason !== undefined && { reason }) });
    }
    return { receipt, deadline };
  };

  /**
   * Waits for `confirmations` on a mined transaction, following it if a reorganisation moves it,
   * and through RPC hiccups (the transaction is out) until the deadline. One that a reorganisation
   * took out of the chain and that the node no longer knows (neither mined nor pending) is
   * `dropped`: nothing it did stands, so the caller may plan again from what the chain holds.
   */
  const confirm = async (mined: { receipt: TransactionReceipt; deadline: number }, action: string): Promise<TxReceiptInfo> => {
    let { receipt } = mined;
    while (confirmations > 1) {
      try {
        const head = await provider.getBlockNumber();
        if (head >= receipt.blockNumber + confirmations - 1) {
          const again = await provider.getTransactionReceipt(receipt.hash);
          if (again && again.blockHash === receipt.blockHash) break;
          if (!again && (await provider.getTransaction(receipt.hash)) === null) {
            throw new ChainError(
              'dropped',
              `${action}: transaction ${receipt.hash} was mined in block ${receipt.blockNumber}, then removed from the chain by a reorganisation, and is no longer pending. Nothing it did stands.`,
              { txHash: receipt.hash },
            );
          }
          // Moved to another block, or back in the node's pool: follow it.
          receipt = again ?? (await waitForReceipt(receipt.hash, mined.deadline, action));
          continue;
        }
      } catch (e) {
        const mapped = toChainError(e, ctx(action));
        if (!(mapped instanceof ChainError && mapped.code === 'unreachable') || Date.now() > mined.deadline) throw mapped;
      }
      if (Date.now() > mined.deadline) {
        throw new ChainError('timeout', `${action}: transaction ${receipt.hash} did not reach ${confirmations} confirmations within ${duration(txTimeoutMs)}.`, { txHash: receipt.hash });
      }
      await delay(pollIntervalMs);
    }
    if (receipt.status !== 1) throw new ChainError('reverted', `${action} reverted on chain (transaction ${receipt.hash})`, { txHash: receipt.hash });
    return { hash: lower<Hex>(receipt.hash), blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
  };

  const insufficientEth = (from: Address, balance: bigint, what: string, amount: bigint, gasCost: bigint | undefined): ChainError => {
    const needs = amount > 0n ? `${eth(amount)} plus ${gasCost === undefined ? 'gas' : `up to ${eth(gasCost)} for gas`}` : `up to ${eth(gasCost ?? 0n)} for gas`;
    const shortfall = { account: from, asset: ZERO_ADDRESS, balance, amount, ...(gasCost !== undefined && { gas: gasCost }) };
    return new ChainError('insufficient-funds', `The funding account ${from} has ${eth(balance)} but ${what} needs ${needs}.`, { shortfall });
  };

  const staleHeldMessage = (action: string, held: bigint | undefined, expectedHeld: bigint): string =>
    `${action} reverted: held != expectedHeld (the channel holds ${held === undefined ? 'a different amount' : held.toString()}, not ${expectedHeld}: ` +
    'someone deposited since the holdings were read, or this deposit was already made). Nothing was deposited.';

  const poller = new EventPoller({
    provider,
    adjudicator,
    confirmations,
    pollIntervalMs,
    lookbackBlocks: opts.watchLookbackBlocks ?? 8,
    maxBlockRange: opts.maxBlockRange ?? 2_000,
    onError: opts.onError,
    onPoll: opts.onPoll,
    classify: (e) => toChainError(e, ctx('Watching the adjudicator events')),
  });

  // ---- the service --------------------------------------------------------------------------

  const depositNow = async (asset: Address, id: Bytes32, expectedHeld: bigint, amount: bigint): Promise<{ receipt: TransactionReceipt; deadline: number }> => {
    const action = 'Deposit';
    const from = await account();
    const deposit: TxRequest = {
      to: adjudicator,
      data: adjudicatorIface.encodeFunctionData('deposit', [asset, id, expectedHeld, amount]),
      value: asset === ZERO_ADDRESS ? amount : 0n,
    };
    const withStaleHint = async (e: unknown): Promise<unknown> => {
      if (!(e instanceof ChainError && e.code === 'reverted' && e.reason === 'held != expectedHeld')) return e;
      const held = await readHoldings(asset, id, 'latest').catch(() => undefined);
      return new ChainError('reverted', staleHeldMessage(action, held, expectedHeld), { reason: e.reason, cause: e, ...(e.txHash !== undefined && { txHash: e.txHash }) });
    };

    if (asset === ZERO_ADDRESS) {
      const balance = await provider.getBalance(from);
      if (balance < amount) throw insufficientEth(from, balance, 'the deposit', amount, undefined);
      const gasLimit = await estimate(deposit, action).catch(async (e: unknown) => Promise.reject(await withStaleHint(e)));
      const gasCost = gasLimit * (await maxFeePerGas());
      if (balance < amount + gasCost) throw insufficientEth(from, balance, 'the deposit', amount, gasCost);
      return await sendAndMine(deposit, gasLimit, action).catch(async (e: unknown) => Promise.reject(await withStaleHint(e)));
    }

    const [tokenBalance, ethBalance, allowance, held] = await Promise.all([
      readErc20(asset, 'balanceOf', [from]),
      provider.getBalance(from),
      readErc20(asset, 'allowance', [from, adjudicator]),
      readHoldings(asset, id, 'latest'),
    ]);
    if (tokenBalance < amount) {
      throw new ChainError('insufficient-funds', `The funding account ${from} has ${tokenBalance} base units of token ${asset} but the deposit needs ${amount}.`, {
        shortfall: { account: from, asset, balance: tokenBalance, amount },
      });
    }
    const needsApproval = allowance < amount;
    const approve: TxRequest = { to: asset, data: erc20Iface.encodeFunctionData('approve', [adjudicator, amount]), value: 0n };
    let gasBound: bigint;
    let approveGas = 0n;
    if (needsApproval) {
      // The deposit cannot be estimated before the approval is mined: check its precondition here,
      // so that a stale expectedHeld sends nothing at all (not even the approval).
      if (held !== expectedHeld) throw new ChainError('reverted', staleHeldMessage(action, held, expectedHeld), { reason: 'held != expectedHeld' });
      approveGas = await estimate(approve, 'Approving the token for the deposit');
      gasBound = approveGas + ERC20_DEPOSIT_GAS_BOUND;
    } else {
      gasBound = await estimate(deposit, action).catch(async (e: unknown) => Promise.reject(await withStaleHint(e)));
    }
    const gasCost = gasBound * (await maxFeePerGas());
    if (ethBalance < gasCost) throw insufficientEth(from, ethBalance, needsApproval ? 'the approval and the deposit' : 'the deposit', 0n, gasCost);
    if (needsApproval) await sendAndMine(approve, approveGas, 'Approving the token for the deposit');
    const gasLimit = needsApproval ? await estimate(deposit, action).catch(async (e: unknown) => Promise.reject(await withStaleHint(e))) : gasBound;
    return await sendAndMine(deposit, gasLimit, action).catch(async (e: unknown) => Promise.reject(await withStaleHint(e)));
  };

  /**
   * Sends one adjudicator transaction from the funding account (no value): estimated first, so a
   * call the contract refuses sends nothing ('reverted' with its reason), and the ETH for its gas
   * checked ('insufficient-funds'). Resolves when confirmed.
   */
  const adjudicatorCall = async (data: string, action: string, what: string): Promise<TxReceiptInfo> => {
    const tx: TxRequest = { to: adjudicator, data, value: 0n };
    try {
      const mined = await exclusive(async () => {
        const from = await account();
        const balance = await provider.getBalance(from);
        const gasLimit = await estimate(tx, action);
        const gasCost = gasLimit * (await maxFeePerGas());
        if (balance < gasCost) throw insufficientEth(from, balance, what, 0n, gasCost);
        return await sendAndMine(tx, gasLimit, action);
      });
      return await confirm(mined, action);
    } catch (e) {
      throw toChainError(e, ctx(action));
    }
  };

  const service: ChainService = {
    async getHoldings(asset, id) {
      try {
        return await readHoldings(lower<Address>(asset), lower<Bytes32>(id), await readTag());
      } catch (e) {
        throw toChainError(e, ctx('Reading the channel holdings'));
      }
    },

    async deposit({ asset, channelId: id, expectedHeld, amount }) {
      if (amount <= 0n) throw new RangeError('deposit: amount must be positive');
      if (expectedHeld < 0n) throw new RangeError('deposit: expectedHeld must not be negative');
      try {
        const mined = await exclusive(() => depositNow(lower<Address>(asset), lower<Bytes32>(id), expectedHeld, amount));
        return await confirm(mined, 'Deposit');
      } catch (e) {
        throw toChainError(e, ctx('Deposit'));
      }
    },

    async concludeAndTransferAllAssets(signed: SignedState) {
      const action = `Concluding channel ${channelIdOf(signed.state)}`;
      const data = adjudicatorIface.encodeFunctionData('concludeAndTransferAllAssets', [fixedPartArg(signed.state), signedVariablePartArg(signed)]);
      return adjudicatorCall(data, action, 'concluding the channel');
    },

    async challenge({ candidate, proof = [], challengerSig }: { candidate: SignedState; proof?: SignedState[]; challengerSig: Signature }) {
      const action = `Challenging channel ${channelIdOf(candidate.state)}`;
      const data = adjudicatorIface.encodeFunctionData('challenge', [fixedPartArg(candidate.state), proof.map(signedVariablePartArg), signedVariablePartArg(candidate), challengerSig]);
      return adjudicatorCall(data, action, 'the challenge');
    },

    async checkpoint({ candidate, proof = [] }: { candidate: SignedState; proof?: SignedState[] }) {
      const action = `Checkpointing channel ${channelIdOf(candidate.state)}`;
      const data = adjudicatorIface.encodeFunctionData('checkpoint', [fixedPartArg(candidate.state), proof.map(signedVariablePartArg), signedVariablePartArg(candidate)]);
      return adjudicatorCall(data, action, 'the checkpoint');
    },

    async transferAllAssets({ channelId: id, outcome, stateHash }) {
      const action = `Withdrawing from channel ${id}`;
      const data = adjudicatorIface.encodeFunctionData('transferAllAssets', [id, outcomeArg(outcome), stateHash]);
      return adjudicatorCall(data, action, 'the withdrawal');
    },

    async reclaim(args: ReclaimArgs) {
      const action = `Reclaiming a guarantee in channel ${args.sourceChannelId}`;
      const data = adjudicatorIface.encodeFunctionData('reclaim', [
        {
          sourceChannelId: args.sourceChannelId,
          sourceStateHash: args.sourceStateHash,
          sourceOutcomeBytes: bytesToHex(encodeOutcome(args.sourceOutcome)),
          sourceAssetIndex: args.sourceAssetIndex,
          indexOfTargetInSource: args.indexOfTargetInSource,
          targetStateHash: args.targetStateHash,
          targetOutcomeBytes: bytesToHex(encodeOutcome(args.targetOutcome)),
          targetAssetIndex: args.targetAssetIndex,
        },
      ]);
      return adjudicatorCall(data, action, 'the reclaim');
    },

    async registeredChallenge(id) {
      try {
        const topic = adjudicatorIface.getEvent('ChallengeRegistered')!.topicHash;
        const logs = await provider.getLogs({ address: adjudicator, topics: [topic, lower<Bytes32>(id)], fromBlock: 0, toBlock: await readTag() });
        const last = logs.at(-1);
        const event = last && decodeAdjudicatorLog(last);
        return event?.type === 'ChallengeRegistered' ? event : undefined;
      } catch (e) {
        throw toChainError(e, ctx('Reading the channel’s registered challenge'));
      }
    },

    async statusOf(id): Promise<OnChainStatus> {
      try {
        // One block for both reads: the status and the time it is judged against.
        const tag = await readTag();
        const blockTag = tag === 'latest' ? await provider.getBlockNumber() : tag;
        const [ret, block] = await Promise.all([
          provider.call({ to: adjudicator, data: adjudicatorIface.encodeFunctionData('statusOf', [lower<Bytes32>(id)]), blockTag }),
          provider.getBlock(blockTag),
        ]);
        const word = adjudicatorIface.decodeFunctionResult('statusOf', ret)[0] as string;
        return { ...unpackStatus(lower<Bytes32>(word)), blockTimestamp: block?.timestamp ?? 0 };
      } catch (e) {
        throw toChainError(e, ctx('Reading the channel status'));
      }
    },

    watch(channelIds: () => Iterable<Bytes32>, listener: (event: ChainEvent) => void, watchOpts?: WatchOptions) {
      return poller.watch(channelIds, listener, watchOpts);
    },

    async fundingAccount() {
      try {
        const [address, blockTag] = await Promise.all([account(), readTag()]);
        const [ethBalance, tokenBalance] = await Promise.all([
          provider.getBalance(address, blockTag),
          defaultToken === undefined ? undefined : readErc20(defaultToken, 'balanceOf', [address], blockTag),
        ]);
        return tokenBalance === undefined ? { address, ethBalance } : { address, ethBalance, tokenBalance };
      } catch (e) {
        throw toChainError(e, ctx('Reading the funding account'));
      }
    },

    async tokenBalance(token, owner) {
      try {
        return await readErc20(lower<Address>(token), 'balanceOf', [owner], await readTag());
      } catch (e) {
        throw toChainError(e, ctx('Reading a token balance'));
      }
    },
  };
  return service;
}
