/** Reproducible shuffles, drawn from @lip/core's seeded `mulberry32` (re-exported here). */
import { assertArg } from '../errors';

export { mulberry32 } from '@lip/core';
export type { Rng } from '@lip/core';

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
