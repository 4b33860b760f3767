/**
 * Test helpers: measure Lipschitz constants of tfjs ops in float64,
 * independently of the normalizers under test (explicit operator matrices,
 * then the float64 linear algebra of ../../testing/linalg.ts). Test-only: not
 * built into dist.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sigmaMax } from '../../testing/linalg';
import { convSpectralNormUpperBound } from '../../normalizers';
import { isLipschitzLinear } from '../lipschitz';

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
      bounds.push(sigmaMax(data, kernel.shape[0], kernel.shape[1]));
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
