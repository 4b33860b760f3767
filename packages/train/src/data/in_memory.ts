/**
 * Your own data as the training loop reads it: any of these becomes a
 * `Dataset` (NHWC float32 images and byte labels in memory), with no change
 * to the loop:
 *
 * - a `Dataset`-like object `{ images, labels, height, width, channels }`
 *   (what `readLabeledData` of @lip/core and `loadDataset` return);
 * - arrays `{ x, y }`: `x` a tensor `[N, H, W, C]` (or `[N, H, W]`, one
 *   channel), or a typed array / number array of N·H·W·C values with
 *   `inputShape: [H, W, C]` (also needed for a flat `[N, D]` tensor); `y`
 *   class indices (`[N]` or `[N, 1]`, tensor or array) or one-hot rows
 *   (`[N, K]` tensor, or N·K values with `numClasses: K`);
 * - a tf.data-style dataset (anything with `iterator()`, e.g.
 *   `tf.data.zip({xs, ys}).batch(32)`): its elements `{ xs, ys }` (or
 *   `[x, y]`), batches `[B, H, W, C]` or single samples `[H, W, C]`, are read once into memory, so it
 *   must be finite. The loop shuffles and batches by itself.
 *
 * Browser-safe: tfjs-core only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DataError, InvalidArgumentError, assertArg } from '../errors';
import type { Dataset } from './load';

/** Labelled images already in memory (the shape of `Dataset` and of @lip/core's `LabeledImages`). */
export interface ImagesData {
  images: Float32Array;
  labels: Uint8Array | ArrayLike<number>;
  height: number;
  width: number;
  channels: number;
  n?: number;
  classNames?: string[];
  source?: string;
}

/** Images and labels as tensors or arrays. */
export interface ArrayData {
  /** `[N, H, W, C]` or `[N, H, W]` tensor, or values (then `inputShape` is required). */
  x: tf.Tensor | ArrayLike<number>;
  /** Class indices `[N]`/`[N, 1]`, or one-hot `[N, K]`. */
  y: tf.Tensor | ArrayLike<number>;
  /** `[H, W, C]` of one sample, for flat `x`. */
  inputShape?: [number, number, number];
  /** K, for one-hot labels given as a flat array of N·K values. */
  numClasses?: number;
  classNames?: string[];
}

/** A tf.data-style dataset: `iterator()` yields `{ xs, ys }` or `[x, y]` elements (tensors). */
export interface TfDatasetLike {
  iterator(): Promise<{ next(): Promise<IteratorResult<unknown>> }>;
}

/** What `train()` accepts as a split of your own data. */
export type TrainDataSource = ImagesData | ArrayData | TfDatasetLike;

/** Your own data for `train()`: the training split, and optionally a validation split. */
export interface TrainData {
  train: TrainDataSource;
  /** Evaluated after each epoch (the `val_*` metrics). Default: none. */
  validation?: TrainDataSource;
  /** Class names, index = label. Default: the sources' own, else `'0'`, `'1'`, ... */
  classNames?: string[];
}

/** Most samples read from a tf.data dataset (it must be finite). */
export const MAX_DATASET_SAMPLES = 2 ** 24;

function isTensor(v: unknown): v is tf.Tensor {
  return v instanceof tf.Tensor;
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  return (ArrayBuffer.isView(v) && !(v instanceof DataView)) || Array.isArray(v);
}

function assertShape(shape: unknown, what: string): asserts shape is [number, number, number] {
  assertArg(
    Array.isArray(shape) && shape.length === 3 && shape.every((d) => Number.isInteger(d) && d > 0),
    () => `'${what}' must be [H, W, C] of positive integers, got ${JSON.stringify(shape)}`,
  );
}

/** Labels as bytes from class indices or one-hot rows. */
function labelBytes(y: tf.Tensor | ArrayLike<number>, n: number, numClasses: number | undefined, what: string): Uint8Array {
  let values: ArrayLike<number>;
  let perRow: number;
  if (isTensor(y)) {
    assertArg(
      y.rank >= 1 && y.rank <= 2 && y.shape[0] === n,
      () => `'${what}.y' must be [N] class indices or [N, K] one-hot rows for the ${n} images, got a tensor of shape [${y.shape.join(', ')}]`,
    );
    values = y.dataSync();
    perRow = y.rank === 2 ? y.shape[1]! : 1;
  } else {
    assertArg(isArrayLike(y), () => `'${what}.y' must be a tensor or an array of labels`);
    values = y;
    perRow = y.length === n ? 1 : (numClasses ?? 0);
    assertArg(
      perRow > 0 && y.length === n * perRow,
      () => `'${what}.y' holds ${y.length} values for ${n} images: pass N class indices, or N·K one-hot values with 'numClasses' K`,
    );
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let label: number;
    if (perRow === 1) {
      label = values[i]!;
    } else {
      label = 0;
      for (let k = 1; k < perRow; k++) if (values[i * perRow + k]! > values[i * perRow + label]!) label = k;
    }
    if (!(Number.isInteger(label) && label >= 0 && label < 256)) {
      throw new DataError(`'${what}.y' has label ${label} at index ${i}; labels must be integer class indices in [0, 256)`);
    }
    out[i] = label;
  }
  return out;
}

function checkFinite(images: Float32Array, perSample: number, what: string): void {
  for (let j = 0; j < images.length; j++) {
    if (!Number.isFinite(images[j]!)) {
      throw new DataError(
        `'${what}' holds a value that is ${Number.isNaN(images[j]!) ? 'NaN' : 'infinite'} (image ${Math.floor(j / perSample)}); ` + 'clean or drop that image',
      );
    }
  }
}

function fromArrays(data: ArrayData, what: string): Dataset {
  const { x } = data;
  let shape: [number, number, number];
  let values: Float32Array;
  let n: number;
  if (isTensor(x)) {
    if (x.rank === 4 || x.rank === 3) {
      shape = [x.shape[1]!, x.shape[2]!, x.rank === 4 ? x.shape[3]! : 1];
      if (data.inputShape !== undefined) {
        assertShape(data.inputShape, `${what}.inputShape`);
        assertArg(
          data.inputShape.every((d, i) => d === shape[i]),
          () => `'${what}.inputShape' is [${data.inputShape!.join(', ')}] but '${what}.x' has samples of shape [${shape.join(', ')}]`,
        );
      }
    } else {
      assertArg(
        data.inputShape !== undefined,
        () => `'${what}.x' has shape [${x.shape.join(', ')}]: pass 'inputShape' [H, W, C] to say how each sample is laid out`,
      );
      assertShape(data.inputShape, `${what}.inputShape`);
      shape = data.inputShape;
    }
    n = x.shape[0] ?? 0;
    values = Float32Array.from(x.dataSync());
  } else {
    assertArg(isArrayLike(x), () => `'${what}.x' must be a tensor or an array of pixel values`);
    assertArg(data.inputShape !== undefined, () => `'${what}.x' is a flat array: pass 'inputShape' [H, W, C] to say how each sample is laid out`);
    assertShape(data.inputShape, `${what}.inputShape`);
    shape = data.inputShape;
    values = x instanceof Float32Array ? x : Float32Array.from(x);
    const per = shape[0] * shape[1] * shape[2];
    assertArg(
      values.length % per === 0,
      () => `'${what}.x' holds ${values.length} values, not a whole number of [${shape.join(', ')}] samples (${per} values each)`,
    );
    n = values.length / per;
  }
  const per = shape[0] * shape[1] * shape[2];
  assertArg(n > 0 && values.length === n * per, () => `'${what}.x' holds ${values.length} values, not a whole number of [${shape.join(', ')}] samples`);
  checkFinite(values, per, `${what}.x`);
  const labels = labelBytes(data.y, n, data.numClasses, what);
  return { images: values, labels, n, height: shape[0], width: shape[1], channels: shape[2], classNames: data.classNames ?? [], source: what };
}

function fromImages(data: ImagesData, what: string): Dataset {
  const shape = [data.height, data.width, data.channels];
  assertShape(shape, `${what} height, width, channels`);
  assertArg(data.images instanceof Float32Array, () => `'${what}.images' must be a Float32Array (NHWC)`);
  const per = shape[0] * shape[1] * shape[2];
  const n = data.n ?? data.images.length / per;
  assertArg(
    Number.isInteger(n) && n > 0 && data.images.length === n * per,
    () => `'${what}.images' holds ${data.images.length} values, not ${data.n ?? 'a whole number of'} samples of [${shape.join(', ')}]`,
  );
  checkFinite(data.images, per, `${what}.images`);
  const labels = data.labels instanceof Uint8Array && data.labels.length === n ? data.labels : labelBytes(data.labels, n, undefined, what);
  return {
    images: data.images,
    labels,
    n,
    height: shape[0],
    width: shape[1],
    channels: shape[2],
    classNames: data.classNames ?? [],
    source: data.source ?? what,
  };
}

/** Reads a tf.data-style dataset into arrays (batched or single elements alike). */
async function fromTfDataset(dataset: TfDatasetLike, what: string): Promise<Dataset> {
  const iterator = await dataset.iterator();
  const xs: tf.Tensor[] = [];
  const ys: tf.Tensor[] = [];
  let samples = 0;
  let batched: boolean | undefined;
  try {
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) break;
      const element = value as { xs?: unknown; ys?: unknown } | unknown[];
      const [x, y] = Array.isArray(element) ? element : [element?.xs, element?.ys];
      if (!isTensor(x) || !isTensor(y)) {
        throw new InvalidArgumentError(
          `'${what}' must yield {xs, ys} (or [x, y]) tensors, as model.fitDataset expects; got ${JSON.stringify(Object.keys(element ?? {}))}`,
        );
      }
      // A batch has the sample axis first: labels [B] or [B, K] with B = x.shape[0] and x of rank 4.
      const isBatch = x.rank === 4;
      batched ??= isBatch;
      if (batched !== isBatch) throw new InvalidArgumentError(`'${what}' mixes batched and single elements`);
      xs.push(isBatch ? x : tf.expandDims(x, 0));
      ys.push(isBatch ? y : tf.expandDims(y, 0));
      samples += isBatch ? x.shape[0]! : 1;
      if (samples > MAX_DATASET_SAMPLES)
        throw new InvalidArgumentError(`'${what}' yields more than ${MAX_DATASET_SAMPLES} samples; is it infinite (repeat())?`);
    }
    assertArg(samples > 0, () => `'${what}' is empty`);
    const x = tf.concat(xs, 0);
    const y = tf.concat(ys, 0);
    try {
      return fromArrays({ x, y }, what);
    } finally {
      tf.dispose([x, y]);
    }
  } finally {
    tf.dispose([...xs, ...ys]);
  }
}

/** One split of your own data as a `Dataset` (see the module doc). `what` names it in errors (`data.train`). */
export async function toDataset(source: TrainDataSource, what: string): Promise<Dataset> {
  assertArg(
    source !== null && typeof source === 'object',
    () => `'${what}' must be data: {x, y}, {images, labels, height, width, channels} or a tf.data dataset`,
  );
  if (typeof (source as TfDatasetLike).iterator === 'function') return fromTfDataset(source as TfDatasetLike, what);
  if ('images' in source) return fromImages(source as ImagesData, what);
  if ('x' in source && 'y' in source) return fromArrays(source as ArrayData, what);
  throw new InvalidArgumentError(`'${what}' must be data: {x, y}, {images, labels, height, width, channels} or a tf.data dataset`);
}

/** The class count of labelled splits: the class names' count, else the largest label + 1. */
export function classCount(sets: ReadonlyArray<Pick<Dataset, 'labels'>>, classNames: readonly string[] | undefined): number {
  let max = -1;
  for (const s of sets) for (let i = 0; i < s.labels.length; i++) max = Math.max(max, s.labels[i]!);
  if (classNames !== undefined && classNames.length > 0) {
    if (max >= classNames.length) {
      throw new DataError(
        `a label is ${max} but only ${classNames.length} class names are given (${classNames.slice(0, 5).join(', ')}${classNames.length > 5 ? ', ...' : ''})`,
      );
    }
    return classNames.length;
  }
  return max + 1;
}
