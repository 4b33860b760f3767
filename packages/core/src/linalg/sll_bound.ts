/**
 * The certificate of an SLL residual block (Araujo et al. 2023, "A Unified
 * Algebraic Perspective on Lipschitz Neural Networks", Theorem 3), checked on
 * the weights themselves, in float64:
 *
 *     y = x - A^T diag(g) s(A x + b)
 *
 * with A a linear map R^n -> R^k (a dense `[k, n]` matrix or a zero-padded
 * convolution), g >= 0 and s elementwise with slopes in [0, 1] (ReLU). Then
 * s(u) - s(u') = L (u - u') with L diagonal in [0, 1], so
 * y - y' = (I - M^T L M)(x - x') with M = diag(g)^(1/2) A. M^T L M is
 * positive semi-definite with norm at most ||M||^2 = c, so the symmetric
 * I - M^T L M has its eigenvalues in [1 - c, 1]: the block is
 * max(1, c - 1)-Lipschitz, exactly 1 when c <= 2 (the SDP condition
 * diag(2 / g) >= A A^T that SLL's T = diag(2 / g) satisfies).
 *
 * c is bounded from above with the certified norms of ./conv_norm_bound.ts
 * (BOUND_SAFETY_MARGIN included) on M_t = diag(t) A, t_i >= sqrt(g_i): rows
 * scaled by factors no smaller in magnitude cannot have a smaller norm
 * (diag(sqrt g) A = diag(sqrt(g) / t) M_t, a contraction). M_t is formed in
 * float64, each entry rounded within 2^-53 relative: the error E has
 * ||E|| <= 2^-53 ||M_t||_F <= 2^-53 sqrt(r) ||M_t|| (r = min(k, n); for a conv
 * sqrt(taps r) bounds the sum over taps), so ||M_t|| <= ub(M_computed) /
 * (1 - 2^-53 sqrt(r)), covered by a factor 1 + 1e-9 while r < 1e13.
 *
 * The exporter (@lip/export) and the bound (@lip/verify) call these same
 * functions on the same float32 weights, so they get the same bits.
 */
import { assertArg } from '../errors';
import { convSpectralNormUpperBound, matrixSpectralNormUpperBound } from './conv_norm_bound';

/** Covers the float64 rounding of the scaled weights (module comment). */
const SCALED_ROUNDING_FACTOR = 1 + 1e-9;

/** A number >= x + ulp(x) for normal x >= 0. */
function up(x: number): number {
  return x + x * 2 ** -52;
}

/** t_i >= sqrt(g_i) (Math.sqrt is correctly rounded: one ulp up covers it); null when a g_i is negative or not finite. */
function rowScales(g: ArrayLike<number>): Float64Array | null {
  const t = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    if (!(g[i] >= 0) || !Number.isFinite(g[i])) return null;
    t[i] = up(Math.sqrt(g[i]));
  }
  return t;
}

/** c from a certified upper bound of ||M_t||: (ub (1 + 1e-9))^2, rounded up. */
function squaredUp(norm: number): number {
  const n = up(norm * SCALED_ROUNDING_FACTOR);
  return up(n * n);
}

/**
 * Upper bound on ||diag(g)^(1/2) A||_2^2 for the dense `[k, n]` row-major
 * matrix `a` (A maps R^n to R^k); Infinity when a g_i is negative or not
 * finite (no certificate).
 */
export function sllDenseNormSquaredUpperBound(a: Float32Array | Float64Array, k: number, n: number, g: ArrayLike<number>): number {
  assertArg(
    Number.isInteger(k) && k >= 1 && Number.isInteger(n) && n >= 1 && a.length === k * n && g.length === k,
    () => `sllDenseNormSquaredUpperBound: 'a' must hold k*n = ${k}*${n} values and 'g' k values, got ${a.length} and ${g.length}`,
  );
  const t = rowScales(g);
  if (t === null) return Infinity;
  const m = new Float64Array(k * n);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) m[i * n + j] = t[i] * a[i * n + j];
  return squaredUp(matrixSpectralNormUpperBound(m, k, n));
}

/**
 * Upper bound on ||diag(g)^(1/2) A||_2^2 for the convolution A with kernel
 * `[k, cin, kh, kw]` (ONNX layout: k output channels, g per output channel),
 * stride 1 and any zero padding of at most the kernel size minus one on each
 * side, on inputs of `inputHW`; Infinity when a g_i is negative or not finite.
 */
export function sllConvNormSquaredUpperBound(
  kernel: Float32Array | Float64Array,
  shape: [k: number, cin: number, kh: number, kw: number],
  inputHW: [number, number],
  g: ArrayLike<number>,
): number {
  const [k, cin, kh, kw] = shape;
  assertArg(
    shape.every((d) => Number.isInteger(d) && d >= 1) && kernel.length === k * cin * kh * kw && g.length === k,
    () => `sllConvNormSquaredUpperBound: 'kernel' must hold ${shape.join('*')} values and 'g' ${k}, got ${kernel.length} and ${g.length}`,
  );
  const t = rowScales(g);
  if (t === null) return Infinity;
  // Scaled, in the tfjs layout [kh, kw, cin, k] the certified conv bound reads.
  const m = new Float64Array(kernel.length);
  for (let o = 0; o < k; o++) {
    for (let c = 0; c < cin; c++) {
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) m[((y * kw + x) * cin + c) * k + o] = t[o] * kernel[((o * cin + c) * kh + y) * kw + x];
    }
  }
  // The circular bound on the (h + kh - 1) x (w + kw - 1) grid covers any padding up to kh - 1 (kw - 1) per side.
  return squaredUp(convSpectralNormUpperBound(m, [kh, kw, cin, k], inputHW, [1, 1], 'same'));
}

/** The SLL block's Lipschitz factor from c >= ||M||^2: 1 when c <= 2, else c - 1 (rounded up). */
export function sllLipschitzFactor(c: number): number {
  if (!(c >= 0)) return Infinity;
  return c <= 2 ? 1 : up(c - 1);
}
