/** Selecting samples and building batches without per-batch allocation. */
import { DataError, assertArg } from '../errors';

/** A batch: `images` holds `labels.length` rows of equal size. */
export interface SampleBatch {
  images: Float32Array;
  labels: Uint8Array;
}

/**
 * Indices of the first `k` samples of each class, class by class
 * (`[first of class 0, ..., first of class 1, ...]`): with k = 1 on the test
 * split, the reference's one attacked image per class.
 */
export function onePerClass(labels: ArrayLike<number>, k = 1, numClasses = 10): number[] {
  assertArg(Number.isInteger(k) && k > 0, () => `'k' must be a positive integer, got ${k}`);
  assertArg(Number.isInteger(numClasses) && numClasses > 0, () => `'numClasses' must be a positive integer, got ${numClasses}`);
  const picked: number[][] = Array.from({ length: numClasses }, () => []);
  let remaining = k * numClasses;
  for (let i = 0; i < labels.length && remaining > 0; i++) {
    const c = labels[i]!;
    if (!(Number.isInteger(c) && c >= 0 && c < numClasses)) {
      throw new DataError(`label ${c} at index ${i} is outside [0, ${numClasses})`);
    }
    if (picked[c]!.length < k) {
      picked[c]!.push(i);
      remaining--;
    }
  }
  const short = picked.findIndex((p) => p.length < k);
  if (short >= 0) {
    throw new DataError(`class ${short} has ${picked[short]!.length} of the ${k} samples asked for among ${labels.length} labels`);
  }
  return picked.flat();
}

/**
 * Copies rows `indices` of (`images`, `labels`) into `out` (or new arrays)
 * and returns views of exactly `indices.length` rows. Row size is
 * `images.length / labels.length`. Reusing `out` across batches avoids
 * allocating pixel buffers per batch.
 */
export function sliceBatch(images: Float32Array, labels: Uint8Array, indices: ArrayLike<number>, out?: SampleBatch): SampleBatch {
  const n = labels.length;
  assertArg(n > 0 && images.length % n === 0, () => `'images' (${images.length} values) must hold a whole number of rows for ${n} labels`);
  const rowSize = images.length / n;
  const m = indices.length;
  const dst: SampleBatch = out ?? { images: new Float32Array(m * rowSize), labels: new Uint8Array(m) };
  assertArg(
    dst.images.length >= m * rowSize && dst.labels.length >= m,
    () => `'out' holds ${dst.labels.length} rows (${dst.images.length} values) but ${m} rows of ${rowSize} are needed`,
  );
  for (let r = 0; r < m; r++) {
    const i = indices[r]!;
    assertArg(Number.isInteger(i) && i >= 0 && i < n, () => `'indices'[${r}] = ${i} is out of range [0, ${n})`);
    dst.images.set(images.subarray(i * rowSize, (i + 1) * rowSize), r * rowSize);
    dst.labels[r] = labels[i]!;
  }
  return dst.images.length === m * rowSize && dst.labels.length === m
    ? dst
    : { images: dst.images.subarray(0, m * rowSize), labels: dst.labels.subarray(0, m) };
}

/**
 * Splits `order` (e.g. a shuffled permutation) into consecutive batches of
 * `batchSize` indices, as views without copying; the last one is shorter
 * unless `dropRemainder`.
 */
export function* batchIndices(order: Uint32Array, batchSize: number, dropRemainder = false): Generator<Uint32Array> {
  assertArg(Number.isInteger(batchSize) && batchSize > 0, () => `'batchSize' must be a positive integer, got ${batchSize}`);
  for (let start = 0; start < order.length; start += batchSize) {
    const end = Math.min(start + batchSize, order.length);
    if (dropRemainder && end - start < batchSize) return;
    yield order.subarray(start, end);
  }
}
