/**
 * Test helpers: measure Lipschitz constants in float64, independently of the
 * normalizers under test (symmetric Jacobi eigenvalues, explicit operator
 * matrices). Not exported from the package.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Eigenvalues of the symmetric matrix `a [n, n]` (row-major), by cyclic Jacobi rotations. */
export function symmetricEigenvalues(a: Float64Array, n: number): number[] {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i * n + j] ** 2;
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
  return Array.from({ length: n }, (_, i) => m[i * n + i]);
}

/** Singular values of `a [rows, cols]` (row-major), descending, via the smaller Gram matrix. */
export function singularValues(a: ArrayLike<number>, rows: number, cols: number): number[] {
  const n = Math.min(rows, cols);
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      if (cols <= rows) for (let r = 0; r < rows; r++) s += a[r * cols + i] * a[r * cols + j];
      else for (let c = 0; c < cols; c++) s += a[i * cols + c] * a[j * cols + c];
      g[i * n + j] = s;
      g[j * n + i] = s;
    }
  }
  return symmetricEigenvalues(g, n)
    .map((e) => Math.sqrt(Math.max(e, 0)))
    .sort((x, y) => y - x);
}

/** Largest singular value of a 2-D tensor, in float64. */
export function spectralNorm(m: tf.Tensor): number {
  const [rows, cols] = m.shape;
  return singularValues(Float64Array.from(m.dataSync()), rows, cols)[0];
}

/**
 * The matrix `[N, M]` of a linear map f on inputs of `inputShape` (no batch):
 * row i is `f(e_i)` flattened. Its singular values are those of f.
 */
export function operatorMatrix(f: (x: tf.Tensor) => tf.Tensor, inputShape: number[]): tf.Tensor2D {
  return tf.tidy(() => {
    const n = inputShape.reduce((a, b) => a * b, 1);
    const basis = tf.reshape(tf.eye(n), [n, ...inputShape]);
    const out = f(basis);
    return tf.reshape(out, [n, -1]) as tf.Tensor2D;
  });
}

/** Largest singular value of the conv with this kernel on one `inputShape` image. */
export function convOperatorNormExplicit(
  kernel: tf.Tensor,
  inputShape: [number, number, number],
  strides: [number, number],
  padding: 'same' | 'valid',
): number {
  const m = operatorMatrix((x) => tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, strides, padding), inputShape);
  const norm = spectralNorm(m);
  m.dispose();
  return norm;
}

/** A deterministic pseudo-random stream in [0, 1) (tests only). */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * Largest ratio ||f(x) - f(y)|| / ||x - y|| over `pairs` random inputs x of
 * `shape` (batch included), with y = x + d for d cycling through an
 * independent draw, a small random step (local slope) and a constant shift
 * (the smooth direction that overlapping or badly scaled poolings amplify).
 */
export function maxRatio(f: (x: tf.Tensor) => tf.Tensor, shape: number[], pairs: number, seed: number): number {
  return tf.tidy(() => {
    let worst = 0;
    for (let i = 0; i < pairs; i++) {
      const x = tf.randomNormal(shape, 0, 1, 'float32', seed + 2 * i);
      const noise = tf.randomNormal(shape, 0, 1, 'float32', seed + 2 * i + 1);
      const d = i % 3 === 0 ? noise : i % 3 === 1 ? tf.mul(noise, 1e-2) : tf.fill(shape, 0.1 * (1 + (i % 5)));
      const y = tf.add(x, d);
      const num = tf.norm(tf.sub(f(x), f(y))).dataSync()[0];
      const den = tf.norm(tf.sub(x, y)).dataSync()[0];
      worst = Math.max(worst, num / den);
    }
    return worst;
  });
}
