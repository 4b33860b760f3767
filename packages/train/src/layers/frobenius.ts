import * as tf from '@tensorflow/tfjs-core';

/** Floor of the divisor: a zero kernel stays zero instead of becoming NaN. */
const FROBENIUS_FLOOR = 1e-12;

/** `w / ||w||_F` over the whole tensor, differentiable in `w`. */
export function frobeniusNormalize<T extends tf.Tensor>(w: T): T {
  return tf.tidy(() => tf.div(w, tf.maximum(tf.norm(w), FROBENIUS_FLOOR)) as T);
}

/**
 * Each column of `w [in, out]` (one output neuron's weights) divided by its own
 * L2 norm, differentiable in `w` (deel-torchlip `frobenius_norm` with
 * `disjoint_neurons=True`, `weight / weight.norm(dim=1)` on torch's `[out, in]`).
 */
export function columnNormalize<T extends tf.Tensor>(w: T): T {
  return tf.tidy(() => tf.div(w, tf.maximum(tf.norm(w, 'euclidean', 0, true), FROBENIUS_FLOOR)) as T);
}
