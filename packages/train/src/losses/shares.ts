/**
 * Losses of one shard of a batch, as its exact share of the full-batch loss,
 * for data-parallel training: the shards' shares add up to the full-batch
 * loss, so their gradients add up to the full-batch gradient.
 *
 * A mean over the batch is shared by dividing the shard's sum by the whole
 * batch size. KR needs the per-class counts of the whole batch: with
 * `P_k` samples of class k among `B` (`N_k = B - P_k`), the batch's
 *
 *     KR = 1/K sum_k ( sum_{i: y_ik = 1} f_ik / P_k - sum_{i: y_ik = 0} f_ik / N_k )
 *
 * is a sum over samples, and a shard's share is the same sum over its own
 * samples with the global `P_k`, `N_k` (a count of 0 divides by 1, as
 * `krMulticlass` does: the empty mean is 0).
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';
import { DEFAULT_HKR_ALPHA, DEFAULT_MIN_MARGIN } from '../constants';
import { lseHkrMulticlass } from './lse_hkr';
import { marginCategoricalCrossentropy } from './margin_cce';
import { hingeMulticlass } from './multiclass';
import { softHkrMulticlass } from './soft_hkr';
import { tauCategoricalCrossentropy } from './tau_cce';
import { assertMulticlass, labelsLike } from './validate';

/** What a shard needs to know about the whole batch. */
export interface BatchStatistics {
  /** Samples in the whole batch. */
  size: number;
  /** Samples of each class in the whole batch. */
  positives: number[];
}

/** Statistics of a batch from its class labels. */
export function batchStatistics(labels: ArrayLike<number>, numClasses: number): BatchStatistics {
  const positives = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    assertArg(Number.isInteger(c) && c >= 0 && c < numClasses, () => `batchStatistics: label ${c} at ${i} is outside [0, ${numClasses})`);
    positives[c]++;
  }
  return { size: labels.length, positives };
}

function assertStatistics(stats: BatchStatistics, classes: number, rows: number, where: string): void {
  assertArg(
    stats.positives.length === classes && Number.isInteger(stats.size) && stats.size >= rows,
    () => `${where}: 'stats' describe ${stats.positives.length} classes and ${stats.size} samples, the shard has ${classes} classes and ${rows} rows`,
  );
}

/** The shard's share of the batch's `krMulticlass` (see the file comment). */
export function krMulticlassShare(yTrue: tf.Tensor, yPred: tf.Tensor, stats: BatchStatistics): tf.Scalar {
  const where = 'krMulticlassShare';
  assertMulticlass(yPred, where);
  const [rows, classes] = yPred.shape as [number, number];
  assertStatistics(stats, classes, rows, where);
  return tf.tidy(() => {
    const pos = tf.cast(tf.greater(labelsLike(yTrue, yPred, where), 0), 'float32');
    const posScale = stats.positives.map((p) => 1 / (Math.max(p, 1) * classes));
    const negScale = stats.positives.map((p) => 1 / (Math.max(stats.size - p, 1) * classes));
    const negW = tf.tensor2d(negScale, [1, classes]);
    // pos / (K P_k) - (1 - pos) / (K N_k) = pos (1/(K P_k) + 1/(K N_k)) - 1/(K N_k)
    const weight = tf.sub(tf.mul(pos, tf.add(tf.tensor2d(posScale, [1, classes]), negW)), negW);
    return tf.sum(tf.mul(weight, yPred)) as tf.Scalar;
  });
}

/** `loss(shard) * rows / B`: the share of a loss that is a mean over the samples. */
function meanShare(loss: tf.Scalar, rows: number, stats: BatchStatistics): tf.Scalar {
  return tf.mul(loss, rows / stats.size) as tf.Scalar;
}

/** The shard's share of `hingeMulticlass` (a mean over the batch). */
export function hingeMulticlassShare(yTrue: tf.Tensor, yPred: tf.Tensor, stats: BatchStatistics, minMargin: number = DEFAULT_MIN_MARGIN): tf.Scalar {
  return tf.tidy(() => meanShare(hingeMulticlass(yTrue, yPred, minMargin), yPred.shape[0] as number, stats));
}

/** The shard's share of `hkrMulticlass = alpha * hinge - KR`. */
export function hkrMulticlassShare(
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  stats: BatchStatistics,
  alpha: number = DEFAULT_HKR_ALPHA,
  minMargin: number = DEFAULT_MIN_MARGIN,
): tf.Scalar {
  return tf.tidy(() => tf.sub(tf.mul(hingeMulticlassShare(yTrue, yPred, stats, minMargin), alpha), krMulticlassShare(yTrue, yPred, stats)) as tf.Scalar);
}

/** The shard's share of `tauCategoricalCrossentropy` (a mean over the batch). */
export function tauCategoricalCrossentropyShare(yTrue: tf.Tensor, yPred: tf.Tensor, stats: BatchStatistics, tau: number): tf.Scalar {
  return tf.tidy(() => meanShare(tauCategoricalCrossentropy(yTrue, yPred, tau), yPred.shape[0] as number, stats));
}

/** The shard's share of `lseHkrMulticlass` (a mean over the batch). */
export function lseHkrMulticlassShare(
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  stats: BatchStatistics,
  alpha?: number,
  minMargin?: number,
  temperature?: number,
  penalty?: number,
): tf.Scalar {
  return tf.tidy(() => meanShare(lseHkrMulticlass(yTrue, yPred, alpha, minMargin, temperature, penalty), yPred.shape[0] as number, stats));
}

/**
 * The shard's share of `softHkrMulticlass` (a mean over the batch at one
 * softmax temperature: the batch's, taken from the loss's state before the step).
 */
export function softHkrMulticlassShare(
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  stats: BatchStatistics,
  alpha?: number,
  minMargin?: number,
  softmaxTemperature?: number,
): tf.Scalar {
  return tf.tidy(() => meanShare(softHkrMulticlass(yTrue, yPred, alpha, minMargin, softmaxTemperature), yPred.shape[0] as number, stats));
}

/** The shard's share of `marginCategoricalCrossentropy` (a mean over the batch). */
export function marginCategoricalCrossentropyShare(
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  stats: BatchStatistics,
  offset?: number,
  temperature?: number,
): tf.Scalar {
  return tf.tidy(() => meanShare(marginCategoricalCrossentropy(yTrue, yPred, offset, temperature), yPred.shape[0] as number, stats));
}

/**
 * The shard's share of the batch's mean |logit| over its B x K logits:
 * sum |f| / (B K). What a training step tells a loss with state
 * (`LipLoss.observeStep`: soft_hkr's moving mean).
 */
export function meanAbsLogitShare(yPred: tf.Tensor, stats: BatchStatistics): tf.Scalar {
  assertMulticlass(yPred, 'meanAbsLogitShare');
  return tf.tidy(() => tf.div(tf.sum(tf.abs(yPred)), stats.size * (yPred.shape[1] as number)) as tf.Scalar);
}

/** The shard's share of the batch accuracy: its correct predictions over B. */
export function accuracyShare(yTrue: tf.Tensor, yPred: tf.Tensor, stats: BatchStatistics): tf.Scalar {
  const where = 'accuracyShare';
  assertMulticlass(yPred, where);
  return tf.tidy(() => {
    const y = tf.reshape(yTrue, yPred.shape);
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(yPred, 1), tf.argMax(y, 1)), 'float32'));
    return tf.div(correct, stats.size) as tf.Scalar;
  });
}
