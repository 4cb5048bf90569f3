/**
 * The hand-written ABI fragments the browser bundle uses must be exactly the deployed contracts'
 * ones: same selector / topic, and the same full signature (types, names, indexed flags,
 * mutability, outputs), checked against the compiled artifacts.
 */
import { Interface } from 'ethers';
import { describe, expect, it } from 'vitest';
import { nitroArtifacts, testTokenArtifact } from '../../../chain/artifacts.ts';
import { ADJUDICATOR_ABI, ERC20_ABI, WATCHED_EVENTS } from './abi.ts';

const cases = [
  { label: 'NitroAdjudicator', fragments: ADJUDICATOR_ABI, artifact: () => nitroArtifacts().NitroAdjudicator.abi },
  { label: 'TestToken (ERC20)', fragments: ERC20_ABI, artifact: () => testTokenArtifact().abi },
] as const;

describe.each(cases)('$label fragments match the compiled artifact', ({ fragments, artifact }) => {
  const mine = new Interface(fragments);
  const real = () => new Interface(artifact());

  it('parses every fragment (none is silently dropped)', () => {
    expect(mine.fragments).toHaveLength(fragments.length);
  });

  const functions: string[] = [];
  mine.forEachFunction((f) => functions.push(f.name));
  it.each(functions)('function %s: same selector and full signature', (name) => {
    const f = mine.getFunction(name)!;
    const g = real().getFunction(name);
    expect(g, `${name} exists in the artifact`).not.toBeNull();
    expect(f.selector).toBe(g!.selector);
    expect(f.format('full')).toBe(g!.format('full'));
  });

  const events: string[] = [];
  mine.forEachEvent((e) => events.push(e.name));
  it.each(events)('event %s: same topic and full signature (indexed flags included)', (name) => {
    const e = mine.getEvent(name)!;
    const g = real().getEvent(name);
    expect(g, `${name} exists in the artifact`).not.toBeNull();
    expect(e.topicHash).toBe(g!.topicHash);
    expect(e.format('full')).toBe(g!.format('full'));
  });
});

describe('the fragments cover what the chain service needs', () => {
  it('adjudicator: the calls and every watched event', () => {
    const i = new Interface(ADJUDICATOR_ABI);
    for (const fn of ['deposit', 'holdings', 'concludeAndTransferAllAssets', 'transferAllAssets', 'challenge', 'checkpoint', 'statusOf']) {
      expect(i.getFunction(fn), fn).not.toBeNull();
    }
    for (const ev of WATCHED_EVENTS) expect(i.getEvent(ev), ev).not.toBeNull();
    expect(WATCHED_EVENTS).toEqual(['Deposited', 'AllocationUpdated', 'Concluded', 'ChallengeRegistered', 'ChallengeCleared']);
  });

  it('ERC20: approve, allowance, balanceOf, mint', () => {
    const i = new Interface(ERC20_ABI);
    for (const fn of ['approve', 'allowance', 'balanceOf', 'mint']) expect(i.getFunction(fn), fn).not.toBeNull();
  });
});
