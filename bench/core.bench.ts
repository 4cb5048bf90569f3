/**
 * The protocol core against the straightforward ethers v6 implementation (generic AbiCoder,
 * keccak256, signMessage/verifyMessage), the way the reference TypeScript helpers do it.
 */
import { AbiCoder, Wallet, getBytes, hashMessage, keccak256 as ethersKeccak, verifyMessage } from 'ethers';
import {
  AllocationType,
  PrivateKey,
  type State,
  addressToDestination,
  hashStateBytes,
  isSignatureBy,
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
  // Vouchers as a payee receives them: signed by a remote payer (ethers), unknown to our caches.
  const payerWallet = Wallet.createRandom();
  const payer = payerWallet.address.toLowerCase() as `0x${string}`;
  const voucherHexes = Array.from({ length: SAMPLES }, (_, i) => payerWallet.signingKey.sign(hashMessage(getBytes(ethersKeccak(coder.encode(['bytes32', 'uint256'], [channel, BigInt(i + 1)]))))).serialized);
  const vouchers = voucherHexes.map((hex, i) => ({
    channelId: channel as `0x${string}`,
    amount: BigInt(i + 1),
    signature: { r: hex.slice(0, 66) as `0x${string}`, s: `0x${hex.slice(66, 130)}` as `0x${string}`, v: parseInt(hex.slice(130), 16) as 27 | 28 },
  }));
  // Signatures from a counterparty (made with ethers, so unknown to our caches), as a payee
  // checks a payer's vouchers: ours recovers the first and then verifies with the known key.
  const remoteWallet = Wallet.createRandom();
  const remote = { address: remoteWallet.address.toLowerCase() as `0x${string}` };
  const remoteHashes = hashes;
  const remoteSigHexes = remoteHashes.map((h) => remoteWallet.signingKey.sign(hashMessage(h)).serialized);
  const remoteSigs = remoteSigHexes.map((hex) => ({ r: hex.slice(0, 66) as `0x${string}`, s: `0x${hex.slice(66, 130)}` as `0x${string}`, v: parseInt(hex.slice(130), 16) as 27 | 28 }));
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
      'verify known signer',
      () => {
        const i = r++ % SAMPLES;
        if (!isSignatureBy(remoteHashes[i]!, remoteSigs[i]!, remote.address)) throw new Error('bad');
      },
      () => {
        const i = rb++ % SAMPLES;
        if (verifyMessage(remoteHashes[i]!, remoteSigHexes[i]!).toLowerCase() !== remote.address) throw new Error('bad');
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
      () => verifyVoucher(vouchers[v++ % SAMPLES]!, payer),
      () => {
        const i = vb++ % SAMPLES;
        const h = getBytes(ethersKeccak(coder.encode(['bytes32', 'uint256'], [channel, vouchers[i]!.amount])));
        if (verifyMessage(h, voucherHexes[i]!).toLowerCase() !== payer) throw new Error('bad voucher');
      },
      { minRatio: 1 },
    ),
  ];
  printTable(`Protocol core (keccak: ${keccakImplementation()})`, rows);
  return rows;
}
