/**
 * What the wallet tells the user about a challenge of one of their channels, with a countdown to
 * when it finalizes (chain time; the countdown uses this computer's clock, so it is approximate).
 * The words are built by `describeChallenge` (pure, tested); `showChallengeStatus` shows them
 * through the shared Dialogs and ticks the countdown until the dialog is dismissed.
 */
import type { ChallengeUpdate } from '../../../core/src/objectives/effects.ts';
import { type Dialogs, el } from './connect-dialog.ts';

export interface ChallengeNotice {
  title: string;
  /** What happened, in plain words. */
  what: string;
  /** The countdown line (empty when nothing is counting down). */
  countdown: string;
}

/** "2 h 05 min", "4 min 09 s", "12 s". */
export function formatRemaining(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(sec).padStart(2, '0')} s`;
  return `${sec} s`;
}

/** The countdown to `finalizesAt` at `now` (unix seconds). */
export function countdownText(finalizesAt: number, now: number): string {
  if (finalizesAt === 0) return '';
  const left = finalizesAt - now;
  return left > 0 ? `Finalizes in about ${formatRemaining(left)} (at ${new Date(finalizesAt * 1000).toISOString()}).` : 'The challenge period is over: the wallet withdraws your funds.';
}

/** The notice for an update the user should hear of; undefined for the ones that need no words (transitional stages). */
export function describeChallenge(u: ChallengeUpdate, now: number): ChallengeNotice | undefined {
  const ours = u.challenger === 'us';
  switch (u.stage) {
    case 'registered':
      return {
        title: ours ? 'Channel challenged' : 'Your counterparty challenged the channel',
        what: ours
          ? `The channel is challenged on chain with its latest state (turn ${u.turnNum}). Unless the counterparty answers with a newer state, it closes when the challenge period ends and your wallet withdraws your share.`
          : `The counterparty registered the channel's latest state (turn ${u.turnNum}) on chain. Nothing is lost: when the challenge period ends your wallet withdraws your share.`,
        countdown: countdownText(u.finalizesAt, now),
      };
    case 'cleared':
      return {
        title: ours ? 'Your challenge was answered' : 'An old state was refuted',
        what: ours
          ? `The counterparty answered your challenge with a newer state (turn ${u.turnNum} was replaced). The channel is running again.`
          : `The counterparty challenged the channel with an old state (turn ${u.turnNum}). Your wallet answered with the latest state, so the old one cannot be used. The channel is running again.`,
        countdown: '',
      };
    case 'withdrawn':
      return { title: 'Funds withdrawn', what: `The challenge period ended and the channel paid out by its state of turn ${u.turnNum}. The channel is closed.`, countdown: '' };
    case 'failed':
      return { title: 'The challenge failed', what: u.detail ?? 'The chain refused the challenge. Nothing changed on chain; you can try again.', countdown: '' };
    default:
      return undefined;
  }
}

/** Shows the notice (if the update needs one) with a ticking countdown; resolves when dismissed. */
export async function showChallengeStatus(dialogs: Dialogs, u: ChallengeUpdate, now: () => number = () => Date.now() / 1000): Promise<void> {
  const notice = describeChallenge(u, now());
  if (!notice) return;
  const countdown = el('p', { className: 'amount', testId: 'challenge-countdown', text: notice.countdown });
  const timer = u.stage === 'registered' && u.finalizesAt > 0 ? setInterval(() => (countdown.textContent = countdownText(u.finalizesAt, now())), 1000) : undefined;
  try {
    await dialogs.inform('challenge-status', [el('h1', { text: notice.title, testId: 'challenge-title' }), el('p', { testId: 'challenge-what', text: notice.what }), el('p', { className: 'address', text: u.channelId }), countdown]);
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** A budget's exit on chain without the hub, as the notice needs it. */
export interface BudgetExitNotice {
  hub: string;
  stage: string;
  finalizesAt: number;
  detail?: string;
}

/** The notice for a budget exit update the user should hear of; undefined for transitional stages. */
export function describeBudgetExit(e: BudgetExitNotice, now: number): ChallengeNotice | undefined {
  switch (e.stage) {
    case 'waiting':
      return {
        title: 'Budget exit registered on chain',
        what: 'Your budget and its payment channels are registered on chain without the hub. When the challenge period ends your wallet reclaims the payments and withdraws your share.',
        countdown: countdownText(e.finalizesAt, now),
      };
    case 'withdrawn':
      return { title: 'Budget withdrawn', what: 'The challenge period ended: the payment channels were settled by the vouchers and your share of the budget is paid out on chain.', countdown: '' };
    case 'failed':
      return { title: 'The budget exit failed', what: e.detail ?? 'The chain refused a transaction of the exit. Your funds are still in the adjudicator; you can try again.', countdown: '' };
    default:
      return undefined;
  }
}

/** Shows the budget exit notice (if the update needs one) with a ticking countdown; resolves when dismissed. */
export async function showBudgetExitStatus(dialogs: Dialogs, e: BudgetExitNotice, now: () => number = () => Date.now() / 1000): Promise<void> {
  const notice = describeBudgetExit(e, now());
  if (!notice) return;
  const countdown = el('p', { className: 'amount', testId: 'budget-exit-countdown', text: notice.countdown });
  const timer = e.stage === 'waiting' && e.finalizesAt > 0 ? setInterval(() => (countdown.textContent = countdownText(e.finalizesAt, now())), 1000) : undefined;
  try {
    await dialogs.inform('budget-exit-status', [el('h1', { text: notice.title, testId: 'budget-exit-title' }), el('p', { testId: 'budget-exit-what', text: notice.what }), el('p', { className: 'address', text: e.hub }), countdown]);
  } finally {
    if (timer) clearInterval(timer);
  }
}
