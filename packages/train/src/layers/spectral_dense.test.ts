import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { sequential } from '@tensorflow/tfjs-layers';
import { maxAbsDiff } from '@lip/test-support';
import { spectralNorm } from '@lip/test-support/measure';
import { built, saveAndLoad, scrambleRawKernel } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_NITER_SPECTRAL } from '../constants';
import { SpectralDense } from './spectral_dense';
import { FrobeniusDense } from './frobenius_dense';
import { isLipschitzLinear } from './lipschitz';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('SpectralDense', () => {
  test('is a LipschitzLinear with documented defaults', () => {
    const layer = new SpectralDense({ units: 4 });
    expect(isLipschitzLinear(layer)).toBe(true);
    expect(layer.kCoefLip).toBe(1);
    expect(layer.niterBjorck).toBe(15);
    expect(layer.betaBjorck).toBe(0.5);
    expect(layer.niterSpectral).toBe(DEFAULT_NITER_SPECTRAL);
    expect(layer.useBias).toBe(true);
    expect(SpectralDense.className).toBe('Lip>SpectralDense');
  });

  test.each([
    [{ units: 0 }, "'units'"],
    [{ units: 2.5 }, "'units'"],
    [{ units: 3, kCoefLip: 0 }, "'kCoefLip'"],
    [{ units: 3, kCoefLip: Number.NaN }, "'kCoefLip'"],
    [{ units: 3, niterBjorck: -1 }, "'niterBjorck'"],
    [{ units: 3, niterSpectral: 0 }, "'niterSpectral'"],
    [{ units: 3, betaBjorck: 0 }, "'betaBjorck'"],
    [{ units: 3, seed: 1.5 }, "'seed'"],
  ])('rejects %j', (args, quoted) => {
    expect(() => new SpectralDense(args as never)).toThrow(InvalidArgumentError);
    expect(() => new SpectralDense(args as never)).toThrow(quoted);
  });

  test.each([
    [1, 12, 5],
    [2.5, 5, 12],
    [0.3, 8, 8],
  ])('is at most k-Lipschitz, measured (k=%p, %p -> %p), and tight', (k, inputDim, units) => {
    const layer = built(new SpectralDense({ units, kCoefLip: k, seed: 3 }), [inputDim]);
    for (const scrambled of [false, true]) {
      if (scrambled) {
        scrambleRawKernel(layer, 11);
        layer.updateConstraints(20);
      }
      const w = layer.effectiveKernel();
      const sigma = spectralNorm(w);
      expect(sigma).toBeLessThanOrEqual(k * (1 + 1e-4));
      expect(sigma).toBeGreaterThan(k * 0.99); // orthonormal, not just bounded
      w.dispose();
    }
    // The measurement can fail: the raw kernel is far from 1-Lipschitz.
    expect(spectralNorm(layer.rawKernel)).toBeGreaterThan(2);
    layer.dispose();
  });

  test('call() computes x W_eff + b with the effective kernel', () => {
    const layer = built(new SpectralDense({ units: 3, seed: 1, kCoefLip: 2 }), [4]);
    const x = tf.randomNormal([5, 4], 0, 1, 'float32', 9);
    const y = layer.apply(x) as tf.Tensor;
    const w = layer.effectiveKernel();
    expect(maxAbsDiff(y, tf.matMul(x, w))).toBeLessThan(1e-6); // bias is zero at init
    // rank-3 inputs act on the last axis
    const y3 = layer.apply(tf.reshape(x, [5, 1, 4])) as tf.Tensor;
    expect(y3.shape).toEqual([5, 1, 3]);
    expect(maxAbsDiff(tf.reshape(y3, [5, 3]), y)).toBeLessThan(1e-6);
    layer.dispose();
  });

  test('same seed gives identical weights; another seed does not', () => {
    const a = built(new SpectralDense({ units: 6, seed: 42 }), [10]);
    const b = built(new SpectralDense({ units: 6, seed: 42 }), [10]);
    const c = built(new SpectralDense({ units: 6, seed: 43 }), [10]);
    a.getWeights().forEach((w, i) => expect(maxAbsDiff(w, b.getWeights()[i])).toBe(0));
    expect(maxAbsDiff(a.getWeights()[0], c.getWeights()[0])).toBeGreaterThan(0.01);
    // orthogonal init: the raw kernel has orthonormal columns
    const sv = spectralNorm(a.rawKernel);
    expect(Math.abs(sv - 1)).toBeLessThan(1e-5);
  });

  test('the power-iteration vectors are non-trainable, never differentiated, and change only in updateConstraints', () => {
    const layer = built(new SpectralDense({ units: 4, seed: 5 }), [6]);
    expect(layer.trainableWeights.map((w) => w.originalName.split('/').pop())).toEqual(['kernel', 'bias']);
    expect(layer.nonTrainableWeights.map((w) => w.originalName.split('/').pop())).toEqual(['u', 'v']);
    scrambleRawKernel(layer, 3);
    const vectors = () => layer.nonTrainableWeights.map((w) => Array.from(w.read().dataSync()));
    const before = vectors();
    const kernelBefore = Array.from(layer.rawKernel.dataSync());
    const x = tf.randomNormal([8, 6], 0, 1, 'float32', 1);
    const optimizer = tf.train.sgd(0.1);
    // The default var list of minimize() is every trainable variable: u and v are not among them.
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar);
    const names = Object.keys(grads).map((n) => n.split('/').pop());
    expect(names.sort()).toEqual(['bias', 'kernel']);
    optimizer.applyGradients(grads);
    tf.dispose(grads);
    expect(vectors()).toEqual(before);
    expect(Array.from(layer.rawKernel.dataSync())).not.toEqual(kernelBefore);
    layer.updateConstraints();
    const after = vectors();
    expect(after[0]).not.toEqual(before[0]);
    layer.dispose();
  });

  test('the gradient flows through the normalization (d W_eff / d W is not the identity)', () => {
    const layer = built(new SpectralDense({ units: 3, seed: 2, niterBjorck: 0 }), [3]);
    // Pure spectral normalization at an orthogonal W: the loss ||x W/sigma||^2 is scale invariant,
    // so its gradient is orthogonal to W.
    const x = tf.randomNormal([4, 3], 0, 1, 'float32', 2);
    const w = layer.rawKernel;
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar, [w]);
    const radial = tf.sum(tf.mul(grads[w.name], w)).dataSync()[0];
    expect(Math.abs(radial)).toBeLessThan(1e-4);
    expect(tf.norm(grads[w.name]).dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose(grads);
  });

  test('effectiveKernel({converge}) is orthonormal to float32 precision', () => {
    const layer = built(new SpectralDense({ units: 5, seed: 8, niterBjorck: 2 }), [7]);
    scrambleRawKernel(layer, 4);
    const w = layer.effectiveKernel({ converge: true });
    const wtw = tf.matMul(w, w, true, false);
    expect(maxAbsDiff(wtw, tf.eye(5))).toBeLessThan(1e-5);
    // with 2 Björck steps the training kernel is not orthonormal yet: converge changes it
    const rough = layer.effectiveKernel();
    expect(maxAbsDiff(rough, w)).toBeGreaterThan(1e-3);
  });

  test('vanillaExport is a plain Dense with the effective weights', () => {
    const layer = new SpectralDense({ units: 3, seed: 1, kCoefLip: 1.5, inputShape: [4] });
    layer.apply(tf.zeros([1, 4]));
    scrambleRawKernel(layer, 2);
    layer.updateConstraints();
    const plain = layer.vanillaExport();
    expect(plain.getClassName()).toBe('Dense');
    expect(plain.name).toBe(layer.name);
    const x = tf.randomNormal([6, 4], 0, 1, 'float32', 3);
    expect(maxAbsDiff(plain.apply(x) as tf.Tensor, layer.apply(x) as tf.Tensor)).toBeLessThan(1e-6);
  });

  test('serialization round trip (config, weights, outputs)', async () => {
    const layer = new SpectralDense({ units: 4, seed: 7, kCoefLip: 0.5, niterBjorck: 7, betaBjorck: 0.4, niterSpectral: 2, inputShape: [6] });
    const model = sequential({ layers: [layer] });
    scrambleRawKernel(layer, 5);
    layer.updateConstraints();
    const { loaded, artifacts } = await saveAndLoad(model);
    expect(JSON.stringify(artifacts.modelTopology)).toContain('"class_name":"Lip>SpectralDense"');
    const copy = loaded.layers[0] as SpectralDense;
    expect(copy).toBeInstanceOf(SpectralDense);
    expect(copy.getConfig()).toEqual(layer.getConfig());
    expect(copy.weights.map((w) => w.originalName)).toEqual(layer.weights.map((w) => w.originalName));
    copy.getWeights().forEach((w, i) => expect(maxAbsDiff(w, layer.getWeights()[i])).toBe(0));
    const x = tf.randomNormal([5, 6], 0, 1, 'float32', 1);
    expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
  });
});

describe('FrobeniusDense', () => {
  test('divides the kernel by its Frobenius norm (times k)', () => {
    const layer = built(new FrobeniusDense({ units: 3, seed: 1, kCoefLip: 2 }), [5]);
    scrambleRawKernel(layer, 6);
    const w = layer.effectiveKernel();
    const raw = layer.rawKernel;
    expect(maxAbsDiff(w, tf.mul(tf.div(raw, tf.norm(raw)), 2))).toBeLessThan(1e-6);
    expect(tf.norm(w).dataSync()[0]).toBeCloseTo(2, 5);
    expect(spectralNorm(w)).toBeLessThanOrEqual(2 * (1 + 1e-4));
  });

  test('is tight for one output unit', () => {
    const layer = built(new FrobeniusDense({ units: 1, seed: 1 }), [9]);
    scrambleRawKernel(layer, 1);
    expect(spectralNorm(layer.effectiveKernel())).toBeCloseTo(1, 5);
  });

  test('serialization round trip', async () => {
    const layer = new FrobeniusDense({ units: 2, seed: 3, useBias: false, inputShape: [5] });
    const model = sequential({ layers: [layer] });
    scrambleRawKernel(layer, 2);
    const { loaded } = await saveAndLoad(model);
    expect(loaded.layers[0]).toBeInstanceOf(FrobeniusDense);
    expect(loaded.layers[0].getConfig()).toEqual(layer.getConfig());
    expect(loaded.layers[0].weights).toHaveLength(1);
    const x = tf.randomNormal([3, 5], 0, 1, 'float32', 1);
    expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
  });
});
