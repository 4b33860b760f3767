/**
 * Norms of 2-D convolutions seen as linear operators on a fixed input size.
 *
 * Two ways to make a convolution 1-Lipschitz:
 * - 'bjorck': orthonormalize the kernel reshaped to `[kh*kw*cin, cout]` and
 *   multiply by `convCorrectionFactor` (a bound that holds for every input
 *   size);
 * - 'operator': divide the kernel by the operator norm of the convolution on
 *   the layer's input size, estimated by power iteration with the convolution
 *   and its adjoint (Miyato et al. 2018, "Spectral normalization for
 *   generative adversarial networks", applied to the convolution operator
 *   with its transpose as in Farnia, Zhang & Tse 2019, "Generalizable
 *   adversarial training via spectral normalization").
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';
import { ConvPadding, ConvAdjointGeometry, assertPadding, assertStrides, conv2dAdjoint, conv2dFilterGradient, convGeometry } from './conv_adjoint';
import { distance64, normalizeInPlace64 } from './float64';
import { l2Normalize, defaultStartVector } from './power_iteration';
import { ConvergeOptions, assertNiter, resolveConvergeOptions } from './validate';

/** Result of `convPowerIteration`. */
export interface ConvPowerIterationResult {
  /** Updated persistent input-space vector `[1, H, W, cin]`, unit norm. */
  u: tf.Tensor4D;
  /** Estimate of the operator norm, `||conv(u)||` (never above the true one). */
  sigma: tf.Scalar;
}

/** Result of `convPowerIterationToConvergence`. */
export interface ConvPowerIterationConvergeResult extends ConvPowerIterationResult {
  /** Iterations run. */
  iterations: number;
  /** False when `maxIter` was reached first. */
  converged: boolean;
}

const SQUARED_NORM_FLOOR = 1e-24;

/**
 * Correction factor of a conv kernel whose reshaped matrix `[kh*kw*cin, cout]`
 * has spectral norm <= 1:
 *
 *     1 / sqrt(ceil(kh / sh) * ceil(kw / sw))
 *
 * Each input pixel enters at most `ceil(kh/sh) * ceil(kw/sw)` output windows,
 * so `||conv||_2 <= sqrt(ceil(kh/sh) * ceil(kw/sw)) * ||K_mat||_2` for every
 * input size and padding (deel-torchlip's current `compute_lconv_coef`
 * without input shape). The bound is tight up to border effects: an
 * orthonormal kernel whose taps are all `Q / sqrt(kh*kw)` has gain close to
 * `sqrt(kh*kw)` on smooth inputs.
 *
 * Why not the v0.1 factor: deel-torchlip v0.1 (and deel-lip) used, for stride
 * 1 with zero padding and a known input size `h x w`,
 * `sqrt(h w / ((kh h - a(a+1)) (kw w - b(b+1))))` with `a = (kh-1)/2`,
 * `b = (kw-1)/2`, that is one over the square root of the *average* number of
 * windows covering a pixel (border pixels are covered fewer times). An average
 * is not a bound: interior pixels are covered `kh*kw` times, and inputs
 * concentrated there see the full overlap. For the 3x3 kernel above on a
 * 28x28 input the layer's norm is `(1 + 2 cos(pi/29))^2 / 3 * 0.3415 = 1.017`
 * instead of <= 1 (with this factor: 0.992). It also ties the constant to one
 * input size. See `conv_operator_norm.test.ts`.
 */
export function convCorrectionFactor(kernelSize: [number, number], strides: [number, number]): number {
  const where = 'convCorrectionFactor';
  assertArg(
    Array.isArray(kernelSize) && kernelSize.length === 2 && kernelSize.every((k) => typeof k === 'number' && Number.isInteger(k) && k >= 1),
    () => `${where}: 'kernelSize' must be two integers >= 1, got ${JSON.stringify(kernelSize)}`,
  );
  assertStrides(strides, where);
  return 1 / Math.sqrt(Math.ceil(kernelSize[0] / strides[0]) * Math.ceil(kernelSize[1] / strides[1]));
}

function checkConvArgs(kernel: tf.Tensor, u: tf.Tensor, strides: unknown, padding: unknown, where: string): asserts strides is [number, number] {
  assertArg(kernel.rank === 4, () => `${where}: 'kernel' must be a 4-D tensor [kh, kw, cin, cout], got shape [${kernel.shape.join(', ')}]`);
  assertArg(
    u.rank === 4 && u.shape[0] === 1 && u.shape[3] === kernel.shape[2],
    () => `${where}: 'u' must have shape [1, H, W, ${kernel.shape[2]}], got [${u.shape.join(', ')}]`,
  );
  assertStrides(strides, where);
  assertPadding(padding, where);
}

/**
 * `niter` steps of power iteration on the convolution `A = conv2d(., kernel,
 * strides, padding)` acting on inputs of `u`'s shape:
 *
 *     v <- normalize(A u);  u <- normalize(A^T v);  sigma = ||A u||
 *
 * `A^T` is `conv2dAdjoint` (a plain conv2d, fast on wasm). Runs in its own
 * `tf.tidy`; call it outside the gradient tape and store the returned `u`.
 * Start from a random `u`: a zero `u` stays zero.
 */
export function convPowerIteration(
  kernel: tf.Tensor4D,
  u: tf.Tensor4D,
  strides: [number, number],
  padding: ConvPadding,
  niter: number,
): ConvPowerIterationResult {
  const where = 'convPowerIteration';
  checkConvArgs(kernel, u, strides, padding, where);
  assertNiter(niter, where);
  const inputHW: [number, number] = [u.shape[1], u.shape[2]];
  convGeometry(inputHW, [kernel.shape[0], kernel.shape[1]], strides, padding);
  return tf.tidy(() => {
    let uu: tf.Tensor4D = l2Normalize(u);
    for (let i = 0; i < niter; i++) {
      const v = l2Normalize(tf.conv2d(uu, kernel, strides, padding));
      uu = l2Normalize(conv2dAdjoint(v, kernel, inputHW, strides, padding));
    }
    const sigma = tf.norm(tf.conv2d(uu, kernel, strides, padding)) as tf.Scalar;
    return { u: uu, sigma };
  });
}

/**
 * Operator norm estimate `||conv2d(u, kernel)|| / ||u||` with `u` a constant
 * (the persistent vector of `convPowerIteration`). Differentiable in
 * `kernel`: dividing a kernel by it is spectral normalization of the
 * convolution operator. The kernel gradient,
 * `conv2dFilterGradient(u, y) / (||u||^2 * norm)` with `y = conv2d(u, kernel)`,
 * is given explicitly so it also runs on tfjs-backend-wasm, which has no
 * Conv2DBackpropFilter kernel.
 */
export function convOperatorNorm(kernel: tf.Tensor4D, u: tf.Tensor4D, strides: [number, number], padding: ConvPadding): tf.Scalar {
  checkConvArgs(kernel, u, strides, padding, 'convOperatorNorm');
  const kernelShape = kernel.shape;
  const norm = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const k = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const y = tf.conv2d(u, k, strides, padding);
    const uu = tf.maximum(tf.sum(tf.square(u)), SQUARED_NORM_FLOOR);
    // The floor keeps the value and the gradient finite for a zero kernel.
    const value = tf.sqrt(tf.maximum(tf.div(tf.sum(tf.square(y)), uu), SQUARED_NORM_FLOOR)) as tf.Scalar;
    save([y, uu, value]);
    return {
      value,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const [ys, uus, values] = saved;
        const scale = tf.div(dy, tf.mul(uus, values));
        return tf.mul(conv2dFilterGradient(u, ys as tf.Tensor4D, kernelShape, strides, padding), scale);
      },
    };
  });
  return norm(kernel) as tf.Scalar;
}

/** `conv2d` of one HWC image in float64 (plain JS). */
function conv2d64(
  x: Float64Array,
  k: Float64Array,
  kshape: number[],
  inputHW: [number, number],
  strides: [number, number],
  g: ConvAdjointGeometry,
): Float64Array {
  const [kh, kw, cin, cout] = kshape;
  const [h, w] = inputHW;
  const out = new Float64Array(g.outHeight * g.outWidth * cout);
  for (let oy = 0; oy < g.outHeight; oy++) {
    for (let ox = 0; ox < g.outWidth; ox++) {
      const o = (oy * g.outWidth + ox) * cout;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * strides[0] + ky - g.top;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * strides[1] + kx - g.left;
          if (ix < 0 || ix >= w) continue;
          const xi = (iy * w + ix) * cin;
          const kb = (ky * kw + kx) * cin;
          for (let ci = 0; ci < cin; ci++) {
            const xv = x[xi + ci];
            if (xv === 0) continue;
            const kr = (kb + ci) * cout;
            for (let co = 0; co < cout; co++) out[o + co] += xv * k[kr + co];
          }
        }
      }
    }
  }
  return out;
}

/** Adjoint of `conv2d64`. */
function conv2dAdjoint64(
  y: Float64Array,
  k: Float64Array,
  kshape: number[],
  inputHW: [number, number],
  strides: [number, number],
  g: ConvAdjointGeometry,
): Float64Array {
  const [kh, kw, cin, cout] = kshape;
  const [h, w] = inputHW;
  const out = new Float64Array(h * w * cin);
  for (let oy = 0; oy < g.outHeight; oy++) {
    for (let ox = 0; ox < g.outWidth; ox++) {
      const o = (oy * g.outWidth + ox) * cout;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * strides[0] + ky - g.top;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * strides[1] + kx - g.left;
          if (ix < 0 || ix >= w) continue;
          const xi = (iy * w + ix) * cin;
          const kb = (ky * kw + kx) * cin;
          for (let ci = 0; ci < cin; ci++) {
            const kr = (kb + ci) * cout;
            let s = 0;
            for (let co = 0; co < cout; co++) s += y[o + co] * k[kr + co];
            out[xi + ci] += s;
          }
        }
      }
    }
  }
  return out;
}

/**
 * Conv power iteration to convergence, for export: iterates until the unit
 * vector `u` moves by less than `tol` in one step, or `maxIter` steps. Runs
 * in float64 on the CPU (plain JS convolutions), so it converges past
 * float32 rounding and is the same on every backend. Starts from `u` (its
 * shape fixes the input size); a zero `u` is replaced by a fixed
 * pseudo-random vector.
 */
export function convPowerIterationToConvergence(
  kernel: tf.Tensor4D,
  u: tf.Tensor4D,
  strides: [number, number],
  padding: ConvPadding,
  opts?: ConvergeOptions,
): ConvPowerIterationConvergeResult {
  const where = 'convPowerIterationToConvergence';
  checkConvArgs(kernel, u, strides, padding, where);
  const { tol, maxIter } = resolveConvergeOptions(opts, where);
  const inputHW: [number, number] = [u.shape[1], u.shape[2]];
  const g = convGeometry(inputHW, [kernel.shape[0], kernel.shape[1]], strides, padding);
  const k = Float64Array.from(kernel.dataSync());
  let uu: Float64Array = Float64Array.from(u.dataSync());
  if (normalizeInPlace64(uu) === 0) uu = defaultStartVector(uu.length);

  let iterations = 0;
  let converged = false;
  while (iterations < maxIter) {
    const v = conv2d64(uu, k, kernel.shape, inputHW, strides, g);
    if (normalizeInPlace64(v) === 0) {
      converged = true; // zero kernel
      break;
    }
    const next = conv2dAdjoint64(v, k, kernel.shape, inputHW, strides, g);
    if (normalizeInPlace64(next) === 0) {
      converged = true;
      break;
    }
    iterations++;
    const change = distance64(next, uu);
    uu = next;
    if (change < tol) {
      converged = true;
      break;
    }
  }
  let sigma = 0;
  const y = conv2d64(uu, k, kernel.shape, inputHW, strides, g);
  for (let i = 0; i < y.length; i++) sigma += y[i] * y[i];
  return {
    u: tf.tensor4d(Float32Array.from(uu), u.shape),
    sigma: tf.scalar(Math.sqrt(sigma)),
    iterations,
    converged,
  };
}
