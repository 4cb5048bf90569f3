/**
 * Found by the peer-message fuzz: a peer's one unsupported state carrying the ledger mark
 * (`LEDGER_APP_DATA`), sent under a DirectFunding objective id, was kept as D's latest state, and
 * the engine then took the running direct channel D for a ledger channel and refused every
 * direct update of it. A channel is a ledger by a state both signed, not by a peer's proposal.
 */
import { describe, expect, it } from 'vitest';
import { addressToDestination } from '../../core/src/index.ts';
import { latestSupported } from '../../core/src/protocol/channel.ts';
import { objectiveIds, serializeMessage } from '../../core/src/protocol/message.ts';
import { signState } from '../../core/src/signed-state.ts';
import { LEDGER_APP_DATA } from './ledger-manager.ts';
import { peerWorld } from './testing/peer-fuzz.ts';

describe('the ledger mark in a peer’s unsupported state', () => {
  it('does not turn a running direct channel into a ledger: updates still go through', async () => {
    const w = await peerWorld(11);
    await w.reconnect();
    const { P, Q } = w;
    const D = w.ids.D;
    const supported = latestSupported(P.store.channels.get(D)!)!.state;
    const marked = { ...supported, turnNum: supported.turnNum + 1, appData: LEDGER_APP_DATA };
    const signatures = [null, signState(marked, Q.key).signature];
    await P.engine.receiveMessage(Q.key.address, serializeMessage({ from: Q.key.address, to: P.key.address, payloads: [{ type: 'state', objectiveId: objectiveIds.directFunding(D), signedState: { state: marked, signatures } }] }));
    await P.engine.idle();
    const [a, b] = (await P.engine.getChannel(D))!.balances;
    const outcome = structuredClone(supported.outcome);
    outcome[0]!.allocations = outcome[0]!.allocations.map((x) => ({ ...x, amount: x.destination === addressToDestination(P.key.address) ? a! - 1n : b! + 1n }));
    const summary = await P.engine.updateChannel(D, outcome);
    expect(summary.balances).toEqual([a! - 1n, b! + 1n]);
    w.stop();
  });
});
