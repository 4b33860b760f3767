/**
 * BatchMatMul on wasm with lip's kernel matches the cpu backend for every
 * transpose combination, under both kernel choices; the SIMD product
 * (kernels/matmul.c) gives XNNPACK's bits.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { bitsOf, mulberry32, uniformArray } from '@lip/test-support';
import { installWasmKernels } from './install_wasm_kernels';
import { setKernelChoice, type KernelChoice } from './kernels/kernel_choice';
import { withNoLeak } from './memory';

interface Case {
  name: string;
  a: number[];
  b: number[];
}

/** Shapes of the untransposed product; the transposed operands are built from them. */
const CASES: Case[] = [
  { name: 'matrix x matrix', a: [37, 13], b: [13, 6] },
  { name: 'tall Gram (Björck on a dense kernel)', a: [150, 12], b: [12, 12] },
  { name: 'row vector (power iteration)', a: [1, 64], b: [64, 300] },
  { name: 'batched, same batch', a: [3, 5, 7], b: [3, 7, 4] },
  { name: 'batched, broadcast b', a: [2, 3, 5, 7], b: [1, 7, 4] },
];

function values(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((x, y) => x * y, 1);
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 0.37));
}

/** `t` with its last two axes swapped. */
function swapLastAxes(t: tf.Tensor): tf.Tensor {
  const perm = [...t.shape.keys()];
  perm.splice(-2, 2, t.rank - 1, t.rank - 2);
  return tf.transpose(t, perm);
}

function product(c: Case, ta: boolean, tb: boolean): Float32Array {
  return tf.tidy(() => {
    const a = tf.tensor(values(c.a, 1), c.a);
    const b = tf.tensor(values(c.b, 2), c.b);
    const aIn = ta ? swapLastAxes(a) : a;
    const bIn = tb ? swapLastAxes(b) : b;
    return tf.matMul(aIn, bIn, ta, tb).dataSync() as Float32Array;
  });
}

beforeAll(() => installWasmKernels());
afterAll(() => setKernelChoice(undefined));

const CHOICES: KernelChoice[] = ['simd', 'composed'];

describe.each(CHOICES.flatMap((choice) => CASES.map((c) => ({ ...c, choice }))))('BatchMatMul on wasm ($choice kernels): $name', (c) => {
  beforeEach(() => setKernelChoice(c.choice));
  test.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('transposeA %p, transposeB %p matches cpu within 1e-5, without leaks', async (ta, tb) => {
    await tf.setBackend('cpu');
    const cpu = product(c, ta, tb);
    await tf.setBackend('wasm');
    const wasm = withNoLeak(() => product(c, ta, tb));
    expect(wasm.length).toBe(cpu.length);
    let scale = 0;
    let diff = 0;
    cpu.forEach((v, i) => {
      scale = Math.max(scale, Math.abs(v));
      diff = Math.max(diff, Math.abs(v - wasm[i]));
    });
    expect(diff).toBeLessThanOrEqual(1e-5 * scale);
  });
});

/** The first index where `x` and `y` differ in their bits (NaN payloads, signed zeros), or -1. */
function firstDifferentBits(x: Float32Array, y: Float32Array): number {
  const [bx, by] = [bitsOf(x), bitsOf(y)];
  if (bx.length !== by.length) return 0;
  for (let i = 0; i < bx.length; i++) if (bx[i] !== by[i]) return i;
  return -1;
}

/** `op(a) op(b)` with `choice`'s kernels, a [m, k] and b [k, n] (stored transposed when asked). */
function productWith(choice: KernelChoice, m: number, k: number, n: number, ta: boolean, tb: boolean, seed: number): Float32Array {
  setKernelChoice(choice);
  return tf.tidy(() => {
    const a = tf.tensor(uniformArray(m * k, seed, -1, 1), ta ? [k, m] : [m, k]);
    const b = tf.tensor(uniformArray(k * n, seed + 1, -1, 1), tb ? [n, k] : [k, n]);
    return tf.matMul(a, b, ta, tb).dataSync() as Float32Array;
  });
}

describe('the SIMD product gives the bits of the composed one (XNNPACK after explicit transposes)', () => {
  beforeAll(() => tf.setBackend('wasm'));

  test.each([
    ['dense 1 of the seed network at batch 256: x w', 256, 1568, 64, false, false],
    ['its input gradient: dy w^T', 256, 64, 1568, false, true],
    ['its kernel gradient: x^T dy', 1568, 256, 64, true, false],
    ['power iteration: u w^T', 1, 64, 1568, false, true],
    ['both transposed', 33, 70, 21, true, true],
  ] as Array<[string, number, number, number, boolean, boolean]>)('%s', (_name, m, k, n, ta, tb) => {
    const simd = withNoLeak(() => productWith('simd', m, k, n, ta, tb, 5));
    const composed = productWith('composed', m, k, n, ta, tb, 5);
    expect(simd.length).toBe(m * n);
    expect(firstDifferentBits(simd, composed)).toBe(-1);
  });

  test('60 random shapes and transposes (odd sizes, columns not a multiple of 4, single rows and columns)', () => {
    const rand = mulberry32(17);
    const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
    for (let t = 0; t < 60; t++) {
      const [m, k, n] = [int(1, 70), int(1, 300), int(1, 70)];
      const [ta, tb] = [rand() < 0.5, rand() < 0.5];
      const simd = productWith('simd', m, k, n, ta, tb, 100 + t);
      const composed = productWith('composed', m, k, n, ta, tb, 100 + t);
      expect([m, k, n, ta, tb, firstDifferentBits(simd, composed)]).toEqual([m, k, n, ta, tb, -1]);
    }
  });
});

describe('a matrix times its own transpose (the Gram matrix: upper triangle, mirrored)', () => {
  beforeAll(() => tf.setBackend('wasm'));

  /** `w^T w` (aFirst) or `w w^T` of one tensor w [m, k], with `choice`'s kernels. */
  function gram(choice: KernelChoice, m: number, k: number, aFirst: boolean, seed: number): Float32Array {
    setKernelChoice(choice);
    return tf.tidy(() => {
      const w = tf.tensor(uniformArray(m * k, seed, -1, 1), [m, k]);
      return tf.matMul(w, w, aFirst, !aFirst).dataSync() as Float32Array;
    });
  }

  test.each([
    ['SLLDense on Fashion-MNIST: w^T w of [1568, 256]', 1568, 256, true],
    ['AOL: p p^T of [64, 300]', 64, 300, false],
    ['odd sizes: w^T w of [37, 21]', 37, 21, true],
    ['odd sizes: w w^T of [19, 5]', 19, 5, false],
    ['one column: w^T w of [9, 1]', 9, 1, true],
  ] as Array<[string, number, number, boolean]>)('%s: the bits of the composed kernels, and symmetric', (_name, m, k, aFirst) => {
    const simd = withNoLeak(() => gram('simd', m, k, aFirst, 3));
    const composed = gram('composed', m, k, aFirst, 3);
    expect(firstDifferentBits(simd, composed)).toBe(-1);
    const n = aFirst ? k : m;
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) if (!Object.is(simd[i * n + j], simd[j * n + i])) throw new Error(`not symmetric at (${i}, ${j})`);
  });

  test('two different tensors with the same values take the general product (same bits too)', () => {
    setKernelChoice('simd');
    const [a, b] = tf.tidy(() => {
      const w = tf.tensor(uniformArray(40 * 12, 4, -1, 1), [40, 12]);
      return [tf.matMul(w, w, true, false).dataSync() as Float32Array, tf.matMul(w, tf.add(w, 0), true, false).dataSync() as Float32Array];
    });
    expect(firstDifferentBits(a, b)).toBe(-1);
  });
});
