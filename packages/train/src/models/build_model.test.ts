import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { maxAbsDiff } from '@lip/test-support';
import { maxRatio } from '@lip/test-support/measure';
import { randomizeWeights, saveAndLoad, warnRecorder } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { LipschitzSequential, SpectralConv2D, SpectralDense } from '../layers';
import { ARCHITECTURES, buildModel, registerArchitecture } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** `model`'s inference after "training": raw weights far from the initial state (from `seed`), constraints converged. */
function trainedForward(model: LipschitzSequential, seed: number): (x: tf.Tensor) => tf.Tensor {
  randomizeWeights(model, seed, 2, 0.05);
  for (const l of model.lipschitzLinearLayers()) l.updateConstraints(50);
  return (x) => model.apply(x, { training: false }) as tf.Tensor;
}

describe("buildModel('seed')", () => {
  test('is the reference network', () => {
    const logger = warnRecorder();
    const model = buildModel('seed', { seed: 1, logger });
    expect(model).toBeInstanceOf(LipschitzSequential);
    expect(model.layers.map((l) => l.getClassName())).toEqual([
      'Lip>SpectralConv2D', 'Lip>GroupSort2', 'Lip>ScaledL2NormPool2D',
      'Lip>SpectralConv2D', 'Lip>GroupSort2', 'Lip>ScaledL2NormPool2D',
      'Flatten', 'Lip>SpectralDense', 'Lip>GroupSort2', 'Lip>SpectralDense',
    ]);
    expect(model.inputs[0].shape).toEqual([null, 28, 28, 1]);
    expect(model.outputs[0].shape).toEqual([null, 10]);
    const [c1, , , c2, , , , d1, , d2] = model.layers as [SpectralConv2D, ...unknown[]] as never[];
    expect((c1 as SpectralConv2D).getConfig()).toMatchObject({ filters: 16, kernelSize: [3, 3], padding: 'same', strides: [1, 1], normalization: 'bjorck' });
    expect((c2 as SpectralConv2D).getConfig()).toMatchObject({ filters: 32, kernelSize: [3, 3], padding: 'same' });
    expect((d1 as SpectralDense).getConfig()).toMatchObject({ units: 64, useBias: true });
    expect((d2 as SpectralDense).getConfig()).toMatchObject({ units: 10, useBias: false });
    expect(model.countParams()).toBe(
      (9 * 16 + 16) + (9 * 16 * 32 + 32) + (7 * 7 * 32 * 64 + 64) + 64 * 10 // trainable
        + (16 + 9) + (32 + 144) + (64 + 1568) + (10 + 64), // u, v
    );
    // the reference warns about the Flatten; an isometry needs no warning (and the user can do nothing about it)
    expect(logger.messages).toEqual([]);
    expect(model.lipschitzConstant()).toBeCloseTo(1, 12);
    model.dispose();
  });

  test('same seed gives identical weights, another seed different ones', () => {
    const a = buildModel('seed', { seed: 42, logger: warnRecorder() });
    const b = buildModel('seed', { seed: 42, logger: warnRecorder() });
    const c = buildModel('seed', { seed: 43, logger: warnRecorder() });
    const wa = a.getWeights();
    const wb = b.getWeights();
    wa.forEach((w, i) => expect(maxAbsDiff(w, wb[i])).toBe(0));
    expect(maxAbsDiff(wa[0], c.getWeights()[0])).toBeGreaterThan(0.01);
    // layers are not seeded alike
    expect(maxAbsDiff(tf.slice(wa[4], [0, 0], [64, 10]), tf.slice(wa[6], [0, 0], [64, 10]))).toBeGreaterThan(0.01);
    const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 5);
    expect(maxAbsDiff(a.predict(x) as tf.Tensor, b.predict(x) as tf.Tensor)).toBe(0);
    [a, b, c].forEach((m) => m.dispose());
  });

  test('options: inputShape, numClasses, convNormalization, kCoefLip', () => {
    const model = buildModel('seed', {
      seed: 3, inputShape: [12, 12, 3], numClasses: 4, convNormalization: 'operator', kCoefLip: 2, logger: warnRecorder(),
    });
    expect(model.outputs[0].shape).toEqual([null, 4]);
    expect((model.layers[0] as SpectralConv2D).normalization).toBe('operator');
    expect(model.kCoefLip).toBe(2);
    for (const l of model.lipschitzLinearLayers()) expect(l.kCoefLip).toBeCloseTo(Math.pow(2, 1 / 4), 12);
    expect(model.lipschitzConstant()).toBeCloseTo(2, 10);
    model.dispose();
  });

  test('trains a step, round-trips through an IOHandler, and exports a plain twin', async () => {
    const model = buildModel('seed', { seed: 7, inputShape: [8, 8, 1], logger: warnRecorder() });
    const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 1);
    const optimizer = tf.train.adam(1e-2);
    model.updateConstraints();
    optimizer.minimize(() => tf.mean(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar);
    const previous = LipschitzSequential.defaultLogger;
    LipschitzSequential.defaultLogger = warnRecorder();
    try {
      const { loaded } = await saveAndLoad(model);
      expect(loaded).toBeInstanceOf(LipschitzSequential);
      expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
    } finally {
      LipschitzSequential.defaultLogger = previous;
    }
    const plain = model.vanillaExport();
    expect(maxAbsDiff(plain.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
  });

  test('unknown architectures and bad options are refused', () => {
    expect(() => buildModel('resnet')).toThrow(InvalidArgumentError);
    expect(() => buildModel('resnet')).toThrow("'arch'");
    expect(() => buildModel('seed', { seed: 0.5 })).toThrow("'seed'");
    expect(() => buildModel('seed', { numClasses: 0 })).toThrow("'numClasses'");
    expect(() => buildModel('seed', { inputShape: [28, 28] as never })).toThrow("'inputShape'");
    expect(() => buildModel('seed', { convNormalization: 'fft' as never, logger: warnRecorder() })).toThrow("'normalization'");
  });

  test.each(['ortho', 'ortho-large', 'ortho-wide'])("'%s' is 1-Lipschitz, measured by pairs and input-gradient norms", (arch) => {
    const model = buildModel(arch, { seed: 4, logger: warnRecorder() });
    expect(model.inputs[0].shape).toEqual([null, 28, 28, 1]);
    expect(model.outputs[0].shape).toEqual([null, 10]);
    const f = trainedForward(model, 100);
    expect(maxRatio(f, [1, 28, 28, 1], 6, 9)).toBeLessThanOrEqual(1 + 1e-4);
    // gradient of a random output direction u: its norm is <= ||u|| = 1
    const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 3);
    const u = tf.div(tf.randomNormal([4, 10], 0, 1, 'float32', 5), tf.norm(tf.randomNormal([4, 10], 0, 1, 'float32', 5), 2, 1, true));
    const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(f(xx), u)))(x);
    const norms = Array.from(tf.norm(tf.reshape(g, [4, -1]), 2, 1).dataSync());
    expect(Math.max(...norms)).toBeLessThanOrEqual(1 + 1e-4);
    expect(Math.min(...norms)).toBeGreaterThan(0.05);
    expect(model.lipschitzConstant()).toBeCloseTo(1, 12);
    model.dispose();
  });

  test("'ortho' for CIFAR-10's 32×32×3: space-to-depth to 8×8×48, convs 48, 64, 64, still 1-Lipschitz", () => {
    const filters = (m: LipschitzSequential): number[] =>
      m.layers.filter((l) => l.getClassName() === 'Lip>OrthogonalConv2D').map((l) => (l.getConfig() as { filters: number }).filters);
    const mnist = buildModel('ortho', { seed: 4, logger: warnRecorder() });
    expect(filters(mnist)).toEqual([16, 32, 32]);
    mnist.dispose();
    const model = buildModel('ortho', { seed: 4, inputShape: [32, 32, 3], logger: warnRecorder() });
    expect(filters(model)).toEqual([48, 64, 64]);
    expect(model.inputs[0].shape).toEqual([null, 32, 32, 3]);
    expect(model.layers[1].outputShape).toEqual([null, 8, 8, 48]);
    expect(model.outputs[0].shape).toEqual([null, 10]);
    expect(maxRatio(trainedForward(model, 200), [1, 32, 32, 3], 6, 9)).toBeLessThanOrEqual(1 + 1e-4);
    model.dispose();
    expect(() => buildModel('ortho', { inputShape: [30, 30, 3], logger: warnRecorder() })).toThrow(
      'the orthogonal architectures need an input height and width divisible by 4 (two space-to-depth steps), got [30, 30, 3]',
    );
  });

  test('ARCHITECTURES is open for new rows', () => {
    registerArchitecture('tiny', {
      description: 'one dense layer',
      layers: (o) => [new SpectralDense({ units: o.numClasses, inputShape: [o.inputShape.reduce((a, b) => a * b, 1)], seed: o.layerSeed(0) })],
    });
    expect(ARCHITECTURES.has('tiny')).toBe(true);
    const model = buildModel('tiny', { inputShape: [2, 2, 1], numClasses: 3, seed: 1 });
    expect(model.outputs[0].shape).toEqual([null, 3]);
    ARCHITECTURES.delete('tiny');
  });
});
