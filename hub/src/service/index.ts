/** The hub service: the engine headless, the relay, the policy (see hub.ts). */
export { type Hub, type HubHealth, type HubLog, type HubOptions, HUB_HEALTH_PATH, HubStartError, consoleHubLog, startHub } from './hub.ts';
export { type HubConfig, type LoadHubConfigOptions, DEFAULT_DATA_DIR, DEFAULT_HUB_PORT, HubConfigError, describePolicy, loadHubConfig } from './config.ts';
export { type DirectChannelContext, type DirectChannelProposal, type HubPolicy, type PolicyDecision, checkDirectChannel, lockedWithUser, proposalFromState } from './policy.ts';
export { type RelayLink, type RelayLinkOptions, connectRelayLink } from './relay-link.ts';

import type { Hub } from './hub.ts';
import { type HubConfig, describePolicy } from './config.ts';

/** What `npm run hub` and `npm start` print about a running hub: its address and URLs, no secrets. */
export function describeHub(hub: Hub, config: Pick<HubConfig, 'keySource' | 'dataDir' | 'policy' | 'chain'>): string {
  const p = describePolicy(config.policy);
  const limits = Object.entries(p.maxDepositPerUser)
    .map(([asset, amount]) => `${asset} ${amount}`)
    .join(', ');
  return [
    `  Address            ${hub.address}  (key: ${config.keySource})`,
    `  Relay              ${hub.url}  (logins are signed for ${hub.origin})`,
    `  Health             ${hub.healthUrl}  (relay only: ${hub.relayHealthUrl})`,
    `  Chain              chain id ${config.chain.chainId}, adjudicator ${config.chain.adjudicator}`,
    `  Data directory     ${config.dataDir}`,
    `  Serves             ${p.users === 'all' ? 'every user' : `${p.users} allowed addresses`}; per user at most ${limits} (base units); challenge duration ${p.challengeDuration.min}–${p.challengeDuration.max} s`,
  ].join('\n');
}
