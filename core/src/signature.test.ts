import { Wallet, getBytes, hashMessage, verifyMessage } from 'ethers';
import { describe, expect, it } from 'vitest';
import { CoreError } from './errors.ts';
import { bytesToHex } from './hex.ts';
import { PrivateKey, parseSignature, recoverSigner, signatureToHex, signatureToJSON } from './signature.ts';
import { Rng } from './testing/arbitrary.ts';

const KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

describe('EIP-191 signatures', () => {
  it('produce exactly what ethers signMessage(bytes32) produces, and recover to the signer', () => {
    const key = PrivateKey.fromHex(KEY);
    const wallet = new Wallet(KEY);
    expect(key.address).toBe(wallet.address.toLowerCase());
    const r = new Rng(3);
    for (let i = 0; i < 20; i++) {
      const hash = r.bytes(32);
      const sig = key.signHash(hash);
      expect(signatureToHex(sig)).toBe(wallet.signingKey.sign(getBytes(hashMessage(hash))).serialized);
      expect(recoverSigner(hash, sig)).toBe(key.address);
      expect(verifyMessage(hash, signatureToHex(sig)).toLowerCase()).toBe(key.address);
    }
  });

  it('recovers someone else for a different hash (tampering is detected)', () => {
    const key = PrivateKey.random();
    const hash = new Rng(5).bytes(32);
    const sig = key.signHash(hash);
    const tampered = hash.slice();
    tampered[0]! ^= 1;
    expect(recoverSigner(tampered, sig)).not.toBe(key.address);
  });

  it('rejects malformed signatures with an error naming the field', () => {
    const hash = new Rng(6).bytes(32);
    const sig = PrivateKey.random().signHash(hash);
    expect(() => recoverSigner(hash, { ...sig, v: 29 as 27 })).toThrowError(expect.objectContaining({ field: 'signature.v' }));
    expect(() => recoverSigner(hash, { ...sig, r: '0x1234' })).toThrowError(expect.objectContaining({ field: 'signature.r', code: 'invalid-length' }));
    expect(() => recoverSigner(hash, { ...sig, s: `0x${'zz'.repeat(32)}` })).toThrowError(expect.objectContaining({ field: 'signature.s', code: 'invalid-hex' }));
    expect(() => recoverSigner(hash, { ...sig, r: `0x${'00'.repeat(32)}` })).toThrowError(CoreError);
    expect(() => parseSignature({ v: 27, r: sig.r })).toThrowError(expect.objectContaining({ field: 'signature.s' }));
  });

  it('round-trips through JSON', () => {
    const sig = PrivateKey.random().signHash(new Rng(8).bytes(32));
    expect(parseSignature(JSON.parse(JSON.stringify(signatureToJSON(sig))))).toEqual(sig);
  });

  it('never lets a private key out through JSON or string conversion', () => {
    const key = PrivateKey.fromHex(KEY);
    expect(() => JSON.stringify({ key })).toThrow();
    expect(String(key)).not.toContain(KEY.slice(2));
    expect(`${key}`).toContain(key.address);
    expect(bytesToHex(key.exportBytes())).toBe(KEY);
  });
});


import { recoverRelayLogin, signRelayLogin } from './relay-login.ts';

describe('relay login', () => {
  it('recovers the wallet for the same relay and challenge only', () => {
    const key = PrivateKey.random();
    const challenge = new Rng(21).bytes32();
    const sig = signRelayLogin(key, 'ws://127.0.0.1:7000', challenge);
    expect(recoverRelayLogin('ws://127.0.0.1:7000', challenge, sig)).toBe(key.address);
    expect(recoverRelayLogin('ws://evil.example', challenge, sig)).not.toBe(key.address);
    expect(recoverRelayLogin('ws://127.0.0.1:7000', new Rng(22).bytes32(), sig)).not.toBe(key.address);
  });
});
