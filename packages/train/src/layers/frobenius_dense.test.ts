/**
 * FrobeniusDense with `disjointNeurons`: the reference formula
 * (test/fixtures/head-layers-reference.json, tools/make-head-fixtures.py:
 * deel-torchlip's FrobeniusLinear(disjoint_neurons=True) in float64), unit
 * rows, and the Lipschitz constant it states (sqrt(units) kCoefLip) against
 * the measured spectral norm.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { sequential } from '@tensorflow/tfjs-layers';
import { maxAbsDiff } from '@lip/test-support';
import { sigmaMax } from '@lip/test-support/linalg';
import { saveAndLoad } from '@lip/test-support/tf';
import { FrobeniusDense } from './frobenius_dense';

interface FrobeniusCase {
  x: number[][];
  kernel: number[][];
  bias: number[];
  output: number[][];
}

const FIXTURE = path.join(__dirname, '../../../../test/fixtures/head-layers-reference.json');
const CASES = (JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as { frobeniusDisjoint: FrobeniusCase[] }).frobeniusDisjoint;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function disjoint(units: number, inputs: number, kCoefLip = 1): FrobeniusDense {
  const layer = new FrobeniusDense({ units, disjointNeurons: true, kCoefLip, seed: 3 });
  layer.build([null, inputs]);
  return layer;
}

/** Norm of each column (output neuron) of a [in, out] kernel. */
function columnNorms(k: tf.Tensor): number[] {
  const [rows, cols] = k.shape;
  const d = k.dataSync();
  return Array.from({ length: cols }, (_, j) => Math.hypot(...Array.from({ length: rows }, (_, i) => d[i * cols + j])));
}

describe('FrobeniusDense({ disjointNeurons: true })', () => {
  test.each(CASES.map((c, i) => [i, c.kernel.length, c.kernel[0].length, c] as const))(
    'case %i (%i -> %i): the reference formula (deel-torchlip FrobeniusLinear(disjoint_neurons=True))',
    (_i, inputs, units, c) => {
      const layer = disjoint(units, inputs);
      layer.setWeights([tf.tensor2d(c.kernel), tf.tensor1d(c.bias)]);
      const y = (layer.apply(tf.tensor2d(c.x)) as tf.Tensor).dataSync();
      expect(maxAbsDiff(y, c.output.flat())).toBeLessThan(1e-5);
    },
  );

  test('each output neuron has norm kCoefLip; the layer states sqrt(units) kCoefLip, at least its measured norm', () => {
    for (const [units, inputs, k] of [
      [5, 8, 1],
      [10, 4, 0.5],
      [1, 6, 2],
    ]) {
      const layer = disjoint(units, inputs, k);
      layer.setWeights([tf.randomNormal([inputs, units], 0, 3, 'float32', units), tf.zeros([units])]);
      const kernel = layer.effectiveKernel();
      for (const n of columnNorms(kernel)) expect(Math.abs(n - k)).toBeLessThan(1e-6 * k);
      expect(layer.lipschitzConstant()).toBeCloseTo(k * Math.sqrt(units), 12);
      expect(sigmaMax(kernel.dataSync(), inputs, units)).toBeLessThanOrEqual(layer.lipschitzConstant() * (1 + 1e-6));
    }
  });

  test('sqrt(units) kCoefLip is reached: equal rows give a rank-one kernel of norm sqrt(units) kCoefLip', () => {
    const layer = disjoint(4, 3, 1);
    const column = [1, -2, 0.5];
    layer.setWeights([
      tf.tensor2d(
        column.flatMap((v) => [v, v, v, v]),
        [3, 4],
      ),
      tf.zeros([4]),
    ]);
    const kernel = layer.effectiveKernel();
    expect(sigmaMax(kernel.dataSync(), 3, 4)).toBeCloseTo(2, 5);
    // Frobenius normalization of the whole kernel would give norm 1 instead.
    const whole = new FrobeniusDense({ units: 4, seed: 3 });
    whole.build([null, 3]);
    whole.setWeights([
      tf.tensor2d(
        column.flatMap((v) => [v, v, v, v]),
        [3, 4],
      ),
      tf.zeros([4]),
    ]);
    expect(sigmaMax(whole.effectiveKernel().dataSync(), 3, 4)).toBeCloseTo(1, 5);
    expect(whole.lipschitzConstant()).toBe(1);
  });

  test('the option is saved, and defaults to false (older checkpoints)', async () => {
    const model = sequential({ layers: [new FrobeniusDense({ units: 3, disjointNeurons: true, inputShape: [5] })] });
    const { loaded } = await saveAndLoad(model);
    expect((loaded.layers[0] as FrobeniusDense).disjointNeurons).toBe(true);
    expect(new FrobeniusDense({ units: 3 }).disjointNeurons).toBe(false);
    expect(() => new FrobeniusDense({ units: 3, disjointNeurons: 1 as unknown as boolean })).toThrow("'disjointNeurons' must be a boolean, got 1");
  });
});
