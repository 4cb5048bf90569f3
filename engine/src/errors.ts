/** What the engine's API and its handling of peers' input refuse with. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    /**
     * `unknown-channel`: no such channel here; `not-allowed`: not in its current state (or by our
     * role in it, or for want of funds); `busy`: something else is under way on it; `invalid`:
     * malformed or against the rules; `rejected`: a peer (or the hub) refused; `failed`: it could
     * not be done (e.g. a ledger could not take the change).
     */
    readonly code: 'unknown-channel' | 'not-allowed' | 'busy' | 'invalid' | 'rejected' | 'failed',
    message: string,
  ) {
    super(message);
  }
}
