/**
 * Small dense float64 kernels on row-major `Float64Array`s, for the
 * normalize-to-convergence helpers. Weight matrices are small (at most a few
 * thousand by a few hundred), so plain loops are fast enough, and float64
 * lets the iterations converge below float32 rounding noise.
 */

/** `a [m,k] x b [k,n] -> [m,n]`. */
export function matMul64(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      if (aip === 0) continue;
      const brow = p * n;
      for (let j = 0; j < n; j++) out[row + j] += aip * b[brow + j];
    }
  }
  return out;
}

/** `a^T a` for `a [m,n]` -> `[n,n]` (symmetric). */
export function gramCols64(a: Float64Array, m: number, n: number): Float64Array {
  const g = new Float64Array(n * n);
  for (let r = 0; r < m; r++) {
    const row = r * n;
    for (let i = 0; i < n; i++) {
      const ai = a[row + i];
      if (ai === 0) continue;
      const gi = i * n;
      for (let j = i; j < n; j++) g[gi + j] += ai * a[row + j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[i * n + j] = g[j * n + i];
  return g;
}

/** `a a^T` for `a [m,n]` -> `[m,m]` (symmetric). */
export function gramRows64(a: Float64Array, m: number, n: number): Float64Array {
  const g = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += a[i * n + p] * a[j * n + p];
      g[i * m + j] = s;
      g[j * m + i] = s;
    }
  }
  return g;
}

/** Euclidean norm. */
export function norm64(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** Euclidean norm of `a - b`. */
export function distance64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

/** Scales `a` in place to unit norm (left as is when its norm is 0). */
export function normalizeInPlace64(a: Float64Array): number {
  const n = norm64(a);
  if (n > 0) for (let i = 0; i < a.length; i++) a[i] /= n;
  return n;
}
