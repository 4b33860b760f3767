/**
 * The GroupSort2 SIMD kernel (LipGroupSort2 + its gradient) against the
 * composed form, on wasm and on cpu: the architectures' shapes, random
 * shapes, ties, NaNs, determinism, memory.
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
  randomActivationShapes,
  useKernelSetup,
  withKernels,
} from '@lip/test-support/kernels';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { groupSort2 } from '../../functional/group_sort';
import { GROUP_SORT2, GROUP_SORT2_GRAD } from './group_sort2_kernel';

/** Random shapes: rank 2 to 4, odd sizes, batch 1, even channel counts 2..64. */
const randomShapes = (count: number, seed: number): number[][] =>
  randomActivationShapes(
    count,
    seed,
    [
      [1, 2],
      [1, 1, 1, 2],
      [3, 2],
      [1, 5, 3, 6],
    ],
    (int) => 2 * int(1, 32),
  );

/** [value, gradient of sum(groupSort2(x) * w)] on the current backend. */
function valueAndGrad(shape: number[], xData: Float32Array, wData: Float32Array): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const x = tf.tensor(xData, shape);
    const w = tf.tensor(wData, shape);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(groupSort2(t), w)))(x);
    return [groupSort2(x).dataSync() as Float32Array, grad.dataSync() as Float32Array];
  });
}

/** The exact GroupSort2 (swap iff a > b) of `x` and its gradient applied to `w`. */
function exactGroupSort2(x: Float32Array, w: Float32Array): [Float32Array, Float32Array] {
  const y = new Float32Array(x.length);
  const dx = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += 2) {
    const swap = x[i] > x[i + 1];
    y[i] = swap ? x[i + 1] : x[i];
    y[i + 1] = swap ? x[i] : x[i + 1];
    dx[i] = swap ? w[i + 1] : w[i];
    dx[i + 1] = swap ? w[i] : w[i + 1];
  }
  return [y, dx];
}

useKernelSetup('wasm');

describe.each([
  ['architecture', ARCH_ACTIVATION_SHAPES],
  ['random', randomShapes(24, 7)],
])('%s shapes', (_kind, shapes) => {
  it.each(shapes.map((s) => [JSON.stringify(s), s]))(
    '%s: the kernel is the exact min/max, within 1e-5 of the composed form on wasm and cpu, value and gradient',
    async (_name, shape) => {
      const n = sizeOf(shape as number[]);
      const xData = uniformArray(n, n + 1, -3, 3);
      const wData = uniformArray(n, n + 2, -2, 2);
      const run = () => valueAndGrad(shape as number[], xData, wData);
      const [value, grad] = withKernels('simd', run);
      const [exactValue, exactGrad] = exactGroupSort2(xData, wData);
      expect(bitsOf(value)).toEqual(bitsOf(exactValue));
      expect(bitsOf(grad)).toEqual(bitsOf(exactGrad));
      for (const [refValue, refGrad] of await composedReferences(run)) {
        expectCloseRelMax(value, refValue, 1e-5);
        expectCloseRelMax(grad, refGrad, 1e-5);
      }
    },
  );
});

test('simd runs LipGroupSort2 and its gradient kernel; composed runs neither', async () => {
  const x = tf.randomNormal([2, 6, 6, 8], 0, 1, 'float32', 3);
  await expectOnlySimdRuns([GROUP_SORT2, GROUP_SORT2_GRAD], () => tf.grad((t: tf.Tensor) => tf.sum(groupSort2(t)))(x));
  x.dispose();
});

test('ties (and -0 vs +0) are not swapped: the gradient goes straight through, as in the composed form', async () => {
  // Pairs: exact ties, signed zeros both ways, then one ordered and one swapped pair for contrast.
  const xData = Float32Array.from([1.5, 1.5, -2, -2, 0, -0, -0, 0, 0, 0, 3e-38, 3e-38, 1, 2, 2, 1]);
  const wData = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const run = () => valueAndGrad([2, 8], xData, wData);
  const [value, grad] = withKernels('simd', run);
  expect(Array.from(grad)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 15]);
  // Values at ties stay in place, bit for bit (signed zeros included).
  expect(bitsOf(value.subarray(0, 12))).toEqual(bitsOf(xData.subarray(0, 12)));
  for (const [refValue, refGrad] of await composedReferences(run)) {
    expect(Array.from(grad)).toEqual(Array.from(refGrad));
    // The composed form turns -0 + relu(0) into +0: compare values as numbers.
    expect(Array.from(value, (v) => v + 0)).toEqual(Array.from(refValue, (v) => v + 0));
  }
});

test('a NaN in a pair gives NaN in both of its values and gradients, where the composed form also has NaN', async () => {
  const xData = Float32Array.from([NaN, 1, 2, NaN, NaN, NaN, 4, 3, 5, 6, 8, 7, -1, -2, 0.5, 0.25]);
  const wData = uniformArray(16, 11, -2, 2);
  const run = () => valueAndGrad([2, 8], xData, wData);
  const [value, grad] = withKernels('simd', run);
  const nanPairs = [0, 1, 2, 3, 4, 5];
  for (let i = 0; i < 16; i++) {
    expect([i, Number.isNaN(value[i]), Number.isNaN(grad[i])]).toEqual([i, nanPairs.includes(i), nanPairs.includes(i)]);
  }
  // The second row has no NaN: exact there.
  const [exactValue, exactGrad] = exactGroupSort2(xData.subarray(8), wData.subarray(8));
  expect(Array.from(value.subarray(8))).toEqual(Array.from(exactValue));
  expect(Array.from(grad.subarray(8))).toEqual(Array.from(exactGrad));
  for (const [refValue, refGrad] of await composedReferences(run)) {
    for (const i of nanPairs) {
      expect([i, Number.isNaN(refValue[i]), Number.isNaN(refGrad[i])]).toEqual([i, true, true]);
    }
  }
});

test('two runs give the same bits (value and gradient)', () => {
  const shape = [3, 14, 14, 32];
  const xData = uniformArray(sizeOf(shape), 21, -1, 1);
  const wData = uniformArray(sizeOf(shape), 22, -1, 1);
  expectSameBitsTwice(() => valueAndGrad(shape, xData, wData));
});

test('leaks no tensors and no backend data, forward or gradient', () => {
  const x = tf.randomNormal([2, 5, 5, 6], 0, 1, 'float32', 4);
  expectNoKernelLeak(groupSort2, x);
  x.dispose();
});

test('int32 input and empty tensors take the composed path or the kernel without error', () => {
  withKernels('simd', () => {
    const empty = groupSort2(tf.zeros([0, 4]));
    expect(empty.shape).toEqual([0, 4]);
    const ints = groupSort2(tf.tensor2d([[3, 1, 2, 4]], [1, 4], 'int32'));
    expect(Array.from(ints.dataSync())).toEqual([1, 3, 2, 4]);
    tf.dispose([empty, ints]);
  });
});
