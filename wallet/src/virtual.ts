import type { Address, Bytes32 } from '../../core/src/index.ts';
import type { MethodResult } from '../../sdk-client/src/schema.ts';

/** A budget as the engine reports it (engine getBudget). */
export interface BudgetSummary {
  hub: Address;
  ledgerId: Bytes32;
  asset: Address;
  send: bigint;
  receive: bigint;
  locked: bigint;
  status: string;
}

/** A virtual channel as the engine reports it. */
export interface VirtualSummary {
  channelId: Bytes32;
  payer: Address;
  payee: Address;
  hub: Address;
  amount: bigint;
  paid: bigint;
  status: string;
}

/** A budget's exit on chain without the hub (engine exitBudget), as it stands. */
export interface BudgetExitSummary {
  hub: Address;
  ledgerId: Bytes32;
  /** challenging | waiting | reclaiming | withdrawing | withdrawn | failed */
  stage: string;
  /** When the last challenge finalizes (unix seconds of chain time; 0 until registered). */
  finalizesAt: number;
  detail?: string;
}

/** What the RPC handlers need for budgets and virtual channels (an interface, so tests can use a fake). */
export interface VirtualApi {
  requestBudget(args: { hub: Address; asset: Address; sendAmount: bigint; receiveAmount: bigint; challengeDuration: number }): Promise<BudgetSummary>;
  getBudget(hub: Address): Promise<BudgetSummary | undefined>;
  closeBudget(hub: Address): Promise<BudgetSummary>;
  /** Starts (or returns) the exit of the budget on chain without the hub. */
  exitBudget(hub: Address): Promise<BudgetExitSummary>;
  getBudgetExit(hub: Address): Promise<BudgetExitSummary | undefined>;
  create(args: { payee: Address; hub: Address; amount: bigint }): Promise<VirtualSummary>;
  pay(channelId: Bytes32, amount: bigint): Promise<{ total: bigint }>;
  close(channelId: Bytes32): Promise<VirtualSummary>;
  get(channelId: Bytes32): Promise<VirtualSummary | undefined>;
  list(): Promise<VirtualSummary[]>;
}

const hex = (n: bigint) => `0x${n.toString(16)}` as const;

export function budgetToWire(b: BudgetSummary): MethodResult<'budget_get'> {
  return { hub: b.hub, ledgerId: b.ledgerId, asset: b.asset, send: hex(b.send), receive: hex(b.receive), locked: hex(b.locked), status: b.status };
}

export function budgetExitToWire(e: BudgetExitSummary): MethodResult<'budget_getExit'> {
  const wire: MethodResult<'budget_getExit'> = { hub: e.hub, ledgerId: e.ledgerId, stage: e.stage, finalizesAt: e.finalizesAt };
  return e.detail === undefined ? wire : { ...wire, detail: e.detail.slice(0, 512) };
}

export function virtualToWire(v: VirtualSummary): MethodResult<'virtual_get'> {
  return { channelId: v.channelId, payer: v.payer, payee: v.payee, hub: v.hub, amount: hex(v.amount), paid: hex(v.paid), status: v.status };
}
