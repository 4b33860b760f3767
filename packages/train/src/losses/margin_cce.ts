/**
 * Cross-entropy with a margin offset (Prach & Lampert 2022, "Almost-orthogonal
 * layers for efficient general-purpose Lipschitz networks"): the true class's
 * logit is lowered by `offset` before a softmax at temperature `temperature`,
 * and the loss is scaled back by the temperature:
 *
 *     L = mean_i temperature * CE( softmax((f(x_i) - offset * y_i) / temperature), y_i )
 *
 * so a sample costs little only once its margin exceeds about `offset`. A
 * 1-Lipschitz network with margin m certifies radius m / sqrt(2), hence
 * offset = sqrt(2) * eps aims at radius eps: AOL's defaults (offset sqrt(2),
 * temperature 1/4: berndprach/AOL, src/aol_code/metrics/offset_xent_from_scores.py
 * and get_run_setting.py, commit 562bddf8b82973b624be02a6acc0165fc97cfcfd) aim
 * at radius 1; "1-Lipschitz Layers Compared" (Prach et al. 2024,
 * berndprach/1LipschitzLayersCompared, trainer/metrics/lipschit_ce_loss.py,
 * commit 01e3f2ad) trains with offset 2 sqrt(2) 36/255, temperature 1/4.
 * Checked against that formula in test/fixtures/losses-reference.json
 * (tools/make-loss-fixtures.py).
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_MARGIN_CCE_OFFSET, DEFAULT_MARGIN_CCE_TEMPERATURE } from '../constants';
import { assertMulticlass, assertNonNegative, assertPositive, labelsLike } from './validate';

export function marginCategoricalCrossentropy(
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  offset: number = DEFAULT_MARGIN_CCE_OFFSET,
  temperature: number = DEFAULT_MARGIN_CCE_TEMPERATURE,
): tf.Scalar {
  const where = 'marginCategoricalCrossentropy';
  assertMulticlass(yPred, where);
  assertNonNegative(offset, 'offset', where);
  assertPositive(temperature, 'temperature', where);
  return tf.tidy(() => {
    const y = labelsLike(yTrue, yPred, where);
    const logProb = tf.logSoftmax(tf.div(tf.sub(yPred, tf.mul(y, offset)), temperature));
    return tf.mul(tf.mean(tf.neg(tf.sum(tf.mul(y, logProb), 1))), temperature) as tf.Scalar;
  });
}
