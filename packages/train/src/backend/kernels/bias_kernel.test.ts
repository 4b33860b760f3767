/**
 * The bias SIMD kernels (LipBiasAdd and its gradient, LipBiasColumnSum)
 * against `tf.add(y, bias)` composed, on wasm and on cpu: the architectures'
 * shapes and random ones, the column sum's accuracy against float64,
 * determinism, memory; and the layers that use them.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { bitsOf, expectCloseRelMax, sizeOf, uniformArray } from '@lip/test-support';
import {
  ARCH_ACTIVATION_SHAPES,
  composedReferences,
  expectNoKernelLeak,
  expectOnlySimdRuns,
  expectSameBitsTwice,
  kernelsRun,
  randomActivationShapes,
  useKernelSetup,
  withKernels,
} from '@lip/test-support/kernels';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { SpectralDense } from '../../layers/spectral_dense';
import { addBias, BIAS_ADD, BIAS_COLUMN_SUM } from './bias_kernel';

/** Random shapes: rank 1 to 4, channels 1..70 (most not a multiple of 4), single rows. */
const randomShapes = (count: number, seed: number): number[][] =>
  randomActivationShapes(count, seed, [[1], [5], [1, 1], [1, 3], [1, 37], [1, 1, 1, 7], [3, 1, 1, 1], [1, 9, 9, 5]], (int) => int(1, 70));

/** [y + b, d/dy and d/db of sum((y + b) * w)] by `addBias` on the current backend and kernels. */
function valueAndGrads(shape: number[], yData: Float32Array, bData: Float32Array, wData: Float32Array): Float32Array[] {
  return tf.tidy(() => {
    const y = tf.tensor(yData, shape);
    const b = tf.tensor1d(bData);
    const w = tf.tensor(wData, shape);
    const [dy, db] = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(addBias(a, c), w)))([y, b]);
    return [addBias(y, b), dy, db].map((t) => t.dataSync() as Float32Array);
  });
}

function inputs(shape: number[], seed: number): [Float32Array, Float32Array, Float32Array] {
  const c = shape[shape.length - 1];
  const n = sizeOf(shape);
  return [uniformArray(n, seed, -3, 3), uniformArray(c, seed + 1, -1, 1), uniformArray(n, seed + 2, -2, 2)];
}

/** Column sums of `w` viewed as [rows, c]: exact (float64) and the sum of magnitudes (the error scale). */
function columnSums64(w: Float32Array, c: number): { exact: Float64Array; magnitude: Float64Array } {
  const exact = new Float64Array(c);
  const magnitude = new Float64Array(c);
  for (let i = 0; i < w.length; i++) {
    exact[i % c] += w[i];
    magnitude[i % c] += Math.abs(w[i]);
  }
  return { exact, magnitude };
}

/** bias.c's bound: (64 rows per block + 2 log2(blocks) + 1) u sum |dy|, u = 2^-24. */
function columnSumBound(rows: number, magnitude: number): number {
  const blocks = Math.ceil(rows / 64);
  return (64 + 2 * Math.ceil(Math.log2(blocks)) + 1) * 2 ** -24 * magnitude;
}

useKernelSetup('wasm');

describe.each([
  ['architecture', ARCH_ACTIVATION_SHAPES],
  ['random', randomShapes(24, 5)],
])('%s shapes', (_kind, shapes) => {
  it.each(shapes.map((s) => [JSON.stringify(s), s]))(
    '%s: y + b exact, dy passed through, db within the bound of float64 and 1e-5 of the composed form (wasm, cpu)',
    async (_name, shape) => {
      const s = shape as number[];
      const c = s[s.length - 1];
      const [yData, bData, wData] = inputs(s, sizeOf(s));
      const run = () => valueAndGrads(s, yData, bData, wData);
      const [value, dy, db] = withKernels('simd', run);
      // One rounding per element, as in tf.add: the same bits.
      const sum = Float32Array.from(yData, (v, i) => v + bData[i % c]);
      expect(bitsOf(value)).toEqual(bitsOf(sum));
      expect(bitsOf(dy)).toEqual(bitsOf(wData));
      const { exact, magnitude } = columnSums64(wData, c);
      for (let j = 0; j < c; j++) {
        expect(Math.abs(db[j] - exact[j])).toBeLessThanOrEqual(columnSumBound(sizeOf(s) / c, magnitude[j]));
      }
      for (const ref of await composedReferences(run)) {
        expect(bitsOf(value)).toEqual(bitsOf(ref[0]));
        expect(bitsOf(dy)).toEqual(bitsOf(ref[1]));
        expectCloseRelMax(db, ref[2], 1e-5);
      }
    },
  );
});

test('many rows ([64, 28, 28, 16] and [256, 14, 14, 32]): db within the pairwise bound of float64 and 1e-5 of composed', () => {
  for (const shape of [
    [64, 28, 28, 16],
    [256, 14, 14, 32],
  ]) {
    const c = shape[3];
    // Uniform in [0, 0.5): the column sums do not cancel, so relative errors are meaningful.
    const dyData = uniformArray(sizeOf(shape), 31, 0, 0.5);
    const columnSum = () =>
      tf.tidy(() => {
        const dy = tf.tensor(dyData, shape);
        const bias = tf.zeros([c]);
        return tf
          .grad((b: tf.Tensor) => tf.sum(tf.mul(addBias(tf.zeros(shape), b), dy)))(bias)
          .dataSync() as Float32Array;
      });
    const db = withKernels('simd', columnSum);
    const { exact, magnitude } = columnSums64(dyData, c);
    for (let j = 0; j < c; j++) {
      expect(Math.abs(db[j] - exact[j])).toBeLessThanOrEqual(columnSumBound(sizeOf(shape) / c, magnitude[j]));
    }
    expectCloseRelMax(db, exact, 1e-6);
    expectCloseRelMax(db, withKernels('composed', columnSum), 1e-5);
  }
});

test('the column sum adds 64-row blocks in row order, then the block sums pairwise (an adversarial column)', () => {
  // Column = 2^24, then 1s. A running float32 sum stalls at 2^24 (2^24 + 1 rounds back to it); here only
  // the first block does (its 63 ones are lost), the other blocks sum to 64 exactly and every later
  // partial is an even integer below 2^25, so exact: 2^24 + rows - 64. 9 columns: 2 SIMD vectors and 1 scalar.
  const rows = 64 * 1024;
  const c = 9;
  const data = new Float32Array(rows * c).fill(1);
  data.fill(2 ** 24, 0, c);
  const db = withKernels('simd', () => tf.tidy(() => (tf.engine().runKernel(BIAS_COLUMN_SUM, { dy: tf.tensor2d(data, [rows, c]) }) as tf.Tensor).dataSync()));
  expect(Array.from(db)).toEqual(new Array(c).fill(2 ** 24 + rows - 64));
});

test('simd runs LipBiasAdd and LipBiasColumnSum, and no Add or Sum; composed runs Add and Sum', async () => {
  const y = tf.randomNormal([2, 6, 6, 12], 0, 1, 'float32', 3);
  const b = tf.randomNormal([12], 0, 1, 'float32', 4);
  const f = () => tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(addBias(a, c), 2)))([y, b]);
  await expectOnlySimdRuns([BIAS_ADD, BIAS_COLUMN_SUM], f);
  const simd = await kernelsRun('simd', f);
  expect(simd).not.toContain('Add');
  expect(simd.filter((k) => k === 'Sum')).toHaveLength(1); // the loss's own sum
  const composed = await kernelsRun('composed', f);
  expect(composed).toContain('Add');
  tf.dispose([y, b]);
});

test('the gradient saves no tensor: the forward pass clones nothing (no Identity)', async () => {
  const y = tf.randomNormal([2, 5, 5, 8], 0, 1, 'float32', 5);
  const b = tf.randomNormal([8], 0, 1, 'float32', 6);
  const names = await kernelsRun('simd', () => tf.grads((a: tf.Tensor, c: tf.Tensor) => addBias(a, c))([y, b]));
  expect(names).not.toContain('Identity');
  tf.dispose([y, b]);
});

test('second order: the gradient of the bias gradient equals the composed one', async () => {
  // d/dy of sum(v * d/db sum((y + b)^2)) = 2 v on every row.
  const shape = [3, 4, 5, 6];
  const [yData, bData] = inputs(shape, 51);
  const vData = uniformArray(6, 52, -1, 1);
  const run = () =>
    tf.tidy(() => {
      const b = tf.tensor1d(bData);
      const v = tf.tensor1d(vData);
      const outer = tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.grad((c: tf.Tensor) => tf.sum(tf.square(addBias(y, c))))(b), v)));
      return outer(tf.tensor(yData, shape)).dataSync() as Float32Array;
    });
  const simd = withKernels('simd', run);
  expect(Array.from(simd)).toEqual(Array.from({ length: sizeOf(shape) }, (_, i) => Math.fround(2 * vData[i % 6])));
  for (const ref of await composedReferences(run)) expect(Array.from(simd)).toEqual(Array.from(ref));
});

test('two runs give the same bits (value and gradients)', () => {
  const shape = [7, 14, 14, 32];
  const [yData, bData, wData] = inputs(shape, 41);
  expectSameBitsTwice(() => valueAndGrads(shape, yData, bData, wData));
});

test('leaks no tensors and no backend data, forward or gradient', () => {
  const x = tf.randomNormal([2, 5, 5, 6], 0, 1, 'float32', 4);
  const b = tf.randomNormal([6], 0, 1, 'float32', 7);
  expectNoKernelLeak((t) => addBias(t, b), x);
  tf.dispose([x, b]);
});

test('int32, empty and mismatched inputs take tf.add (its result, or its error)', () => {
  withKernels('simd', () => {
    const ints = addBias(tf.tensor2d([[1, 2]], [1, 2], 'int32'), tf.tensor1d([3, 4], 'int32'));
    expect([ints.dtype, Array.from(ints.dataSync())]).toEqual(['int32', [4, 6]]);
    const empty = addBias(tf.zeros([0, 4]), tf.ones([4]));
    expect(empty.shape).toEqual([0, 4]);
    const scalarBias = addBias(tf.ones([2, 3]), tf.scalar(1));
    expect(Array.from(scalarBias.dataSync())).toEqual([2, 2, 2, 2, 2, 2]);
    expect(() => addBias(tf.ones([2, 3]), tf.ones([4]))).toThrow(/Operands could not be broadcast/);
    tf.dispose([ints, empty, scalarBias]);
  });
});

describe('SpectralDense with a bias', () => {
  /** [output, gradients of every trainable weight] of one step of a seeded SpectralDense(19) on [5, 33]. */
  function denseStep(): Float32Array[] {
    return tf.tidy(() => {
      const layer = new SpectralDense({ units: 19, seed: 3 });
      const x = tf.tensor2d(uniformArray(5 * 33, 8, -1, 1), [5, 33]);
      layer.apply(x); // builds
      layer.trainableWeights.find((w) => w.name.endsWith('bias'))!.write(tf.tensor1d(uniformArray(19, 9, -1, 1)));
      const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar, vars);
      const out = [value.dataSync() as Float32Array, ...vars.map((v) => grads[v.name].dataSync() as Float32Array)];
      layer.dispose();
      return out;
    });
  }

  test('runs the bias kernels under simd, tf.add under composed, with the same value and gradients within 1e-5', async () => {
    const simd = withKernels('simd', denseStep);
    for (const ref of await composedReferences(denseStep)) simd.forEach((v, i) => expectCloseRelMax(v, ref[i], 1e-5));
    await expectOnlySimdRuns([BIAS_ADD, BIAS_COLUMN_SUM], () => denseStep());
  });
});
