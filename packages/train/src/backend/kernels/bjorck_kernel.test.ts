/**
 * The Björck SIMD kernels (LipBjorck + LipBjorckGrad, through
 * bjorckOrthonormalize) against the float64 reference of bjorck_small.ts
 * and the composed tfjs path: the architectures' shapes, random shapes
 * (tall and wide, sides not multiples of 4, 1 to 20 steps), determinism,
 * memory, the dispatch, and the effective kernels of a model.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { mulberry32, uniformArray } from '@lip/test-support';
import { expectNoKernelLeak, expectOnlySimdRuns, expectSameBitsTwice, kernelsRun, useKernelSetup, withKernels } from '@lip/test-support/kernels';
import { sigmaMax } from '@lip/test-support/linalg';
import { DEFAULT_BETA_BJORCK } from '../../constants';
import { LipschitzLinearBase } from '../../layers';
import { buildModel } from '../../models';
import { bjorckOrthonormalize } from '../../normalizers/bjorck';
import { bjorck64, SMALL_BJORCK_MAX_SIDE } from '../../normalizers/bjorck_small';
import { BJORCK, BJORCK_GRAD } from './bjorck_kernel';

interface Case {
  rows: number;
  cols: number;
  niter: number;
}

/**
 * Björck inputs of the architectures (packages/train/src/models) whose
 * smaller side exceeds SMALL_BJORCK_MAX_SIDE, with their step counts.
 */
const ARCH_CASES: Case[] = [
  // seed on 28x28x1: conv 2 (3x3x16 -> 32), dense 1 (7x7x32 -> 64); on CIFAR: dense 1 (8x8x32 -> 64)
  { rows: 144, cols: 32, niter: 15 },
  { rows: 1568, cols: 64, niter: 15 },
  { rows: 2048, cols: 64, niter: 15 },
  // ortho on 28x28x1: BCOP factor H of the 32-channel convs (20 steps), dense 1 (7x7x32 -> 128)
  { rows: 32, cols: 32, niter: 20 },
  { rows: 1568, cols: 128, niter: 15 },
  // ortho on CIFAR: BCOP factors H and U of the 48- and 64-channel convs, dense 1 (8x8x64 -> 128)
  { rows: 48, cols: 48, niter: 20 },
  { rows: 48, cols: 24, niter: 20 },
  { rows: 64, cols: 64, niter: 20 },
  { rows: 64, cols: 32, niter: 20 },
  { rows: 4096, cols: 128, niter: 15 },
];

/** Random shapes: tall and wide, sides 17..80 (most not multiples of 4), 1 to 20 steps. */
function randomCases(count: number, seed: number): Case[] {
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const cases: Case[] = [
    { rows: 70, cols: 30, niter: 1 },
    { rows: 30, cols: 70, niter: 15 },
    { rows: 17, cols: 17, niter: 15 },
    { rows: 23, cols: 90, niter: 1 },
  ];
  while (cases.length < count) cases.push({ rows: int(17, 80), cols: int(17, 80), niter: [1, 2, 15, 20][int(0, 3)] });
  return cases;
}

/** A random `[rows, cols]` matrix with spectral norm 1 (as after spectral normalization). */
function spectralInput(rows: number, cols: number, seed: number): Float32Array {
  const raw = uniformArray(rows * cols, seed);
  const sigma = sigmaMax(raw, rows, cols);
  return raw.map((v) => v / sigma);
}

/** [value, gradient of sum(bjorck(w) * g)] by bjorckOrthonormalize on the current backend and kernels. */
function valueAndGrad(c: Case, w: Float32Array, g: Float32Array): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const x = tf.tensor2d(w, [c.rows, c.cols]);
    const weights = tf.tensor2d(g, [c.rows, c.cols]);
    const f = (t: tf.Tensor2D) => bjorckOrthonormalize(t, c.niter, DEFAULT_BETA_BJORCK);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor2D), weights)))(x);
    return [f(x).dataSync() as Float32Array, grad.dataSync() as Float32Array];
  });
}

/** ||a - b|| / ||b|| (Frobenius). */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

const caseName = (c: Case) => `[${c.rows}, ${c.cols}], ${c.niter} steps`;

useKernelSetup('wasm', 'simd');

describe.each([
  ['architecture', ARCH_CASES],
  ['random', randomCases(16, 11)],
])('Björck SIMD kernel on %s shapes', (_kind, cases) => {
  it.each(cases.map((c, i) => [caseName(c), c, i] as const))('%s: value and gradient match float64 and the composed path to 1e-5', (_name, c, i) => {
    const w = spectralInput(c.rows, c.cols, 100 + i);
    const g = uniformArray(c.rows * c.cols, 200 + i);
    const [value, grad] = valueAndGrad(c, w, g);
    const reference = bjorck64(Float64Array.from(w), c.rows, c.cols, c.niter, DEFAULT_BETA_BJORCK, Float64Array.from(g));
    const [composedValue, composedGrad] = withKernels('composed', () => valueAndGrad(c, w, g));
    expect(relativeError(value, reference.out)).toBeLessThan(1e-5);
    expect(relativeError(grad, reference.dw)).toBeLessThan(1e-5);
    expect(relativeError(value, composedValue)).toBeLessThan(1e-5);
    expect(relativeError(grad, composedGrad)).toBeLessThan(1e-5);
  });
});

describe('Björck SIMD kernel', () => {
  const c: Case = { rows: 144, cols: 32, niter: 15 };
  const w = spectralInput(c.rows, c.cols, 5);
  const g = uniformArray(c.rows * c.cols, 6);
  const run = (x: tf.Tensor2D) => bjorckOrthonormalize(x, c.niter, DEFAULT_BETA_BJORCK);

  it.each([
    ['tall, Gram form', { rows: 144, cols: 32, niter: 15 }],
    ['wide, Gram form', { rows: 32, cols: 144, niter: 15 }],
    ['square, direct form', { rows: 32, cols: 32, niter: 20 }],
    ['wide, direct form', { rows: 30, cols: 45, niter: 15 }],
  ] as const)('gives the same bits twice (%s)', (_name, shape) => {
    const x = spectralInput(shape.rows, shape.cols, 7);
    const weights = uniformArray(shape.rows * shape.cols, 8);
    expectSameBitsTwice(() => valueAndGrad(shape, x, weights));
  });

  it('runs LipBjorck and LipBjorckGrad with simd, neither with composed', async () => {
    await expectOnlySimdRuns([BJORCK, BJORCK_GRAD], () => {
      const x = tf.tensor2d(w, [c.rows, c.cols]);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(run(t as tf.Tensor2D), tf.tensor2d(g, [c.rows, c.cols]))))(x);
    });
  });

  it(`leaves a side <= SMALL_BJORCK_MAX_SIDE (${SMALL_BJORCK_MAX_SIDE}) and niter = 0 to the other paths`, async () => {
    const small = await kernelsRun('simd', () => bjorckOrthonormalize(tf.tensor2d(uniformArray(64 * 16, 9), [64, 16]), 15));
    const none = await kernelsRun('simd', () => bjorckOrthonormalize(tf.tensor2d(w, [c.rows, c.cols]), 0));
    expect([...small, ...none]).not.toContain(BJORCK);
  });

  it('is not used on the cpu backend', async () => {
    await tf.setBackend('cpu');
    try {
      const names = await kernelsRun('simd', () => run(tf.tensor2d(w, [c.rows, c.cols])));
      expect(names).toContain('BatchMatMul');
      expect(names).not.toContain(BJORCK);
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('leaves its value and gradient behind, nothing else (tensors and backend data)', () => {
    const x = tf.tensor2d(w, [c.rows, c.cols]);
    expectNoKernelLeak((t) => run(t as tf.Tensor2D), x);
    const square = tf.tensor2d(spectralInput(40, 40, 10), [40, 40]);
    expectNoKernelLeak((t) => run(t as tf.Tensor2D), square);
    tf.dispose([x, square]);
  });

  it('gives every effective Björck kernel of the seed network a spectral norm <= 1 + 1e-4, through the kernel', async () => {
    const model = buildModel('seed', { seed: 3, logger: { warn: () => undefined } });
    const linear = model.layers.filter((l): l is LipschitzLinearBase => l instanceof LipschitzLinearBase);
    // Scrambled raw kernels (as after training), then the power iteration the training step runs first.
    linear.forEach((l, i) => l.rawKernel.assign(tf.tensor(uniformArray(l.rawKernel.size, 20 + i, -3, 3), l.rawKernel.shape)));
    for (let i = 0; i < 5; i++) model.updateConstraints();
    const names = await kernelsRun('simd', () => linear.map((l) => l.effectiveKernel()));
    expect(names).toContain(BJORCK);
    for (const layer of linear) {
      const k = withKernels('simd', () => layer.effectiveKernel());
      const cols = k.shape[k.shape.length - 1];
      const rows = k.size / cols;
      expect(sigmaMax(k.dataSync(), rows, cols)).toBeLessThanOrEqual(1 + 1e-4);
      k.dispose();
    }
    model.dispose();
  });
});
