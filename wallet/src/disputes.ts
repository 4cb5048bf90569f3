/**
 * Challenges over RPC: what the handlers need from the engine for `channel_challenge` and
 * `channel_getChallenge` (an interface, so tests can use a fake), and the wire form of a
 * challenge for them and for the `challenge_updated` notification.
 */
import type { Bytes32 } from '../../core/src/index.ts';
import type { ChallengeUpdate } from '../../core/src/objectives/effects.ts';
import type { NotificationParams } from '../../sdk-client/src/schema.ts';
import { showChallengeStatus } from './ui/challenge-status.ts';
import type { Dialogs } from './ui/connect-dialog.ts';

export interface DisputeApi {
  /** Challenges a running channel with its latest supported state; resolves once the challenge is registered. */
  challenge(channelId: Bytes32): Promise<ChallengeUpdate>;
  /** Where the channel's latest challenge stands; undefined if it was never challenged. */
  get(channelId: Bytes32): Promise<ChallengeUpdate | undefined>;
}

export type ChallengeWire = NotificationParams<'challenge_updated'>;

export function challengeToWire(u: ChallengeUpdate): ChallengeWire {
  const wire: ChallengeWire = { channelId: u.channelId, stage: u.stage, challenger: u.challenger, turnNum: u.turnNum, finalizesAt: u.finalizesAt };
  return u.detail === undefined ? wire : { ...wire, detail: u.detail.slice(0, 512) };
}

/** Stages in which a challenge is still under way (a new one is refused). */
export const CHALLENGE_UNDER_WAY: readonly string[] = ['challenging', 'registered', 'checkpointing', 'withdrawing'];

/**
 * The wallet's wiring of challenges: the handlers' `disputes` (run by the instance that runs the
 * engine), the dialog asking the user, and what each update does — the dapp hears
 * `challenge_updated`, the user sees the notice with its countdown.
 */
export function walletDisputes(opts: {
  engine: () => Promise<{ challengeChannel(id: Bytes32): Promise<ChallengeUpdate>; getChallenge(id: Bytes32): Promise<ChallengeUpdate | undefined> }>;
  dialogs: Dialogs;
  notify: (params: ChallengeWire) => void;
}): { disputes: DisputeApi; askToChallenge: Dialogs['askToChallenge']; onChallengeUpdated: (u: ChallengeUpdate) => void } {
  return {
    disputes: {
      challenge: async (id) => (await opts.engine()).challengeChannel(id),
      get: async (id) => (await opts.engine()).getChallenge(id),
    },
    askToChallenge: (req) => opts.dialogs.askToChallenge(req),
    onChallengeUpdated: (u) => {
      opts.notify(challengeToWire(u));
      void showChallengeStatus(opts.dialogs, u);
    },
  };
}
