/**
 * The Winograd F(2x2, 3x3) kernels (kernels/winograd.c: the convolution
 * and its filter gradient) against a direct convolution on the cpu backend:
 * their padding contract (any top/left padding, partial tiles, more tiles
 * than one block), with and without a bias; and the three places they run
 * under the simd kernels (LipConv2DBias forward, the input and the filter
 * gradients of a convolution) against the composed kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { expectCloseRelMax, mulberry32, sizeOf, uniformArray } from '@lip/test-support';
import { onCpu } from '@lip/test-support/tf';
import { composedReferences, expectSameBitsTwice, useKernelSetup, withKernels } from '@lip/test-support/kernels';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { conv2dBiasSimd } from './conv2d_bias_kernel';
import { kernelChoice } from './kernel_choice';
import { conv3x3Winograd, conv3x3WinogradFilterGrad, WINOGRAD_MIN_OUTPUT, winogradApplies } from './winograd_kernel';

interface Case {
  /** x [n, h, w, cin] */
  x: [number, number, number, number];
  cout: number;
  padTop: number;
  padLeft: number;
  oh: number;
  ow: number;
  bias: boolean;
}

/** `y[oy, ox] = bias + sum x[oy + i - padTop, ox + j - padLeft] w[i, j]` on cpu: x padded with zeros, 'valid' conv, cropped. */
async function reference(c: Case, x: Float32Array, w: Float32Array, b: Float32Array | null): Promise<Float32Array> {
  return onCpu(() =>
    tf.tidy(() => {
      const [, h, wd] = c.x;
      const bottom = Math.max(0, c.oh + 2 - h - c.padTop);
      const right = Math.max(0, c.ow + 2 - wd - c.padLeft);
      const padded = tf.pad(tf.tensor4d(x, c.x), [
        [0, 0],
        [c.padTop, bottom],
        [c.padLeft, right],
        [0, 0],
      ]);
      let y = tf.conv2d(padded as tf.Tensor4D, tf.tensor4d(w, [3, 3, c.x[3], c.cout]), 1, 'valid');
      y = tf.slice(y, [0, 0, 0, 0], [c.x[0], c.oh, c.ow, c.cout]);
      if (b !== null) y = tf.add(y, tf.tensor1d(b));
      return y.dataSync() as Float32Array;
    }),
  );
}

function winograd(c: Case, x: Float32Array, w: Float32Array, b: Float32Array | null): Float32Array {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const wt = tf.tensor4d(w, [3, 3, c.x[3], c.cout]);
    const bt = b === null ? null : tf.tensor1d(b);
    const info = conv3x3Winograd(tf.backend() as BackendWasm, xt, wt, bt, c.padTop, c.padLeft, c.oh, c.ow);
    return tf.engine().makeTensorFromTensorInfo(info).dataSync() as Float32Array;
  });
}

const same = (x: Case['x'], cout: number): Case => ({ x, cout, padTop: 1, padLeft: 1, oh: x[1], ow: x[2], bias: true });

/** Random cases: sizes from 1 (all padding) to 19, odd and even (partial tiles), paddings 0..2, sometimes no bias. */
function randomCases(count: number, seed: number): Case[] {
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const cases: Case[] = [];
  while (cases.length < count) {
    const x: Case['x'] = [int(1, 3), int(1, 19), int(1, 19), 4 * int(1, 5)];
    const [padTop, padLeft] = [int(0, 2), int(0, 2)];
    const oh = x[1] + 2 * padTop - 2;
    const ow = x[2] + 2 * padLeft - 2;
    if (oh < 1 || ow < 1) continue;
    cases.push({ x, cout: 4 * int(1, 6), padTop, padLeft, oh, ow, bias: rand() < 0.7 });
  }
  return cases;
}

useKernelSetup('wasm', 'simd');

describe('conv3x3Winograd against a direct convolution (cpu)', () => {
  const cases: Array<[string, Case]> = [
    ['seed conv 2 on Fashion-MNIST', same([2, 14, 14, 16], 32)],
    ['seed conv 2 on CIFAR-10', same([2, 16, 16, 16], 32)],
    ['its input gradient (32 -> 16)', { ...same([2, 14, 14, 32], 16), bias: false }],
    ['sll / ortho convolutions on Fashion-MNIST (7 x 7, 32 -> 64)', same([2, 7, 7, 32], 64)],
    ['and back (64 -> 32)', { ...same([2, 7, 7, 64], 32), bias: false }],
    ['on CIFAR-10 (8 x 8, 48 -> 96)', same([2, 8, 8, 48], 96)],
    ['more tiles than one block of 64 (3 x 8 x 8 = 192 tiles), odd size', same([3, 15, 15, 8], 12)],
    ["'valid'", { x: [2, 11, 13, 8], cout: 8, padTop: 0, padLeft: 0, oh: 9, ow: 11, bias: true }],
    ...randomCases(24, 3).map((c): [string, Case] => [`random x [${c.x}] cout ${c.cout} pads ${c.padTop},${c.padLeft}${c.bias ? '' : ' no bias'}`, c]),
  ];
  test.each(cases)('%s: within 1e-5 relative', async (_name, c) => {
    const seed = sizeOf(c.x) + c.cout;
    const x = uniformArray(sizeOf(c.x), seed, -1, 1);
    const w = uniformArray(9 * c.x[3] * c.cout, seed + 1, -1, 1);
    const b = c.bias ? uniformArray(c.cout, seed + 2, -1, 1) : null;
    const got = winograd(c, x, w, b);
    const want = await reference(c, x, w, b);
    expect(got.length).toBe(want.length);
    expectCloseRelMax(got, want, 1e-5);
  });

  test.each(cases)('%s: the filter gradient within 1e-5 relative', async (_name, c) => {
    const seed = sizeOf(c.x) + 2 * c.cout;
    const x = uniformArray(sizeOf(c.x), seed, -1, 1);
    const dy = uniformArray(c.x[0] * c.oh * c.ow * c.cout, seed + 1, -1, 1);
    const got = tf.tidy(() => {
      const info = conv3x3WinogradFilterGrad(
        tf.backend() as BackendWasm,
        tf.tensor4d(x, c.x),
        tf.tensor4d(dy, [c.x[0], c.oh, c.ow, c.cout]),
        c.padTop,
        c.padLeft,
      );
      return tf.engine().makeTensorFromTensorInfo(info).dataSync() as Float32Array;
    });
    // d/dw of sum(conv(x, w) * dy) on cpu, with the padding of `reference`.
    const want = await onCpu(() =>
      tf.tidy(() => {
        const [, h, wd] = c.x;
        const padded = tf.pad(tf.tensor4d(x, c.x), [
          [0, 0],
          [c.padTop, Math.max(0, c.oh + 2 - h - c.padTop)],
          [c.padLeft, Math.max(0, c.ow + 2 - wd - c.padLeft)],
          [0, 0],
        ]) as tf.Tensor4D;
        const g = tf.tensor4d(dy, [c.x[0], c.oh, c.ow, c.cout]);
        const f = (w: tf.Tensor) => tf.sum(tf.mul(tf.slice(tf.conv2d(padded, w as tf.Tensor4D, 1, 'valid'), [0, 0, 0, 0], g.shape), g));
        return tf
          .grad(f)(tf.zeros([3, 3, c.x[3], c.cout]))
          .dataSync() as Float32Array;
      }),
    );
    expect(got.length).toBe(want.length);
    expectCloseRelMax(got, want, 1e-5);
  });

  test('two runs give the same bits', () => {
    const c = same([2, 14, 14, 16], 32);
    const x = uniformArray(sizeOf(c.x), 1, -1, 1);
    const w = uniformArray(9 * 16 * 32, 2, -1, 1);
    const b = uniformArray(32, 3, -1, 1);
    expectSameBitsTwice(() => [winograd(c, x, w, b)]);
  });

  test('the filter gradient: a NaN in x reaches only its input channel, a NaN in dy only its output channel', () => {
    const c: Case = { ...same([2, 10, 10, 8], 8), bias: false };
    const x = uniformArray(sizeOf(c.x), 8, -1, 1);
    const dy = uniformArray(2 * 10 * 10 * 8, 9, -1, 1);
    x[((1 * 10 + 4) * 10 + 3) * 8 + 5] = NaN; // image 1, input channel 5
    dy[((0 * 10 + 2) * 10 + 7) * 8 + 6] = NaN; // image 0, output channel 6
    const dw = tf.tidy(() => {
      const info = conv3x3WinogradFilterGrad(tf.backend() as BackendWasm, tf.tensor4d(x, c.x), tf.tensor4d(dy, [2, 10, 10, 8]), 1, 1);
      return tf.engine().makeTensorFromTensorInfo(info).dataSync() as Float32Array;
    });
    // dw [3, 3, 8, 8]: NaN exactly where the input channel is 5 or the output channel is 6 (every tap: Winograd mixes a tile's taps).
    for (let e = 0; e < dw.length; e++) {
      const [ci, co] = [Math.floor(e / 8) % 8, e % 8];
      expect([ci, co, Number.isNaN(dw[e])]).toEqual([ci, co, ci === 5 || co === 6]);
    }
  });

  test('NaN in the input spreads only to the outputs whose window holds it', () => {
    const c: Case = { ...same([1, 12, 12, 4], 4), bias: false };
    const x = uniformArray(sizeOf(c.x), 5, -1, 1);
    x[(5 * 12 + 6) * 4 + 2] = NaN; // pixel (5, 6), channel 2
    const y = winograd(c, x, uniformArray(9 * 16, 6, -1, 1), null);
    for (let oy = 0; oy < 12; oy++)
      for (let ox = 0; ox < 12; ox++) {
        const nan = Number.isNaN(y[(oy * 12 + ox) * 4]);
        // Its window holds the pixel: NaN, as in a direct convolution.
        if (Math.abs(oy - 5) <= 1 && Math.abs(ox - 6) <= 1) expect([oy, ox, nan]).toEqual([oy, ox, true]);
        // Tiles (2x2 outputs) whose 4x4 input patch holds it cover outputs 4..7 x 4..7: everything else is finite.
        if (oy < 4 || oy > 7 || ox < 4 || ox > 7) expect([oy, ox, nan]).toEqual([oy, ox, false]);
      }
  });
});

test('winogradApplies: 3x3, stride 1, channels multiples of 4, outputs of at least WINOGRAD_MIN_OUTPUT', () => {
  const m = WINOGRAD_MIN_OUTPUT;
  expect(winogradApplies(3, 3, 1, 1, 16, 32, m, m)).toBe(true);
  expect(winogradApplies(3, 3, 1, 1, 16, 32, m - 1, m)).toBe(false);
  expect(winogradApplies(3, 3, 1, 1, 16, 32, m, m - 1)).toBe(false);
  expect(winogradApplies(3, 3, 2, 2, 16, 32, m, m)).toBe(false);
  expect(winogradApplies(5, 5, 1, 1, 16, 32, m, m)).toBe(false);
  expect(winogradApplies(3, 3, 1, 1, 3, 32, m, m)).toBe(false);
  expect(winogradApplies(3, 3, 1, 1, 16, 10, m, m)).toBe(false);
});

describe('where the simd kernels run it, against the composed kernels (wasm and cpu)', () => {
  /** [conv + bias, d/dx, d/dw, d/db of sum(out * g)] with LipConv2DBias under simd, conv2d + add under composed. */
  function valueAndGrads(x: [number, number, number, number], cout: number, pad: 'same' | 'valid', seed: number): Float32Array[] {
    return tf.tidy(() => {
      const xt = tf.tensor4d(uniformArray(sizeOf(x), seed, -1, 1), x);
      const w = tf.tensor4d(uniformArray(9 * x[3] * cout, seed + 1, -1, 1), [3, 3, x[3], cout]);
      const b = tf.tensor1d(uniformArray(cout, seed + 2, -1, 1));
      const conv = (a: tf.Tensor, k: tf.Tensor, bias: tf.Tensor): tf.Tensor =>
        tf.getBackend() === 'wasm' && kernelChoice() === 'simd'
          ? conv2dBiasSimd(a as tf.Tensor4D, k as tf.Tensor4D, bias as tf.Tensor1D, { strides: [1, 1], pad })
          : tf.add(tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, 1, pad), bias);
      const y = conv(xt, w, b);
      const g = tf.tensor(uniformArray(y.size, seed + 3, -1, 1), y.shape);
      const grads = tf.grads((a: tf.Tensor, k: tf.Tensor, bias: tf.Tensor) => tf.sum(tf.mul(conv(a, k, bias), g)))([xt, w, b]);
      return [y, ...grads].map((t) => t.dataSync() as Float32Array);
    });
  }
  test.each([
    [[2, 14, 14, 16], 32, 'same'],
    [[2, 13, 11, 8], 12, 'same'],
    [[1, 12, 15, 16], 8, 'valid'],
  ] as Array<[[number, number, number, number], number, 'same' | 'valid']>)('x %p to %p channels, %s', async (x, cout, pad) => {
    const run = () => valueAndGrads(x, cout, pad, sizeOf(x));
    const simd = withKernels('simd', run);
    for (const ref of await composedReferences(run)) simd.forEach((v, i) => expectCloseRelMax(v, ref[i], 1e-5));
  });
});

describe('tf.conv2d (the Conv2D kernel) under the simd kernels', () => {
  type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
  const conv = (x: [number, number, number, number], k: number, cout: number, stride: number, pad: Pad): Float32Array =>
    tf.tidy(() => {
      const xt = tf.tensor4d(uniformArray(sizeOf(x), sizeOf(x), -1, 1), x);
      const w = tf.tensor4d(uniformArray(k * k * x[3] * cout, 7, -1, 1), [k, k, x[3], cout]);
      return tf.conv2d(xt, w, stride, pad as 'same').dataSync() as Float32Array;
    });

  test.each([
    ['same (SLLConv2D on Fashion-MNIST)', [2, 7, 7, 32], 64, 'same'],
    ['valid', [2, 12, 9, 8], 16, 'valid'],
    [
      'explicit padding 2 / 0 / 1 / 2',
      [1, 10, 11, 8],
      8,
      [
        [0, 0],
        [2, 0],
        [1, 2],
        [0, 0],
      ],
    ],
  ] as Array<[string, [number, number, number, number], number, Pad]>)(
    '3x3 stride 1, %s: Winograd, within 1e-5 of the composed kernels',
    async (_name, x, cout, pad) => {
      const simd = withKernels('simd', () => conv(x, 3, cout, 1, pad));
      for (const [ref] of await composedReferences(() => [conv(x, 3, cout, 1, pad)])) expectCloseRelMax(simd, ref, 1e-5);
      const composed = withKernels('composed', () => conv(x, 3, cout, 1, pad));
      expect(Array.from(new Uint32Array(simd.buffer))).not.toEqual(Array.from(new Uint32Array(composed.buffer))); // not XNNPACK's sums
    },
  );

  test.each([
    ['5x5', [2, 9, 9, 8], 5, 8, 1],
    ['stride 2', [2, 9, 9, 8], 3, 8, 2],
    ['3 input channels', [2, 9, 9, 3], 3, 8, 1],
  ] as Array<[string, [number, number, number, number], number, number, number]>)(
    '%s: XNNPACK (the bits of the composed kernels)',
    (_name, x, k, cout, stride) => {
      const simd = withKernels('simd', () => conv(x, k, cout, stride, 'same'));
      const composed = withKernels('composed', () => conv(x, k, cout, stride, 'same'));
      expect(Array.from(new Uint32Array(simd.buffer))).toEqual(Array.from(new Uint32Array(composed.buffer)));
    },
  );
});
