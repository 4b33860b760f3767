/**
 * Seeded pseudo-random numbers: mulberry32 (Tommy Ettinger, public domain),
 * 32 bits of state, period 2^32. The one generator of the project: training
 * shuffles, attack random starts, and tests.
 */
import { assertArg } from './errors';

/** A generator of floats in [0, 1). `state` is its 32-bit state: `mulberry32(rng.state)` continues the sequence (for checkpoints). */
export interface Rng {
  (): number;
  readonly state: number;
}

/** A mulberry32 generator seeded with `seed` (an integer; taken modulo 2^32). */
export function mulberry32(seed: number): Rng {
  assertArg(Number.isInteger(seed), () => `'seed' must be an integer, got ${seed}`);
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  Object.defineProperty(next, 'state', { get: () => a, enumerable: true });
  return next as Rng;
}
