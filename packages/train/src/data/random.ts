/**
 * Seeded pseudo-random numbers for reproducible shuffles: mulberry32
 * (Tommy Ettinger, public domain), 32 bits of state, period 2^32.
 */
import { assertArg } from '../errors';

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

/** Shuffles `items` in place (Fisher-Yates) with `rng`; returns `items`. */
export function shuffle<T extends { length: number; [i: number]: unknown }>(items: T, rng: () => number): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** A random permutation of 0..n-1. */
export function randomPermutation(n: number, rng: () => number): Uint32Array {
  assertArg(Number.isInteger(n) && n >= 0 && n <= 0xffffffff, () => `'n' must be a non-negative integer, got ${n}`);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return shuffle(order, rng);
}
