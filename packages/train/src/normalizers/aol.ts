/**
 * AOL rescaling (Prach & Lampert 2022, "Almost-Orthogonal Layers for
 * Efficient General-Purpose Lipschitz Networks", Theorem 1): for a parameter
 * matrix P `[in, out]` (tfjs layout, y = x P),
 *
 *     W = diag(d) P,   d_i = (sum_j |P P^T|_ij + eps)^(-1/2)
 *
 * has ||W||_2 <= 1: W W^T = D P P^T D, and diag(sum_j |P P^T|_ij) - P P^T is
 * diagonally dominant, hence PSD. For a convolution with kernel K
 * `[kh, kw, cin, cout]` the same holds with (P P^T)_ij replaced by the full
 * cross-correlation of the kernel's input channels i and j, summed over every
 * spatial shift s: d_i = (sum_{j, s} |(K_i * K_j)(s)| + eps)^(-1/2) (any zero
 * padding; a stride only drops outputs).
 *
 * Transcribed from berndprach/AOL, src/aol_code/layers/aol/aol_rescale.py and
 * aol_conv2d_rescale.py (commit 9881e707f49d90fc002fccd2b2913a48279ccb29),
 * the same tfjs/Keras layouts, eps = 1e-6.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The reference's epsilon under the square root (a zero row stays finite). */
export const AOL_EPSILON = 1e-6;

/** `diag(d) P` for a dense parameter matrix `[in, out]`, differentiable in `p`. */
export function aolRescaleDense(p: tf.Tensor2D, eps: number = AOL_EPSILON): tf.Tensor2D {
  return tf.tidy(() => {
    const gram = tf.matMul(p, p, false, true); // [in, in]
    const d = tf.rsqrt(tf.add(tf.sum(tf.abs(gram), 1), eps));
    return tf.mul(p, tf.reshape(d, [-1, 1]));
  });
}

/**
 * The full cross-correlations of a kernel's channel slices, summed in absolute
 * value over the shifts and the second channel: `S_i = sum_{j, s} |(K_i * K_j)(s)|`
 * where K_i is `K[:, :, i, :]` (`byInput`, AOL) or `K[:, :, :, i]` (SLL's T). One
 * conv2d with the kernel as both the images (batch = channel i) and the
 * filters, padded by the kernel size minus one.
 */
export function kernelCrossCorrelations(k: tf.Tensor4D, byInput: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = k.shape;
    // Slices as images [n, kh, kw, depth] and as filters [kh, kw, depth, n].
    const images = byInput ? tf.transpose(k, [2, 0, 1, 3]) : tf.transpose(k, [3, 0, 1, 2]);
    const filters = byInput ? tf.transpose(k, [0, 1, 3, 2]) : k;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [kh - 1, kh - 1],
      [kw - 1, kw - 1],
      [0, 0],
    ];
    return tf.conv2d(images as tf.Tensor4D, filters as tf.Tensor4D, 1, pad); // [n, 2kh-1, 2kw-1, n]
  });
}

/** `K diag(d)` over the input channels, for a conv kernel `[kh, kw, cin, cout]`, differentiable in `k`. */
export function aolRescaleConv(k: tf.Tensor4D, eps: number = AOL_EPSILON): tf.Tensor4D {
  return tf.tidy(() => {
    const v = kernelCrossCorrelations(k, true); // [cin, 2kh-1, 2kw-1, cin]
    const d = tf.rsqrt(tf.add(tf.sum(tf.abs(v), [1, 2, 3]), eps));
    return tf.mul(k, tf.reshape(d, [1, 1, -1, 1]));
  });
}
