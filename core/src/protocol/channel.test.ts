import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.ts';
import { PrivateKey } from '../signature.ts';
import { addSignature, signState, unsigned } from '../signed-state.ts';
import { type State, hashStateBytes } from '../state.ts';
import { twoParty } from '../testing/two-party.ts';
import { MAX_IN_FLIGHT, isSupported, latestSupported, newChannel, receiveSignedState, signAndAdd } from './channel.ts';

const { alice, bob, state, running } = twoParty(5n);
const mallory = PrivateKey.random();

const signedBy = (s: State, ...keys: PrivateKey[]) => keys.reduce((ss, k) => addSignature(ss, signState(s, k).signature), unsigned(s));

function expectRefused(f: () => unknown, pattern: RegExp) {
  expect(f).toThrowError(CoreError);
  expect(f).toThrowError(pattern);
}

describe('a channel as one participant holds it', () => {
  it('becomes supported as signatures arrive, and keeps only what it may still need', () => {
    const { a, b } = running();
    expect(latestSupported(a)!.state.turnNum).toBe(1);
    expect(latestSupported(b)!.state.turnNum).toBe(1);
    const up = signAndAdd(a, state(2, 4n, 4n), alice);
    expect(isSupported(up.signed)).toBe(false);
    const countersigned = signAndAdd(receiveSignedState(b, up.signed).channel, state(2, 4n, 4n), bob);
    const a2 = receiveSignedState(up.channel, countersigned.signed).channel;
    expect(latestSupported(a2)!.state.turnNum).toBe(2);
    expect(a2.states.map((s) => s.state.turnNum)).toEqual([2]);
  });

  it('refuses a wrong signature, leaving the channel as it was', () => {
    const { a } = running();
    const forged = { state: state(2, 4n, 4n), signatures: [null, mallory.signHash(hashStateBytes(state(2, 4n, 4n)))] };
    expectRefused(() => receiveSignedState(a, forged), /not participant 1/);
    const misplaced = { state: state(2, 4n, 4n), signatures: [null, signState(state(2, 4n, 4n), alice).signature] };
    expectRefused(() => receiveSignedState(a, misplaced), /not participant 1/);
    const tampered = { ...signedBy(state(2, 4n, 4n), bob), state: state(2, 3n, 5n) };
    expectRefused(() => receiveSignedState(a, tampered), /recovers to/);
    expect(latestSupported(a)!.state.turnNum).toBe(1);
  });

  it('refuses a turn number in the past or far in the future', () => {
    const { a } = running();
    expectRefused(() => receiveSignedState(a, signedBy(state(0, 5n, 3n), bob)), /in the past/);
    expectRefused(() => receiveSignedState(a, signedBy(state(1 + MAX_IN_FLIGHT + 1, 4n, 4n), bob)), /skips ahead/);
  });

  it('refuses an outcome that creates money, and a state for another channel', () => {
    const { a } = running();
    expectRefused(() => receiveSignedState(a, signedBy(state(2, 5n, 4n), bob)), /total changed/);
    const other = { ...state(2, 4n, 4n), channelNonce: 6n };
    expectRefused(() => receiveSignedState(a, signedBy(other, bob)), /not 0x/);
  });

  it('will not sign two different states for one turn, nor anything after a final state', () => {
    const { a } = running();
    const first = signAndAdd(a, state(2, 4n, 4n), alice).channel;
    expectRefused(() => signAndAdd(first, state(2, 2n, 6n), alice), /different state/);
    const { a: a2, b: b2 } = running();
    const fin = signAndAdd(a2, state(2, 5n, 3n, true), alice);
    const both = receiveSignedState(signAndAdd(receiveSignedState(b2, fin.signed).channel, state(2, 5n, 3n, true), bob).channel, fin.signed).channel;
    expectRefused(() => signAndAdd(both, state(3, 5n, 3n), bob), /final/);
  });

  it('resolves concurrent proposals for one turn in favour of the lower participant index', () => {
    const { a, b } = running();
    const fromAlice = signAndAdd(a, state(2, 4n, 4n), alice);
    const fromBob = signAndAdd(b, state(2, 6n, 2n), bob);
    // Alice keeps hers and refuses Bob's; Bob drops his, to countersign Alice's.
    expectRefused(() => receiveSignedState(fromAlice.channel, fromBob.signed), /ours takes precedence/);
    const atBob = receiveSignedState(fromBob.channel, fromAlice.signed);
    expect(atBob.abandoned?.state.outcome[0]!.allocations[0]!.amount).toBe(6n);
    const agreed = signAndAdd(atBob.channel, state(2, 4n, 4n), bob);
    expect(isSupported(agreed.signed)).toBe(true);
  });

  it('keeps the proposal a proposer signed first: a different prefund from it is refused, so the user approves what is stored', () => {
    const proposal = newChannel(state(0, 5n, 3n), bob.address);
    const held = receiveSignedState(proposal, signedBy(state(0, 5n, 3n), alice)).channel;
    expectRefused(() => receiveSignedState(held, signedBy(state(0, 1n, 7n), alice)), /different proposal for turn 0/);
    expectRefused(() => receiveSignedState(held, signedBy({ ...state(0, 5n, 3n), appData: '0xbeef' }, alice)), /different proposal for turn 0/);
    // The same proposal again merges (idempotent).
    expect(receiveSignedState(held, signedBy(state(0, 5n, 3n), alice)).channel.states).toEqual(held.states);
  });
});
