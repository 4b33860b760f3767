/**
 * MaxMin activation (Blot, Cord & Thome 2016, "Max-min convolutional neural
 * networks for image classification"), deel-torchlip v0.1.1 semantics:
 *
 *     maxMin(x) = concat(relu(x), relu(-x))   on the channel (last) axis
 *
 * C channels become 2C: channel j is `max(x_j, 0)`, channel C + j is
 * `max(-x_j, 0)`. 1-Lipschitz and norm-preserving (`||maxMin(x)|| = ||x||`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';

export function maxMin(x: tf.Tensor): tf.Tensor {
  assertArg(x.rank >= 1, () => `maxMin: 'x' must have at least one axis (channels last), got a scalar`);
  return tf.tidy(() => tf.concat([tf.relu(x), tf.relu(tf.neg(x))], x.rank - 1));
}
