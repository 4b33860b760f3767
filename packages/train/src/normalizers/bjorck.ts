/**
 * Björck orthonormalization (Björck & Bowie 1971, "An iterative algorithm for
 * computing the best estimate of an orthogonal matrix"; used for Lipschitz
 * networks by Anil et al. 2019, "Sorting out Lipschitz function
 * approximation").
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';
import { DEFAULT_BETA_BJORCK, DEFAULT_NITER_BJORCK } from '../constants';
import { distance64, gramCols64, gramRows64, matMul64, norm64 } from './float64';
import { ConvergeOptions, assertNiter, assertRank2, resolveConvergeOptions } from './validate';
import { SMALL_BJORCK_MAX_SIDE, smallBjorck } from './bjorck_small';
import { BJORCK, bjorckSimd } from '../backend/kernels/bjorck_kernel';
import { useSimdKernel } from '../backend/kernels/kernel_choice';

/** Options of `bjorckOrthonormalizeToConvergence`. */
export interface BjorckConvergeOptions extends ConvergeOptions {
  /** Björck step size. Default `DEFAULT_BETA_BJORCK`. */
  beta?: number;
}

/** Result of `bjorckOrthonormalizeToConvergence`. */
export interface BjorckConvergeResult {
  /** The orthonormalized matrix, float32, same shape as the input. */
  w: tf.Tensor2D;
  /** Iterations run. */
  iterations: number;
  /** False when `maxIter` was reached first. */
  converged: boolean;
}

function assertBeta(beta: unknown, where: string): asserts beta is number {
  assertArg(typeof beta === 'number' && Number.isFinite(beta) && beta > 0, () => `${where}: 'beta' must be a finite number > 0, got ${String(beta)}`);
}

/**
 * Björck orthonormalization, `niter` steps of
 *
 *     w <- (1 + beta) w - beta w (w^T w)
 *
 * Each step maps every singular value s of `w` to `(1 + beta) s - beta s^3`,
 * which drives the singular values in (0, sqrt((1 + beta) / beta)) towards 1,
 * so `w` converges to its orthogonal polar factor. `w` should already have
 * spectral norm close to 1 (spectral normalization first), or it diverges.
 *
 * Differentiable (plain tfjs ops). For a tall `w [m, n]` (m >= n) every
 * iterate is `w_k = w P_k` with `P_k` a polynomial in the small Gram matrix
 * `G = w^T w`, so the steps run on n x n matrices (`gramFormBjorck`):
 *
 *     H_0 = G, P_0 = I;   A_k = (1 + beta) I - beta H_k,
 *     P_{k+1} = P_k A_k,  H_{k+1} = A_k H_k A_k  (= w_{k+1}^T w_{k+1});   result w P_niter
 *
 * (for a wide `w`, the same on `w w^T` from the left). Same values up to
 * float rounding; the cost drops from `niter` products with `w` to two
 * (`G` and `w P`), e.g. dense 1 of the reference network (1568 x 64), 15
 * steps, value and gradient: 810 -> 25 ms on wasm. With a side of at most
 * `SMALL_BJORCK_MAX_SIDE`, the same iteration and its gradient run in
 * float64 plain JS (bjorck_small.ts: no per-op overhead). Square-ish
 * matrices, where the small form saves nothing (and would square the
 * condition number: a random 64 x 64, 20 steps, loses 1e-3 of relative
 * accuracy in float32), iterate on `w` directly. On tfjs-backend-wasm with
 * lip's kernels installed (`LIP_KERNELS` not `composed`), every larger case
 * runs its form as one SIMD call each way (backend/kernels/bjorck_kernel.ts):
 * value and gradient, 15 steps, dense 1 (1568 x 64) 22 -> 5 ms, conv 2
 * (144 x 32) 4.3 -> 0.4 ms.
 *
 * @param w dense kernel `[in, out]` (a conv kernel reshaped to `[kh*kw*cin, cout]`).
 */
export function bjorckOrthonormalize(w: tf.Tensor2D, niter: number = DEFAULT_NITER_BJORCK, beta: number = DEFAULT_BETA_BJORCK): tf.Tensor2D {
  const where = 'bjorckOrthonormalize';
  assertRank2(w, where);
  assertNiter(niter, where);
  assertBeta(beta, where);
  const [rows, cols] = w.shape;
  if (niter > 0 && Math.min(rows, cols) <= SMALL_BJORCK_MAX_SIDE) return smallBjorck(w, niter, beta);
  const gramForm = Math.max(rows, cols) >= GRAM_FORM_MIN_ASPECT * Math.min(rows, cols);
  if (niter > 0 && w.dtype === 'float32' && useSimdKernel(BJORCK)) return bjorckSimd(w, niter, beta, gramForm ? 'gram' : 'direct');
  if (niter > 0 && gramForm) return gramFormBjorck(w, niter, beta);
  return tf.tidy(() => {
    let x: tf.Tensor2D = w;
    for (let i = 0; i < niter; i++) {
      const cubic = cols <= rows ? tf.matMul(x, tf.matMul(x, x, true, false)) : tf.matMul(tf.matMul(x, x, false, true), x);
      x = tf.sub(tf.mul(x, 1 + beta), tf.mul(cubic, beta));
    }
    // tidy must not return its input: copy when niter == 0.
    return x === w ? tf.clone(w) : x;
  });
}

/**
 * Smallest `max(m, n) / min(m, n)` for which `bjorckOrthonormalize` iterates
 * on the Gram matrix: a step costs 3 n^3 there against 2 m n^2 on `w`, plus
 * a fixed 2 m n^2.
 */
export const GRAM_FORM_MIN_ASPECT = 2;

/** Björck on the small Gram matrix (see `bjorckOrthonormalize`); `niter >= 1`. */
function gramFormBjorck(w: tf.Tensor2D, niter: number, beta: number): tf.Tensor2D {
  const [rows, cols] = w.shape;
  const tall = cols <= rows;
  const n = tall ? cols : rows;
  return tf.tidy(() => {
    const scaledEye = tf.mul(tf.eye(n), 1 + beta) as tf.Tensor2D;
    let h: tf.Tensor2D = (tall ? tf.matMul(w, w, true, false) : tf.matMul(w, w, false, true)) as tf.Tensor2D;
    let p: tf.Tensor2D | null = null;
    for (let i = 0; i < niter; i++) {
      const a = tf.sub(scaledEye, tf.mul(h, beta)) as tf.Tensor2D;
      p = p === null ? a : (tf.matMul(p, a) as tf.Tensor2D);
      if (i < niter - 1) h = tf.matMul(a, tf.matMul(h, a));
    }
    return tall ? tf.matMul(w, p!) : tf.matMul(p!, w);
  });
}

/**
 * Björck orthonormalization iterated until the relative change
 * `||w_{k+1} - w_k||_F / ||w_{k+1}||_F` is below `tol` (or `maxIter` steps), for
 * export. Runs in float64 on the CPU (plain JS), so it converges past float32
 * rounding and gives the same result on every backend; the result is
 * rounded to float32 once.
 *
 * The limit is the orthogonal polar factor of `w`, which does not depend on
 * the scale of `w`: when `||w||_F > 1` the iteration starts from
 * `w / ||w||_F` (all singular values <= 1) so it cannot diverge. Zero singular
 * values stay zero (a rank-deficient `w` converges to a partial isometry).
 * Not differentiable (reads the data).
 */
export function bjorckOrthonormalizeToConvergence(w: tf.Tensor2D, opts: BjorckConvergeOptions = {}): BjorckConvergeResult {
  const where = 'bjorckOrthonormalizeToConvergence';
  assertRank2(w, where);
  const { tol, maxIter } = resolveConvergeOptions(opts, where);
  const beta = opts.beta ?? DEFAULT_BETA_BJORCK;
  assertBeta(beta, where);
  const [m, n] = w.shape;
  let x: Float64Array = Float64Array.from(w.dataSync());
  const frob = norm64(x);
  if (frob > 1) for (let i = 0; i < x.length; i++) x[i] /= frob;

  let iterations = 0;
  let converged = false;
  while (iterations < maxIter) {
    const cubic = n <= m ? matMul64(x, gramCols64(x, m, n), m, n, n) : matMul64(gramRows64(x, m, n), x, m, m, n);
    const next = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) next[i] = (1 + beta) * x[i] - beta * cubic[i];
    iterations++;
    const size = norm64(next);
    const change = size > 0 ? distance64(next, x) / size : 0;
    x = next;
    if (!Number.isFinite(change)) break;
    if (change < tol) {
      converged = true;
      break;
    }
  }
  return { w: tf.tensor2d(Float32Array.from(x), [m, n]), iterations, converged };
}
