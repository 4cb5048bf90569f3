import { describe, expect, it } from 'vitest';
import { exitToJSON, parseExit } from './outcome.ts';
import { PrivateKey } from './signature.ts';
import { addSignature, isFullySigned, parseSignedState, signState, signedStateToJSON, unsigned } from './signed-state.ts';
import { parseFixedPart, parseVariablePart, stateToJSON } from './state.ts';
import { Rng, arbitraryExit, arbitraryState } from './testing/arbitrary.ts';

/** Through a real JSON string, as a message or a stored record would go. */
const viaJson = <T>(x: T): unknown => JSON.parse(JSON.stringify(x));

describe('JSON forms round-trip exactly', () => {
  it('outcomes, including uint256 extremes and empty metadata', () => {
    const r = new Rng(11);
    for (let i = 0; i < 200; i++) {
      const e = arbitraryExit(r);
      const json = viaJson(exitToJSON(e));
      expect(parseExit(json)).toEqual(e);
      expect(exitToJSON(parseExit(json))).toEqual(json);
    }
  });

  it('fixed and variable parts separately', () => {
    const s = arbitraryState(new Rng(12));
    const json = viaJson(stateToJSON(s));
    const fixed = parseFixedPart(json);
    const variable = parseVariablePart(json);
    expect({ ...fixed, ...variable }).toEqual(s);
  });

  it('signed states, with signature slots filled and empty, verified on parse', () => {
    const keys = [PrivateKey.random(), PrivateKey.random(), PrivateKey.random()];
    const r = new Rng(13);
    const s = { ...arbitraryState(r), participants: keys.map((k) => k.address) };
    let ss = unsigned(s);
    ss = addSignature(ss, signState(s, keys[2]!).signature);
    const partial = viaJson(signedStateToJSON(ss));
    expect(parseSignedState(partial)).toEqual(ss);
    expect(isFullySigned(parseSignedState(partial))).toBe(false);
    for (const k of keys.slice(0, 2)) ss = addSignature(ss, signState(s, k).signature);
    const full = viaJson(signedStateToJSON(ss));
    expect(parseSignedState(full)).toEqual(ss);
    expect(signedStateToJSON(parseSignedState(full))).toEqual(full);
    expect(isFullySigned(ss)).toBe(true);
  });
});
