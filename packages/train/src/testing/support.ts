/**
 * Test support shared by @lip/train's tests: seeded random arrays, running a
 * reference on the cpu backend, and reading the torchlip reference fixture.
 * Test-only like the rest of `testing/` (excluded from the build, see
 * linalg.ts); other packages' tests import it as `@lip/train/testing/support`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '@lip/core';

export { mulberry32 };

/** `n` float32 values uniform in [lo, hi), drawn from `mulberry32(seed)`. */
export function uniformArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => lo + rand() * (hi - lo));
}

/** Runs `fn` on the cpu backend (the reference), then switches back. */
export async function onCpu<T>(fn: () => T): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    return fn();
  } finally {
    await tf.setBackend(previous);
  }
}

/** A nested JSON array of numbers, as the fixture stores tensors. */
export type Nested = number | Nested[];

export function shapeOf(a: Nested): number[] {
  return Array.isArray(a) ? [a.length, ...shapeOf(a[0])] : [];
}

export function flat(a: Nested): number[] {
  return Array.isArray(a) ? a.flatMap(flat) : [a];
}

/** Fixture criterion: max|a - b| <= rel * max|b| (rel = 1e-6 by default). */
export function expectCloseRelMax(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  expect(maxRef).toBeGreaterThan(0);
  expect(maxDiff).toBeLessThanOrEqual(rel * maxRef);
}
