/**
 * The funding account as a browser extension on the dapp page: an ethers Signer whose address is
 * the extension's account and whose transactions are sent by the page's EIP-1193 provider,
 * reached through the sdk (`TransactionBridge`). It only sends: the extension fills in gas, fees
 * and nonce and asks its user as usual. Signing anything here is not possible (the key is in
 * the extension), so `signTransaction` / `signMessage` / `signTypedData` throw.
 *
 * Given to `createEthersChainService` as its `signer` (with the wallet's own RPC as `provider`,
 * for reads and receipts): the chain service checks balances and estimates gas for this address
 * first, then waits for the receipt of the hash this returns.
 */
import { AbstractSigner, Interface, type Provider, type TransactionRequest, type TransactionResponse, getAddress, hexlify, toQuantity } from 'ethers';
import type { Address, Hex } from '../../../core/src/index.ts';
import { ADJUDICATOR_ABI, ERC20_ABI } from '../../../engine/src/chain/abi.ts';
import { ChainError, toChainError } from '../../../engine/src/chain/errors.ts';
import { type BridgedTransaction, ProviderRequestError, TransactionRequestTimeout } from './transaction-bridge.ts';

/** What the signer needs of the bridge (`TransactionBridge` is one). */
export interface TransactionSender {
  request(tx: BridgedTransaction): Promise<Hex>;
}

export interface BridgeSignerOptions {
  /** How long to wait for the node to know a transaction the page says it sent. Default 60 s. */
  lookupTimeoutMs?: number;
  /** Polling interval of that wait. Default 250 ms. */
  lookupIntervalMs?: number;
}

const EXTENSION = 'the browser wallet';
const adjudicatorIface = new Interface(ADJUDICATOR_ABI);
const erc20Iface = new Interface(ERC20_ABI);
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a transaction does, for messages: "Deposit", "Concluding the channel", … */
export function describeTransaction(data: string): string {
  const call = adjudicatorIface.parseTransaction({ data }) ?? erc20Iface.parseTransaction({ data });
  switch (call?.name) {
    case 'deposit':
      return 'Deposit';
    case 'concludeAndTransferAllAssets':
      return 'Concluding the channel';
    case 'approve':
      return 'Approving the token for the deposit';
    default:
      return 'The transaction';
  }
}

function safeDescribe(data: string): string {
  try {
    return describeTransaction(data);
  } catch {
    return 'The transaction';
  }
}

/**
 * The page's answer as a ChainError: 4001 (the user rejected it) is `rejected-by-user` (mapped by
 * the chain boundary's `toChainError`), a provider on another chain `wrong-chain`, no answer in
 * time `timeout`, anything else a ChainError whose message quotes the extension.
 */
export function bridgeError(e: unknown, action: string): unknown {
  if (e instanceof TransactionRequestTimeout) {
    return new ChainError('timeout', `${action} was not sent: ${e.message} (is the browser wallet registered on the page, and did its user decide?). Nothing was sent by this wallet.`, { cause: e });
  }
  if (!(e instanceof ProviderRequestError)) return e;
  const mapped = toChainError(e, { action, rpc: EXTENSION });
  if (mapped instanceof ChainError) return mapped;
  if (e.code === 4901 || e.code === 4902) return new ChainError('wrong-chain', `${action} failed: ${e.message}`, { cause: e });
  if (/insufficient funds/i.test(e.message)) return new ChainError('insufficient-funds', `${action} failed in the browser wallet: ${e.message}`, { cause: e });
  return new ChainError('unreachable', `${action} failed in the browser wallet (error ${e.code}: ${e.message})`, { cause: e });
}

export class BridgeSigner extends AbstractSigner<Provider> {
  readonly address: Address;

  constructor(
    address: string,
    private readonly sender: TransactionSender,
    provider: Provider,
    private readonly opts: BridgeSignerOptions = {},
  ) {
    super(provider);
    this.address = getAddress(address).toLowerCase() as Address;
  }

  override async getAddress(): Promise<string> {
    return this.address;
  }

  override connect(provider: Provider | null): BridgeSigner {
    if (!provider) throw new Error('BridgeSigner: a provider is needed (to find the sent transactions)');
    return new BridgeSigner(this.address, this.sender, provider, this.opts);
  }

  /** Sends `tx` (to, data, value) from the extension account through the page; the extension picks gas and fees. */
  override async sendTransaction(request: TransactionRequest): Promise<TransactionResponse> {
    // populateCall resolves `to` and checks that `from`, when given, is this account.
    const pop = await this.populateCall(request);
    if (typeof pop.to !== 'string') throw new Error('BridgeSigner: contract creation is not supported');
    const { chainId } = await this.provider.getNetwork();
    const tx: BridgedTransaction = {
      to: pop.to.toLowerCase() as Address,
      data: (pop.data == null ? '0x' : hexlify(pop.data).toLowerCase()) as Hex,
      value: toQuantity(pop.value ?? 0n) as Hex,
      chainId: toQuantity(chainId) as Hex,
      from: this.address,
    };
    const action = safeDescribe(tx.data);
    let hash: Hex;
    try {
      hash = await this.sender.request(tx);
    } catch (e) {
      throw bridgeError(e, action);
    }
    const sent = await this.#lookup(hash, action);
    // The page chose the answer: make sure it is the transaction asked for.
    const same = sent.from.toLowerCase() === tx.from && sent.to?.toLowerCase() === tx.to && sent.data.toLowerCase() === tx.data && sent.value === BigInt(tx.value);
    if (!same) throw new Error(`${action}: the page answered with transaction ${hash}, which is not the one requested (different from, to, data or value)`);
    return sent;
  }

  /** The node's view of `hash`, polled briefly: the extension may send through another node. */
  async #lookup(hash: Hex, action: string): Promise<TransactionResponse> {
    const deadline = Date.now() + (this.opts.lookupTimeoutMs ?? 60_000);
    for (;;) {
      let sent: TransactionResponse | null;
      try {
        sent = await this.provider.getTransaction(hash);
      } catch (e) {
        throw toChainError(e, { action, rpc: 'the chain RPC' });
      }
      if (sent) return sent;
      if (Date.now() > deadline) {
        throw new ChainError('timeout', `${action}: the browser wallet sent transaction ${hash}, but the chain RPC does not know it. It may still be mined later.`, { txHash: hash });
      }
      await delay(this.opts.lookupIntervalMs ?? 250);
    }
  }

  override signTransaction(): Promise<string> {
    return Promise.reject(new Error('BridgeSigner cannot sign transactions: the browser wallet signs and sends them itself'));
  }

  override signMessage(): Promise<string> {
    return Promise.reject(new Error('BridgeSigner cannot sign messages'));
  }

  override signTypedData(): Promise<string> {
    return Promise.reject(new Error('BridgeSigner cannot sign typed data'));
  }
}
