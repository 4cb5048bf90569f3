/**
 * The minimal ABI fragments the chain boundary uses, as ethers human-readable strings, so the
 * browser bundle never reads contract artifacts from node_modules. `abi.test.ts` checks every
 * fragment against the real compiled artifacts (same selector / topic, same types, same names,
 * same `indexed` flags), so a drift in the contracts fails the build.
 */

// Struct shapes as NitroAdjudicator declares them (names matter: events are decoded by name).
const FIXED_PART = 'tuple(address[] participants, uint64 channelNonce, address appDefinition, uint48 challengeDuration)';
const EXIT =
  'tuple(address asset, tuple(uint8 assetType, bytes metadata) assetMetadata, tuple(bytes32 destination, uint256 amount, uint8 allocationType, bytes metadata)[] allocations)[]';
const VARIABLE_PART = `tuple(${EXIT} outcome, bytes appData, uint48 turnNum, bool isFinal)`;
const SIGNATURE = 'tuple(uint8 v, bytes32 r, bytes32 s)';
const SIGNED_VARIABLE_PART = `tuple(${VARIABLE_PART} variablePart, ${SIGNATURE}[] sigs)`;

export const ADJUDICATOR_ABI = [
  // MultiAssetHolder
  'function deposit(address asset, bytes32 channelId, uint256 expectedHeld, uint256 amount) payable',
  'function holdings(address, bytes32) view returns (uint256)',
  `function transferAllAssets(bytes32 channelId, ${EXIT} outcome, bytes32 stateHash)`,
  'function reclaim(tuple(bytes32 sourceChannelId, bytes32 sourceStateHash, bytes sourceOutcomeBytes, uint256 sourceAssetIndex, uint256 indexOfTargetInSource, bytes32 targetStateHash, bytes targetOutcomeBytes, uint256 targetAssetIndex) reclaimArgs)',
  // ForceMove / NitroAdjudicator
  `function concludeAndTransferAllAssets(${FIXED_PART} fixedPart, ${SIGNED_VARIABLE_PART} candidate)`,
  `function challenge(${FIXED_PART} fixedPart, ${SIGNED_VARIABLE_PART}[] proof, ${SIGNED_VARIABLE_PART} candidate, ${SIGNATURE} challengerSig)`,
  `function checkpoint(${FIXED_PART} fixedPart, ${SIGNED_VARIABLE_PART}[] proof, ${SIGNED_VARIABLE_PART} candidate)`,
  'function statusOf(bytes32) view returns (bytes32)',
  // Events the chain service watches. Deposited's indexed `destination` is the channel id.
  'event Deposited(bytes32 indexed destination, address asset, uint256 destinationHoldings)',
  'event AllocationUpdated(bytes32 indexed channelId, uint256 assetIndex, uint256 initialHoldings, uint256 finalHoldings)',
  'event Concluded(bytes32 indexed channelId, uint48 finalizesAt)',
  `event ChallengeRegistered(bytes32 indexed channelId, uint48 finalizesAt, ${SIGNED_VARIABLE_PART}[] proof, ${SIGNED_VARIABLE_PART} candidate)`,
  'event ChallengeCleared(bytes32 indexed channelId, uint48 newTurnNumRecord)',
] as const;

/** The ERC20 calls a deposit needs, plus the test token's public `mint` (dev faucet only). */
export const ERC20_ABI = [
  'function approve(address spender, uint256 amount) returns (bool)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function balanceOf(address account) view returns (uint256)',
  'function mint(address to, uint256 amount)',
] as const;

/** The adjudicator events the chain service delivers. */
export const WATCHED_EVENTS = ['Deposited', 'AllocationUpdated', 'Concluded', 'ChallengeRegistered', 'ChallengeCleared'] as const;
export type WatchedEventName = (typeof WATCHED_EVENTS)[number];
