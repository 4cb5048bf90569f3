import { type AnyActorRef, createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { AllocationType, addressToDestination } from '../outcome.ts';
import { type Channel, newChannel, receiveSignedState, signAndAdd } from '../protocol/channel.ts';
import { PrivateKey } from '../signature.ts';
import type { SignedState } from '../signed-state.ts';
import type { State } from '../state.ts';
import { checkCloseProposal, directDefundMachine } from './direct-defund.ts';
import type { Effect } from './effects.ts';

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
