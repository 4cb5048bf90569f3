/**
 * Who pays for the wallet's chain transactions (deposits, conclusions): the wallet's own key
 * (the default; on local chains the dev faucet tops it up), or a browser extension on the dapp
 * page (an EIP-1193 provider), reached through the sdk (see transaction-bridge.ts). The choice
 * is kept in the store's `meta` table, so it holds across reloads. No ethers here: this module
 * is on the wallet's start-up path.
 */
import type { Address } from '../../../core/src/index.ts';
import type { WalletDatabase } from '../store/db.ts';

export type FundingChoice = { kind: 'own' } | { kind: 'eip1193'; address: Address; chainId: number };

/** The `meta` key the choice is stored under. */
export const FUNDING_ACCOUNT_KEY = 'funding-account';

const ADDRESS = /^0x[0-9a-f]{40}$/;

function parse(value: unknown): FundingChoice | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as { kind?: unknown; address?: unknown; chainId?: unknown };
  if (v.kind === 'own') return { kind: 'own' };
  if (v.kind === 'eip1193' && typeof v.address === 'string' && ADDRESS.test(v.address) && Number.isSafeInteger(v.chainId) && (v.chainId as number) > 0) {
    return { kind: 'eip1193', address: v.address as Address, chainId: v.chainId as number };
  }
  return undefined;
}

/** The funding account choice, read once at start-up and then kept in memory beside the store. */
export class FundingAccount {
  #current: FundingChoice = { kind: 'own' };

  constructor(private readonly db: WalletDatabase) {}

  /** Reads the stored choice (the wallet's own key when there is none, or it is unreadable). */
  async load(): Promise<FundingChoice> {
    const record = await this.db.meta.get(FUNDING_ACCOUNT_KEY);
    this.#current = parse(record?.value) ?? { kind: 'own' };
    return this.#current;
  }

  get current(): FundingChoice {
    return this.#current;
  }

  /** From now on (and after reloads) the extension account `address` on `chainId` pays. */
  async useEip1193(address: Address, chainId: number): Promise<void> {
    const choice: FundingChoice = { kind: 'eip1193', address: address.toLowerCase() as Address, chainId };
    await this.db.meta.put({ key: FUNDING_ACCOUNT_KEY, value: choice });
    this.#current = choice;
  }
}
