import type { Address, Bytes32, Exit, Hex, Signature, SignedState } from '../../../core/src/index.ts';
import type { ReclaimArgs } from '../../../core/src/objectives/virtual-exit.ts';

/** What the engine keeps of a mined transaction. */
export interface TxReceiptInfo {
  hash: Hex;
  blockNumber: number;
  gasUsed: bigint;
}

interface ChainEventBase {
  channelId: Bytes32;
  blockNumber: number;
  txHash: Hex;
  logIndex: number;
}

/** `Deposited(destination = channelId, asset, destinationHoldings)`: the channel's holdings of `asset` after the deposit. */
export interface DepositedEvent extends ChainEventBase {
  type: 'Deposited';
  asset: Address;
  destinationHoldings: bigint;
}

/** A payout from the channel's holdings of the outcome's `assetIndex`-th asset. */
export interface AllocationUpdatedEvent extends ChainEventBase {
  type: 'AllocationUpdated';
  assetIndex: number;
  initialHoldings: bigint;
  finalHoldings: bigint;
}

/** The channel was concluded (finalised at once) at `finalizedAt` (unix seconds, the block's timestamp). */
export interface ConcludedEvent extends ChainEventBase {
  type: 'Concluded';
  finalizedAt: number;
}

/** The state a challenge was registered with (signatures omitted). */
export interface ChallengeCandidate {
  turnNum: number;
  isFinal: boolean;
  appData: Hex;
  outcome: Exit;
}

/** A challenge: the channel finalizes at `finalizesAt` (unix seconds) with `candidate` unless answered. */
export interface ChallengeRegisteredEvent extends ChainEventBase {
  type: 'ChallengeRegistered';
  finalizesAt: number;
  candidateTurnNum: number;
  candidate: ChallengeCandidate;
}

/** A registered challenge was cleared by a `checkpoint` with a newer supported state, of turn `newTurnNumRecord`. */
export interface ChallengeClearedEvent extends ChainEventBase {
  type: 'ChallengeCleared';
  newTurnNumRecord: number;
}

export type ChainEvent = DepositedEvent | AllocationUpdatedEvent | ConcludedEvent | ChallengeRegisteredEvent | ChallengeClearedEvent;

/**
 * A channel's status as the adjudicator stores it (`statusOf(channelId)`, unpacked): the turn of
 * the latest state registered (by a challenge or a checkpoint), when a registered challenge
 * finalizes (0: no challenge; unix seconds), and the fingerprint of the registered state and
 * outcome. All zero for a channel the adjudicator has never heard of or has paid out in full.
 */
export interface OnChainStatus {
  turnNumRecord: number;
  finalizesAt: number;
  fingerprint: bigint;
  /** The timestamp (unix seconds) of the block read at: finalized when `0 < finalizesAt <= blockTimestamp`. */
  blockTimestamp: number;
}

export type { ReclaimArgs };

export interface WatchOptions {
  /**
   * First block to deliver events from. Default: the confirmed head when the watcher is first
   * polled, minus the service's `watchLookbackBlocks` (so events mined around the moment of
   * subscribing are not missed; a repeated delivery of an old event to a new watcher is harmless
   * because every event carries absolute values).
   */
  fromBlock?: number;
  /**
   * Each failed poll (a ChainError, e.g. `unreachable`), for this watcher: polling goes on with
   * backoff, and events are delivered once the chain answers again.
   */
  onError?: (error: unknown) => void;
}

/**
 * The one thing in the wallet and the hub that talks to the chain. The engine depends on this
 * interface; `createEthersChainService` implements it over ethers v6.
 */
export interface ChainService {
  /** The adjudicator's holdings for (asset, channel), read at `latest - (confirmations - 1)`. */
  getHoldings(asset: Address, channelId: Bytes32): Promise<bigint>;
  /**
   * Deposits into a channel, approving the ERC20 first when needed. Resolves when mined with the
   * configured confirmations. The contract reverts unless the channel holds exactly
   * `expectedHeld`, so a repeated deposit (say after a reload) can never pay twice: it fails with
   * `ChainError('reverted', reason 'held != expectedHeld')` and nothing moves.
   */
  deposit(args: { asset: Address; channelId: Bytes32; expectedHeld: bigint; amount: bigint }): Promise<TxReceiptInfo>;
  /** Concludes a channel with a final state signed by every participant and pays out all its assets. */
  concludeAndTransferAllAssets(signed: SignedState): Promise<TxReceiptInfo>;
  /**
   * Registers a challenge (the adjudicator's `challenge`): `candidate` must be supported (with
   * `proof`, the states before it that support it, for apps that need them; none for a state
   * signed by everyone), and `challengerSig` is a participant's signature of the candidate's
   * challenge (`signChallenge`). The channel finalizes with the candidate's outcome after its
   * challenge duration unless someone answers with a newer supported state.
   */
  challenge(args: { candidate: SignedState; proof?: SignedState[]; challengerSig: Signature }): Promise<TxReceiptInfo>;
  /**
   * Registers a newer supported state without finalizing (the adjudicator's `checkpoint`): clears
   * a registered challenge whose turn is older than the candidate's.
   */
  checkpoint(args: { candidate: SignedState; proof?: SignedState[] }): Promise<TxReceiptInfo>;
  /**
   * Pays out every asset of a finalized channel by its registered outcome (`stateHash` and
   * `outcome` must be the finalized state's; the adjudicator checks them against the fingerprint).
   */
  transferAllAssets(args: { channelId: Bytes32; outcome: Exit; stateHash: Bytes32 }): Promise<TxReceiptInfo>;
  /**
   * Moves a finalized virtual channel's funds back into the finalized ledger that guarantees it
   * (the adjudicator's `reclaim`): the guarantee at `indexOfTargetInSource` of the ledger's
   * registered outcome `sourceOutcome` is replaced by the target's final amounts, credited to the
   * guarantee's left and right. Both outcomes must be the registered ones (fingerprints). Optional
   * for services that never exit a virtual channel on chain (test doubles).
   */
  reclaim?(args: ReclaimArgs): Promise<TxReceiptInfo>;
  /** The channel's on-chain status (`statusOf`, unpacked), read like the holdings, with the block's time. */
  statusOf(channelId: Bytes32): Promise<OnChainStatus>;
  /**
   * The latest `ChallengeRegistered` of a channel (from its logs), or undefined if it was never
   * challenged: what was registered, for a party that did not see the event as it happened.
   */
  registeredChallenge?(channelId: Bytes32): Promise<ChallengeRegisteredEvent | undefined>;
  /**
   * Subscribes to adjudicator events concerning these channels (Deposited, AllocationUpdated,
   * Concluded, ChallengeRegistered, ChallengeCleared), delivered once each (per watcher), in
   * chain order, once `confirmations` deep. `channelIds` is asked again on every poll, so the set
   * may change; events of a channel are delivered from the poll after it joins the set.
   * Returns the unsubscribe function; polling stops when no watcher is left.
   */
  watch(channelIds: () => Iterable<Bytes32>, listener: (event: ChainEvent) => void, opts?: WatchOptions): () => void;
  /**
   * The funding account's address and ETH balance (and its balance of the configured token, when
   * the service has one), for the UI and for checks before a deposit.
   */
  fundingAccount(): Promise<{ address: Address; ethBalance: bigint; tokenBalance?: bigint }>;
  tokenBalance(token: Address, owner: Address): Promise<bigint>;
}
