import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the core ops (tfjs-core alone has none).
import '@tensorflow/tfjs-layers';
import { uniformArray } from '@lip/test-support';
import { convOperatorNormExplicit } from '@lip/test-support/measure';
import { onCpu, useBackend } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { ConvPadding, conv2dAdjoint, conv2dFilterGradient, convGeometry } from './conv_adjoint';
import { convCorrectionFactor, convOperatorNorm, convPowerIteration, convPowerIterationToConvergence } from './conv_operator_norm';
import { bjorckOrthonormalizeToConvergence } from './bjorck';

const ADJOINT_CASES: Array<[number[], number[], [number, number], ConvPadding]> = [
  // [input h, w, cin], [kh, kw, cout], strides, padding
  [[6, 5, 2], [3, 3, 3], [1, 1], 'same'],
  [[6, 6, 2], [2, 2, 3], [1, 1], 'same'],
  [[7, 6, 3], [4, 3, 2], [1, 1], 'valid'],
  [[7, 8, 2], [3, 3, 4], [2, 2], 'same'],
  [[8, 8, 2], [2, 2, 3], [2, 2], 'same'],
  [[7, 9, 1], [3, 2, 2], [2, 3], 'valid'],
  [[9, 7, 2], [3, 3, 2], [3, 1], 'same'],
  [[6, 6, 2], [1, 1, 3], [2, 2], 'valid'],
];

describe.each(['cpu', 'wasm'])('conv2dAdjoint on %s', (backend) => {
  useBackend(backend);

  it.each(ADJOINT_CASES)('input %j kernel %j strides %j %s: equals conv2dTranspose', (inp, ker, strides, padding) => {
    const [h, w, cin] = inp;
    const [kh, kw, cout] = ker;
    const kernel = tf.tensor4d(uniformArray(kh * kw * cin * cout, 11), [kh, kw, cin, cout]);
    const g = convGeometry([h, w], [kh, kw], strides, padding);
    const dy = tf.tensor4d(uniformArray(2 * g.outHeight * g.outWidth * cout, 12), [2, g.outHeight, g.outWidth, cout]);
    const ours = conv2dAdjoint(dy, kernel, [h, w], strides, padding);
    const reference = tf.conv2dTranspose(dy, kernel, [2, h, w, cin], strides, padding);
    expect(ours.shape).toEqual([2, h, w, cin]);
    const a = ours.dataSync();
    const b = reference.dataSync();
    for (let i = 0; i < b.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-5);
    // And the defining identity <A x, y> = <x, A^T y>.
    const x = tf.tensor4d(uniformArray(2 * h * w * cin, 13), [2, h, w, cin]);
    const lhs = tf.sum(tf.mul(tf.conv2d(x, kernel, strides, padding), dy)).dataSync()[0];
    const rhs = tf.sum(tf.mul(x, ours)).dataSync()[0];
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * (1 + Math.abs(lhs)));
    tf.dispose([kernel, dy, ours, reference, x]);
  });

  it.each(ADJOINT_CASES)(
    'input %j kernel %j strides %j %s: conv2dFilterGradient equals the cpu autodiff kernel gradient',
    async (inp, ker, strides, padding) => {
      const [h, w, cin] = inp;
      const [kh, kw, cout] = ker;
      const kData = uniformArray(kh * kw * cin * cout, 14);
      const xData = uniformArray(2 * h * w * cin, 15);
      const g = convGeometry([h, w], [kh, kw], strides, padding);
      const dyData = uniformArray(2 * g.outHeight * g.outWidth * cout, 16);
      const ours = tf.tidy(() =>
        conv2dFilterGradient(
          tf.tensor4d(xData, [2, h, w, cin]),
          tf.tensor4d(dyData, [2, g.outHeight, g.outWidth, cout]),
          [kh, kw, cin, cout],
          strides,
          padding,
        ).dataSync(),
      );
      const reference = await onCpu(() =>
        tf.tidy(() => {
          const x = tf.tensor4d(xData, [2, h, w, cin]);
          const dy = tf.tensor4d(dyData, [2, g.outHeight, g.outWidth, cout]);
          const f = (k: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, k as tf.Tensor4D, strides, padding), dy));
          return tf
            .grad(f)(tf.tensor4d(kData, [kh, kw, cin, cout]))
            .dataSync();
        }),
      );
      expect(ours.length).toBe(reference.length);
      for (let i = 0; i < reference.length; i++) expect(Math.abs(ours[i] - reference[i])).toBeLessThan(1e-4);
    },
  );
});

describe('convGeometry', () => {
  it("follows tfjs for 'same' (extra padding at the bottom/right) and 'valid'", () => {
    expect(convGeometry([28, 28], [3, 3], [1, 1], 'same')).toEqual({
      outHeight: 28,
      outWidth: 28,
      top: 1,
      bottom: 1,
      left: 1,
      right: 1,
    });
    expect(convGeometry([8, 7], [4, 2], [2, 2], 'same')).toEqual({
      outHeight: 4,
      outWidth: 4,
      top: 1,
      bottom: 1,
      left: 0,
      right: 1,
    });
    expect(convGeometry([7, 7], [3, 3], [2, 2], 'valid')).toEqual({
      outHeight: 3,
      outWidth: 3,
      top: 0,
      bottom: 0,
      left: 0,
      right: 0,
    });
    expect(() => convGeometry([2, 2], [3, 3], [1, 1], 'valid')).toThrow(InvalidArgumentError);
  });
});

const NORM_CASES: Array<[number[], number[], [number, number], ConvPadding]> = [
  [[6, 5, 2], [3, 3, 3], [1, 1], 'same'],
  [[6, 6, 2], [2, 2, 2], [1, 1], 'same'],
  [[7, 6, 2], [3, 3, 2], [2, 2], 'same'],
  [[6, 6, 1], [3, 2, 3], [1, 2], 'valid'],
];

describe.each(['cpu', 'wasm'])('conv operator norm on %s', (backend) => {
  useBackend(backend);

  it.each(NORM_CASES)('input %j kernel %j strides %j %s: power iteration reaches the explicit matrix norm', (inp, ker, strides, padding) => {
    const [h, w, cin] = inp;
    const [kh, kw, cout] = ker;
    const kernel = tf.tensor4d(uniformArray(kh * kw * cin * cout, 21), [kh, kw, cin, cout]);
    const expected = convOperatorNormExplicit(kernel, [h, w, cin], strides, padding);
    const u0 = tf.tensor4d(uniformArray(h * w * cin, 22), [1, h, w, cin]);
    const r = convPowerIteration(kernel, u0, strides, padding, 400);
    const sigma = r.sigma.dataSync()[0];
    expect(Math.abs(sigma - expected)).toBeLessThanOrEqual(1e-5 * expected);
    expect(tf.norm(r.u).dataSync()[0]).toBeCloseTo(1, 5);
    const norm = convOperatorNorm(kernel, r.u, strides, padding);
    expect(Math.abs(norm.dataSync()[0] - expected)).toBeLessThanOrEqual(1e-5 * expected);
    // Scaling u does not change the ratio.
    const scaled = convOperatorNorm(kernel, tf.mul(r.u, 7) as tf.Tensor4D, strides, padding);
    expect(Math.abs(scaled.dataSync()[0] - expected)).toBeLessThanOrEqual(1e-5 * expected);
    tf.dispose([kernel, u0, r.u, r.sigma, norm, scaled]);
  });

  it('few steps never overestimate, and leak nothing', () => {
    const kernel = tf.tensor4d(uniformArray(3 * 3 * 2 * 3, 31), [3, 3, 2, 3]);
    const expected = convOperatorNormExplicit(kernel, [5, 5, 2], [1, 1], 'same');
    const u0 = tf.tensor4d(uniformArray(5 * 5 * 2, 32), [1, 5, 5, 2]);
    const before = tf.memory().numTensors;
    const r = convPowerIteration(kernel, u0, [1, 1], 'same', 2);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(r.sigma.dataSync()[0]).toBeLessThanOrEqual(expected * (1 + 1e-6));
    tf.dispose([kernel, u0, r.u, r.sigma]);
  });

  it('convOperatorNorm: kernel gradient equals cpu autodiff of the plain formula', async () => {
    const kData = uniformArray(3 * 3 * 2 * 3, 41);
    const uData = uniformArray(6 * 6 * 2, 42);
    const ours = tf.tidy(() => {
      const u = tf.tensor4d(uData, [1, 6, 6, 2]);
      const norm = (k: tf.Tensor) => convOperatorNorm(k as tf.Tensor4D, u, [2, 2], 'same');
      return tf
        .grad(norm)(tf.tensor4d(kData, [3, 3, 2, 3]))
        .dataSync();
    });
    const plain = await onCpu(() =>
      tf.tidy(() => {
        const u = tf.tensor4d(uData, [1, 6, 6, 2]);
        const norm = (k: tf.Tensor) => tf.div(tf.norm(tf.conv2d(u, k as tf.Tensor4D, [2, 2], 'same')), tf.norm(u));
        return tf
          .grad(norm)(tf.tensor4d(kData, [3, 3, 2, 3]))
          .dataSync();
      }),
    );
    let scale = 0;
    for (let i = 0; i < plain.length; i++) scale = Math.max(scale, Math.abs(plain[i]));
    expect(scale).toBeGreaterThan(0);
    for (let i = 0; i < plain.length; i++) expect(Math.abs(ours[i] - plain[i])).toBeLessThanOrEqual(1e-5 * scale);
    const gz = tf.tidy(() => {
      const u = tf.tensor4d(uData, [1, 6, 6, 2]);
      const norm = (k: tf.Tensor) => convOperatorNorm(k as tf.Tensor4D, u, [1, 1], 'same');
      return tf
        .grad(norm)(tf.zeros([3, 3, 2, 3]))
        .dataSync();
    });
    expect(Array.from(gz).every(Number.isFinite)).toBe(true);
  });
});

describe('convPowerIterationToConvergence', () => {
  useBackend('cpu');

  it.each(NORM_CASES.filter((c) => c[1][0] !== 2))(
    'input %j kernel %j strides %j %s: float64 iteration matches the explicit norm',
    (inp, ker, strides, padding) => {
      const [h, w, cin] = inp;
      const [kh, kw, cout] = ker;
      const kernel = tf.tensor4d(uniformArray(kh * kw * cin * cout, 51), [kh, kw, cin, cout]);
      const expected = convOperatorNormExplicit(kernel, [h, w, cin], strides, padding);
      const u0 = tf.tensor4d(uniformArray(h * w * cin, 52), [1, h, w, cin]);
      const r = convPowerIterationToConvergence(kernel, u0, strides, padding);
      expect(r.converged).toBe(true);
      expect(r.u.shape).toEqual([1, h, w, cin]);
      expect(Math.abs(r.sigma.dataSync()[0] - expected)).toBeLessThanOrEqual(2e-7 * expected);
      tf.dispose([kernel, u0, r.u, r.sigma]);
    },
  );

  it('reports non-convergence on a nearly degenerate spectrum, with sigma still a close lower bound', () => {
    // This 2x2 kernel on 6x6 has clustered top singular values: u keeps moving
    // by more than 1e-7 per step after 2000 steps.
    const kernel = tf.tensor4d(uniformArray(2 * 2 * 2 * 2, 51), [2, 2, 2, 2]);
    const expected = convOperatorNormExplicit(kernel, [6, 6, 2], [1, 1], 'same');
    const u0 = tf.tensor4d(uniformArray(6 * 6 * 2, 52), [1, 6, 6, 2]);
    const r = convPowerIterationToConvergence(kernel, u0, [1, 1], 'same');
    expect(r.converged).toBe(false);
    expect(r.iterations).toBe(2000);
    const sigma = r.sigma.dataSync()[0];
    expect(sigma).toBeLessThanOrEqual(expected * (1 + 1e-7));
    expect(sigma).toBeGreaterThan(expected * (1 - 1e-4));
    tf.dispose([kernel, u0, r.u, r.sigma]);
  });
});

describe('convCorrectionFactor', () => {
  it('is 1 / sqrt(ceil(kh/sh) * ceil(kw/sw))', () => {
    expect(convCorrectionFactor([3, 3], [1, 1])).toBeCloseTo(1 / 3, 15);
    expect(convCorrectionFactor([4, 4], [2, 2])).toBeCloseTo(1 / 2, 15);
    expect(convCorrectionFactor([3, 3], [2, 2])).toBeCloseTo(1 / 2, 15);
    expect(convCorrectionFactor([5, 3], [2, 1])).toBeCloseTo(1 / 3, 15);
    expect(convCorrectionFactor([1, 1], [1, 1])).toBe(1);
    expect(() => convCorrectionFactor([0, 3], [1, 1])).toThrow("convCorrectionFactor: 'kernelSize' must be two integers >= 1, got [0,3]");
    expect(() => convCorrectionFactor([3, 3], [1, 0])).toThrow("'strides' must be two integers >= 1, got [1,0]");
  });

  it('bounds the norm of orthonormal-kernel convolutions; the v0.1 input-shape factor does not', () => {
    // 3x3x1x1 kernel of 1/3: the reshaped [9, 1] matrix has norm 1. On a 28x28
    // 'same' input the operator is (T (x) T) / 3 with T the tridiagonal of ones,
    // whose norm is (1 + 2 cos(pi / 29))^2 / 3.
    const kernel = tf.fill([3, 3, 1, 1], 1 / 3) as tf.Tensor4D;
    const u0 = tf.tensor4d(uniformArray(28 * 28, 61), [1, 28, 28, 1]);
    const r = convPowerIterationToConvergence(kernel, u0, [1, 1], 'same');
    const sigma = r.sigma.dataSync()[0];
    const analytic = (1 + 2 * Math.cos(Math.PI / 29)) ** 2 / 3;
    expect(Math.abs(sigma - analytic)).toBeLessThan(1e-6 * analytic);
    expect(sigma * convCorrectionFactor([3, 3], [1, 1])).toBeLessThanOrEqual(1);
    const [h, w, k1, k2] = [28, 28, 3, 3];
    const a = (k1 - 1) / 2;
    const b = (k2 - 1) / 2;
    const v01 = Math.sqrt((h * w) / ((k1 * h - a * (a + 1)) * (k2 * w - b * (b + 1))));
    expect(sigma * v01).toBeGreaterThan(1.01);
    tf.dispose([kernel, u0, r.u, r.sigma]);
  });

  it.each([
    [[3, 3], [1, 1], 'same'],
    [[3, 3], [2, 2], 'same'],
    [[4, 4], [2, 2], 'valid'],
    [[2, 3], [1, 1], 'same'],
  ] as Array<[[number, number], [number, number], ConvPadding]>)(
    'random orthonormal kernel %j strides %j %s: norm <= 1 after correction',
    (ks, strides, padding) => {
      const [kh, kw] = ks;
      const cin = 3;
      const cout = 4;
      const raw = tf.tensor2d(uniformArray(kh * kw * cin * cout, kh * 10 + kw), [kh * kw * cin, cout]);
      const ortho = bjorckOrthonormalizeToConvergence(raw);
      const factor = convCorrectionFactor(ks, strides);
      const kernel = tf.reshape(tf.mul(ortho.w, factor), [kh, kw, cin, cout]) as tf.Tensor4D;
      const u0 = tf.tensor4d(uniformArray(10 * 10 * cin, 7), [1, 10, 10, cin]);
      const r = convPowerIterationToConvergence(kernel, u0, strides, padding);
      expect(r.sigma.dataSync()[0]).toBeLessThanOrEqual(1 + 1e-6);
      tf.dispose([raw, ortho.w, kernel, u0, r.u, r.sigma]);
    },
  );
});

describe('argument checks', () => {
  it('rejects bad arguments with InvalidArgumentError naming the parameter', () => {
    const kernel = tf.ones([3, 3, 2, 4]) as tf.Tensor4D;
    const u = tf.ones([1, 5, 5, 3]) as tf.Tensor4D;
    expect(() => convPowerIteration(kernel, u, [1, 1], 'same', 1)).toThrow(InvalidArgumentError);
    expect(() => convPowerIteration(kernel, u, [1, 1], 'same', 1)).toThrow("convPowerIteration: 'u' must have shape [1, H, W, 2], got [1, 5, 5, 3]");
    const u2 = tf.ones([1, 5, 5, 2]) as tf.Tensor4D;
    expect(() => convOperatorNorm(kernel, u2, [1, 1], 'full' as ConvPadding)).toThrow(`convOperatorNorm: 'padding' must be 'same' or 'valid', got "full"`);
    expect(() => convPowerIteration(kernel, u2, [0, 1], 'same', 1)).toThrow("'strides' must be two integers >= 1");
    expect(() => convPowerIteration(kernel, u2, [1, 1], 'same', -1)).toThrow("'niter' must be an integer >= 0");
    tf.dispose([kernel, u, u2]);
  });
});
