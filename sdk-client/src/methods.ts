import { methods, type MethodName } from './schema.ts';
import type { WalletMethods } from './types.ts';

/**
 * The convenience method for each schema method. `satisfies Record<MethodName, …>` makes a new
 * schema method a compile error here until the sdk gives it a method on `WalletMethods`.
 */
export const methodAliases = {
  eth_requestAccounts: 'requestAccounts',
  eth_accounts: 'accounts',
  eth_chainId: 'chainId',
  wallet_getPermissions: 'getPermissions',
  wallet_requestPermissions: 'requestPermissions',
  wallet_revokePermissions: 'revokePermissions',
  wallet_getInfo: 'getInfo',
  channel_list: 'listChannels',
  wallet_signRelayChallenge: 'signRelayChallenge',
  wallet_useRelay: 'useRelay',
  budget_request: 'requestBudget',
  budget_get: 'getBudget',
  budget_close: 'closeBudget',
  budget_exit: 'exitBudget',
  budget_getExit: 'getBudgetExit',
  virtual_create: 'createVirtualChannel',
  virtual_pay: 'pay',
  virtual_close: 'closeVirtualChannel',
  virtual_get: 'getVirtualChannel',
  virtual_list: 'listVirtualChannels',
  channel_receiveMessage: 'receiveMessage',
  channel_get: 'getChannel',
  channel_create: 'createChannel',
  channel_join: 'joinChannel',
  channel_update: 'updateChannel',
  channel_close: 'closeChannel',
  channel_challenge: 'challengeChannel',
  channel_getChallenge: 'getChallenge',
  wallet_useFundingProvider: 'setFundingAccount',
  wallet_transactionResult: 'sendTransactionResult',
} as const satisfies Record<MethodName, keyof WalletMethods>;

// And the other way: every method on WalletMethods is the alias of a schema method.
type AssertNever<T extends never> = T;
type _EveryWalletMethodHasASchemaMethod = AssertNever<Exclude<keyof WalletMethods, (typeof methodAliases)[MethodName]>>;

export function isKnownMethod(method: string): method is MethodName {
  return Object.hasOwn(methods, method);
}

/** Whether a call may wait on the user, and so gets the interactive timeout. Unknown methods are not. */
export function isInteractive(method: string): boolean {
  return isKnownMethod(method) && methods[method].interactive;
}

/** What to send when the caller gives no params: `{}` for object-param methods, else `[]`. */
export function defaultParams(method: string): unknown {
  if (!isKnownMethod(method)) return [];
  const params: { kind: string } = methods[method].params;
  return params.kind === 'object' ? {} : [];
}
