import { type AnyActorRef, createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { signChallenge } from '../adjudicator.ts';
import { receiveSignedState, signAndAdd } from '../protocol/channel.ts';
import { hashState, variablePartOf } from '../state.ts';
import { twoParty } from '../testing/two-party.ts';
import { challengeMachine } from './challenge.ts';
import type { ChallengeStage, Effect } from './effects.ts';

const { alice, bob, state, running } = twoParty(21n);

/** Alice's and Bob's views after an update to turn 2 (Bob has 3 + 1), signed by both. */
function updated() {
  const { a, b } = running();
  const sa = signAndAdd(a, state(2, 4n, 4n), alice);
  const sb = signAndAdd(b, state(2, 4n, 4n), bob);
  return { a: receiveSignedState(sa.channel, sb.signed).channel, b: receiveSignedState(sb.channel, sa.signed).channel };
}

function drain(actor: AnyActorRef): Effect[] {
  const effects = (actor.getSnapshot().context as { outbox: Effect[] }).outbox;
  actor.send({ type: 'EFFECTS_DONE' });
  return effects;
}
const stages = (effects: Effect[]): ChallengeStage[] => effects.flatMap((e) => (e.kind === 'challengeUpdated' ? [e.update.stage] : []));

describe('challenge objective', () => {
  it('we challenge with our latest supported state, wait for finalization, then withdraw by the registered outcome', () => {
    const { a } = updated();
    const actor = createActor(challengeMachine(alice), { input: { channel: a, challenger: 'us' } }).start();
    const first = drain(actor);
    const challenge = first.find((e) => e.kind === 'challenge');
    if (challenge?.kind !== 'challenge') throw new Error('no challenge effect');
    expect(challenge.candidate.state.turnNum).toBe(2);
    expect(challenge.candidate.signatures.every((s) => s !== null)).toBe(true);
    // The challenger signature is Alice's, over the candidate's hash and "forceMove" (deterministic).
    expect(challenge.challengerSig).toEqual(signChallenge(hashState(challenge.candidate.state), alice));
    expect(stages(first)).toEqual(['challenging']);

    actor.send({ type: 'CHALLENGE_REGISTERED', turnNum: 2, finalizesAt: 1_000, state: variablePartOf(challenge.candidate.state) });
    const registered = drain(actor);
    expect(registered).toEqual([{ kind: 'challengeUpdated', objectiveId: `Challenge-${a.id}`, channelId: a.id, update: { channelId: a.id, stage: 'registered', challenger: 'us', turnNum: 2, finalizesAt: 1_000 } }]);
    // The same registration again (its event after the status read) changes nothing.
    actor.send({ type: 'CHALLENGE_REGISTERED', turnNum: 2, finalizesAt: 1_000, state: variablePartOf(challenge.candidate.state) });
    expect(drain(actor)).toEqual([]);

    actor.send({ type: 'FINALIZED' });
    const transfer = drain(actor).find((e) => e.kind === 'transferAllAssets');
    expect(transfer).toEqual({ kind: 'transferAllAssets', objectiveId: `Challenge-${a.id}`, channelId: a.id, outcome: challenge.candidate.state.outcome, stateHash: hashState(challenge.candidate.state) });
    actor.send({ type: 'WITHDRAWN' });
    expect(stages(drain(actor))).toEqual(['withdrawn']);
    expect(actor.getSnapshot().value).toBe('done');
    expect(actor.getSnapshot().context.ending).toBe('withdrawn');
  });

  it('a counterparty’s stale challenge is answered with a checkpoint of our newer state and ends when cleared', () => {
    const { a } = updated();
    const stale = state(1, 5n, 3n);
    const actor = createActor(challengeMachine(alice), { input: { channel: a, challenger: 'counterparty', registered: { turnNum: 1, finalizesAt: 500, state: variablePartOf(stale) } } }).start();
    const effects = drain(actor);
    const checkpoint = effects.find((e) => e.kind === 'checkpoint');
    expect(checkpoint?.kind === 'checkpoint' && checkpoint.candidate.state.turnNum).toBe(2);
    expect(stages(effects)).toEqual(['checkpointing']);
    // A clear that does not go past the registered turn is not ours.
    actor.send({ type: 'CHALLENGE_CLEARED', turnNumRecord: 1 });
    expect(actor.getSnapshot().value).toBe('checkpointing');
    actor.send({ type: 'CHALLENGE_CLEARED', turnNumRecord: 2 });
    expect(stages(drain(actor))).toEqual(['cleared']);
    expect(actor.getSnapshot().value).toBe('cleared');
    expect(actor.getSnapshot().context.ending).toBe('cleared');
  });

  it('a refused checkpoint leaves the challenge standing and is tried again at the next check', () => {
    const { a } = updated();
    const actor = createActor(challengeMachine(alice), { input: { channel: a, challenger: 'counterparty', registered: { turnNum: 1, finalizesAt: 500, state: variablePartOf(state(1, 5n, 3n)) } } }).start();
    drain(actor);
    actor.send({ type: 'TX_FAILED', operation: 'checkpoint', error: 'no ETH for gas' });
    const effects = drain(actor);
    expect(effects).toEqual([expect.objectContaining({ kind: 'challengeUpdated', update: expect.objectContaining({ stage: 'registered', detail: 'no ETH for gas' }) })]);
    actor.send({ type: 'CHECK' });
    expect(drain(actor).some((e) => e.kind === 'checkpoint')).toBe(true);
  });

  it('a counterparty’s challenge with our latest state is left to finalize, then we withdraw', () => {
    const { b } = updated();
    const latest = state(2, 4n, 4n);
    const actor = createActor(challengeMachine(bob), { input: { channel: b, challenger: 'counterparty', registered: { turnNum: 2, finalizesAt: 700, state: variablePartOf(latest) } } }).start();
    const effects = drain(actor);
    expect(effects.some((e) => e.kind === 'checkpoint' || e.kind === 'challenge')).toBe(false);
    expect(stages(effects)).toEqual(['registered']);
    // A CHECK does nothing: the challenge is not stale.
    actor.send({ type: 'CHECK' });
    expect(drain(actor)).toEqual([]);
    actor.send({ type: 'FINALIZED' });
    const transfer = drain(actor).find((e) => e.kind === 'transferAllAssets');
    expect(transfer?.kind === 'transferAllAssets' && transfer.stateHash).toBe(hashState(latest));
  });

  it('a failed challenge ends the objective with the chain’s reason; its snapshot survives JSON round trips of the stored form', () => {
    const { a } = updated();
    const actor = createActor(challengeMachine(alice), { input: { channel: a, challenger: 'us' } }).start();
    drain(actor);
    // Resumed from the persisted snapshot, as after a reload: still waiting for the challenge.
    const resumed = createActor(challengeMachine(alice), { snapshot: actor.getPersistedSnapshot() } as never).start() as AnyActorRef;
    expect(resumed.getSnapshot().value).toBe('challenging');
    expect(resumed.getSnapshot().context.pending?.kind).toBe('challenge');
    resumed.send({ type: 'TX_FAILED', operation: 'challenge', error: 'Challenging reverted: x' });
    const effects = drain(resumed);
    expect(stages(effects)).toEqual(['failed']);
    expect(effects.find((e) => e.kind === 'progress')).toMatchObject({ stage: 'failed', detail: 'Challenging reverted: x' });
    expect(resumed.getSnapshot().value).toBe('failed');
  });

  it('refuses to start on a channel with no supported state', () => {
    const { a } = running();
    const unsupported = { ...a, states: [{ ...a.states[0]!, signatures: [a.states[0]!.signatures[0]!, null] }] };
    const actor = createActor(challengeMachine(alice), { input: { channel: unsupported, challenger: 'us' } });
    actor.subscribe({ error: () => undefined });
    actor.start();
    expect(actor.getSnapshot().status).toBe('error');
    expect(String(actor.getSnapshot().error)).toMatch(/no supported state/);
  });
});
