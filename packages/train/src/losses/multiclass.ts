/**
 * Multiclass KR, hinge and HKR losses (Serrurier et al. 2021, "Achieving
 * robustness in classification using optimal transport with hinge
 * regularization"), with deel-torchlip v0.1.1's formulas (checked against
 * its outputs in testdata/torchlip-v0.1.1-reference.json).
 *
 * tfjs convention: `loss(yTrue, yPred)` returns a scalar. `yTrue` is one-hot
 * `[B, K]` (an entry > 0 marks the true class), `yPred` the logits `[B, K]`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_HKR_ALPHA, DEFAULT_MIN_MARGIN } from '../constants';
import { assertMulticlass, assertNonNegative, assertPositive, labelsLike, maskedColumnMean } from './validate';

/**
 * Wasserstein-1 estimate by Kantorovich-Rubinstein duality, one vs all,
 * averaged over the K classes:
 *
 *     KR = 1/K sum_k ( mean_{i: y_ik = 1} f_k(x_i) - mean_{i: y_ik = 0} f_k(x_i) )
 *
 * To maximize (it is the KR term of HKR, not a loss to minimize). A class
 * with no sample in the batch (or no sample outside it) contributes 0 for
 * the missing mean, never NaN (as deel-torchlip's `nan_to_num`).
 */
export function krMulticlass(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  const where = 'krMulticlass';
  assertMulticlass(yPred, where);
  return tf.tidy(() => {
    const y = labelsLike(yTrue, yPred, where);
    const pos = tf.cast(tf.greater(y, 0), 'float32');
    const neg = tf.sub(1, pos);
    return tf.mean(tf.sub(maskedColumnMean(yPred, pos), maskedColumnMean(yPred, neg))) as tf.Scalar;
  });
}

/**
 * Multiclass hinge, the binary hinge applied one vs all, the true class
 * weighted by K - 1 to balance it against the K - 1 others:
 *
 *     H = mean_{i,k} w_ik relu(minMargin - s_ik f_k(x_i)),
 *     s_ik = +1 if y_ik > 0 else -1,  w_ik = K - 1 if y_ik > 0 else 1
 *
 * (the mean runs over all B x K entries).
 */
export function hingeMulticlass(yTrue: tf.Tensor, yPred: tf.Tensor, minMargin: number = DEFAULT_MIN_MARGIN): tf.Scalar {
  const where = 'hingeMulticlass';
  assertMulticlass(yPred, where);
  assertPositive(minMargin, 'minMargin', where);
  const classes = yPred.shape[1] as number;
  return tf.tidy(() => {
    const y = labelsLike(yTrue, yPred, where);
    const pos = tf.cast(tf.greater(y, 0), 'float32');
    const sign = tf.sub(tf.mul(pos, 2), 1);
    const weight = tf.add(tf.mul(pos, classes - 2), 1);
    return tf.mean(tf.mul(weight, tf.relu(tf.sub(minMargin, tf.mul(sign, yPred))))) as tf.Scalar;
  });
}

/**
 * Hinge-regularized KR loss, to minimize:
 *
 *     HKR = alpha * hingeMulticlass(minMargin) - krMulticlass
 */
export function hkrMulticlass(yTrue: tf.Tensor, yPred: tf.Tensor, alpha: number = DEFAULT_HKR_ALPHA, minMargin: number = DEFAULT_MIN_MARGIN): tf.Scalar {
  assertNonNegative(alpha, 'alpha', 'hkrMulticlass');
  return tf.tidy(() => tf.sub(tf.mul(hingeMulticlass(yTrue, yPred, minMargin), alpha), krMulticlass(yTrue, yPred)) as tf.Scalar);
}
