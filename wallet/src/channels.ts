import { type Address, type Bytes32, toChecksumAddress } from '../../core/src/index.ts';
import type { MethodResult } from '../../sdk-client/src/schema.ts';
import type { ChannelSummary } from '../../engine/src/engine.ts';

/** What the RPC handlers need from the engine (an interface, so tests can use a fake). */
export interface ChannelApi {
  list(): Promise<ChannelSummary[]>;
  get(channelId: Bytes32): Promise<ChannelSummary | undefined>;
  create(args: { counterparty: Address; asset: Address; amount: bigint; counterpartyAmount: bigint; challengeDuration: number }): Promise<ChannelSummary>;
  join(channelId: Bytes32): Promise<ChannelSummary>;
  reject(channelId: Bytes32, reason: string): Promise<void>;
  update(channelId: Bytes32, balances: bigint[], appData?: `0x${string}`): Promise<ChannelSummary>;
  close(channelId: Bytes32): Promise<ChannelSummary>;
}

export type ChannelSummaryWire = MethodResult<'channel_get'>;

export function toWire(s: ChannelSummary): ChannelSummaryWire {
  return {
    channelId: s.channelId,
    participants: s.participants,
    appDefinition: s.appDefinition,
    turnNum: s.turnNum,
    status: s.status,
    asset: s.asset,
    balances: s.balances.map((b) => `0x${b.toString(16)}` as const),
    challengeDuration: s.challengeDuration,
  };
}

const ETH = '0x0000000000000000000000000000000000000000';

/** A human form of an amount: ETH in ether, tokens in whole units (18 decimals assumed for display), with the exact integer. */
export function formatAmount(amount: bigint, asset: Address, tokenSymbol = 'tokens'): string {
  const whole = amount / 10n ** 18n;
  const frac = (amount % 10n ** 18n).toString().padStart(18, '0').replace(/0+$/, '');
  const unit = asset === ETH ? 'ETH' : tokenSymbol;
  return `${whole}${frac ? `.${frac}` : ''} ${unit}`;
}

/** How the dialogs name an asset: ETH, or the token's symbol and its address. */
export function assetLabel(asset: Address, tokenSymbol = 'Token'): string {
  return asset === ETH ? 'ETH' : `${tokenSymbol} ${toChecksumAddress(asset)}`;
}
