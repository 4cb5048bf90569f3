import { type AnyActorRef, createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { signAndAdd } from '../protocol/channel.ts';
import type { SignedState } from '../signed-state.ts';
import { twoParty } from '../testing/two-party.ts';
import { checkCloseProposal, directDefundMachine } from './direct-defund.ts';
import type { Effect } from './effects.ts';

const { alice, bob, state, running } = twoParty(12n);

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
