import { describe, expect, it } from 'vitest';
import type { ChallengeUpdate } from '../../../core/src/objectives/effects.ts';
import { countdownText, describeBudgetExit, describeChallenge, formatRemaining } from './challenge-status.ts';

const ID = `0x${'11'.repeat(32)}` as const;
const update = (over: Partial<ChallengeUpdate>): ChallengeUpdate => ({ channelId: ID, stage: 'registered', challenger: 'us', turnNum: 7, finalizesAt: 10_000, ...over });

describe('what the wallet tells the user about a challenge', () => {
  it('counts down to finalizesAt, then says the wallet withdraws', () => {
    expect(formatRemaining(7_500)).toBe('2 h 05 min');
    expect(formatRemaining(249)).toBe('4 min 09 s');
    expect(formatRemaining(12)).toBe('12 s');
    expect(countdownText(10_000, 9_940)).toMatch(/^Finalizes in about 1 min 00 s \(at 1970-01-01T02:46:40.000Z\)\.$/);
    expect(countdownText(10_000, 10_000)).toMatch(/period is over/);
    expect(countdownText(0, 5)).toBe('');
  });

  it('names who challenged and what happens; transitional stages need no notice', () => {
    expect(describeChallenge(update({}), 9_000)).toMatchObject({ title: 'Channel challenged', countdown: expect.stringMatching(/16 min 40 s/) });
    expect(describeChallenge(update({ challenger: 'counterparty' }), 9_000)?.what).toMatch(/Nothing is lost/);
    expect(describeChallenge(update({ challenger: 'counterparty', stage: 'cleared', finalizesAt: 0 }), 9_000)).toMatchObject({ title: 'An old state was refuted', countdown: '' });
    expect(describeChallenge(update({ stage: 'withdrawn' }), 9_000)?.title).toBe('Funds withdrawn');
    expect(describeChallenge(update({ stage: 'failed', detail: 'Challenging reverted: x' }), 9_000)?.what).toBe('Challenging reverted: x');
    for (const stage of ['challenging', 'checkpointing', 'withdrawing'] as const) expect(describeChallenge(update({ stage }), 9_000)).toBeUndefined();
  });

  it('tells the user where a budget exit without the hub stands, with the countdown while it waits', () => {
    const e = { hub: `0x${'22'.repeat(20)}`, stage: 'waiting', finalizesAt: 10_000 };
    expect(describeBudgetExit(e, 9_000)).toMatchObject({ title: 'Budget exit registered on chain', countdown: expect.stringMatching(/16 min 40 s/) });
    expect(describeBudgetExit({ ...e, stage: 'withdrawn' }, 11_000)?.title).toBe('Budget withdrawn');
    expect(describeBudgetExit({ ...e, stage: 'failed', detail: 'Reclaim reverted: y' }, 9_000)?.what).toBe('Reclaim reverted: y');
    expect(describeBudgetExit({ ...e, stage: 'failed' }, 9_000)?.what).toMatch(/still in the adjudicator/);
    for (const stage of ['challenging', 'reclaiming', 'withdrawing']) expect(describeBudgetExit({ ...e, stage }, 9_000)).toBeUndefined();
  });
});
