/**
 * Measuring Lipschitz constants of tfjs ops, layers and models,
 * independently of the normalizers under test: explicit operator matrices
 * and the float64 linear algebra of ./linalg.ts, random pairs of inputs, and
 * per-sample Jacobian norms.
 */
import * as tf from '@tensorflow/tfjs-core';
import { convSpectralNormUpperBound } from '@lip/core';
import { sigmaMax } from './linalg';

/** The part of @lip/train's LipschitzLinear these measures read (duck-typed: no training code is loaded for it). */
interface LinearLayer {
  isLipschitzLinear: true;
  effectiveKernel(): tf.Tensor;
}

function isLipschitzLinear(layer: unknown): layer is LinearLayer {
  return (layer as Partial<LinearLayer>).isLipschitzLinear === true;
}

/** Largest singular value of a 2-D tensor, in float64. */
export function spectralNorm(m: tf.Tensor): number {
  const [rows, cols] = m.shape;
  return sigmaMax(m.dataSync(), rows, cols);
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

/**
 * Upper bounds on the L2 Lipschitz constants of the dense/conv layers of a
 * trained sequential model, measured on the kernels `call()` uses: for a
 * dense layer the largest singular value of the effective kernel (float64
 * Jacobi), for a conv layer the guaranteed circular-convolution bound on the
 * layer's input size. Activations and poolings are 1-Lipschitz by
 * construction (tested on their own), so the product bounds the model.
 */
export function measuredLayerBounds(model: { layers: unknown[] }): number[] {
  const bounds: number[] = [];
  for (const layer of model.layers) {
    if (!isLipschitzLinear(layer)) continue;
    const kernel = layer.effectiveKernel();
    const data = kernel.dataSync() as Float32Array;
    if (kernel.rank === 2) {
      const [rows, cols] = kernel.shape as [number, number];
      bounds.push(sigmaMax(data, rows, cols));
    } else {
      const conv = layer as unknown as { strides: [number, number]; padding: 'same' | 'valid'; builtInputShape: number[] };
      const [, h, w] = conv.builtInputShape;
      bounds.push(convSpectralNormUpperBound(data, kernel.shape as [number, number, number, number], [h, w], conv.strides, conv.padding));
    }
    kernel.dispose();
  }
  return bounds;
}

/** The product of `measuredLayerBounds`: an upper bound on the model's Lipschitz constant. */
export function measuredLipschitzBound(model: { layers: unknown[] }): number {
  return measuredLayerBounds(model).reduce((a, b) => a * b, 1);
}

/**
 * Per-sample Jacobian spectral norm and top right singular vector of `f`
 * (NCHW -> logits [n, k]) at each of the `n` points, from k backward passes
 * and a float64 eigen-decomposition of J J^T (k x k).
 */
export function jacobianNorms(
  f: (x: tf.Tensor4D) => tf.Tensor2D,
  points: Float32Array,
  n: number,
  chw: readonly number[],
  k: number,
): { norms: number[]; directions: Float64Array[] } {
  const d = chw[0] * chw[1] * chw[2];
  const rows: Float32Array[] = [];
  for (let j = 0; j < k; j++) {
    const g = tf.tidy(() => {
      const x = tf.tensor4d(points, [n, chw[0], chw[1], chw[2]]);
      const gradOf = tf.grad((t: tf.Tensor) => tf.sum(tf.slice(f(t as tf.Tensor4D), [0, j], [n, 1])));
      return gradOf(x);
    });
    rows.push(g.dataSync() as Float32Array);
    g.dispose();
  }
  const norms: number[] = [];
  const directions: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    // G = J J^T, J[j, :] = rows[j][i*d .. (i+1)*d].
    const G = new Float64Array(k * k);
    for (let a = 0; a < k; a++) {
      for (let c = a; c < k; c++) {
        let s = 0;
        for (let p = 0; p < d; p++) s += rows[a][i * d + p] * rows[c][i * d + p];
        G[a * k + c] = s;
        G[c * k + a] = s;
      }
    }
    let u = Float64Array.from({ length: k }, (_, j) => 1 + 0.1 * j);
    let lambda = 0;
    for (let it = 0; it < 500; it++) {
      const next = new Float64Array(k);
      for (let a = 0; a < k; a++) for (let c = 0; c < k; c++) next[a] += G[a * k + c] * u[c];
      const nn = Math.hypot(...next);
      if (nn === 0) break;
      lambda = nn;
      u = next.map((v) => v / nn);
    }
    const sigma = Math.sqrt(lambda);
    const v = new Float64Array(d);
    if (sigma > 0) for (let a = 0; a < k; a++) for (let p = 0; p < d; p++) v[p] += (rows[a][i * d + p] * u[a]) / sigma;
    norms.push(sigma);
    directions.push(v);
  }
  return { norms, directions };
}
