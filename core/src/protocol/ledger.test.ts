import { describe, expect, it } from 'vitest';
import { AllocationType, addressToDestination, totalAllocated } from '../outcome.ts';
import { PrivateKey } from '../signature.ts';
import { type State, hashStateBytes } from '../state.ts';
import { Rng } from '../testing/arbitrary.ts';
import { LedgerFollower, LedgerLeader, type LedgerProposal } from './ledger.ts';

const hub = PrivateKey.random();
const user = PrivateKey.random();
const H = addressToDestination(hub.address);
const U = addressToDestination(user.address);

function ledger(): State {
  return {
    participants: [hub.address, user.address],
    channelNonce: 77n,
    appDefinition: '0x00000000000000000000000000000000000000cc',
    challengeDuration: 600,
    outcome: [
      {
        asset: '0x0000000000000000000000000000000000000000',
        assetMetadata: { assetType: 0, metadata: '0x' },
        allocations: [
          { destination: H, amount: 10_000n, allocationType: AllocationType.simple, metadata: '0x' },
          { destination: U, amount: 10_000n, allocationType: AllocationType.simple, metadata: '0x' },
        ],
      },
    ],
    appData: '0x',
    turnNum: 1,
    isFinal: false,
  };
}

function start() {
  const s = ledger();
  const hash = hashStateBytes(s);
  const both = { state: s, signatures: [hub.signHash(hash), user.signHash(hash)] as [ReturnType<typeof hub.signHash>, ReturnType<typeof hub.signHash>] };
  return { leader: new LedgerLeader(both, hub), follower: new LedgerFollower(both, user) };
}

const target = (i: number) => `0x${i.toString(16).padStart(64, '0')}` as `0x${string}`;

describe('ledger updates by leader and follower', () => {
  it('many guarantees added and removed concurrently, over a network that loses and reorders, all get supported', () => {
    const { leader, follower } = start();
    const r = new Rng(99);
    for (let i = 1; i <= 20; i++) leader.propose({ type: 'add', guarantee: { target: target(i), left: U, right: H, leftAmount: BigInt(10 * i), rightAmount: 0n } });
    for (let i = 1; i <= 20; i += 2) leader.propose({ type: 'remove', target: target(i), leftPayout: BigInt(10 * i - i), rightPayout: BigInt(i) });
    // Deliver in rounds: each round the leader re-sends what is unacknowledged; the network
    // shuffles the batch and drops a third of it, both ways.
    for (let round = 0; round < 50 && leader.pending.length > 0; round++) {
      const batch: LedgerProposal[] = leader.unacknowledged().filter(() => r.int(3) !== 0);
      for (let i = batch.length - 1; i > 0; i--) {
        const j = r.int(i + 1);
        [batch[i], batch[j]] = [batch[j]!, batch[i]!];
      }
      for (const p of batch) for (const c of follower.receive(p)) if (r.int(3) !== 0) leader.receive(c);
    }
    expect(leader.pending).toEqual([]);
    expect(leader.supported.state.turnNum).toBe(1 + 30);
    expect(follower.supported.state).toEqual(leader.supported.state);
    const exit = leader.supported.state.outcome[0]!;
    expect(totalAllocated(exit)).toBe(20_000n);
    expect(exit.allocations.filter((a) => a.allocationType === AllocationType.guarantee)).toHaveLength(10);
  });

  it('the follower refuses a proposal not signed by the leader, or one its policy rejects, and stays where it was', () => {
    const { leader } = start();
    const s = ledger();
    const hash = hashStateBytes(s);
    const both = { state: s, signatures: [hub.signHash(hash), user.signHash(hash)] as [never, never] };
    const strict = new LedgerFollower(both, user, (change) => change.type !== 'add' || change.guarantee.leftAmount <= 100n);
    const ok = leader.propose({ type: 'add', guarantee: { target: target(1), left: U, right: H, leftAmount: 100n, rightAmount: 0n } });
    const forged = { ...ok, signature: PrivateKey.random().signHash(new Uint8Array(32)) };
    expect(() => strict.receive(forged)).toThrow(/not signed by the leader/);
    expect(strict.supported.state.turnNum).toBe(1);
    expect(strict.receive(ok)).toHaveLength(1);
    const greedy = leader.propose({ type: 'add', guarantee: { target: target(2), left: U, right: H, leftAmount: 5000n, rightAmount: 0n } });
    expect(() => strict.receive(greedy)).toThrow(/refused by policy/);
    expect(strict.supported.state.turnNum).toBe(2);
  });

  it('a proposal the leader cannot afford is refused before it is sent', () => {
    const { leader } = start();
    expect(() => leader.propose({ type: 'add', guarantee: { target: target(1), left: U, right: H, leftAmount: 10_001n, rightAmount: 0n } })).toThrow(/needs/);
    expect(leader.pending).toEqual([]);
  });
});
