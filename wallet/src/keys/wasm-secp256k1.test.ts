import { afterAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bytesToHex } from '../../../core/src/hex.ts';
import { secp256k1 } from '../../../core/src/secp256k1.ts';
import { PrivateKey, type Signature, ethSignedMessageDigest, isSignatureBy, publicKeyToAddress, recoverSigner, useSecp256k1Backend } from '../../../core/src/signature.ts';
import { WASM_SECP256K1_URL, instantiateWasmSecp256k1, wasmSecp256k1Imports, wasmSecp256k1Backend } from './wasm-secp256k1.ts';

const bytes = await readFile(fileURLToPath(WASM_SECP256K1_URL));
const backend = await instantiateWasmSecp256k1(bytes);

afterAll(() => useSecp256k1Backend(undefined));

function hashes(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => crypto.getRandomValues(new Uint8Array(32)));
}

describe('libsecp256k1 in WebAssembly as the signing backend', () => {
  it('signs exactly as our JavaScript does, and recovers and checks the same signers', () => {
    const keys = Array.from({ length: 5 }, () => PrivateKey.random());
    const msgs = hashes(20);
    useSecp256k1Backend(undefined);
    const ours = keys.flatMap((k) => msgs.map((m) => k.signHash(m)));
    useSecp256k1Backend(backend);
    expect(keys.flatMap((k) => msgs.map((m) => k.signHash(m)))).toEqual(ours);
    // Signatures made outside PrivateKey, so nothing has them cached: recovered through the binary.
    for (const [i, k] of keys.entries()) {
      for (const m of hashes(10)) {
        const raw = backend.sign(ethSignedMessageDigest(m), k.exportBytes());
        const copy: Signature = { v: (27 + raw.recid) as 27 | 28, r: bytesToHex(raw.signature, 0, 32), s: bytesToHex(raw.signature, 32, 64) };
        expect(recoverSigner(m, copy)).toBe(k.address);
        expect(isSignatureBy(m, copy, k.address)).toBe(true);
        expect(isSignatureBy(m, copy, keys[(i + 1) % keys.length]!.address)).toBe(false);
        // The wrong recovery bit names someone else, as the adjudicator's ecrecover would.
        expect(isSignatureBy(m, { ...copy, v: copy.v === 27 ? 28 : 27 }, k.address)).toBe(false);
      }
    }
  });

  it('leaves what the binary refuses to our own code: a high-s signature recovers as ecrecover would; garbage is refused', () => {
    useSecp256k1Backend(backend);
    const k = PrivateKey.random();
    const [m] = hashes(1);
    const sig = k.signHash(m!);
    const highS = secp256k1.CURVE.n - BigInt(sig.s);
    const high: Signature = { v: sig.v === 27 ? 28 : 27, r: sig.r, s: `0x${highS.toString(16).padStart(64, '0')}` };
    const point = new secp256k1.Signature(BigInt(sig.r), highS).addRecoveryBit(high.v - 27).recoverPublicKey(ethSignedMessageDigest(m!));
    expect(publicKeyToAddress(point.toRawBytes(false))).toBe(k.address);
    expect(recoverSigner(m!, high)).toBe(k.address);
    expect(() => recoverSigner(m!, { v: 27, r: `0x${'00'.repeat(32)}`, s: sig.s })).toThrow();
    expect(() => recoverSigner(m!, { v: 27, r: `0x${'ff'.repeat(32)}`, s: sig.s })).toThrow();
  });

  it('leaves no secret in the binary’s memory after signing', async () => {
    const { instance } = await WebAssembly.instantiate(bytes, wasmSecp256k1Imports());
    const own = wasmSecp256k1Backend(instance);
    const secret = PrivateKey.random().exportBytes();
    own.sign(ethSignedMessageDigest(hashes(1)[0]!), secret);
    const memory = new Uint8Array((instance.exports['memory'] as WebAssembly.Memory).buffer);
    const hex = bytesToHex(secret).slice(2);
    // Scan for the secret (as bytes, at any offset).
    let found = false;
    for (let i = 0; i + 32 <= memory.length && !found; i++) {
      if (memory[i] === secret[0] && bytesToHex(memory, i, i + 32).slice(2) === hex) found = true;
    }
    expect(found).toBe(false);
  });
});
