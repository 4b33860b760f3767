/**
 * Power iteration and spectral normalization of dense kernels (Miyato et al.
 * 2018, "Spectral normalization for generative adversarial networks").
 *
 * Layout: the kernel is `w [in, out]` (tfjs), the layer computes `x w` for a
 * row vector `x [1, in]`. The persistent vector is `u [1, out]`, its partner
 * `v [1, in]`; at convergence they are the top singular pair,
 * `v w = sigma u` and `u w^T = sigma v`, with `sigma = v w u^T = ||w||_2`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';
import { distance64, matMul64, normalizeInPlace64 } from './float64';
import { ConvergeOptions, assertNiter, assertRank2, resolveConvergeOptions } from './validate';

/** Added to squared norms before dividing, as in `tf.math.l2_normalize`. */
const NORM_EPS_SQUARED = 1e-12;
/** Floor of the divisor in `spectralNormalize` (a zero kernel stays zero). */
const SIGMA_FLOOR = 1e-12;

/** Result of `powerIteration`. */
export interface PowerIterationResult {
  /** Updated persistent vector `[1, out]`, unit norm. */
  u: tf.Tensor2D;
  /** Partner vector `[1, in]`, unit norm. */
  v: tf.Tensor2D;
  /** Estimate of the largest singular value, `v w u^T` (never above the true one). */
  sigma: tf.Scalar;
}

/** Result of `powerIterationToConvergence`. */
export interface PowerIterationConvergeResult extends PowerIterationResult {
  /** Iterations run. */
  iterations: number;
  /** False when `maxIter` was reached first. */
  converged: boolean;
}

/** `x / sqrt(max(sum(x^2), eps))`. */
export function l2Normalize<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x)), NORM_EPS_SQUARED))) as T);
}

function assertVector(t: tf.Tensor, name: string, length: number, where: string): void {
  assertArg(t.rank === 2 && t.shape[0] === 1 && t.shape[1] === length, () => `${where}: '${name}' must have shape [1, ${length}], got [${t.shape.join(', ')}]`);
}

/**
 * `niter` steps of power iteration on `w [in, out]`:
 *
 *     v <- normalize(u w^T)     [1, in]
 *     u <- normalize(v w)       [1, out]
 *     sigma = v w u^T
 *
 * With `niter = 0`, `v` is computed from `u` and `u` is returned unchanged.
 * Runs in its own `tf.tidy`; the returned tensors are new and owned by the
 * caller, who stores `u` (for example `uVar.assign(u)`) and disposes the rest.
 * Call it outside the gradient tape (tfjs has no `stopGradient`). Start from
 * a random `u`: a zero `u` stays zero, and `spectralNormalize` would then
 * divide by the 1e-12 floor.
 */
export function powerIteration(w: tf.Tensor2D, u: tf.Tensor2D, niter: number): PowerIterationResult {
  const where = 'powerIteration';
  assertRank2(w, where);
  assertVector(u, 'u', w.shape[1], where);
  assertNiter(niter, where);
  return tf.tidy(() => {
    let uu: tf.Tensor2D = u;
    let v: tf.Tensor2D = l2Normalize(tf.matMul(uu, w, false, true));
    for (let i = 0; i < niter; i++) {
      if (i > 0) v = l2Normalize(tf.matMul(uu, w, false, true));
      uu = l2Normalize(tf.matMul(v, w));
    }
    const sigma = tf.sum(tf.mul(tf.matMul(v, w), uu)) as tf.Scalar;
    return { u: uu === u ? tf.clone(u) : uu, v, sigma };
  });
}

/**
 * Spectral normalization `w / sigma` with `sigma = v w u^T`, the
 * power-iteration estimate of `||w||_2` (Miyato et al. 2018). `u` and `v` are
 * constants: the gradient flows through `w` in both the numerator and
 * `sigma`, not into the vectors. `sigma` is floored at 1e-12 so a zero
 * kernel stays zero instead of becoming NaN.
 */
export function spectralNormalize(w: tf.Tensor2D, u: tf.Tensor2D, v: tf.Tensor2D): tf.Tensor2D {
  const where = 'spectralNormalize';
  assertRank2(w, where);
  assertVector(u, 'u', w.shape[1], where);
  assertVector(v, 'v', w.shape[0], where);
  return tf.tidy(() => {
    const sigma = tf.sum(tf.mul(tf.matMul(v, w), u));
    return tf.div(w, tf.maximum(sigma, SIGMA_FLOOR));
  });
}

/**
 * A fixed start vector for power iteration when the caller has none:
 * deterministic (export is reproducible) and not special (all-ones can be
 * orthogonal to the top singular vector of structured kernels).
 */
export function defaultStartVector(length: number): Float64Array {
  const out = new Float64Array(length);
  let state = 0x2545f491;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 32 - 0.5;
  }
  normalizeInPlace64(out);
  return out;
}

/**
 * Power iteration to convergence, for export: iterates until the unit vector
 * `u` moves by less than `tol` in one step (`||u_{k+1} - u_k|| < tol`; the
 * error of `sigma` is then of order `tol^2`), or `maxIter` steps. Runs in
 * float64 on the CPU (plain JS), the same on every backend. Starts from `u`
 * when given (the layer's persistent vector), else from `defaultStartVector`.
 *
 * Convergence is slow when the two largest singular values are close; check
 * `converged`. `sigma` never exceeds the true largest singular value, so for
 * a guaranteed bound use Björck to convergence or an upper bound instead.
 */
export function powerIterationToConvergence(w: tf.Tensor2D, u?: tf.Tensor2D, opts?: ConvergeOptions): PowerIterationConvergeResult {
  const where = 'powerIterationToConvergence';
  assertRank2(w, where);
  const [rows, cols] = w.shape;
  if (u !== undefined) assertVector(u, 'u', cols, where);
  const { tol, maxIter } = resolveConvergeOptions(opts, where);
  const wd = Float64Array.from(w.dataSync());
  const wt = new Float64Array(wd.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) wt[j * rows + i] = wd[i * cols + j];

  let uu: Float64Array = u !== undefined ? Float64Array.from(u.dataSync()) : defaultStartVector(cols);
  if (normalizeInPlace64(uu) === 0) uu = defaultStartVector(cols);
  let v: Float64Array = new Float64Array(rows);
  let sigma = 0;
  let iterations = 0;
  let converged = false;
  while (iterations < maxIter) {
    v = matMul64(uu, wt, 1, cols, rows);
    normalizeInPlace64(v);
    const next = matMul64(v, wd, 1, rows, cols);
    sigma = normalizeInPlace64(next);
    iterations++;
    if (sigma === 0) {
      // Zero kernel (or u in its null space): keep a usable unit vector.
      converged = true;
      break;
    }
    const change = distance64(next, uu);
    uu = next;
    if (change < tol) {
      converged = true;
      break;
    }
  }
  return {
    u: tf.tensor2d(Float32Array.from(uu), [1, cols]),
    v: tf.tensor2d(Float32Array.from(v), [1, rows]),
    sigma: tf.scalar(sigma),
    iterations,
    converged,
  };
}
