/**
 * SoftHKR: the multiclass HKR loss whose other classes are weighted by a
 * softmax, deel-torchlip's `SoftHKRMulticlassLoss` (Serrurier et al. 2024, "On
 * the explainable properties of 1-Lipschitz neural networks: an optimal
 * transport perspective"; deel-ai/deel-lip PR 86, merge 58bf1e47, and its
 * deel-torchlip port, read at commit a47769711772f213e77d9843b2456dc0129e1060,
 * deel/torchlip/modules/loss.py). Checked against that formula in
 * test/fixtures/losses-reference.json (tools/make-loss-fixtures.py).
 *
 * Per sample, with `y` the true class, `s_k = +1` if k = y else -1, and a
 * softmax temperature `T` (below):
 *
 *     w_y = 1,  w_k = softmax_{j != y}(T f_j)_k  for k != y      (not detached)
 *     kr    = -sum_k w_k s_k f_k
 *     hinge =  sum_k w_k relu(minMargin / 2 - s_k f_k)
 *     L     = mean_i ( (1 - alpha) * kr + alpha * hinge )
 *
 * `alpha` in [0, 1] as deel-torchlip's (deel-lip's `MulticlassSoftHKR` computes
 * KR / a + hinge: the same loss up to a factor, with a = alpha / (1 - alpha);
 * deel-torchlip replaces an alpha > 1 by alpha / (alpha + 1) with a warning,
 * this rejects it).
 *
 * The temperature follows a moving mean `m` of |f| (the loss's state, see
 * `softHkrTemperature` and `softHkrNextMean`): T = temperature * minMargin / m,
 * clamped, so the softmax sharpens as the logits shrink.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_SOFT_HKR_ALPHA, DEFAULT_SOFT_HKR_MIN_MARGIN } from '../constants';
import { assertArg } from '../errors';
import { assertMulticlass, assertPositive, assertUnitInterval, labelsLike, MASKED_LOGIT } from './validate';

/** deel-torchlip's clamps: of the mean in the temperature, of the temperature, of the stored mean. */
const MEAN_IN_TEMPERATURE_MAX = 20000;
const TEMPERATURE_RANGE = [0.005, 250] as const;
const STORED_MEAN_RANGE = [0.005, 1000] as const;

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/**
 * The softmax temperature for a moving mean `mean` of |f|:
 *
 *     T = clamp(temperature * minMargin / clamp(mean, minMargin, 20000), 0.005, 250)
 *
 * (deel-torchlip's `computeTemperatureSoftMax`; detached there, a number here).
 */
export function softHkrTemperature(mean: number, minMargin: number, temperature: number): number {
  const where = 'softHkrTemperature';
  assertPositive(mean, 'mean', where);
  assertPositive(minMargin, 'minMargin', where);
  assertPositive(temperature, 'temperature', where);
  return clamp((temperature * minMargin) / clamp(mean, minMargin, MEAN_IN_TEMPERATURE_MAX), TEMPERATURE_RANGE[0], TEMPERATURE_RANGE[1]);
}

/**
 * The moving mean after a batch whose B x K logits have mean |f| `meanAbsLogit`:
 *
 *     m' = clamp(alphaMean * m + (1 - alphaMean) * meanAbsLogit, 0.005, 1000)
 *
 * (deel-torchlip's `_update_mean`, which starts from m = minMargin). The
 * reference takes the temperature of a batch from the unclamped m' of that
 * same batch; `makeLoss('soft_hkr')` takes it from m before the batch (see
 * factory.ts), because a shard of a data-parallel step cannot know the mean
 * of the whole batch before its backward pass.
 */
export function softHkrNextMean(mean: number, meanAbsLogit: number, alphaMean: number): number {
  const where = 'softHkrNextMean';
  assertPositive(mean, 'mean', where);
  assertArg(Number.isFinite(meanAbsLogit) && meanAbsLogit >= 0, () => `${where}: 'meanAbsLogit' must be a finite number >= 0, got ${meanAbsLogit}`);
  assertUnitInterval(alphaMean, 'alphaMean', where);
  return clamp(alphaMean * mean + (1 - alphaMean) * meanAbsLogit, STORED_MEAN_RANGE[0], STORED_MEAN_RANGE[1]);
}

/** The SoftHKR loss (file comment) at softmax temperature `softmaxTemperature` (`softHkrTemperature`). */
export function softHkrMulticlass(
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  alpha: number = DEFAULT_SOFT_HKR_ALPHA,
  minMargin: number = DEFAULT_SOFT_HKR_MIN_MARGIN,
  softmaxTemperature: number = 1,
): tf.Scalar {
  const where = 'softHkrMulticlass';
  assertMulticlass(yPred, where);
  assertUnitInterval(alpha, 'alpha', where);
  assertPositive(minMargin, 'minMargin', where);
  assertPositive(softmaxTemperature, 'softmaxTemperature', where);
  return tf.tidy(() => {
    const isTrue = tf.greater(labelsLike(yTrue, yPred, where), 0);
    const weights = tf.where(isTrue, 1, tf.softmax(tf.where(isTrue, MASKED_LOGIT, tf.mul(yPred, softmaxTemperature))));
    const signed = tf.where(isTrue, yPred, tf.neg(yPred));
    const kr = tf.neg(tf.sum(tf.mul(signed, weights), 1));
    const hinge = tf.sum(tf.mul(tf.relu(tf.sub(minMargin / 2, signed)), weights), 1);
    return tf.mean(tf.add(tf.mul(kr, 1 - alpha), tf.mul(hinge, alpha))) as tf.Scalar;
  });
}
