import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { layers, Sequential } from '@tensorflow/tfjs-layers';
import { makeTmpDir, maxAbsDiff, removeDir } from '@lip/test-support';
import { operatorMatrix, spectralNorm } from '@lip/test-support/measure';
import { saveAndLoad, warnRecorder } from '@lip/test-support/tf';
import { InvalidArgumentError, ModelError } from '../errors';
import { LipschitzSequential } from './lipschitz_sequential';
import { SpectralDense } from './spectral_dense';
import { SpectralConv2D } from './spectral_conv2d';
import { FrobeniusDense } from './frobenius_dense';
import { lipLayers } from './index';
import { loadCheckpoint, saveCheckpoint } from '../training/checkpoint';
import type { TrainConfig } from '../training/config';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Square dense layers only: each effective kernel is orthogonal, so the network's norm is exactly k. */
function denseOnly(k: number, logger = warnRecorder()): LipschitzSequential {
  return new LipschitzSequential({
    kCoefLip: k,
    logger,
    layers: [new SpectralDense({ units: 6, seed: 1, inputShape: [6] }), new SpectralDense({ units: 6, seed: 2 }), new FrobeniusDense({ units: 1, seed: 3 })],
  });
}

function convNet(logger = warnRecorder(), k = 1): LipschitzSequential {
  return new LipschitzSequential({
    kCoefLip: k,
    logger,
    layers: [
      new SpectralConv2D({ filters: 4, kernelSize: 3, seed: 1, inputShape: [6, 6, 1] }),
      new SpectralConv2D({ filters: 4, kernelSize: 3, strides: 2, seed: 2, normalization: 'operator' }),
      layers.flatten(),
      new SpectralDense({ units: 5, seed: 3 }),
      new SpectralDense({ units: 3, seed: 4, useBias: false }),
    ],
  });
}

/** The end-to-end Jacobian norm of a network without activations (biases do not matter). */
function jacobianNorm(model: Sequential, inputShape: number[]): number {
  const zero = model.predict(tf.zeros([1, ...inputShape])) as tf.Tensor;
  const m = operatorMatrix((x) => tf.sub(model.predict(x) as tf.Tensor, zero), inputShape);
  return spectralNorm(m);
}

/** A few Adam steps on a dummy loss, with updateConstraints before each, as training does. */
function train(model: LipschitzSequential, x: tf.Tensor, steps = 3): void {
  const optimizer = tf.train.adam(0.05);
  for (let i = 0; i < steps; i++) {
    model.updateConstraints();
    optimizer.minimize(() => tf.sum(tf.square(tf.sub(model.apply(x, { training: true }) as tf.Tensor, 1))) as tf.Scalar);
  }
}

describe('LipschitzSequential', () => {
  test.each([1, 2, 0.5])('kCoefLip=%p: each dense/conv layer gets k^(1/n); the product, measured end to end, is k', (k) => {
    const model = denseOnly(k);
    const linear = model.lipschitzLinearLayers();
    expect(linear).toHaveLength(3);
    for (const layer of linear) expect(layer.kCoefLip).toBeCloseTo(Math.pow(k, 1 / 3), 12);
    expect(model.kCoefLip).toBe(k);
    expect(model.lipschitzConstant()).toBeCloseTo(k, 12);
    // really applied: the Jacobian of x -> model(x) has norm k (orthogonal square layers, rank-one last layer)
    const measured = jacobianNorm(model, [6]);
    expect(measured).toBeLessThanOrEqual(k * (1 + 1e-4));
    expect(measured).toBeGreaterThanOrEqual(k * (1 - 1e-3));
  });

  test('setKCoefLip redistributes; add() redistributes', () => {
    const model = denseOnly(1);
    model.setKCoefLip(8);
    for (const layer of model.lipschitzLinearLayers()) expect(layer.kCoefLip).toBeCloseTo(2, 12);
    expect(jacobianNorm(model, [6])).toBeCloseTo(8, 3);
    model.add(new SpectralDense({ units: 1, seed: 9 }));
    for (const layer of model.lipschitzLinearLayers()) expect(layer.kCoefLip).toBeCloseTo(Math.pow(8, 1 / 4), 12);
    expect(model.lipschitzConstant()).toBeCloseTo(8, 10);
  });

  test('refuses a layer whose own kCoefLip disagrees with its share', () => {
    expect(() => new LipschitzSequential({ logger: warnRecorder(), layers: [new SpectralDense({ units: 2, kCoefLip: 3, inputShape: [2] })] })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new LipschitzSequential({ kCoefLip: 0 })).toThrow("'kCoefLip'");
  });

  test('warns about each layer that is not a Lipschitz layer, like the reference, but not about Flatten, Reshape, Permute', () => {
    const logger = warnRecorder();
    const model = convNet(logger);
    expect(model.layers[2].getClassName()).toBe('Flatten');
    expect(logger.messages).toEqual([]);
    model.add(layers.reshape({ targetShape: [1, 3] }));
    model.add(layers.permute({ dims: [2, 1] }));
    model.add(layers.flatten());
    expect(logger.messages).toEqual([]);
    model.add(layers.dense({ units: 2 }));
    expect(logger.messages).toEqual([`Sequential model contains a layer which is not a Lipschitz layer: ${model.layers[8].name}`]);
    // a plain Dense has no known constant: fail loudly rather than guess
    expect(() => model.lipschitzConstant()).toThrow(ModelError);
  });

  test('updateConstraints() updates every layer', () => {
    const model = convNet();
    const vectors = () => model.nonTrainableWeights.map((w) => Array.from(w.read().dataSync()));
    const before = vectors();
    expect(before).toHaveLength(2 + 3 + 2 + 2);
    for (const w of model.lipschitzLinearLayers()) {
      tf.tidy(() => {
        const k = (w as SpectralDense).rawKernel;
        k.assign(tf.add(k, tf.randomNormal(k.shape, 0, 0.3, 'float32', 1)));
      });
    }
    model.updateConstraints(2);
    vectors().forEach((v, i) => expect(v).not.toEqual(before[i]));
  });

  test('vanillaExport: a plain tf.Sequential with the same outputs (within 1e-5), before and after training', () => {
    const model = convNet(warnRecorder(), 2);
    const x = tf.randomNormal([4, 6, 6, 1], 0, 1, 'float32', 7);
    for (const trained of [false, true]) {
      if (trained) train(model, x);
      const plain = model.vanillaExport();
      expect(plain).not.toBeInstanceOf(LipschitzSequential);
      expect(plain.layers.map((l) => l.getClassName())).toEqual(['Conv2D', 'Conv2D', 'Flatten', 'Dense', 'Dense']);
      expect(maxAbsDiff(plain.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
      plain.dispose();
    }
  });

  test('vanillaExport({converge}) matches a fresh model (already orthonormal)', () => {
    const model = denseOnly(2);
    const x = tf.randomNormal([4, 6], 0, 1, 'float32', 7);
    const plain = model.vanillaExport({ converge: true });
    expect(maxAbsDiff(plain.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
  });

  test('serialization round trip with an in-memory IOHandler: class, kCoefLip, weights, outputs', async () => {
    const model = convNet(warnRecorder(), 3);
    const x = tf.randomNormal([2, 6, 6, 1], 0, 1, 'float32', 3);
    train(model, x, 2);
    const previous = LipschitzSequential.defaultLogger;
    const logger = warnRecorder();
    LipschitzSequential.defaultLogger = logger;
    try {
      const { loaded, artifacts } = await saveAndLoad(model);
      const topology = JSON.stringify(artifacts.modelTopology);
      expect(topology).toContain('"class_name":"Lip>LipschitzSequential"');
      expect(topology).toContain('"k_coef_lip":3');
      expect(loaded).toBeInstanceOf(LipschitzSequential);
      const copy = loaded as LipschitzSequential;
      expect(copy.kCoefLip).toBe(3);
      expect(copy.lipschitzConstant()).toBeCloseTo(3, 10);
      expect(copy.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
      copy.lipschitzLinearLayers().forEach((l, i) => expect(l.kCoefLip).toBe(model.lipschitzLinearLayers()[i].kCoefLip));
      expect(copy.weights.map((w) => w.originalName)).toEqual(model.weights.map((w) => w.originalName));
      copy.getWeights().forEach((w, i) => expect(maxAbsDiff(w, model.getWeights()[i])).toBe(0));
      expect(maxAbsDiff(copy.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
      expect(logger.messages).toEqual([]); // warned when built, not again on every load
      // and it trains on
      train(copy, x, 1);
    } finally {
      LipschitzSequential.defaultLogger = previous;
    }
  });

  test('loading a checkpoint from disk prints nothing (the warning is for building)', async () => {
    const built = warnRecorder();
    const model = convNet(built);
    model.add(layers.activation({ activation: 'relu' })); // not a Lipschitz layer: warned about once, here
    expect(built.messages).toHaveLength(1);
    const dir = makeTmpDir('seq-quiet');
    const optimizer = tf.train.adam(0.01);
    const printed: string[] = [];
    const spies = [
      jest.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => {
        printed.push(a.join(' '));
      }),
      jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
        printed.push(a.join(' '));
      }),
      jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
        printed.push(String(s));
        return true;
      }),
    ];
    try {
      train(model, tf.randomNormal([2, 6, 6, 1], 0, 1, 'float32', 3), 1);
      await saveCheckpoint(dir, model, optimizer, { config: {} as TrainConfig, epochs: [] });
      printed.length = 0;
      const { model: loaded } = await loadCheckpoint(dir);
      expect(loaded.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
      loaded.dispose();
    } finally {
      for (const spy of spies) spy.mockRestore();
      optimizer.dispose();
      removeDir(dir);
    }
    expect(printed).toEqual([]);
  });

  test('lipLayers factories', () => {
    expect(lipLayers.spectralDense({ units: 2 })).toBeInstanceOf(SpectralDense);
    expect(lipLayers.spectralConv2d({ filters: 2, kernelSize: 3 })).toBeInstanceOf(SpectralConv2D);
    expect(lipLayers.lipschitzSequential({ logger: warnRecorder() })).toBeInstanceOf(LipschitzSequential);
  });
});
