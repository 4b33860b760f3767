/** Argument checks shared by the losses (not exported from the package). */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';

/** `yTrue` cast to float32 with `yPred`'s shape (labels may be int, or `[B]` for `[B, 1]`). */
export function labelsLike(yTrue: tf.Tensor, yPred: tf.Tensor, where: string): tf.Tensor {
  assertArg(yTrue.size === yPred.size, () => `${where}: 'yTrue' [${yTrue.shape.join(', ')}] and 'yPred' [${yPred.shape.join(', ')}] must have the same size`);
  const y = yTrue.dtype === 'float32' ? yTrue : tf.cast(yTrue, 'float32');
  return y.shape.length === yPred.shape.length && y.shape.every((d, i) => d === yPred.shape[i]) ? y : tf.reshape(y, yPred.shape);
}

export function assertMulticlass(yPred: tf.Tensor, where: string): void {
  assertArg(
    yPred.rank === 2 && (yPred.shape[1] as number) >= 2,
    () => `${where}: 'yPred' must be [batch, classes] with at least 2 classes, got [${yPred.shape.join(', ')}]`,
  );
}

export function assertBinary(yPred: tf.Tensor, where: string): void {
  assertArg(
    yPred.rank === 1 || (yPred.rank === 2 && yPred.shape[1] === 1),
    () => `${where}: 'yPred' must be [batch, 1] or [batch], got [${yPred.shape.join(', ')}]`,
  );
}

export function assertPositive(value: unknown, name: string, where: string): asserts value is number {
  assertArg(typeof value === 'number' && Number.isFinite(value) && value > 0, () => `${where}: '${name}' must be a finite number > 0, got ${String(value)}`);
}

export function assertNonNegative(value: unknown, name: string, where: string): asserts value is number {
  assertArg(typeof value === 'number' && Number.isFinite(value) && value >= 0, () => `${where}: '${name}' must be a finite number >= 0, got ${String(value)}`);
}

/** Mean of `values` over the rows where `mask` is 1, per column; 0 for a column with no such row (not NaN). */
export function maskedColumnMean(values: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  // max(count, 1): an empty column has sum 0, so its mean is 0 and its
  // gradient is finite (divNoNan would give NaN gradients through `where`).
  return tf.div(tf.sum(tf.mul(values, mask), 0), tf.maximum(tf.sum(mask, 0), 1));
}

export function assertUnitInterval(value: unknown, name: string, where: string): asserts value is number {
  assertArg(typeof value === 'number' && value >= 0 && value <= 1, () => `${where}: '${name}' must be a number in [0, 1], got ${String(value)}`);
}

/** The lowest float32: a logit masked with it gets weight exp(lowest - max) = 0 in a softmax or logsumexp, and no gradient. */
export const MASKED_LOGIT = -3.4028234663852886e38;
