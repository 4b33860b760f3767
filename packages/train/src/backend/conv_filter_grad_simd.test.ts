/**
 * The SIMD filter gradient (kernels/conv_filter_grad.c) against the composed
 * one (patches / dilated, XNNPACK) and a float64 reference, on the
 * architectures' conv shapes and on edge shapes: odd sizes, stride 2 with
 * odd sizes, asymmetric explicit pads, a rounding mode whose last window
 * runs past the input, Ci = 1, Co = 1, Co not a multiple of 4, batch 1,
 * and input that needs no padding (read in place).
 *
 * Tolerance. dW[k, o] is a sum of N = B OH OW products. Summed in float32,
 * each element carries a rounding error of about eps sqrt(N) sqrt(sum_n
 * (x_n dy_n)^2) for random-sign data (eps = 6e-8): the same size for every
 * element, including those that nearly cancel. So the per-element criterion
 * has an absolute floor, the RMS of dW (the size of a typical element's
 * error bar): |a - b| <= 1e-5 (|b| + rms(b)), and the whole-tensor one is
 * ||a - b|| <= 1e-5 ||b||. The composed version sums all N terms in one
 * running sum (XNNPACK); the kernel sums per group of about 512 positions
 * and then the groups, so against float64 the kernel is the closer of the
 * two (checked as well, with the same criteria).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { expectCloseRelMax, sizeOf, uniformArray } from '@lip/test-support';
import { chooseFilterGradMethod, filterGradSimd, SIMD_FILTER_GRAD_GROUP_POSITIONS } from './conv_backprop_wasm';
import { installWasmKernels } from './install_wasm_kernels';
import { setKernelChoice } from './kernels/kernel_choice';
import { withNoLeak } from './memory';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  name: string;
  x: Shape4;
  kernel: [number, number];
  outChannels: number;
  strides: [number, number];
  pad: Pad;
  dimRoundingMode?: 'ceil' | 'floor' | 'round';
  /** False where the composed kernel is wrong (then compared with float64 only). */
  composedIsRight?: boolean;
}

const same3 = { kernel: [3, 3] as [number, number], strides: [1, 1] as [number, number], pad: 'same' as Pad };

/** The conv layers of the architectures (packages/train/src/models), at small batches. */
const ARCHITECTURE_CASES: Case[] = [
  { name: 'seed conv1 28x28x1 -> 16', x: [48, 28, 28, 1], outChannels: 16, ...same3 },
  { name: 'seed conv2 14x14x16 -> 32', x: [48, 14, 14, 16], outChannels: 32, ...same3 },
  { name: 'ortho 7x7x16 -> 16', x: [64, 7, 7, 16], outChannels: 16, ...same3 },
  { name: 'ortho 7x7x16 -> 32', x: [64, 7, 7, 16], outChannels: 32, ...same3 },
  { name: 'ortho 7x7x32 -> 32', x: [64, 7, 7, 32], outChannels: 32, ...same3 },
  { name: 'seed CIFAR conv1 32x32x3 -> 16', x: [24, 32, 32, 3], outChannels: 16, ...same3 },
  { name: 'seed CIFAR conv2 16x16x16 -> 32', x: [24, 16, 16, 16], outChannels: 32, ...same3 },
  { name: 'ortho CIFAR 8x8x48 -> 48', x: [24, 8, 8, 48], outChannels: 48, ...same3 },
  { name: 'ortho CIFAR 8x8x48 -> 64', x: [24, 8, 8, 48], outChannels: 64, ...same3 },
  { name: 'ortho CIFAR 8x8x64 -> 64', x: [24, 8, 8, 64], outChannels: 64, ...same3 },
];

// prettier-ignore
const EDGE_CASES: Case[] = [
  { name: 'batch 1, odd size, Co 5 (scalar tail)', x: [1, 9, 11, 3], outChannels: 5, ...same3 },
  { name: 'stride 2, same, odd sizes', x: [3, 15, 13, 4], kernel: [3, 3], outChannels: 8, strides: [2, 2], pad: 'same' },
  { name: 'stride 2, valid, odd sizes, Co 6', x: [2, 13, 11, 2], kernel: [3, 3], outChannels: 6, strides: [2, 2], pad: 'valid' },
  { name: 'stride 1, valid (read in place)', x: [5, 8, 9, 4], kernel: [3, 3], outChannels: 8, strides: [1, 1], pad: 'valid' },
  { name: 'kernel 1x1, stride 2, valid, odd size', x: [3, 13, 13, 8], kernel: [1, 1], outChannels: 4, strides: [2, 2], pad: 'valid' },
  { name: 'asymmetric explicit pads, Co 7', x: [2, 9, 10, 3], kernel: [3, 3], outChannels: 7, strides: [1, 1], pad: [[0, 0], [2, 0], [0, 3], [0, 0]] },
  { name: 'explicit pads, stride 2, odd width', x: [2, 10, 9, 5], kernel: [3, 3], outChannels: 4, strides: [2, 2], pad: [[0, 0], [1, 2], [2, 1], [0, 0]] },
  // tfjs-backend-wasm's own Conv2D mis-sizes a 'ceil' output (conv2d of ones [1, 10, 10, 1] by 3x3 ones, stride
  // 2, pad 0, 'ceil': cpu gives a 5x5 of 9s, 6s and a 4; wasm a 4x4 of 9s and zeros), and so does the composed
  // gradient built on it.
  { name: 'ceil rounding: the last window runs past the input', x: [2, 10, 10, 3], kernel: [3, 3], outChannels: 4, strides: [2, 2], pad: 0, dimRoundingMode: 'ceil', composedIsRight: false },
  { name: 'Ci 1 -> Co 1', x: [5, 12, 12, 1], outChannels: 1, ...same3 },
  { name: 'kernel 5x5, stride 2, valid, 16 -> 1', x: [2, 17, 17, 16], kernel: [5, 5], outChannels: 1, strides: [2, 2], pad: 'valid' },
  { name: 'kernel 1x3, same: columns padded only', x: [2, 8, 9, 3], kernel: [1, 3], outChannels: 4, strides: [1, 1], pad: 'same' },
  { name: 'kernel 3x1, same: rows padded only', x: [2, 8, 9, 3], kernel: [3, 1], outChannels: 4, strides: [1, 1], pad: 'same' },
  { name: 'kernel 2x4, same (uneven padding)', x: [2, 9, 10, 3], kernel: [2, 4], outChannels: 2, strides: [1, 1], pad: 'same' },
  { name: 'strides [1, 2], Co 20 (5 vectors: 4 + 1)', x: [2, 10, 12, 6], kernel: [3, 3], outChannels: 20, strides: [1, 2], pad: 'same' },
  { name: 'Co 39 (9 vectors: 4 + 4 + 1, and 3 scalars), odd Ci', x: [3, 6, 7, 3], outChannels: 39, ...same3 },
];

interface Inputs {
  x: Float32Array;
  dy: Float32Array;
  info: tf.backend_util.Conv2DInfo;
}

function inputsOf(c: Case, seed: number): Inputs {
  const filterShape: Shape4 = [c.kernel[0], c.kernel[1], c.x[3], c.outChannels];
  const info = tf.backend_util.computeConv2DInfo(c.x, filterShape, c.strides, 1, c.pad, c.dimRoundingMode);
  const dyShape = [c.x[0], info.outHeight, info.outWidth, c.outChannels];
  return { x: uniformArray(sizeOf(c.x), seed), dy: uniformArray(sizeOf(dyShape), seed + 1), info };
}

/** Conv2DBackpropFilter through the registered wasm kernel. */
function filterGrad(c: Case, { x, dy, info }: Inputs): Float32Array {
  return tf.tidy(() => {
    const dyShape = [c.x[0], info.outHeight, info.outWidth, c.outChannels];
    const attrs = {
      strides: c.strides,
      pad: c.pad,
      dataFormat: 'NHWC',
      dimRoundingMode: c.dimRoundingMode,
      filterShape: [c.kernel[0], c.kernel[1], c.x[3], c.outChannels],
    };
    const dw = tf
      .engine()
      .runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x, c.x), dy: tf.tensor(dy, dyShape) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    return dw.dataSync() as Float32Array;
  });
}

/** dW in float64, straight from the formula (zeros outside x). */
function filterGrad64(c: Case, { x, dy, info }: Inputs): Float64Array {
  const [b, h, w, ci] = c.x;
  const [kh, kw] = c.kernel;
  const co = c.outChannels;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const out = new Float64Array(kh * kw * ci * co);
  for (let n = 0; n < b; n++) {
    for (let p = 0; p < oh; p++) {
      for (let q = 0; q < ow; q++) {
        const dyAt = ((n * oh + p) * ow + q) * co;
        for (let i = 0; i < kh; i++) {
          const y = p * sh + i - top;
          if (y < 0 || y >= h) continue;
          for (let j = 0; j < kw; j++) {
            const xc = q * sw + j - left;
            if (xc < 0 || xc >= w) continue;
            for (let c0 = 0; c0 < ci; c0++) {
              const xv = x[((n * h + y) * w + xc) * ci + c0];
              const at = ((i * kw + j) * ci + c0) * co;
              for (let o = 0; o < co; o++) out[at + o] += xv * dy[dyAt + o];
            }
          }
        }
      }
    }
  }
  return out;
}

/** ||a - b|| / ||b|| and max_i |a_i - b_i| / (|b_i| + rms(b)): see the header. */
function errors(a: ArrayLike<number>, b: ArrayLike<number>): { norm: number; element: number } {
  expect(a.length).toBe(b.length);
  let diff2 = 0;
  let ref2 = 0;
  for (let i = 0; i < b.length; i++) {
    diff2 += (a[i] - b[i]) ** 2;
    ref2 += b[i] ** 2;
  }
  const rms = Math.sqrt(ref2 / b.length);
  let element = 0;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + rms);
    element = Number.isNaN(e) ? Infinity : Math.max(element, e);
  }
  return { norm: Math.sqrt(diff2 / ref2), element };
}

const TOLERANCE = 1e-5;

beforeAll(async () => {
  installWasmKernels();
  await tf.setBackend('wasm');
});

afterEach(() => setKernelChoice(undefined));

describe.each([...ARCHITECTURE_CASES, ...EDGE_CASES])('SIMD filter gradient: $name', (c) => {
  test('matches the composed kernel and float64 within 1e-5', () => {
    const inputs = inputsOf(c, 11);
    setKernelChoice('composed');
    expect(chooseFilterGradMethod(inputs.info)).not.toBe('simd');
    const composed = filterGrad(c, inputs);
    setKernelChoice('simd');
    expect(chooseFilterGradMethod(inputs.info)).toBe('simd');
    const simd = withNoLeak(() => filterGrad(c, inputs));
    const exact = filterGrad64(c, inputs);

    const simdVsExact = errors(simd, exact);
    expect(simdVsExact.norm).toBeLessThan(TOLERANCE);
    expect(simdVsExact.element).toBeLessThan(TOLERANCE);
    if (c.composedIsRight === false) {
      expect(errors(composed, exact).norm).not.toBeLessThan(TOLERANCE);
      return;
    }
    const vsComposed = errors(simd, composed);
    expect(vsComposed.norm).toBeLessThan(TOLERANCE);
    expect(vsComposed.element).toBeLessThan(TOLERANCE);
    if (ARCHITECTURE_CASES.includes(c)) {
      // Long sums: summing per group of images is the more accurate order.
      expect(simdVsExact.norm).toBeLessThan(errors(composed, exact).norm);
    }
  });
});

describe('SIMD filter gradient, reduction order', () => {
  const c: Case = { name: 'conv2, batch not a multiple of the group', x: [47, 14, 14, 16], outChannels: 32, ...same3 };

  /** filterGradSimd called directly, with a given chunk size in bytes. */
  function direct(inputs: Inputs, chunkBytes?: number): Float32Array {
    const backend = tf.backend() as BackendWasm;
    return tf.tidy(() => {
      const x = tf.tensor4d(inputs.x, c.x);
      const dy = tf.tensor(inputs.dy, [c.x[0], inputs.info.outHeight, inputs.info.outWidth, c.outChannels]);
      const dw = filterGradSimd(backend, x, dy, inputs.info, chunkBytes);
      const values = (backend.typedArrayFromHeap(dw) as Float32Array).slice();
      backend.disposeData(dw.dataId);
      return values;
    });
  }

  test('is set by the shapes alone: the same bits on every call and for every chunk size', () => {
    const inputs = inputsOf(c, 5);
    // 196 positions per image: groups of 3 images, so 15 full groups and one of 2.
    expect(Math.ceil(SIMD_FILTER_GRAD_GROUP_POSITIONS / 196)).toBe(3);
    const reference = withNoLeak(() => direct(inputs));
    expect(direct(inputs)).toEqual(reference);
    expect(direct(inputs, 1)).toEqual(reference); // one group per chunk
    expect(direct(inputs, 4 * 4 * 16 * 16 * 16)).toEqual(reference); // 4 images asked for: one group per chunk
    expect(direct(inputs, 2 ** 30)).toEqual(reference); // the whole batch in one chunk
    // The kernel runs Winograd's filter gradient on 3x3 stride-1 convolutions (winograd_kernel.test.ts): within 1e-5.
    setKernelChoice('simd');
    expectCloseRelMax(filterGrad(c, inputs), reference, 1e-5);
  });

  test('a NaN in x or dy reaches the same elements of dW as in the composed kernel', () => {
    const small: Case = { name: 'small', x: [3, 9, 9, 4], outChannels: 8, ...same3 };
    const inputs = inputsOf(small, 7);
    inputs.x[((1 * 9 + 0) * 9 + 4) * 4 + 2] = NaN; // image 1, top row: only the taps i >= 1 see it
    inputs.dy[((2 * 9 + 5) * 9 + 5) * 8 + 3] = NaN; // every tap of output channel 3
    const nans = (values: Float32Array) => Array.from(values, (v) => Number.isNaN(v));
    setKernelChoice('composed');
    const composed = nans(filterGrad(small, inputs));
    // This kernel itself (the simd choice runs Winograd's filter gradient on this 3x3 stride-1 convolution).
    const backend = tf.backend() as BackendWasm;
    const simd = nans(
      tf.tidy(() => {
        const dw = filterGradSimd(backend, tf.tensor4d(inputs.x, small.x), tf.tensor(inputs.dy, [3, 9, 9, 8]), inputs.info);
        const values = (backend.typedArrayFromHeap(dw) as Float32Array).slice();
        backend.disposeData(dw.dataId);
        return values;
      }),
    );
    expect(simd).toEqual(composed);
    expect(simd.filter(Boolean).length).toBeGreaterThan(0);
    expect(simd.filter(Boolean).length).toBeLessThan(simd.length);
  });
});
