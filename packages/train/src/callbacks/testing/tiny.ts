/**
 * Test helpers: a tiny labelled image set and a tiny Lipschitz model, so the
 * callback and training tests run in seconds. Test-only: not built into dist.
 */
import * as tf from '@tensorflow/tfjs-core';
import { layers } from '@tensorflow/tfjs-layers';
import { GroupSort2, LipschitzSequential, SpectralConv2D, SpectralDense } from '../../layers';

export const TINY_SHAPE: [number, number, number] = [8, 8, 1];
export const TINY_CLASSES = 3;

/**
 * `n` images of 8×8×1, label i % 3: class k is a bright 4×4 block in one of
 * three corners plus seeded noise (separable, but not at once).
 */
export function tinyData(n: number, seed: number): { images: Float32Array; labels: Uint8Array } {
  const images = new Float32Array(n * 64);
  const labels = new Uint8Array(n);
  let state = seed >>> 0;
  const rand = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = 0; i < n; i++) {
    const k = i % TINY_CLASSES;
    labels[i] = k;
    const [r0, c0] = [[0, 0], [0, 4], [4, 2]][k]!;
    for (let p = 0; p < 64; p++) {
      const r = Math.floor(p / 8);
      const c = p % 8;
      const inBlock = r >= r0 && r < r0 + 4 && c >= c0 && c < c0 + 4;
      images[i * 64 + p] = (inBlock ? 0.6 : 0.1) + 0.3 * rand();
    }
  }
  return { images, labels };
}

/** The same data as tensors: x [n, 8, 8, 1], one-hot y [n, 3]. */
export function tinyTensors(n: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const { images, labels } = tinyData(n, seed);
  return {
    x: tf.tensor4d(images, [n, ...TINY_SHAPE]),
    y: tf.oneHot(tf.tensor1d(labels, 'int32'), TINY_CLASSES) as tf.Tensor2D,
  };
}

/** SpectralConv2D(4, 3x3) GroupSort2 Flatten SpectralDense(8) GroupSort2 SpectralDense(3). */
export function tinyModel(seed: number): LipschitzSequential {
  return new LipschitzSequential({
    logger: { warn: () => undefined },
    layers: [
      new SpectralConv2D({ filters: 4, kernelSize: 3, inputShape: TINY_SHAPE, seed }),
      new GroupSort2(),
      layers.flatten(),
      new SpectralDense({ units: 8, seed: seed + 1 }),
      new GroupSort2(),
      new SpectralDense({ units: TINY_CLASSES, useBias: false, seed: seed + 2 }),
    ],
  });
}
