import { type AnyActorRef, createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { AllocationType, addressToDestination } from '../outcome.ts';
import { newChannel } from '../protocol/channel.ts';
import { PrivateKey } from '../signature.ts';
import type { State } from '../state.ts';
import type { Effect } from './effects.ts';
import { type DirectFundContext, directFundMachine } from './direct-fund.ts';

const alice = PrivateKey.random();
const bob = PrivateKey.random();
const ETH = '0x0000000000000000000000000000000000000000';

const prefund: State = {
  participants: [alice.address, bob.address],
  channelNonce: 9n,
  appDefinition: '0x00000000000000000000000000000000000000cc',
  challengeDuration: 100,
  outcome: [
    {
      asset: ETH,
      assetMetadata: { assetType: 0, metadata: '0x' },
      allocations: [
        { destination: addressToDestination(alice.address), amount: 5n, allocationType: AllocationType.simple, metadata: '0x' },
        { destination: addressToDestination(bob.address), amount: 3n, allocationType: AllocationType.simple, metadata: '0x' },
      ],
    },
  ],
  appData: '0x',
  turnNum: 0,
  isFinal: false,
};

/**
 * Two participants' objectives wired through a scripted world: messages are delivered (or
 * dropped), and deposits hit a model of the adjudicator that enforces expectedHeld.
 */
function world() {
  let held = 0n;
  const deposits: { who: string; amount: bigint }[] = [];
  const actors = new Map<string, AnyActorRef>();
  const keys = new Map([
    [alice.address, alice],
    [bob.address, bob],
  ]);
  const start = (key: PrivateKey, snapshot?: unknown) => {
    const machine = directFundMachine(key);
    const actor = snapshot ? createActor(machine, { snapshot } as never) : createActor(machine, { input: { channel: newChannel(prefund, key.address) } });
    actor.start();
    actors.set(key.address, actor);
    return actor;
  };
  /** Performs each actor's outbox until nothing is left to do. */
  const run = (opts: { dropMessagesTo?: string } = {}) => {
    for (let guard = 0; guard < 100; guard++) {
      let did = false;
      for (const [who, actor] of actors) {
        const ctx = actor.getSnapshot().context as DirectFundContext;
        if (ctx.outbox.length === 0) continue;
        did = true;
        const effects: Effect[] = ctx.outbox;
        actor.send({ type: 'EFFECTS_DONE' });
        for (const e of effects) {
          if (e.kind === 'send') {
            for (const to of e.to) {
              if (to === opts.dropMessagesTo) continue;
              for (const p of e.payloads) {
                if (p.type === 'state') actors.get(to)?.send({ type: 'STATE_RECEIVED', signedState: p.signedState });
                else actors.get(to)?.send({ type: 'PEER_REJECTED', reason: p.reason });
              }
            }
          } else if (e.kind === 'deposit') {
            if (e.expectedHeld !== held) {
              actor.send({ type: 'DEPOSIT_FAILED', asset: e.asset, error: 'held != expectedHeld', retryable: true });
            } else {
              held += e.amount;
              deposits.push({ who, amount: e.amount });
              actor.send({ type: 'DEPOSIT_MINED', asset: e.asset });
            }
            for (const a of actors.values()) a.send({ type: 'HOLDINGS', asset: ETH, amount: held });
          }
        }
      }
      if (!did) return;
    }
    throw new Error('did not settle');
  };
  const observeChain = () => {
    for (const a of actors.values()) a.send({ type: 'HOLDINGS', asset: ETH, amount: held });
  };
  return { start, run, observeChain, deposits, held: () => held, keys, actors };
}

describe('direct funding objective', () => {
  it('prefund, deposits in turn, postfund: both end running with the channel fully funded', () => {
    const w = world();
    const a = w.start(alice);
    const b = w.start(bob);
    a.send({ type: 'APPROVE' });
    b.send({ type: 'APPROVE' });
    w.run();
    w.observeChain();
    w.run();
    expect(a.getSnapshot().value).toBe('done');
    expect(b.getSnapshot().value).toBe('done');
    expect(w.deposits).toEqual([
      { who: alice.address, amount: 5n },
      { who: bob.address, amount: 3n },
    ]);
    expect(w.held()).toBe(8n);
  });

  it('resumes from a persisted snapshot taken between planning a deposit and sending it, without depositing twice', () => {
    const w = world();
    const a = w.start(alice);
    const b = w.start(bob);
    a.send({ type: 'APPROVE' });
    b.send({ type: 'APPROVE' });
    w.run();
    // Alice learns the holdings and plans her deposit; we persist and "crash" before performing it.
    a.send({ type: 'HOLDINGS', asset: ETH, amount: 0n });
    const persisted = structuredClone(a.getPersistedSnapshot());
    expect((persisted as unknown as { context: DirectFundContext }).context.deposits[ETH]?.status).toBe('submitting');
    a.stop();
    // Reload: the stored outbox still holds the deposit, which the engine performs again.
    const a2 = w.start(alice, persisted);
    w.run();
    w.observeChain();
    w.run();
    // And a second reload after it was mined re-performs nothing harmful.
    const again = structuredClone(a2.getPersistedSnapshot());
    a2.stop();
    w.start(alice, again);
    w.observeChain();
    w.run();
    expect(w.deposits.filter((d) => d.who === alice.address)).toEqual([{ who: alice.address, amount: 5n }]);
    expect(w.held()).toBe(8n);
    expect(w.actors.get(alice.address)!.getSnapshot().value).toBe('done');
    expect(b.getSnapshot().value).toBe('done');
  });

  it('ends on both sides when one user rejects', () => {
    const w = world();
    const a = w.start(alice);
    const b = w.start(bob);
    a.send({ type: 'APPROVE' });
    w.run();
    b.send({ type: 'REJECT', reason: 'user rejected' });
    w.run();
    expect(b.getSnapshot().value).toBe('rejected');
    expect(a.getSnapshot().value).toBe('rejected');
    expect(w.deposits).toEqual([]);
  });

  it('recovers from lost messages when the states are sent again', () => {
    const w = world();
    const a = w.start(alice);
    const b = w.start(bob);
    a.send({ type: 'APPROVE' });
    w.run({ dropMessagesTo: bob.address }); // Alice's prefund is lost
    b.send({ type: 'APPROVE' });
    w.run();
    expect(a.getSnapshot().value).toBe('funding');
    expect(b.getSnapshot().value).toBe('prefund');
    // The engine re-sends what a peer lacks: here, Alice's signed prefund again.
    const ctx = a.getSnapshot().context as DirectFundContext;
    b.send({ type: 'STATE_RECEIVED', signedState: ctx.channel.states[0]! });
    w.run();
    w.observeChain();
    w.run();
    expect(a.getSnapshot().value).toBe('done');
    expect(b.getSnapshot().value).toBe('done');
  });
});
