import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the core ops (tfjs-core alone has none).
import '@tensorflow/tfjs-layers';
import { expectCloseRelMax, flat, Nested, shapeOf, uniformArray } from '@lip/test-support';
import { KERNEL_SETUPS, useKernelSetup } from '@lip/test-support/kernels';
import { expectNoTensorLeak, onCpu } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { scaledAvgPool2d, scaledGlobalL2NormPool2d, scaledL2NormPool2d } from './pooling';

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../../testdata/torchlip-v0.1.1-reference.json'), 'utf8')) as {
  pooling: Array<Record<string, Nested>>;
};
const pool = fixture.pooling[0];

const fixtureInput = (): tf.Tensor4D => tf.tensor4d(flat(pool.inputNHWC), shapeOf(pool.inputNHWC) as [number, number, number, number]);

/** [input shape, poolSize, strides] */
const GRAD_CASES: Array<[[number, number, number, number], [number, number], [number, number] | undefined]> = [
  [[2, 6, 6, 3], [2, 2], undefined],
  [[2, 7, 5, 2], [2, 2], undefined],
  [
    [1, 9, 8, 2],
    [3, 2],
    [4, 3],
  ],
  [
    [2, 4, 6, 1],
    [1, 3],
    [2, 3],
  ],
];

describe.each(KERNEL_SETUPS)('scaled poolings on %s, %s kernels', (backend, kernels) => {
  useKernelSetup(backend, kernels);

  it('scaledL2NormPool2d 2x2 matches the fixture (NHWC and its NCHW copy) to 1e-6 relative', () => {
    tf.tidy(() => {
      const y = scaledL2NormPool2d(fixtureInput(), [2, 2]);
      expectCloseRelMax(y.dataSync(), flat(pool.scaledL2NormPool2x2NHWC));
      expectCloseRelMax(tf.transpose(y, [0, 3, 1, 2]).dataSync(), flat(pool.scaledL2NormPool2x2NCHW));
    });
  });

  it('scaledAvgPool2d 2x2 matches the fixture (NHWC and its NCHW copy) to 1e-6 relative', () => {
    tf.tidy(() => {
      const y = scaledAvgPool2d(fixtureInput(), [2, 2]);
      expectCloseRelMax(y.dataSync(), flat(pool.scaledAvgPool2x2NHWC));
      expectCloseRelMax(tf.transpose(y, [0, 3, 1, 2]).dataSync(), flat(pool.scaledAvgPool2x2NCHW));
    });
  });

  it.each(GRAD_CASES)('input %j pool %j strides %j: values and gradients equal cpu autodiff of the plain formulas', async (shape, poolSize, strides) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const xData = uniformArray(size, size, -2, 2);
    const k = poolSize[0] * poolSize[1];
    const s = strides ?? poolSize;
    const run = (l2: (x: tf.Tensor4D) => tf.Tensor, avg: (x: tf.Tensor4D) => tf.Tensor) =>
      tf.tidy(() => {
        const x = tf.tensor4d(xData, shape);
        const outShape = l2(x).shape;
        const w = tf.tensor(
          uniformArray(
            outShape.reduce((a, b) => a * b, 1),
            3,
            -2,
            2,
          ),
          outShape,
        );
        const weighted = (f: (x: tf.Tensor4D) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), w));
        return [l2(x).dataSync(), tf.grad(weighted(l2))(x).dataSync(), avg(x).dataSync(), tf.grad(weighted(avg))(x).dataSync()];
      });
    const ours = run(
      (x) => scaledL2NormPool2d(x, poolSize, strides),
      (x) => scaledAvgPool2d(x, poolSize, strides),
    );
    const plain = await onCpu(() =>
      run(
        (x) => tf.mul(tf.sqrt(tf.avgPool(tf.square(x), poolSize, s, 'valid')), Math.sqrt(k)),
        (x) => tf.mul(tf.avgPool(x, poolSize, s, 'valid'), Math.sqrt(k)),
      ),
    );
    for (let i = 0; i < 4; i++) expectCloseRelMax(ours[i], plain[i], 2e-6);
  });

  it('scaledL2NormPool2d: the gradient is 0, not NaN, on all-zero windows', () => {
    const x = tf.tensor4d([0, 0, 3, 0, 0, 0, 0, 4, 1, 2, 0, 0, 5, 6, 0, 0], [1, 4, 4, 1]);
    const y = scaledL2NormPool2d(x, [2, 2]);
    expect(Array.from(y.dataSync())).toEqual([0, 5, Math.fround(Math.sqrt(5 + 25 + 36)), 0]);
    const g = tf
      .grad((t: tf.Tensor) => tf.sum(scaledL2NormPool2d(t as tf.Tensor4D, [2, 2])))(x)
      .dataSync();
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
    // Window (0, 0) is zero: gradient 0 there; window (0, 1): x / 5.
    expect([g[0], g[1], g[4], g[5]]).toEqual([0, 0, 0, 0]);
    expect(g[2]).toBeCloseTo(0.6, 6);
    expect(g[7]).toBeCloseTo(0.8, 6);
  });

  it('scaledGlobalL2NormPool2d: value, gradient vs cpu autodiff, and 0 gradient on zero channels', async () => {
    const shape: [number, number, number, number] = [2, 3, 4, 3];
    const xData = uniformArray(72, 9, -2, 2);
    for (let i = 0; i < 72; i += 3) xData[i + 1] = 0; // channel 1 is all zero
    const wData = uniformArray(6, 10, -2, 2);
    const ours = tf.tidy(() => {
      const x = tf.tensor4d(xData, shape);
      const w = tf.tensor2d(wData, [2, 3]);
      const f = (t: tf.Tensor) => tf.sum(tf.mul(scaledGlobalL2NormPool2d(t as tf.Tensor4D), w));
      return [scaledGlobalL2NormPool2d(x).dataSync(), tf.grad(f)(x).dataSync()];
    });
    // Reference value in float64.
    const expected: number[] = [];
    for (let b = 0; b < 2; b++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let p = 0; p < 12; p++) s += xData[(b * 12 + p) * 3 + c] ** 2;
        expected.push(Math.sqrt(s));
      }
    expectCloseRelMax(ours[0], expected);
    expect(ours[0][1]).toBe(0);
    expect(Array.from(ours[1]).every(Number.isFinite)).toBe(true);
    const plain = await onCpu(() =>
      tf.tidy(() => {
        const x = tf.tensor4d(xData, shape);
        const w = tf.tensor2d(wData, [2, 3]);
        const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.sqrt(tf.sum(tf.square(t), [1, 2])), w));
        return tf.grad(f)(x).dataSync();
      }),
    );
    // The plain formula gives NaN on the zero channel; compare the others.
    for (let i = 0; i < 72; i++) {
      if (i % 3 === 1) expect(ours[1][i]).toBe(0);
      else expect(Math.abs(ours[1][i] - plain[i])).toBeLessThan(1e-6);
    }
  });

  it('leaks no tensors in the forward pass or the gradient', () => {
    const x = tf.tensor4d(uniformArray(2 * 6 * 6 * 2, 4, -2, 2), [2, 6, 6, 2]);
    const ops = [
      (t: tf.Tensor) => scaledL2NormPool2d(t as tf.Tensor4D, [2, 2]),
      (t: tf.Tensor) => scaledAvgPool2d(t as tf.Tensor4D, [2, 2]),
      (t: tf.Tensor) => scaledGlobalL2NormPool2d(t as tf.Tensor4D),
    ];
    for (const op of ops) expectNoTensorLeak(op, x);
    x.dispose();
  });
});

describe('argument checks', () => {
  it('rejects overlapping windows, bad sizes and ranks with InvalidArgumentError', () => {
    const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    expect(() => scaledAvgPool2d(x, [2, 2], [1, 1])).toThrow(InvalidArgumentError);
    expect(() => scaledAvgPool2d(x, [2, 2], [1, 1])).toThrow(
      "scaledAvgPool2d: 'strides' [1,1] must be >= 'poolSize' [2,2]: overlapping windows are not 1-Lipschitz",
    );
    expect(() => scaledL2NormPool2d(x, [0, 2])).toThrow("scaledL2NormPool2d: 'poolSize' must be two integers >= 1, got [0,2]");
    expect(() => scaledL2NormPool2d(x, [5, 2])).toThrow("'poolSize' [5,2] is larger than the input [4, 4]");
    expect(() => scaledGlobalL2NormPool2d(tf.zeros([4, 4]) as unknown as tf.Tensor4D)).toThrow(
      "scaledGlobalL2NormPool2d: 'x' must be a 4-D tensor [B, H, W, C], got shape [4, 4]",
    );
    x.dispose();
  });
});
