/**
 * The notice the wallet shows when a channel's chain work fails: the deposit while funding, or
 * the conclusion that closes it. The engine reports the failure in fields (core `ChainFailure`,
 * from the chain boundary's ChainError); this module puts it in plain words — which channel,
 * what failed, why, where the money is and what the user can do — and shows it through the
 * shared Dialogs, so the host shows the iframe until the user dismisses it. Only public facts
 * appear: addresses, amounts, the chain's reason, the RPC's origin (never its path or query,
 * which may hold an API key).
 */
import { type Address, toChecksumAddress } from '../../../core/src/index.ts';
import type { ChainFailure } from '../../../core/src/objectives/effects.ts';
import type { ChannelSummary } from '../../../engine/src/engine.ts';
import { assetLabel, formatAmount } from '../channels.ts';
import { type Dialogs, el } from './connect-dialog.ts';

const ETH: Address = '0x0000000000000000000000000000000000000000';

/** What the dialog says, line by line. */
export interface ChainErrorNotice {
  title: string;
  counterparty: string;
  asset: string;
  /** What failed. */
  what: string;
  /** Why, in plain language. */
  reason: string;
  /** Where the money is. */
  funds: string;
  /** What the user can do. */
  action: string;
}

export interface ChainFailureFacts {
  failure: ChainFailure;
  /** The channel as it stands after the failure. */
  channel: ChannelSummary;
  /** This wallet's address (its participant in the channel). */
  me: Address;
  /** The chain's own message (the progress detail): said when the code is not a known one. */
  detail?: string;
  /** The wallet's chain: its RPC (named by origin for `unreachable`) and id (for `wrong-chain`). */
  rpcUrl: string;
  chainId: number;
  tokenSymbol?: string;
}

/** Codes after which we know nothing of ours moved on chain. */
const NOTHING_MOVED = new Set(['insufficient-funds', 'reverted', 'wrong-chain', 'rejected-by-user']);

/** Gas is shown rounded up to 6 decimals: "up to 0.000252 ETH". */
function gasAmount(wei: bigint): string {
  const unit = 10n ** 12n;
  return formatAmount(((wei + unit - 1n) / unit) * unit, ETH);
}

function rpcOrigin(rpcUrl: string): string {
  try {
    return new URL(rpcUrl).origin;
  } catch {
    return 'the configured chain RPC';
  }
}

const sentence = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);

/** The plain-language notice for a failed deposit or conclusion. */
export function describeChainFailure(facts: ChainFailureFacts): ChainErrorNotice {
  const { failure: f, channel: c, tokenSymbol } = facts;
  const asset = f.asset ?? c.asset;
  const amount = (n: bigint, of: Address = asset) => formatAmount(n, of, tokenSymbol);
  const me = facts.me.toLowerCase();
  const myIndex = c.participants.findIndex((p) => p.toLowerCase() === me);
  const others = c.participants.filter((_, i) => i !== myIndex);
  const deposit = f.operation === 'deposit';
  const mine = c.balances[myIndex] ?? 0n;
  const myDeposit = f.amount ?? mine;
  const nothingMoved = NOTHING_MOVED.has(f.code);

  let reason: string;
  switch (f.code) {
    case 'insufficient-funds': {
      const s = f.shortfall;
      const needing = deposit ? 'the deposit' : 'closing the channel';
      if (!s) {
        reason = `Your funding account does not have enough ETH for ${deposit ? `the deposit of ${amount(myDeposit)}` : 'closing the channel'} and its gas.`;
        break;
      }
      const has = `Your funding account (${toChecksumAddress(s.account)}) has ${formatAmount(s.balance, s.asset, tokenSymbol)}`;
      if (s.amount === 0n) {
        reason = `${has} but ${needing} needs ${s.gas === undefined ? 'ETH' : `up to ${gasAmount(s.gas)}`} for gas.`;
      } else {
        const gas = s.gas !== undefined ? ` plus up to ${gasAmount(s.gas)} for gas` : s.asset === ETH ? ' plus gas' : '';
        reason = `${has} but ${needing} needs ${formatAmount(s.amount, s.asset, tokenSymbol)}${gas}.`;
      }
      break;
    }
    case 'reverted':
      reason = f.reason ? sentence(`The transaction was reverted: ${f.reason}`) : 'The transaction was reverted by the chain, which gave no reason.';
      break;
    case 'unreachable':
      reason = `The chain at ${rpcOrigin(facts.rpcUrl)} is not reachable.`;
      break;
    case 'wrong-chain':
      reason = `Your browser wallet is on another network than this wallet's channels, which are on chain ${facts.chainId}.`;
      break;
    case 'rejected-by-user':
      reason = `${deposit ? 'The deposit' : 'The closing transaction'} was rejected in your browser wallet.`;
      break;
    case 'timeout':
      reason = `The transaction${f.txHash ? ` ${f.txHash}` : ''} was sent but not confirmed in time.`;
      break;
    default:
      reason = sentence(facts.detail ?? 'The chain refused the transaction');
  }

  let funds: string;
  let action: string;
  if (deposit) {
    const held = f.held ?? 0n;
    const theirs = held > 0n ? ` The adjudicator holds ${others.length === 1 ? "the counterparty's" : "the other participants'"} deposit of ${amount(held)}; closing the channel pays it back.` : '';
    if (nothingMoved) funds = held > 0n ? `Nothing of yours was deposited.${theirs}` : 'Nothing was deposited.';
    else if (f.code === 'timeout') funds = `Your deposit of ${amount(myDeposit)} may still go through. If it does, the adjudicator holds it and closing the channel pays it back.${theirs}`;
    else funds = `This wallet could not confirm whether your deposit of ${amount(myDeposit)} went through; most likely it did not. Closing the channel pays back whatever it holds.`;
    const fix =
      f.code === 'insufficient-funds'
        ? `add ${f.shortfall && f.shortfall.asset !== ETH && f.shortfall.amount > 0n ? (tokenSymbol ?? 'tokens') : 'ETH'} to your funding account and `
        : f.code === 'unreachable'
          ? 'wait until the chain is reachable and '
          : f.code === 'wrong-chain'
            ? `switch your browser wallet to chain ${facts.chainId} and `
            : '';
    action = `You can close the channel to end it. To try again, ${fix}open a new channel.`;
  } else {
    const total = c.balances.reduce((t, b) => t + b, 0n);
    const held = `the adjudicator still holds the channel's ${amount(total)}, ${amount(mine)} of it yours`;
    if (nothingMoved) funds = `Nothing was paid out: ${held}.`;
    else if (f.code === 'timeout') funds = `The closing transaction may still go through and pay everyone out. Until it does, ${held}.`;
    else funds = `As far as this wallet can tell, nothing was paid out: ${held}.`;
    action = `Your ${amount(mine)} is safe: the final state you both signed, kept in this wallet, pays it out once submitted on chain. Close the channel again to submit it once the problem is fixed; do not clear this site's data before then.`;
  }

  return {
    title: deposit ? 'Deposit failed' : 'Closing the channel failed',
    counterparty: others.map((p) => toChecksumAddress(p)).join(', '),
    asset: assetLabel(asset, tokenSymbol),
    what: deposit ? `Your deposit of ${amount(myDeposit)} into this channel did not complete.` : 'The transaction that closes this channel and pays it out did not complete.',
    reason,
    funds,
    action,
  };
}

/** Shows the notice (queued behind any other dialog); resolves when the user dismisses it. */
export function showChainError(dialogs: Dialogs, n: ChainErrorNotice): Promise<void> {
  return dialogs.inform('chain-error', [
    el('h1', { text: n.title, testId: 'chain-error-title' }),
    el('p', { testId: 'chain-error-what', text: n.what }),
    el('p', { text: 'With' }),
    el('p', { className: 'address', testId: 'chain-error-counterparty', text: n.counterparty }),
    el('p', { text: 'Asset' }),
    el('p', { className: 'address', testId: 'chain-error-asset', text: n.asset }),
    el('p', { className: 'error', testId: 'chain-error-reason', text: n.reason }),
    el('p', { testId: 'chain-error-funds', text: n.funds }),
    el('p', { testId: 'chain-error-action', text: n.action }),
  ]);
}
