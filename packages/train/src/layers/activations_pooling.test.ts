import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { maxAbsDiff } from '@lip/test-support';
import { maxRatio } from '@lip/test-support/measure';
import { saveAndLoad } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { FullSort, GroupSort, GroupSort2, MaxMin } from './activations';
import { InvertibleDownSampling, ScaledAvgPool2D, ScaledGlobalL2NormPool2D, ScaledL2NormPool2D } from './pooling';
import { isLipschitzLayer, isLipschitzLinear } from './lipschitz';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

interface Case {
  name: string;
  make: () => layers.Layer;
  /** Per-sample input shape. */
  input: number[];
  output: number[];
}

const CASES: Case[] = [
  { name: 'GroupSort(4)', make: () => new GroupSort({ n: 4 }), input: [4, 4, 8], output: [4, 4, 8] },
  { name: 'GroupSort(3), dense input', make: () => new GroupSort({ n: 3 }), input: [12], output: [12] },
  { name: 'GroupSort2', make: () => new GroupSort2(), input: [4, 4, 8], output: [4, 4, 8] },
  { name: 'FullSort', make: () => new FullSort(), input: [10], output: [10] },
  { name: 'MaxMin', make: () => new MaxMin(), input: [3, 3, 4], output: [3, 3, 8] },
  { name: 'ScaledL2NormPool2D', make: () => new ScaledL2NormPool2D({ poolSize: 2 }), input: [6, 6, 3], output: [3, 3, 3] },
  { name: 'ScaledL2NormPool2D 2x3, strides 3', make: () => new ScaledL2NormPool2D({ poolSize: [2, 3], strides: 3 }), input: [7, 7, 2], output: [2, 2, 2] },
  { name: 'ScaledAvgPool2D', make: () => new ScaledAvgPool2D({ poolSize: 2 }), input: [7, 6, 3], output: [3, 3, 3] },
  { name: 'ScaledGlobalL2NormPool2D', make: () => new ScaledGlobalL2NormPool2D(), input: [5, 4, 3], output: [3] },
  { name: 'InvertibleDownSampling', make: () => new InvertibleDownSampling({ poolSize: 2 }), input: [4, 6, 3], output: [2, 3, 12] },
];

function applyTo(layer: layers.Layer, x: tf.Tensor): tf.Tensor {
  return layer.apply(x) as tf.Tensor;
}

describe.each(CASES)('$name', ({ make, input, output }) => {
  test('is a 1-Lipschitz layer with the right output shape', () => {
    const layer = make();
    expect(isLipschitzLayer(layer)).toBe(true);
    expect(isLipschitzLinear(layer)).toBe(false);
    expect((layer as unknown as { lipschitzConstant(): number }).lipschitzConstant()).toBe(1);
    expect(layer.getClassName()).toMatch(/^Lip>/);
    const y = applyTo(layer, tf.randomNormal([2, ...input], 0, 1, 'float32', 1));
    expect(y.shape).toEqual([2, ...output]);
    expect(layer.computeOutputShape([null, ...input])).toEqual([null, ...output]);
  });

  test('ratios ||f(x) - f(y)|| / ||x - y|| <= 1 over random pairs', () => {
    const layer = make();
    const ratio = maxRatio((x) => applyTo(layer, x), [1, ...input], 40, 100);
    expect(ratio).toBeLessThanOrEqual(1 + 1e-5);
    expect(ratio).toBeGreaterThan(0.3); // not vacuous
  });

  test('vector-Jacobian products have norm <= ||cotangent|| (the gradients are 1-Lipschitz too)', () => {
    const layer = make();
    for (let i = 0; i < 10; i++) {
      const x = tf.randomNormal([1, ...input], 0, 1, 'float32', 200 + i);
      const c = tf.randomNormal([1, ...output], 0, 1, 'float32', 300 + i);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(applyTo(layer, t), c)))(x);
      expect(tf.norm(g).dataSync()[0]).toBeLessThanOrEqual(tf.norm(c).dataSync()[0] * (1 + 1e-5));
      expect(Number.isFinite(tf.sum(g).dataSync()[0])).toBe(true);
    }
  });

  test('serialization round trip', async () => {
    const layer = make();
    const model = sequential({ layers: [layers.inputLayer({ inputShape: input }), layer] });
    const { loaded } = await saveAndLoad(model);
    const copy = loaded.layers[loaded.layers.length - 1];
    expect(copy).toBeInstanceOf(layer.constructor);
    expect(copy.getConfig()).toEqual(layer.getConfig());
    const x = tf.randomNormal([3, ...input], 0, 1, 'float32', 4);
    expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
  });
});

test('the ratio measurement can fail: an overlapping scaled pooling is not 1-Lipschitz', () => {
  const overlapping = (x: tf.Tensor) => tf.mul(tf.avgPool(x as tf.Tensor4D, 2, 1, 'valid'), 2);
  expect(maxRatio(overlapping, [1, 6, 6, 1], 40, 100)).toBeGreaterThan(1.2);
});

describe('validation', () => {
  test.each([
    [() => new GroupSort({ n: 0 }), "'n'"],
    [() => new GroupSort({} as never), "'n'"],
    [() => new ScaledL2NormPool2D({ poolSize: 2, strides: 1 }), "'strides'"],
    [() => new ScaledAvgPool2D({ poolSize: 2, padding: 'same' as never }), "'padding'"],
    [() => new ScaledAvgPool2D({ poolSize: 0 }), "'poolSize'"],
    [() => new InvertibleDownSampling({ poolSize: [2, 0] }), "'poolSize'"],
  ])('%#: constructor rejects bad arguments', (make, quoted) => {
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(quoted);
  });

  test.each([
    [() => new GroupSort({ n: 3 }), [2, 8], "'n'"],
    [() => new GroupSort2(), [2, 5], 'even'],
    [() => new InvertibleDownSampling({ poolSize: 2 }), [1, 5, 4, 2], "'poolSize'"],
  ])('%#: build rejects an incompatible input', (make, shape, quoted) => {
    expect(() => make().apply(tf.zeros(shape as number[]))).toThrow(quoted as string);
  });
});

describe('deel-torchlip v0.1.1 reference outputs (NHWC)', () => {
  const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../../testdata/torchlip-v0.1.1-reference.json'), 'utf8')) as Record<
    string,
    Record<string, number[]>[]
  >;
  const act = fixture.activations[0];
  const pool = fixture.pooling[0];

  test.each([
    ['groupSort2NHWC', () => new GroupSort2()],
    ['groupSort4NHWC', () => new GroupSort({ n: 4 })],
    ['fullSortNHWC', () => new FullSort()],
    ['maxMinNHWC', () => new MaxMin()],
  ] as const)('%s', (key, make) => {
    const y = applyTo(make(), tf.tensor(act.inputNHWC));
    expect(maxAbsDiff(y, tf.tensor(act[key]))).toBeLessThan(1e-6);
  });

  test.each([
    ['scaledL2NormPool2x2NHWC', () => new ScaledL2NormPool2D({ poolSize: 2 })],
    ['scaledAvgPool2x2NHWC', () => new ScaledAvgPool2D({ poolSize: 2 })],
  ] as const)('%s', (key, make) => {
    const y = applyTo(make(), tf.tensor(pool.inputNHWC));
    expect(maxAbsDiff(y, tf.tensor(pool[key]))).toBeLessThan(1e-5);
  });
});
