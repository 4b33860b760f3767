/** BatchMatMul on wasm with lip's kernel matches the cpu backend for every transpose combination. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { installWasmKernels } from './install_wasm_kernels';
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

describe.each(CASES)('BatchMatMul on wasm: $name', (c) => {
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
