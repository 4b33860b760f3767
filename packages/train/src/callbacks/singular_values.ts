/**
 * Singular values of a small matrix in float64, for `MonitorCallback`: the
 * eigenvalues of its smaller Gram matrix by cyclic Jacobi rotations,
 * sigma_i = sqrt(lambda_i(W^T W)). O(n^3) per sweep for n = min(rows, cols),
 * a few sweeps: fine for kernels up to a few hundred columns, once an epoch.
 */
import { gramCols64, gramRows64 } from '../normalizers/float64';

/** Jacobi sweeps at most; they converge quadratically, 6 to 10 suffice. */
const MAX_SWEEPS = 60;

/** Eigenvalues of the symmetric `a [n, n]` (row-major, overwritten), descending. */
function symmetricEigenvalues(a: Float64Array, n: number): number[] {
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i]! * a[i]!;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off <= 1e-30 * scale) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        // The rotation that zeroes a[p][q]: t = tan(theta), the smaller root of t^2 + 2 t cot(2 theta) - 1 = 0.
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => a[i * n + i]!).sort((x, y) => y - x);
}

/** The min(rows, cols) singular values of `w [rows, cols]` (row-major), descending. */
export function singularValues(w: ArrayLike<number>, rows: number, cols: number): number[] {
  const a = Float64Array.from(w);
  const byCols = cols <= rows;
  const n = byCols ? cols : rows;
  const gram = byCols ? gramCols64(a, rows, cols) : gramRows64(a, rows, cols);
  return symmetricEigenvalues(gram, n).map((e) => Math.sqrt(Math.max(e, 0)));
}
