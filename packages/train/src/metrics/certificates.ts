/**
 * Certificates and certified robust accuracy on tensors; see
 * `certificates_array.ts` for the formula and plain-array versions.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';
import { isBinaryOutput } from './accuracy';
import { assertEpsilons, assertLipschitz } from './certificates_array';

/**
 * Certified radius of each sample, `[B]`: `(top1 - top2) / (sqrt(2) L)` for
 * logits `[B, K]`, `|f| / L` for a binary classifier's single logit.
 */
export function certificates(yPred: tf.Tensor, lipschitz = 1): tf.Tensor1D {
  const where = 'certificates';
  assertLipschitz(lipschitz, where);
  if (isBinaryOutput(yPred)) return tf.tidy(() => tf.div(tf.abs(tf.reshape(yPred, [-1])), lipschitz) as tf.Tensor1D);
  assertArg(
    yPred.rank === 2,
    () => `${where}: 'yPred' must be [batch, classes] or [batch, 1], got [${yPred.shape.join(', ')}]`,
  );
  return tf.tidy(() => {
    const { values } = tf.topk(yPred, 2, true);
    const [top1, top2] = tf.unstack(tf.transpose(values), 0);
    return tf.div(tf.sub(top1, top2), Math.SQRT2 * lipschitz) as tf.Tensor1D;
  });
}

/**
 * Certified robust accuracy at each radius in `eps`: the fraction of samples
 * correctly classified (as in `accuracy`) AND with certificate > eps.
 * Reads the data; returns plain numbers in the order of `eps`.
 */
export function certifiedRobustAccuracy(
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  eps: readonly number[],
  lipschitz = 1,
): number[] {
  const where = 'certifiedRobustAccuracy';
  assertEpsilons(eps, where);
  assertLipschitz(lipschitz, where);
  assertArg(
    yTrue.size === yPred.size,
    () =>
      `${where}: 'yTrue' [${yTrue.shape.join(', ')}] and 'yPred' [${yPred.shape.join(', ')}] must have the same size`,
  );
  const [correct, certs] = tf.tidy(() => {
    const binary = isBinaryOutput(yPred);
    const right = binary
      ? tf.equal(tf.greater(tf.reshape(yPred, [-1]), 0), tf.greater(tf.reshape(yTrue, [-1]), 0))
      : tf.equal(tf.argMax(yPred, 1), tf.argMax(tf.reshape(yTrue, yPred.shape), 1));
    return [right.dataSync(), certificates(yPred, lipschitz).dataSync()];
  });
  const n = certs.length;
  return eps.map((e) => {
    let count = 0;
    for (let i = 0; i < n; i++) if (correct[i] && certs[i] > e) count++;
    return n === 0 ? 0 : count / n;
  });
}
