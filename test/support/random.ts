/**
 * Seeded test data, all drawn from @lip/core's mulberry32 (the project's one
 * generator): the same seed gives the same values on every run and machine.
 */
import { mulberry32 } from '@lip/core';

export { mulberry32 };
export type { Rng } from '@lip/core';

/** A stream of floats uniform in [lo, hi), from `mulberry32(seed)`. */
export function uniformStream(seed: number, lo = -1, hi = 1): () => number {
  const rand = mulberry32(seed);
  return () => lo + rand() * (hi - lo);
}

/** `n` float32 values uniform in [lo, hi). */
export function uniformArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, uniformStream(seed, lo, hi));
}

/** `n` float64 values uniform in [lo, hi). */
export function uniformArray64(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, uniformStream(seed, lo, hi));
}

/** `n` float32 values, standard normal times `scale` (Box-Muller on mulberry32). */
export function normalArray(n: number, seed: number, scale = 1): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => {
    const u = Math.max(rand(), 1e-12);
    return scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  });
}

/** `n` bytes uniform in [0, 256). */
export function seededBytes(n: number, seed: number): Uint8Array {
  const rand = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
}

/** The number of elements of an array of `shape`. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

/** `n` images of shape `chw`, values uniform in [0, 1). */
export function randomImages(n: number, chw: readonly number[], seed: number): Float32Array {
  return uniformArray(n * sizeOf(chw), seed, 0, 1);
}
