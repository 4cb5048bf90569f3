import { bytesTailSize, writeBytesTail, writeFixedHex, writeSmallUint, writeUint256 } from './abi.ts';
import { fail } from './errors.ts';
import {
  type Address,
  type Bytes32,
  type Hex,
  parseAddress,
  parseArray,
  parseBytes32,
  parseHexBytes,
  parseObject,
  parseSafeUint,
  parseUint,
  quantityToHex,
} from './hex.ts';
import { keccak256 } from './keccak.ts';

/** ExitFormat asset types. */
export const AssetType = { Default: 0, ERC721: 1, ERC1155: 2, Qualified: 3 } as const;
export type AssetType = (typeof AssetType)[keyof typeof AssetType];

/**
 * ExitFormat allocation types, as the deployed contracts number them
 * (`enum AllocationType {simple, withdrawHelper, guarantee}`).
 */
export const AllocationType = { simple: 0, withdrawHelper: 1, guarantee: 2 } as const;
export type AllocationType = (typeof AllocationType)[keyof typeof AllocationType];

export interface AssetMetadata {
  assetType: AssetType;
  metadata: Hex;
}

export interface Allocation {
  /** An external destination (address left-padded to 32 bytes) or a channel id. */
  destination: Bytes32;
  amount: bigint;
  allocationType: AllocationType;
  /** For a guarantee: abi.encode(bytes32 left, bytes32 right). Otherwise usually `0x`. */
  metadata: Hex;
}

export interface SingleAssetExit {
  /** The token address, or the zero address for ETH. */
  asset: Address;
  assetMetadata: AssetMetadata;
  allocations: Allocation[];
}

/** The outcome of a state: one exit per asset. */
export type Exit = SingleAssetExit[];

export const DEFAULT_ASSET_METADATA: AssetMetadata = { assetType: AssetType.Default, metadata: '0x' };

// ---- Encoding ------------------------------------------------------------------------------

function allocationSize(a: Allocation, path: () => string): number {
  return 128 + bytesTailSize(a.metadata, () => `${path()}.metadata`);
}

function singleAssetExitSize(e: SingleAssetExit, path: () => string): number {
  if (!Array.isArray(e.allocations)) fail('invalid-type', `${path()}.allocations`, 'expected an array');
  let size = 96 + 64 + bytesTailSize(e.assetMetadata.metadata, () => `${path()}.assetMetadata.metadata`) + 32 + 32 * e.allocations.length;
  for (let j = 0; j < e.allocations.length; j++) size += allocationSize(e.allocations[j]!, () => `${path()}.allocations[${j}]`);
  return size;
}

/** Size of the ABI encoding of `SingleAssetExit[]` as a dynamic value (length word onward). */
export function exitTailSize(exit: Exit, field = 'outcome'): number {
  if (!Array.isArray(exit)) fail('invalid-type', field, 'expected an array of single-asset exits');
  let size = 32 + 32 * exit.length;
  for (let i = 0; i < exit.length; i++) size += singleAssetExitSize(exit[i]!, () => `${field}[${i}]`);
  return size;
}

function checkUint8(n: number, field: () => string): void {
  if (!Number.isInteger(n) || n < 0 || n > 255) fail('out-of-range', field(), 'must be an integer in 0..255');
}

/** Writes the `SingleAssetExit[]` tail at `pos`; returns the bytes written. */
export function writeExitTail(out: Uint8Array, pos: number, exit: Exit, field = 'outcome'): number {
  const start = pos;
  writeSmallUint(out, pos, exit.length);
  const heads = pos + 32;
  pos = heads + 32 * exit.length;
  for (let i = 0; i < exit.length; i++) {
    const e = exit[i]!;
    const p = () => `${field}[${i}]`;
    writeSmallUint(out, heads + 32 * i, pos - heads);
    const base = pos;
    writeFixedHex(out, base, e.asset, 20, () => `${p()}.asset`);
    // assetMetadata tuple (uint8, bytes) starts right after the 3-word head
    writeSmallUint(out, base + 32, 96);
    const meta = base + 96;
    checkUint8(e.assetMetadata.assetType, () => `${p()}.assetMetadata.assetType`);
    writeSmallUint(out, meta, e.assetMetadata.assetType);
    writeSmallUint(out, meta + 32, 64);
    const metaLen = 64 + writeBytesTail(out, meta + 64, e.assetMetadata.metadata, () => `${p()}.assetMetadata.metadata`);
    const allocs = meta + metaLen;
    writeSmallUint(out, base + 64, allocs - base);
    writeSmallUint(out, allocs, e.allocations.length);
    const aHeads = allocs + 32;
    let q = aHeads + 32 * e.allocations.length;
    for (let j = 0; j < e.allocations.length; j++) {
      const a = e.allocations[j]!;
      const ap = () => `${p()}.allocations[${j}]`;
      writeSmallUint(out, aHeads + 32 * j, q - aHeads);
      writeFixedHex(out, q, a.destination, 32, () => `${ap()}.destination`);
      writeUint256(out, q + 32, a.amount, () => `${ap()}.amount`);
      checkUint8(a.allocationType, () => `${ap()}.allocationType`);
      writeSmallUint(out, q + 64, a.allocationType);
      writeSmallUint(out, q + 96, 128);
      q += 128 + writeBytesTail(out, q + 128, a.metadata, () => `${ap()}.metadata`);
    }
    pos = q;
  }
  return pos - start;
}

/** `abi.encode(SingleAssetExit[])` — the bytes whose keccak is the outcome hash. */
export function encodeOutcome(exit: Exit): Uint8Array {
  const out = new Uint8Array(32 + exitTailSize(exit));
  writeSmallUint(out, 0, 32);
  writeExitTail(out, 32, exit);
  return out;
}

/** Whether two outcomes are identical, compared by their canonical encoding. */
export function sameOutcome(a: Exit, b: Exit): boolean {
  const x = encodeOutcome(a);
  const y = encodeOutcome(b);
  return x.length === y.length && x.every((byte, i) => byte === y[i]);
}

export function hashOutcome(exit: Exit): Uint8Array {
  return keccak256(encodeOutcome(exit));
}

// ---- Helpers ---------------------------------------------------------------------------------

/** The destination for an external address: the address left-padded to 32 bytes. */
export function addressToDestination(address: Address): Bytes32 {
  return `0x${'0'.repeat(24)}${address.slice(2).toLowerCase()}`;
}

/** A destination is external (paid out on chain) when its first 12 bytes are zero. */
export function isExternalDestination(destination: Bytes32): boolean {
  return /^0x0{24}/.test(destination);
}

export function destinationToAddress(destination: Bytes32): Address {
  if (!isExternalDestination(destination)) fail('invalid-outcome', 'destination', 'not an external destination');
  return `0x${destination.slice(26)}`;
}

export function totalAllocated(exit: SingleAssetExit): bigint {
  let total = 0n;
  for (const a of exit.allocations) total += a.amount;
  return total;
}

// ---- JSON form -------------------------------------------------------------------------------

export interface AllocationJSON {
  destination: string;
  amount: string;
  allocationType: number;
  metadata: string;
}
export interface SingleAssetExitJSON {
  asset: string;
  assetMetadata: { assetType: number; metadata: string };
  allocations: AllocationJSON[];
}
export type ExitJSON = SingleAssetExitJSON[];

export function exitToJSON(exit: Exit): ExitJSON {
  return exit.map((e) => ({
    asset: e.asset,
    assetMetadata: { assetType: e.assetMetadata.assetType, metadata: e.assetMetadata.metadata },
    allocations: e.allocations.map((a) => ({
      destination: a.destination,
      amount: quantityToHex(a.amount),
      allocationType: a.allocationType,
      metadata: a.metadata,
    })),
  }));
}

const ASSET_TYPES = new Set<number>(Object.values(AssetType));
const ALLOCATION_TYPES = new Set<number>(Object.values(AllocationType));

export function parseAllocation(value: unknown, field: string): Allocation {
  const o = parseObject(value, field);
  const allocationType = parseSafeUint(o.allocationType, `${field}.allocationType`, 255);
  if (!ALLOCATION_TYPES.has(allocationType)) fail('out-of-range', `${field}.allocationType`, 'unknown allocation type');
  return {
    destination: parseBytes32(o.destination, `${field}.destination`),
    amount: parseUint(o.amount, `${field}.amount`),
    allocationType: allocationType as AllocationType,
    metadata: parseHexBytes(o.metadata, `${field}.metadata`),
  };
}

export function parseExit(value: unknown, field = 'outcome'): Exit {
  return parseArray(value, field).map((v, i) => {
    const f = `${field}[${i}]`;
    const o = parseObject(v, f);
    const m = parseObject(o.assetMetadata, `${f}.assetMetadata`);
    const assetType = parseSafeUint(m.assetType, `${f}.assetMetadata.assetType`, 255);
    if (!ASSET_TYPES.has(assetType)) fail('out-of-range', `${f}.assetMetadata.assetType`, 'unknown asset type');
    return {
      asset: parseAddress(o.asset, `${f}.asset`),
      assetMetadata: { assetType: assetType as AssetType, metadata: parseHexBytes(m.metadata, `${f}.assetMetadata.metadata`) },
      allocations: parseArray(o.allocations, `${f}.allocations`).map((a, j) => parseAllocation(a, `${f}.allocations[${j}]`)),
    };
  });
}
