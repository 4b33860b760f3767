/**
 * LseHKR: the multiclass HKR loss with a log-sum-exp soft maximum over the
 * other classes, deel-torchlip's `LseHKRMulticlassLoss` (deel-ai/deel-torchlip
 * PRs 36 and 38; read at commit a47769711772f213e77d9843b2456dc0129e1060,
 * deel/torchlip/modules/loss.py). Checked against that formula in
 * test/fixtures/losses-reference.json (tools/make-loss-fixtures.py).
 *
 * Per sample, with `z = temperature * f(x)` and `y` the true class:
 *
 *     t      = log(K - 1) / (minMargin * penalty / 2)
 *     lseNeg = log(sum_{k != y} exp(t z_k)) / t     (max_{k != y} z_k <= lseNeg <= max + penalty * minMargin / 2)
 *     kr     = lseNeg - z_y
 *     hinge  = relu(minMargin / 2 - z_y) + relu(minMargin / 2 + lseNeg)
 *     L      = mean_i ( (1 - alpha) * kr + alpha * hinge )
 *
 * `alpha` in [0, 1] (1: hinge only, 0: KR only). deel-torchlip replaces an
 * alpha > 1 by alpha / (alpha + 1) with a warning; this rejects it.
 * With K = 2, `t = log 1 = 0` and the reference returns NaN; here lseNeg is
 * then the other class's logit, the formula's limit as t -> 0 (a log-sum-exp
 * of one term is that term).
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_LSE_HKR_ALPHA, DEFAULT_LSE_HKR_MIN_MARGIN, DEFAULT_LSE_HKR_PENALTY, DEFAULT_LSE_HKR_TEMPERATURE } from '../constants';
import { assertMulticlass, assertPositive, assertUnitInterval, labelsLike, MASKED_LOGIT } from './validate';

export function lseHkrMulticlass(
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  alpha: number = DEFAULT_LSE_HKR_ALPHA,
  minMargin: number = DEFAULT_LSE_HKR_MIN_MARGIN,
  temperature: number = DEFAULT_LSE_HKR_TEMPERATURE,
  penalty: number = DEFAULT_LSE_HKR_PENALTY,
): tf.Scalar {
  const where = 'lseHkrMulticlass';
  assertMulticlass(yPred, where);
  assertUnitInterval(alpha, 'alpha', where);
  assertPositive(minMargin, 'minMargin', where);
  assertPositive(temperature, 'temperature', where);
  assertPositive(penalty, 'penalty', where);
  const classes = yPred.shape[1] as number;
  return tf.tidy(() => {
    const isTrue = tf.greater(labelsLike(yTrue, yPred, where), 0);
    const z = tf.mul(yPred, temperature);
    const positive = tf.sum(tf.where(isTrue, z, 0), 1);
    let lseNeg: tf.Tensor;
    if (classes === 2) {
      lseNeg = tf.sum(tf.where(isTrue, 0, z), 1);
    } else {
      const t = Math.log(classes - 1) / ((minMargin * penalty) / 2);
      lseNeg = tf.div(tf.logSumExp(tf.where(isTrue, MASKED_LOGIT, tf.mul(z, t)), 1), t);
    }
    const kr = tf.sub(lseNeg, positive);
    const hinge = tf.add(tf.relu(tf.sub(minMargin / 2, positive)), tf.relu(tf.add(lseNeg, minMargin / 2)));
    return tf.mean(tf.add(tf.mul(kr, 1 - alpha), tf.mul(hinge, alpha))) as tf.Scalar;
  });
}
