import { describe, expect, it } from 'vitest';
import { bytesToHex } from './hex.ts';
import { encodeOutcome, hashOutcome } from './outcome.ts';
import { channelId, encodeState, hashState, parseState, stateToJSON } from './state.ts';
import { Rng, arbitraryState } from './testing/arbitrary.ts';
import { ethersChannelId, ethersEncodeOutcome, ethersEncodeState, ethersHashState } from './testing/ethers-reference.ts';
import { keccak256 } from './keccak.ts';

describe('state encoding', () => {
  it('matches the generic ABI encoder byte for byte on 300 varied states', () => {
    const r = new Rng(42);
    for (let i = 0; i < 300; i++) {
      const s = arbitraryState(r);
      expect(channelId(s), `seed 42 case ${i}`).toBe(ethersChannelId(s));
      expect(bytesToHex(encodeState(s)), `seed 42 case ${i}`).toBe(ethersEncodeState(s));
      expect(hashState(s)).toBe(ethersHashState(s));
      expect(bytesToHex(encodeOutcome(s.outcome))).toBe(ethersEncodeOutcome(s.outcome));
      expect(bytesToHex(hashOutcome(s.outcome))).toBe(bytesToHex(keccak256(encodeOutcome(s.outcome))));
    }
  });

  it('hashes with a precomputed channel id the same as without', () => {
    const s = arbitraryState(new Rng(7));
    expect(hashState(s, channelId(s))).toBe(hashState(s));
  });

  it('round-trips states through their JSON form exactly', () => {
    const r = new Rng(9);
    for (let i = 0; i < 100; i++) {
      const s = arbitraryState(r);
      if (s.outcome.length === 0) continue;
      const json = JSON.parse(JSON.stringify(stateToJSON(s)));
      const back = parseState(json);
      expect(back).toEqual(s);
      expect(stateToJSON(back)).toEqual(json);
    }
  });
});
