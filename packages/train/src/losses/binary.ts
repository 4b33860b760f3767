/**
 * Binary KR, hinge and HKR losses (Serrurier et al. 2021, "Achieving
 * robustness in classification using optimal transport with hinge
 * regularization"). `yPred` is `[B, 1]` (or `[B]`); labels may be +1/-1 or
 * 1/0: a label > 0 is the positive class.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_HKR_ALPHA, DEFAULT_MIN_MARGIN } from '../constants';
import { assertBinary, assertNonNegative, assertPositive, labelsLike, maskedColumnMean } from './validate';

/**
 * Wasserstein-1 estimate by Kantorovich-Rubinstein duality, to maximize:
 *
 *     KR = mean_{y > 0} f(x) - mean_{y <= 0} f(x)
 *
 * A class absent from the batch contributes 0 for its mean, never NaN.
 */
export function krBinary(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  const where = 'krBinary';
  assertBinary(yPred, where);
  return tf.tidy(() => {
    const f = tf.reshape(yPred, [-1, 1]);
    const pos = tf.cast(tf.greater(labelsLike(yTrue, f, where), 0), 'float32');
    return tf.sum(tf.sub(maskedColumnMean(f, pos), maskedColumnMean(f, tf.sub(1, pos)))) as tf.Scalar;
  });
}

/**
 * Hinge margin loss `mean(relu(minMargin - s f(x)))` with `s = +1` for
 * labels > 0 and `-1` otherwise (deel-torchlip v0.1.1: the full margin).
 */
export function hingeMarginBinary(yTrue: tf.Tensor, yPred: tf.Tensor, minMargin: number = DEFAULT_MIN_MARGIN): tf.Scalar {
  const where = 'hingeMarginBinary';
  assertBinary(yPred, where);
  assertPositive(minMargin, 'minMargin', where);
  return tf.tidy(() => {
    const f = tf.reshape(yPred, [-1, 1]);
    const sign = tf.sub(tf.mul(tf.cast(tf.greater(labelsLike(yTrue, f, where), 0), 'float32'), 2), 1);
    return tf.mean(tf.relu(tf.sub(minMargin, tf.mul(sign, f)))) as tf.Scalar;
  });
}

/**
 * Hinge-regularized KR loss, to minimize:
 *
 *     HKR = alpha * hingeMarginBinary(minMargin) - krBinary
 *
 * Note: deel-torchlip v0.1.1-alpha subtracted KR with its classes swapped
 * (`alpha * hinge + krBinary`), so its KR term pushed f down on positives
 * while the hinge pushed it up; the reference fixture records that value.
 * This is the sign of the paper and of later deel-torchlip releases, the same
 * as `hkrMulticlass`.
 */
export function hkrBinary(yTrue: tf.Tensor, yPred: tf.Tensor, alpha: number = DEFAULT_HKR_ALPHA, minMargin: number = DEFAULT_MIN_MARGIN): tf.Scalar {
  assertNonNegative(alpha, 'alpha', 'hkrBinary');
  return tf.tidy(() => tf.sub(tf.mul(hingeMarginBinary(yTrue, yPred, minMargin), alpha), krBinary(yTrue, yPred)) as tf.Scalar);
}
