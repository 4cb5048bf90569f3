import { fail } from './errors.ts';
import { type Address, type Bytes32, hexToBytes } from './hex.ts';
import { keccak256 } from './keccak.ts';
import type { PrivateKey, Signature } from './signature.ts';
import { recoverSigner } from './signature.ts';

/**
 * Proving a wallet address to the message relay: the relay sends a fresh 32-byte challenge and
 * the wallet signs keccak256("channel-wallet relay login\n" ‖ relay origin ‖ "\n" ‖ challenge)
 * with the EIP-191 prefix. The domain string and the relay's origin keep the signature from
 * being usable as anything else (a state, a voucher) or at any other relay.
 */
const DOMAIN = 'channel-wallet relay login\n';

export function relayLoginHash(relayOrigin: string, challenge: Bytes32): Uint8Array {
  const c = hexToBytes(challenge, 'challenge');
  if (c.length !== 32) fail('invalid-length', 'challenge', `expected 32 bytes, got ${c.length}`);
  const text = new TextEncoder().encode(`${DOMAIN}${relayOrigin}\n`);
  const buf = new Uint8Array(text.length + 32);
  buf.set(text, 0);
  buf.set(c, text.length);
  return keccak256(buf);
}

export function signRelayLogin(key: PrivateKey, relayOrigin: string, challenge: Bytes32): Signature {
  return key.signHash(relayLoginHash(relayOrigin, challenge));
}

export function recoverRelayLogin(relayOrigin: string, challenge: Bytes32, signature: Signature): Address {
  return recoverSigner(relayLoginHash(relayOrigin, challenge), signature);
}
