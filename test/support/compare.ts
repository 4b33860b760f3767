/**
 * Comparing numbers: the error measures and expectations the tests share.
 * tfjs-free; a tensor can be passed wherever values are (its `dataSync()`).
 */

/** Values, or anything with `dataSync()` (a tfjs tensor). */
export type Values = ArrayLike<number> | { dataSync(): ArrayLike<number> };

function valuesOf(x: Values): ArrayLike<number> {
  return 'dataSync' in x ? x.dataSync() : x;
}

/** max |a - b| over two arrays of one length; a NaN anywhere gives Infinity. */
export function maxAbsDiff(a: Values, b: Values): number {
  const x = valuesOf(a);
  const y = valuesOf(b);
  if (x.length !== y.length) throw new Error(`length mismatch: ${x.length} vs ${y.length}`);
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** max |a - b| / max |b| (`b` is the reference; a reference of zeros divides by 1e-30). */
export function maxRelDiff(a: Values, b: Values): number {
  const y = valuesOf(b);
  let scale = 0;
  for (let i = 0; i < y.length; i++) scale = Math.max(scale, Math.abs(y[i]));
  return maxAbsDiff(a, y) / Math.max(scale, 1e-30);
}

/** Fixture criterion: max|a - b| <= rel * max|b| (rel = 1e-6 by default), against a reference that is not all zeros. */
export function expectCloseRelMax(actual: Values, expected: Values, rel = 1e-6): void {
  const x = valuesOf(actual);
  const y = valuesOf(expected);
  expect(x.length).toBe(y.length);
  let maxRef = 0;
  for (let i = 0; i < y.length; i++) maxRef = Math.max(maxRef, Math.abs(y[i]));
  expect(maxRef).toBeGreaterThan(0);
  expect(maxAbsDiff(x, y)).toBeLessThanOrEqual(rel * maxRef);
}

/** A nested JSON array of numbers, as fixtures store tensors. */
export type Nested = number | Nested[];

export function shapeOf(a: Nested): number[] {
  return Array.isArray(a) ? [a.length, ...shapeOf(a[0])] : [];
}

export function flat(a: Nested): number[] {
  return Array.isArray(a) ? a.flatMap(flat) : [a];
}

/** The elements of an array as plain values (numbers, or BigInts for 64-bit integers). */
export function values(data: ArrayLike<number> | ArrayLike<bigint>): Array<number | bigint> {
  return Array.from(data as ArrayLike<number | bigint>);
}

/** The bit patterns of float32 `values`: equal lists mean the same floats, signed zeros and NaN payloads included. */
export function bitsOf(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}
