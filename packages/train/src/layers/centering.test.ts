/**
 * LayerCentering and BatchCentering: the reference formulas
 * (test/fixtures/head-layers-reference.json, tools/make-head-fixtures.py:
 * deel-torchlip's layers in float64), the Lipschitz constant measured (the
 * operator matrix of the centering, random pairs), the running mean in
 * model.fit and train(), and saving.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { maxAbsDiff, tmpDirPerSuite } from '@lip/test-support';
import { sigmaMax } from '@lip/test-support/linalg';
import { maxRatio, operatorMatrix } from '@lip/test-support/measure';
import { TINY_SHAPE, tinyData } from '@lip/test-support/models';
import { QUIET_LOGGER, saveAndLoad } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { train } from '../training/train';
import { BatchCentering, DEFAULT_CENTERING_MOMENTUM, LayerCentering } from './centering';
import { GroupSort2 } from './activations';
import { LipschitzSequential } from './lipschitz_sequential';
import { SpectralConv2D } from './spectral_conv2d';
import { SpectralDense } from './spectral_dense';
import { isLipschitzLayer } from './lipschitz';
import { lipLayers } from './index';

interface LayerCase {
  shape: number[];
  axis: number[] | null;
  useBias: boolean;
  x: number[];
  bias: number[];
  output: number[];
}

interface BatchCase {
  shape: number[];
  momentum: number;
  bias: number[];
  calls: { training: boolean; x: number[]; output: number[]; runningMean: number[] }[];
}

const FIXTURE = path.join(__dirname, '../../../../test/fixtures/head-layers-reference.json');
const REFERENCE = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as { layerCentering: LayerCase[]; batchCentering: BatchCase[] };
const tmp = tmpDirPerSuite('centering');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** max |a - b| / max(1, max |b|). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return maxAbsDiff(a, b) / scale;
}

describe('LayerCentering', () => {
  test.each(REFERENCE.layerCentering.map((c) => [c.shape.join('x'), JSON.stringify(c.axis), c] as const))(
    '[%s], axis %s: the reference formula (deel-torchlip LayerCentering)',
    (_s, _a, c) => {
      const layer = new LayerCentering({ axis: c.axis ?? undefined, useBias: c.useBias });
      layer.build([null, ...c.shape.slice(1)]);
      if (c.useBias) layer.setWeights([tf.tensor1d(c.bias)]);
      const y = layer.apply(tf.tensor(c.x, c.shape)) as tf.Tensor;
      expect(relErr(y.dataSync(), c.output)).toBeLessThan(1e-5);
    },
  );

  test.each([
    ['features', [9], undefined],
    ['an image, spatial mean (default)', [3, 4, 2], undefined],
    ['an image, channel mean per pixel', [3, 2, 4], -1],
    ['an image, whole-sample mean', [2, 3, 2], [1, 2, 3]],
  ])('on %s: the centering map has spectral norm exactly 1 (measured), so it is 1-Lipschitz', (_what, shape, axis) => {
    const layer = new LayerCentering({ axis: axis as number | number[] | undefined });
    layer.build([null, ...(shape as number[])]);
    layer.setWeights([tf.randomNormal([(shape as number[])[(shape as number[]).length - 1]], 0, 1, 'float32', 2)]);
    // The linear part: f(x) - f(0).
    const zero = layer.apply(tf.zeros([1, ...(shape as number[])])) as tf.Tensor;
    const m = operatorMatrix((x) => tf.sub(layer.apply(x) as tf.Tensor, zero), shape as number[]);
    const norm = sigmaMax(m.dataSync(), m.shape[0], m.shape[1]);
    expect(norm).toBeLessThan(1 + 1e-6);
    expect(norm).toBeGreaterThan(1 - 1e-6);
    expect(maxRatio((x) => layer.apply(x) as tf.Tensor, [1, ...(shape as number[])], 30, 4)).toBeLessThanOrEqual(1 + 1e-5);
    expect(isLipschitzLayer(layer)).toBe(true);
    expect(layer.lipschitzConstant()).toBe(1);
  });

  test('refuses the batch axis, repeated or out-of-range axes, and a non-boolean useBias', () => {
    expect(() => new LayerCentering({ axis: 0 })).toThrow(InvalidArgumentError);
    expect(() => new LayerCentering({ axis: [1, 0] })).toThrow(
      "'axis' must be a nonzero integer or a non-empty array of them (axis 0 is the batch), got [1,0]",
    );
    expect(() => new LayerCentering({ axis: [1, -3] }).build([null, 4, 4, 2])).toThrow("'axis' [1,-3] must name distinct non-batch axes");
    expect(() => new LayerCentering({ axis: 3 }).build([null, 4, 2])).toThrow("'axis' [3] must name distinct non-batch axes of the input [null, 4, 2]");
    expect(() => new LayerCentering({ useBias: 'yes' as unknown as boolean })).toThrow("'useBias' must be a boolean, got yes");
  });

  test('lipLayers factories', () => {
    expect(lipLayers.layerCentering({ axis: -1 })).toBeInstanceOf(LayerCentering);
    expect(lipLayers.batchCentering()).toBeInstanceOf(BatchCentering);
  });

  test('saves and loads with its axes and bias', async () => {
    const model = sequential({ layers: [new LayerCentering({ axis: -1, inputShape: [3, 3, 4] })] });
    model.layers[0].setWeights([tf.tensor1d([1, 2, 3, 4])]);
    const { loaded } = await saveAndLoad(model);
    const x = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 7);
    expect((loaded.layers[0] as LayerCentering).axes).toEqual([3]);
    expect(maxAbsDiff((loaded.predict(x) as tf.Tensor).dataSync(), (model.predict(x) as tf.Tensor).dataSync())).toBe(0);
  });
});

describe('BatchCentering', () => {
  test.each(REFERENCE.batchCentering.map((c) => [c.shape.join('x'), c.momentum, c] as const))(
    '[%s], momentum %d: training batches and the running mean, then inference (deel-torchlip BatchCentering)',
    (_s, _m, c) => {
      const layer = new BatchCentering({ momentum: c.momentum });
      layer.build([null, ...c.shape.slice(1)]);
      const [, running, seen] = layer.getWeights();
      layer.setWeights([tf.tensor1d(c.bias), running, seen]);
      for (const call of c.calls) {
        const y = layer.apply(tf.tensor(call.x, c.shape), { training: call.training }) as tf.Tensor;
        expect(relErr(y.dataSync(), call.output)).toBeLessThan(1e-5);
        expect(relErr(layer.movingMean().dataSync(), call.runningMean)).toBeLessThan(1e-5);
      }
    },
  );

  test('at inference it is the translation x + (bias - running mean): 1-Lipschitz, exactly isometric', () => {
    const layer = new BatchCentering();
    expect(layer.momentum).toBe(DEFAULT_CENTERING_MOMENTUM);
    layer.build([null, 4, 4, 3]);
    layer.apply(tf.randomNormal([5, 4, 4, 3], 2, 1, 'float32', 1), { training: true });
    const shift = layer.inferenceShift();
    expect(maxAbsDiff(shift.dataSync(), tf.neg(layer.movingMean()).dataSync())).toBe(0); // zero bias
    expect(Math.min(...Array.from(layer.movingMean().dataSync()))).toBeGreaterThan(1); // the batch's mean, about 2
    const x = tf.randomNormal([1, 4, 4, 3], 0, 1, 'float32', 2);
    expect(maxAbsDiff((layer.apply(x) as tf.Tensor).dataSync(), tf.add(x, shift).dataSync())).toBe(0);
    const ratio = maxRatio((t) => layer.apply(t) as tf.Tensor, [1, 4, 4, 3], 20, 3);
    expect(ratio).toBeLessThan(1 + 1e-5);
    expect(ratio).toBeGreaterThan(1 - 1e-5);
    expect(layer.lipschitzConstant()).toBe(1);
  });

  test('refuses a momentum outside (0, 1]', () => {
    expect(() => new BatchCentering({ momentum: 0 })).toThrow("'momentum' must be a number in (0, 1], got 0");
    expect(() => new BatchCentering({ momentum: 1.5 })).toThrow(InvalidArgumentError);
  });

  test('model.fit updates the running mean (not trainable) and saving keeps it', async () => {
    const model = sequential({ layers: [new BatchCentering({ inputShape: [3] }), layers.dense({ units: 1 })] });
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const centering = model.layers[0] as BatchCentering;
    expect(centering.trainableWeights.map((w) => w.originalName)).toEqual([`${centering.name}/bias`]);
    const x = tf.add(tf.randomNormal([64, 3], 0, 1, 'float32', 4), tf.tensor1d([5, -3, 1]));
    await model.fit(x, tf.zeros([64, 1]), { epochs: 2, batchSize: 16, verbose: 0 });
    expect(maxAbsDiff(centering.movingMean().dataSync(), [5, -3, 1])).toBeLessThan(0.6);
    const { loaded } = await saveAndLoad(model);
    expect(maxAbsDiff((loaded.layers[0] as BatchCentering).movingMean().dataSync(), centering.movingMean().dataSync())).toBe(0);
    expect(maxAbsDiff((loaded.predict(x) as tf.Tensor).dataSync(), (model.predict(x) as tf.Tensor).dataSync())).toBe(0);
  });

  test('train() runs a model holding it without worker threads, and its running mean follows the data', async () => {
    const data = tinyData(64, 3);
    const model = new LipschitzSequential({
      layers: [
        new SpectralConv2D({ filters: 4, kernelSize: 3, seed: 1, inputShape: TINY_SHAPE }),
        new BatchCentering(),
        new GroupSort2(),
        layers.flatten(),
        new SpectralDense({ units: 3, seed: 2 }),
      ],
      logger: QUIET_LOGGER,
    });
    const messages: string[] = [];
    const result = await train(
      {
        model,
        data: { train: { x: data.images, y: data.labels, inputShape: TINY_SHAPE } },
        outDir: tmp.path('run'),
        epochs: 1,
        batchSize: 32,
        workers: 2,
        backend: 'cpu',
        seed: 1,
      },
      { logger: (m) => messages.push(m) },
    );
    expect(messages).toContain("workers: 1 (layer '" + model.layers[1].name + "' keeps running batch statistics, which worker threads cannot update)");
    const mean = (result.model.layers[1] as BatchCentering).movingMean().dataSync();
    expect(Math.max(...Array.from(mean, Math.abs))).toBeGreaterThan(1e-4);
    result.model.dispose();
  });
});
