import { describe, expect, it } from 'vitest';
import { twoParty } from '../testing/two-party.ts';
import { type Channel, latestSupported, newChannel, signAndAdd, stateAt } from './channel.ts';
import { inFlight, proposeUpdate, receiveUpdates } from './updates.ts';

const { alice, bob, split, state, running } = twoParty(12n);

const balances = (c: Channel) => latestSupported(c)!.state.outcome[0]!.allocations.map((x) => x.amount);

describe('channel updates', () => {
  it('the payer proposes, the payee countersigns: both hold the new supported state', () => {
    const { a, b } = running();
    const proposed = proposeUpdate(a, split(4n, 4n), undefined, alice);
    expect(proposed.signed.state.turnNum).toBe(2);
    const atBob = receiveUpdates(b, [proposed.signed], bob);
    expect(atBob.countersigned).toHaveLength(1);
    const atAlice = receiveUpdates(proposed.channel, atBob.countersigned, alice);
    expect(atAlice.countersigned).toEqual([]);
    expect(latestSupported(atAlice.channel)!.state.turnNum).toBe(2);
    expect(balances(atBob.channel)).toEqual([4n, 4n]);
  });

  it('pipelines: many proposals in flight, each on its own turn, countersigned in order', () => {
    const { a, b } = running();
    let ca = a;
    const sent = [];
    for (let i = 1n; i <= 20n; i++) {
      const p = proposeUpdate(ca, split(5n - (i % 5n), 3n + (i % 5n)), undefined, alice);
      ca = p.channel;
      sent.push(p.signed);
    }
    expect(sent.map((s) => s.state.turnNum)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    expect(inFlight(ca)).toBe(20);
    // Bob receives them in two batches; each one that takes nothing from him is countersigned.
    const first = receiveUpdates(b, sent.slice(0, 7), bob);
    const second = receiveUpdates(first.channel, sent.slice(7), bob);
    const countersigned = [...first.countersigned, ...second.countersigned];
    // Turns where Alice's proposal takes back from Bob relative to the previous one are refused.
    expect(countersigned.length + first.refused.length + second.refused.length).toBe(20);
    const back = receiveUpdates(ca, countersigned, alice);
    expect(latestSupported(back.channel)!.state.turnNum).toBe(latestSupported(second.channel)!.state.turnNum);
    expect(balances(back.channel)).toEqual(balances(second.channel));
  });

  it('a countersignature that arrives before an earlier one supersedes it', () => {
    const { a, b } = running();
    const p1 = proposeUpdate(a, split(4n, 4n), undefined, alice);
    const p2 = proposeUpdate(p1.channel, split(3n, 5n), undefined, alice);
    const atBob = receiveUpdates(b, [p1.signed, p2.signed], bob);
    const [c1, c2] = atBob.countersigned;
    const later = receiveUpdates(p2.channel, [c2!], alice);
    expect(latestSupported(later.channel)!.state.turnNum).toBe(3);
    const stale = receiveUpdates(later.channel, [c1!], alice);
    expect(stale.invalid[0]!.error.message).toMatch(/in the past/);
    expect(stale.channel).toBe(later.channel);
  });

  it('a wallet refuses to countersign a proposal that takes its funds, and says why', () => {
    const { a, b } = running();
    const greedy = proposeUpdate(b, split(4n, 4n), undefined, bob); // Bob takes 1 from Alice
    const atAlice = receiveUpdates(a, [greedy.signed], alice);
    expect(atAlice.countersigned).toEqual([]);
    expect(atAlice.refused[0]!.reason).toMatch(/takes 1/);
    expect(latestSupported(atAlice.channel)!.state.turnNum).toBe(1);
    // Alice never signs that turn: her next proposal goes above it.
    expect(proposeUpdate(atAlice.channel, split(4n, 4n), undefined, alice).signed.state.turnNum).toBe(3);
  });

  it('concurrent proposals: the lower index wins; the other is abandoned and the winner countersigned', () => {
    const { a, b } = running();
    const fromAlice = proposeUpdate(a, split(4n, 4n), undefined, alice);
    const fromBob = proposeUpdate(b, split(6n, 2n), undefined, bob);
    const atAlice = receiveUpdates(fromAlice.channel, [fromBob.signed], alice);
    expect(atAlice.invalid[0]!.error.message).toMatch(/ours takes precedence/);
    const atBob = receiveUpdates(fromBob.channel, [fromAlice.signed], bob);
    expect(atBob.abandoned).toEqual([2]);
    expect(atBob.countersigned).toHaveLength(1);
    const done = receiveUpdates(atAlice.channel, atBob.countersigned, alice);
    expect(stateAt(done.channel, 2)!.state.outcome).toEqual(split(4n, 4n));
    expect(balances(done.channel)).toEqual([4n, 4n]);
  });

  it('refuses updates of a channel that is not running, and final states', () => {
    const { a, b } = running();
    const prefundOnly = newChannel(state(0, 5n, 3n), alice.address);
    expect(() => proposeUpdate(prefundOnly, split(4n, 4n), undefined, alice)).toThrow(/not running/);
    const finalState = signAndAdd(a, { ...state(2, 5n, 3n), isFinal: true }, alice).signed;
    expect(receiveUpdates(b, [finalState], bob).invalid[0]!.error.message).toMatch(/final state is a close/);
  });
});

describe('countersignatures arriving together', () => {
  it('the highest valid one is taken and the older ones are passed over, not refused; a forged highest one changes nothing', () => {
    const { a, b } = running();
    let ca = a;
    const sent = [];
    for (let i = 1n; i <= 5n; i++) {
      const p = proposeUpdate(ca, split(5n - i, 3n + i), undefined, alice);
      ca = p.channel;
      sent.push(p.signed);
    }
    const atBob = receiveUpdates(b, sent, bob);
    expect(atBob.countersigned).toHaveLength(5);
    const back = receiveUpdates(ca, atBob.countersigned, alice);
    expect(back.invalid).toEqual([]);
    expect(latestSupported(back.channel)!.state.turnNum).toBe(6);
    expect(balances(back.channel)).toEqual([0n, 8n]);
    // The highest one forged (Bob's signature on another state): the others are checked in order instead.
    const forged = { ...atBob.countersigned[4]!, signatures: [atBob.countersigned[4]!.signatures[0]!, atBob.countersigned[0]!.signatures[1]!] };
    const mixed = receiveUpdates(ca, [...atBob.countersigned.slice(0, 4), forged], alice);
    expect(latestSupported(mixed.channel)!.state.turnNum).toBe(5);
    expect(mixed.invalid.map((i) => i.turnNum)).toEqual([6]);
  });
});
