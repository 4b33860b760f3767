/**
 * Test-only float64 linear algebra: brute-force references for the spectral
 * norms the code computes (symmetric Jacobi eigenvalues, singular values,
 * explicit convolution matrices). Independent of tfjs and of the normalizers
 * under test.
 */
import { uniformArray } from './random';

/** Eigenvalues of the symmetric matrix `a [n, n]` (row-major), by cyclic Jacobi rotations in float64, descending. */
export function symmetricEigenvalues(a: ArrayLike<number>, n: number): number[] {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = m[k * n + p];
          const akq = m[k * n + q];
          m[k * n + p] = c * akp - s * akq;
          m[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p * n + k];
          const aqk = m[q * n + k];
          m[p * n + k] = c * apk - s * aqk;
          m[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => m[i * n + i]).sort((x, y) => y - x);
}

/** Largest eigenvalue of the symmetric matrix `a [n, n]` (row-major). */
export function lambdaMax(a: ArrayLike<number>, n: number): number {
  return symmetricEigenvalues(a, n)[0];
}

/** The smaller Gram matrix of `a [rows, cols]` (row-major): `a^T a` when cols <= rows, else `a a^T`; `[n, n]`. */
export function gramMatrix(a: ArrayLike<number>, rows: number, cols: number): { g: Float64Array; n: number } {
  const byCols = cols <= rows;
  const n = byCols ? cols : rows;
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      if (byCols) for (let r = 0; r < rows; r++) s += a[r * cols + i] * a[r * cols + j];
      else for (let c = 0; c < cols; c++) s += a[i * cols + c] * a[j * cols + c];
      g[i * n + j] = s;
      g[j * n + i] = s;
    }
  }
  return { g, n };
}

/** Singular values of `a [rows, cols]` (row-major), descending: min(rows, cols) of them. */
export function singularValues(a: ArrayLike<number>, rows: number, cols: number): number[] {
  const { g, n } = gramMatrix(a, rows, cols);
  return symmetricEigenvalues(g, n).map((e) => Math.sqrt(Math.max(e, 0)));
}

/** Largest singular value (the spectral norm) of `a [rows, cols]` (row-major). */
export function sigmaMax(a: ArrayLike<number>, rows: number, cols: number): number {
  return singularValues(a, rows, cols)[0];
}

/** A 2-D convolution, for `convMatrix`. */
export interface ConvMatrixSpec {
  /**
   * Kernel layout: `hwio` is tfjs `[kh, kw, cin/group, cout]`, `oihw` is
   * ONNX `[cout, cin/group, kh, kw]`.
   */
  layout: 'hwio' | 'oihw';
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  /** Input height and width. */
  h: number;
  w: number;
  /** Default [1, 1]. */
  strides?: [number, number];
  /** Zero padding [top, left, bottom, right] (default none). With `circular`, shifts the taps instead. */
  pads?: [number, number, number, number];
  /** Default [1, 1]. */
  dilations?: [number, number];
  /** Channel groups (default 1). */
  group?: number;
  /** Circular (periodic) convolution on the h x w grid, output h x w; strides must be 1. */
  circular?: boolean;
}

/** Output height and width of the convolution `s`. */
export function convOutputSize(s: ConvMatrixSpec): [number, number] {
  if (s.circular) return [s.h, s.w];
  const [sh, sw] = s.strides ?? [1, 1];
  const [pt, pl, pb, pr] = s.pads ?? [0, 0, 0, 0];
  const [dh, dw] = s.dilations ?? [1, 1];
  return [Math.floor((s.h + pt + pb - (s.kh - 1) * dh - 1) / sh) + 1, Math.floor((s.w + pl + pr - (s.kw - 1) * dw - 1) / sw) + 1];
}

/**
 * The explicit matrix `[cout*ho*wo, cin*h*w]` (float64) of the convolution
 * `s` with `kernel`: rows are output (channel, y, x) and columns input
 * (channel, y, x), both channel-major (NCHW order). Its singular values are
 * those of the convolution.
 */
export function convMatrix(kernel: ArrayLike<number>, s: ConvMatrixSpec): { a: Float64Array; rows: number; cols: number; out: [number, number] } {
  const [sh, sw] = s.strides ?? [1, 1];
  const [pt, pl] = s.pads ?? [0, 0, 0, 0];
  const [dh, dw] = s.dilations ?? [1, 1];
  const group = s.group ?? 1;
  if (s.circular && (sh !== 1 || sw !== 1)) throw new Error('convMatrix: a circular convolution has strides 1');
  if (s.cin % group !== 0 || s.cout % group !== 0) throw new Error('convMatrix: the channels are not divisible by group');
  const cinG = s.cin / group;
  const coutG = s.cout / group;
  if (kernel.length !== s.kh * s.kw * cinG * s.cout) throw new Error(`convMatrix: kernel has ${kernel.length} values, expected ${s.kh * s.kw * cinG * s.cout}`);
  const out = convOutputSize(s);
  const [ho, wo] = out;
  const rows = s.cout * ho * wo;
  const cols = s.cin * s.h * s.w;
  const a = new Float64Array(rows * cols);
  const tap =
    s.layout === 'hwio'
      ? (co: number, cl: number, y: number, x: number): number => kernel[((y * s.kw + x) * cinG + cl) * s.cout + co]
      : (co: number, cl: number, y: number, x: number): number => kernel[((co * cinG + cl) * s.kh + y) * s.kw + x];
  const mod = (i: number, n: number): number => ((i % n) + n) % n;
  for (let co = 0; co < s.cout; co++) {
    const g = Math.floor(co / coutG);
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const r = (co * ho + oy) * wo + ox;
        for (let cl = 0; cl < cinG; cl++) {
          const ci = g * cinG + cl;
          for (let y = 0; y < s.kh; y++) {
            for (let x = 0; x < s.kw; x++) {
              let iy = oy * sh - pt + y * dh;
              let ix = ox * sw - pl + x * dw;
              if (s.circular) {
                iy = mod(iy, s.h);
                ix = mod(ix, s.w);
              } else if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) {
                continue;
              }
              a[r * cols + (ci * s.h + iy) * s.w + ix] += tap(co, cl, y, x);
            }
          }
        }
      }
    }
  }
  return { a, rows, cols, out };
}

/** Spectral norm of the convolution `s` with `kernel`, from its explicit matrix. */
export function convSigmaMax(kernel: ArrayLike<number>, s: ConvMatrixSpec): number {
  const { a, rows, cols } = convMatrix(kernel, s);
  return sigmaMax(a, rows, cols);
}

/** tfjs `same` padding [top, left, bottom, right] of a `k` kernel with `strides` on an h x w input. */
export function samePads(h: number, w: number, k: [number, number], strides: [number, number]): [number, number, number, number] {
  const p = [h, w].map((n, i) => {
    const total = Math.max(0, (Math.ceil(n / strides[i]) - 1) * strides[i] + k[i] - n);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  });
  return [p[0][0], p[1][0], p[0][1], p[1][1]];
}

/** A random `rows x cols` matrix with orthonormal rows (rows <= cols; Gram-Schmidt in float64), row-major. */
export function orthonormalRows(rows: number, cols: number, seed: number): Float64Array {
  const raw = uniformArray(rows * cols, seed);
  const W = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let p = 0; p < cols; p++) W[i * cols + p] = raw[i * cols + p];
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let p = 0; p < cols; p++) dot += W[i * cols + p] * W[j * cols + p];
      for (let p = 0; p < cols; p++) W[i * cols + p] -= dot * W[j * cols + p];
    }
    let nrm = 0;
    for (let p = 0; p < cols; p++) nrm += W[i * cols + p] ** 2;
    for (let p = 0; p < cols; p++) W[i * cols + p] /= Math.sqrt(nrm);
  }
  return W;
}

/**
 * Largest singular value of the dense `[rows, cols]` matrix `a` by `iters`
 * power iterations on `A^T A` (the map and its adjoint) from `x_i = start(i)`,
 * float64; for matrices too large for `sigmaMax`.
 */
export function powerIterationSigma(a: Float64Array, rows: number, cols: number, iters: number, start: (i: number) => number): number {
  let x = Float64Array.from({ length: cols }, (_, i) => start(i));
  let sigma = 0;
  for (let t = 0; t < iters; t++) {
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += a[r * cols + c] * x[c];
      y[r] = acc;
    }
    const z = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) z[c] += a[r * cols + c] * y[r];
    const norm = Math.hypot(...z);
    sigma = Math.sqrt(norm / Math.hypot(...x));
    x = z.map((v) => v / norm);
  }
  return sigma;
}
