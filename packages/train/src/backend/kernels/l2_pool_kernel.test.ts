/**
 * The scaled L2-pool SIMD kernel (LipScaledL2Pool2D + its gradient) against
 * the composed form, on wasm and on cpu: the architectures' shapes, random
 * geometries, zero and NaN windows, pixels in no window, determinism, memory.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { bitsOf, expectCloseRelMax, mulberry32, sizeOf, uniformArray } from '@lip/test-support';
import { composedReferences, expectNoKernelLeak, expectOnlySimdRuns, expectSameBitsTwice, useKernelSetup, withKernels } from '@lip/test-support/kernels';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { scaledL2NormPool2d } from '../../functional/pooling';
import { SCALED_L2_POOL, SCALED_L2_POOL_GRAD } from './l2_pool_kernel';

type Shape4 = [number, number, number, number];
type Pair = [number, number];
/** [input shape, poolSize, strides] */
type PoolCase = [Shape4, Pair, Pair | undefined];

/** ScaledL2NormPool2D inputs of the seed architecture (Fashion-MNIST and CIFAR), batch 2. */
const ARCH_CASES: PoolCase[] = [
  [[2, 28, 28, 16], [2, 2], undefined],
  [[2, 14, 14, 32], [2, 2], undefined],
  [[2, 32, 32, 16], [2, 2], undefined],
  [[2, 16, 16, 32], [2, 2], undefined],
];

/** Random geometries: odd sizes, batch 1, channel counts with and without a tail of 1..3, strides >= pool. */
function randomCases(count: number, seed: number): PoolCase[] {
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const cases: PoolCase[] = [
    [[1, 2, 2, 1], [2, 2], undefined],
    [[1, 7, 5, 3], [2, 2], undefined],
    [
      [2, 9, 8, 5],
      [3, 2],
      [4, 3],
    ],
    [
      [1, 4, 6, 4],
      [1, 3],
      [2, 3],
    ],
  ];
  while (cases.length < count) {
    const pool: Pair = [int(1, 3), int(1, 3)];
    const strides: Pair = [pool[0] + (rand() < 0.5 ? 0 : int(1, 2)), pool[1] + (rand() < 0.5 ? 0 : int(1, 2))];
    const shape: Shape4 = [rand() < 0.3 ? 1 : int(1, 3), int(pool[0], 11), int(pool[1], 11), [1, 2, 3, 4, 5, 7, 8, 13, 16, 32][int(0, 9)]];
    cases.push([shape, pool, strides]);
  }
  return cases;
}

/** [value, gradient of sum(pool(x) * w)] on the current backend, w drawn from `wSeed`. */
function valueAndGrad(c: PoolCase, xData: Float32Array, wSeed: number): [Float32Array, Float32Array] {
  const [shape, poolSize, strides] = c;
  return tf.tidy(() => {
    const x = tf.tensor4d(xData, shape);
    const y = scaledL2NormPool2d(x, poolSize, strides);
    const w = tf.tensor(uniformArray(y.size, wSeed, -2, 2), y.shape);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(scaledL2NormPool2d(t as tf.Tensor4D, poolSize, strides), w)))(x);
    return [y.dataSync() as Float32Array, grad.dataSync() as Float32Array];
  });
}

useKernelSetup('wasm');

describe.each([
  ['architecture', ARCH_CASES],
  ['random', randomCases(28, 5)],
])('%s geometries', (_kind, cases) => {
  it.each(cases.map((c) => [JSON.stringify(c), c] as [string, PoolCase]))(
    '%s: value and gradient within 1e-5 of the composed form on wasm and cpu',
    async (_name, c) => {
      const xData = uniformArray(sizeOf(c[0]), sizeOf(c[0]) + 3, -2, 2);
      const run = () => valueAndGrad(c, xData, 4);
      const [value, grad] = withKernels('simd', run);
      for (const [refValue, refGrad] of await composedReferences(run)) {
        expectCloseRelMax(value, refValue, 1e-5);
        expectCloseRelMax(grad, refGrad, 1e-5);
      }
    },
  );
});

// The general loops, and the 2 x 2 / stride 2 path of every architecture (odd sizes: pixels in no window; 6 channels: a tail of 2).
test.each([
  [
    '3 x 2 windows, strides 3 x 4',
    [
      [2, 7, 9, 6],
      [3, 2],
      [3, 4],
    ] as PoolCase,
  ],
  [
    '2 x 2 windows, strides 2',
    [
      [2, 9, 7, 6],
      [2, 2],
      [2, 2],
    ] as PoolCase,
  ],
])('%s: the value is sqrt(sum x^2) per window, summed row by row, and the gradient x dy / y, bit for bit', (_name, c) => {
  const [shape, [ph, pw], [sh, sw]] = c as [Shape4, Pair, Pair];
  const xData = uniformArray(sizeOf(shape), 31, -3, 3);
  const [value, grad] = withKernels('simd', () => valueAndGrad(c, xData, 1));
  const [b, h, w, ch] = shape;
  const oh = Math.floor((h - ph) / sh) + 1;
  const ow = Math.floor((w - pw) / sw) + 1;
  const expected = new Float32Array(b * oh * ow * ch);
  for (let n = 0; n < b; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let k = 0; k < ch; k++) {
          let sum = 0;
          for (let i = 0; i < ph; i++)
            for (let j = 0; j < pw; j++) {
              const v = xData[((n * h + oy * sh + i) * w + ox * sw + j) * ch + k];
              sum = Math.fround(sum + Math.fround(v * v));
            }
          expected[((n * oh + oy) * ow + ox) * ch + k] = Math.fround(Math.sqrt(sum));
        }
  expect(bitsOf(value)).toEqual(bitsOf(expected));
  // dy = w of valueAndGrad; pixels in no window get x * 0.
  const dy = uniformArray(expected.length, 1, -2, 2);
  const expectedGrad = xData.map((v) => Math.fround(v * 0));
  for (let n = 0; n < b; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let k = 0; k < ch; k++) {
          const at = ((n * oh + oy) * ow + ox) * ch + k;
          const perWindow = Math.fround(dy[at] / (expected[at] === 0 ? 1 : expected[at]));
          for (let i = 0; i < ph; i++)
            for (let j = 0; j < pw; j++) {
              const p = ((n * h + oy * sh + i) * w + ox * sw + j) * ch + k;
              expectedGrad[p] = Math.fround(xData[p] * perWindow);
            }
        }
  expect(bitsOf(grad)).toEqual(bitsOf(expectedGrad));
});

test('simd runs LipScaledL2Pool2D and its gradient kernel; composed runs neither', async () => {
  const x = tf.randomNormal([2, 6, 6, 8], 0, 1, 'float32', 3) as tf.Tensor4D;
  await expectOnlySimdRuns([SCALED_L2_POOL, SCALED_L2_POOL_GRAD], () => tf.grad((t: tf.Tensor) => tf.sum(scaledL2NormPool2d(t as tf.Tensor4D, [2, 2])))(x));
  x.dispose();
});

test('zero windows: value 0 and gradient x * dy (0, not NaN), as the composed form, also when x^2 underflows', async () => {
  // 2x2 windows of one channel: all zero; tiny values whose squares underflow to 0; ordinary.
  const xData = Float32Array.from([0, 0, 1e-30, -2e-30, 0, 0, 3e-31, 0, 3, 0, 0, 1, 0, 4, 2, 2]);
  const c: PoolCase = [[1, 4, 4, 1], [2, 2], undefined];
  const run = () => valueAndGrad(c, xData, 8);
  const [value, grad] = withKernels('simd', run);
  expect(Array.from(value)).toEqual([0, 0, 5, 3]);
  expect(Array.from(grad).every(Number.isFinite)).toBe(true);
  for (const [refValue, refGrad] of await composedReferences(run)) {
    expect(Array.from(value)).toEqual(Array.from(refValue));
    // On zero windows both are x * dy / 1: the same bits.
    for (const i of [0, 1, 4, 5, 2, 3, 6, 7]) expect([i, grad[i]]).toEqual([i, refGrad[i]]);
    expectCloseRelMax(grad, refGrad, 1e-6);
  }
  expect(grad[2]).not.toBe(0); // the underflowing window keeps x * dy
});

test('NaN spreads over its window, value and gradient, as in the composed form; pixels in no window get x * 0', async () => {
  // 5x5, 2x2 pool, strides 3: windows at rows/cols 0-1 and 3-4; row and column 2 are in no window.
  const xData = uniformArray(25, 12, -1, 1);
  xData[0] = NaN; // window (0, 0)
  xData[2 * 5 + 1] = NaN; // row 2: in no window
  xData[2 * 5 + 3] = -0.5; // row 2, negative: x * 0 = -0
  const c: PoolCase = [
    [1, 5, 5, 1],
    [2, 2],
    [3, 3],
  ];
  const run = () => valueAndGrad(c, xData, 9);
  const [value, grad] = withKernels('simd', run);
  expect(Array.from(value, Number.isNaN)).toEqual([true, false, false, false]);
  const window00 = [0, 1, 5, 6];
  for (let i = 0; i < 25; i++) {
    expect([i, Number.isNaN(grad[i])]).toEqual([i, window00.includes(i) || i === 11]);
  }
  for (const [refValue, refGrad] of await composedReferences(run)) {
    expect(Array.from(refValue, Number.isNaN)).toEqual(Array.from(value, Number.isNaN));
    expect(Array.from(refGrad, Number.isNaN)).toEqual(Array.from(grad, Number.isNaN));
    // Pixels in no window: x * 0, signed zeros included, bit for bit.
    for (const i of [2, 7, 10, 12, 13, 14, 17, 22]) expect([i, Object.is(grad[i], refGrad[i])]).toEqual([i, true]);
  }
  expect(Object.is(grad[13], -0)).toBe(true);
});

test('two runs give the same bits (value and gradient)', () => {
  const c: PoolCase = [[3, 28, 28, 16], [2, 2], undefined];
  const xData = uniformArray(sizeOf(c[0]), 41, -1, 1);
  expectSameBitsTwice(() => valueAndGrad(c, xData, 42));
});

test('leaks no tensors and no backend data, forward or gradient', () => {
  const x = tf.randomNormal([2, 6, 6, 5], 0, 1, 'float32', 4);
  expectNoKernelLeak((t) => scaledL2NormPool2d(t as tf.Tensor4D, [2, 2]), x);
  x.dispose();
});
