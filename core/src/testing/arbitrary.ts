/**
 * Deterministic generators of protocol values for tests: a seeded PRNG so a failing case can be
 * reproduced from its seed.
 */
import { type Address, type Bytes32, type Hex, MAX_UINT256, bytesToHex } from '../hex.ts';
import { type Allocation, AllocationType, type Exit, type SingleAssetExit } from '../outcome.ts';
import type { State } from '../state.ts';

export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  /** xorshift32 */
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s;
  }
  int(maxExclusive: number): number {
    return this.next() % maxExclusive;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
  hex(n: number): Hex {
    return bytesToHex(this.bytes(n));
  }
  address(): Address {
    return this.hex(20);
  }
  bytes32(): Bytes32 {
    return this.hex(32);
  }
  amount(): bigint {
    switch (this.int(5)) {
      case 0:
        return 0n;
      case 1:
        return BigInt(this.int(1000));
      case 2:
        return MAX_UINT256 - BigInt(this.int(3));
      default:
        return BigInt(bytesToHex(this.bytes(1 + this.int(20))));
    }
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

export function arbitraryAllocation(r: Rng): Allocation {
  const allocationType = r.pick([AllocationType.simple, AllocationType.guarantee, AllocationType.withdrawHelper]);
  const destination: Bytes32 = r.int(2) ? `0x${'0'.repeat(24)}${r.address().slice(2)}` : r.bytes32();
  return { destination, amount: r.amount(), allocationType, metadata: r.hex(r.pick([0, 1, 31, 32, 33, 64, 100])) };
}

export function arbitraryExit(r: Rng): Exit {
  return Array.from({ length: r.int(4) }, (): SingleAssetExit => ({
    asset: r.int(3) === 0 ? '0x0000000000000000000000000000000000000000' : r.address(),
    assetMetadata: { assetType: r.pick([0, 1, 2, 3] as const), metadata: r.hex(r.pick([0, 5, 32, 70])) },
    allocations: Array.from({ length: r.int(5) }, () => arbitraryAllocation(r)),
  }));
}

export function arbitraryState(r: Rng): State {
  return {
    participants: Array.from({ length: 2 + r.int(3) }, () => r.address()),
    channelNonce: BigInt(r.next()) * BigInt(r.next()),
    appDefinition: r.address(),
    challengeDuration: r.int(2 ** 31),
    outcome: arbitraryExit(r),
    appData: r.hex(r.pick([0, 1, 32, 33, 128, 300])),
    turnNum: r.int(2 ** 31),
    isFinal: r.int(2) === 1,
  };
}
