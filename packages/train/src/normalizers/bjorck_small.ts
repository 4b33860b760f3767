/**
 * Björck orthonormalization of a matrix with a small side (at most
 * `SMALL_BJORCK_MAX_SIDE` rows or columns), value and gradient in float64
 * plain JS.
 *
 * The Gram-matrix form (see `bjorckOrthonormalize`) needs about 5 tfjs ops
 * per iteration and 12 more for its gradient, whose per-op overhead dwarfs
 * the arithmetic on tiny matrices. Value and gradient, 15 steps, wasm,
 * medians: conv 1 of the reference network (9 x 16, Gram 9 x 9) about 20 ->
 * 8 ms, dense 2 (64 x 10) 5.4 -> 1.8 ms. From 32 x 32 on (conv 2, 144 x 32)
 * plain JS loses (26 ms against 12 ms), hence the limit of 16. The gradient is the chain rule through the same iteration (tall
 * `w [m, n]`, `a = 1 + beta`, `b = beta`, `T = niter`):
 *
 *     forward:  H_0 = w^T w, P_0 = I;  A_k = a I - b H_k,  P_{k+1} = P_k A_k,
 *               H_{k+1} = A_k (H_k A_k);  out = w P_T
 *     backward: dw = dOut P_T^T,  dP = w^T dOut,  dH = 0;  for k = T-1 .. 0:
 *               dA = P_k^T dP,  dP <- dP A_k^T,
 *               (k < T-1, M = H_k A_k)  dA += dH M^T,  dM = A_k^T dH,
 *                                       dH <- dM A_k^T,  dA += H_k^T dM   (else dH <- 0),
 *               dH <- dH - b dA;
 *               dw += w (dH + dH^T)
 *
 * A wide `w` is handled as the transpose of a tall one (the iteration
 * commutes with transposition).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Largest smaller side handled here; larger ones use tfjs ops (`gramFormBjorck`). */
export const SMALL_BJORCK_MAX_SIDE = 16;

/** `[r, c]` row-major -> `[c, r]`. */
function transpose64(a: Float64Array, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j];
  return out;
}

/** `a [r, k] x b [k, c]`. */
function mm(a: Float64Array, b: Float64Array, r: number, k: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) {
    const row = i * c;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      if (aip === 0) continue;
      const brow = p * c;
      for (let j = 0; j < c; j++) out[row + j] += aip * b[brow + j];
    }
  }
  return out;
}

/** `a^T b` for `a [k, r]`, `b [k, c]`. */
function mmTA(a: Float64Array, b: Float64Array, k: number, r: number, c: number): Float64Array {
  return mm(transpose64(a, k, r), b, r, k, c);
}

/** `a b^T` for `a [r, k]`, `b [c, k]`. */
function mmTB(a: Float64Array, b: Float64Array, r: number, k: number, c: number): Float64Array {
  return mm(a, transpose64(b, c, k), r, k, c);
}

/** What the forward pass keeps for the gradient (tall form). */
interface Trace {
  w: Float64Array;
  m: number;
  n: number;
  a: Float64Array[];
  h: Float64Array[];
  p: Float64Array[];
}

function forward(w: Float64Array, m: number, n: number, niter: number, beta: number): { out: Float64Array; trace: Trace } {
  const trace: Trace = { w, m, n, a: [], h: [], p: [] };
  let h: Float64Array = mmTA(w, w, m, n, n);
  let p: Float64Array = new Float64Array(n * n);
  for (let i = 0; i < n; i++) p[i * n + i] = 1;
  for (let k = 0; k < niter; k++) {
    const a = new Float64Array(n * n);
    for (let e = 0; e < n * n; e++) a[e] = -beta * h[e];
    for (let i = 0; i < n; i++) a[i * n + i] += 1 + beta;
    trace.a.push(a);
    trace.h.push(h);
    trace.p.push(p);
    p = mm(p, a, n, n, n);
    if (k < niter - 1) h = mm(a, mm(h, a, n, n, n), n, n, n);
  }
  trace.p.push(p);
  return { out: mm(w, p, m, n, n), trace };
}

function backward(t: Trace, dOut: Float64Array, beta: number): Float64Array {
  const { w, m, n } = t;
  const niter = t.a.length;
  const dw = mmTB(dOut, t.p[niter], m, n, n);
  let dP: Float64Array = mmTA(w, dOut, m, n, n);
  let dH: Float64Array = new Float64Array(n * n);
  for (let k = niter - 1; k >= 0; k--) {
    const a = t.a[k];
    const dA = mmTA(t.p[k], dP, n, n, n);
    dP = mmTB(dP, a, n, n, n);
    let dHk: Float64Array = new Float64Array(n * n);
    if (k < niter - 1) {
      const mk = mm(t.h[k], a, n, n, n);
      const fromH = mmTB(dH, mk, n, n, n);
      const dM = mmTA(a, dH, n, n, n);
      dHk = mmTB(dM, a, n, n, n);
      const viaM = mmTA(t.h[k], dM, n, n, n);
      for (let e = 0; e < n * n; e++) dA[e] += fromH[e] + viaM[e];
    }
    for (let e = 0; e < n * n; e++) dHk[e] -= beta * dA[e];
    dH = dHk;
  }
  const sym = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sym[i * n + j] = dH[i * n + j] + dH[j * n + i];
  const fromG = mm(w, sym, m, n, n);
  for (let e = 0; e < m * n; e++) dw[e] += fromG[e];
  return dw;
}

/**
 * `bjorckOrthonormalize(w, niter, beta)` for `min(rows, cols) <=
 * SMALL_BJORCK_MAX_SIDE` and `niter >= 1`, computed in float64 and rounded
 * to float32 once; differentiable (explicit gradient).
 */
export function smallBjorck(w: tf.Tensor2D, niter: number, beta: number): tf.Tensor2D {
  const [rows, cols] = w.shape;
  const tall = cols <= rows;
  const [m, n] = tall ? [rows, cols] : [cols, rows];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor2D;
    const raw = Float64Array.from(input.dataSync());
    const { out, trace } = forward(tall ? raw : transpose64(raw, rows, cols), m, n, niter, beta);
    return {
      value: tf.tensor2d(Float32Array.from(tall ? out : transpose64(out, m, n)), [rows, cols]),
      gradFunc: (dy: tf.Tensor2D) => {
        const d = Float64Array.from(dy.dataSync());
        const dw = backward(trace, tall ? d : transpose64(d, rows, cols), beta);
        return tf.tensor2d(Float32Array.from(tall ? dw : transpose64(dw, m, n)), [rows, cols]);
      },
    };
  });
  return op(w);
}

/**
 * Value and gradient (`dOut -> dw`) of `niter >= 1` steps in float64, for a
 * `w [rows, cols]` of any size: the reference of the float32 kernels' tests.
 */
export function bjorck64(
  w: Float64Array,
  rows: number,
  cols: number,
  niter: number,
  beta: number,
  dOut: Float64Array,
): { out: Float64Array; dw: Float64Array } {
  const tall = cols <= rows;
  const [m, n] = tall ? [rows, cols] : [cols, rows];
  const { out, trace } = forward(tall ? w : transpose64(w, rows, cols), m, n, niter, beta);
  const dw = backward(trace, tall ? dOut : transpose64(dOut, rows, cols), beta);
  return { out: tall ? out : transpose64(out, m, n), dw: tall ? dw : transpose64(dw, m, n) };
}
