import * as tf from '@tensorflow/tfjs-core';

/** Floor of the divisor: a zero kernel stays zero instead of becoming NaN. */
const FROBENIUS_FLOOR = 1e-12;

/** `w / ||w||_F` over the whole tensor, differentiable in `w`. */
export function frobeniusNormalize<T extends tf.Tensor>(w: T): T {
  return tf.tidy(() => tf.div(w, tf.maximum(tf.norm(w), FROBENIUS_FLOOR)) as T);
}
