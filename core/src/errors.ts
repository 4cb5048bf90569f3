/**
 * Every rejection of bad input by the protocol core is a CoreError naming the field at fault,
 * so callers (the RPC layer, the peer-message handler) can turn it into a precise error for
 * the dapp or a logged reason for a peer, without parsing message strings.
 */
export type CoreErrorCode =
  | 'invalid-hex'
  | 'invalid-length'
  | 'invalid-checksum'
  | 'invalid-type'
  | 'out-of-range'
  | 'invalid-signature'
  | 'not-a-participant'
  | 'unsupported-state'
  | 'invalid-outcome'
  | 'insufficient-funds'
  | 'invalid-voucher';

export class CoreError extends Error {
  override readonly name = 'CoreError';
  constructor(
    readonly code: CoreErrorCode,
    /** Path of the offending field, e.g. `outcome[0].allocations[1].amount`. */
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

export function fail(code: CoreErrorCode, field: string, detail: string): never {
  throw new CoreError(code, field, detail);
}
