/**
 * Categorical cross-entropy with temperature (deel-torchlip's
 * TauCategoricalCrossentropyLoss; Béthune et al. 2022, "Pay attention to
 * your loss: understanding misconceptions about 1-Lipschitz neural
 * networks"): a 1-Lipschitz network has small logits, so they are scaled by
 * `tau` before the softmax, and the loss divided by `tau`:
 *
 *     L = mean_i ( -sum_k y_ik log softmax(tau f(x_i))_k ) / tau
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertMulticlass, assertPositive, labelsLike } from './validate';

export function tauCategoricalCrossentropy(yTrue: tf.Tensor, yPred: tf.Tensor, tau: number): tf.Scalar {
  const where = 'tauCategoricalCrossentropy';
  assertMulticlass(yPred, where);
  assertPositive(tau, 'tau', where);
  return tf.tidy(() => {
    const y = labelsLike(yTrue, yPred, where);
    const logProb = tf.logSoftmax(tf.mul(yPred, tau));
    return tf.div(tf.mean(tf.neg(tf.sum(tf.mul(y, logProb), 1))), tau) as tf.Scalar;
  });
}
