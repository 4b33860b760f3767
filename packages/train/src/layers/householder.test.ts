/**
 * Householder activation: the reference formula (test/fixtures/head-layers-reference.json,
 * tools/make-head-fixtures.py: deel-lip's Householder in float64), gradients
 * included; GroupSort2 at the default angle; the Lipschitz constant measured
 * (Jacobian singular values and random pairs); saving, and training.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { maxAbsDiff, tmpDirPerSuite } from '@lip/test-support';
import { singularValues } from '@lip/test-support/linalg';
import { maxRatio } from '@lip/test-support/measure';
import { TINY_SHAPE, tinyData } from '@lip/test-support/models';
import { QUIET_LOGGER, saveAndLoad } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { train } from '../training/train';
import { LayerCentering } from './centering';
import { FrobeniusDense } from './frobenius_dense';
import { DEFAULT_HOUSEHOLDER_THETA, Householder } from './householder';
import { LipschitzSequential } from './lipschitz_sequential';
import { SpectralConv2D } from './spectral_conv2d';
import { isLipschitzLayer } from './lipschitz';
import { lipLayers } from './index';

interface HouseholderCase {
  shape: number[];
  theta: number[];
  x: number[];
  cotangent: number[];
  output: number[];
  gradX: number[];
  gradTheta: number[];
}

const FIXTURE = path.join(__dirname, '../../../../test/fixtures/head-layers-reference.json');
const tmp = tmpDirPerSuite('householder');
const CASES = (JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as { householder: HouseholderCase[] }).householder;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function householderWith(theta: number[], inputShape: number[]): Householder {
  const layer = new Householder();
  layer.build([null, ...inputShape]);
  layer.setWeights([tf.tensor1d(theta)]);
  return layer;
}

/** max |a - b| / max(1, max |b|): float32 against the float64 reference. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return maxAbsDiff(a, b) / scale;
}

describe('Householder against the reference formula (deel-lip Householder)', () => {
  test.each(CASES.map((c, i) => [i, c.shape.join('x'), c] as const))('case %i [%s]: output and gradients (x and theta)', (_i, _s, c) => {
    const layer = householderWith(c.theta, c.shape.slice(1));
    const x = tf.variable(tf.tensor(c.x, c.shape));
    const cot = tf.tensor(c.cotangent, c.shape);
    const theta = layer.trainableWeights[0].read() as tf.Variable;
    const y = layer.apply(x) as tf.Tensor;
    expect(relErr(y.dataSync(), c.output)).toBeLessThan(1e-5);
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, cot)) as tf.Scalar, [x, theta]);
    expect(relErr(grads[x.name].dataSync(), c.gradX)).toBeLessThan(1e-5);
    expect(relErr(grads[theta.name].dataSync(), c.gradTheta)).toBeLessThan(1e-4);
    tf.dispose([x, cot, y, value, ...Object.values(grads)]);
  });

  test('the default angle pi/2 is GroupSort2 on the halves: (min(z1, z2), max(z1, z2))', () => {
    const layer = new Householder();
    expect(layer.initialTheta).toBe(DEFAULT_HOUSEHOLDER_THETA);
    const z = tf.randomNormal([7, 10], 0, 1, 'float32', 3);
    const [z1, z2] = tf.split(z, 2, -1);
    const expected = tf.concat([tf.minimum(z1, z2), tf.maximum(z1, z2)], -1);
    expect(maxAbsDiff((layer.apply(z) as tf.Tensor).dataSync(), expected.dataSync())).toBeLessThan(1e-6);
  });
});

describe('Householder is 1-Lipschitz (measured)', () => {
  test('its Jacobian is orthogonal at random points: every singular value is 1', () => {
    const f = 8;
    const layer = householderWith([0.3, 1.1, 2.5, -0.7], [f]);
    for (let seed = 0; seed < 6; seed++) {
      const x = tf.randomNormal([1, f], 0, 1, 'float32', seed);
      const rows: number[] = [];
      for (let j = 0; j < f; j++) {
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.slice(layer.apply(t) as tf.Tensor, [0, j], [1, 1])))(x);
        rows.push(...g.dataSync());
        g.dispose();
      }
      const sv = singularValues(rows, f, f);
      expect(Math.max(...sv)).toBeLessThan(1 + 1e-5);
      expect(Math.min(...sv)).toBeGreaterThan(1 - 1e-5);
      x.dispose();
    }
  });

  test.each([
    ['features', [12]],
    ['an image', [3, 4, 6]],
  ])('ratios ||h(x) - h(y)|| / ||x - y|| <= 1 over random pairs, on %s', (_what, shape) => {
    const c = shape[shape.length - 1];
    const layer = householderWith(
      Array.from({ length: c / 2 }, (_, i) => 0.9 * i - 1),
      shape,
    );
    const ratio = maxRatio((x) => layer.apply(x) as tf.Tensor, [1, ...shape], 45, 11);
    expect(ratio).toBeLessThanOrEqual(1 + 1e-5);
    expect(ratio).toBeGreaterThan(0.9); // piecewise orthogonal: close to 1
    expect(isLipschitzLayer(layer)).toBe(true);
    expect(layer.lipschitzConstant()).toBe(1);
  });
});

describe('Householder as a layer', () => {
  test('refuses an odd or unknown channel count and a non-finite angle', () => {
    expect(() => new Householder().build([null, 5])).toThrow(/must be known and even, got input shape \[null, 5\]/);
    expect(() => new Householder({ theta: NaN })).toThrow(InvalidArgumentError);
    expect(() => new Householder({ theta: NaN })).toThrow("'theta' must be a finite number");
  });

  test('lipLayers.householder', () => {
    expect(lipLayers.householder({ theta: 1 })).toBeInstanceOf(Householder);
  });

  test('saves and loads with its angles; trains its angles in model.fit', async () => {
    const model = sequential({ layers: [layers.dense({ units: 6, inputShape: [4] }), new Householder({ theta: 1 }), layers.dense({ units: 2 })] });
    model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    const x = tf.randomNormal([32, 4], 0, 1, 'float32', 5);
    const y = tf.randomNormal([32, 2], 0, 1, 'float32', 6);
    const before = Float32Array.from(model.layers[1].getWeights()[0].dataSync());
    await model.fit(x, y, { epochs: 3, batchSize: 8, verbose: 0 });
    const after = model.layers[1].getWeights()[0].dataSync();
    expect(maxAbsDiff(after, before)).toBeGreaterThan(1e-4);
    const { loaded } = await saveAndLoad(model);
    expect(loaded.layers[1].getClassName()).toBe('Lip>Householder');
    expect(maxAbsDiff((loaded.predict(x) as tf.Tensor).dataSync(), (model.predict(x) as tf.Tensor).dataSync())).toBe(0);
  });
});

describe('in train()', () => {
  /** A model with the new layers, trained 1 epoch with `workers`; its weights. */
  async function trained(workers: number): Promise<Float32Array[]> {
    const data = tinyData(64, 4);
    const model = new LipschitzSequential({
      layers: [
        new SpectralConv2D({ filters: 4, kernelSize: 3, seed: 1, inputShape: TINY_SHAPE }),
        new Householder({ theta: 1 }),
        new LayerCentering(),
        layers.flatten(),
        new FrobeniusDense({ units: 3, disjointNeurons: true, seed: 2 }),
      ],
      logger: QUIET_LOGGER,
    });
    const result = await train({
      model,
      data: { train: { x: data.images, y: data.labels, inputShape: TINY_SHAPE } },
      outDir: tmp.path(`w${workers}`),
      epochs: 1,
      batchSize: 32,
      workers,
      backend: 'cpu',
      seed: 1,
    });
    const weights = result.model.getWeights().map((w) => Float32Array.from(w.dataSync()));
    result.model.dispose();
    return weights;
  }

  test('Householder, LayerCentering and FrobeniusDense(disjoint) train alike with 1 and 2 workers (data-parallel; build first)', async () => {
    const one = await trained(1);
    const two = await trained(2);
    expect(two.length).toBe(one.length);
    one.forEach((w, i) => expect(maxAbsDiff(two[i], w)).toBeLessThan(1e-4));
    // The angles moved.
    expect(maxAbsDiff(one[2], [1, 1])).toBeGreaterThan(1e-4);
  }, 240_000);
});
