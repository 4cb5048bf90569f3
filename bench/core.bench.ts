/**
 * The protocol core against the straightforward ethers v6 implementation (generic AbiCoder,
 * keccak256, signMessage/verifyMessage), the way the reference TypeScript helpers do it.
 */
import { AbiCoder, Wallet, getBytes, keccak256 as ethersKeccak, verifyMessage } from 'ethers';
import {
  AllocationType,
  PrivateKey,
  type State,
  addressToDestination,
  hashStateBytes,
  keccakImplementation,
  keccakReady,
  recoverSigner,
  signatureToHex,
  signVoucher,
  verifyVoucher,
} from '../core/src/index.ts';
import { ethersHashState } from '../core/src/testing/ethers-reference.ts';
import { type Comparison, compare, printTable } from './harness.ts';

const KEY = '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba';

function ledgerLikeState(alice: string, bob: string): State {
  return {
    participants: [alice as `0x${string}`, bob as `0x${string}`],
    channelNonce: 1234n,
    appDefinition: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
    challengeDuration: 86_400,
    outcome: [
      {
        asset: '0x0000000000000000000000000000000000000000',
        assetMetadata: { assetType: 0, metadata: '0x' },
        allocations: [
          { destination: addressToDestination(alice as `0x${string}`), amount: 10n ** 18n, allocationType: AllocationType.simple, metadata: '0x' },
          { destination: addressToDestination(bob as `0x${string}`), amount: 2n * 10n ** 18n, allocationType: AllocationType.simple, metadata: '0x' },
        ],
      },
    ],
    appData: '0x',
    turnNum: 42,
    isFinal: false,
  };
}

export async function runCoreBench(): Promise<Comparison[]> {
  await keccakReady;
  const key = PrivateKey.fromHex(KEY);
  const wallet = new Wallet(KEY);
  const state = ledgerLikeState(key.address, '0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
  const hash = hashStateBytes(state);
  const coder = AbiCoder.defaultAbiCoder();
  const channel = '0x' + 'ab'.repeat(32);
  let amount = 1n;
  // Distinct signatures, more than the recovery cache holds, so every recovery is real work.
  const SAMPLES = 5000;
  const hashes = Array.from({ length: SAMPLES }, (_, i) => hashStateBytes({ ...state, turnNum: i }));
  const sigs = hashes.map((h) => key.signHash(h));
  const sigHexes = sigs.map(signatureToHex);
  const vouchers = Array.from({ length: SAMPLES }, (_, i) => signVoucher(channel as `0x${string}`, BigInt(i + 1), key));
  const voucherHexes = vouchers.map((v) => signatureToHex(v.signature));
  let r = 0;
  let rb = 0;
  let v = 0;
  let vb = 0;

  const rows = [
    compare('encode+hash state', () => hashStateBytes(state), () => ethersHashState(state), { minRatio: 5 }),
    compare('sign state hash', () => key.signHash(hash), () => wallet.signMessageSync(hash), { minRatio: 1 }),
    compare(
      'recover signer',
      () => {
        const i = r++ % SAMPLES;
        return recoverSigner(hashes[i]!, sigs[i]!);
      },
      () => {
        const i = rb++ % SAMPLES;
        return verifyMessage(hashes[i]!, sigHexes[i]!);
      },
      { minRatio: 1 },
    ),
    compare(
      'voucher sign',
      () => signVoucher(channel as `0x${string}`, amount++, key),
      () => wallet.signMessageSync(getBytes(ethersKeccak(coder.encode(['bytes32', 'uint256'], [channel, amount++])))),
      { minRatio: 1 },
    ),
    compare(
      'voucher verify',
      () => verifyVoucher(vouchers[v++ % SAMPLES]!, key.address),
      () => {
        const i = vb++ % SAMPLES;
        const h = getBytes(ethersKeccak(coder.encode(['bytes32', 'uint256'], [channel, vouchers[i]!.amount])));
        if (verifyMessage(h, voucherHexes[i]!) !== wallet.address) throw new Error('bad voucher');
      },
      { minRatio: 1 },
    ),
  ];
  printTable(`Protocol core (keccak: ${keccakImplementation()})`, rows);
  return rows;
}
