/**
 * Classification accuracy on tensors. `yTrue` is one-hot `[B, K]` (or
 * `[B, 1]` / `[B]` labels > 0 for the positive class when `yPred` has one
 * output).
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';

/** True when `yPred` is a binary classifier's single logit (`[B, 1]` or `[B]`). */
export function isBinaryOutput(yPred: tf.Tensor): boolean {
  return yPred.rank === 1 || (yPred.rank === 2 && yPred.shape[1] === 1);
}

/**
 * Fraction of correct predictions, a scalar: multiclass `argmax(yPred) ==
 * argmax(yTrue)`; binary `(yPred > 0) == (yTrue > 0)`.
 */
export function accuracy(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  const where = 'accuracy';
  assertArg(yTrue.size === yPred.size, () => `${where}: 'yTrue' [${yTrue.shape.join(', ')}] and 'yPred' [${yPred.shape.join(', ')}] must have the same size`);
  if (isBinaryOutput(yPred)) {
    return tf.tidy(() => {
      const predicted = tf.greater(tf.reshape(yPred, [-1]), 0);
      const actual = tf.greater(tf.reshape(yTrue, [-1]), 0);
      return tf.mean(tf.cast(tf.equal(predicted, actual), 'float32')) as tf.Scalar;
    });
  }
  assertArg(yPred.rank === 2, () => `${where}: 'yPred' must be [batch, classes], got [${yPred.shape.join(', ')}]`);
  return tf.tidy(() => {
    const y = tf.reshape(yTrue, yPred.shape);
    return tf.mean(tf.cast(tf.equal(tf.argMax(yPred, 1), tf.argMax(y, 1)), 'float32')) as tf.Scalar;
  });
}
