/**
 * Certified upper bound on the spectral norm of a dense matrix, within a work
 * limit.
 *
 *  - exact: lambda_max of the Gram matrix on the smaller side, certified by
 *    Lanczos + Cholesky (the arithmetic of @lip/train's
 *    `matrixSpectralNormUpperBound`, with its rounding analysis), while the
 *    Gram, Lanczos (with reorthogonalization) and Cholesky work fits
 *    DENSE_WORK_LIMIT;
 *  - block: otherwise the smaller side is cut into B blocks W_b of s rows
 *    (or columns), s the largest power of two that fits the limit, and
 *    ||W||_2^2 = ||sum_b W_b^T W_b|| <= sum_b ||W_b||_2^2, each ||W_b|| exact
 *    (s = 1 gives the Frobenius norm);
 *  - and never more than sqrt(||W||_1 ||W||_inf).
 *
 * Weights far from 1 (below 2^-300 or above 2^300) are scaled by a power of
 * two first, so the Gram matrix neither underflows to 0 nor overflows.
 */
import { BOUND_SAFETY_MARGIN, denseToBand, roundoffGamma } from '@lip/core/linalg';
import { mulUp, nextUp, sqrtUp, timesPow2 } from './rounding';
import { certifiedLambdaMax, lambdaMaxMemory, lambdaMaxWork, WorkLimitExceeded, WorkMeter } from './work';

/** Largest number of multiply-adds spent on the certified norm of one dense matrix (about a second). */
export const DENSE_WORK_LIMIT = 1e9;
/** Largest number of doubles the exact dense bound allocates at once (320 MB). */
export const DENSE_MEMORY_LIMIT = 4e7;

export interface DenseNormBound {
  bound: number;
  method: 'exact' | 'block' | 'one-inf';
  /** Blocks of the block bound (1 for exact). */
  blocks: number;
}

/** Gram work (multiply-adds) on a d-sided Gram with `inner` terms per entry, plus the certificate. */
function exactWork(d: number, inner: number): number {
  return (inner * d * (d + 1)) / 2 + 2 * inner * d + lambdaMaxWork(d, d - 1);
}

/**
 * Certified bound (BOUND_SAFETY_MARGIN included) on ||W||_2 of the rows x cols
 * row-major matrix `w`, by the Gram on the smaller side; charges `meter`.
 * Every Gram entry is summed over t in increasing order, as
 * `matrixSpectralNormUpperBound` does, so both give the same bits.
 */
function exactNorm(w: Float64Array, rows: number, cols: number, meter: WorkMeter, sums: AbsSums = absSums(w, rows, cols)): number {
  if (rows === 0 || cols === 0) return 0;
  const byCols = cols <= rows;
  const d = byCols ? cols : rows;
  const inner = byCols ? rows : cols;
  meter.charge((inner * d * (d + 1)) / 2 + 2 * inner * d, 'Gram matrix', 2 * d * d + lambdaMaxMemory(d, d - 1));
  const g = gramUpper(w, rows, cols);
  // ||G_computed - G||_2 <= gamma_inner || |W|^T |W| ||_2 <= gamma_inner ||W||_1 ||W||_inf.
  const entryError = roundoffGamma(inner + 2) * sums.maxRow * sums.maxCol * (1 + roundoffGamma(rows + cols));
  const upper = certifiedLambdaMax(denseToBand(g, d), entryError, meter, 'dense norm');
  return Math.sqrt(upper) * (1 + BOUND_SAFETY_MARGIN);
}

/** Doubles of the column panel `gramUpper` transposes at a time (8 MiB). */
const GRAM_PANEL_DOUBLES = 1 << 20;

/**
 * Upper triangle of the Gram matrix on the smaller side of the rows x cols
 * matrix `w`: G = W^T W (cols <= rows) or W W^T, d x d row-major. Entry (i, j)
 * is the dot product of lines i and j (columns, or rows), summed over t in
 * increasing order. For columns, panels of consecutive rows are transposed
 * so that lines are contiguous; each entry carries its partial sum from one
 * panel to the next, so the order of its additions is unchanged.
 */
function gramUpper(w: Float64Array, rows: number, cols: number): Float64Array {
  const byCols = cols <= rows;
  const d = byCols ? cols : rows;
  const g = new Float64Array(d * d);
  if (!byCols) {
    gramPanel(w, d, cols, g);
    return g;
  }
  const panelRows = Math.max(1, Math.min(rows, Math.floor(GRAM_PANEL_DOUBLES / d)));
  const lines = new Float64Array(d * panelRows);
  for (let t0 = 0; t0 < rows; t0 += panelRows) {
    const len = Math.min(panelRows, rows - t0);
    for (let t = 0; t < len; t++) {
      const row = (t0 + t) * cols;
      for (let i = 0; i < d; i++) lines[i * len + t] = w[row + i];
    }
    gramPanel(lines, d, len, g);
  }
  return g;
}

/** g[i d + j] += sum_{t < len} lines[i len + t] lines[j len + t] for i <= j < d, summed in order of t. */
function gramPanel(lines: Float64Array, d: number, len: number, g: Float64Array): void {
  for (let i = 0; i < d; i++) {
    let j = i;
    for (; j + 4 <= d; j += 4) addDots4(lines, i * len, j * len, len, g, i * d + j);
    for (; j < d; j++) g[i * d + j] = addDot(lines, i * len, j * len, len, g[i * d + j]);
  }
}

// Small functions of their own, so that V8 optimizes them after a few calls (see conv.ts's convGramOperator).

/**
 * g[at + r] += sum_{t < len} x[a + t] x[b + r len + t] for r < 4, each summed
 * in order of t: four independent sums side by side, so the adds overlap.
 */
function addDots4(x: Float64Array, a: number, b: number, len: number, g: Float64Array, at: number): void {
  const b1 = b + len;
  const b2 = b1 + len;
  const b3 = b2 + len;
  let s0 = g[at];
  let s1 = g[at + 1];
  let s2 = g[at + 2];
  let s3 = g[at + 3];
  for (let t = 0; t < len; t++) {
    const v = x[a + t];
    s0 += v * x[b + t];
    s1 += v * x[b1 + t];
    s2 += v * x[b2 + t];
    s3 += v * x[b3 + t];
  }
  g[at] = s0;
  g[at + 1] = s1;
  g[at + 2] = s2;
  g[at + 3] = s3;
}

/** s + sum_{t < len} x[a + t] x[b + t], in order of t. */
function addDot(x: Float64Array, a: number, b: number, len: number, s: number): number {
  for (let t = 0; t < len; t++) s += x[a + t] * x[b + t];
  return s;
}

/** Largest absolute row sum (||W||_inf) and column sum (||W||_1) of a rows x cols matrix, each summed in order, unrounded. */
interface AbsSums {
  maxRow: number;
  maxCol: number;
}

function absSums(w: Float64Array, rows: number, cols: number): AbsSums {
  let maxRow = 0;
  const colSums = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(w[r * cols + c]);
      s += a;
      colSums[c] += a;
    }
    maxRow = Math.max(maxRow, s);
  }
  let maxCol = 0;
  for (let c = 0; c < cols; c++) maxCol = Math.max(maxCol, colSums[c]);
  return { maxRow, maxCol };
}

/** sqrt(||A||_1 ||A||_inf), rounded up. */
function oneInfNorm({ maxRow, maxCol }: AbsSums, rows: number, cols: number): number {
  // Each sum of n terms errs by at most gamma_n relative.
  const slack = (1 + roundoffGamma(rows + 2)) * (1 + roundoffGamma(cols + 2));
  return sqrtUp(mulUp(mulUp(maxRow, maxCol), slack));
}

/** Block bound: sqrt(sum of the exact norms^2 of blocks of `s` lines of the smaller side). */
function blockNorm(w: Float64Array, rows: number, cols: number, s: number, meter: WorkMeter): number {
  const byRows = rows <= cols;
  const d = byRows ? rows : cols;
  let sumSq = 0;
  for (let start = 0; start < d; start += s) {
    const len = Math.min(s, d - start);
    const part = byRows
      ? exactNorm(w.subarray(start * cols, (start + len) * cols), len, cols, meter)
      : exactNorm(
          Float64Array.from({ length: rows * len }, (_, k) => w[Math.floor(k / len) * cols + start + (k % len)]),
          rows,
          len,
          meter,
        );
    sumSq = nextUp(sumSq + mulUp(part, part));
  }
  return sqrtUp(sumSq);
}

/** The largest power-of-two block size whose block bound fits `limit` (1 always fits: Frobenius). */
function blockSize(rows: number, cols: number, limit: number): number {
  const d = Math.min(rows, cols);
  const inner = Math.max(rows, cols);
  let s = 1;
  while (2 * s < d && Math.ceil(d / (2 * s)) * exactWork(2 * s, inner) <= limit) s *= 2;
  return s;
}

/**
 * Certified upper bound on ||W||_2 of the `rows x cols` row-major matrix `w`
 * (finite values), within `limit` multiply-adds.
 */
export function denseNormUpperBound(w: ArrayLike<number>, rows: number, cols: number, limit = DENSE_WORK_LIMIT): DenseNormBound {
  if (rows === 0 || cols === 0) return { bound: 0, method: 'exact', blocks: 1 };
  let maxAbs = 0;
  for (let i = 0; i < rows * cols; i++) maxAbs = Math.max(maxAbs, Math.abs(w[i]));
  if (maxAbs === 0) return { bound: 0, method: 'exact', blocks: 1 };
  // Scale by 2^e (exact when e > 0) so that max |w| is in [1, 2) when it is far from 1.
  const e = maxAbs < 2 ** -300 || maxAbs > 2 ** 300 ? -Math.floor(Math.log2(maxAbs)) : 0;
  // Read only: a float64 matrix that needs no scaling is used as it is.
  let m: Float64Array;
  if (e === 0 && w instanceof Float64Array && w.length === rows * cols) {
    m = w;
  } else {
    m = new Float64Array(rows * cols);
    for (let i = 0; i < m.length; i++) m[i] = e === 0 ? w[i] : timesPow2(w[i], e);
  }
  // Scaling down can round entries that become subnormal: each by at most 2^-1075.
  const scaleError = e < 0 ? Math.sqrt(rows * cols) * 2 ** -1074 : 0;
  const d = Math.min(rows, cols);
  const inner = Math.max(rows, cols);
  const meter = new WorkMeter(limit, DENSE_MEMORY_LIMIT);
  let result: DenseNormBound;
  const sums = absSums(m, rows, cols);
  const oneInf = oneInfNorm(sums, rows, cols);
  let bound: number | null = null;
  if (meter.fits(exactWork(d, inner), 2 * d * d + lambdaMaxMemory(d, d - 1))) {
    try {
      bound = exactNorm(m, rows, cols, meter, sums);
    } catch (err) {
      if (!(err instanceof WorkLimitExceeded)) throw err;
    }
  }
  if (bound !== null) {
    result = { bound, method: 'exact', blocks: 1 };
  } else {
    const s = blockSize(rows, cols, limit);
    const blockMeter = new WorkMeter(Infinity, DENSE_MEMORY_LIMIT);
    result = { bound: blockNorm(m, rows, cols, s, blockMeter), method: 'block', blocks: Math.ceil(d / s) };
  }
  if (oneInf < result.bound) result = { bound: oneInf, method: 'one-inf', blocks: 1 };
  const scaled = scaleError > 0 ? nextUp(result.bound + scaleError) : result.bound;
  return { ...result, bound: e === 0 ? scaled : unscaleUp(scaled, e) };
}

/** An upper bound on x * 2^-e (x > 0): never 0, one smallest step up when the result is subnormal. */
export function unscaleUp(x: number, e: number): number {
  if (x === 0) return 0;
  const r = timesPow2(x, -e);
  if (r < 2 ** -1022) return r + 2 * Number.MIN_VALUE;
  return r;
}
