/**
 * Guaranteed upper bounds on spectral norms, in float64.
 *
 * Power iteration converges to the top singular value from below, so it
 * cannot certify anything. Here every bound is certified: a Lanczos estimate
 * `mu` of lambda_max(M) (M = W^T W, symmetric positive semi-definite) is
 * checked by a Cholesky factorization of `mu I - M`, which succeeds only when
 * `mu I - M` is positive definite, i.e. `lambda_max(M) < mu`. Rounding is
 * accounted for with Higham's bound for Cholesky (Accuracy and Stability of
 * Numerical Algorithms, Thm 10.3): the computed factor R satisfies
 * R^T R = B + dB with |dB| <= gamma_{p+1} |R^T||R| (p the bandwidth), hence
 * lambda_min(B) >= -gamma_{p+1} ||R||_F^2. Errors made while forming M are
 * bounded by the caller (`entryError`). A relative margin of
 * BOUND_SAFETY_MARGIN covers what remains (sqrt, products).
 *
 * Convolutions: Sedghi, Gupta and Long, "The Singular Values of Convolutional
 * Layers" (ICLR 2019). A zero-padded 2-D convolution on an h x w input is a
 * submatrix of the circular convolution on any N1 x N2 grid with
 * N1 >= h + kh - 1, N2 >= w + kw - 1 (no wrap-around), and the circular
 * convolution is block-diagonalized by the 2-D DFT: its singular values are
 * those of the cout x cin matrices K^(u, v) = sum_{y,x} K[y, x] e^{-2 pi i (u y / N1 + v x / N2)}.
 * Striding and cropping select rows, which can only lower the norm.
 */
import { assertArg } from '../errors';

/** Relative margin added to every certified norm bound. */
export const BOUND_SAFETY_MARGIN = 1e-6;

/** Unit roundoff of float64. */
const UNIT_ROUNDOFF = 2 ** -53;

/** gamma_n = n u / (1 - n u) (Higham, Section 3.1). */
export function roundoffGamma(n: number): number {
  const nu = n * UNIT_ROUNDOFF;
  return nu / (1 - nu);
}

/**
 * A symmetric banded matrix, upper band stored row by row:
 * `data[i * (b + 1) + (j - i)] = M[i][j]` for `i <= j <= min(i + b, d - 1)`.
 */
export interface SymmetricBand {
  /** Dimension. */
  readonly d: number;
  /** Bandwidth: M[i][j] = 0 when |i - j| > b. */
  readonly b: number;
  readonly data: Float64Array;
}

/** A zeroed band of dimension d and bandwidth b (clamped to d - 1). */
export function emptyBand(d: number, b: number): SymmetricBand {
  const bw = Math.max(0, Math.min(b, d - 1));
  return { d, b: bw, data: new Float64Array(d * (bw + 1)) };
}

/** Band view of a dense symmetric row-major matrix (the upper triangle is read). */
export function denseToBand(m: Float64Array, d: number): SymmetricBand {
  const band = emptyBand(d, d - 1);
  const w = band.b + 1;
  for (let i = 0; i < d; i++) for (let j = i; j < d; j++) band.data[i * w + (j - i)] = m[i * d + j];
  return band;
}

/** y = M x. */
export function bandMatVec(m: SymmetricBand, x: Float64Array, y: Float64Array): void {
  const { d, b, data } = m;
  const w = b + 1;
  y.fill(0);
  for (let i = 0; i < d; i++) {
    const row = i * w;
    const xi = x[i];
    let acc = data[row] * xi;
    const jmax = Math.min(d - 1, i + b);
    for (let j = i + 1; j <= jmax; j++) {
      const a = data[row + (j - i)];
      acc += a * x[j];
      y[j] += a * xi;
    }
    y[i] += acc;
  }
}

/** Largest eigenvalue of the symmetric tridiagonal matrix (alpha diagonal, beta off-diagonal), by Sturm bisection. */
function tridiagonalLambdaMax(alpha: number[], beta: number[]): number {
  const m = alpha.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < m; i++) {
    const r = (i > 0 ? Math.abs(beta[i - 1]) : 0) + (i < m - 1 ? Math.abs(beta[i]) : 0);
    lo = Math.min(lo, alpha[i] - r);
    hi = Math.max(hi, alpha[i] + r);
  }
  // Number of eigenvalues < x (Sturm sequence of the LDL^T pivots).
  const below = (x: number): number => {
    let count = 0;
    let q = alpha[0] - x;
    if (q < 0) count++;
    for (let i = 1; i < m; i++) {
      const denom = q === 0 ? 1e-300 : q;
      q = alpha[i] - x - (beta[i - 1] * beta[i - 1]) / denom;
      if (q < 0) count++;
    }
    return count;
  };
  for (let it = 0; it < 200 && hi - lo > 1e-15 * Math.max(Math.abs(hi), Math.abs(lo), 1e-300); it++) {
    const mid = 0.5 * (lo + hi);
    if (below(mid) === m) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Deterministic pseudo-random start vector (the estimate must not depend on Math.random). */
function startVector(d: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  const v = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    v[i] = s / 4294967296 - 0.5;
  }
  return v;
}

/** Last component of the unit eigenvector of T for the eigenvalue near theta (inverse iteration, Thomas algorithm). */
function ritzLastComponent(alpha: number[], beta: number[], theta: number): number {
  const m = alpha.length;
  if (m === 1) return 1;
  let scale = 1e-300;
  for (let i = 0; i < m; i++) scale = Math.max(scale, Math.abs(alpha[i]));
  for (let i = 0; i < beta.length; i++) scale = Math.max(scale, Math.abs(beta[i]));
  const sigma = theta + 1e-13 * scale;
  const y = new Float64Array(m).fill(1);
  const c = new Float64Array(m);
  const d = new Float64Array(m);
  const z = new Float64Array(m);
  for (let it = 0; it < 3; it++) {
    // Solve (T - sigma I) z = y.
    let denom = alpha[0] - sigma || 1e-300;
    c[0] = (beta[0] ?? 0) / denom;
    d[0] = y[0] / denom;
    for (let i = 1; i < m; i++) {
      denom = alpha[i] - sigma - beta[i - 1] * c[i - 1] || 1e-300;
      c[i] = i < m - 1 ? beta[i] / denom : 0;
      d[i] = (y[i] - beta[i - 1] * d[i - 1]) / denom;
    }
    z[m - 1] = d[m - 1];
    for (let i = m - 2; i >= 0; i--) z[i] = d[i] - c[i] * z[i + 1];
    let sumSq = 0;
    for (let i = 0; i < m; i++) sumSq += z[i] * z[i];
    const norm = Math.sqrt(sumSq);
    if (!(norm > 0) || !Number.isFinite(norm)) return 1;
    for (let i = 0; i < m; i++) y[i] = z[i] / norm;
  }
  return Math.abs(y[m - 1]);
}

export interface LanczosEstimate {
  /** Largest Ritz value (a lower bound of lambda_max in exact arithmetic). */
  theta: number;
  /** Ritz residual ||M v - theta v||: an eigenvalue lies within it of theta (usually the largest). */
  residual: number;
  steps: number;
}

/**
 * Lanczos estimate of lambda_max with full reorthogonalization, run until
 * the Ritz residual falls below `tol * |theta|` or `maxSteps`. Not
 * certified: see `symmetricLambdaMaxUpperBound`.
 */
export function lanczosLambdaMax(m: SymmetricBand, maxSteps = 160, tol = 1e-9, seed = 12345): LanczosEstimate {
  const { d } = m;
  const k = Math.min(d, maxSteps);
  const basis: Float64Array[] = [];
  const alpha: number[] = [];
  const beta: number[] = [];
  let q = startVector(d, seed);
  let norm = Math.sqrt(dot(q, q, d));
  for (let i = 0; i < d; i++) q[i] /= norm;
  const w = new Float64Array(d);
  let scale = 0;
  let theta = 0;
  let residual = Infinity;
  for (let j = 0; j < k; j++) {
    basis.push(q);
    bandMatVec(m, q, w);
    const a = dot(w, q, d);
    alpha.push(a);
    // Twice-applied full reorthogonalization (Gram-Schmidt) against the whole basis.
    for (let pass = 0; pass < 2; pass++) {
      for (const v of basis) subtractMultiple(w, dot(w, v, d), v, d);
    }
    norm = Math.sqrt(dot(w, w, d));
    scale = Math.max(scale, Math.abs(a), norm);
    const breakdown = !(norm > 1e-13 * scale);
    const last = j === k - 1 || breakdown;
    if (last || (j + 1) % 8 === 0) {
      theta = tridiagonalLambdaMax(alpha, beta);
      residual = breakdown ? 0 : norm * ritzLastComponent(alpha, beta, theta);
      if (last || residual <= tol * Math.abs(theta)) return { theta, residual, steps: j + 1 };
    }
    beta.push(norm);
    q = new Float64Array(d);
    for (let i = 0; i < d; i++) q[i] = w[i] / norm;
  }
  return { theta, residual, steps: k };
}

// The hot loops are small functions of their own: V8 optimizes those after a few calls, long before it would
// replace a running loop nest (a bound runs each loop nest only a few times, so unoptimized code would dominate).

/** sum_{i < d} a[i] b[i], in order of i. */
function dot(a: Float64Array, b: Float64Array, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += a[i] * b[i];
  return s;
}

/** w -= c v (first d entries). */
function subtractMultiple(w: Float64Array, c: number, v: Float64Array, d: number): void {
  for (let i = 0; i < d; i++) w[i] -= c * v[i];
}

/**
 * Cholesky factorization of `mu I - M` (right-looking, on the band). Returns
 * `||R||_F^2` on success, or null when a pivot is not positive (then
 * `mu I - M` is not safely positive definite).
 */
export function shiftedBandCholesky(m: SymmetricBand, mu: number): number | null {
  const { d, b } = m;
  const w = b + 1;
  // One scratch band per size, reused: a bound factors many bands of the same size (one per frequency).
  const r = choleskyScratch(m.data.length);
  for (let i = 0; i < m.data.length; i++) r[i] = -m.data[i];
  for (let i = 0; i < d; i++) r[i * w] += mu;
  let sumSq = 0;
  for (let i = 0; i < d; i++) {
    const row = i * w;
    const p = r[row];
    if (!(p > 0)) return null;
    const rii = Math.sqrt(p);
    r[row] = rii;
    sumSq += p;
    const jmax = Math.min(d - 1, i + b);
    const inv = 1 / rii;
    for (let j = i + 1; j <= jmax; j++) r[row + (j - i)] *= inv;
    sumSq = eliminateRow(r, i, w, jmax, sumSq);
  }
  return sumSq;
}

let scratch = new Float64Array(0);

/** A Float64Array of `n` doubles for `shiftedBandCholesky`'s factor (its contents are overwritten). */
function choleskyScratch(n: number): Float64Array {
  if (scratch.length < n || scratch.length > 4 * n + 4096) scratch = new Float64Array(n);
  return scratch.length === n ? scratch : scratch.subarray(0, n);
}

/**
 * One step of `shiftedBandCholesky` (row i of R already scaled): W[j][l] -= R[i][j] R[i][l]
 * for i < j <= l <= jmax; returns `sumSq` plus each R[i][j]^2, added in order of j.
 */
function eliminateRow(r: Float64Array, i: number, w: number, jmax: number, sumSq: number): number {
  const off = i * w - i; // R[i][l] at off + l
  for (let j = i + 1; j <= jmax; j++) {
    const rij = r[off + j];
    if (rij === 0) continue;
    sumSq += rij * rij;
    const base = j * w - j; // W[j][l] at base + l
    for (let l = j; l <= jmax; l++) r[base + l] -= rij * r[off + l];
  }
  return sumSq;
}

/** Gershgorin bound on lambda_max: max_i sum_j |M_ij| (rounded up). */
export function gershgorinBound(m: SymmetricBand): number {
  const { d, b, data } = m;
  const w = b + 1;
  const rows = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    rows[i] += Math.abs(data[i * w]);
    const jmax = Math.min(d - 1, i + b);
    for (let j = i + 1; j <= jmax; j++) {
      const a = Math.abs(data[i * w + (j - i)]);
      rows[i] += a;
      rows[j] += a;
    }
  }
  let best = 0;
  for (let i = 0; i < d; i++) best = Math.max(best, rows[i]);
  return best * (1 + roundoffGamma(d + 1));
}

export interface LambdaMaxBound {
  /** Guaranteed: lambda_max(M_exact) <= upper, given ||M_computed - M_exact||_2 <= entryError. */
  upper: number;
  /** Lanczos estimate (not guaranteed). */
  estimate: number;
  /** 'cholesky' when certified by a factorization, 'gershgorin' for the fallback. */
  method: 'cholesky' | 'gershgorin';
}

/**
 * Guaranteed upper bound on the largest eigenvalue of a symmetric banded
 * matrix, tight to about 1e-9 relative when the Lanczos estimate converges.
 * `entryError` bounds the spectral norm of the error made when M was formed.
 */
export function symmetricLambdaMaxUpperBound(m: SymmetricBand, entryError = 0): LambdaMaxBound {
  assertArg(entryError >= 0 && Number.isFinite(entryError), () => `'entryError' must be finite and >= 0, got ${entryError}`);
  const gersh = gershgorinBound(m) + entryError;
  if (m.d === 0) return { upper: 0, estimate: 0, method: 'gershgorin' };
  const { theta, residual } = lanczosLambdaMax(m);
  const estimate = theta;
  let maxDiag = 0;
  for (let i = 0; i < m.d; i++) maxDiag = Math.max(maxDiag, Math.abs(m.data[i * (m.b + 1)]));
  const scale = Math.max(Math.abs(estimate), maxDiag, 1e-300);
  const gamma = roundoffGamma(m.b + 2);
  // First try just above the Ritz interval, then step up by decades.
  let step = Math.max(1.5 * (Number.isFinite(residual) ? residual : scale), 1e-10 * scale);
  for (let attempt = 0; attempt < 14; attempt++, step *= 10) {
    const mu = Math.max(estimate, 0) + step;
    if (mu >= gersh) break;
    const sumSq = shiftedBandCholesky(m, mu);
    if (sumSq !== null) {
      const upper = (mu + 2 * gamma * sumSq + entryError) * (1 + 4 * UNIT_ROUNDOFF);
      if (upper < gersh) return { upper, estimate, method: 'cholesky' };
      break;
    }
  }
  return { upper: gersh, estimate, method: 'gershgorin' };
}

/**
 * A certified upper bound on lambda_max of a symmetric band that is at most
 * `target`, from one Cholesky factorization of `mu I - M` (the certificate
 * of `symmetricLambdaMaxUpperBound`, with `mu` chosen so that it lands at or
 * below `target`), or null when that factorization fails or its certificate
 * lands above `target`. No Lanczos estimate: it proves "lambda_max <= target"
 * for a fraction of the work when that holds with some room, and says
 * nothing otherwise. `entryError` as in `symmetricLambdaMaxUpperBound`.
 */
export function lambdaMaxBelow(m: SymmetricBand, entryError: number, target: number): number | null {
  const { d, b, data } = m;
  if (d === 0 || !(target > 0) || !Number.isFinite(target)) return null;
  const gamma = roundoffGamma(b + 2);
  // ||R||_F^2 = trace(mu I - M) in exact arithmetic: pick mu so that (mu + 2 gamma (d mu - trace) + entryError)(1 + 4u) <= target.
  let trace = 0;
  for (let i = 0; i < d; i++) trace += data[i * (b + 1)];
  const mu = ((target / (1 + 4 * UNIT_ROUNDOFF) - entryError + 2 * gamma * trace) / (1 + 2 * gamma * d)) * (1 - 64 * UNIT_ROUNDOFF);
  if (!(mu > 0)) return null;
  const sumSq = shiftedBandCholesky(m, mu);
  if (sumSq === null) return null;
  const upper = (mu + 2 * gamma * sumSq + entryError) * (1 + 4 * UNIT_ROUNDOFF);
  return upper <= target ? upper : null;
}

/**
 * Guaranteed upper bound on the spectral norm of a dense `rows x cols`
 * row-major matrix (values taken as exact float64), with the
 * BOUND_SAFETY_MARGIN included.
 */
export function matrixSpectralNormUpperBound(w: Float32Array | Float64Array, rows: number, cols: number): number {
  assertArg(
    Number.isInteger(rows) && rows >= 0 && Number.isInteger(cols) && cols >= 0 && w.length === rows * cols,
    () => `'w' holds ${w.length} values, expected rows*cols = ${rows}*${cols}`,
  );
  if (rows === 0 || cols === 0) return 0;
  // Gram matrix on the smaller side: G = W^T W (cols x cols) or W W^T (rows x rows).
  const byCols = cols <= rows;
  const d = byCols ? cols : rows;
  const inner = byCols ? rows : cols;
  const g = new Float64Array(d * d);
  const at = (r: number, c: number): number => w[r * cols + c];
  for (let t = 0; t < inner; t++) {
    for (let i = 0; i < d; i++) {
      const a = byCols ? at(t, i) : at(i, t);
      if (a === 0) continue;
      for (let j = i; j < d; j++) g[i * d + j] += a * (byCols ? at(t, j) : at(j, t));
    }
  }
  // ||G_computed - G||_2 <= gamma_inner || |W|^T |W| ||_2 <= gamma_inner ||W||_1 ||W||_inf.
  let maxRow = 0;
  const colSums = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(at(r, c));
      s += a;
      colSums[c] += a;
    }
    maxRow = Math.max(maxRow, s);
  }
  let maxCol = 0;
  for (let c = 0; c < cols; c++) maxCol = Math.max(maxCol, colSums[c]);
  const entryError = roundoffGamma(inner + 2) * maxRow * maxCol * (1 + roundoffGamma(rows + cols));
  const { upper } = symmetricLambdaMaxUpperBound(denseToBand(g, d), entryError);
  return Math.sqrt(upper) * (1 + BOUND_SAFETY_MARGIN);
}

/**
 * Guaranteed upper bound on the L2 operator norm of a zero-padded 2-D
 * convolution with kernel `[kh, kw, cin, cout]` (tfjs layout) on inputs of
 * spatial size `inputHW`: the largest singular value of the circular
 * convolution on the (h + kh - 1) x (w + kw - 1) grid, over all DFT
 * frequencies (Sedghi et al. 2019), computed in float64 and certified per
 * frequency. Valid for any zero padding ('same', 'valid') and any stride
 * (a strided conv selects rows of the stride-1 one).
 */
export function convSpectralNormUpperBound(
  kernel: Float32Array | Float64Array,
  shape: [number, number, number, number],
  inputHW: [number, number],
  strides: [number, number],
  padding: 'same' | 'valid',
): number {
  const where = 'convSpectralNormUpperBound';
  assertArg(
    Array.isArray(shape) && shape.length === 4 && shape.every((d) => Number.isInteger(d) && d >= 1),
    () => `${where}: 'shape' must be [kh, kw, cin, cout] positive integers, got ${JSON.stringify(shape)}`,
  );
  const [kh, kw, cin, cout] = shape;
  assertArg(kernel instanceof Float32Array || kernel instanceof Float64Array, () => `${where}: 'kernel' must be a Float32Array or Float64Array`);
  assertArg(
    kernel.length === kh * kw * cin * cout,
    () => `${where}: 'kernel' holds ${kernel.length} values, shape [${shape.join(', ')}] needs ${kh * kw * cin * cout}`,
  );
  assertArg(
    Array.isArray(inputHW) && inputHW.length === 2 && inputHW.every((d) => Number.isInteger(d) && d >= 1),
    () => `${where}: 'inputHW' must be two positive integers, got ${JSON.stringify(inputHW)}`,
  );
  assertArg(
    Array.isArray(strides) && strides.length === 2 && strides.every((d) => Number.isInteger(d) && d >= 1),
    () => `${where}: 'strides' must be two integers >= 1, got ${JSON.stringify(strides)}`,
  );
  assertArg(padding === 'same' || padding === 'valid', () => `${where}: 'padding' must be 'same' or 'valid', got ${JSON.stringify(padding)}`);
  for (let i = 0; i < kernel.length; i++) {
    assertArg(Number.isFinite(kernel[i]), () => `${where}: 'kernel' holds a non-finite value (${kernel[i]}) at index ${i}`);
  }
  return circularConvNormUpperBound(Float64Array.from(kernel), kh, kw, cin, cout, inputHW[0] + kh - 1, inputHW[1] + kw - 1) * (1 + BOUND_SAFETY_MARGIN);
}

/**
 * Certified largest eigenvalue of one frequency's Hermitian Gram, given as its
 * real symmetric embedding (`size` = 2n) with entry error `entryError`; null
 * lets that frequency fall back to its trace bound (a caller out of work budget).
 * `enough` (> 0 once a frequency is certified) is the largest eigenvalue that
 * cannot raise the result: a certified value at or below it (`lambdaMaxBelow`,
 * one Cholesky factorization instead of Lanczos) serves as well as a tight one.
 */
export type FrequencyLambdaMax = (band: SymmetricBand, entryError: number, size: number, enough: number) => number | null;

/**
 * Largest singular value (certified upper bound, no safety margin) of the
 * circular convolution with kernel `k[((y * kw + x) * cin + ci) * cout + co]`
 * on an n1 x n2 grid. `lambdaMax` certifies each frequency's eigenvalue
 * (default: `symmetricLambdaMaxUpperBound`); where it returns null the
 * frequency is bounded by sqrt(trace), always sound, and `onTraceOnly` is called.
 */
export function circularConvNormUpperBound(
  k: Float64Array,
  kh: number,
  kw: number,
  cin: number,
  cout: number,
  n1: number,
  n2: number,
  lambdaMax: FrequencyLambdaMax = (band, entryError) => symmetricLambdaMaxUpperBound(band, entryError).upper,
  onTraceOnly: () => void = () => {},
): number {
  // Twiddles e^{-2 pi i u y / n1} and e^{-2 pi i v x / n2}.
  const tw = (n: number, taps: number): { c: Float64Array; s: Float64Array } => {
    const c = new Float64Array(n * taps);
    const s = new Float64Array(n * taps);
    for (let u = 0; u < n; u++) {
      for (let y = 0; y < taps; y++) {
        const a = (-2 * Math.PI * ((u * y) % n)) / n;
        c[u * taps + y] = Math.cos(a);
        s[u * taps + y] = Math.sin(a);
      }
    }
    return { c, s };
  };
  const t1 = tw(n1, kh);
  const t2 = tw(n2, kw);
  const taps = kh * kw;
  // Per-(co, ci) absolute tap sums: the computed K^ entries err by at most gamma * this.
  const absSum = new Float64Array(cout * cin);
  for (let t = 0; t < taps; t++) {
    for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) absSum[co * cin + ci] += Math.abs(k[(t * cin + ci) * cout + co]);
  }
  const absFro = Math.sqrt(absSum.reduce((a, v) => a + v * v, 0));
  const khatError = roundoffGamma(2 * taps + 16) * absFro;

  const n = Math.min(cin, cout);
  // kt[(t * cout + co) * cin + ci]: each tap's cout x cin matrix, laid out as K^ is.
  const entries = cout * cin;
  const kt = new Float64Array(taps * entries);
  for (let t = 0; t < taps; t++) {
    for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) kt[t * entries + co * cin + ci] = k[(t * cin + ci) * cout + co];
  }
  const re = new Float64Array(cout * cin);
  const im = new Float64Array(cout * cin);
  const wre = new Float64Array(taps);
  const wim = new Float64Array(taps);
  /** K^ of frequency (u, v) into re, im. */
  const transform = (u: number, v: number): void => {
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        const a = t1.c[u * kh + y],
          b = t1.s[u * kh + y];
        const c = t2.c[v * kw + x],
          d = t2.s[v * kw + x];
        wre[y * kw + x] = a * c - b * d;
        wim[y * kw + x] = a * d + b * c;
      }
    }
    re.fill(0);
    im.fill(0);
    for (let t = 0; t < taps; t++) addScaledTap(kt, t * entries, entries, wre[t], wim[t], re, im);
  };
  // (u, v) and (-u, -v) give conjugate matrices with the same singular values: one of each pair. Largest ||K^||_F first,
  // so that the frequencies certified first are likely the largest, and the rest need only show they stay below them
  // (`enough`). The order changes no frequency's certificate, and the result is their maximum.
  const order: { u: number; v: number; fro: number }[] = [];
  for (let u = 0; u < n1; u++) {
    for (let v = 0; v < n2; v++) {
      const cu = (n1 - u) % n1;
      const cv = (n2 - v) % n2;
      if (cu * n2 + cv < u * n2 + v) continue;
      transform(u, v);
      order.push({ u, v, fro: frobeniusSquared(re, im) });
    }
  }
  order.sort((p, q) => q.fro - p.fro || p.u - q.u || p.v - q.v);
  // Reused by every frequency (each overwrites all of it).
  const gram = { re: new Float64Array(n * n), im: new Float64Array(n * n) };
  const embedding = emptyBand(2 * n, 2 * n - 1);
  let best = 0;
  for (const { u, v } of order) {
    transform(u, v);
    // Hermitian Gram G on the smaller side; trace(G) = ||K^||_F^2 >= lambda_max(G).
    const g = hermitianGram(re, im, cout, cin, cin <= cout, gram);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += g.re[i * n + i];
    const gError = roundoffGamma(2 * Math.max(cin, cout) + 4) * trace;
    const traceBound = Math.sqrt(trace + gError) + khatError;
    if (traceBound <= best) continue;
    let lambda: number;
    if (n === 1) {
      lambda = g.re[0] + gError;
    } else {
      const m2 = 2 * n;
      // The eigenvalue at or below which sigma (below) stays at or below best.
      const room = (best - khatError) / (1 + 4 * UNIT_ROUNDOFF);
      const enough = best > 0 && room > 0 ? room * room * (1 - 8 * UNIT_ROUNDOFF) : 0;
      const certified = lambdaMax(hermitianEmbedding(g.re, g.im, n, embedding), gError, m2, enough);
      if (certified === null) {
        onTraceOnly();
        if (traceBound > best) best = traceBound;
        continue;
      }
      lambda = certified;
    }
    const sigma = Math.min(Math.sqrt(Math.max(lambda, 0)) * (1 + 4 * UNIT_ROUNDOFF) + khatError, traceBound);
    if (sigma > best) best = sigma;
  }
  return best;
}

/** sum of re^2 + im^2. */
function frobeniusSquared(re: Float64Array, im: Float64Array): number {
  let s = 0;
  for (let e = 0; e < re.length; e++) s += re[e] * re[e] + im[e] * im[e];
  return s;
}

/** re += c kt[base ..], im += s kt[base ..] (`entries` values): one tap's term of K^. */
function addScaledTap(kt: Float64Array, base: number, entries: number, c: number, s: number, re: Float64Array, im: Float64Array): void {
  for (let e = 0; e < entries; e++) {
    const kv = kt[base + e];
    re[e] += kv * c;
    im[e] += kv * s;
  }
}

/**
 * The real symmetric embedding [[Re, -Im], [Im, Re]] of the n x n Hermitian
 * G = re + i im (same eigenvalues, each twice), as a full band (b = 2n - 1).
 */
function hermitianEmbedding(re: Float64Array, im: Float64Array, n: number, band: SymmetricBand): SymmetricBand {
  const m2 = 2 * n;
  const data = band.data;
  // Row i < n of the upper triangle: Re[i][j] (j >= i), then -Im[i][j]; row i + n: Re[i][j] (j >= i).
  for (let i = 0; i < n; i++) {
    const top = i * m2 - i;
    const bottom = (i + n) * m2 - (i + n);
    for (let j = i; j < n; j++) {
      data[top + j] = re[i * n + j];
      data[bottom + j + n] = re[i * n + j];
    }
    for (let j = 0; j < n; j++) data[top + j + n] = -im[i * n + j];
  }
  return band;
}

/** G = A^H A (cols x cols) when `byCols`, else A A^H (rows x rows), for A = re + i im (rows x cols). */
function hermitianGram(
  re: Float64Array,
  im: Float64Array,
  rows: number,
  cols: number,
  byCols: boolean,
  out: { re: Float64Array; im: Float64Array },
): { re: Float64Array; im: Float64Array } {
  const n = byCols ? cols : rows;
  const inner = byCols ? rows : cols;
  const gre = out.re;
  const gim = out.im;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let sr = 0,
        si = 0;
      for (let t = 0; t < inner; t++) {
        // byCols: sum_t conj(A[t][i]) A[t][j]; else sum_t A[i][t] conj(A[j][t]).
        const ai = byCols ? t * cols + i : i * cols + t;
        const aj = byCols ? t * cols + j : j * cols + t;
        const ar = re[ai],
          ai_ = byCols ? -im[ai] : im[ai];
        const br = re[aj],
          bi = byCols ? im[aj] : -im[aj];
        sr += ar * br - ai_ * bi;
        si += ar * bi + ai_ * br;
      }
      gre[i * n + j] = sr;
      gim[i * n + j] = si;
      gre[j * n + i] = sr;
      gim[j * n + i] = -si;
    }
  }
  return { re: gre, im: gim };
}
