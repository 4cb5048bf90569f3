import { fail } from '../errors.ts';
import type { Bytes32 } from '../hex.ts';
import { type GuaranteeRequest, addGuarantee, removeGuarantee } from '../guarantee.ts';
import type { PrivateKey, Signature } from '../signature.ts';
import { isSignatureBy } from '../signature.ts';
import { type State, channelId, hashStateBytes } from '../state.ts';

/**
 * A ledger channel between a user and the hub, updated by leader and follower (as go-nitro's
 * consensus channel): only the leader proposes; each proposal is the next turn, applying one
 * change (add or remove a guarantee) to the previous proposal, so the leader can have many in
 * flight. The follower countersigns proposals strictly in turn order, holding back any that
 * arrive early until the gap is filled; the leader re-sends whatever is not yet countersigned.
 * Nothing is ever dropped for arriving out of order, so the ledger cannot stall.
 */
export type LedgerChange =
  | { type: 'add'; guarantee: GuaranteeRequest }
  | { type: 'remove'; target: Bytes32; leftPayout: bigint; rightPayout: bigint };

export interface LedgerProposal {
  ledgerId: Bytes32;
  turnNum: number;
  change: LedgerChange;
  /** The leader's signature on the state this proposal produces. */
  signature: Signature;
}

export interface Countersignature {
  ledgerId: Bytes32;
  turnNum: number;
  signature: Signature;
}

/** The state produced by applying `change` to `state` (single-asset ledger). */
export function applyChange(state: State, change: LedgerChange): State {
  if (state.outcome.length !== 1) fail('invalid-outcome', 'outcome', 'a ledger channel holds one asset');
  const exit = state.outcome[0]!;
  const next = change.type === 'add' ? addGuarantee(exit, change.guarantee) : removeGuarantee(exit, change.target, change.leftPayout, change.rightPayout);
  return { ...state, outcome: [next], turnNum: state.turnNum + 1 };
}

interface Signed {
  state: State;
  /** [leader's, follower's] */
  signatures: [Signature | null, Signature | null];
}

export class LedgerLeader {
  /** The latest state both signed. */
  supported: Signed;
  /** Proposed states not yet countersigned, in turn order. */
  readonly pending: { proposal: LedgerProposal; state: State }[] = [];
  readonly id: Bytes32;

  constructor(
    supported: Signed,
    private readonly key: PrivateKey,
  ) {
    this.id = channelId(supported.state);
    this.supported = supported;
    if (supported.state.participants[0] !== key.address) fail('not-a-participant', 'leader', 'the leader is participant 0');
  }

  private tip(): State {
    return this.pending.length ? this.pending[this.pending.length - 1]!.state : this.supported.state;
  }

  /** Proposes a change on top of everything already proposed. Throws if it does not apply. */
  propose(change: LedgerChange): LedgerProposal {
    const state = applyChange(this.tip(), change);
    const signature = this.key.signHash(hashStateBytes(state, this.id));
    const proposal = { ledgerId: this.id, turnNum: state.turnNum, change, signature };
    this.pending.push({ proposal, state });
    return proposal;
  }

  /** Takes the follower's countersignature (in any order); returns the newly supported turns. */
  receive(c: Countersignature): number[] {
    if (c.ledgerId !== this.id) fail('invalid-outcome', 'ledgerId', `not ledger ${this.id}`);
    const entry = this.pending.find((p) => p.proposal.turnNum === c.turnNum);
    if (!entry) return []; // already supported (a repeat)
    const follower = this.supported.state.participants[1]!;
    if (!isSignatureBy(hashStateBytes(entry.state, this.id), c.signature, follower, 'signature')) fail('invalid-signature', 'signature', 'not the follower’s signature on that turn');
    // A countersignature on turn t supports t (and the follower signs in order, so all before it).
    const supportedTurns: number[] = [];
    while (this.pending.length && this.pending[0]!.proposal.turnNum <= c.turnNum) {
      const done = this.pending.shift()!;
      supportedTurns.push(done.state.turnNum);
      this.supported = { state: done.state, signatures: [done.proposal.signature, done.proposal.turnNum === c.turnNum ? c.signature : null] };
    }
    return supportedTurns;
  }

  /** What to send (again) to the follower: every proposal still waiting. */
  unacknowledged(): LedgerProposal[] {
    return this.pending.map((p) => p.proposal);
  }
}

export class LedgerFollower {
  supported: Signed;
  /** Proposals that arrived before their turn. */
  private readonly early = new Map<number, LedgerProposal>();
  readonly id: Bytes32;

  constructor(
    supported: Signed,
    private readonly key: PrivateKey,
    /** The follower's policy: may refuse a change (e.g. a guarantee it did not agree to). */
    private readonly accept: (change: LedgerChange, state: State) => boolean = () => true,
  ) {
    this.id = channelId(supported.state);
    this.supported = supported;
    if (supported.state.participants[1] !== key.address) fail('not-a-participant', 'follower', 'the follower is participant 1');
  }

  /**
   * Takes a proposal. Returns countersignatures for every proposal that is now next in turn
   * (this one and any held back behind it). A proposal for a past turn is answered again with our
   * countersignature if we have it (the leader may have missed it), else ignored; a bad one throws.
   */
  receive(p: LedgerProposal): Countersignature[] {
    if (p.ledgerId !== this.id) fail('invalid-outcome', 'ledgerId', `not ledger ${this.id}`);
    if (p.turnNum <= this.supported.state.turnNum) {
      return p.turnNum === this.supported.state.turnNum && this.supported.signatures[1] ? [{ ledgerId: this.id, turnNum: p.turnNum, signature: this.supported.signatures[1] }] : [];
    }
    if (p.turnNum > this.supported.state.turnNum + 1) {
      if (this.early.size >= 1024) fail('out-of-range', 'turnNum', 'too many proposals ahead of the supported turn');
      this.early.set(p.turnNum, p);
      return [];
    }
    const out: Countersignature[] = [];
    let next: LedgerProposal | undefined = p;
    while (next) {
      const state = applyChange(this.supported.state, next.change);
      const hash = hashStateBytes(state, this.id);
      if (!isSignatureBy(hash, next.signature, this.supported.state.participants[0]!, 'signature')) fail('invalid-signature', 'signature', `turn ${next.turnNum} is not signed by the leader`);
      if (!this.accept(next.change, state)) fail('invalid-outcome', 'change', `the change at turn ${next.turnNum} is refused by policy`);
      const signature = this.key.signHash(hash);
      this.supported = { state, signatures: [next.signature, signature] };
      out.push({ ledgerId: this.id, turnNum: state.turnNum, signature });
      this.early.delete(next.turnNum);
      next = this.early.get(state.turnNum + 1);
    }
    return out;
  }
}
