/**
 * 1-Lipschitz poolings (deel-torchlip's ScaledAvgPool2d, ScaledL2NormPool2d,
 * ScaledGlobalL2NormPool2d; Anil et al. 2019 and Serrurier et al. 2021,
 * "Achieving robustness in classification using optimal transport with hinge
 * regularization").
 *
 * Inputs are NHWC `[B, H, W, C]`. Windows never overlap (`strides >=
 * poolSize`, 'valid' padding): an input pixel then feeds at most one window,
 * and a window of k pixels maps `x -> sqrt(k) mean(x)` or `sqrt(sum x^2)`,
 * both 1-Lipschitz. Overlapping windows or 'same' padding (a border window
 * averages fewer than k pixels but is still scaled by sqrt(k)) would not be,
 * so they are rejected.
 *
 * Gradients are given explicitly: the avgPool gradient as a broadcast
 * multiply (3x faster on tfjs-backend-wasm, /work/shared/PERF-NOTES.md), and
 * the square root's gradient set to 0 where the norm is 0 instead of NaN.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';
import { useSimdKernel } from '../backend/kernels/kernel_choice';
import { SCALED_L2_POOL, scaledL2Pool2dSimd } from '../backend/kernels/l2_pool_kernel';

interface PoolGeometry {
  poolSize: [number, number];
  strides: [number, number];
  outHeight: number;
  outWidth: number;
}

function isPair(v: unknown): v is [number, number] {
  return Array.isArray(v) && v.length === 2 && v.every((s) => typeof s === 'number' && Number.isInteger(s) && s >= 1);
}

function poolGeometry(x: tf.Tensor, poolSize: [number, number], strides: [number, number] | undefined, where: string): PoolGeometry {
  assertArg(x.rank === 4, () => `${where}: 'x' must be a 4-D tensor [B, H, W, C], got shape [${x.shape.join(', ')}]`);
  assertArg(isPair(poolSize), () => `${where}: 'poolSize' must be two integers >= 1, got ${JSON.stringify(poolSize)}`);
  const s = strides ?? poolSize;
  assertArg(isPair(s), () => `${where}: 'strides' must be two integers >= 1, got ${JSON.stringify(strides)}`);
  assertArg(
    s[0] >= poolSize[0] && s[1] >= poolSize[1],
    () => `${where}: 'strides' ${JSON.stringify(s)} must be >= 'poolSize' ${JSON.stringify(poolSize)}: ` + 'overlapping windows are not 1-Lipschitz',
  );
  const [, h, w] = x.shape;
  assertArg(h >= poolSize[0] && w >= poolSize[1], () => `${where}: 'poolSize' ${JSON.stringify(poolSize)} is larger than the input [${h}, ${w}]`);
  return {
    poolSize,
    strides: s,
    outHeight: Math.floor((h - poolSize[0]) / s[0]) + 1,
    outWidth: Math.floor((w - poolSize[1]) / s[1]) + 1,
  };
}

/**
 * Spreads `g [B, h, w, C]` (one value per window) back over each window's
 * pixels, times `scale`: `[B, H, W, C]` with `scale * g` on every pixel of a
 * window and 0 on pixels in no window. A broadcast multiply and reshapes.
 */
function spreadOverWindows(g: tf.Tensor4D, inputShape: number[], geo: PoolGeometry, scale: number): tf.Tensor4D {
  const [b, h, w, c] = g.shape;
  const [ph, pw] = geo.poolSize;
  const [sh, sw] = geo.strides;
  const ones = tf.fill([1, 1, ph, 1, pw, 1], scale);
  let up: tf.Tensor = tf.mul(tf.reshape(g, [b, h, 1, w, 1, c]), ones);
  if (sh > ph || sw > pw) {
    up = tf.pad(up, [
      [0, 0],
      [0, 0],
      [0, sh - ph],
      [0, 0],
      [0, sw - pw],
      [0, 0],
    ]);
  }
  let out = tf.reshape(up, [b, h * sh, w * sw, c]) as tf.Tensor4D;
  const [, height, width] = inputShape;
  if (h * sh > height || w * sw > width) {
    out = tf.slice(out, [0, 0, 0, 0], [b, Math.min(h * sh, height), Math.min(w * sw, width), c]);
  }
  if (out.shape[1] < height || out.shape[2] < width) {
    out = tf.pad(out, [
      [0, 0],
      [0, height - out.shape[1]],
      [0, width - out.shape[2]],
      [0, 0],
    ]);
  }
  return out;
}

/** True when the windows cover the input exactly (strides = poolSize, sizes multiples of it). */
function windowsTile(inputShape: number[], geo: PoolGeometry): boolean {
  const [ph, pw] = geo.poolSize;
  return geo.strides[0] === ph && geo.strides[1] === pw && geo.outHeight * ph === inputShape[1] && geo.outWidth * pw === inputShape[2];
}

/**
 * `x` times the value of its window, `g [B, h, w, C]`, when the windows tile
 * `x`: one broadcast multiply of the `[B, h, ph, w, pw, C]` view of `x` by the
 * `[B, h, 1, w, 1, C]` view of `g` (instead of spreading `g` first, then
 * multiplying: 14 -> 10 ms on wasm for [512, 28, 28, 16]).
 */
function timesWindowValues(x: tf.Tensor4D, g: tf.Tensor4D, geo: PoolGeometry): tf.Tensor4D {
  const [b, h, w, c] = g.shape;
  const [ph, pw] = geo.poolSize;
  const product = tf.mul(tf.reshape(x, [b, h, ph, w, pw, c]), tf.reshape(g, [b, h, 1, w, 1, c]));
  return tf.reshape(product, x.shape) as tf.Tensor4D;
}

/**
 * `sqrt(ph * pw) * avgPool(x, poolSize, strides, 'valid')`: the mean of each
 * window scaled to be 1-Lipschitz (the sum over a window divided by
 * `sqrt(k)`).
 *
 * @param x `[B, H, W, C]`
 * @param poolSize `[ph, pw]`
 * @param strides default `poolSize`; must be >= `poolSize`
 */
export function scaledAvgPool2d(x: tf.Tensor4D, poolSize: [number, number], strides?: [number, number]): tf.Tensor4D {
  const geo = poolGeometry(x, poolSize, strides, 'scaledAvgPool2d');
  const k = poolSize[0] * poolSize[1];
  const scale = Math.sqrt(k);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor4D;
    const value = tf.mul(tf.avgPool(input, geo.poolSize, geo.strides, 'valid'), scale) as tf.Tensor4D;
    return {
      value,
      gradFunc: (dy: tf.Tensor4D) => spreadOverWindows(dy, input.shape, geo, scale / k),
    };
  });
  return op(x);
}

/**
 * `sqrt(ph * pw) * sqrt(avgPool(x^2))`, that is the L2 norm of each window
 * `sqrt(sum x^2)` (deel-torchlip's ScaledL2NormPool2d; its fixture has no
 * epsilon). The gradient `x / norm` is 0 on windows whose norm is 0.
 *
 * On tfjs-backend-wasm with lip's kernels installed (installWasmKernels,
 * `LIP_KERNELS` not `composed`), one SIMD pass each way
 * (backend/kernels/l2_pool_kernel.ts, same gradient rule); elsewhere composed
 * of tfjs ops.
 *
 * @param x `[B, H, W, C]`
 * @param poolSize `[ph, pw]`
 * @param strides default `poolSize`; must be >= `poolSize`
 */
export function scaledL2NormPool2d(x: tf.Tensor4D, poolSize: [number, number], strides?: [number, number]): tf.Tensor4D {
  const geo = poolGeometry(x, poolSize, strides, 'scaledL2NormPool2d');
  if (x.dtype === 'float32' && useSimdKernel(SCALED_L2_POOL)) {
    return scaledL2Pool2dSimd(x, { poolSize: geo.poolSize, strides: geo.strides });
  }
  return scaledL2NormPool2dComposed(x, geo);
}

/** The composed scaledL2NormPool2d. */
function scaledL2NormPool2dComposed(x: tf.Tensor4D, geo: PoolGeometry): tf.Tensor4D {
  const k = geo.poolSize[0] * geo.poolSize[1];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const value = tf.sqrt(tf.mul(tf.avgPool(tf.square(input), geo.poolSize, geo.strides, 'valid'), k)) as tf.Tensor4D;
    save([input, value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [xs, norms] = saved;
        // dy / norm, and dy where norm = 0 (those windows' x are all 0, so
        // dx = 0 there): the denominator is norm + 1 - sign(norm). Same as
        // divNoNan, in 4 light ops instead of its Equal and Select (17 ms on
        // [512, 14, 14, 16] on wasm, against 3 ms).
        const perWindow = tf.div(dy, tf.add(norms, tf.sub(1, tf.sign(norms)))) as tf.Tensor4D;
        return windowsTile(xs.shape, geo) ? timesWindowValues(xs as tf.Tensor4D, perWindow, geo) : tf.mul(xs, spreadOverWindows(perWindow, xs.shape, geo, 1));
      },
    };
  });
  return op(x);
}

/**
 * Global L2 norm pooling: `[B, H, W, C] -> [B, C]`, `sqrt(sum_{h,w} x^2)`
 * per channel. 1-Lipschitz (a norm). The gradient `x / norm` is 0 for a
 * channel whose norm is 0.
 */
export function scaledGlobalL2NormPool2d(x: tf.Tensor4D): tf.Tensor2D {
  const where = 'scaledGlobalL2NormPool2d';
  assertArg(x.rank === 4, () => `${where}: 'x' must be a 4-D tensor [B, H, W, C], got shape [${x.shape.join(', ')}]`);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const value = tf.sqrt(tf.sum(tf.square(input), [1, 2])) as tf.Tensor2D;
    save([input, value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [xs, norms] = saved;
        const [b, , , c] = xs.shape;
        return tf.mul(xs, tf.reshape(tf.divNoNan(dy, norms), [b, 1, 1, c]));
      },
    };
  });
  return op(x);
}
