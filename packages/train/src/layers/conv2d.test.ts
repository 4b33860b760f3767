import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { sequential } from '@tensorflow/tfjs-layers';
import { maxAbsDiff } from '@lip/test-support';
import { convOperatorNormExplicit, spectralNorm } from '@lip/test-support/measure';
import { built, saveAndLoad, scrambleRawKernel } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { SpectralConv2D } from './spectral_conv2d';
import { FrobeniusConv2D } from './frobenius_conv2d';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Conv = SpectralConv2D | FrobeniusConv2D;
const INPUT: [number, number, number] = [6, 7, 2];

/** A random, badly scaled raw kernel (a "trained" one), then `niter` power iterations. */
function scramble(layer: Conv, seed: number, niter = 30): void {
  scrambleRawKernel(layer, seed);
  layer.updateConstraints(niter);
}

function measured(layer: Conv, input: [number, number, number] = INPUT, opts = {}): number {
  const w = layer.effectiveKernel(opts);
  const norm = convOperatorNormExplicit(w, input, layer.strides, layer.padding);
  w.dispose();
  return norm;
}

const GEOMETRIES: [number, 'same' | 'valid', number][] = [
  [1, 'same', 3],
  [2, 'same', 3],
  [1, 'valid', 3],
  [2, 'valid', 3],
  [1, 'same', 2],
  [2, 'same', 2],
];

describe('SpectralConv2D', () => {
  test('defaults and validation', () => {
    const layer = new SpectralConv2D({ filters: 4, kernelSize: 3 });
    expect(layer.normalization).toBe('bjorck');
    expect(layer.padding).toBe('same');
    expect(layer.strides).toEqual([1, 1]);
    expect(layer.kernelSize).toEqual([3, 3]);
    const bad: [object, string][] = [
      [{ filters: 0, kernelSize: 3 }, "'filters'"],
      [{ filters: 2, kernelSize: 0 }, "'kernelSize'"],
      [{ filters: 2, kernelSize: [3, 3, 3] }, "'kernelSize'"],
      [{ filters: 2, kernelSize: 3, strides: 0 }, "'strides'"],
      [{ filters: 2, kernelSize: 3, padding: 'causal' }, "'padding'"],
      [{ filters: 2, kernelSize: 3, normalization: 'fft' }, "'normalization'"],
      [{ filters: 2, kernelSize: 3, kCoefLip: -1 }, "'kCoefLip'"],
    ];
    for (const [args, quoted] of bad) {
      expect(() => new SpectralConv2D(args as never)).toThrow(InvalidArgumentError);
      expect(() => new SpectralConv2D(args as never)).toThrow(quoted);
    }
  });

  test.each(GEOMETRIES)("'bjorck': explicit operator norm <= k (stride %p, %p, kernel %p)", (s, padding, ks) => {
    for (const k of [1, 1.7]) {
      const layer = built(new SpectralConv2D({ filters: 3, kernelSize: ks, strides: s, padding, kCoefLip: k, seed: 4 }), INPUT);
      expect(measured(layer)).toBeLessThanOrEqual(k * (1 + 1e-5));
      scramble(layer, 7);
      expect(measured(layer)).toBeLessThanOrEqual(k * (1 + 1e-5));
      expect(measured(layer, INPUT, { converge: true })).toBeLessThanOrEqual(k * (1 + 1e-5));
      // the measurement can fail: the raw kernel is far above 1
      expect(convOperatorNormExplicit(layer.rawKernel, INPUT, layer.strides, layer.padding)).toBeGreaterThan(2);
      layer.dispose();
    }
  });

  test.each(GEOMETRIES)("'operator': explicit operator norm is k, tight (stride %p, %p, kernel %p)", (s, padding, ks) => {
    const k = 0.6;
    const layer = built(new SpectralConv2D({ filters: 3, kernelSize: ks, strides: s, padding, kCoefLip: k, seed: 5, normalization: 'operator' }), INPUT);
    // A "trained" kernel; training converges the persistent vector over steps (3 iterations
    // each), here at once. Convergence is slow on these small operators (close top singular values).
    scramble(layer, 8, 600);
    let norm = measured(layer);
    expect(norm).toBeLessThanOrEqual(k * (1 + 1e-3));
    expect(norm).toBeGreaterThanOrEqual(k * (1 - 1e-3));
    norm = measured(layer, INPUT, { converge: true });
    expect(norm).toBeLessThanOrEqual(k * (1 + 1e-4));
    expect(norm).toBeGreaterThanOrEqual(k * (1 - 1e-4));
    layer.dispose();
  });

  test("'operator' is tighter than 'bjorck' on the same weights", () => {
    const a = built(new SpectralConv2D({ filters: 3, kernelSize: 3, seed: 9 }), INPUT);
    const b = built(new SpectralConv2D({ filters: 3, kernelSize: 3, seed: 9, normalization: 'operator' }), INPUT);
    b.updateConstraints(300);
    expect(measured(a)).toBeLessThan(measured(b) - 0.05);
  });

  test("'operator' accepts only the input shape it was built on", () => {
    const layer = built(new SpectralConv2D({ filters: 2, kernelSize: 3, normalization: 'operator', seed: 1 }), INPUT);
    expect(() => layer.apply(tf.zeros([1, 8, 8, 2]))).toThrow();
    const any = built(new SpectralConv2D({ filters: 2, kernelSize: 3, seed: 1 }), INPUT);
    expect((any.apply(tf.zeros([1, 8, 8, 2])) as tf.Tensor).shape).toEqual([1, 8, 8, 2]);
  });

  test.each(GEOMETRIES)('output shape and call() match tf.conv2d with the effective kernel (stride %p, %p, %p)', (s, padding, ks) => {
    const layer = built(new SpectralConv2D({ filters: 3, kernelSize: ks, strides: s, padding, seed: 2 }), INPUT);
    const x = tf.randomNormal([2, ...INPUT], 0, 1, 'float32', 1);
    const y = layer.apply(x) as tf.Tensor;
    expect(y.shape.slice(1)).toEqual(layer.computeOutputShape([null, ...INPUT]).slice(1));
    expect(maxAbsDiff(y, tf.conv2d(x as tf.Tensor4D, layer.effectiveKernel() as tf.Tensor4D, layer.strides, padding))).toBeLessThan(1e-6);
  });

  test('the power-iteration vectors are non-trainable and change only in updateConstraints', () => {
    const layer = built(new SpectralConv2D({ filters: 3, kernelSize: 3, seed: 6, normalization: 'operator' }), INPUT);
    expect(layer.trainableWeights.map((w) => w.originalName.split('/').pop())).toEqual(['kernel', 'bias']);
    expect(layer.nonTrainableWeights.map((w) => w.originalName.split('/').pop())).toEqual(['u', 'v', 'u_operator']);
    const vectors = () => layer.nonTrainableWeights.map((w) => Array.from(w.read().dataSync()));
    const before = vectors();
    const x = tf.randomNormal([2, ...INPUT], 0, 1, 'float32', 1);
    const optimizer = tf.train.adam(0.05);
    for (let i = 0; i < 3; i++) optimizer.minimize(() => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar);
    expect(vectors()).toEqual(before);
    layer.updateConstraints();
    const after = vectors();
    after.forEach((v, i) => expect(v).not.toEqual(before[i]));
  });

  test('vanillaExport is a plain Conv2D with the effective weights', () => {
    for (const normalization of ['bjorck', 'operator'] as const) {
      const layer = built(new SpectralConv2D({ filters: 4, kernelSize: 3, strides: 2, seed: 1, normalization, kCoefLip: 1.3 }), INPUT);
      scramble(layer, 3);
      const plain = layer.vanillaExport();
      expect(plain.getClassName()).toBe('Conv2D');
      const x = tf.randomNormal([2, ...INPUT], 0, 1, 'float32', 3);
      expect(maxAbsDiff(plain.apply(x) as tf.Tensor, layer.apply(x) as tf.Tensor)).toBeLessThan(1e-5);
    }
  });

  test.each(['bjorck', 'operator'] as const)('serialization round trip (%s)', async (normalization) => {
    const layer = new SpectralConv2D({
      filters: 3,
      kernelSize: [3, 2],
      strides: [2, 1],
      padding: 'valid',
      seed: 2,
      kCoefLip: 0.8,
      normalization,
      niterBjorck: 10,
      inputShape: INPUT,
    });
    const model = sequential({ layers: [layer] });
    scramble(layer, 4);
    const { loaded } = await saveAndLoad(model);
    const copy = loaded.layers[0] as SpectralConv2D;
    expect(copy).toBeInstanceOf(SpectralConv2D);
    expect(copy.getConfig()).toEqual(layer.getConfig());
    copy.getWeights().forEach((w, i) => expect(maxAbsDiff(w, layer.getWeights()[i])).toBe(0));
    const x = tf.randomNormal([2, ...INPUT], 0, 1, 'float32', 1);
    expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
  });

  test('same seed gives identical weights', () => {
    const a = built(new SpectralConv2D({ filters: 5, kernelSize: 3, seed: 11, normalization: 'operator' }), INPUT);
    const b = built(new SpectralConv2D({ filters: 5, kernelSize: 3, seed: 11, normalization: 'operator' }), INPUT);
    a.getWeights().forEach((w, i) => expect(maxAbsDiff(w, b.getWeights()[i])).toBe(0));
    // orthogonal init of the reshaped kernel [kh*kw*cin, cout] = [18, 5]
    expect(spectralNorm(tf.reshape(a.rawKernel, [18, 5]))).toBeCloseTo(1, 5);
  });
});

describe('FrobeniusConv2D', () => {
  test.each(GEOMETRIES)('explicit operator norm <= k (stride %p, %p, %p)', (s, padding, ks) => {
    const layer = built(new FrobeniusConv2D({ filters: 3, kernelSize: ks, strides: s, padding, kCoefLip: 2, seed: 3 }), INPUT);
    scramble(layer, 5);
    expect(measured(layer)).toBeLessThanOrEqual(2 * (1 + 1e-5));
    const w = layer.effectiveKernel();
    const correction = 1 / Math.sqrt(Math.ceil(ks / s) ** 2);
    expect(tf.norm(w).dataSync()[0]).toBeCloseTo(2 * correction, 5);
  });

  test('serialization round trip', async () => {
    const layer = new FrobeniusConv2D({ filters: 2, kernelSize: 3, seed: 2, inputShape: INPUT });
    const model = sequential({ layers: [layer] });
    scramble(layer, 1);
    const { loaded } = await saveAndLoad(model);
    expect(loaded.layers[0]).toBeInstanceOf(FrobeniusConv2D);
    expect(loaded.layers[0].getConfig()).toEqual(layer.getConfig());
    const x = tf.randomNormal([2, ...INPUT], 0, 1, 'float32', 1);
    expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
  });
});
