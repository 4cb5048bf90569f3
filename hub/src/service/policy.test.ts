import { describe, expect, it } from 'vitest';
import { type Address, AllocationType, type Exit, ZERO_ADDRESS, addressToDestination } from '../../../core/src/index.ts';
import type { ChannelSummary } from '../../../engine/src/engine.ts';
import { type DirectChannelProposal, type HubPolicy, checkDirectChannel, checkVirtualChannel, lockedWithUser, proposalFromState } from './policy.ts';

const HUB = `0x${'a1'.repeat(20)}` as Address;
const USER = `0x${'b2'.repeat(20)}` as Address;
const OTHER = `0x${'c3'.repeat(20)}` as Address;
const APP = `0x${'0c'.repeat(20)}` as Address;
const TOKEN = `0x${'70'.repeat(20)}` as Address;

const policy: HubPolicy = {
  users: 'all',
  maxDepositPerUser: { [ZERO_ADDRESS]: 1000n, [TOKEN]: 50n },
  challengeDuration: { min: 600, max: 86_400 },
};

function outcome(amounts: [Address, bigint][], asset: Address = ZERO_ADDRESS): Exit {
  return [
    {
      asset,
      assetMetadata: { assetType: 0, metadata: '0x' },
      allocations: amounts.map(([who, amount]) => ({ destination: addressToDestination(who), amount, allocationType: AllocationType.simple, metadata: '0x' as const })),
    },
  ];
}

function proposal(over: Partial<DirectChannelProposal> = {}): DirectChannelProposal {
  return {
    participants: [USER, HUB],
    appDefinition: APP,
    challengeDuration: 600,
    turnNum: 0,
    isFinal: false,
    appData: '0x',
    outcome: outcome([
      [USER, 5000n],
      [HUB, 400n],
    ]),
    ...over,
  };
}

const ctx = { hub: HUB, consensusApp: APP, lockedWithUser: {} };
const reasonOf = (p: DirectChannelProposal, pol: HubPolicy = policy, c: typeof ctx = ctx) => {
  const d = checkDirectChannel(pol, p, c);
  return d.accept ? 'accepted' : d.reason;
};

describe('checkDirectChannel', () => {
  it('accepts a ledger channel within every limit, with the hub at either index', () => {
    expect(checkDirectChannel(policy, proposal(), ctx)).toEqual({ accept: true, user: USER, asset: ZERO_ADDRESS, hubAmount: 400n });
    const hubFirst = proposal({ participants: [HUB, USER], outcome: outcome([[HUB, 1000n], [USER, 0n]]) });
    expect(checkDirectChannel(policy, hubFirst, ctx)).toEqual({ accept: true, user: USER, asset: ZERO_ADDRESS, hubAmount: 1000n });
    // Mixed-case addresses (as a peer may send them) are the same addresses.
    const mixed = proposal({ participants: [USER.toUpperCase().replace('0X', '0x') as Address, HUB], appDefinition: APP.toUpperCase().replace('0X', '0x') as Address });
    expect(reasonOf(mixed)).toBe('accepted');
  });

  it('accepts a deposit of exactly the limit, and nothing from the hub at all', () => {
    expect(reasonOf(proposal({ outcome: outcome([[USER, 1n], [HUB, 1000n]]) }))).toBe('accepted');
    expect(reasonOf(proposal({ outcome: outcome([[USER, 1n], [HUB, 0n]]) }))).toBe('accepted');
  });

  it('refuses a deposit above the per-user limit, naming the amounts', () => {
    expect(reasonOf(proposal({ outcome: outcome([[USER, 1n], [HUB, 1001n]]) }))).toBe("the hub's deposit of 1001 wei is above its limit of 1000 wei per user");
  });

  it('counts what the hub already locks with the user, per asset', () => {
    const locked = { ...ctx, lockedWithUser: { [ZERO_ADDRESS]: 700n, [TOKEN]: 50n } };
    expect(reasonOf(proposal(), policy, locked)).toBe("the hub's deposit of 400 wei is above its limit of 1000 wei per user (with 700 wei already in its other channels with this user)");
    expect(reasonOf(proposal({ outcome: outcome([[USER, 1n], [HUB, 300n]]) }), policy, locked)).toBe('accepted');
  });

  it('refuses a user not on the allow-list, and serves one that is', () => {
    const listed: HubPolicy = { ...policy, users: [OTHER] };
    expect(reasonOf(proposal(), listed)).toBe(`this hub does not serve ${USER}`);
    expect(reasonOf(proposal(), { ...policy, users: [USER] })).toBe('accepted');
  });

  it('refuses a channel the hub is not in, or with other than two participants', () => {
    expect(reasonOf(proposal({ participants: [USER, OTHER] }))).toBe(`the hub ${HUB} is not a participant`);
    expect(reasonOf(proposal({ participants: [USER, HUB, OTHER] }))).toBe('the hub joins channels of two participants, not 3');
    expect(reasonOf(proposal({ participants: [HUB, HUB] }))).toBe('the hub does not open channels with itself');
  });

  it('refuses anything but a prefund state', () => {
    expect(reasonOf(proposal({ turnNum: 1 }))).toMatch(/prefund/);
    expect(reasonOf(proposal({ isFinal: true }))).toMatch(/prefund/);
  });

  it('refuses another app than the ConsensusApp', () => {
    expect(reasonOf(proposal({ appDefinition: OTHER }))).toBe(`the hub joins ConsensusApp channels (${APP}), not app ${OTHER}`);
  });

  it('refuses a challenge duration outside the accepted range (inclusive bounds)', () => {
    expect(reasonOf(proposal({ challengeDuration: 599 }))).toBe('challenge duration 599 s is outside what the hub accepts (600 to 86400 s)');
    expect(reasonOf(proposal({ challengeDuration: 86_401 }))).toMatch(/outside what the hub accepts/);
    expect(reasonOf(proposal({ challengeDuration: 86_400 }))).toBe('accepted');
  });

  it('refuses an asset without a limit, and several assets', () => {
    const other = `0x${'de'.repeat(20)}` as Address;
    expect(reasonOf(proposal({ outcome: outcome([[USER, 1n], [HUB, 1n]], other) }))).toBe(`the hub does not serve asset ${other}`);
    expect(reasonOf(proposal({ outcome: [...outcome([[USER, 1n]]), ...outcome([[USER, 1n]], TOKEN)] }))).toBe('the hub joins single-asset channels, not 2 assets');
    expect(reasonOf(proposal({ outcome: outcome([[USER, 1n], [HUB, 51n]], TOKEN) }))).toBe(`the hub's deposit of 51 base units of token ${TOKEN} is above its limit of 50 base units of token ${TOKEN} per user`);
  });

  it('refuses allocations other than plain payments to the participants', () => {
    const third = proposal({ outcome: outcome([[USER, 1n], [OTHER, 1n]]) });
    expect(reasonOf(third)).toBe('allocation 1 is not a plain payment to a participant');
    const guarantee = proposal();
    guarantee.outcome[0]!.allocations[0] = { ...guarantee.outcome[0]!.allocations[0]!, allocationType: AllocationType.guarantee };
    expect(reasonOf(guarantee)).toBe('allocation 0 is not a plain payment to a participant');
    const metadata = proposal();
    metadata.outcome[0]!.assetMetadata = { assetType: 1, metadata: '0x' };
    expect(reasonOf(metadata)).toMatch(/metadata the hub does not accept/);
  });

  it('reads a proposal from a prefund state', () => {
    const p = proposal();
    const state = { ...p, participants: [...p.participants], channelNonce: 1n };
    expect(proposalFromState(state)).toEqual(p);
  });
});

describe('lockedWithUser', () => {
  const summary = (over: Partial<ChannelSummary>): ChannelSummary => ({
    channelId: `0x${'00'.repeat(31)}01`,
    participants: [USER, HUB],
    appDefinition: APP,
    turnNum: 1,
    status: 'running',
    asset: ZERO_ADDRESS,
    balances: [10n, 100n],
    challengeDuration: 600,
    ...over,
  });

  it("sums the hub's balance per asset over the user's open channels only", () => {
    const channels = [
      summary({ channelId: '0x01', status: 'running' }),
      summary({ channelId: '0x02', status: 'funding', participants: [HUB, USER], balances: [7n, 1n] }),
      summary({ channelId: '0x03', status: 'closing' }),
      summary({ channelId: '0x04', status: 'failed' }),
      summary({ channelId: '0x05', status: 'proposed' }),
      summary({ channelId: '0x06', status: 'closed' }),
      summary({ channelId: '0x07', status: 'rejected' }),
      summary({ channelId: '0x08', participants: [OTHER, HUB] }),
      summary({ channelId: '0x09', asset: TOKEN, balances: [0n, 5n] }),
    ];
    expect(lockedWithUser(channels, HUB, USER)).toEqual({ [ZERO_ADDRESS]: 307n, [TOKEN]: 5n });
    expect(lockedWithUser(channels, HUB, USER, '0x01')).toEqual({ [ZERO_ADDRESS]: 207n, [TOKEN]: 5n });
    expect(lockedWithUser(channels, HUB, OTHER)).toEqual({ [ZERO_ADDRESS]: 100n });
  });
});

describe('checkVirtualChannel', () => {
  const running = (send: bigint, receive: bigint) => ({ send, receive, status: 'running' });
  const v = { payer: USER, payee: OTHER, amount: 100n, challengeDuration: 600, left: running(0n, 500n), right: running(500n, 0n) };

  it('approves a channel both ledgers can fund', () => {
    expect(checkVirtualChannel(policy, v)).toBe(true);
  });

  it('refuses, saying why: an unserved user, a missing or short budget, a challenge duration out of range', () => {
    expect(checkVirtualChannel({ ...policy, users: [USER] }, v)).toEqual({ reject: expect.stringMatching(/does not serve the payee/) });
    expect(checkVirtualChannel(policy, { ...v, left: undefined })).toEqual({ reject: expect.stringMatching(/payer .* has no running budget/) });
    expect(checkVirtualChannel(policy, { ...v, left: running(0n, 99n) })).toEqual({ reject: expect.stringMatching(/payer's budget has 99 left/) });
    expect(checkVirtualChannel(policy, { ...v, right: running(99n, 0n) })).toEqual({ reject: expect.stringMatching(/can lock 99 toward the payee/) });
    expect(checkVirtualChannel(policy, { ...v, challengeDuration: 5 })).toEqual({ reject: expect.stringMatching(/challenge duration 5 s/) });
  });
});
