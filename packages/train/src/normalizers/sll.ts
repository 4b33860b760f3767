/**
 * The scales of SDP-based Lipschitz layers (SLL; Araujo, Havens, Delattre,
 * Allauzen and Hu 2023, "A Unified Algebraic Perspective on Lipschitz Neural
 * Networks", Theorem 3). The residual layer
 *
 *     y = x - 2 W T^(-1) relu(W^T x + b)        (paper: W [n, k], x in R^n)
 *
 * is 1-Lipschitz when the diagonal T >= 0 satisfies T - W^T W >= 0 (PSD),
 * which holds for
 *
 *     T_i = sum_j |W^T W|_ij q_j / q_i,   q = exp(q_raw) > 0
 *
 * (Q^-1 (T - W^T W) Q is diagonally dominant, Q = diag(q)). For a
 * convolution, W^T W is the convolution's Gram, whose entries are the full
 * cross-correlations of the kernel's output-channel slices at every shift.
 *
 * Transcribed from araujoalexandre/Lipschitz-SLL-Networks,
 * core/models/layers.py (SDPBasedLipschitzLinearLayer.compute_t,
 * SDPBasedLipschitzConvLayer.compute_t; commit
 * 1abe5e12e7fe0a9cfcb4cd9e141b0f1046bf4583), with `safe_inv`: t_i = 1 / T_i,
 * or 0 where T_i = 0 (a zero column, which the layer then ignores).
 */
import * as tf from '@tensorflow/tfjs-core';
import { kernelCrossCorrelations } from './aol';

/** 1 / x where x > 0, else 0, with a finite gradient everywhere: m / (x + 1 - m), m = step(x) (gradient 0). */
function safeInverse(x: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const m = tf.step(x);
    return tf.div(m, tf.add(x, tf.sub(1, m)));
  });
}

/** t = T^(-1) from the absolute Gram `g [k, k]` (or summed shifts) and q_raw `[k]`: T_i = sum_j g_ij q_j / q_i. */
function scalesFromAbsGram(absGram: tf.Tensor2D, qRaw: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const q = tf.exp(qRaw);
    const t = tf.div(tf.squeeze(tf.matMul(absGram, tf.reshape(q, [-1, 1])), [1]), q) as tf.Tensor1D;
    return safeInverse(t);
  });
}

/** t `[k]` of the dense layer with kernel `w [n, k]` (tfjs layout: hidden = x w + b), differentiable in both. */
export function sllDenseScales(w: tf.Tensor2D, qRaw: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => scalesFromAbsGram(tf.abs(tf.matMul(w, w, true, false)) as tf.Tensor2D, qRaw));
}

/** t `[k]` of the conv layer with kernel `[kh, kw, cin, k]` (hidden = conv(x, kernel) + b), differentiable in both. */
export function sllConvScales(kernel: tf.Tensor4D, qRaw: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const ktk = kernelCrossCorrelations(kernel, false); // [k, 2kh-1, 2kw-1, k]
    return scalesFromAbsGram(tf.sum(tf.abs(ktk), [1, 2]) as tf.Tensor2D, qRaw);
  });
}
