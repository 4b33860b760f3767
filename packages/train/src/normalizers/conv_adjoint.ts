/**
 * The adjoint (transpose) of a 2-D convolution, as a plain `conv2d`.
 *
 * tfjs-backend-wasm runs `conv2dTranspose` (Conv2DBackpropInput) about 10x
 * slower than `conv2d` (docs: /work/shared/PERF-NOTES.md), so the adjoint is
 * written as a stride-1 `conv2d` of the (dilated) output with the kernel
 * rotated by 180 degrees and its in/out channels swapped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';

/** Padding of the convolutions handled here (tfjs/Keras semantics). */
export type ConvPadding = 'same' | 'valid';

/** Output size and zero padding of a 2-D convolution, as tfjs computes them. */
export interface ConvAdjointGeometry {
  outHeight: number;
  outWidth: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
}

export function assertStrides(strides: unknown, where: string): asserts strides is [number, number] {
  assertArg(
    Array.isArray(strides) && strides.length === 2 && strides.every((s) => typeof s === 'number' && Number.isInteger(s) && s >= 1),
    () => `${where}: 'strides' must be two integers >= 1, got ${JSON.stringify(strides)}`,
  );
}

export function assertPadding(padding: unknown, where: string): asserts padding is ConvPadding {
  assertArg(padding === 'same' || padding === 'valid', () => `${where}: 'padding' must be 'same' or 'valid', got ${JSON.stringify(padding)}`);
}

function geometry1d(size: number, k: number, s: number, padding: ConvPadding): [number, number, number] {
  if (padding === 'valid') return [Math.floor((size - k) / s) + 1, 0, 0];
  const out = Math.ceil(size / s);
  const total = Math.max(0, (out - 1) * s + k - size);
  const before = Math.floor(total / 2);
  return [out, before, total - before];
}

/**
 * Output size and padding of `conv2d(x, kernel, strides, padding)` for an
 * input of spatial size `[height, width]` (tfjs's rule for 'same': the odd
 * extra row/column of padding goes at the bottom/right).
 */
export function convGeometry(inputHW: [number, number], kernelHW: [number, number], strides: [number, number], padding: ConvPadding): ConvAdjointGeometry {
  const [outHeight, top, bottom] = geometry1d(inputHW[0], kernelHW[0], strides[0], padding);
  const [outWidth, left, right] = geometry1d(inputHW[1], kernelHW[1], strides[1], padding);
  assertArg(
    outHeight >= 1 && outWidth >= 1,
    () => `convGeometry: kernel [${kernelHW.join(', ')}] does not fit input [${inputHW.join(', ')}] with 'valid' padding`,
  );
  return { outHeight, outWidth, top, bottom, left, right };
}

/**
 * Adjoint of `x -> conv2d(x, kernel, strides, padding)` applied to `dy`:
 * the `x`-gradient of `sum(conv2d(x, kernel) * dy)`, that is
 * `conv2dTranspose(dy, kernel, [B, H, W, cin], strides, padding)`.
 *
 * For stride s the output is dilated (s - 1 zeros between rows/columns),
 * then convolved at stride 1 with `reverse(kernel, [0, 1])` transposed to
 * `[kh, kw, cout, cin]`, padding `kh - 1 - top` before and whatever makes
 * the result `H` rows after (for stride 1, 'same': top and bottom swap).
 *
 * @param dy `[B, Ho, Wo, cout]`
 * @param kernel `[kh, kw, cin, cout]`
 * @param inputHW spatial size `[H, W]` of the convolution's input
 * @returns `[B, H, W, cin]`
 */
export function conv2dAdjoint(dy: tf.Tensor4D, kernel: tf.Tensor4D, inputHW: [number, number], strides: [number, number], padding: ConvPadding): tf.Tensor4D {
  const where = 'conv2dAdjoint';
  assertStrides(strides, where);
  assertPadding(padding, where);
  assertArg(kernel.rank === 4, () => `${where}: 'kernel' must be [kh, kw, cin, cout], got [${kernel.shape.join(', ')}]`);
  const [kh, kw, , cout] = kernel.shape;
  const g = convGeometry(inputHW, [kh, kw], strides, padding);
  assertArg(
    dy.rank === 4 && dy.shape[1] === g.outHeight && dy.shape[2] === g.outWidth && dy.shape[3] === cout,
    () => `${where}: 'dy' must have shape [B, ${g.outHeight}, ${g.outWidth}, ${cout}], got [${dy.shape.join(', ')}]`,
  );
  const [sh, sw] = strides;
  return tf.tidy(() => {
    const [b, ho, wo, c] = dy.shape;
    let z: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      // Dilate: [B,Ho,1,Wo,1,C] padded to [B,Ho,sh,Wo,sw,C]. The trailing
      // (s - 1) zero rows/columns act as extra bottom/right padding.
      const six = tf.reshape(dy, [b, ho, 1, wo, 1, c]);
      const padded = tf.pad(six, [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]);
      z = tf.reshape(padded, [b, ho * sh, wo * sw, c]);
    }
    const flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const top = kh - 1 - g.top;
    const left = kw - 1 - g.left;
    let bottom = inputHW[0] + kh - 1 - top - z.shape[1];
    let right = inputHW[1] + kw - 1 - left - z.shape[2];
    if (bottom < 0 || right < 0) {
      // Only trailing dilation zeros are dropped here.
      z = tf.slice(z, [0, 0, 0, 0], [b, z.shape[1] + Math.min(bottom, 0), z.shape[2] + Math.min(right, 0), c]);
      bottom = Math.max(bottom, 0);
      right = Math.max(right, 0);
    }
    return tf.conv2d(z, flipped, 1, [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ]);
  });
}

/**
 * Gradient of `sum(conv2d(x, kernel, strides, padding) * dy)` with respect to
 * the kernel (tfjs's `conv2DBackpropFilter`, which tfjs-backend-wasm does not
 * register), written as one dilated `conv2d`:
 *
 *     dK[a, b, ci, co] = sum_{n,i,j} xpad[n, s_h i + a, s_w j + b, ci] dy[n, i, j, co]
 *
 * is a 'valid' convolution of `xpad` transposed to `[cin, Hp, Wp, B]` with
 * `dy` transposed to `[Ho, Wo, B, cout]` as the filter, dilated by the
 * strides; the result `[cin, >=kh, >=kw, cout]` is cropped and transposed.
 *
 * @param x `[B, H, W, cin]`
 * @param dy `[B, Ho, Wo, cout]`
 * @param kernelShape `[kh, kw, cin, cout]`
 */
export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  kernelShape: [number, number, number, number],
  strides: [number, number],
  padding: ConvPadding,
): tf.Tensor4D {
  const where = 'conv2dFilterGradient';
  assertStrides(strides, where);
  assertPadding(padding, where);
  const [kh, kw, cin, cout] = kernelShape;
  assertArg(x.rank === 4 && x.shape[3] === cin, () => `${where}: 'x' must have shape [B, H, W, ${cin}], got [${x.shape.join(', ')}]`);
  const g = convGeometry([x.shape[1], x.shape[2]], [kh, kw], strides, padding);
  assertArg(
    dy.rank === 4 && dy.shape[0] === x.shape[0] && dy.shape[1] === g.outHeight && dy.shape[2] === g.outWidth && dy.shape[3] === cout,
    () => `${where}: 'dy' must have shape [${x.shape[0]}, ${g.outHeight}, ${g.outWidth}, ${cout}], ` + `got [${dy.shape.join(', ')}]`,
  );
  return tf.tidy(() => {
    const padded =
      g.top + g.bottom + g.left + g.right > 0
        ? tf.pad(x, [
            [0, 0],
            [g.top, g.bottom],
            [g.left, g.right],
            [0, 0],
          ])
        : x;
    const xt = tf.transpose(padded, [3, 1, 2, 0]) as tf.Tensor4D;
    const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    let full = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', strides);
    if (full.shape[1] !== kh || full.shape[2] !== kw) full = tf.slice(full, [0, 0, 0, 0], [cin, kh, kw, cout]);
    return tf.transpose(full, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}
