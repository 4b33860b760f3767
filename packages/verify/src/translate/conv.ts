import * as tf from '@tensorflow/tfjs-core';
import type { CustomGradientFunc } from '@tensorflow/tfjs-core/dist/engine';

/** `[top, left, bottom, right]` pads, ONNX order for 2-D. */
export type Pads2D = readonly [number, number, number, number];

/** A convolution with a fixed kernel (see `convWithFastInputGrad`). */
export interface FastInputGradConv {
  /** The convolution, differentiable by tfjs (the fast input gradient when `inputGrad` is not null). */
  apply(x: tf.Tensor4D): tf.Tensor4D;
  /** The convolution alone (no gradient recorded beyond tfjs's own). */
  forward(x: tf.Tensor4D): tf.Tensor4D;
  /** `dL/dx` from `dL/dy` for an input of shape `xShape`; null when only tfjs's own gradient applies (dilations, large pads). */
  inputGrad: ((dy: tf.Tensor4D, xShape: readonly number[]) => tf.Tensor4D) | null;
  dispose(): void;
}

/**
 * NHWC convolution with a fixed kernel whose input gradient is itself a
 * forward convolution: `dx = conv(dilate(dy, strides), rot180(W)^T)` with pads
 * `k - 1 - p`. The wasm backend's conv2dTranspose (tfjs's own gradient) is about
 * ten times slower than its XNNPACK forward conv (PERF-NOTES), and attacks
 * only ever need the input gradient, so the kernel gets no gradient here.
 *
 * `kernel` is tfjs layout `[kh, kw, cin, cout]`; it and the optional constant
 * `bias` (`[cout]`) stay owned by the caller.
 */
export function convWithFastInputGrad(
  kernel: tf.Tensor4D,
  strides: readonly [number, number],
  pads: Pads2D,
  dilations: readonly [number, number],
  bias: tf.Tensor1D | null = null,
): FastInputGradConv {
  const [kh, kw] = kernel.shape;
  const [pt, pl, pb, pr] = pads;
  const explicit: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [pt, pb],
    [pl, pr],
    [0, 0],
  ];
  // The bias is added inside the conv kernel (fused), which is cheaper than a broadcast add on wasm.
  const forward = (x: tf.Tensor4D): tf.Tensor4D =>
    bias
      ? tf.fused.conv2d({
          x,
          filter: kernel,
          strides: [strides[0], strides[1]],
          pad: explicit,
          dataFormat: 'NHWC',
          dilations: [dilations[0], dilations[1]],
          bias,
        })
      : tf.conv2d(x, kernel, [strides[0], strides[1]], explicit, 'NHWC', [dilations[0], dilations[1]]);
  if (dilations[0] !== 1 || dilations[1] !== 1 || pt > kh - 1 || pl > kw - 1) {
    return { apply: forward, forward, inputGrad: null, dispose: () => undefined };
  }
  // rot180 over (kh, kw), in/out channels swapped: [kh, kw, cout, cin].
  // Kept: the first call may happen inside a tidy.
  const flipped = tf.keep(tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D));
  const [sh, sw] = strides;

  const inputGrad = (dy: tf.Tensor4D, xShape: readonly number[]): tf.Tensor4D => {
    const [, h, w] = xShape;
    let d = dy;
    const [n, ho, wo, c] = d.shape;
    if (sh !== 1 || sw !== 1) {
      // Insert (s - 1) zeros between rows and columns.
      const r6 = tf.reshape(d, [n, ho, 1, wo, 1, c]);
      const p6 = tf.pad(r6, [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]);
      d = tf.reshape(p6, [n, ho * sh, wo * sw, c]) as tf.Tensor4D;
    }
    const top = kh - 1 - pt;
    const left = kw - 1 - pl;
    // The stride-1 conv must see h + kh - 1 rows: top pad, the dilated dy, bottom pad.
    // Rows of dy beyond that only saw bottom padding and are cropped.
    const needRows = h + kh - 1 - top;
    const needCols = w + kw - 1 - left;
    const rows = Math.min((ho - 1) * sh + 1, needRows);
    const cols = Math.min((wo - 1) * sw + 1, needCols);
    if (d.shape[1] !== rows || d.shape[2] !== cols) d = tf.slice(d, [0, 0, 0, 0], [n, rows, cols, c]);
    const gradPads: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [top, needRows - rows],
      [left, needCols - cols],
      [0, 0],
    ];
    // One input channel (a first layer on grey images): a convolution with a single output
    // channel wastes most of XNNPACK's output tile; a depthwise convolution (the flipped
    // [kh, kw, cout, 1] kernel is a depthwise filter) summed over channels is twice as fast.
    if (flipped.shape[3] === 1) return tf.sum(tf.depthwiseConv2d(d, flipped, 1, gradPads), 3, true);
    return tf.conv2d(d, flipped, 1, gradPads);
  };
  const apply = tf.customGrad(((x: tf.Tensor) => ({
    value: forward(x as tf.Tensor4D),
    gradFunc: (dy: tf.Tensor) => inputGrad(dy as tf.Tensor4D, x.shape),
  })) as unknown as CustomGradientFunc<tf.Tensor>) as (x: tf.Tensor4D) => tf.Tensor4D;
  return { apply, forward, inputGrad, dispose: () => flipped.dispose() };
}
