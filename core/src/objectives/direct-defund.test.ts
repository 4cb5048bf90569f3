import { type AnyActorRef, createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { AllocationType, addressToDestination } from '../outcome.ts';
import { type Channel, latestSupported, newChannel, receiveSignedState, signAndAdd } from '../protocol/channel.ts';
import { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import type { State } from '../state.ts';
import { checkCloseProposal, directDefundMachine } from './direct-defund.ts';
import type { Effect } from './effects.ts';
import { updateMachine } from './update.ts';

const alice = PrivateKey.random();
const bob = PrivateKey.random();
const ETH = '0x0000000000000000000000000000000000000000';

function state(turnNum: number, a: bigint, b: bigint, isFinal = false): State {
  return {
    participants: [alice.address, bob.address],
    channelNonce: 12n,
    appDefinition: '0x00000000000000000000000000000000000000cc',
    challengeDuration: 100,
    outcome: [
      {
        asset: ETH,
        assetMetadata: { assetType: 0, metadata: '0x' },
        allocations: [
          { destination: addressToDestination(alice.address), amount: a, allocationType: AllocationType.simple, metadata: '0x' },
          { destination: addressToDestination(bob.address), amount: b, allocationType: AllocationType.simple, metadata: '0x' },
        ],
      },
    ],
    appData: '0x',
    turnNum,
    isFinal,
  };
}

function running(): { a: Channel; b: Channel } {
  let a = newChannel(state(0, 5n, 3n), alice.address);
  let b = newChannel(state(0, 5n, 3n), bob.address);
  for (const turn of [0, 1]) {
    const sa = signAndAdd(a, state(turn, 5n, 3n), alice);
    const sb = signAndAdd(b, state(turn, 5n, 3n), bob);
    a = receiveSignedState(sa.channel, sb.signed).channel;
    b = receiveSignedState(sb.channel, sa.signed).channel;
  }
  return { a, b };
}

/** Drains an actor's outbox, returning the signed states it sent and its other effects. */
function drain(actor: AnyActorRef): { sent: SignedState[]; rejects: string[]; effects: Effect[] } {
  const effects = (actor.getSnapshot().context as { outbox: Effect[] }).outbox;
  actor.send({ type: 'EFFECTS_DONE' });
  const sent: SignedState[] = [];
  const rejects: string[] = [];
  for (const e of effects) {
    if (e.kind !== 'send') continue;
    for (const p of e.payloads) {
      if (p.type === 'state') sent.push(p.signedState);
      else rejects.push(p.reason);
    }
  }
  return { sent, rejects, effects };
}

const channelOf = (actor: AnyActorRef) => (actor.getSnapshot().context as { channel: Channel }).channel;

describe('channel updates', () => {
  it('the payer proposes, the payee countersigns: both hold the new supported state', () => {
    const { a, b } = running();
    const proposer = createActor(updateMachine(alice), { input: { channel: a, propose: state(2, 4n, 4n) } }).start();
    const [proposal] = drain(proposer).sent;
    const responder = createActor(updateMachine(bob), { input: { channel: b, received: proposal! } }).start();
    expect(responder.getSnapshot().value).toBe('done');
    const [countersigned] = drain(responder).sent;
    proposer.send({ type: 'STATE_RECEIVED', signedState: countersigned! });
    expect(proposer.getSnapshot().value).toBe('done');
    expect(latestSupported(channelOf(proposer))!.state.turnNum).toBe(2);
    expect(latestSupported(channelOf(responder))!.state.outcome[0]!.allocations[1]!.amount).toBe(4n);
  });

  it('a wallet refuses to countersign a proposal that takes its funds, and says why', () => {
    const { a, b } = running();
    const greedy = createActor(updateMachine(bob), { input: { channel: b, propose: state(2, 4n, 4n) } }).start(); // Bob takes 1 from Alice
    const [proposal] = drain(greedy).sent;
    const victim = createActor(updateMachine(alice), { input: { channel: a, received: proposal! } }).start();
    expect(victim.getSnapshot().value).toBe('refused');
    const { sent, rejects } = drain(victim);
    expect(sent).toEqual([]);
    expect(rejects[0]).toMatch(/takes 1/);
    expect(latestSupported(channelOf(victim))!.state.turnNum).toBe(1);
  });

  it('concurrent proposals: the lower index wins; the other objective fails with a conflict and its wallet countersigns the winner', () => {
    const { a, b } = running();
    const fromAlice = createActor(updateMachine(alice), { input: { channel: a, propose: state(2, 4n, 4n) } }).start();
    const fromBob = createActor(updateMachine(bob), { input: { channel: b, propose: state(2, 6n, 2n) } }).start();
    const [pa] = drain(fromAlice).sent;
    drain(fromBob);
    fromBob.send({ type: 'STATE_RECEIVED', signedState: pa! });
    expect(fromBob.getSnapshot().value).toBe('failed');
    expect((fromBob.getSnapshot().context as { error: string }).error).toMatch(/conflict/);
    // Bob's wallet answers Alice's proposal with a responder objective on its updated channel.
    const responder = createActor(updateMachine(bob), { input: { channel: channelOf(fromBob), received: pa! } }).start();
    const [countersigned] = drain(responder).sent;
    fromAlice.send({ type: 'STATE_RECEIVED', signedState: countersigned! });
    expect(fromAlice.getSnapshot().value).toBe('done');
  });
});

describe('direct defunding', () => {
  it('final state countersigned, the proposer concludes, both complete when the chain shows it', () => {
    const { a, b } = running();
    const proposer = createActor(directDefundMachine(alice), { input: { channel: a, role: 'proposer' } }).start();
    const [finalState] = drain(proposer).sent;
    expect(finalState!.state).toMatchObject({ turnNum: 2, isFinal: true });
    const responder = createActor(directDefundMachine(bob), { input: { channel: b, role: 'responder', received: finalState! } }).start();
    const [countersigned] = drain(responder).sent;
    proposer.send({ type: 'STATE_RECEIVED', signedState: countersigned! });
    const { effects } = drain(proposer);
    const conclude = effects.find((e) => e.kind === 'conclude');
    expect(conclude && conclude.kind === 'conclude' && conclude.signedState.signatures.every((s) => s !== null)).toBe(true);
    proposer.send({ type: 'CONCLUDED' });
    responder.send({ type: 'CONCLUDED' });
    expect(proposer.getSnapshot().value).toBe('done');
    expect(responder.getSnapshot().value).toBe('done');
  });

  it('a responder refuses a close that changes the outcome', () => {
    const { a, b } = running();
    const sneaky = signAndAdd(a, state(2, 8n, 0n, true), alice).signed;
    // The engine checks a proposal before it starts an objective for it.
    expect(() => checkCloseProposal(b, sneaky)).toThrow(/keep the supported outcome/);
    expect(() => checkCloseProposal(b, signAndAdd(a, state(2, 5n, 3n, false), alice).signed)).toThrow(/must be a final state/);
  });
});
